"""evaluate: reports on the trained model from its held-out predictions.

Reads the out-of-fold predictions written by `train` and the prepared holdout
split (out-of-scope articles never trained on); writes metrics.json, plots and
the misclassified table, and adds them to the training run in MLflow.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from predict.model import aggregate_article, decide_article, paragraph_weights
from train import metrics as M
from train.config import Config


def article_level(rows: list[dict[str, Any]], probs: np.ndarray, classes: list[str], other: str | None, threshold: float,
                  min_topic_share: float) -> tuple[list[str], list[str]]:
    """Gold (majority paragraph label) and predicted (aggregated scores) topic per article."""
    by_article: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_article[r["article_id"]].append(i)
    gold, pred = [], []
    for idx in by_article.values():
        labels = [rows[i]["label"] for i in idx]
        gold.append(max(set(labels), key=labels.count))
        scores = aggregate_article(probs[idx], paragraph_weights([rows[i]["text"] for i in idx]))
        pred.append(decide_article(scores, classes, other, threshold, min_topic_share)[0])
    return gold, pred


def plot_confusion(matrix: np.ndarray, classes: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", color="black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Out-of-fold paragraphs (grouped CV)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_per_class_f1(f1: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(list(f1), list(f1.values()), color="#3b6ea5")
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1")
    ax.set_title("Per-class F1, grouped CV (mean over repeats)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_misclassified(rows: list[dict[str, Any]], pred: list[str], probs: np.ndarray, path: Path) -> int:
    wrong = [(r, p, float(pr.max())) for r, p, pr in zip(rows, pred, probs) if r["label"] != p]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["article_id", "paragraph_index", "true", "predicted", "confidence", "text"])
        for r, p, c in wrong:
            w.writerow([r["article_id"], r["paragraph_index"], r["label"], p, round(c, 3), r["text"][:300]])
    return len(wrong)


def holdout_metrics(model: Any, rows: list[dict[str, Any]], other: str | None) -> dict[str, float]:
    """Final model on articles kept out of training: how often is out-of-scope news given a topic?"""
    texts: dict[str, list[str]] = defaultdict(list)
    gold: dict[str, str] = {}
    for r in rows:
        texts[r["article_id"]].append(r["text"])
        gold[r["article_id"]] = r["label"]
    if not texts:
        return {}
    preds = model.predict_articles(["\n".join(t) for t in texts.values()])
    y_true, y_pred = list(gold.values()), [p.label for p in preds]
    out = {"holdout_articles": float(len(y_true)), "holdout_accuracy": M.classification_metrics(y_true, y_pred, sorted(set(y_true)))["accuracy"]}
    rate = M.false_topic_rate(y_true, y_pred, other)
    if rate is not None:
        out["holdout_false_topic_rate"] = rate
    return out


def run_evaluate(config: Config, tracking_uri: str | None) -> list[str]:
    """evaluate stage: metrics.json, plots/, misclassified.csv; added to the training run."""
    from predict.artifact import load_model
    from train.dataset import load_examples

    model = load_model(str(config.model_dir))
    meta, other, threshold = model.meta, config.data.other_label, model.threshold
    cv_dir, out = config.reports_dir / "cv", config.reports_dir
    classes = json.loads((cv_dir / "classes.json").read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in (cv_dir / "oof.jsonl").read_text(encoding="utf-8").splitlines()]
    probs = np.array([r["probs"] for r in rows])
    pred = M.decisions(probs, classes, other, threshold)
    y = [r["label"] for r in rows]
    (out / "plots").mkdir(parents=True, exist_ok=True)
    plot_confusion(M.confusion(y, pred, classes), classes, out / "plots" / "confusion.png")
    plot_per_class_f1({c: meta["metrics"][f"cv_f1.{c}"] for c in classes}, out / "plots" / "per_class_f1.png")
    n_wrong = write_misclassified(rows, pred, probs, out / "misclassified.csv")
    a_gold, a_pred = article_level(rows, probs, classes, other, threshold, model.min_topic_share)
    article = M.classification_metrics(a_gold, a_pred, classes)
    in_scope = [(g, p) for g, p in zip(a_gold, a_pred) if g != other]
    metrics = {
        "paragraph_cv": {k: round(v, 4) for k, v in meta["metrics"].items()},
        "article_cv": {"accuracy": round(article["accuracy"], 4), "macro_f1": round(article["macro_f1"], 4), "articles": len(a_gold),
                       "topic_articles": len(in_scope),
                       "topic_article_accuracy": round(float(np.mean([g == p for g, p in in_scope])), 4) if in_scope else None,
                       **({"false_topic_rate": round(r, 4)} if (r := M.false_topic_rate(a_gold, a_pred, other)) is not None else {})},
        "holdout": {k: round(v, 4) for k, v in holdout_metrics(model, load_examples(config, "holdout"), other).items()},
        "calibration": {"temperature": round(model.temperature, 4), "threshold": threshold},
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    _log_to_run(meta.get("mlflow_run_id"), tracking_uri, metrics, out)  # from run.json, merged by read_meta
    return [
        f"article-level CV: accuracy {metrics['article_cv']['accuracy']:.3f} over {len(a_gold)} articles, "
        f"{metrics['article_cv']['topic_article_accuracy']} over the {len(in_scope)} in-scope ones; "
        f"misclassified paragraphs: {n_wrong} (see {out / 'misclassified.csv'})",
        f"holdout: {json.dumps(metrics['holdout'])}",
        f"wrote {out / 'metrics.json'} and {out / 'plots'}",
    ]


def _log_to_run(run_id: str | None, tracking_uri: str | None, metrics: dict[str, Any], out: Path) -> None:
    if not run_id:
        return
    import mlflow

    from train.config import flatten
    from train.tracking import resolve_tracking_uri

    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics({f"eval.{k}": v for k, v in flatten({k: metrics[k] for k in ("article_cv", "holdout")}).items()})
        mlflow.log_artifacts(str(out / "plots"), "plots")
        mlflow.log_artifact(str(out / "misclassified.csv"))
        mlflow.log_artifact(str(out / "metrics.json"))
