"""The shipped raw articles as plain strings, for tests that compare two implementations on real text."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=1)
def raw_articles() -> tuple[str, ...]:
    """Every article of data/raw: the seed .txt files and the two ANT JSONL files."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "data/raw/articles").glob("*.txt"))]
    for path in sorted((ROOT / "data/raw").glob("*/*.jsonl")):
        texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return tuple(texts)


def raw_lines() -> list[str]:
    """Every line of every shipped article, as `segment_article` sees them (stripped, CR folded)."""
    return [line.strip() for t in raw_articles() for line in t.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
