"""The `train` stage: prepared dataset in; model artifact, CV reports and one MLflow run out.

`run_train` reads files and talks to MLflow; the work itself is done by the pure
workers in `train.cv` (grouped CV, calibration) and the model families
(`train.linear`, `train.transformer`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from train.config import Config, config_to_dict, flatten, load_lexicon
from train.cv import train_model
from train.dataset import check_splits, dataset_version, load_examples
from train.provenance import build_meta, write_run_record


def make_fit(config: Config) -> Any:
    """The fit function of the configured model family."""
    if config.model.type == "transformer":
        from train.transformer import TransformerFit

        return TransformerFit(config.model, config.seed)
    from train.linear import LinearFit

    lexicon = load_lexicon(config.features.lexicon, config.data.labels) if config.features.lexicon else None
    return LinearFit(config.features, config.model, config.evaluation.inner_splits, config.seed, lexicon)


def run_train(config: Config, config_path: str, tracking_uri: str | None) -> list[str]:
    """Train, save the self-contained artifact, log everything to one MLflow run."""
    import mlflow

    from predict.artifact import save_model
    from train.tracking import crown_first_version, log_model, resolve_tracking_uri, start_run

    rows = load_examples(config, "train")
    check_splits(rows, config, config_path)
    texts, labels, groups = [r["text"] for r in rows], [r["label"] for r in rows], [r["article_id"] for r in rows]
    version = dataset_version(rows)
    with start_run(resolve_tracking_uri(tracking_uri), config.tracking.experiment) as run:
        result = train_model(texts, labels, groups, config, make_fit(config))
        meta = build_meta(config, result, version, run.info.run_id)
        save_model(config.model_dir, result.scorer, meta)
        record = write_run_record(config.model_dir, run.info.run_id)
        cv_dir = config.reports_dir / "cv"
        write_cv_reports(cv_dir, rows, result)
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
    ]


def write_cv_reports(directory: Path, rows: list[dict[str, Any]], result: Any) -> None:
    """Held-out (out-of-fold) predictions and the per-fold, coverage and reliability tables."""
    import csv

    directory.mkdir(parents=True, exist_ok=True)
    mean_probs = result.oof_probs.mean(axis=0)
    with open(directory / "oof.jsonl", "w", encoding="utf-8") as f:
        for r, p in zip(rows, mean_probs):
            f.write(json.dumps({"article_id": r["article_id"], "paragraph_index": r["paragraph_index"], "label": r["label"],
                                "text": r["text"], "probs": [round(float(x), 5) for x in p]}, ensure_ascii=False) + "\n")
    (directory / "folds.json").write_text(json.dumps(result.fold_metrics, indent=2), encoding="utf-8")
    for name, table in (("coverage.csv", result.curve), ("reliability.csv", result.reliability)):
        with open(directory / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
    (directory / "classes.json").write_text(json.dumps(result.classes), encoding="utf-8")
