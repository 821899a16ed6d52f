"""A progress bar on stderr for a person watching a terminal: a total and ETA when the count is cheap, rows/s otherwise."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from predict.paths import special_file


def count_articles(paths: list[str]) -> int | None:
    """Number of input articles when it costs at most one fast scan; None when unknown (stdin, CSV)."""
    total = 0
    for p in paths:
        suffix = Path(p).suffix.lower()
        try:
            if p == "-" or suffix == ".csv":
                return None  # stdin cannot be read twice; CSV rows may span lines
            if special_file(Path(p)):  # a pipe in an input folder: one error row, never opened
                total += 1
            elif suffix == ".jsonl":
                total += _count_lines(Path(p))
            elif suffix == ".parquet":
                import pyarrow.parquet as pq

                total += pq.ParquetFile(p).metadata.num_rows
            else:
                total += 1
        except Exception:  # a damaged or vanished file is one error row
            total += 1
    return total


def _count_lines(path: Path) -> int:
    """Lines, counted in binary blocks (about a second per GB); blank lines make it a slight overestimate."""
    n, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


def terminal_size() -> tuple[int, int]:
    """Columns and lines of the terminal on stderr; (0, 0) where it reports none."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return 0, 0
    return size.columns, size.lines


def progress_bar(paths: list[str], initial: int = 0, rows_to_stdout: bool = False) -> Any | None:
    """A tqdm bar when stderr is a terminal, else None (logs and pipes get only the summary). Rows written to
    stdout on that same terminal are their own progress: a bar there was drawn between them, glued to a row.

    A pseudo-terminal may report a size of 0 x 0 (`script` or `docker exec -t` started without a window).
    tqdm then computes -1 lines and never draws the bar, so such a terminal gets a fixed 80 x 24 one."""
    if sys.stderr is None or not sys.stderr.isatty() or (rows_to_stdout and sys.stdout.isatty()):
        return None
    from tqdm import tqdm

    columns, lines = terminal_size()
    sized = columns > 0 and lines > 0
    return tqdm(total=count_articles(paths), initial=initial, unit=" articles", file=sys.stderr, leave=False,
                dynamic_ncols=sized, ncols=None if sized else 80, nrows=None if sized else 24, smoothing=0.1)
