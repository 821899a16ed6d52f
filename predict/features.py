"""Feature steps of the linear pipeline that must load at labeling time.

`NormalizeText` runs `normalize_arabic` once per text, before every vectorizer.
`LexiconFeatures`: how strongly a text uses each topic's defining terms.

The terms come from the topic definitions of the labeling guideline (captagon,
the Global Coalition, the Caesar Act, UN 2254 ...), not from the training
articles, so they carry knowledge five articles cannot teach. The model learns
how much to trust them. Terms are matched as substrings of the normalized text,
which tolerates Arabic clitics (بالكبتاغون, لداعش).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin

from predict.text import normalize_arabic


class NormalizeText(TransformerMixin, BaseEstimator):
    """Pipeline step: raw texts -> `normalize_arabic` texts (stateless)."""

    def fit(self, X: Iterable[str], y=None) -> "NormalizeText":
        return self

    def transform(self, X: Iterable[str]) -> list[str]:
        return [normalize_arabic(t) for t in X]


class LexiconFeatures(TransformerMixin, BaseEstimator):
    """One feature per topic: log(1 + matches of its terms), scaled by ``weight``.

    With ``normalized_input`` the texts are taken as already normalized (after `NormalizeText`).
    """

    def __init__(self, lexicon: dict[str, list[str]] | None = None, weight: float = 1.0, normalized_input: bool = False):
        self.lexicon = lexicon
        self.weight = weight
        self.normalized_input = normalized_input

    def fit(self, X: Iterable[str], y=None) -> "LexiconFeatures":
        self.topics_ = sorted(self.lexicon or {})
        self.terms_ = [sorted({normalize_arabic(str(t)) for t in (self.lexicon or {})[topic]}) for topic in self.topics_]
        return self

    def transform(self, X: Iterable[str]):
        rows = []
        for text in X:
            norm = text if self.normalized_input else normalize_arabic(text)
            rows.append([np.log1p(sum(norm.count(term) for term in terms)) for terms in self.terms_])
        return sparse.csr_matrix(np.asarray(rows, dtype=np.float32).reshape(-1, len(self.topics_)) * self.weight)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array([f"lexicon:{t}" for t in self.topics_], dtype=object)
