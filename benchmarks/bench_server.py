"""`mihwar serve` under bounded load on loopback: p50/p99 latency and requests/s at several concurrencies.

    python benchmarks/bench_server.py [--model models/default] [--requests 400] [--runs 3]
                                      [--concurrency 1,8,32] [--workers 1] [--out build/bench/server.json]

Starts the real server as a subprocess on a free 127.0.0.1 port. For each concurrency C,
each run sends a fixed number of single-article requests (the corpus article closest to
7 KB) from C client threads, each with its own keep-alive connection, then stops by
itself. Reports the median of the runs with min and max, prints a table and writes JSON.
Nothing passes or fails; a request that is not 200 is counted as failed.

The client threads are Python (httpx): on two cores they take CPU from the server, and a
response can wait in the client for the GIL, so their latencies include some of the
client's own queueing. Where `wrk` is installed (Debian: `apt-get install wrk`), the same
concurrencies are also measured with it (C, one thread, C keep-alive connections, for
``--wrk-seconds`` each run), and both tables are printed: `--client httpx|wrk|both`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TYPICAL_BYTES = 7_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def typical_article() -> str:
    files = sorted((ROOT / "data/raw/articles").glob("*.txt"), key=lambda p: abs(p.stat().st_size - TYPICAL_BYTES))
    return files[0].read_text(encoding="utf-8")


def one_run(url: str, body: bytes, concurrency: int, requests: int) -> dict[str, float]:
    """``requests`` POSTs shared by ``concurrency`` threads; latency percentiles, rate and failures."""
    latencies: list[float] = []
    failed = [0]
    lock = threading.Lock()
    share = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]

    def client(n: int) -> None:
        mine, bad = [], 0
        with httpx.Client(timeout=60, headers={"content-type": "application/json"}) as c:
            for _ in range(n):
                t = time.perf_counter()
                try:
                    bad += c.post(url, content=body).status_code != 200
                except httpx.HTTPError:
                    bad += 1
                mine.append(time.perf_counter() - t)
        with lock:
            latencies.extend(mine)
            failed[0] += bad

    threads = [threading.Thread(target=client, args=(n,)) for n in share]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    xs = sorted(latencies)
    return {"p50_ms": 1000 * statistics.median(xs), "p99_ms": 1000 * xs[min(len(xs) - 1, int(0.99 * len(xs)))],
            "rps": len(xs) / wall, "failed": failed[0]}


def wrk_run(url: str, script: Path, concurrency: int, seconds: int) -> dict[str, float]:
    """One run of `wrk` (one thread, ``concurrency`` connections) POSTing the body ``script`` sends."""
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    done = int(re.search(r"(\d+) requests in", out).group(1))
    bad = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    bad += sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return {"p50_ms": ms("50%"), "p99_ms": ms("99%"), "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "failed": bad, "requests": done}


def wrk_script(body: bytes) -> Path:
    """A wrk Lua script that POSTs ``body`` (kept in a file beside it) as JSON."""
    folder = ROOT / "build" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "server_body.json").write_bytes(body)
    script = folder / "server_post.lua"
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f'local f = io.open("{folder / "server_body.json"}", "rb")\nwrk.body = f:read("*a")\nf:close()\n',
                      encoding="utf-8")
    return script


def summarize(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {k: {"median": statistics.median(r[k] for r in runs), "min": min(r[k] for r in runs),
                "max": max(r[k] for r in runs)} for k in runs[0]}


def start_server(model: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "MIHWAR_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "mihwar.cli", "serve", "--model", model, "--port", str(port),
                             "--workers", str(workers)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    sys.exit("the server did not become ready in 120 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--requests", type=int, default=400, help="requests per run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--workers", type=int, default=1, help="server worker processes")
    ap.add_argument("--out", default="build/bench/server.json")
    ap.add_argument("--client", choices=["httpx", "wrk", "both"], default=None,
                    help="load generator (default: both where wrk is installed, else httpx)")
    ap.add_argument("--wrk-seconds", type=int, default=5)
    args = ap.parse_args()
    client = args.client or ("both" if shutil.which("wrk") else "httpx")
    if client != "httpx" and not shutil.which("wrk"):
        sys.exit("--client wrk needs wrk on PATH (Debian: apt-get install wrk)")
    clients = ["httpx", "wrk"] if client == "both" else [client]
    article = typical_article()
    body = json.dumps({"id": "bench", "text": article}, ensure_ascii=False).encode("utf-8")
    proc, base = start_server(args.model, args.workers)
    results = []
    try:
        for _ in range(20):  # warm-up
            httpx.post(base + "/v1/classify", content=body, headers={"content-type": "application/json"}).raise_for_status()
        script = wrk_script(body) if "wrk" in clients else None
        for name in clients:
            for c in (int(x) for x in args.concurrency.split(",")):
                if name == "httpx":
                    runs = [one_run(base + "/v1/classify", body, c, args.requests) for _ in range(args.runs)]
                else:
                    runs = [wrk_run(base + "/v1/classify", script, c, args.wrk_seconds) for _ in range(args.runs)]
                results.append({"client": name, "concurrency": c, **summarize(runs), "runs": runs})
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    report = {"article_bytes": len(article.encode("utf-8")), "requests_per_run": args.requests, "runs": args.runs,
              "wrk_seconds": args.wrk_seconds,
              "workers": args.workers, "cpus": os.cpu_count(), "machine": platform.platform(),
              "python": platform.python_version(), "results": results}
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"one {report['article_bytes']:,}-byte article per request, {args.runs} runs per row (httpx: {args.requests} "
          f"requests a run; wrk: {args.wrk_seconds} s a run), {args.workers} worker(s), {report['cpus']} CPUs; median [min-max]")
    print(f"{'client':>6} | {'clients':>7} | {'p50 ms':>20} | {'p99 ms':>20} | {'requests/s':>20} | failed")
    for r in results:
        cell = lambda k, f: f"{r[k]['median']:{f}} [{r[k]['min']:{f}}-{r[k]['max']:{f}}]"  # noqa: E731
        print(f"{r['client']:>6} | {r['concurrency']:>7} | {cell('p50_ms', '.1f'):>20} | {cell('p99_ms', '.1f'):>20} | "
              f"{cell('rps', '.0f'):>20} | {int(r['failed']['max'])}")
    print(f"JSON: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
