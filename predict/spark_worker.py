"""The executor side of `mihwar spark-label`: one pandas batch of input rows -> output rows.

Runs inside Spark's Python workers through ``mapInPandas``; imports neither
pyspark nor anything heavy beyond pandas. Every row goes through the same
``Record`` -> ``label_records`` -> ``flat_row`` path as `mihwar predict`, so
labels, scores and error messages are those of one machine. A CSV file arrives
whole (one input row per file) and is read by `mihwar predict`'s own CSV
reader, so its rows are checked, numbered by physical line and reported alike.
The model is loaded once per Python worker and kept in a module-level cache.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterator
from urllib.parse import unquote

import pandas as pd

from predict.batch import BatchOptions, chunks, label_records, make_row
from predict.model import TopicModel
from predict.readers import ReadOptions, Record
from predict.tables import json_line_record, read_csv_stream, table_record
from predict.writers import flat_row

FILE, BLOCK, ROW = "_mihwar_file", "_mihwar_block", "_mihwar_row"  # where each input row came from
CONTENT = "content"  # a whole CSV file's bytes (Spark's binaryFile source)
CSV_FRAME_ROWS = 10_000  # output rows per pandas frame for a CSV file (Arrow's default batch size)
BASE_COLUMNS = ["id", "label", "confidence", "not_arabic", "error"]  # flat_row's order, scores after

_MODELS: dict[str, TopicModel] = {}


def cached_model(path: str) -> TopicModel:
    """The model in ``path``, loaded once per Python worker process."""
    if path not in _MODELS:
        from predict.artifact import load_model

        _MODELS[path] = load_model(path)
    return _MODELS[path]


@dataclass
class WorkerSpec:
    """Everything a worker needs, small enough to ship in the task closure."""

    fmt: str  # jsonl or parquet (one input row per row), csv (one input row per file)
    classes: list[str]
    opts: BatchOptions
    keep: list[str] = field(default_factory=list)  # partition columns, passed through
    starts: dict[tuple[str, int], int] = field(default_factory=dict)  # (file, block) -> line number - row id

    @property
    def columns(self) -> list[str]:
        return BASE_COLUMNS + [f"score.{c}" for c in self.classes]


def local_name(uri: str) -> str:
    """A local file as `mihwar predict` names it (``file:/a%20b`` -> ``/a b``); other URIs as they are."""
    return unquote(uri[len("file:"):]) if uri.startswith("file:/") else uri


def _values(series: pd.Series) -> list[Any]:
    """Python values with None for missing (pandas may hold NaN)."""
    return [None if v is None or (isinstance(v, float) and v != v) else v for v in series.tolist()]


def json_record(line: str, where: str, opts: ReadOptions) -> Record | None:
    """One JSONL line as `mihwar predict` reads it; None for a blank line."""
    return json_line_record(line.lstrip("\ufeff"), where, opts) if line.strip() else None


def batch_records(pdf: pd.DataFrame, spec: WorkerSpec) -> tuple[list[Record], list[int]]:
    """The records of one JSONL or Parquet batch and the positions they came from (blank JSONL lines are skipped)."""
    read = ReadOptions(spec.opts.text_column, spec.opts.id_column)
    files, blocks, rows = pdf[FILE].tolist(), pdf[BLOCK].tolist(), pdf[ROW].tolist()
    if spec.fmt == "jsonl":
        lines = _values(pdf["value"])
    else:
        texts = _values(pdf[read.text_column])
        ids = _values(pdf[read.id_column]) if read.id_column in pdf else [None] * len(pdf)
    records, kept = [], []
    for i in range(len(pdf)):
        where = f"{local_name(files[i])}:{spec.starts.get((files[i], blocks[i]), 0) + rows[i]}"
        if spec.fmt == "jsonl":
            record = json_record(lines[i] or "", where, read)
            if record is None:
                continue
        else:
            record = table_record(ids[i], texts[i], where, read)
        records.append(record)
        kept.append(i)
    return records, kept


def safe_label(model: TopicModel, records: list[Record], opts: BatchOptions) -> list[dict[str, Any]]:
    """label_records, but a row that breaks the model becomes an error row, never a failed task."""
    try:
        return label_records(model, records, opts)
    except Exception:  # find the culprit(s) one record at a time
        rows = []
        for r in records:
            try:
                rows += label_records(model, [r], opts)
            except Exception as exc:
                rows.append(make_row(r.id, opts, error=f"could not label: {type(exc).__name__}: {exc}"))
        return rows


def labeled_frame(model: TopicModel, records: list[Record], spec: WorkerSpec) -> pd.DataFrame:
    """The single-machine Parquet columns of ``records``, scored ``chunk_size`` at a time."""
    flat: list[dict[str, Any]] = []
    size = max(spec.opts.chunk_size, 1)
    for start in range(0, len(records), size):
        flat += [flat_row(r, model.classes) for r in safe_label(model, records[start:start + size], spec.opts)]
    return pd.DataFrame({c: pd.Series([r.get(c) for r in flat], dtype=object) for c in spec.columns})


def label_frame(model: TopicModel, pdf: pd.DataFrame, spec: WorkerSpec) -> pd.DataFrame:
    """Output rows of one JSONL or Parquet input batch: the single-machine Parquet columns, plus partition columns."""
    records, kept = batch_records(pdf, spec)
    out = labeled_frame(model, records, spec)
    for c in spec.keep:
        out[c] = pdf[c].iloc[kept].reset_index(drop=True)
    return out


def csv_frames(model: TopicModel, pdf: pd.DataFrame, spec: WorkerSpec) -> Iterator[pd.DataFrame]:
    """Output rows of whole CSV files (one input row each), read by `mihwar predict`'s CSV reader, in file order."""
    read = ReadOptions(spec.opts.text_column, spec.opts.id_column)
    files, contents = pdf[FILE].tolist(), pdf[CONTENT].tolist()
    for i in range(len(pdf)):
        records = read_csv_stream(partial(io.BytesIO, contents[i]), local_name(files[i]), read)
        for part in chunks(records, CSV_FRAME_ROWS):
            out = labeled_frame(model, part, spec)
            for c in spec.keep:  # the file's partition values on each of its rows
                out[c] = pdf[c].iloc[[i] * len(out)].reset_index(drop=True)
            yield out


def make_mapper(model_file: str, spec: WorkerSpec) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The function handed to ``mapInPandas``; ``model_file`` is the name given to ``SparkContext.addFile``."""

    def label_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from pyspark import SparkFiles  # present on every executor

        model = cached_model(SparkFiles.get(model_file))
        for pdf in batches:
            if spec.fmt == "csv":
                yield from csv_frames(model, pdf, spec)
            else:
                yield label_frame(model, pdf, spec)

    return label_batches
