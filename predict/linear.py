"""Scorer for the scikit-learn backend: a fitted pipeline that takes raw paragraphs."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


class LinearScorer:
    """Raw class scores from a fitted text pipeline whose last step is a linear model."""

    def __init__(self, pipeline: Any):
        self.pipeline = pipeline
        self.classes = [str(c) for c in pipeline.classes_]

    def logits(self, paragraphs: Sequence[str]) -> np.ndarray:
        scores = np.asarray(self.pipeline.decision_function(list(paragraphs)), dtype=float)
        if scores.ndim == 1:  # binary problems give one column: the positive class
            scores = np.column_stack([np.zeros_like(scores), scores])
        return scores

    def explain(self, text: str, label: str, top: int) -> list[dict[str, Any]]:
        """The n-grams of ``text`` that pushed its score for ``label`` up the most."""
        features, classifier = self.pipeline[:-1], self.pipeline[-1]
        row = features.transform([text]).tocsr()
        coef = np.asarray(classifier.coef_)
        k = self.classes.index(label)
        weights = coef[k] if coef.shape[0] > 1 else (coef[0] if k == 1 else -coef[0])
        contrib = row.data * weights[row.indices]
        order = np.argsort(-contrib)[:top]
        names = features[-1].get_feature_names_out()  # the last step before the classifier names the columns
        return [
            {"feature": str(names[row.indices[i]]).split("__", 1)[-1], "weight": round(float(contrib[i]), 4)}
            for i in order
            if contrib[i] > 0
        ]
