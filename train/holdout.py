"""The fixed test split: articles never trained or tuned on, scored as a user would score them.

Each held-out article is labeled whole by `TopicModel.predict_articles` (segmentation,
scope context, calibration, decision rule: the labeling path itself) and compared with
its gold label from the paragraph annotations (`train.article_level`). Out-of-scope
articles are reported per family: Syria news off the axes, the same vocabulary about
other places, general news.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from predict.model import TopicModel
from train import metrics as M


def score_articles(model: TopicModel, articles: list[dict[str, Any]], classes: list[str], other: str | None) -> dict[str, Any]:
    """Article-level metrics of ``model`` on held-out articles, per family for the out-of-scope ones."""
    preds = model.predict_articles([a["text"] for a in articles])
    gold, pred = [a["gold"] for a in articles], [p.label for p in preds]
    topics = [c for c in classes if c != other]
    present = sorted({g for g in gold if g != other})
    m = M.classification_metrics(gold, pred, classes)
    out: dict[str, Any] = {
        "articles": len(articles),
        "macro_f1_topics": round(float(np.mean([m[f"f1.{t}"] for t in present])), 4) if present else None,
        "topics_present": present,
        "macro_f1_all_classes": round(m["macro_f1"], 4),
        "accuracy": round(m["accuracy"], 4),
        **{f"recall.{t}": round(m[f"recall.{t}"], 4) for t in topics if t in present},
        **{f"f1.{t}": round(m[f"f1.{t}"], 4) for t in topics if t in present},
    }
    for family in sorted({a["family"] for a in articles} - {"in_scope"}):
        idx = [i for i, a in enumerate(articles) if a["family"] == family and a["gold"] == other]
        if idx:
            out[f"false_topic_rate.{family}"] = round(float(np.mean([pred[i] != other for i in idx])), 4)
            out[f"articles.{family}"] = len(idx)
    low, high = bootstrap_interval(gold, pred, present)
    out["macro_f1_topics_95ci"] = [low, high]
    right = np.array([p == g for p, g in zip(pred, gold)])
    out["reliability"] = M.reliability_bins(np.array([p.confidence for p in preds]), right)
    out["ece"] = round(M.expected_calibration_error(out["reliability"]), 4)
    out["_pred"] = pred
    return out


def bootstrap_interval(gold: list[str], pred: list[str], topics: list[str], n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the topic macro-F1 over articles resampled with replacement:
    with a few dozen in-scope articles, one or two articles move the figure by points."""
    if not topics:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    g, p = np.array(gold), np.array(pred)
    scores = []
    for _ in range(n):
        i = rng.integers(0, len(g), len(g))
        m = M.classification_metrics(list(g[i]), list(p[i]), topics + ["__rest__"])
        scores.append(np.mean([m[f"f1.{t}"] for t in topics]))
    return round(float(np.percentile(scores, 2.5)), 4), round(float(np.percentile(scores, 97.5)), 4)
