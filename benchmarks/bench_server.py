"""Latency of `mihwar serve` for one article per request, measured over loopback.

    python benchmarks/bench_server.py [--model models/default] [--requests 200]

Starts the real server as a subprocess on a free 127.0.0.1 port, sends sequential
single-article requests (a seed-sized article and a one-sentence one), prints
median / p95 latency, and stops the server. Nothing passes or fails.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(client: httpx.Client, url: str, text: str, n: int) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        r = client.post(url, json={"id": str(i), "text": text})
        out.append(time.perf_counter() - t)
        r.raise_for_status()
    return out


def report(name: str, xs: list[float]) -> None:
    xs = sorted(xs)
    p95 = xs[int(0.95 * (len(xs) - 1))]
    print(f"{name}: median {statistics.median(xs) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {xs[-1] * 1000:.1f} ms (n={len(xs)})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mihwar.cli", "serve", "--model", args.model, "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        start = time.perf_counter()
        with httpx.Client(timeout=30) as client:
            while True:
                try:
                    if client.get(base + "/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            print(f"server ready after {time.perf_counter() - start:.2f}s (process start + model load)")
            article = next((ROOT / "data/raw/articles").glob("001_*.txt")).read_text(encoding="utf-8")
            sentence = "فرضت وزارة الخزانة الأمريكية عقوبات جديدة بموجب قانون قيصر."
            measure(client, base + "/v1/classify", sentence, 10)  # warm-up
            report(f"one article ({len(article)} chars, 16 paragraphs)", measure(client, base + "/v1/classify", article, args.requests))
            report(f"one sentence ({len(sentence)} chars)", measure(client, base + "/v1/classify", sentence, args.requests))
    finally:
        proc.terminate()
        proc.wait(timeout=20)


if __name__ == "__main__":
    main()
