"""The scope gate: an article-level check that a topic decision belongs to the Syria file.

The paragraph model sees a paragraph (plus gazetteer counts of its article). Its most
common out-of-scope error is Syrian war news (a strike, an evacuation, a siege) given
`counter_isis` or `diplomacy` because a paragraph quotes a minister or names Daesh.
The gate reads the whole article once: word and character n-gram TF-IDF with a logistic
regression, fitted on training articles, in scope (any topic) against `other`.

It only vetoes: an article whose topic is one of the *gated* topics and whose gate
probability is under the threshold becomes `other`. A topic is gated only when the
training data hold at least ``min_articles`` articles of it; with fewer (drugs and
sanctions have a handful of seed articles) the gate would learn the well-covered topics'
vocabulary as "in scope" and veto the rest. The threshold is chosen on out-of-fold
articles (`choose_gate`), like the paragraph threshold.

Pure workers: rows in, scorer and numbers out. The decision rule itself lives in
`predict.model.gate_label`, shared with labeling.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from predict.linear import LinearScorer
from predict.model import gate_label, in_scope_probability
from train.config import Config, LinearModelConfig
from train.parallel import map_folds

IN_SCOPE = "in_scope"
MIN_SIDE = 5  # articles needed on each side (in scope, other) to fit a gate and hold some out
GATE_THRESHOLDS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]  # 0.0 = no veto


def gated_topics(gold: Sequence[str], topics: Sequence[str], min_articles: int) -> list[str]:
    """The topics with at least ``min_articles`` training articles: the ones the gate can judge."""
    return [t for t in topics if sum(g == t for g in gold) >= min_articles]


def fit_gate(texts: Sequence[str], in_scope: Sequence[bool], config: Config) -> LinearScorer:
    """The gate fitted on whole articles (the same n-gram features as the paragraph model, no term features)."""
    from train.linear import build_pipeline, export_scorer

    gate = config.scope_gate
    model = LinearModelConfig(C_grid=[gate.C], class_weight="balanced", solver="newton-cg")
    units = [(t, t) for t in texts]
    labels = [IN_SCOPE if s else config.data.other_label for s in in_scope]
    pipeline = build_pipeline(config.features, model, gate.C, config.seed).fit(units, labels)
    return export_scorer(pipeline, None)


def gate_probability(gate: LinearScorer, texts: Sequence[str]) -> np.ndarray:
    """P(in scope) of each article, as labeling computes it."""
    return in_scope_probability(gate, texts, IN_SCOPE)


def gate_fold(train_texts: list[str], train_in_scope: np.ndarray, test_texts: list[str], config: Config) -> np.ndarray:
    """P(in scope) of ``test_texts`` from a gate fitted on the training articles of one fold."""
    return gate_probability(fit_gate(train_texts, train_in_scope, config), test_texts)


def gate_oof(texts: Sequence[str], in_scope: Sequence[bool], config: Config, jobs: int | None = 1) -> np.ndarray:
    """Out-of-fold P(in scope) per repeat, (n_repeats, n_articles): each article scored by a gate not fitted on it.

    The folds run on up to ``jobs`` processes (`train.parallel`); the result does not depend on it.
    """
    from sklearn.model_selection import StratifiedKFold

    ev, y = config.evaluation, np.asarray(in_scope)
    out = np.zeros((ev.n_repeats, len(texts)))
    folds = []
    for r in range(ev.n_repeats):
        splitter = StratifiedKFold(n_splits=min(ev.n_splits, int(y.sum()), int((~y).sum())), shuffle=True, random_state=config.seed + r)
        folds += [(r, tr, te) for tr, te in splitter.split(np.zeros(len(y)), y)]
    tasks = [([texts[i] for i in tr], y[tr], [texts[i] for i in te], config) for _, tr, te in folds]
    for (r, _, te), probs in zip(folds, map_folds(gate_fold, tasks, jobs)):
        out[r, te] = probs
    return out


def choose_gate(decided: list[list[dict[str, Any]]], oof: np.ndarray, topics: list[str], classes: list[str],
                other: str) -> tuple[float, float]:
    """The gate threshold with the best out-of-fold article macro-F1 (mean over repeats), and that score.

    ``decided`` holds, per repeat, the article decisions without the gate (`article_decisions`)
    in the order of ``oof``'s columns. Ties (to 3 decimals) go to the stricter gate: a topic
    given to an out-of-scope article costs an analyst's trust in the whole column.
    """
    from train import metrics as M

    best = (-1.0, 0.0)
    for t in GATE_THRESHOLDS:
        scores = []
        for ds, probs in zip(decided, oof):
            pred = [gate_label(d["pred"], p, topics, t, other) for d, p in zip(ds, probs)]
            scores.append(M.classification_metrics([d["gold"] for d in ds], pred, classes)["macro_f1"])
        score = round(float(np.mean(scores)), 3)
        if score >= best[0]:
            best = (score, t)
    return best[1], best[0]


def scope_gate(config: Config, rows: list[dict[str, Any]], oof_probs: np.ndarray, classes: list[str], threshold: float,
               min_topic_share: float, jobs: int | None = 1) -> tuple[LinearScorer | None, dict[str, Any] | None, dict[str, np.ndarray] | None]:
    """The gate of a training set: scorer, its ``meta["scope_gate"]`` and its out-of-fold P(in scope) per article.

    ``oof_probs`` are the paragraph model's held-out probabilities (per repeat); the gate's
    threshold is the one whose veto gives them the best article macro-F1. None when no
    topic has enough articles to be gated.
    """
    from train.article_level import article_decisions, article_items

    other = config.data.other_label
    articles = article_items(rows, other)  # the order of article_decisions
    ids, texts, gold = [a["article_id"] for a in articles], [a["text"] for a in articles], [a["gold"] for a in articles]
    topics = gated_topics(gold, config.data.labels, config.scope_gate.min_articles)
    if not topics:
        return None, None, None
    in_scope = [g != other for g in gold]
    if min(sum(in_scope), len(in_scope) - sum(in_scope)) < MIN_SIDE:
        return None, None, None  # too few articles on one side to fit a gate, or to hold any out
    oof = gate_oof(texts, in_scope, config, jobs)
    if config.scope_gate.threshold is not None:
        chosen, score = config.scope_gate.threshold, None
    else:
        decided = [article_decisions(p, rows, classes, other, threshold, min_topic_share) for p in oof_probs[: len(oof)]]
        chosen, score = choose_gate(decided, oof, topics, classes, other)
    meta = {"topics": topics, "threshold": chosen, "in_scope": IN_SCOPE, "C": config.scope_gate.C,
            "oof_article_macro_f1": score, "articles": {"in_scope": int(sum(in_scope)), "other": len(in_scope) - int(sum(in_scope))}}
    return fit_gate(texts, in_scope, config), meta, {a: oof[:, i] for i, a in enumerate(ids)}
