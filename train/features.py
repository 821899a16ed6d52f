"""scikit-learn steps around the pure feature functions of `predict.features` (training only).

The model's input unit is a pair ``(paragraph, article)``: TF-IDF reads the paragraph,
the scope features read both.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin

from predict.features import TermFeatures
from predict.text import normalize_arabic

Unit = tuple[str, str]  # (paragraph, the whole article it belongs to)


class NormalizeUnits(TransformerMixin, BaseEstimator):
    """(paragraph, article) -> both through `normalize_arabic`; each article normalized once."""

    def fit(self, X: Iterable[Unit], y=None) -> "NormalizeUnits":
        return self

    def transform(self, X: Iterable[Unit]) -> list[Unit]:
        cache: dict[str, str] = {}
        out = []
        for paragraph, article in X:
            if article not in cache:
                cache[article] = normalize_arabic(article)
            out.append((normalize_arabic(paragraph), cache[article]))
        return out


class TakeParagraph(TransformerMixin, BaseEstimator):
    """Normalized units -> their paragraphs (what the TF-IDF steps read)."""

    def fit(self, X, y=None) -> "TakeParagraph":
        return self

    def transform(self, X: Iterable[Unit]) -> list[str]:
        return [p for p, _ in X]


class TermFeatureStep(TransformerMixin, BaseEstimator):
    """Normalized units -> the lexicon and scope features of `TermFeatures`."""

    def __init__(self, terms: TermFeatures | None = None):
        self.terms = terms

    def fit(self, X, y=None) -> "TermFeatureStep":
        return self

    def transform(self, X: Iterable[Unit]):
        cache: dict[str, list[int]] = {}
        rows = []
        for paragraph, article in X:
            if article not in cache:
                cache[article] = self.terms.article_link(article)
            rows.append(self.terms.vector(paragraph, cache[article]))
        return sparse.csr_matrix(np.asarray(rows, dtype=np.float64).reshape(-1, len(self.terms.names())))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array(self.terms.names(), dtype=object)
