"""Input readers: files, folders, JSONL/CSV/Parquet tables and stdin -> a stream of records.

Every input article becomes exactly one `Record`, in input order: either its
text or the reason it cannot be read. Readers are generators, so memory stays
bounded whatever the input size. Table formats live in `predict.tables`.
"""

from __future__ import annotations

import json
import re
import sys
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

from predict.decoding import DecodeError, decode_bytes, text_lines
from predict.paths import link_loop, special_file
from predict.tables import (DEFAULT_ID_COLUMN, Record, ReadOptions, csv_header, read_csv, read_jsonl, read_parquet,
                            read_stdin, repeated_column)

__all__ = ["InputError", "Record", "ReadOptions", "expand_inputs", "check_tables", "read_all", "html_to_text"]

TEXT_SUFFIXES = {".txt"}
HTML_SUFFIXES = {".html", ".htm"}
TABLE_SUFFIXES = {".jsonl", ".csv", ".parquet"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | TABLE_SUFFIXES
_READERS = {".jsonl": read_jsonl, ".csv": read_csv, ".parquet": read_parquet}


class InputError(ValueError):
    """An input that stops the batch before any work (missing column, missing path)."""


def expand_inputs(inputs: Iterable[str]) -> list[str]:
    """Files as given, folders as their supported files (recursive, sorted); '-' is stdin."""
    out = []
    for item in inputs:
        path = Path(item)
        if item == "-":
            if sys.stdin is None:  # started with stdin closed (`<&-`)
                raise InputError("-: stdin is closed; give input files, or open stdin")
            out.append(item)
        elif path.is_file():
            out.append(item)
        elif path.is_dir():
            # a broken link, a loop of links or a pipe too: its error row says why it could not be read
            out += [str(p) for p in sorted(path.rglob("*")) if not p.is_dir() and p.suffix.lower() in SUPPORTED]
        elif path.exists():
            raise InputError(f"{item}: not a regular file or folder (a named pipe, socket or device); "
                             f"pipe it in instead: cat {item} | mihwar predict -")
        elif path.is_symlink():
            raise InputError(f"{item}: {link_problem(path)}")
        else:
            raise InputError(f"{item}: no such file or folder")
    return out


def link_problem(path: Path) -> str:
    """Why a symbolic link cannot be read: a loop of links, or a link to nothing."""
    return "a loop of symbolic links" if link_loop(path) else f"a symbolic link to a missing file ({path.readlink()})"


def check_tables(paths: list[str], opts: ReadOptions) -> list[str]:
    """Fail before any work when a JSONL, CSV or Parquet input lacks the text column; return notes on inputs that lack
    an id column named with --id-column (their rows are named by place, FILE:LINE).

    Files that cannot be checked (undecodable, damaged) are left to the readers,
    which report them as error rows.
    """
    notes = []
    for p in paths:
        columns = _columns(Path(p), Path(p).suffix.lower()) if p != "-" else None
        if columns is not None and opts.text_column not in columns:
            raise InputError(f"{p}: no {opts.text_column!r} column (columns: {columns}); name it with --text-column")
        repeated = repeated_column(columns, opts) if columns is not None else None
        if repeated:
            raise InputError(f"{p}: {repeated}")
        if columns is not None and opts.id_column != DEFAULT_ID_COLUMN and opts.id_column not in columns:
            notes.append(f"{p}: no {opts.id_column!r} column (columns: {columns}); its rows are named by place (FILE:LINE)")
    return notes


def _columns(path: Path, suffix: str) -> list[str] | None:
    if special_file(path):  # a pipe in an input folder: opening it would wait for a writer; its row says why
        return None
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).schema_arrow.names
        if suffix not in (".csv", ".jsonl"):
            return None
        with open(path, "rb") as f:
            _, lines = text_lines(f, universal=suffix == ".csv")
            return csv_header(lines) if suffix == ".csv" else _jsonl_keys(lines)
    except Exception:  # unreadable or damaged: the reader reports it as an error row
        return None




def _jsonl_keys(lines: Iterator[str], sample: int = 100) -> list[str] | None:
    """Keys seen in the first ``sample`` JSON objects (of 1,000 lines at most); None when none could be parsed."""
    keys: dict[str, None] = {}
    seen = 0
    for line in islice(lines, 1000):
        try:
            row = json.loads(line) if line.strip() else None
        except (ValueError, RecursionError):
            row = None
        if isinstance(row, dict):
            keys.update(dict.fromkeys(row))
            seen += 1
            if seen >= sample:
                break
    return list(keys) if seen else None


def read_all(paths: list[str], opts: ReadOptions) -> Iterator[Record]:
    """One record per input article, in order; a file that vanished or cannot be opened is one error record."""
    for p in paths:
        try:
            kind = special_file(Path(p)) if p != "-" else None
            if kind:  # found in a folder (one given by name is refused before any work): reading could block
                yield Record(p, error=f"cannot read: {kind}, not a regular file")
            elif p == "-":
                yield from read_stdin(opts)
            elif Path(p).suffix.lower() in _READERS:
                yield from _READERS[Path(p).suffix.lower()](Path(p), opts)
            else:
                yield read_document(Path(p), opts)
        except OSError as exc:
            yield Record(p, error=f"cannot read: {exc.strerror or exc}")


def read_document(path: Path, opts: ReadOptions) -> Record:
    """A .txt or .html file is one article; its id is its path. Sizes are checked before decoding."""
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES | HTML_SUFFIXES:
        return Record(str(path), error=f"unsupported file type {suffix or '(none)'}; use .txt, .html, .jsonl, .csv or .parquet")
    size = path.stat().st_size
    if size > opts.max_file_bytes:
        return Record(str(path), error=f"file too large: {size} bytes > limit {opts.max_file_bytes}")
    if opts.max_chars and suffix in TEXT_SUFFIXES and size > 4 * opts.max_chars + 4:  # 4 bytes hold at least one character
        return Record(str(path), error=f"text too long: {size} bytes hold more than the limit of {opts.max_chars} characters")
    try:
        text, _ = decode_bytes(path.read_bytes())
    except DecodeError as exc:
        return Record(str(path), error=str(exc))
    if suffix in HTML_SUFFIXES:
        visible = visible_chars(text)
        if opts.max_chars and visible > opts.max_chars:
            return Record(str(path), error=f"text too long: the page shows about {visible} characters > limit {opts.max_chars}")
        text = html_to_text(text)
        if not text:
            return Record(str(path), error="no article text found in the HTML page")
    return Record(str(path), text)


_INVISIBLE_HTML = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>", re.S | re.I)


def visible_chars(html: str) -> int:
    """A cheap upper bound of the text a page shows (tags, scripts and styles removed), before extraction."""
    return len(" ".join(_INVISIBLE_HTML.sub(" ", html).split()))


def html_to_text(html: str) -> str:
    """Main article text of a page (trafilatura drops menus, footers and comments)."""
    import trafilatura

    return trafilatura.extract(html, include_comments=False, include_tables=False, favor_recall=True) or ""
