"""Provenance saved with every model: data version, DVC hash, git commit, resolved config."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from predict.artifact import RUN_RECORD  # ignored by DVC (.dvcignore): it differs on every run
from train.config import Config, config_to_dict


def dvc_out_hash(path: Path, lock: Path = Path("dvc.lock")) -> str | None:
    """DVC's hash of an output, as recorded in dvc.lock by the stage that wrote it."""
    import yaml

    if not lock.is_file():
        return None
    stages = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {})
    for stage in stages.values():
        for out in stage.get("outs", []):
            if Path(out.get("path", "")) == Path(path):
                return out.get("md5") or out.get("hash")
    return None


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def write_run_record(model_dir: Path, run_id: str | None) -> dict[str, Any]:
    """The run that produced the artifact (MLflow run id, git commit), beside meta.json but outside DVC's hash."""
    import json

    record = {"mlflow_run_id": run_id, "git_commit": git_commit()}
    (Path(model_dir) / RUN_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def build_meta(config: Config, result: Any, data_version: str, run_id: str | None = None) -> dict[str, Any]:
    """Everything labeling and auditing need, saved next to the weights; the same for the same config and data.

    The run id and git commit go to ``run.json`` (``write_run_record``): they change on every run,
    and would make ``dvc repro`` rewrite dvc.lock for an identical model.
    """
    return {
        "classes": list(result.scorer.classes),
        "other_label": config.data.other_label,
        "temperature": result.temperature,
        "threshold": result.threshold,
        "min_topic_share": getattr(result, "min_topic_share", config.evaluation.min_topic_share),
        "calibration": "temperature scaling of out-of-fold scores (grouped CV)",
        "aggregation": "scores: word-count-weighted mean of paragraph probabilities; label: the dominant topic of the "
                       "topic with the most words among the paragraphs decided as topics, when they hold at least min_topic_share of "
                       "the article's words; confidence: P(label right), calibrated on held-out articles",
        "config": config_to_dict(config),
        "data_version": data_version,
        "dvc_dataset_md5": dvc_out_hash(config.data.dataset_dir),
        "metrics": result.metrics,
        "params": result.extra_params,
    }
