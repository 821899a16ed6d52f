"""What a path is, for the readers and the writers: its kind when it is not a regular file, and where its links lead."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def special_file(path: Path) -> str | None:
    """What ``path`` is when it exists and is neither a regular file nor a folder (a device, a pipe, a socket)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    for test, kind in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return None


def real_path(path: Path | str) -> Path:
    """``path`` with its links followed; a loop of links stays as far as it resolved (`Path.resolve` raised
    RuntimeError on one)."""
    return Path(os.path.realpath(path))


def link_loop(path: Path) -> bool:
    """Whether following ``path``'s links goes round in a loop."""
    try:
        path.stat()
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False
