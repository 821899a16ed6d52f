"""`CountingTfidfVectorizer` gives scikit-learn's `TfidfVectorizer` output bit for bit, on real and hostile text."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from predict.text import normalize_arabic
from tests.predict.shipped_text import raw_lines
from train.linear import TOKEN_PATTERN
from train.tfidf import CountingTfidfVectorizer

HOSTILE = [
    "", "   ", "\t\n", "ا", "اب", "ابت", "ا ب ت ث", "ااااااااااا ااااااااا", "كبتاغون كبتاغون كبتاغون",
    "سوريا\u00a0دمشق\u2003حلب\x1cإدلب\x1d\x1e\x1fالرقة\u3000دير", "word_with_underscore 123 ٤٥٦ x",
    "ﻻ ﷲ ﻹ", "emoji 🙂🙂 ok", "e\u0301 combining \u064b\u0650", "tab\tsep\r\nlines\x0b\x0cform",
    "double  space   runs\u2028\u2029", "\u200b\u200c zero width", "a b a b a b", "ﺍﻟﺴﻼﻡ presentation",
]

SETTINGS = [
    dict(analyzer="word", ngram_range=(1, 2), token_pattern=TOKEN_PATTERN),
    dict(analyzer="word", ngram_range=(1, 1), token_pattern=TOKEN_PATTERN, min_df=1),
    dict(analyzer="word", ngram_range=(1, 2)),  # scikit-learn's default token pattern (2+ characters)
    dict(analyzer="char_wb", ngram_range=(3, 5)),
    dict(analyzer="char_wb", ngram_range=(2, 4), max_features=3000),
    dict(analyzer="char_wb", ngram_range=(1, 6), min_df=1, dtype=np.float32),
    dict(analyzer="char", ngram_range=(2, 3)),  # not taken by the counting path: scikit-learn's loop
    dict(analyzer="char_wb", ngram_range=(3, 4), lowercase=True),  # idem
]


@pytest.fixture(scope="module")
def paragraphs() -> list[str]:
    lines = [normalize_arabic(line) for line in raw_lines() if line]
    rng = np.random.default_rng(7)
    picked = [lines[i] for i in rng.choice(len(lines), size=min(3000, len(lines)), replace=False)]
    return picked + HOSTILE + [line for line in raw_lines()[:200]]  # some not normalized: raw punctuation, Latin


def assert_same_matrix(a, b) -> None:
    assert type(a) is type(b) and a.shape == b.shape and a.dtype == b.dtype
    assert a.indices.dtype == b.indices.dtype and a.indptr.dtype == b.indptr.dtype
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.data, b.data)  # bit for bit, not within a tolerance


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items() if k != "token_pattern"))
def test_counting_vectorizer_equals_scikit_learn(paragraphs, setting):
    params = dict(lowercase=False, min_df=2, sublinear_tf=True, dtype=np.float64) | setting
    fit_docs, new_docs = paragraphs[::2], paragraphs[1::2]
    ours, theirs = CountingTfidfVectorizer(**params), TfidfVectorizer(**params)
    assert_same_matrix(ours.fit_transform(fit_docs), theirs.fit_transform(fit_docs))
    assert ours.vocabulary_ == theirs.vocabulary_ and list(ours.vocabulary_) == list(theirs.vocabulary_)
    assert np.array_equal(ours.idf_, theirs.idf_)
    assert_same_matrix(ours.transform(new_docs), theirs.transform(new_docs))  # unseen words and n-grams dropped
    assert_same_matrix(CountingTfidfVectorizer(**params).fit(iter(fit_docs)).transform(new_docs), theirs.transform(new_docs))


def test_whitespace_is_what_str_split_splits_on_for_every_code_point():
    """The char_wb path splits with `str.split()` where scikit-learn collapses `\\s\\s+` first: the same words."""
    space = re.compile(r"\s")
    for cp in range(sys.maxunicode + 1):
        c = chr(cp)
        assert (space.match(c) is not None) == c.isspace() == (len(f"x{c}x".split()) == 2), hex(cp)


@pytest.mark.parametrize("analyzer", ["word", "char_wb"])
def test_no_terms_is_scikit_learns_error(analyzer):
    for vec in (CountingTfidfVectorizer(analyzer=analyzer, lowercase=False), TfidfVectorizer(analyzer=analyzer, lowercase=False)):
        with pytest.raises(ValueError, match="empty vocabulary"):
            vec.fit(["", "  ", "\n"])


def test_bytes_documents_take_scikit_learns_path():
    docs = ["سوريا ودمشق".encode(), "حلب وإدلب".encode(), "سوريا وحلب".encode()]
    ours = CountingTfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), lowercase=False).fit_transform(docs)
    assert_same_matrix(ours, TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), lowercase=False).fit_transform(docs))
