"""The NumPy scorer's shortcuts change no number: each is checked against the plain formula it replaced.

A small scorer is built here from shipped text (random vocabularies and weights), so no
trained model is needed; `test_linear_parity.py` compares a fitted one with scikit-learn.
"""

import random

import numpy as np
import pytest

from predict.features import TermFeatures
from predict.linear import LinearScorer, TfidfBlock, _count_repeats
from predict.text import normalize_arabic, paragraphs_or_whole
from tests.predict.shipped_text import raw_articles

CLASSES = ["counter_isis", "diplomacy", "drugs", "other", "sanctions"]
TERMS = TermFeatures.build({"drugs": ["كبتاغون", "مخدرات"], "counter_isis": ["داعش", "الارهاب"]},
                           {"syria": ["سوري", "دمشق"], "iraq": ["العراق"]})


@pytest.fixture(scope="module")
def units() -> list[tuple[str, str]]:
    """Paragraphs of 60 shipped articles, each with its article."""
    return [(p, a) for a in raw_articles()[:60] for p in paragraphs_or_whole(a)]


@pytest.fixture(scope="module")
def scorer(units) -> LinearScorer:
    rng = np.random.default_rng(13)
    words = sorted({w for p, _ in units for w in normalize_arabic(p).split()})
    chars = sorted({f" {w} "[i:i + n] for w in words for n in (3, 4) for i in range(len(w) - n + 3)})
    word_vocab = [w for w in words if rng.random() < 0.7] + ["في ال", "ان ال"]
    char_vocab = [g for g in chars if rng.random() < 0.7]
    blocks = [TfidfBlock(word_vocab, rng.uniform(1, 5, len(word_vocab)), "word", (1, 2), r"(?u)\b\w+\b"),
              TfidfBlock(char_vocab, rng.uniform(1, 5, len(char_vocab)), "char_wb", (3, 4), None)]
    n_features = len(word_vocab) + len(char_vocab) + len(TERMS.names())
    spec = {"classes": CLASSES, "terms": TERMS.to_json()}
    return LinearScorer(spec, blocks, rng.normal(size=(len(CLASSES), n_features)), rng.normal(size=len(CLASSES)))


def plain_tfidf(block: TfidfBlock, norm: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`TfidfBlock.transform` as first written: n-gram columns text by text, repeats counted with np.unique."""
    if block.analyzer == "char_wb":
        per_text = [np.concatenate([block._char_wb_columns(w) for w in t.split()] or [np.zeros(0, np.int64)]) for t in norm]
    else:
        per_text = [block._word_columns(t) for t in norm]
    row, col, width = np.repeat(np.arange(len(norm)), [len(c) for c in per_text]), np.concatenate(per_text), len(block.idf)
    uniq, counts = np.unique(row * width + col, return_counts=True)
    row, col = uniq // width, uniq % width
    val = (1.0 + np.log(counts)) * block.idf[col]
    return row, col, val / np.sqrt(np.bincount(row, weights=val * val, minlength=len(norm)))[row]


def plain_logits(scorer: LinearScorer, paragraphs: list[str], contexts: list[str]) -> np.ndarray:
    """The formula the scorer computed before its shortcuts: every article normalized, one gather, per-class bincount."""
    norm = [normalize_arabic(p) for p in paragraphs]
    parts = [plain_tfidf(block, norm) for block in scorer.blocks]
    row = np.concatenate([r for r, _, _ in parts])
    col = np.concatenate([c + off for (_, c, _), off in zip(parts, scorer.offsets)])
    val = np.concatenate([v for _, _, v in parts])
    out = np.tile(scorer.intercept, (len(paragraphs), 1))
    contrib = scorer.coef_t[col] * val[:, None]
    for k in range(out.shape[1]):
        out[:, k] += np.bincount(row, weights=contrib[:, k], minlength=len(paragraphs))
    dense = [TERMS.vector(p, TERMS.article_link(normalize_arabic(a))) for p, a in zip(norm, contexts)]
    return out + np.asarray(dense) @ scorer.coef_t[scorer.offsets[-1]:]


def test_logits_equal_the_plain_formula_with_articles_and_without(scorer, units):
    paragraphs, articles = [p for p, _ in units], [a for _, a in units]
    for start in range(0, len(units), 97):  # uneven batches
        batch = slice(start, start + 97)
        assert np.array_equal(scorer.logits(paragraphs[batch], articles[batch]),
                              plain_logits(scorer, paragraphs[batch], articles[batch]))
        assert np.array_equal(scorer.logits(paragraphs[batch]), plain_logits(scorer, paragraphs[batch], paragraphs[batch]))


def test_count_repeats_equals_np_unique():
    rng = random.Random(13)
    for _ in range(200):
        rows, width = rng.randint(1, 20), rng.randint(1, 50)
        by_row = [r * width + rng.randrange(width) for r in range(rows) for _ in range(rng.randint(0, 300))]  # as transform makes them
        anywhere = [rng.randrange(rows * width) for _ in range(rng.randint(1, 3000))]
        for keys in (by_row, anywhere):
            if keys:
                keys = np.array(keys, dtype=np.int64)
                for got, want in zip(_count_repeats(keys), np.unique(keys, return_counts=True)):
                    assert np.array_equal(got, want) and got.dtype == want.dtype
