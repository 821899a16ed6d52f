"""Spark labeling speed against single-process `mihwar predict` on the same input, and where the time goes.

    python benchmarks/bench_spark.py --model models/default [--rows 20000] [--master local[2]] [--nodes 10 --cores 8]

Needs the spark extra and Java 17+. Prints a table; nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_input(path: Path, rows: int) -> None:
    """JSONL of real paragraphs (seed articles and ANT news), 1-6 per article, two files."""
    from predict.text import segment_article

    paras = []
    for p in sorted((ROOT / "data/raw/articles").glob("*.txt")):
        paras += segment_article(p.read_text(encoding="utf-8"))
    for line in (ROOT / "data/raw/ant/ant_subset.jsonl").read_text(encoding="utf-8").splitlines():
        paras += segment_article(json.loads(line)["text"]) or [json.loads(line)["text"]]
    path.mkdir(parents=True)
    for part in range(2):
        with open(path / f"part-{part}.jsonl", "w", encoding="utf-8") as f:
            for i in range(part, rows, 2):
                k = (i * 7) % len(paras)
                f.write(json.dumps({"id": f"a{i}", "text": "\n".join(paras[k:k + 1 + i % 6])}, ensure_ascii=False) + "\n")


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--cores", type=int, default=8, help="executor cores per node in the cluster estimate")
    args = ap.parse_args()
    model = str(Path(args.model).resolve()) if Path(args.model).exists() else args.model
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from predict.artifact import load_model
    from predict.batch import BatchOptions, run_batch
    from predict.spark_label import input_format, line_starts, read_input, run_spark_label, spark_session

    load_s, _ = timed(lambda: load_model(model))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        write_input(src, args.rows)
        mb = sum(p.stat().st_size for p in src.iterdir()) / 1e6
        one_s, _ = timed(lambda: run_batch([str(src)], model, BatchOptions(output=str(Path(tmp) / "one.parquet"))))

        jvm_s, spark = timed(lambda: spark_session(args.master))
        cores = spark.sparkContext.defaultParallelism
        opts = BatchOptions()
        read_s, df = timed(lambda: read_input(spark, str(src), input_format(str(src), None), opts))
        count_s, _ = timed(lambda: line_starts(df, 1))
        noop_s, _ = timed(lambda: df.select("value").mapInPandas(lambda it: it, "value string").write.mode("overwrite")
                          .parquet(str(Path(tmp) / "noop")))  # read + Arrow both ways + write, no scoring
        first_s, _ = timed(lambda: run_spark_label(spark, str(src), str(Path(tmp) / "o1"), model, opts))
        warm_s, _ = timed(lambda: run_spark_label(spark, str(src), str(Path(tmp) / "o2"), model, opts))
        spark.stop()

    n = args.rows
    one_rate, warm_rate = n / one_s, n / warm_s
    score_s = max(warm_s - noop_s - count_s, 1e-9)
    per_core = n / (score_s * cores)
    print(f"input: {n} articles, {mb:.1f} MB JSONL; model load {load_s:.2f}s; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; Spark master {args.master} ({cores} task slots)\n")
    print("| step | seconds | rows/s |\n|---|---|---|")
    print(f"| single-process `mihwar predict` (run_batch, in process) | {one_s:.1f} | {one_rate:.0f} |")
    print(f"| JVM + SparkSession start | {jvm_s:.1f} | |")
    print(f"| spark-label, first job in the session | {first_s:.1f} | {n / first_s:.0f} |")
    print(f"| spark-label, second job (JVM warm) | {warm_s:.1f} | {warm_rate:.0f} |")
    print(f"|  of which: plan + schema ({read_s:.1f}), line-number pass | {count_s:.1f} | |")
    print(f"|  of which: read + Arrow to Python and back + write, no scoring | {noop_s:.1f} | {n / noop_s:.0f} |")
    print(f"|  of which: Python scoring (the rest) | {score_s:.1f} | {per_core:.0f} per task slot |")
    total = args.nodes * args.cores
    print(f"\n{args.nodes} nodes x {args.cores} cores = {total} task slots: about {per_core * total:,.0f} rows/s "
          f"({per_core * total * 3600 / 1e6:.1f} M articles/hour) if scoring stays the bottleneck and the input has "
          f">= {total} splits; 10 M articles in about {1e7 / (per_core * total) / 60:.0f} min plus start-up.")


if __name__ == "__main__":
    main()
