"""Labeling speed of two source trees, measured alternately on the same inputs: a before/after check.

    mkdir -p build/baseline && git archive <commit> predict mihwar train | tar -x -C build/baseline
    python -m benchmarks.compare_trees build/baseline . [--runs 3] [--rows 20000] [--workers 1,2]

Every measurement is a fresh process started in a tree's folder, so it imports that
tree's `predict` and `mihwar`: (1) in-process `TopicModel.predict_articles` on the labeled
ANT articles, batches of 64 (the scoring call timed, not the model load); (2) a whole
`mihwar predict` on a one-paragraph-per-row JSONL, once per --workers value. The trees'
outputs are compared too: paragraph probabilities (largest difference) and label files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks.inputs import BUILD, ROOT, paragraph_jsonl
from benchmarks.measure import interleaved, load_average, run_process

ARTICLES = ROOT / "data/raw/ant_labeled/articles.jsonl"
IN_PROCESS = """
import json, sys, time
import numpy as np
from predict.artifact import load_model
from predict.text import paragraphs_or_whole
model_dir, articles, probs_out = sys.argv[1:4]
texts = [json.loads(line)["text"] for line in open(articles, encoding="utf-8")]
m = load_model(model_dir)
t = time.perf_counter()
for i in range(0, len(texts), 64):
    m.predict_articles(texts[i:i + 64])
seconds = time.perf_counter() - t
units = [(p, a) for a in texts for p in paragraphs_or_whole(a)]
np.save(probs_out, m.paragraph_probs([p for p, _ in units], [a for _, a in units]))
print(json.dumps({"paragraphs": len(units), "seconds": seconds}))
"""


def in_process(tree: Path, model: str, probs_out: Path) -> float:
    """Paragraphs/s of predict_articles over the ANT articles, in a fresh process importing ``tree``."""
    proc = subprocess.run([sys.executable, "-c", IN_PROCESS, model, str(ARTICLES), str(probs_out)],
                          cwd=tree, capture_output=True, text=True, check=True)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    return res["paragraphs"] / res["seconds"]


def whole_process(tree: Path, model: str, source: Path, out: Path, workers: int, rows: int) -> float:
    """Rows/s of one `mihwar predict` process of ``tree`` (start, model load and writing included)."""
    for leftover in (out, out.with_name(out.name + ".meta.json")):
        leftover.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "mihwar.cli", "predict", str(source), "--model", model, "--output", str(out),
           "--workers", str(workers)]
    return rows / run_process(cmd, cwd=str(tree)).seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    model, source = str((ROOT / args.model).resolve()), paragraph_jsonl(args.rows)
    out_dir = BUILD / "compare"
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict = {"load_average_start": load_average(), "runs": args.runs, "rows": args.rows}

    figs = interleaved({k: (lambda t=t, k=k: in_process(t, model, out_dir / f"probs_{k}.npy")) for k, t in trees.items()},
                       args.runs, "paragraphs/s")
    before, after = (np.load(out_dir / f"probs_{k}.npy") for k in trees)
    report["in_process"] = {k: f.as_dict() for k, f in figs.items()}
    report["in_process"]["max_abs_prob_difference"] = float(np.abs(before - after).max())
    for w in (int(x) for x in args.workers.split(",")):
        figs = interleaved({k: (lambda t=t, k=k: whole_process(t, model, source, out_dir / f"labels_{k}_w{w}.jsonl", w, args.rows))
                            for k, t in trees.items()}, args.runs, "rows/s")
        same = (out_dir / f"labels_before_w{w}.jsonl").read_bytes() == (out_dir / f"labels_after_w{w}.jsonl").read_bytes()
        report[f"process_workers_{w}"] = {**{k: f.as_dict() for k, f in figs.items()}, "identical_labels": same}
    report["load_average_end"] = load_average()
    (out_dir / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    for name, part in report.items():
        if isinstance(part, dict):
            line = ", ".join(f"{k} {v['median']:,.0f} ({v['min']:,.0f}-{v['max']:,.0f})" for k, v in part.items() if isinstance(v, dict))
            extra = {k: v for k, v in part.items() if not isinstance(v, dict)}
            print(f"{name}: {line} {extra}")
    print(f"load average {report['load_average_start']} at start, {report['load_average_end']} at end")


if __name__ == "__main__":
    main()
