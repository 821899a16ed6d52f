"""The `train` stage: prepared dataset in; model artifact, CV reports and one MLflow run out.

`run_train` reads files and talks to MLflow; the work itself is done by the pure
workers in `train.cv` (grouped CV, calibration) and the model families
(`train.linear`, `train.transformer`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from predict.features import TermFeatures
from train.article_level import GOLD_TOPIC_SHARE, article_cv, choose_article_decision, excerpt_cv
from train.config import Config, config_to_dict, flatten, load_gazetteer, load_lexicon
from train.cv import train_model
from train.dataset import check_splits, dataset_version, load_examples
from train.parallel import one_blas_thread
from train.provenance import build_meta, write_run_record


def make_fit(config: Config) -> Any:
    """The fit function of the configured model family."""
    if config.model.type == "transformer":
        from train.transformer import TransformerFit

        return TransformerFit(config.model, config.seed)
    from train.linear import LinearFit

    return LinearFit(config.features, config.model, config.evaluation.inner_splits, config.seed, term_features(config))


def term_features(config: Config) -> TermFeatures | None:
    """The lexicon and scope gazetteer of the config, as the model's term features."""
    f = config.features
    lexicon = load_lexicon(f.lexicon, config.data.labels) if f.lexicon else None
    gazetteer = load_gazetteer(f.scope) if f.scope else None
    if not lexicon and not gazetteer:
        return None
    return TermFeatures.build(lexicon, gazetteer, f.lexicon_weight, f.scope_weight)


THRESHOLDS = [round(0.05 * i, 2) for i in range(19)]  # paragraph abstention thresholds tried on the OOF articles
TOPIC_SHARES = [0.2, 0.3, 0.4, 0.5, 0.6]


def train_and_calibrate(config: Config, rows: list[dict[str, Any]],
                        jobs: int | None = None) -> tuple[Any, dict[str, list[float]], list[dict[str, float]]]:
    """Grouped CV and the final fit (`train.cv.train_model`), then the article-level view of the CV:
    the confidence calibration and its reliability table; article metrics join ``result.metrics``.

    Folds run on up to ``jobs`` processes (None: every core) and every fit on one BLAS
    thread (`train.parallel`): the model is the same for any ``jobs`` and any core count.
    """
    with one_blas_thread():
        return _train_and_calibrate(config, rows, jobs)


def _train_and_calibrate(config: Config, rows: list[dict[str, Any]], jobs: int | None) -> tuple[Any, dict[str, list[float]], list[dict[str, float]]]:
    units = [(r["text"], r["context"]) for r in rows]
    result = train_model(units, [r["label"] for r in rows], [r["article_id"] for r in rows], config, make_fit(config), jobs)
    ev, other = config.evaluation, config.data.other_label
    share = ev.min_topic_share if ev.min_topic_share is not None else GOLD_TOPIC_SHARE
    if other and ev.threshold is None and ev.target_accuracy is None and ev.min_topic_share is None:
        result.threshold, share, _ = choose_article_decision(
            result.oof_probs, rows, result.classes, other, THRESHOLDS, TOPIC_SHARES, result.excerpt_probs)
    result.min_topic_share = share
    if config.scope_gate is not None:
        from train.gate import scope_gate

        result.gate, result.gate_meta, result.gate_oof, result.gate_excerpt_oof = scope_gate(
            config, rows, result.oof_probs, result.classes, result.threshold, share, jobs, result.excerpt_probs)
        if result.gate_meta is not None:
            _, without, _ = article_cv(result.oof_probs, rows, result.classes, other, result.threshold, share)
            result.metrics.update({k.replace("cv_article_", "cv_article_without_gate_"): v for k, v in without.items()
                                   if k.startswith(("cv_article_macro_f1", "cv_article_false_topic_rate", "cv_article_recall"))})
            result.metrics["gate_threshold"] = result.gate_meta["threshold"]
    calibration, article_metrics, reliability = article_cv(result.oof_probs, rows, result.classes, other, result.threshold,
                                                           share, result.gate_meta, result.gate_oof)
    result.metrics.update(article_metrics)
    if result.excerpt_probs is not None:
        gated = (result.gate_meta, result.gate_excerpt_oof) if result.gate_meta is not None else None
        result.metrics.update(excerpt_cv(result.excerpt_probs, rows, result.classes, other, result.threshold, gated))
    return result, calibration, reliability


def run_train(config: Config, config_path: str, tracking_uri: str | None, jobs: int | None = None) -> list[str]:
    """Train (folds on up to ``jobs`` processes, None: every core), save the self-contained artifact, log
    everything to one MLflow run."""
    import mlflow

    from predict.artifact import save_model
    from train.tracking import crown_first_version, log_model, resolve_tracking_uri, start_run

    rows = load_examples(config, "train")
    check_splits(rows, config, config_path)
    version = dataset_version(rows)
    with start_run(resolve_tracking_uri(tracking_uri), config.tracking.experiment) as run:
        result, calibration, article_reliability = train_and_calibrate(config, rows, jobs)
        meta = {**build_meta(config, result, version, run.info.run_id), "article_calibration": calibration,
                "scope_gate": result.gate_meta}
        save_model(config.model_dir, result.scorer, meta, result.gate)
        record = write_run_record(config.model_dir, run.info.run_id)
        cv_dir = config.reports_dir / "cv"
        write_cv_reports(cv_dir, rows, result)
        write_table(cv_dir / "article_reliability.csv", article_reliability)
        mlflow.log_params({**flatten(config_to_dict(config)), **result.extra_params})
        mlflow.log_metrics(result.metrics)
        mlflow.log_metrics({"temperature": result.temperature, "threshold": result.threshold})
        mlflow.set_tags({"git_commit": record["git_commit"] or "unknown", "data_version": version,
                         "dvc_dataset_md5": meta["dvc_dataset_md5"] or "not from dvc repro",
                         "config_path": config_path, "model_type": config.model.type})
        mlflow.log_dict(config_to_dict(config), "config.json")
        mlflow.log_artifacts(str(cv_dir), "cv")
        registered = config.tracking.registered_model if config.tracking.register_model else None
        model_version = log_model(config.model_dir, registered)
        crowned = bool(model_version) and crown_first_version(registered, model_version)  # the first has nothing to beat
    m = result.metrics
    return [
        f"run {run.info.run_id} (data {version}); model saved to {config.model_dir}"
        + (f"; registered {registered} v{model_version}" if model_version else "")
        + (" (the first: now @champion)" if crowned else "; `mihwar promote` moves @champion if it is better" if model_version else ""),
        f"grouped CV ({config.evaluation.n_repeats}x{config.evaluation.n_splits}-fold by article): "
        f"macro-F1 {m['cv_macro_f1']:.3f} ± {m['cv_macro_f1_std']:.3f} over repeats, "
        f"{m['cv_fold_macro_f1_mean']:.3f} ± {m['cv_fold_macro_f1_std']:.3f} over folds; accuracy {m['cv_accuracy']:.3f}",
        f"calibration: temperature {result.temperature:.3f}, ECE {m['cv_ece']:.3f}; abstention threshold {result.threshold:.2f}"
        + (f"; out-of-scope given a topic {m['cv_false_topic_rate']:.3f}" if "cv_false_topic_rate" in m else ""),
        "per-class recall: " + ", ".join(f"{c}={m[f'cv_recall.{c}']:.2f}" for c in result.classes),
        f"articles: macro-F1 {m['cv_article_macro_f1']:.3f} ± {m['cv_article_macro_f1_std']:.3f}, confidence ECE "
        f"{m['cv_article_ece']:.3f}; out-of-scope given a topic: "
        + (", ".join(f"{k.split('.')[-1]} {v:.3f}" for k, v in m.items() if k.startswith("cv_article_false_topic_rate.")) or "n/a"),
    ] + gate_summary(result.gate_meta, m) + excerpt_summary(m)


def gate_summary(gate: dict[str, Any] | None, m: dict[str, float]) -> list[str]:
    """The scope gate's line of the training summary: what it vetoes, and the CV figures without it."""
    if not gate:
        return []
    rates = ", ".join(f"{k.split('.')[-1]} {v:.3f}" for k, v in m.items() if k.startswith("cv_article_without_gate_false_topic_rate."))
    return [f"scope gate on {', '.join(gate['topics'])} at {gate['threshold']:g}; without it, articles: macro-F1 "
            f"{m['cv_article_without_gate_macro_f1']:.3f}; out-of-scope given a topic: {rates}"]


def excerpt_summary(m: dict[str, float]) -> list[str]:
    """The training summary's lines on short excerpts: each held-out paragraph labeled alone, without the scope
    gate and (when the model has one) with it."""
    views = (("cv_excerpt_", "excerpts (each held-out paragraph alone, no gate)"),
             ("cv_gated_excerpt_", "excerpts with the scope gate, as labeling applies it"))
    lines = []
    for prefix, title in views:
        if f"{prefix}macro_f1" not in m:
            continue
        recall = ", ".join(f"{k.split('.')[-1]}={v:.2f}" for k, v in m.items() if k.startswith(f"{prefix}recall."))
        rates = ", ".join(f"{k.split('.')[-1]} {v:.3f}" for k, v in m.items() if k.startswith(f"{prefix}false_topic_rate."))
        lines.append(f"{title}: macro-F1 {m[f'{prefix}macro_f1']:.3f} ± {m[f'{prefix}macro_f1_std']:.3f}; recall {recall}; "
                     f"out-of-scope given a topic: {rates}")
    return lines


def write_cv_reports(directory: Path, rows: list[dict[str, Any]], result: Any) -> None:
    """Held-out (out-of-fold) predictions and the per-fold, coverage and reliability tables."""
    directory.mkdir(parents=True, exist_ok=True)
    mean_probs = result.oof_probs.mean(axis=0)
    with open(directory / "oof.jsonl", "w", encoding="utf-8") as f:
        for r, p in zip(rows, mean_probs):
            f.write(json.dumps({"article_id": r["article_id"], "paragraph_index": r["paragraph_index"], "label": r["label"],
                                "text": r["text"], "probs": [round(float(x), 5) for x in p]}, ensure_ascii=False) + "\n")
    (directory / "folds.json").write_text(json.dumps(result.fold_metrics, indent=2), encoding="utf-8")
    for name, table in (("coverage.csv", result.curve), ("reliability.csv", result.reliability)):
        write_table(directory / name, table)
    (directory / "classes.json").write_text(json.dumps(result.classes), encoding="utf-8")
    gate_path = directory / "gate_oof.json"
    if result.gate_oof:
        gate_path.write_text(json.dumps({a: [round(float(x), 5) for x in v] for a, v in result.gate_oof.items()}, indent=0),
                             encoding="utf-8")
    else:
        gate_path.unlink(missing_ok=True)


def write_table(path: Path, table: list[dict[str, Any]]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]) if table else ["empty"])
        writer.writeheader()
        writer.writerows(table)
