"""Labeling speed, measured (not asserted): cold start, batch throughput, paragraphs/s per core.

    python benchmarks/bench_predict.py [--model models/default] [--articles 5000] [--runs 5]

Prints its figures; nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        out.append(time.perf_counter() - t)
    return out


def corpus_paragraphs() -> list[str]:
    from predict.text import segment_article

    texts = []
    for p in sorted((ROOT / "data/raw/articles").glob("*.txt")):
        texts += segment_article(p.read_text(encoding="utf-8"))
    for line in (ROOT / "data/raw/ant/ant_subset.jsonl").read_text(encoding="utf-8").splitlines():
        texts += segment_article(json.loads(line)["text"]) or [json.loads(line)["text"]]
    return texts


def fmt(xs: list[float]) -> str:
    return f"median {statistics.median(xs) * 1000:.0f} ms (min {min(xs) * 1000:.0f}, max {max(xs) * 1000:.0f}, n={len(xs)})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--articles", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    model = str((ROOT / args.model).resolve()) if not args.model.startswith(("models:/", "runs:/")) else args.model
    os.environ["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS", "1")
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; model {args.model}")

    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one.txt"
        one.write_text(next((ROOT / "data/samples").glob("un_*.txt")).read_text(encoding="utf-8"), encoding="utf-8")
        baseline = timed([sys.executable, "-c", f"import sklearn.linear_model, joblib; joblib.load({model + '/model.joblib'!r})"], args.runs)
        cold = timed([sys.executable, "-m", "mihwar.cli", "predict", str(one), "--model", model, "--output", str(Path(tmp) / "o.jsonl")], args.runs)
        print(f"import scikit-learn + load the model:       {fmt(baseline)}")
        print(f"cold `mihwar predict` of one article (CLI): {fmt(cold)}  -> {statistics.median(cold) / statistics.median(baseline):.2f}x the baseline")

        from predict.artifact import load_model
        from predict.batch import BatchOptions, run_batch

        paragraphs = corpus_paragraphs()
        src = Path(tmp) / "batch.jsonl"
        with open(src, "w", encoding="utf-8") as f:
            for i in range(args.articles):
                k = (i * 7) % len(paragraphs)
                f.write(json.dumps({"id": f"a{i}", "text": "\n".join(paragraphs[k:k + 6])}, ensure_ascii=False) + "\n")
        n_paras = sum(len(json.loads(l)["text"].split("\n")) for l in src.read_text(encoding="utf-8").splitlines())
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        summary = run_batch([str(src)], model, BatchOptions(output=str(Path(tmp) / "out.jsonl"), chunk_size=256))
        dt = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"batch of {args.articles} articles ({n_paras} paragraphs, {src.stat().st_size / 1e6:.1f} MB JSONL): {dt:.2f}s = "
              f"{args.articles / dt:,.0f} articles/s, {n_paras / dt:,.0f} paragraphs/s; labeled {summary.labeled}, "
              f"errors {len(summary.errors)}; peak RSS {peak / 1024:.0f} MB (was {before / 1024:.0f} MB before the batch)")

        m = load_model(model)
        reps = max(1, 20000 // len(paragraphs))
        many = (paragraphs * reps)[:20000]
        t = time.perf_counter()
        m.paragraph_probs(many)
        dt = time.perf_counter() - t
        print(f"scoring {len(many)} paragraphs in one process (OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}): "
              f"{dt:.2f}s = {len(many) / dt:,.0f} paragraphs/s")


if __name__ == "__main__":
    main()
