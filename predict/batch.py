"""Batch labeling: inputs -> one output row per article, in order, nothing lost."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, Iterator

from predict.artifact import default_model_uri, load_model
from predict.model import ArticlePrediction, TopicModel
from predict.readers import ReadOptions, Record, check_tables, expand_inputs, read_all
from predict.text import has_arabic
from predict.writers import JournalWriter, StreamWriter, output_format

EXPLAIN_TOP = 8


@dataclass
class BatchOptions:
    output: str = "-"
    fmt: str | None = None
    paragraphs: bool = False
    explain: bool = False
    resume: bool = False
    text_column: str = "text"
    id_column: str = "id"
    max_chars: int = 200_000
    chunk_size: int = 256
    max_file_bytes: int = 20_000_000


@dataclass
class Summary:
    labeled: int = 0
    counts: Counter = field(default_factory=Counter)
    errors: list[tuple[str, str]] = field(default_factory=list)
    not_arabic: int = 0
    resumed_after: int = 0
    seconds: float = 0.0
    output: str = "-"

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        for r in rows:
            if r["error"]:
                self.errors.append((r["id"], r["error"]))
            else:
                self.labeled += 1
                self.counts[r["label"]] += 1
                self.not_arabic += bool(r.get("not_arabic"))

    def render(self) -> str:
        lines = [f"labeled {self.labeled} articles in {self.seconds:.2f}s"
                 + (f" (resumed after {self.resumed_after} rows already written)" if self.resumed_after else "")
                 + f"; output: {self.output}"]
        lines.append("per label: " + (", ".join(f"{k}={v}" for k, v in sorted(self.counts.items())) or "none"))
        if self.not_arabic:
            lines.append(f"not Arabic (labeled other, flagged): {self.not_arabic}")
        lines.append(f"could not label: {len(self.errors)}")
        lines += [f"  {rid}: {err}" for rid, err in self.errors]
        return "\n".join(lines)


def make_row(rid: str, opts: BatchOptions, *, label: str | None = None, confidence: float | None = None,
             scores: dict[str, float] | None = None, not_arabic: bool = False, error: str | None = None,
             prediction: ArticlePrediction | None = None) -> dict[str, Any]:
    """The one output-row shape: every row has the same keys, whatever happened to its input."""
    if prediction is not None:
        label, confidence, scores = prediction.label, prediction.confidence, prediction.scores
    row = {"id": rid, "label": label, "confidence": confidence, "scores": scores, "not_arabic": not_arabic, "error": error}
    if opts.paragraphs:
        row["paragraphs"] = [asdict(x) for x in prediction.paragraphs] if prediction else None
    if opts.explain:
        row["explanation"] = (prediction.explanation or []) if prediction else None
    return row


def label_records(model: TopicModel, records: list[Record], opts: BatchOptions) -> list[dict[str, Any]]:
    """One row per record, same order; unreadable, empty, oversized and non-Arabic texts included."""
    rows: list[dict[str, Any] | None] = [None] * len(records)
    to_score = []
    for i, r in enumerate(records):
        if r.error:
            rows[i] = make_row(r.id, opts, error=r.error)
        elif not r.text or not r.text.strip():
            rows[i] = make_row(r.id, opts, error="empty text")
        elif len(r.text) > opts.max_chars:
            rows[i] = make_row(r.id, opts, error=f"text too long: {len(r.text)} characters > limit {opts.max_chars}")
        elif not has_arabic(r.text):
            rows[i] = make_row(r.id, opts, label=model.other_label, not_arabic=True)
        else:
            to_score.append(i)
    preds = model.predict_articles([records[i].text for i in to_score], paragraphs=opts.paragraphs,
                                   explain=EXPLAIN_TOP if opts.explain else 0)
    for i, p in zip(to_score, preds):
        rows[i] = make_row(records[i].id, opts, prediction=p)
    return rows  # type: ignore[return-value]


def chunks(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while batch := list(islice(records, size)):
        yield batch


def _progress():
    """A progress bar on stderr, only when a person is watching it."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(unit="article", file=sys.stderr, leave=False)


def run_batch(inputs: list[str], model_uri: str | None, opts: BatchOptions) -> Summary:
    """Label every input article into ``opts.output``; model and tables are checked before any work."""
    uri = model_uri or default_model_uri()
    model = load_model(uri)
    read_opts = ReadOptions(opts.text_column, opts.id_column, opts.max_file_bytes)
    paths = expand_inputs(inputs)
    check_tables(paths, read_opts)
    fmt = output_format(opts.output, opts.fmt)
    if opts.output == "-":
        writer: StreamWriter | JournalWriter = StreamWriter(fmt)
    else:
        header = {"inputs": paths, "model": uri, "paragraphs": opts.paragraphs, "explain": opts.explain}
        writer = JournalWriter(Path(opts.output), fmt, header, opts.resume)
    summary = Summary(resumed_after=writer.done, output=opts.output)
    start = time.perf_counter()
    records = read_all(paths, read_opts)
    for _ in islice(records, writer.done):  # rows an interrupted run already wrote
        pass
    bar = _progress()
    for batch in chunks(records, opts.chunk_size):
        rows = label_records(model, batch, opts)
        writer.write(rows)
        summary.add(rows)
        if bar:
            bar.update(len(rows))
    if bar:
        bar.close()
    writer.finish()
    summary.seconds = time.perf_counter() - start
    return summary
