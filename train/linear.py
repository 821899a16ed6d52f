"""The default model family: normalization + TF-IDF word and char n-grams + a linear classifier."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from predict.features import LexiconFeatures, NormalizeText
from predict.linear import LinearScorer
from train.config import FeaturesConfig, LinearModelConfig
from train.cv import inner_group_splits


def build_pipeline(features: FeaturesConfig, model: LinearModelConfig, C: float, seed: int,
                   lexicon: dict[str, list[str]] | None = None) -> Pipeline:
    """An unfitted pipeline that takes raw paragraphs; `normalize_arabic` is its first step."""
    common = dict(lowercase=False, min_df=features.min_df, sublinear_tf=features.sublinear_tf,
                  max_features=features.max_features, dtype=np.float32)
    union = FeatureUnion([
        ("word", TfidfVectorizer(analyzer="word", ngram_range=tuple(features.word_ngrams), token_pattern=r"(?u)\b\w+\b", **common)),
        ("char", TfidfVectorizer(analyzer=features.char_analyzer, ngram_range=tuple(features.char_ngrams), **common)),
    ])
    if lexicon:
        union.transformer_list.append(("lexicon", LexiconFeatures(lexicon, features.lexicon_weight, normalized_input=True)))
    if model.type == "logreg":
        clf = LogisticRegression(C=C, class_weight=model.class_weight, max_iter=model.max_iter, random_state=seed)
    else:
        clf = LinearSVC(C=C, class_weight=model.class_weight, max_iter=model.max_iter, random_state=seed)
    return Pipeline([("normalize", NormalizeText()), ("features", union), ("classifier", clf)])


def choose_C(texts: list[str], labels: list[str], groups: list[str], features: FeaturesConfig, model: LinearModelConfig,
             inner_splits: int, seed: int, lexicon: dict[str, list[str]] | None = None) -> float:
    """The C of ``model.C_grid`` with the best grouped-CV macro-F1 on this training set."""
    splits = inner_group_splits(groups, inner_splits)
    if len(model.C_grid) == 1 or not splits:
        return model.C_grid[0]
    y = np.asarray(labels)
    scores = []
    for C in model.C_grid:
        f1s = []
        for tr, te in splits:
            pipe = build_pipeline(features, model, C, seed, lexicon).fit([texts[i] for i in tr], y[tr])
            f1s.append(f1_score(y[te], pipe.predict([texts[i] for i in te]), average="macro", zero_division=0))
        scores.append(float(np.mean(f1s)))
    return model.C_grid[int(np.argmax(scores))]


class LinearFit:
    """Fit function for `train_model`: choose C by inner grouped CV, then fit."""

    def __init__(self, features: FeaturesConfig, model: LinearModelConfig, inner_splits: int, seed: int,
                 lexicon: dict[str, list[str]] | None = None):
        self.features, self.model, self.inner_splits, self.seed = features, model, inner_splits, seed
        self.lexicon = lexicon

    def __call__(self, texts: Sequence[str], labels: Sequence[str], groups: Sequence[str]) -> LinearScorer:
        texts, labels, groups = list(texts), list(labels), list(groups)
        C = choose_C(texts, labels, groups, self.features, self.model, self.inner_splits, self.seed, self.lexicon)
        scorer = LinearScorer(build_pipeline(self.features, self.model, C, self.seed, self.lexicon).fit(texts, labels))
        scorer.params = {"chosen_C": C}
        return scorer
