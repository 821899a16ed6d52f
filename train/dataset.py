"""The prepared dataset as the later stages read it: rows, their version, their sanity checks."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from train.config import Config, ConfigError


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


def load_examples(config: Config, split: str = "train") -> list[dict[str, Any]]:
    """Rows of a prepared split, with labels as strings."""
    from datasets import load_from_disk

    from train.prepare import PrepareError

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
