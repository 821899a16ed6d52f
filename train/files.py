"""Files written whole or not at all: the new content goes to a temporary file beside the target, which is then
renamed over it. An interrupted or failed write (Ctrl-C, a full disk) leaves the old file as it was, never a
truncated one that every later command would trip over."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """``path`` holds ``text`` (UTF-8, newlines as given), or is unchanged if this fails; errors name ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not exc.filename:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def append_atomically(path: Path, text: str) -> None:
    """``text`` added at the end of ``path``, whose bytes stay as they were; all of it or nothing."""
    old = path.read_bytes().decode("utf-8", "surrogateescape") if path.is_file() else ""
    if old and not old.endswith("\n"):
        old += "\n"  # a file whose last line has no line break: the new rows start on their own line
    write_atomically(path, old + text)
