"""File-level glue for the training stages: read inputs, call the pure workers, write outputs.

Kept apart from the CLI so tests can run a stage without a subprocess, and
apart from the workers so those stay free of I/O.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

from train.config import Config, ConfigError, config_to_dict
from train.prepare import (PrepareError, build_dataset, collect_examples, label_counts, read_annotated_corpus,
                           unlabeled_paragraphs)


def dataset_version(rows: list[dict[str, Any]]) -> str:
    """Content hash of the training examples: the data version MLflow and DVC share."""
    h = hashlib.sha256()
    for r in sorted(rows, key=lambda r: (r["article_id"], r["paragraph_index"], r["text"])):
        h.update(json.dumps([r["article_id"], r["paragraph_index"], r["label"], r["text"]], ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def check_label_coverage(counts: dict[str, int], config: Config, where: str) -> None:
    """Every configured class needs training examples."""
    missing = [c for c in config.classes if counts.get(c, 0) == 0]
    if missing:
        raise ConfigError(f"{where}: data.labels: {missing} have no training examples; label some or drop them")


def run_prepare(config: Config, config_path: str) -> tuple[dict[str, dict[str, int]], int]:
    """prepare stage: write the dataset to ``data.dataset_dir``; return label counts per split
    and the number of corpus paragraphs that have no annotation yet."""
    articles, annotations = read_annotated_corpus(config)
    examples = collect_examples(config, (articles, annotations))
    counts = label_counts(examples)
    check_label_coverage(counts.get("train", {}), config, config_path)
    import datasets

    datasets.disable_progress_bars()
    dataset = build_dataset(examples, config.classes)
    out = config.data.dataset_dir
    dataset.save_to_disk(str(out))
    (out / "label_counts.json").write_text(json.dumps(counts, indent=2), encoding="utf-8")
    return counts, len(unlabeled_paragraphs(articles, annotations))


def load_examples(config: Config, split: str = "train") -> list[dict[str, Any]]:
    """Rows of a prepared split, with labels as strings."""
    from datasets import load_from_disk

    path = config.data.dataset_dir
    if not (path / "dataset_dict.json").is_file():
        raise PrepareError(f"{path}: no prepared dataset; run `mihwar prepare CONFIG` first")
    dataset = load_from_disk(str(path))
    if split not in dataset:
        return []
    ds = dataset[split]
    names = ds.features["label"].names
    if names != config.classes:
        raise ConfigError(f"data.labels: dataset at {path} has classes {names}, config says {config.classes}; re-run prepare")
    return [{**r, "label": names[r["label"]]} for r in ds]


def check_splits(rows: list[dict[str, Any]], config: Config, where: str) -> None:
    n_articles = len({r["article_id"] for r in rows})
    if config.evaluation.n_splits > n_articles:
        raise ConfigError(f"{where}: evaluation.n_splits: {config.evaluation.n_splits} folds but only {n_articles} articles")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["label"]] = counts.get(r["label"], 0) + 1
    check_label_coverage(counts, config, where)


def load_lexicon(path: Path, topics: list[str]) -> dict[str, list[str]]:
    """Topic -> terms from YAML; a topic outside the label set is a config error."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"features.lexicon: {path} not found")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict) or not all(isinstance(v, list) and v for v in raw.values()):
        raise ConfigError(f"{path}: expected a mapping of topic -> non-empty list of terms")
    unknown = sorted(set(raw) - set(topics))
    if unknown:
        raise ConfigError(f"{path}: topics {unknown} are not in data.labels {topics}")
    return {str(k): [str(t) for t in v] for k, v in raw.items()}


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


def build_meta(config: Config, result: Any, data_version: str, run_id: str | None) -> dict[str, Any]:
    """Everything labeling and auditing need, saved next to the weights."""
    return {
        "classes": list(result.scorer.classes),
        "other_label": config.data.other_label,
        "temperature": result.temperature,
        "threshold": result.threshold,
        "min_topic_share": config.evaluation.min_topic_share,
        "calibration": "temperature scaling of out-of-fold scores (grouped CV)",
        "aggregation": "scores: word-count-weighted mean of paragraph probabilities; label: the dominant topic of the "
                       "in-scope part when at least min_topic_share of the article is in scope",
        "config": config_to_dict(config),
        "data_version": data_version,
        "dvc_dataset_md5": dvc_out_hash(config.data.dataset_dir),
        "git_commit": git_commit(),
        "mlflow_run_id": run_id,
        "metrics": result.metrics,
        "params": result.extra_params,
    }


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
