"""The fastText baseline: trained on the same labels, labeling the same JSONL as a whole process.

    python benchmarks/fasttext_baseline.py MODEL.bin INPUT.jsonl OUTPUT.jsonl

fastText reads raw text split on whitespace; it gets the paragraphs as they are
(no mihwar normalization), which is how it is normally used and its fastest path.
"""

from __future__ import annotations

import json
import sys
import tempfile
from itertools import islice
from pathlib import Path
from typing import Sequence

# The fastText tutorial's settings for a small labeled set: more epochs and a higher rate
# than the defaults, word bigrams; no character n-grams (fastText's default and fast path).
PARAMS = dict(epoch=25, lr=0.5, wordNgrams=2, dim=100, loss="softmax", seed=13, verbose=0)


def clean(text: str) -> str:
    return " ".join(text.split())  # fastText reads one line per example


def train_fasttext(texts: Sequence[str], labels: Sequence[str], threads: int = 2):
    """A fitted fastText model (the library writes its training file itself)."""
    import fasttext

    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as f:
        for t, y in zip(texts, labels):
            f.write(f"__label__{y} {clean(t)}\n")
    try:
        return fasttext.train_supervised(f.name, thread=threads, **PARAMS)
    finally:
        Path(f.name).unlink()


def predict_labels(model, texts: Sequence[str]) -> list[str]:
    labels, _ = model.predict([clean(t) for t in texts], k=1)
    return [ls[0].removeprefix("__label__") for ls in labels]


def label_file(model_path: str, source: str, output: str, batch: int = 256) -> int:
    """Stream a JSONL in, one output row (id, label, confidence) per input row."""
    import fasttext

    model, n = fasttext.load_model(model_path), 0
    with open(source, encoding="utf-8") as f, open(output, "w", encoding="utf-8") as out:
        while rows := [json.loads(line) for line in islice(f, batch)]:
            labels, probs = model.predict([clean(r["text"]) for r in rows], k=1)
            for r, ls, ps in zip(rows, labels, probs):
                out.write(json.dumps({"id": r["id"], "label": ls[0].removeprefix("__label__"),
                                      "confidence": round(float(ps[0]), 4)}) + "\n")
            n += len(rows)
    return n


if __name__ == "__main__":
    label_file(*sys.argv[1:4])
