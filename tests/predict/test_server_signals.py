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
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.predict.server_process import started


def blocked_signals(pid: int) -> int:
    """The process's blocked-signal mask, from /proc."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("SigBlk:"))
    return int(line.split()[1], 16)


def worker_pids(pid: int) -> list[int]:
    import psutil

    return [p.pid for p in psutil.Process(pid).children() if "--multiprocessing-fork" in p.cmdline()]


def stopped(server, timeout: float = 30) -> tuple[int, str]:
    """The server's exit status and output once it has stopped; stopped for good either way (a server that did not
    stop, as on the code before these fixes, was left running by the failed test)."""
    try:
        code = server.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        workers = worker_pids_left(server.proc.pid)
        server.proc.kill()
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        raise
    finally:
        out = server.stderr()
        server.stop()
    return code, out


def worker_pids_left(pid: int) -> list[int]:
    try:
        return worker_pids(pid)
    except Exception:  # noqa: BLE001 - the parent is gone already
        return []


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


def test_two_quick_ctrl_c_stop_a_busy_server_without_a_traceback_and_its_requests_finish(trained_model_dir):
    """The second Ctrl-C arrives while requests of about half a second are being scored: they finish (200), and
    the server then stops with one line. uvicorn took it as "exit now" and cancelled them: a 500 and an
    `Exception in ASGI application` traceback each."""
    server = started(trained_model_dir)
    texts = sorted((ROOT / "data/raw/articles").glob("*.txt"))
    articles = [{"id": f"a{k}", "text": (texts[k % len(texts)].read_text(encoding="utf-8") * 12)[:55_000]} for k in range(16)]
    body = json.dumps({"articles": articles, "explain": True, "paragraphs": True}, ensure_ascii=False).encode()
    assert len(body) < 2_000_000  # the default MIHWAR_MAX_BODY_BYTES; scoring it takes about 0.6 s here
    statuses: list[int] = []

    def client() -> None:
        with httpx.Client(timeout=60, headers={"content-type": "application/json"}) as c:
            statuses.append(c.post(server.base + "/v1/classify", content=body).status_code)

    threads = [threading.Thread(target=client) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.4)  # both requests are being scored
        os.kill(server.proc.pid, signal.SIGINT)
        time.sleep(0.05)
        os.kill(server.proc.pid, signal.SIGINT)  # the impatient second Ctrl-C, while it shuts down
        got, out = stopped(server)
    finally:
        for t in threads:
            t.join()
    assert got == 130, out
    assert "interrupted" in out.splitlines(), out
    assert "Traceback" not in out and "CancelledError" not in out and "ERROR" not in out, out
    assert statuses == [200, 200], (statuses, out)


def test_a_signal_during_a_model_load_is_raised_when_the_load_ends():
    """Numba's loading runs callbacks of its code library, and a Ctrl-C raised inside one was printed ("Exception
    ignored on calling ctypes callback function") and lost: the server then started anyway. `loading` holds
    Ctrl-C and SIGTERM until the load is done, then raises them."""
    from predict.pool import loading

    steps = []
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (see `as_in_a_terminal`)
    try:
        with pytest.raises(KeyboardInterrupt):
            with loading():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # a signal is handled between bytecodes: it would have been raised by now
                steps.append("loaded")
        assert steps == ["loaded"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


def test_once_stopping_the_cli_ignores_further_signals():
    """After "interrupted" is said, a second Ctrl-C or a SIGTERM during Python's shutdown printed an "Exception
    ignored" traceback or ended the process with another status than the message's."""
    import typer

    from mihwar.cli import _stoppable

    def work() -> None:
        raise KeyboardInterrupt

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(typer.Exit) as stop:
            _stoppable(work, "")
        assert stop.value.exit_code == 130
        assert signal.getsignal(signal.SIGINT) == signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
