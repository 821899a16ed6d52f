"""The linear model at labeling time: TF-IDF + term features + linear scores, in NumPy only.

It computes exactly what the fitted scikit-learn pipeline of `train.linear` computes
(same normalization, n-grams, sublinear TF-IDF with l2 norm per block, term features,
coefficients), from plain data files: no scikit-learn, SciPy or pickle at labeling time.
Character n-grams within word boundaries depend only on the word, so each word's
n-gram columns are computed once and cached. A long run switches to the same computation
compiled with Numba (`predict.compiled`) after its first `COMPILED_AFTER_TEXTS` texts.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from predict.features import TermFeatures
from predict.text import normalize_arabic

WORD_CACHE_LIMIT = 200_000  # distinct words kept with their n-gram columns; bounded memory on any input
# The compiled loop (`predict.compiled`) takes about 0.7 s to start (Numba, tables) and saves about 0.4 ms per paragraph:
# a scorer uses it once it has scored this many texts with NumPy, so short runs (one article, a request) never pay to start it.
# MIHWAR_COMPILED_AFTER sets it for a run: 0 compiles from the first text, "never" keeps NumPy.
COMPILED_AFTER_TEXTS = 2_000


COMPILED_AFTER_ENV = "MIHWAR_COMPILED_AFTER"


def compiled_after_from_env() -> int | None:
    value = os.environ.get(COMPILED_AFTER_ENV, "").strip().lower()
    if value == "never":
        return None
    return int(value) if value.isdigit() else COMPILED_AFTER_TEXTS


class TfidfBlock:
    """One TF-IDF vectorizer as data: vocabulary (term -> column), idf, analyzer and n-gram range."""

    def __init__(self, terms: list[str], idf: np.ndarray, analyzer: str, ngram_range: tuple[int, int], token_pattern: str | None):
        self.terms = terms  # column order
        self.vocabulary = {t: i for i, t in enumerate(terms)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self.analyzer, self.ngram_range = analyzer, tuple(ngram_range)
        self.token_re = re.compile(token_pattern) if token_pattern else None
        self._words: dict[str, list[int]] = {}

    def _char_wb_columns(self, word: str) -> np.ndarray:
        cols = self._words.get(word)
        if cols is None:
            w, vocab, (lo, hi) = f" {word} ", self.vocabulary, self.ngram_range
            found = []
            for n in range(lo, hi + 1):
                grams = [w[i:i + n] for i in range(max(len(w) - n + 1, 1))]
                found += [vocab[g] for g in grams if g in vocab]
                if len(w) <= n:  # scikit-learn counts a short word once, at its first n
                    break
            if len(self._words) >= WORD_CACHE_LIMIT:
                self._words.clear()
            cols = self._words[word] = np.array(found, dtype=np.int64)
        return cols

    def _word_columns(self, text: str) -> np.ndarray:
        tokens = self.token_re.findall(text)
        lo, hi = self.ngram_range
        vocab, cols = self.vocabulary, []
        for n in range(lo, hi + 1):
            grams = tokens if n == 1 else [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
            cols += [vocab[g] for g in grams if g in vocab]
        return np.array(cols, dtype=np.int64)

    def _occurrences(self, norm_texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of every in-vocabulary n-gram occurrence (one numpy array per word or text)."""
        if self.analyzer == "char_wb":
            words = [t.split() for t in norm_texts]
            cache = self._words  # most words are cached: look them up without a method call
            arrays = [cache[w] if w in cache else self._char_wb_columns(w) for ws in words for w in ws]
            owners = np.repeat(np.arange(len(norm_texts)), [len(ws) for ws in words])
        else:
            arrays = [self._word_columns(t) for t in norm_texts]
            owners = np.arange(len(norm_texts))
        if not arrays:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        lengths = np.array([len(a) for a in arrays], dtype=np.int64)
        return np.repeat(owners, lengths), np.concatenate(arrays)

    def transform(self, norm_texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows, columns and values of the l2-normalized sublinear TF-IDF matrix."""
        row, col = self._occurrences(norm_texts)
        if not len(row):
            return row, col, np.zeros(0)
        uniq, counts = _count_repeats(row * len(self.idf) + col)  # count repeats of (row, column)
        row, col = uniq // len(self.idf), uniq % len(self.idf)
        val = (1.0 + np.log(counts)) * self.idf[col]
        norms = np.sqrt(np.bincount(row, weights=val * val, minlength=len(norm_texts)))
        return row, col, val / norms[row]


def _count_repeats(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_counts=True)``, about twice as fast here: keys come row by row, every
    row's keys above the previous row's, and a stable sort (timsort) gallops through such runs."""
    keys = np.sort(keys, kind="stable")
    edges = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1], [True])))
    return keys[edges[:-1]], np.diff(edges)


class LinearScorer:
    """Raw class scores (logits) of the exported linear model."""

    def __init__(self, spec: dict[str, Any], blocks: list[TfidfBlock], coef: np.ndarray, intercept: np.ndarray):
        self.spec = spec
        self.classes: list[str] = list(spec["classes"])
        self.blocks = blocks
        self.terms = TermFeatures.from_json(spec["terms"]) if spec.get("terms") else None
        self.coef_t = np.ascontiguousarray(np.asarray(coef, dtype=np.float64).T)  # (n_features, n_outputs)
        self.coef_rows = np.ascontiguousarray(self.coef_t.T)  # (n_outputs, n_features): one class's weights gathered at once
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.offsets = np.cumsum([0] + [len(b.idf) for b in blocks]).tolist()
        self.feature_names_cache: list[str] | None = None
        self.compiled_after = compiled_after_from_env()  # 0: always compiled; None: never
        self.texts_scored = 0
        self._compiled: Any = None  # built when first needed; False where Numba or the model's features are not supported

    def compiled(self) -> Any:
        """The compiled loop for this model (`predict.compiled.CompiledLinear`), or None where it cannot run."""
        if self._compiled is None:
            try:
                from predict.compiled import CompiledLinear, Unsupported
            except ImportError:  # Numba is not installed: NumPy computes the same numbers, slower
                self._compiled = False
            else:
                try:
                    self._compiled = CompiledLinear(self)
                except Unsupported:
                    self._compiled = False
        return self._compiled or None

    def start_compiled(self) -> None:
        """Start the compiled loop now and use it from the next text; where it cannot run (no Numba,
        ``MIHWAR_COMPILED_AFTER=never``, features it does not support), stay on NumPy for good."""
        if self.compiled_after is None or self.compiled() is None:
            self.compiled_after = None
            return
        self.compiled_after = 0
        self.logits(["تحميل الحلقة المترجمة قبل أول نص"])  # loads the compiled functions here

    def _design(self, paragraphs: Sequence[str], contexts: Sequence[str] | None):
        norm = [normalize_arabic(p) for p in paragraphs]
        rows, cols, vals = [], [], []
        for block, offset in zip(self.blocks, self.offsets):
            r, c, v = block.transform(norm)
            rows.append(r), cols.append(c + offset), vals.append(v)
        dense = None
        if self.terms is not None:
            cache: dict[str, list[int]] = {}
            ctx = contexts if contexts is not None else paragraphs
            for raw, p, a in zip(paragraphs, norm, ctx):
                if a not in cache:  # a one-paragraph article is its own context: normalized already
                    cache[a] = self.terms.article_link(p if a == raw else normalize_arabic(a))
            lex, places = zip(*(self.terms.paragraph_counts(p) for p in norm))
            dense = self.terms.matrix(lex, places, [cache[a] for a in ctx])
        return norm, np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), dense

    def logits(self, paragraphs: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray:
        """One raw score per class for each paragraph; ``contexts`` are their whole articles."""
        n = len(paragraphs)
        if n == 0:
            return np.zeros((0, len(self.classes)))
        use = self.compiled_after is not None and self.texts_scored >= self.compiled_after
        self.texts_scored += n
        compiled = self.compiled() if use else None
        scored = self._compiled_scores(compiled, paragraphs, contexts) if compiled is not None else None
        if scored is not None:
            out, dense = scored
        else:
            _, row, col, val, dense = self._design(paragraphs, contexts)
            out = np.tile(self.intercept, (n, 1))
            for k, weights in enumerate(self.coef_rows):
                out[:, k] += np.bincount(row, weights=weights[col] * val, minlength=n)
        if dense is not None:
            out += dense @ self.coef_t[self.offsets[-1]:]
        if out.shape[1] == 1:  # binary problems give one column: the positive class
            out = np.column_stack([np.zeros(n), out[:, 0]])
        return out

    def _compiled_scores(self, compiled: Any, paragraphs: Sequence[str], contexts: Sequence[str] | None):
        """`logits` before the term features, and the term features, through the compiled loop."""
        from predict.compiled import NormalizedBatch, Unsupported

        try:
            batch = NormalizedBatch(list(paragraphs))
        except Unsupported:  # a text this loop cannot take (NUL): the whole batch goes through NumPy
            return None
        out = compiled.block_scores(batch) + self.intercept
        if self.terms is None:
            return out, None
        counts = compiled.term_counts(batch)
        n_lex = len(self.terms.lexicon)
        at_article = counts[:, n_lex:].copy()
        if contexts is not None and self.terms.gazetteer:
            elsewhere = [i for i, (p, c) in enumerate(zip(paragraphs, contexts)) if c != p]
            if elsewhere:
                unique = list(dict.fromkeys(contexts[i] for i in elsewhere))
                where = {a: k for k, a in enumerate(unique)}
                try:
                    article_counts = compiled.term_counts(NormalizedBatch(unique), first_group=n_lex)
                except Unsupported:
                    return None
                at_article[elsewhere] = article_counts[[where[contexts[i]] for i in elsewhere]]
        return out, self.terms.matrix(counts[:, :n_lex], counts[:, n_lex:], at_article)

    def feature_names(self) -> list[str]:
        if self.feature_names_cache is None:
            names = []
            for block in self.blocks:
                inv = sorted(block.vocabulary, key=block.vocabulary.get)
                names += [f"{block.analyzer}:{t}" for t in inv]
            self.feature_names_cache = names + (self.terms.names() if self.terms else [])
        return self.feature_names_cache

    def explain(self, text: str, label: str, top: int) -> list[dict[str, Any]]:
        """The features of ``text`` that pushed its score for ``label`` up the most (terms named)."""
        k = self.classes.index(label)
        w = self.coef_t[:, k] if self.coef_t.shape[1] > 1 else (self.coef_t[:, 0] if k == 1 else -self.coef_t[:, 0])
        norm, _, col, val, dense = self._design([text], [text])
        contrib = {int(c): float(v * w[c]) for c, v in zip(col, val)}
        if dense is not None:
            for j, v in enumerate(dense[0]):
                contrib[self.offsets[-1] + j] = float(v * w[self.offsets[-1] + j])
        names = self.feature_names()
        fired = self.terms.explain_terms(norm[0], norm[0]) if self.terms else {}
        best = sorted((c for c, v in contrib.items() if v > 0), key=lambda c: -contrib[c])[:top]
        out = []
        for c in best:
            item = {"feature": names[c], "weight": round(contrib[c], 4)}
            if names[c] in fired:
                item["terms"] = fired[names[c]]
            out.append(item)
        return out


def save_linear(directory: Path, scorer: LinearScorer) -> None:
    """Write the scorer as plain data: JSON spec and vocabularies, .npy arrays (no pickle)."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = {**scorer.spec, "blocks": []}
    for i, block in enumerate(scorer.blocks):
        terms = sorted(block.vocabulary, key=block.vocabulary.get)
        (directory / f"vocab_{i}.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
        np.save(directory / f"idf_{i}.npy", block.idf, allow_pickle=False)
        spec["blocks"].append({"analyzer": block.analyzer, "ngram_range": list(block.ngram_range),
                               "token_pattern": block.token_re.pattern if block.token_re else None})
    np.save(directory / "coef.npy", np.ascontiguousarray(scorer.coef_t.T), allow_pickle=False)
    np.save(directory / "intercept.npy", scorer.intercept, allow_pickle=False)
    (directory / "spec.json").write_text(json.dumps(spec, ensure_ascii=False, indent=1), encoding="utf-8")


def load_linear(directory: Path) -> LinearScorer:
    """Read a scorer written by `save_linear`; arrays are loaded with ``allow_pickle=False``."""
    spec = json.loads((directory / "spec.json").read_text(encoding="utf-8"))
    blocks = [
        TfidfBlock(json.loads((directory / f"vocab_{i}.json").read_text(encoding="utf-8")),
                   _weights(directory / f"idf_{i}.npy"), b["analyzer"], tuple(b["ngram_range"]), b["token_pattern"])
        for i, b in enumerate(spec["blocks"])
    ]
    scorer = LinearScorer(spec, blocks, _weights(directory / "coef.npy"), _weights(directory / "intercept.npy"))
    check_shapes(scorer)
    return scorer


def _weights(path: Path) -> np.ndarray:
    """An array of the model, which must hold finite floating-point numbers: integers, strings, records or NaN
    loaded (converted, or with warnings) and gave wrong or NaN scores on every row."""
    array = np.load(path, allow_pickle=False)
    if array.dtype.kind != "f":
        raise ValueError(f"{path.name} holds {array.dtype} values, expected floating-point numbers")
    if not np.isfinite(array).all():
        raise ValueError(f"{path.name} holds values that are not finite (NaN or infinite)")
    return array


def check_shapes(scorer: LinearScorer) -> None:
    """Refuse, at load, arrays that do not fit together; such a model used to load and then fail every row
    ("index 8955 is out of bounds")."""
    for i, block in enumerate(scorer.blocks):
        if block.idf.shape != (len(block.terms),):
            raise ValueError(f"vocab_{i}.json holds {len(block.terms)} terms, idf_{i}.npy has shape {block.idf.shape}")
    if scorer.coef_t.ndim != 2:
        raise ValueError(f"coef.npy has {scorer.coef_t.ndim} dimensions, expected 2")
    features = scorer.offsets[-1] + (len(scorer.terms.names()) if scorer.terms else 0)
    outputs = {len(scorer.classes)} | ({1} if len(scorer.classes) == 2 else set())
    n_features, n_outputs = scorer.coef_t.shape
    if n_features != features or n_outputs not in outputs:
        raise ValueError(f"coef.npy holds {n_outputs} x {n_features} weights; the vocabularies and terms need "
                         f"{' or '.join(map(str, sorted(outputs)))} x {features}")
    if scorer.intercept.shape != (n_outputs,):
        raise ValueError(f"intercept.npy has shape {scorer.intercept.shape}, expected ({n_outputs},)")
