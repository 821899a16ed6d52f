"""scikit-learn's `TfidfVectorizer`, counting n-grams without a Python step per n-gram.

`TfidfVectorizer._count_vocab` looks every n-gram of every document up in a dict from
Python: with character n-grams of 3-5 that is about a thousand lookups a paragraph, and
the largest single cost of `mihwar train`. `CountingTfidfVectorizer` overrides only that
method, for the analyzers the model uses, and returns the same vocabulary (the same ids,
assigned in the same first-seen order) and the same count matrix, so everything after it
(sorting the features, `min_df`, `max_features`, IDF, sublinear TF, the norm) is
scikit-learn's own code on identical input, and the fitted model is bit for bit the same:

- ``char_wb``: a word's n-grams depend on the word alone, so each distinct word is cut
  and looked up once; the counts are the document-by-word counts times the
  word-by-n-gram counts (one sparse product).
- ``word`` with n-grams (1, 1) or (1, 2): each distinct token gets an id once; unigrams
  and bigrams become integer keys, numbered in order of first appearance with NumPy.

Any other setting (lowercasing, accent stripping, stop words, a custom preprocessor or
tokenizer, other analyzers or word n-gram ranges, non-str documents) goes to
scikit-learn's loop unchanged. `tests/train/test_tfidf.py` holds both to equality.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

try:  # scikit-learn >= 1.8 returns csr_array or csr_matrix per its sparse-interface setting
    from sklearn.feature_extraction.text import _align_api_if_sparse
except ImportError:  # pragma: no cover - older scikit-learn returns what it built
    def _align_api_if_sparse(X):
        return X


class CountingTfidfVectorizer(TfidfVectorizer):
    """`TfidfVectorizer` with a faster, equal `_count_vocab` for ``char_wb`` and word (1, 1)/(1, 2) n-grams."""

    def _fast_path(self, docs: list) -> str | None:
        if (self.input != "content" or self.lowercase or self.strip_accents is not None or self.stop_words is not None
                or self.preprocessor is not None or not all(type(d) is str for d in docs)):
            return None
        if self.analyzer == "char_wb":
            return "char_wb"
        if self.analyzer == "word" and self.tokenizer is None and tuple(self.ngram_range) in ((1, 1), (1, 2)):
            return "word"
        return None

    def _count_vocab(self, raw_documents, fixed_vocab):
        docs = raw_documents if isinstance(raw_documents, list) else list(raw_documents)
        path = self._fast_path(docs)
        if path is None:
            return super()._count_vocab(docs, fixed_vocab)
        if fixed_vocab:
            vocabulary = self.vocabulary_
        else:
            vocabulary = defaultdict()
            vocabulary.default_factory = vocabulary.__len__
        counts = _char_wb_counts if path == "char_wb" else _word_counts
        X = counts(self, docs, vocabulary, fixed_vocab)
        if not fixed_vocab:
            vocabulary = dict(vocabulary)
            if not vocabulary:
                raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        X = _as_count_matrix(X, len(docs), len(vocabulary), self.dtype)
        return vocabulary, _align_api_if_sparse(X)


def _as_count_matrix(X, n_docs: int, n_features: int, dtype) -> sp.csr_array:
    """A CSR count matrix laid out as `_count_vocab` builds it: sorted columns, no duplicates, 32-bit indices if they fit."""
    X = sp.csr_array(X, shape=(n_docs, n_features))
    if not X.has_canonical_format:
        X.sum_duplicates()  # sorts each row's columns and adds up repeats
    index_dtype = np.int32 if X.nnz <= np.iinfo(np.int32).max else np.int64
    out = sp.csr_array((X.data.astype(dtype, copy=False), X.indices.astype(index_dtype, copy=False),
                        X.indptr.astype(index_dtype, copy=False)), shape=(n_docs, n_features), copy=False)
    out.has_sorted_indices = True
    return out


def _char_wb_counts(vec: TfidfVectorizer, docs: list[str], vocabulary: dict, fixed: bool) -> sp.csr_array:
    """Document x n-gram counts as document x word counts times word x n-gram counts.

    `_char_wb_ngrams` collapses whitespace runs and splits on whitespace; `str.split()`
    splits on exactly the characters that `\\s` matches (the test checks every code point),
    so a document's words are ``doc.split()`` and each new word is cut by scikit-learn's
    own `_char_wb_ngrams`, in document order, which numbers new n-grams as its loop does.
    """
    word_ids: dict[str, int] = {}
    word_grams: list[list[int]] = []
    flat: list[int] = []
    indptr = [0]
    get = word_ids.get
    for doc in docs:
        words = doc.split()
        ids = list(map(get, words))
        if None in ids:
            for k, (w, i) in enumerate(zip(words, ids)):
                if i is None:
                    i = word_ids.get(w)
                    if i is None:
                        i = word_ids[w] = len(word_grams)
                        grams = vec._char_wb_ngrams(w)
                        if fixed:
                            word_grams.append([vocabulary[g] for g in grams if g in vocabulary])
                        else:
                            word_grams.append([vocabulary[g] for g in grams])
                    ids[k] = i
        flat.extend(ids)
        indptr.append(len(flat))
    n_words = len(word_grams)
    n_features = len(vocabulary)
    D = sp.csr_array((np.ones(len(flat)), np.asarray(flat, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
                     shape=(len(docs), n_words))
    lengths = np.fromiter((len(g) for g in word_grams), dtype=np.int64, count=n_words)
    grams = np.fromiter((j for g in word_grams for j in g), dtype=np.int64, count=int(lengths.sum()))
    W = sp.csr_array((np.ones(len(grams)), grams, np.concatenate([[0], np.cumsum(lengths)])),
                     shape=(n_words, n_features))
    W.sum_duplicates()
    D.sum_duplicates()
    return D @ W


def _word_counts(vec: TfidfVectorizer, docs: list[str], vocabulary: dict, fixed: bool) -> sp.csr_array:
    """Unigram and (if asked) bigram counts from integer token ids.

    `_word_ngrams` yields a document's unigrams, then its bigrams; a feature's id in a
    growing vocabulary is its rank of first appearance in that sequence over all documents.
    """
    tokenize = vec.build_tokenizer()
    token_ids: dict[str, int] = {}
    setdefault = token_ids.setdefault
    flat: list[int] = []
    lengths = np.empty(len(docs), dtype=np.int64)
    for d, doc in enumerate(docs):
        tokens = tokenize(doc)
        lengths[d] = len(tokens)
        flat.extend([setdefault(t, len(token_ids)) for t in tokens])
    tok = np.asarray(flat, dtype=np.int64)
    doc_of = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
    K = max(len(token_ids), 1)
    keys, rows, order = [tok], [doc_of], [doc_of * 2]
    if tuple(vec.ngram_range) == (1, 2) and len(tok) > 1:
        pair = np.flatnonzero(doc_of[:-1] == doc_of[1:])
        keys.append(K + tok[pair] * K + tok[pair + 1])
        rows.append(doc_of[pair])
        order.append(doc_of[pair] * 2 + 1)
    keys_all, rows_all = np.concatenate(keys), np.concatenate(rows)
    emitted = np.argsort(np.concatenate(order), kind="stable")  # the analyzer's order: per document, unigrams then bigrams
    keys_all, rows_all = keys_all[emitted], rows_all[emitted]
    unique, first, inverse = np.unique(keys_all, return_index=True, return_inverse=True)
    by_first = np.argsort(first, kind="stable")
    names = list(token_ids)

    def name(key: int) -> str:
        if key < K:
            return names[key]
        a, b = divmod(key - K, K)
        return names[a] + " " + names[b]

    feature_of = np.empty(len(unique), dtype=np.int64)
    for u in by_first.tolist():
        s = name(int(unique[u]))
        if fixed:
            feature_of[u] = vocabulary.get(s, -1)
        else:
            feature_of[u] = vocabulary[s]
    cols = feature_of[inverse.ravel()]
    keep = cols >= 0
    return sp.csr_array((np.ones(int(keep.sum())), (rows_all[keep], cols[keep])), shape=(len(docs), len(vocabulary)))
