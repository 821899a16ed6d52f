"""Timing and memory helpers of the benchmark suite: each figure is a median with its min and max."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from typing import Callable, Sequence


@dataclass
class Figure:
    """Several runs of one measurement."""

    values: list[float]
    unit: str

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def as_dict(self) -> dict:
        return {"median": self.median, "min": min(self.values), "max": max(self.values), "runs": len(self.values),
                "unit": self.unit, "values": self.values}

    def text(self, digits: int = 0) -> str:
        f = f"{{:,.{digits}f}}"
        return (f"{f.format(self.median)} {self.unit} (min {f.format(min(self.values))}, max {f.format(max(self.values))}, "
                f"n={len(self.values)})")


@dataclass
class ProcessRun:
    seconds: float
    peak_rss_mb: float


def run_process(cmd: Sequence[str], env: dict | None = None, cwd: str | None = None) -> ProcessRun:
    """Run a command to completion; its wall time and its own peak RSS.

    The RSS comes from /usr/bin/time, a small process that forks the command: rusage
    taken here would report this (large) benchmark process's size, which Linux carries
    over into a vforked child across exec.
    """
    t = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "MAXRSS_KB %M", *cmd], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env={**os.environ, **(env or {})}, cwd=cwd, text=True)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}: {proc.stderr[-2000:]}")
    kb = int(proc.stderr.rsplit("MAXRSS_KB", 1)[1].split()[0])
    return ProcessRun(seconds, kb / 1024)


def repeat(fn: Callable[[], float], runs: int, unit: str) -> Figure:
    return Figure([fn() for _ in range(runs)], unit)


def interleaved(fns: dict[str, Callable[[], float]], runs: int, unit: str) -> dict[str, Figure]:
    """Alternate the alternatives run by run, so that load on a shared machine hits both alike."""
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            out[k].append(fn())
    return {k: Figure(v, unit) for k, v in out.items()}


def ratio(a: Figure, b: Figure) -> dict:
    """a / b from the medians, with the range of per-run ratios (runs paired in order)."""
    pairs = [x / y for x, y in zip(a.values, b.values)]
    return {"median": a.median / b.median, "min": min(pairs), "max": max(pairs)}


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
