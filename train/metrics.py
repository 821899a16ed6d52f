"""Pure evaluation functions over labels and probabilities (no files, no MLflow)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from predict.model import softmax


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str], classes: list[str]) -> dict[str, float]:
    """Macro-F1, accuracy and per-class precision/recall/F1 over ``classes``."""
    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    present = [c for c, s in zip(classes, support) if s > 0]
    out = {
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
    }
    for c, pi, ri, fi in zip(classes, p, r, f):
        out.update({f"precision.{c}": float(pi), f"recall.{c}": float(ri), f"f1.{c}": float(fi)})
    return out


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature that minimises the negative log-likelihood of held-out logits.

    One parameter, so it can be fitted on a few hundred out-of-fold scores
    without overfitting; a grid keeps it deterministic.
    """
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    finite = np.where(np.isfinite(logits), logits, -1e9)

    def nll(t: float) -> float:
        p = softmax(finite, t)[np.arange(len(y)), y]
        return float(-np.log(np.clip(p, 1e-12, 1)).mean())

    return float(min(grid, key=nll))


def decisions(probs: np.ndarray, classes: list[str], other: str | None, threshold: float) -> list[str]:
    """Argmax labels, with topics under ``threshold`` turned into ``other``."""
    best = probs.argmax(axis=1)
    out = []
    for row, b in zip(probs, best):
        label = classes[b]
        out.append(other if other and label != other and row[b] < threshold else label)
    return out


def coverage_curve(probs: np.ndarray, y_true: Sequence[str], classes: list[str], other: str | None) -> list[dict[str, float]]:
    """For each threshold: share of texts given a topic and accuracy among them."""
    rows = []
    y_true = np.asarray(y_true)
    for t in np.round(np.arange(0.0, 1.0, 0.05), 2):
        pred = np.asarray(decisions(probs, classes, other, float(t)))
        covered = pred != other if other else np.ones(len(pred), bool)
        acc = float((pred[covered] == y_true[covered]).mean()) if covered.any() else float("nan")
        rows.append({"threshold": float(t), "coverage": float(covered.mean()), "selective_accuracy": acc,
                     "accuracy": float((pred == y_true).mean()),
                     "macro_f1": classification_metrics(list(y_true), list(pred), classes)["macro_f1"]})
    return rows


def choose_threshold(curve: list[dict[str, float]], target_accuracy: float | None) -> float:
    """With a target: the lowest threshold whose topic decisions reach it. Without one, or when no
    threshold reaches it: the threshold with the best macro-F1 (lowest on ties)."""
    if target_accuracy is not None:
        for row in curve:
            if row["selective_accuracy"] >= target_accuracy:
                return row["threshold"]
    return max(curve, key=lambda r: (round(r.get("macro_f1", r["accuracy"]), 6), -r["threshold"]))["threshold"]


def reliability_table(probs: np.ndarray, y_true: Sequence[str], classes: list[str], bins: int = 10) -> list[dict[str, float]]:
    """Confidence of the top class against how often it was right, per confidence bin."""
    correct = np.asarray([classes[i] for i in probs.argmax(axis=1)]) == np.asarray(y_true)
    return reliability_bins(probs.max(axis=1), correct, bins)


def reliability_bins(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Stated confidence against how often it was right, per confidence bin."""
    conf, correct = np.asarray(conf, dtype=float), np.asarray(correct, dtype=bool)
    edges = np.linspace(0, 1, bins + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (conf >= lo) & ((conf < hi) if hi < 1 else (conf <= hi))
        if mask.any():
            rows.append({"bin": f"{lo:.1f}-{hi:.1f}", "count": int(mask.sum()),
                         "mean_confidence": float(conf[mask].mean()), "accuracy": float(correct[mask].mean())})
    return rows


def expected_calibration_error(table: list[dict[str, float]]) -> float:
    n = sum(r["count"] for r in table)
    return float(sum(r["count"] * abs(r["mean_confidence"] - r["accuracy"]) for r in table) / max(n, 1))


def confusion(y_true: Sequence[str], y_pred: Sequence[str], classes: list[str]) -> np.ndarray:
    return confusion_matrix(y_true, y_pred, labels=classes)


def false_topic_rate(y_true: Sequence[str], y_pred: Sequence[str], other: str | None) -> float | None:
    """How often an out-of-scope text is given a topic."""
    if not other:
        return None
    pairs = [(t, p) for t, p in zip(y_true, y_pred) if t == other]
    return float(np.mean([p != other for _, p in pairs])) if pairs else None
