"""Hand-made features of the linear model, as pure functions on normalized text.

Training wraps them in scikit-learn steps (`train.features`); labeling calls them
directly (`predict.linear`), so both compute exactly the same numbers.

- **Lexicon** (`configs/lexicon.yaml`): one feature per topic, log(1 + matches of its
  defining terms) in the paragraph. Terms come from the guideline's topic definitions.
- **Scope** (`configs/scope.yaml`): a gazetteer of Syrian (and Iraqi) places, actors and
  institutions, counted in the paragraph and in its whole article; and each topic's
  lexicon score again, split by whether the article has such a link at all. That lets a
  linear model tell "captagon seized in Jordan, smuggled from Syria" from "cannabis
  seized in Sfax": the same words, another file.

Terms are matched as substrings of the normalized text, which tolerates Arabic clitics
(بالكبتاغون، لداعش). A term written with a final ``$`` must end a word: ``قيصر$`` (the
Caesar Act, Caesar's photographs) matches لقيصر but not قيصرية (a Caesarean section).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from predict.text import normalize_arabic


def normalize_terms(terms: list[str]) -> list[str]:
    """Terms as they are matched: normalized, deduplicated, sorted."""
    return sorted({normalize_arabic(str(t)) for t in terms} - {""})


@lru_cache(maxsize=64)
def _pattern(terms: tuple[str, ...]) -> re.Pattern:
    """A group's terms as one trie-shaped regex: at each position, the longest term that starts there.

    That is what the alternation of the terms sorted longest first matches, so a text matches
    each stretch once; the trie is faster because the branches at each node start with
    different characters and the engine follows one path instead of trying every term.
    """
    trie: dict = {}
    for term in terms:
        node = trie
        for char in term.removesuffix(WORD_END):
            node = node.setdefault(char, {})
        node[WORD_END if term.endswith(WORD_END) and len(term) > 1 else ""] = {}  # a term ends here (at a word end)
    return re.compile(_trie_regex(trie))


WORD_END = "$"
_AT_WORD_END = r"(?!\w)"


def _trie_regex(node: dict) -> str:
    """The continuations of a trie node; optional (and greedy, so the longest is tried first) where a term ends.

    Where only a word-end term ends, the last branch is an empty match followed by no letter."""
    branches = [re.escape(char) + _trie_regex(child) for char, child in sorted(node.items()) if char and char != WORD_END]
    if WORD_END in node and "" not in node:
        branches.append(_AT_WORD_END)
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


def count_terms(norm_text: str, terms: tuple[str, ...]) -> int:
    """Non-overlapping matches of a group's terms (longest first) in a normalized text."""
    return len(_pattern(tuple(terms)).findall(norm_text)) if terms else 0


def matched_terms(norm_text: str, terms: list[str]) -> list[str]:
    """The terms of a group that occur in the text (for explanations)."""
    return [t for t in terms if (re.search(re.escape(t[:-1]) + _AT_WORD_END, norm_text) if t.endswith(WORD_END) and len(t) > 1
                                 else t in norm_text)]


def _log1p(counts) -> np.ndarray:
    """``math.log1p`` of each count. NumPy's log1p differs from it in the last bit for some integers
    (2, 13, 47...), and the fitted models were trained on math's values."""
    counts = np.asarray(counts, dtype=np.int64)
    table = np.array([math.log1p(c) for c in range(int(counts.max(initial=0)) + 1)])
    return table[counts]


@dataclass(frozen=True)
class TermFeatures:
    """Lexicon and scope features of one model: groups of normalized terms and their weights."""

    lexicon: tuple[tuple[str, tuple[str, ...]], ...]  # (topic, terms)
    gazetteer: tuple[tuple[str, tuple[str, ...]], ...]  # (place group, terms)
    lexicon_weight: float = 1.0
    scope_weight: float = 1.0

    @classmethod
    def build(cls, lexicon: dict[str, list[str]] | None, gazetteer: dict[str, list[str]] | None,
              lexicon_weight: float = 1.0, scope_weight: float = 1.0) -> "TermFeatures":
        norm = lambda groups: tuple((k, tuple(normalize_terms(v))) for k, v in sorted((groups or {}).items()))  # noqa: E731
        return cls(norm(lexicon), norm(gazetteer), lexicon_weight, scope_weight)

    def names(self) -> list[str]:
        lex = [f"lexicon:{t}" for t, _ in self.lexicon]
        if not self.gazetteer:
            return lex
        places = [f"scope:{g}@{where}" for where in ("paragraph", "article") for g, _ in self.gazetteer]
        split = [f"lexicon:{t}|{link}" for link in ("linked", "unlinked") for t, _ in self.lexicon]
        return lex + places + split

    def article_link(self, norm_article: str) -> list[int]:
        """What `vector` needs of a paragraph's article: its gazetteer match counts (linked to Syria when any is > 0)."""
        return [count_terms(norm_article, terms) for _, terms in self.gazetteer]

    def paragraph_counts(self, norm_paragraph: str) -> tuple[list[int], list[int]]:
        """A paragraph's lexicon and gazetteer match counts."""
        return [count_terms(norm_paragraph, terms) for _, terms in self.lexicon], self.article_link(norm_paragraph)

    def vector(self, norm_paragraph: str, article: list[int] | None) -> list[float]:
        """All term features of a paragraph (`matrix` for one row); ``article`` is `article_link` of its article."""
        lex, places = self.paragraph_counts(norm_paragraph)
        return self.matrix([lex], [places], [article if article is not None else places])[0].tolist()

    def matrix(self, lexicon_counts, paragraph_counts, article_counts) -> np.ndarray:
        """The term features of a batch, from match counts (rows: paragraphs; columns: lexicon topics, gazetteer
        groups): log(1 + count) per group, at paragraph and article level, and the lexicon split by whether the
        article has any gazetteer match. The one place the layout of `names` is computed."""
        lex = _log1p(lexicon_counts) * self.lexicon_weight
        if not self.gazetteer:
            return lex
        at_paragraph = _log1p(paragraph_counts) * self.scope_weight
        at_article = _log1p(article_counts) * self.scope_weight
        linked = (np.asarray(article_counts).sum(axis=1) > 0).astype(np.float64)[:, None]
        return np.hstack([lex, at_paragraph, at_article, lex * linked, lex * (1.0 - linked)])

    def explain_terms(self, norm_paragraph: str, norm_article: str) -> dict[str, list[str]]:
        """Feature name -> the terms that fired it, for `--explain`."""
        out = {f"lexicon:{t}": matched_terms(norm_paragraph, terms) for t, terms in self.lexicon}
        for g, terms in self.gazetteer:
            out[f"scope:{g}@paragraph"] = matched_terms(norm_paragraph, terms)
            out[f"scope:{g}@article"] = matched_terms(norm_article, terms)
        for t, terms in self.lexicon:
            for link in ("linked", "unlinked"):
                out[f"lexicon:{t}|{link}"] = out[f"lexicon:{t}"]
        return out

    def to_json(self) -> dict:
        return {"lexicon": {t: list(v) for t, v in self.lexicon}, "gazetteer": {g: list(v) for g, v in self.gazetteer},
                "lexicon_weight": self.lexicon_weight, "scope_weight": self.scope_weight}

    @classmethod
    def from_json(cls, d: dict) -> "TermFeatures":
        return cls(tuple((k, tuple(v)) for k, v in d["lexicon"].items()), tuple((k, tuple(v)) for k, v in d["gazetteer"].items()),
                   float(d["lexicon_weight"]), float(d["scope_weight"]))
