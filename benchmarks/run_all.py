"""`make bench`: every benchmark of issue 13 in one run, as a markdown table and JSON.

    python -m benchmarks.run_all [--runs 3] [--paragraphs 100000] [--rss-1m] [--quick] [--model DIR] [--set KEY=VALUE]

Writes reports/bench/latest.md and reports/bench/latest.json and prints the table.
Each figure is the median of several runs (min and max beside it); alternatives are
run alternately in the same session, so the machine's load hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import bench_predict as P
from benchmarks import bench_train as T
from benchmarks.inputs import BUILD, ROOT, SET_ENV, bench_config
from benchmarks.measure import load_average
from benchmarks.table import render

REPORT_DIR = ROOT / "reports" / "bench"


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mb": mem, "python": sys.version.split()[0],
            "platform": platform.platform(), "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M %Z")}


def server_output() -> str | None:
    """(d) belongs to benchmarks/bench_server.py; its own printout is kept verbatim."""
    script = ROOT / "benchmarks" / "bench_server.py"
    if not script.is_file():
        return None
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT)
    return (proc.stdout + proc.stderr).strip() + ("" if proc.returncode == 0 else f"\n(exit status {proc.returncode})")


def peak_rss_section(model: str, res: dict, n: int, args: argparse.Namespace) -> dict:
    """Peak RSS at 100,000 and 1,000,000 paragraphs; without --rss-1m the last measured 1M figure is carried over, dated."""
    sizes = [n // 10, n] if args.quick else [100_000] + ([1_000_000] if args.rss_1m else [])
    done = res.get("a_process", {})
    if done.get("paragraphs") in sizes:  # the whole-process throughput runs measured this size already
        sizes.remove(done["paragraphs"])
    out = {str(done["paragraphs"]): {"peak_rss_mb": round(done["peak_rss_mb"]["mihwar"]["median"], 1)}} if done else {}
    out.update(P.peak_rss(model, sizes))
    previous = REPORT_DIR / "latest.json"
    if not args.quick and not args.rss_1m and previous.is_file():
        old = json.loads(previous.read_text(encoding="utf-8"))
        carried = old.get("c_peak_rss", {}).get("1000000")
        if carried:
            out["1000000"] = {**carried, "measured": carried.get("measured") or old["machine"]["date"]}
    return out


def save(res: dict, final: bool = False) -> str:
    """Write the report; return the table. Only a complete run (every section, full inputs) is
    ``latest``: a run in progress, a ``--skip`` run or a ``--quick`` one is ``partial``."""
    res["load_average_end"] = load_average()
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    name = "latest" if final else "partial"
    table = render(res)
    (REPORT_DIR / f"{name}.md").write_text(table, encoding="utf-8")
    (REPORT_DIR / f"{name}.json").write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")
    return table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--paragraphs", type=int, default=100_000, help="input of the whole-process throughput runs")
    ap.add_argument("--rss-1m", action="store_true", help="also label a 1,000,000-paragraph file for peak RSS (about 70 s on 2 cores, after writing it once)")
    ap.add_argument("--quick", action="store_true", help="small inputs, for checking the suite itself")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: a,b,c,d,e,f")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for the pipeline that (e) and (f) fit, as `mihwar train --set` takes it "
                         "(e.g. features.char_ngrams=null); (a)-(d) label with --model")
    args = ap.parse_args()
    os.environ[SET_ENV] = ";".join(args.set)
    from train.config import ConfigError

    try:
        bench_config()  # a bad override fails here, before any run
    except ConfigError as exc:
        ap.error(str(exc))
    skip = set(args.skip.split(",")) - {""}
    model = str((ROOT / args.model).resolve())
    n = 5_000 if args.quick else args.paragraphs
    BUILD.mkdir(parents=True, exist_ok=True)
    res: dict = {"machine": machine(), "load_average_start": load_average(), "model": args.model, "runs": args.runs,
                 "config_overrides": args.set}
    ft = P.fasttext_model_file() if not {"a"} <= skip else None
    if "a" not in skip:
        res["a_in_process"] = P.throughput_in_process(model, ft, min(n, 20_000), args.runs)
        res["a_process"] = P.throughput_process(model, ft, n, args.runs)
    save(res)
    if "b" not in skip:
        res["b_cold_start"] = P.cold_start(model, max(args.runs, 5))
    if "c" not in skip:
        res["c_peak_rss"] = peak_rss_section(model, res, n, args)
    if "d" not in skip:
        res["d_server"] = server_output()
    save(res)
    if "e" not in skip:
        res["e_training"] = T.training_scale({1: args.runs, 10: args.runs} if args.quick else {1: args.runs, 10: args.runs, 100: 1})
    if "f" not in skip:
        res["f_cv_f1"] = T.grouped_cv_f1()
    print(save(res, final=not skip and not args.quick))


if __name__ == "__main__":
    main()
