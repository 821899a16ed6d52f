"""Table inputs (JSONL, CSV, Parquet, JSONL on stdin) -> one `Record` per row, in order.

A row that cannot be read (broken JSON, undecodable bytes, an unterminated
CSV quote, a corrupt Parquet batch) becomes an error record where it is; the
rows around it are still read.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator

from predict.decoding import DecodeError, find_invalid, safe_text, text_lines


@dataclass
class Record:
    id: str
    text: str | None = None
    error: str | None = None
    where: str | None = None  # the row's place (FILE:LINE) when its id is not it: named in an error found later


DEFAULT_ID_COLUMN = "id"


@dataclass
class ReadOptions:
    text_column: str = "text"
    id_column: str = DEFAULT_ID_COLUMN
    max_file_bytes: int = 20_000_000
    max_chars: int | None = None


def repeated_column(columns: list[str], opts: ReadOptions, what: str = "columns") -> str | None:
    """Why a header (or a JSON object's keys: ``what``) cannot be read: it names the text or the id column more
    than once, so which one holds the text (or the id) is anyone's guess (the readers used to take the last one,
    silently)."""
    for name, option in ((opts.text_column, "--text-column"), (opts.id_column, "--id-column")):
        places = [i + 1 for i, column in enumerate(columns) if column == name]
        if len(places) > 1:
            return (f"{len(places)} {what} are named {name!r} ({what} {', '.join(map(str, places))}); rename all "
                    f"but one, or name another column with {option}")
    return None


def _repeated_key(line: str, opts: ReadOptions) -> str | None:
    """`repeated_column` for a JSON line's top-level keys; ``json.loads`` keeps the last of a repeated key. Looked
    at only when the line holds a column's name twice, quoted as a key is (the common case costs two counts)."""
    if line.count(f'"{opts.text_column}"') < 2 and line.count(f'"{opts.id_column}"') < 2:
        return None
    objects: list[list[tuple[str, Any]]] = []
    json.loads(line, object_pairs_hook=lambda pairs: objects.append(pairs) or dict(pairs))
    return repeated_column([key for key, _ in objects[-1]], opts, "keys")  # the outermost object comes last


def table_record(raw_id: object, text: object, where: str, opts: ReadOptions) -> Record:
    """A row's record: its id (or its place), and its text or why it has none.

    A NaN id (pandas' missing value, or JSON's NaN) or an infinite one (``1e400``) is no id: it would be "nan" or
    "inf" for every such row; the row is named by its place, as one without an id."""
    given = raw_id is not None and raw_id != "" and not (isinstance(raw_id, float) and not math.isfinite(raw_id))
    rid = id_text(raw_id) if given else where
    if given and find_invalid(rid) is not None:  # a place may hold a surrogate escape: a file name that is not UTF-8
        return Record(safe_text(rid), error=f"id holds invalid Unicode (a lone surrogate) ({where})")
    if text is None or (isinstance(text, float) and text != text):
        return Record(rid, error=f"no {opts.text_column!r} value ({where})")
    if not isinstance(text, str):
        return Record(rid, error=f"{opts.text_column!r} is {type(text).__name__}, not text ({where})")
    bad = find_invalid(text)
    if bad is not None:
        return Record(rid, error=f"{opts.text_column!r} holds invalid Unicode at character {bad} ({where})")
    return Record(rid, text, where=None if rid == where else where)


def id_text(raw: object) -> str:
    """An id value as text: strings as they are, JSON values as JSON (not Python's repr), bytes as UTF-8."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, (dict, list, bool)):
        return json.dumps(raw, ensure_ascii=False)
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    return str(raw)


def _json_error(exc: json.JSONDecodeError) -> str:
    msg = exc.msg if exc.msg.endswith(" at") else exc.msg + " at"  # "starting at" must not become "at at"
    return f"broken JSON line: {msg} column {exc.colno}"


def json_line_record(line: str, where: str, opts: ReadOptions, n: int = 0) -> Record:
    """One non-blank JSON line as a record, or the reason it cannot be one (shared with Spark)."""
    if find_invalid(line) is not None:
        return Record(where, error=f"undecodable bytes in line {n or where} (not valid in the file's encoding)")
    try:
        row = json.loads(line.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        return Record(where, error=_json_error(exc))
    except RecursionError:
        return Record(where, error="JSON line cannot be read: nested too deeply")
    except ValueError as exc:  # a number of more than 4,300 digits
        too_long = "digits" in str(exc)
        return Record(where, error="JSON line cannot be read: " + ("a number of more than 4,300 digits" if too_long
                                                                   else str(exc) or type(exc).__name__))
    if not isinstance(row, dict):
        return Record(where, error="JSON line is not an object")
    repeated = _repeated_key(line, opts)
    if repeated:
        return Record(where, error=f"{repeated} ({where})")
    return table_record(row.get(opts.id_column), row.get(opts.text_column), where, opts)


def jsonl_records(lines: Iterable[str], name: str, opts: ReadOptions) -> Iterator[Record]:
    """One record per non-blank JSON line; a line that cannot be parsed is an error record."""
    for n, line in enumerate(lines, start=1):
        if line.strip():
            yield json_line_record(line, f"{name}:{n}", opts, n)


def read_jsonl_stream(stream: BinaryIO, name: str, opts: ReadOptions) -> Iterator[Record]:
    """JSONL from a binary stream (a file or stdin), decoded like every file."""
    try:
        _, lines = text_lines(stream)
    except DecodeError as exc:
        yield Record(name, error=str(exc))
        return
    yield from jsonl_records(lines, name, opts)


def read_jsonl(path: Path, opts: ReadOptions) -> Iterator[Record]:
    with open(path, "rb") as f:
        yield from read_jsonl_stream(f, str(path), opts)


def read_stdin(opts: ReadOptions) -> Iterator[Record]:
    yield from read_jsonl_stream(sys.stdin.buffer, "stdin", opts)


def read_csv(path: Path, opts: ReadOptions) -> Iterator[Record]:
    """CSV rows in order; a malformed row (an unterminated quote) is reported and reading resumes on its next line."""
    yield from read_csv_stream(lambda: open(path, "rb"), str(path), opts)


def read_csv_stream(open_binary: Callable[[], BinaryIO], name: str, opts: ReadOptions) -> Iterator[Record]:
    """CSV rows of the file that ``open_binary`` opens, named ``name``; after a malformed row, reading goes on at
    the physical line after that row's first line.

    Shared by `mihwar predict` (a local file) and Spark (a file's bytes), so both
    read, number (by physical line) and report every row the same way.
    """
    csv.field_size_limit(sys.maxsize)
    with open_binary() as f:
        try:
            _, lines = text_lines(f, universal=True)
        except DecodeError as exc:
            yield Record(name, error=str(exc))
            return
        source = _Replayable(lines)
        try:
            columns = csv_header(source)
        except csv.Error as exc:
            yield Record(f"{name}:1", error=f"malformed CSV header at line 1: {_csv_problem(exc)}; no row can be read")
            return
        repeated = repeated_column(columns, opts)
        if repeated:
            yield Record(f"{name}:1", error=f"{repeated}; no row can be read")
            return
        start = len(source.row) + 1  # physical line of the first row after the header (a quoted header cell may span lines)
        while start:
            start = yield from _csv_from(source, columns, name, start, opts)


def csv_header(lines: Iterator[str]) -> list[str]:
    """The column names: the first CSV row, read by the csv module (a quoted name may hold a line break)."""
    return next(csv.reader(lines, strict=True), [])


class _Replayable:
    """Lines for `csv.reader`, keeping those of the row being read, so that after a malformed row the lines
    after its first one are read again (once: the file is not reopened and skipped through)."""

    def __init__(self, lines: Iterator[str]):
        self.lines, self.again, self.row = lines, deque(), []

    def __iter__(self) -> "_Replayable":
        return self

    def __next__(self) -> str:
        line = self.again.popleft() if self.again else next(self.lines)
        self.row.append(line)
        return line

    def row_starts(self) -> None:
        self.row = []

    def replay_after_first_line(self) -> None:
        self.again.extendleft(reversed(self.row[1:]))
        self.row = []


def _csv_from(source: _Replayable, columns: list[str], name: str, start: int, opts: ReadOptions) -> Iterator[Record]:
    """Rows from physical line ``start``; returns the line to go on at after a malformed row, or 0 at the end."""
    reader = csv.reader(source, strict=True)
    while True:
        first = start + reader.line_num  # the physical line this row starts on
        source.row_starts()
        try:
            values = next(reader)
        except StopIteration:
            return 0
        except csv.Error as exc:
            yield Record(f"{name}:{first}", error=f"malformed CSV row at line {first}: {_csv_problem(exc)}; "
                                                 "reading goes on at the next line")
            source.replay_after_first_line()
            return first + 1
        if values:
            yield _csv_row(columns, values, f"{name}:{first}", opts)


def _csv_problem(exc: csv.Error) -> str:
    """The csv module's message, in a CSV user's words where it speaks of Python's file modes."""
    if "new-line character seen in unquoted field" in str(exc):
        return "a bare carriage return (CR) inside an unquoted field"
    return f"{exc} (an unterminated quote?)"


def _csv_row(columns: list[str], values: list[str], where: str, opts: ReadOptions) -> Record:
    row = dict(zip(columns, values))
    bad = next((v for v in values if find_invalid(v) is not None), None)
    if bad is not None:
        return Record(where, error=f"undecodable bytes in this row (not valid in the file's encoding) ({where})")
    return table_record(row.get(opts.id_column), row.get(opts.text_column) or None, where, opts)


def read_parquet(path: Path, opts: ReadOptions) -> Iterator[Record]:
    """Parquet rows in order; a file or batch that cannot be read is an error record."""
    import pyarrow.parquet as pq

    n = 0
    try:
        pf = pq.ParquetFile(path)
        repeated = repeated_column(pf.schema_arrow.names, opts)
        if repeated:
            yield Record(str(path), error=f"{repeated}; no row can be read")
            return
        columns = [c for c in (opts.text_column, opts.id_column) if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=1024, columns=columns):
            data = batch.to_pydict()
            for i in range(batch.num_rows):
                n += 1
                raw_id = data[opts.id_column][i] if opts.id_column in data else None
                yield table_record(raw_id, data[opts.text_column][i], f"{path}:{n}", opts)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        yield Record(f"{path}:{n + 1}" if n else str(path),
                     error=f"cannot read Parquet{f' after row {n}' if n else ''}: {exc}".splitlines()[0])
