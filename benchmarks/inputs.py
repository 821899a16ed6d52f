"""Benchmark inputs: real paragraphs (seed articles and ANT news) cycled into JSONL files under build/bench/."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "bench"
CONFIG = ROOT / "configs" / "default.yaml"
SET_ENV = "MIHWAR_BENCH_SET"  # KEY=VALUE overrides of CONFIG for (e) and (f), joined by ";" (`run_all --set`)


def bench_config():
    """CONFIG with the overrides `run_all --set` passed down (through the environment, to each fit process too)."""
    import os

    from train.config import load_config

    return load_config(CONFIG, [o for o in os.environ.get(SET_ENV, "").split(";") if o])


def corpus_paragraphs() -> list[str]:
    """Every paragraph of the shipped raw articles (seed, labeled ANT, ANT subset), in a fixed order."""
    from predict.text import segment_article

    texts: list[str] = []
    for p in sorted((ROOT / "data/raw/articles").glob("*.txt")):
        texts += segment_article(p.read_text(encoding="utf-8"))
    for path in (ROOT / "data/raw/ant_labeled/articles.jsonl", ROOT / "data/raw/ant/ant_subset.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            texts += segment_article(json.loads(line)["text"])
    return [t for t in texts if t.strip()]


def paragraph_jsonl(n: int) -> Path:
    """A JSONL of ``n`` rows, one paragraph per row (written once, reused)."""
    path = BUILD / f"paragraphs_{n}.jsonl"
    if path.is_file():
        return path
    BUILD.mkdir(parents=True, exist_ok=True)
    paragraphs = corpus_paragraphs()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"p{i}", "text": paragraphs[i % len(paragraphs)]}, ensure_ascii=False) + "\n")
    tmp.rename(path)
    return path


def one_article() -> Path:
    """A typical single article for the cold-start measurement."""
    path = BUILD / "one_article.txt"
    if not path.is_file():
        BUILD.mkdir(parents=True, exist_ok=True)
        path.write_text(next(iter(sorted((ROOT / "data/samples").glob("un_*.txt")))).read_text(encoding="utf-8"), encoding="utf-8")
    return path


def train_rows() -> list[dict]:
    """The prepared dataset's train split (data/processed/default), labels as strings."""
    from train.config import load_config
    from train.dataset import load_examples

    return load_examples(load_config(CONFIG), "train")
