"""Output rows -> JSONL, CSV or Parquet: formats, the flat table shape, stdout, and output checks.

File outputs go through the journal in `predict.journal`; stdout is streamed.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from predict.paths import link_loop, real_path, special_file

FORMATS = ("jsonl", "csv", "parquet")
SIDE_FILES = (".partial", ".tmp", ".lock", ".meta.json")  # what a batch writes next to its output
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class OutputError(ValueError):
    """The output cannot be written as asked."""


class StdoutGone(Exception):
    """stdout was closed by its reader (``mihwar predict ... -o - | head``): the batch stops quietly, as Unix tools do."""


def output_format(output: str, fmt: str | None) -> str:
    """The output's format: --format, else its extension; an unknown extension (or a folder) is refused."""
    if output != "-" and Path(output).is_dir():
        raise OutputError(f"{output}: is a folder; give a file name such as {Path(output) / 'labels.jsonl'}")
    if output != "-":  # before the extension: `-o /dev/null` was told it had none, and learned why only with --format
        refuse_special(Path(output))
    if fmt:
        if fmt.lower() not in FORMATS:  # case as for extensions: `--format CSV` like `x.CSV`
            raise OutputError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
        return fmt.lower()
    if output == "-":
        return "jsonl"
    suffix = Path(output).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise OutputError(f"{output}: unknown output type {('.' + suffix) if suffix else '(no extension)'}; "
                          "name it .jsonl, .csv or .parquet, or give --format")
    return suffix


def refuse_special(output: Path) -> None:
    """An output that is (or links to) a device, a pipe or a socket is refused: the rows are written beside it and
    moved into place, which would replace it."""
    kind = special_file(output)  # stat follows links: /dev/stdout on a pipe is a pipe (its resolved name is no path)
    if kind:
        raise OutputError(f"{output}: is {kind}, not a regular file; give a file path, or write to stdout with "
                          f"--output - (and redirect it: --output - > {output})")


def writable_path(output: Path) -> Path:
    """Where the output goes: a symbolic link is written through (its target replaced, the link kept)."""
    return real_path(output) if output.is_symlink() else output


def side_files(output: Path) -> list[Path]:
    return [output.with_name(output.name + s) for s in SIDE_FILES]


def check_output(output: Path, given: list[str], paths: list[str]) -> list[str]:
    """Refuse, before any work, an output that is a folder or would overwrite an input; return the inputs to read.

    ``given`` are the inputs as typed, ``paths`` what they expand to. A previous output
    of this batch found in an input folder (it has a ``.meta.json`` or a journal) is
    not read back as input; any other file at the output's path is an input and is kept safe.
    """
    parent = next((p for p in output.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise OutputError(f"{output}: cannot write: {parent} is a file, not a folder")
    if link_loop(output):
        raise OutputError(f"{output}: cannot write: a loop of symbolic links; give another --output")
    target = real_path(output)
    refuse_special(output)
    explicit = {real_path(g) for g in given if g != "-"}
    ours = any(f.exists() for f in side_files(output) if f.name.endswith((".meta.json", ".partial")))
    keep = []
    for p in paths:
        if p != "-" and real_path(p) == target:
            if real_path(p) in explicit or not ours:
                raise OutputError(f"{output}: would overwrite the input {p}; choose another --output")
            continue  # the previous output of this batch, inside an input folder
        keep.append(p)
    return keep


def flat_row(row: dict[str, Any], classes: list[str]) -> dict[str, Any]:
    """CSV/Parquet shape: one column per class score (empty on error rows), nested parts as JSON text."""
    out = {k: v for k, v in row.items() if k not in ("scores", "paragraphs", "explanation")}
    scores = row.get("scores") or {}
    for c in classes:
        out[f"score.{c}"] = scores.get(c)
    for key in ("paragraphs", "explanation"):
        if key in row:
            out[key] = json.dumps(row[key], ensure_ascii=False)
    return out


def csv_safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def csv_row(row: dict[str, Any], classes: list[str]) -> dict[str, Any]:
    return {k: csv_safe(v) for k, v in flat_row(row, classes).items()}


_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # `json.dumps(row, ensure_ascii=False)` without a new encoder per row


def jsonl_line(row: dict[str, Any]) -> str:
    return _ENCODE(row) + "\n"


def write_table(rows: Callable[[], Iterator[dict[str, Any]]], path: Path, fmt: str, classes: list[str]) -> None:
    """Write rows (a callable giving a fresh iterator) as ``fmt``; JSONL and CSV stream."""
    if fmt == "jsonl":
        with open(path, "w", encoding="utf-8") as f:
            for r in rows():
                f.write(jsonl_line(r))
    elif fmt == "csv":
        with open(path, "w", encoding="utf-8", newline="") as f:
            w: csv.DictWriter | None = None
            for r in rows():
                flat = csv_row(r, classes)
                if w is None:
                    w = csv.DictWriter(f, fieldnames=list(flat))
                    w.writeheader()
                w.writerow(flat)
    else:  # Parquet needs the whole column set and types: built in memory
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist([flat_row(r, classes) for r in rows()]), path)


def silence(stream: IO[str]) -> None:
    """Point a stream that can no longer be written at /dev/null, so the exit's own flush of it cannot fail again."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's StringIO)
        return
    os.dup2(os.open(os.devnull, os.O_WRONLY), fd)


class StreamWriter:
    """Writes rows straight to stdout (JSONL or CSV); no journal, no resume."""

    def __init__(self, fmt: str, classes: list[str], stream: IO[str] | None = None):
        if fmt == "parquet":
            raise OutputError("parquet cannot be written to stdout; give --output FILE.parquet")
        self.fmt, self.classes, self.stream, self.done = fmt, classes, stream or sys.stdout, 0
        if self.stream is None:  # started with stdout closed (`>&-`)
            raise OutputError("--output -: stdout is closed; give --output PATH, or open stdout")
        self._csv: csv.DictWriter | None = None

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        try:
            self._write(rows)
        except BrokenPipeError:
            raise StdoutGone() from None
        except OSError as exc:  # a full disk behind `> file`, /dev/full, a closed terminal
            silence(self.stream)
            raise OutputError(f"--output - (stdout): cannot write: {exc.strerror or exc}") from None

    def _write(self, rows: Iterable[dict[str, Any]]) -> None:
        for r in rows:
            if self.fmt == "jsonl":
                self.stream.write(jsonl_line(r))
            else:
                flat = csv_row(r, self.classes)
                if self._csv is None:
                    self._csv = csv.DictWriter(self.stream, fieldnames=list(flat))
                    self._csv.writeheader()
                self._csv.writerow(flat)
            self.done += 1
        self.stream.flush()

    def earlier(self) -> Iterator[dict[str, Any]]:
        return iter(())

    def finish(self, meta: dict[str, Any]) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise StdoutGone() from None

    def close(self) -> None:
        pass
