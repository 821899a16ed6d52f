"""train: grouped cross-validation, calibration, abstention threshold, final fit.

Pure worker: takes texts, labels and article ids in memory and returns a
`TrainResult`; the CLI reads files, writes the artifact and talks to MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

from predict.model import softmax
from train import metrics as M
from train.config import Config
from train.parallel import map_folds, one_blas_thread

FitFn = Callable[[list[tuple[str, str]], list[str], list[str]], Any]  # (units, labels, article ids) -> scorer


@dataclass
class Fold:
    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray


@dataclass
class TrainResult:
    scorer: Any
    classes: list[str]  # order of oof_probs columns (the scorer keeps its own order)
    temperature: float
    threshold: float
    metrics: dict[str, float]
    oof_probs: np.ndarray  # (n_repeats, n_examples, len(classes)), calibrated, held-out only
    fold_metrics: list[dict[str, Any]]
    curve: list[dict[str, float]]
    reliability: list[dict[str, float]]
    extra_params: dict[str, Any] = field(default_factory=dict)
    gate: Any = None  # the scope gate's scorer (`train.gate`), saved beside the model
    gate_meta: dict[str, Any] | None = None  # meta["scope_gate"]
    gate_oof: dict[str, np.ndarray] | None = None  # article id -> held-out P(in scope) per repeat
    excerpt_probs: np.ndarray | None = None  # like oof_probs, each paragraph scored alone (its own article)
    gate_excerpt_oof: np.ndarray | None = None  # (n_repeats, n_examples): held-out P(in scope) of each paragraph alone


def grouped_folds(labels: Sequence[str], groups: Sequence[str], n_splits: int, n_repeats: int, seed: int) -> list[Fold]:
    """Repeated stratified K-fold over articles: no article is ever on both sides."""
    y, g = np.asarray(labels), np.asarray(groups)
    folds = []
    for r in range(n_repeats):
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed + r)
        for k, (tr, te) in enumerate(splitter.split(np.zeros(len(y)), y, g)):
            folds.append(Fold(r, k, tr, te))
    return folds


def logits_in_order(scorer: Any, units: Sequence[tuple[str, str]], classes: list[str]) -> np.ndarray:
    """Scorer logits of (paragraph, article) units re-ordered to ``classes``; a class the fold never saw scores -inf."""
    raw = scorer.logits([u[0] for u in units], [u[1] for u in units])
    out = np.full((len(units), len(classes)), -np.inf)
    for j, c in enumerate(scorer.classes):
        out[:, classes.index(c)] = raw[:, j]
    return out


def fold_logits(fit: FitFn, train: tuple[list, list, list], test: list[tuple[str, str]],
                classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """One fold: fit on ``train`` (units, labels, groups); logits of ``test`` in its articles and read alone (an excerpt)."""
    scorer = fit(*train)
    return logits_in_order(scorer, test, classes), logits_in_order(scorer, [(t[0], t[0]) for t in test], classes)


def cross_validate(texts: list[tuple[str, str]], labels: list[str], groups: list[str], folds: list[Fold], fit: FitFn,
                   classes: list[str], jobs: int | None = 1) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Out-of-fold logits for every repeat, in their articles and read alone (an excerpt), and the metrics of each fold.

    The folds are fitted on up to ``jobs`` processes when ``fit`` allows it (`train.parallel`);
    the result does not depend on ``jobs``.
    """
    n_repeats = max(f.repeat for f in folds) + 1
    oof = np.full((n_repeats, len(texts), len(classes)), np.nan)
    alone = np.full_like(oof, np.nan)
    per_fold = []
    pick = lambda seq, idx: [seq[i] for i in idx]  # noqa: E731
    tasks = [(fit, (pick(texts, f.train), pick(labels, f.train), pick(groups, f.train)), pick(texts, f.test), classes)
             for f in folds]
    results = map_folds(fold_logits, tasks, jobs if getattr(fit, "parallel_folds", False) else 1)
    for f, (in_article, read_alone) in zip(folds, results):
        oof[f.repeat, f.test], alone[f.repeat, f.test] = in_article, read_alone
        pred = [classes[i] for i in oof[f.repeat, f.test].argmax(axis=1)]
        m = M.classification_metrics(pick(labels, f.test), pred, classes)
        per_fold.append({"repeat": f.repeat, "fold": f.fold, "n_test": len(f.test),
                         "test_articles": len(set(pick(groups, f.test))), "macro_f1": m["macro_f1"], "accuracy": m["accuracy"]})
    return oof, alone, per_fold


def summarize(oof_probs: np.ndarray, labels: list[str], classes: list[str], other: str | None, threshold: float, per_fold: list[dict[str, Any]]) -> dict[str, float]:
    """Mean and spread over repeats (pooled out-of-fold) and over folds."""
    runs = [M.classification_metrics(labels, M.decisions(p, classes, other, threshold), classes) for p in oof_probs]
    out: dict[str, float] = {}
    for key in runs[0]:
        values = np.array([r[key] for r in runs])
        out[f"cv_{key}"] = float(values.mean())
        if key in ("macro_f1", "accuracy"):
            out[f"cv_{key}_std"] = float(values.std())
    fold_f1 = np.array([f["macro_f1"] for f in per_fold])
    out.update({"cv_fold_macro_f1_mean": float(fold_f1.mean()), "cv_fold_macro_f1_std": float(fold_f1.std()),
                "cv_fold_macro_f1_min": float(fold_f1.min()), "cv_fold_macro_f1_max": float(fold_f1.max())})
    rates = [M.false_topic_rate(labels, M.decisions(p, classes, other, threshold), other) for p in oof_probs]
    if rates[0] is not None:
        out["cv_false_topic_rate"] = float(np.mean(rates))
    return out


def train_model(texts: list[tuple[str, str]], labels: list[str], groups: list[str], config: Config, fit: FitFn,
                jobs: int | None = 1) -> TrainResult:
    """Evaluate ``fit`` by repeated grouped CV (folds on up to ``jobs`` processes), calibrate on its held-out scores,
    then fit on all data."""
    classes = config.classes
    ev = config.evaluation
    folds = grouped_folds(labels, groups, ev.n_splits, ev.n_repeats, config.seed)
    oof, alone, per_fold = cross_validate(texts, labels, groups, folds, fit, classes, jobs)
    y = np.array([classes.index(l) for l in labels])
    temperature = M.fit_temperature(oof.reshape(-1, len(classes)), np.tile(y, len(oof)))
    probs, excerpt_probs = (np.stack([softmax(np.where(np.isfinite(o), o, -1e9), temperature) for o in x]) for x in (oof, alone))
    all_probs, all_labels = probs.reshape(-1, len(classes)), labels * len(oof)
    curve = M.coverage_curve(all_probs, all_labels, classes, config.data.other_label)
    if config.data.other_label is None:
        threshold = 0.0  # nothing to abstain to
    else:
        threshold = ev.threshold if ev.threshold is not None else M.choose_threshold(curve, ev.target_accuracy)
    reliability = M.reliability_table(all_probs, all_labels, classes)
    summary = summarize(probs, labels, classes, config.data.other_label, threshold, per_fold)
    summary["cv_ece"] = M.expected_calibration_error(reliability)
    with one_blas_thread():  # like the folds: the same model whatever the core count
        scorer = fit(texts, labels, groups)
    return TrainResult(scorer, classes, temperature, threshold, summary, probs, per_fold, curve, reliability,
                       dict(getattr(scorer, "params", {})), excerpt_probs=excerpt_probs)


def inner_group_splits(groups: Sequence[str], n_splits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    n = min(n_splits, len(set(groups)))
    return list(GroupKFold(n_splits=n).split(np.zeros(len(groups)), groups=groups)) if n >= 2 else []
