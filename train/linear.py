"""The default model family: normalization + TF-IDF word and char n-grams + term features + a linear classifier.

scikit-learn fits it; `export_scorer` turns the fitted pipeline into the NumPy scorer of
`predict.linear`, which is what cross-validation scores and what labeling loads.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from predict.features import TermFeatures
from predict.linear import LinearScorer, TfidfBlock
from train.config import FeaturesConfig, LinearModelConfig
from train.cv import inner_group_splits
from train.features import NormalizeUnits, TakeParagraph, TermFeatureStep, Unit
from train.tfidf import CountingTfidfVectorizer

TOKEN_PATTERN = r"(?u)\b\w+\b"


def build_pipeline(features: FeaturesConfig, model: LinearModelConfig, C: float, seed: int,
                   terms: TermFeatures | None = None) -> Pipeline:
    """An unfitted pipeline over (paragraph, article) units; `normalize_arabic` is its first step."""
    common = dict(lowercase=False, min_df=features.min_df, sublinear_tf=features.sublinear_tf,
                  max_features=features.max_features, dtype=np.float64)
    word = CountingTfidfVectorizer(analyzer="word", ngram_range=tuple(features.word_ngrams), token_pattern=TOKEN_PATTERN, **common)
    union = FeatureUnion([("word", Pipeline([("take", TakeParagraph()), ("tfidf", word)]))])
    if features.char_ngrams is not None:
        char = CountingTfidfVectorizer(analyzer=features.char_analyzer, ngram_range=tuple(features.char_ngrams), **common)
        union.transformer_list.append(("char", Pipeline([("take", TakeParagraph()), ("tfidf", char)])))
    if terms is not None and (terms.lexicon or terms.gazetteer):
        union.transformer_list.append(("terms", TermFeatureStep(terms)))
    if model.type == "logreg":
        clf = LogisticRegression(C=C, class_weight=model.class_weight, max_iter=model.max_iter, solver=model.solver,
                                 random_state=seed)
    else:
        clf = LinearSVC(C=C, class_weight=model.class_weight, max_iter=model.max_iter, random_state=seed)
    return Pipeline([("normalize", NormalizeUnits()), ("features", union), ("classifier", clf)])


def export_scorer(pipeline: Pipeline, terms: TermFeatures | None) -> LinearScorer:
    """The fitted pipeline as plain data for the NumPy scorer."""
    blocks = []
    for name, step in pipeline.named_steps["features"].transformer_list:
        if name == "terms":
            continue
        vec = step.named_steps["tfidf"]
        vocab = sorted(vec.vocabulary_, key=vec.vocabulary_.get)
        pattern = vec.token_pattern if vec.analyzer == "word" else None
        blocks.append(TfidfBlock(vocab, vec.idf_, vec.analyzer, vec.ngram_range, pattern))
    clf = pipeline.named_steps["classifier"]
    uses_terms = any(name == "terms" for name, _ in pipeline.named_steps["features"].transformer_list)
    spec = {"kind": "linear", "classes": [str(c) for c in clf.classes_], "normalization": "predict.text.normalize_arabic",
            "terms": terms.to_json() if uses_terms else None}
    return LinearScorer(spec, blocks, clf.coef_, clf.intercept_)


def choose_C(units: list[Unit], labels: list[str], groups: list[str], features: FeaturesConfig, model: LinearModelConfig,
             inner_splits: int, seed: int, terms: TermFeatures | None = None) -> float:
    """The C of ``model.C_grid`` with the best grouped-CV macro-F1 on this training set."""
    splits = inner_group_splits(groups, inner_splits)
    if len(model.C_grid) == 1 or not splits:
        return model.C_grid[0]
    y = np.asarray(labels)
    scores = []
    for C in model.C_grid:
        f1s = []
        for tr, te in splits:
            pipe = build_pipeline(features, model, C, seed, terms).fit([units[i] for i in tr], y[tr])
            f1s.append(f1_score(y[te], pipe.predict([units[i] for i in te]), average="macro", zero_division=0))
        scores.append(float(np.mean(f1s)))
    return model.C_grid[int(np.argmax(scores))]


def with_excerpt_view(units: list[Unit], labels: list[str], groups: list[str]) -> tuple[list[Unit], list[str], list[str]]:
    """The training units plus each paragraph of a longer article read alone, as ``(paragraph, paragraph)``.

    The scope features read the whole article, and a long article counts many more Syrian
    places than a three-line excerpt of it. Fitted on whole articles only, the model learned
    "topic = long, Syria-heavy article" and gave `other` to most short excerpts (grouped CV,
    paragraphs scored alone: topic macro-F1 0.45 against 0.69 in their articles). The copies
    keep their article id, so grouped CV never splits them from their article.
    """
    extra = [i for i, (paragraph, article) in enumerate(units) if paragraph != article]
    return (units + [(units[i][0], units[i][0]) for i in extra], labels + [labels[i] for i in extra],
            groups + [groups[i] for i in extra])


class LinearFit:
    """Fit function for `train_model`: choose C by inner grouped CV, fit, export to the NumPy scorer."""

    parallel_folds = True  # picklable, and single-threaded per fit: CV may run its folds in processes

    def __init__(self, features: FeaturesConfig, model: LinearModelConfig, inner_splits: int, seed: int,
                 terms: TermFeatures | None = None):
        self.features, self.model, self.inner_splits, self.seed = features, model, inner_splits, seed
        self.terms = terms

    def fit_pipeline(self, units: Sequence[Unit], labels: Sequence[str], groups: Sequence[str]) -> tuple[Pipeline, float]:
        units, labels, groups = list(units), list(labels), list(groups)
        if self.model.excerpt_view:
            units, labels, groups = with_excerpt_view(units, labels, groups)
        C = choose_C(units, labels, groups, self.features, self.model, self.inner_splits, self.seed, self.terms)
        return build_pipeline(self.features, self.model, C, self.seed, self.terms).fit(units, labels), C

    def __call__(self, units: Sequence[Unit], labels: Sequence[str], groups: Sequence[str]) -> LinearScorer:
        pipeline, C = self.fit_pipeline(units, labels, groups)
        scorer = export_scorer(pipeline, self.terms)
        scorer.params = {"chosen_C": C}
        return scorer
