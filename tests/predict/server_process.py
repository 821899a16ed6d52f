"""`mihwar serve` as a real process on a loopback port, for the server tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT, free_port

SANCTIONS = "أعلنت وزارة الخزانة الأمريكية فرض عقوبات جديدة بموجب قانون قيصر على رجال أعمال مرتبطين بالنظام السوري."
DRUGS = "ضبطت السلطات الأردنية شحنة كبيرة من حبوب الكبتاغون المهربة من سوريا عبر الحدود."
SMALL_LIMITS = {"MIHWAR_MAX_ARTICLES": "5", "MIHWAR_MAX_CHARS": "5000", "MIHWAR_MAX_BODY_BYTES": "60000"}


def article(n: int = 2) -> str:
    """A shipped corpus article (002 is a long one, about 21 KB)."""
    return next((ROOT / "data/raw/articles").glob(f"{n:03d}_*.txt")).read_text(encoding="utf-8")


def as_in_a_terminal() -> None:
    """Ctrl-C handled as a terminal's foreground command has it: a job started in the background (`.ci/run &`)
    inherits SIGINT ignored, and its children would never see a Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Server:
    """A running `mihwar serve`; its stderr goes to a file, so a chatty log never blocks it."""

    def __init__(self, model_dir: Path | None, *args: str, **env_extra: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIHWAR_")}
        env.update({"MIHWAR_LOG_LEVEL": "warning", **env_extra})
        model = ["--model", str(model_dir)] if model_dir else []
        self.log = tempfile.NamedTemporaryFile(prefix="mihwar-serve-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([sys.executable, "-m", "mihwar.cli", "serve", *model, "--port", str(self.port), *args],
                                     env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     preexec_fn=as_in_a_terminal)

    def stderr(self) -> str:
        return Path(self.log.name).read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = 90.0) -> "Server":
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.stderr()}")
            try:
                if httpx.get(self.base + "/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.base} did not answer in {timeout}s:\n{self.stderr()}")

    def rss_mb(self) -> float:
        """Resident memory of the server process, from /proc."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def started(model_dir: Path | None, *args: str, **env: str) -> Server:
    server = Server(model_dir, *args, **env)
    try:
        return server.wait_ready()
    except Exception:
        server.stop()
        raise


def serve_and_wait(*args: str, env_extra: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """`mihwar serve` on a free port (a later ``--port`` in ``args`` wins), run until it exits: for start-up errors."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIHWAR_")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "mihwar.cli", "serve", "--port", str(free_port()), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
