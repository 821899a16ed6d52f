"""Output rows -> JSONL, CSV or Parquet, written atomically and resumable.

Rows are appended to a journal (``OUTPUT.partial``, JSONL, flushed per chunk);
only when the batch ends is the final file written beside it and moved into
place, so a crash never leaves a half-written output. ``--resume`` counts the
journal's complete rows and continues after them.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

FORMATS = ("jsonl", "csv", "parquet")


class OutputError(ValueError):
    """The output cannot be written as asked."""


def output_format(output: str, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise OutputError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
        return fmt
    suffix = Path(output).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else "jsonl"


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """CSV/Parquet shape: one column per score, nested parts as JSON text."""
    out = {k: v for k, v in row.items() if k not in ("scores", "paragraphs", "explanation")}
    for c, s in (row.get("scores") or {}).items():
        out[f"score.{c}"] = s
    for key in ("paragraphs", "explanation"):
        if key in row:
            out[key] = json.dumps(row[key], ensure_ascii=False)
    return out


def write_table(rows: Callable[[], Iterator[dict[str, Any]]], path: Path, fmt: str) -> None:
    """Write rows (a callable giving a fresh iterator) as ``fmt``; JSONL and CSV stream."""
    if fmt == "jsonl":
        with open(path, "w", encoding="utf-8") as f:
            for r in rows():
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        columns = list(dict.fromkeys(k for r in rows() for k in flat_row(r)))  # first pass: the columns
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=columns)
            w.writeheader()
            w.writerows(flat_row(r) for r in rows())
    else:  # Parquet needs the whole column set and types: built in memory
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist([flat_row(r) for r in rows()]), path)


class StreamWriter:
    """Writes rows straight to stdout (JSONL or CSV); no journal, no resume."""

    def __init__(self, fmt: str, stream: IO[str] | None = None):
        if fmt == "parquet":
            raise OutputError("parquet cannot be written to stdout; give --output FILE.parquet")
        self.fmt, self.stream, self.done = fmt, stream or sys.stdout, 0
        self._csv: csv.DictWriter | None = None

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        for r in rows:
            if self.fmt == "jsonl":
                self.stream.write(json.dumps(r, ensure_ascii=False) + "\n")
            else:
                flat = flat_row(r)
                if self._csv is None:
                    self._csv = csv.DictWriter(self.stream, fieldnames=list(flat), extrasaction="ignore")
                    self._csv.writeheader()
                self._csv.writerow(flat)
            self.done += 1
        self.stream.flush()

    def finish(self) -> None:
        self.stream.flush()


class JournalWriter:
    """Atomic, resumable file output through a JSONL journal."""

    def __init__(self, output: Path, fmt: str, header: dict[str, Any], resume: bool):
        self.output, self.fmt = output, fmt
        self.journal = output.with_name(output.name + ".partial")
        self.done = 0
        if resume and self.journal.exists():
            self.done = self._reopen(header)
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            with open(self.journal, "w", encoding="utf-8") as f:
                f.write(json.dumps({"_mihwar_batch": header}, ensure_ascii=False) + "\n")

    def _reopen(self, header: dict[str, Any]) -> int:
        """Keep the complete rows of an interrupted run; drop a torn last line."""
        with open(self.journal, "rb") as f:
            lines = f.read().split(b"\n")
        complete = lines[:-1]  # whatever follows the last newline was cut mid-write
        first = json.loads(complete[0]) if complete else {}
        if first.get("_mihwar_batch") != header:
            raise OutputError(f"{self.journal}: belongs to a different batch (inputs or model differ); delete it or drop --resume")
        with open(self.journal, "wb") as f:
            f.write(b"\n".join(complete) + b"\n")
        return len(complete) - 1

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        with open(self.journal, "a", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
                self.done += 1
            f.flush()
            os.fsync(f.fileno())

    def _rows(self) -> Iterator[dict[str, Any]]:
        with open(self.journal, encoding="utf-8") as f:
            next(f)  # the batch header
            for line in f:
                yield json.loads(line)

    def finish(self) -> None:
        """Write the final file next to the output, then move it into place."""
        tmp = self.output.with_name(self.output.name + ".tmp")
        write_table(self._rows, tmp, self.fmt)
        os.replace(tmp, self.output)
        self.journal.unlink()
