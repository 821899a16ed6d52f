"""Input readers: files, folders, JSONL/CSV/Parquet tables and stdin -> a stream of records.

Every input article becomes exactly one `Record`, in input order: either its
text or the reason it cannot be read. Readers are generators, so memory stays
bounded whatever the input size.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from predict.decoding import DecodeError, decode_bytes, detect_encoding

TEXT_SUFFIXES = {".txt"}
HTML_SUFFIXES = {".html", ".htm"}
TABLE_SUFFIXES = {".jsonl", ".csv", ".parquet"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | TABLE_SUFFIXES


class InputError(ValueError):
    """An input that stops the batch before any work (missing column, missing path)."""


@dataclass
class Record:
    id: str
    text: str | None = None
    error: str | None = None


@dataclass
class ReadOptions:
    text_column: str = "text"
    id_column: str = "id"
    max_file_bytes: int = 20_000_000


def expand_inputs(inputs: Iterable[str]) -> list[str]:
    """Files as given, folders as their supported files (recursive, sorted); '-' is stdin."""
    out = []
    for item in inputs:
        path = Path(item)
        if item == "-" or path.is_file():
            out.append(item)
        elif path.is_dir():
            out += [str(p) for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in SUPPORTED]
        else:
            raise InputError(f"{item}: no such file or folder")
    return out


def check_tables(paths: list[str], opts: ReadOptions) -> None:
    """Fail before any work when a CSV or Parquet input lacks the text column."""
    for p in paths:
        suffix = Path(p).suffix.lower()
        if suffix == ".csv":
            columns = _csv_header(Path(p))
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            columns = pq.ParquetFile(p).schema_arrow.names
        else:
            continue
        if opts.text_column not in columns:
            raise InputError(f"{p}: no {opts.text_column!r} column (columns: {columns}); name it with --text-column")


def _csv_header(path: Path) -> list[str]:
    with open(path, "rb") as f:
        sample = f.read(65536)
    try:
        encoding = detect_encoding(sample)
    except DecodeError as exc:
        raise InputError(f"{path}: {exc}") from None
    with open(path, encoding=encoding, newline="") as f:
        return next(csv.reader(f), [])


def read_all(paths: list[str], opts: ReadOptions) -> Iterator[Record]:
    """One record per input article, in order."""
    for p in paths:
        if p == "-":
            yield from _jsonl_lines(sys.stdin, "stdin", opts)
            continue
        suffix = Path(p).suffix.lower()
        if suffix == ".jsonl":
            yield from _read_jsonl(Path(p), opts)
        elif suffix == ".csv":
            yield from _read_csv(Path(p), opts)
        elif suffix == ".parquet":
            yield from _read_parquet(Path(p), opts)
        else:
            yield _read_document(Path(p), opts)


def _read_document(path: Path, opts: ReadOptions) -> Record:
    """A .txt or .html file is one article; its id is its path."""
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES | HTML_SUFFIXES:
        return Record(str(path), error=f"unsupported file type {suffix or '(none)'}; use .txt, .html, .jsonl, .csv or .parquet")
    size = path.stat().st_size
    if size > opts.max_file_bytes:
        return Record(str(path), error=f"file too large: {size} bytes > limit {opts.max_file_bytes}")
    try:
        text, _ = decode_bytes(path.read_bytes())
    except DecodeError as exc:
        return Record(str(path), error=str(exc))
    except OSError as exc:
        return Record(str(path), error=f"cannot read: {exc.strerror}")
    if suffix in HTML_SUFFIXES:
        text = html_to_text(text)
        if not text:
            return Record(str(path), error="no article text found in the HTML page")
    return Record(str(path), text)


def html_to_text(html: str) -> str:
    """Main article text of a page (trafilatura drops menus, footers and comments)."""
    import trafilatura

    return trafilatura.extract(html, include_comments=False, include_tables=False, favor_recall=True) or ""


def _jsonl_lines(lines: Iterable[str], name: str, opts: ReadOptions) -> Iterator[Record]:
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Record(where, error=f"broken JSON line: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(row, dict):
            yield Record(where, error="JSON line is not an object")
            continue
        yield _table_record(row.get(opts.id_column), row.get(opts.text_column), where, opts)


def _table_record(raw_id: object, text: object, where: str, opts: ReadOptions) -> Record:
    rid = where if raw_id is None or raw_id == "" else str(raw_id)
    if text is None or (isinstance(text, float) and text != text):
        return Record(rid, error=f"no {opts.text_column!r} value ({where})")
    if not isinstance(text, str):
        return Record(rid, error=f"{opts.text_column!r} is {type(text).__name__}, not text ({where})")
    return Record(rid, text)


def _read_jsonl(path: Path, opts: ReadOptions) -> Iterator[Record]:
    with open(path, "rb") as f:
        try:
            encoding = detect_encoding(f.read(65536))
        except DecodeError as exc:
            yield Record(str(path), error=str(exc))
            return
    with open(path, encoding=encoding, errors="strict") as f:
        try:
            yield from _jsonl_lines(f, str(path), opts)
        except UnicodeDecodeError as exc:
            yield Record(str(path), error=f"invalid {encoding} further into the file ({exc.reason}); rows after it were not read")


def _read_csv(path: Path, opts: ReadOptions) -> Iterator[Record]:
    with open(path, "rb") as f:
        encoding = detect_encoding(f.read(65536))
    csv.field_size_limit(sys.maxsize)
    with open(path, encoding=encoding, newline="") as f:
        try:
            for n, row in enumerate(csv.DictReader(f), start=2):
                yield _table_record(row.get(opts.id_column), row.get(opts.text_column) or None, f"{path}:{n}", opts)
        except UnicodeDecodeError as exc:
            yield Record(str(path), error=f"invalid {encoding} further into the file ({exc.reason}); rows after it were not read")


def _read_parquet(path: Path, opts: ReadOptions) -> Iterator[Record]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    columns = [c for c in (opts.text_column, opts.id_column) if c in pf.schema_arrow.names]
    n = 0
    for batch in pf.iter_batches(batch_size=1024, columns=columns):
        data = batch.to_pydict()
        for i in range(batch.num_rows):
            n += 1
            raw_id = data[opts.id_column][i] if opts.id_column in data else None
            yield _table_record(raw_id, data[opts.text_column][i], f"{path}:{n}", opts)

