"""Stopping `mihwar serve` as a person does: Ctrl-C (once, or twice in a hurry) and a scheduler's SIGTERM.

Each ends with one line ("interrupted", "terminated (SIGTERM)"), the shell's status (130, 143) and no traceback,
with one process or several. Found by an adversarial pass: a second Ctrl-C during shutdown printed starlette's
lifespan `CancelledError` traceback; with `--workers 2` a terminal's Ctrl-C (which reaches every process of the
group) printed a `KeyboardInterrupt` traceback from each worker still importing its modules, and the server
exited 0 without a word on SIGINT or SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.predict.server_process import DRUGS, started


def blocked_signals(pid: int) -> int:
    """The process's blocked-signal mask, from /proc."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("SigBlk:"))
    return int(line.split()[1], 16)


def worker_pids(pid: int) -> list[int]:
    import psutil

    return [p.pid for p in psutil.Process(pid).children() if "--multiprocessing-fork" in p.cmdline()]


def stopped(server, timeout: float = 30) -> tuple[int, str]:
    code = server.proc.wait(timeout=timeout)
    out = server.stderr()
    server.stop()
    return code, out


@pytest.mark.parametrize("sig, code, says", [(signal.SIGINT, 130, "interrupted"),
                                             (signal.SIGTERM, 143, "terminated (SIGTERM)")], ids=["ctrl-c", "sigterm"])
def test_a_multi_worker_server_stops_with_one_line_and_the_shell_status(trained_model_dir, sig, code, says):
    server = started(trained_model_dir, "--workers", "2")
    workers = worker_pids(server.proc.pid)
    assert len(workers) == 2
    # A terminal's Ctrl-C reaches every process of the group: the workers hold it back from their first
    # instruction, and the supervisor stops them.
    assert all(blocked_signals(pid) & (1 << (signal.SIGINT - 1)) for pid in workers)
    for pid in [server.proc.pid] + workers:
        os.kill(pid, sig)
    got, out = stopped(server)
    assert got == code, out
    assert says in out.splitlines() and "Traceback" not in out, out


def test_two_quick_ctrl_c_stop_a_busy_server_without_a_traceback(trained_model_dir):
    server = started(trained_model_dir)
    body = json.dumps({"id": "x", "text": DRUGS * 40}).encode()
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=5, headers={"content-type": "application/json"}) as c:
            while not stop.is_set():
                try:
                    c.post(server.base + "/v1/classify", content=body)
                except httpx.HTTPError:
                    time.sleep(0.02)

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        os.kill(server.proc.pid, signal.SIGINT)
        time.sleep(0.05)
        os.kill(server.proc.pid, signal.SIGINT)  # the impatient second Ctrl-C, while it shuts down
        got, out = stopped(server)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert got == 130, out
    assert "interrupted" in out.splitlines(), out
    assert "Traceback" not in out and "CancelledError" not in out, out
