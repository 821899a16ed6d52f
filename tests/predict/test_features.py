"""Term counting: the trie-shaped regex counts exactly what the longest-first alternation counted."""

import random
import re
from pathlib import Path

import yaml

from predict.features import TermFeatures, count_terms
from predict.text import normalize_arabic, segment_article

ROOT = Path(__file__).resolve().parents[2]


def alternation_count(text: str, terms: tuple[str, ...]) -> int:
    """The definition `count_terms` must match: findall of the terms as one alternation, longest first."""
    if not terms:
        return 0
    as_regex = lambda t: re.escape(t[:-1]) + r"(?!\w)" if t.endswith("$") and len(t) > 1 else re.escape(t)  # noqa: E731
    return len(re.findall("|".join(as_regex(t) for t in sorted(terms, key=lambda t: (-len(t.rstrip("$")), t))), text))


def shipped_groups() -> list[tuple[str, ...]]:
    lexicon = yaml.safe_load((ROOT / "configs/lexicon.yaml").read_text(encoding="utf-8"))
    scope = yaml.safe_load((ROOT / "configs/scope.yaml").read_text(encoding="utf-8"))
    features = TermFeatures.build(lexicon, scope)
    return [terms for _, terms in features.lexicon + features.gazetteer]


def test_counts_equal_the_alternation_on_every_shipped_paragraph_and_article():
    from tests.predict.shipped_text import raw_articles

    groups = shipped_groups()
    assert len(groups) >= 6 and all(groups)
    texts = [normalize_arabic(p) for a in raw_articles() for p in segment_article(a)]
    texts += [normalize_arabic(a) for a in raw_articles()]
    found = 0
    for text in texts:
        for terms in groups:
            n = count_terms(text, terms)
            assert n == alternation_count(text, terms), (terms, text[:80])
            found += n
    assert found > 1000  # the corpus does exercise the terms


ADVERSARIAL = [
    (("ab", "bc"), "abc abcbc bcab"),  # overlapping terms: the leftmost wins, then scanning goes on after it
    (("ab", "abc", "abcd"), "abcdabcabdab abc"),  # each term a prefix of the next
    (("abcd", "ab"), "abce abc ab"),  # a longer term that fails midway falls back to the shorter
    (("abc", "abd", "ab"), "abdabcabe"),  # branches after a shared prefix
    (("aa",), "aaaaa"),  # self-overlap: non-overlapping count
    (("a", "aa", "aaa"), "aaaaaaa"),
    (("الدوله", "الدوله الاسلاميه", "دوله"), "بالدوله الاسلاميه والدوله الاسل ودوله"),
    (("داعش", "هزيمه داعش", "تنظيم الدوله"), "لداعش وهزيمه داعش داعشداعش وتنظيم الدوله"),  # clitics, repeats
    (("كبتاغون", "الكبتاغون", "كابتاغون"), "بالكبتاغون والكابتاغون كبتاغونكبتاغون"),
    (("a.b", "(x)", "c+", "d?", "e\\f", "[g]", "^h$", "i|j"), "a.b axb (x) x c+ cc d? e\\f [g] g ^h$ i|j i"),
    (("2254", "225", "ofac"), "2254 22545 225 ofac ofa"),
    (("", "ab"), "xaby"),  # an empty term (never produced by normalize_terms) matches empty stretches
    (("قيصر$", "قانون قيصر"), "عمليه قيصريه ولقيصر وقيصر. قانون قيصر قيصرقيصر"),  # "$": only at a word end
    (("ab$", "abc"), "ab abc abd ab."),  # a word-end term that shares a prefix with a longer one
    (("ab$", "ab"), "abx ab"),  # the same term with and without "$": the plain one matches everywhere
]


def test_counts_equal_the_alternation_on_adversarial_strings():
    for terms, text in ADVERSARIAL:
        assert count_terms(text, terms) == alternation_count(text, terms), (terms, text)


def test_counts_equal_the_alternation_on_random_terms_and_texts():
    rng = random.Random(13)
    alphabet = "abاله "  # few letters: prefixes, overlaps and repeats are everywhere
    for _ in range(3000):
        terms = tuple({"".join(rng.choices(alphabet, k=rng.randint(1, 5))) + ("$" if rng.random() < 0.3 else "")
                       for _ in range(rng.randint(1, 8))})
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 60)))
        assert count_terms(text, terms) == alternation_count(text, terms), (terms, text)
