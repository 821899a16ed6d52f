"""Atomic, resumable, exclusive file output through a JSONL journal.

Rows are appended to ``OUTPUT.partial``, flushed per chunk and synced to disk at most
once a second (a crash of mihwar loses nothing written; a power cut, at most the last
second's rows, which ``--resume`` labels again); the final file is written beside the
output and moved into place at the end, so a crash never leaves a half-written output.
``OUTPUT.lock`` (an advisory lock, released by the kernel when the process dies) keeps a
second run off the same output. The journal's header fingerprints what decides the rows, so
``--resume`` refuses a journal written from other inputs, options or model.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from predict.writers import OutputError, jsonl_line, write_table

SYNC_EVERY_S = 1.0  # fsync took 20 ms a chunk here, while the workers waited for the next one


def _cannot_write(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"{path}: cannot write: {exc.strerror or exc}")


class OutputLock:
    """An exclusive, non-blocking lock on ``OUTPUT.lock``; the file is removed when released."""

    def __init__(self, output: Path):
        import fcntl

        self.path = output.with_name(output.name + ".lock")
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise OutputError(f"{output}: another `mihwar predict` (pid {holder}) is writing it now (lock {self.path}); "
                                  "wait for it to finish or choose another --output") from None
            if os.path.exists(self.path) and os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                break  # else the previous holder removed the file between our open and lock: retry
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd: int | None = fd

    def release(self) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)  # removed while still held, so no one locks a dead file
            os.close(self.fd)
            self.fd = None


class JournalWriter:
    """File output: journal while working, final file (and ``OUTPUT.meta.json``) at the end."""

    def __init__(self, output: Path, fmt: str, classes: list[str], header: dict[str, Any], resume: bool):
        self.output, self.fmt, self.classes = output, fmt, classes
        self.journal = output.with_name(output.name + ".partial")
        self.done, self.earlier_offset = 0, 0
        self.synced = 0.0  # time.monotonic() of the last fsync
        self._file: Any = None  # the journal, open for appending from the first write
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            self.lock = OutputLock(output)
        except OSError as exc:
            raise _cannot_write(output, exc) from None
        try:
            self.reopened = resume and self.journal.exists()
            if self.reopened:
                self.done = self._reopen(json.loads(json.dumps(header)))
            else:
                self._create(header)
        except BaseException:
            self.lock.release()
            raise

    def _create(self, header: dict[str, Any]) -> None:
        tmp = self.journal.with_name(self.journal.name + ".new")
        try:
            # ASCII: a file name that is not valid UTF-8 holds lone surrogates, which only a JSON escape can carry
            tmp.write_text(json.dumps({"_mihwar_batch": header}) + "\n", encoding="utf-8")
            os.replace(tmp, self.journal)
        except OSError as exc:
            raise _cannot_write(self.journal, exc) from None

    def _reopen(self, header: dict[str, Any]) -> int:
        """Keep the complete rows of an interrupted run; cut a torn last line with one truncate."""
        with open(self.journal, "rb") as f:
            first = f.readline()
            try:
                stored = json.loads(first).get("_mihwar_batch")
            except ValueError:
                stored = None
            _check_same_batch(self.journal, stored, header)
            self.earlier_offset = f.tell()
            rows, end = 0, f.tell()
            for line in f:
                if not line.endswith(b"\n"):
                    break  # torn by the crash
                if not self._is_row(line):
                    raise OutputError(f"{self.journal}: line {rows + 2} is not a row this batch wrote (the journal was "
                                      "edited or damaged); delete it or drop --resume")
                rows, end = rows + 1, end + len(line)
        os.truncate(self.journal, end)  # one system call: the journal is either cut or untouched
        return rows

    def _is_row(self, line: bytes) -> bool:
        """A complete journal line as `write` writes it: a JSON object with an id and one of the model's labels (or none)."""
        try:
            row = json.loads(line)
        except ValueError:
            return False
        return isinstance(row, dict) and isinstance(row.get("id"), str) and row.get("label") in (*self.classes, None)

    def earlier(self) -> Iterator[dict[str, Any]]:
        """Rows an interrupted run already wrote (for the summary of the whole output)."""
        if not self.done:
            return
        with open(self.journal, "rb") as f:
            f.seek(self.earlier_offset)
            for _, line in zip(range(self.done), f):
                yield json.loads(line)

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append rows; each call ends flushed (the OS holds them), and fsynced every `SYNC_EVERY_S` seconds."""
        try:
            if self._file is None:  # opened once: an open per chunk cost 0.5 ms, 0.2 s for 100,000 rows
                self._file = open(self.journal, "a", encoding="utf-8")
            f = self._file
            for r in rows:
                f.write(jsonl_line(r))
                self.done += 1
            f.flush()
            if time.monotonic() - self.synced >= SYNC_EVERY_S:
                os.fsync(f.fileno())
                self.synced = time.monotonic()
        except OSError as exc:
            raise _cannot_write(self.journal, exc) from None

    def _close_file(self) -> None:
        if self._file is not None:
            f, self._file = self._file, None
            f.close()

    def _rows(self) -> Iterator[dict[str, Any]]:
        with open(self.journal, encoding="utf-8") as f:
            next(f)  # the batch header
            for line in f:
                yield json.loads(line)

    def finish(self, meta: dict[str, Any]) -> None:
        """Write the final file and its ``.meta.json`` beside the output, then move them into place."""
        tmp = self.output.with_name(self.output.name + ".tmp")
        meta_path = self.output.with_name(self.output.name + ".meta.json")
        try:
            self._close_file()
            if self.fmt == "jsonl":  # the journal's rows are the output's lines: copy them, no second encoding
                with open(self.journal, "rb") as src, open(tmp, "wb") as dst:
                    src.readline()  # the batch header
                    shutil.copyfileobj(src, dst, 1 << 20)
            else:
                write_table(self._rows, tmp, self.fmt, self.classes)
            meta_tmp = meta_path.with_name(meta_path.name + ".tmp")
            meta_tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8",
                                errors="backslashreplace")  # a lone surrogate (a non-UTF-8 file name) as its JSON escape
            os.replace(tmp, self.output)
            os.replace(meta_tmp, meta_path)
        except OSError as exc:
            raise _cannot_write(self.output, exc) from None
        self.journal.unlink()

    def close(self) -> None:
        try:
            self._close_file()
        except OSError:
            pass  # rows already flushed are in the journal; the batch's own error says what went wrong
        finally:
            self.lock.release()


def _check_same_batch(journal: Path, stored: Any, header: dict[str, Any]) -> None:
    if not isinstance(stored, dict) or stored.get("journal") != header.get("journal"):
        raise OutputError(f"{journal}: belongs to a different batch (written by another version of mihwar, or not a journal); "
                          "delete it or drop --resume")
    was, now = stored.get("options"), header.get("options")
    if isinstance(was, dict) and isinstance(now, dict) and was != now and stored.get("model") == header.get("model") \
            and stored.get("inputs") == header.get("inputs"):
        differ = ", ".join(f"--{k.replace('_', '-')} {_shown(was.get(k))} (now {_shown(now.get(k))})"
                           for k in sorted(set(was) | set(now)) if was.get(k) != now.get(k))
        raise OutputError(f"{journal}: the interrupted batch ran with {differ}: give the same options to resume it, or "
                          "delete it or drop --resume to start again")
    for part, what in (("model", "model version differs"), ("inputs", "inputs (paths, sizes or modification times) differ"),
                       ("options", "options that decide the rows differ")):
        if stored.get(part) != header.get(part):
            raise OutputError(f"{journal}: belongs to a different batch: its {what} "
                              f"(journal: {json.dumps(stored.get(part), ensure_ascii=False)[:200]}; "
                              f"now: {json.dumps(header.get(part), ensure_ascii=False)[:200]}); "
                              "delete it or drop --resume")


def _shown(value: Any) -> str:
    """An option's value as typed: a flag is on or off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return json.dumps(value, ensure_ascii=False)
