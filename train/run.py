"""The `train` stage: dataset in, artifact + CV reports + one MLflow run out."""

from __future__ import annotations

from typing import Any

from train.config import Config, config_to_dict, flatten
from train.stages import build_meta, check_splits, dataset_version, load_examples, load_lexicon, write_cv_reports


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

    from predict.artifact import LATEST_POINTER, save_model
    from train.tracking import log_model, resolve_tracking_uri, start_run
    from train.train import train_model

    rows = load_examples(config, "train")
    check_splits(rows, config, config_path)
    texts, labels, groups = [r["text"] for r in rows], [r["label"] for r in rows], [r["article_id"] for r in rows]
    version = dataset_version(rows)
    with start_run(resolve_tracking_uri(tracking_uri), config.tracking.experiment) as run:
        result = train_model(texts, labels, groups, config, make_fit(config))
        meta = build_meta(config, result, version, run.info.run_id)
        save_model(config.model_dir, result.scorer, meta)
        cv_dir = config.reports_dir / "cv"
        write_cv_reports(cv_dir, rows, result)
        mlflow.log_params({**flatten(config_to_dict(config)), **result.extra_params})
        mlflow.log_metrics(result.metrics)
        mlflow.log_metrics({"temperature": result.temperature, "threshold": result.threshold})
        mlflow.set_tags({"git_commit": meta["git_commit"] or "unknown", "data_version": version,
                         "dvc_dataset_md5": meta["dvc_dataset_md5"] or "not from dvc repro",
                         "config_path": config_path, "model_type": config.model.type})
        mlflow.log_dict(config_to_dict(config), "config.json")
        mlflow.log_artifacts(str(cv_dir), "cv")
        registered = config.tracking.registered_model if config.tracking.register_model else None
        model_version = log_model(config.model_dir, registered)
    LATEST_POINTER.parent.mkdir(parents=True, exist_ok=True)
    LATEST_POINTER.write_text(str(config.model_dir) + "\n", encoding="utf-8")
    m = result.metrics
    return [
        f"run {run.info.run_id} (data {version}); model saved to {config.model_dir}"
        + (f"; registered {registered} v{model_version}" if model_version else ""),
        f"grouped CV ({config.evaluation.n_repeats}x{config.evaluation.n_splits}-fold by article): "
        f"macro-F1 {m['cv_macro_f1']:.3f} ± {m['cv_macro_f1_std']:.3f} over repeats, "
        f"{m['cv_fold_macro_f1_mean']:.3f} ± {m['cv_fold_macro_f1_std']:.3f} over folds; accuracy {m['cv_accuracy']:.3f}",
        f"calibration: temperature {result.temperature:.3f}, ECE {m['cv_ece']:.3f}; abstention threshold {result.threshold:.2f}"
        + (f"; out-of-scope given a topic {m['cv_false_topic_rate']:.3f}" if "cv_false_topic_rate" in m else ""),
        "per-class recall: " + ", ".join(f"{c}={m[f'cv_recall.{c}']:.2f}" for c in result.classes),
    ]
