"""Labeling benchmarks: (a) throughput beside fastText, (b) cold start beside `import sklearn`, (c) peak RSS.

Run through `benchmarks/run_all.py` (`make bench`); each function returns plain dicts
for the JSON report and lines for the table.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.fasttext_baseline import train_fasttext
from benchmarks.inputs import BUILD, ROOT, one_article, paragraph_jsonl, train_rows
from benchmarks.measure import Figure, interleaved, ratio, run_process

BATCH = 256
WATCHED = ("typer", "click", "rich", "numpy", "yaml", "pydantic", "sklearn", "scipy", "pandas", "pyarrow", "mlflow", "torch", "numba")


def fasttext_model_file() -> Path:
    """fastText trained on the prepared train split, saved once per benchmark run."""
    rows = train_rows()
    path = BUILD / "fasttext.bin"
    train_fasttext([r["text"] for r in rows], [r["label"] for r in rows]).save_model(str(path))
    return path


def mihwar_cmd(model: str, source: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "mihwar.cli", "predict", str(source), "--model", model, "--output", str(output)]


def fasttext_cmd(ft_model: Path, source: Path, output: Path) -> list[str]:
    return [sys.executable, str(ROOT / "benchmarks/fasttext_baseline.py"), str(ft_model), str(source), str(output)]


def throughput_in_process(model: str, ft_model: Path, n: int, runs: int) -> dict:
    """Paragraphs/s of TopicModel.paragraph_probs and of fastText's predict, batches of 256, one process."""
    import json

    import fasttext

    from benchmarks.fasttext_baseline import clean
    from predict.artifact import load_model

    with open(paragraph_jsonl(n), encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    batches = [texts[i:i + BATCH] for i in range(0, len(texts), BATCH)]
    m, ft = load_model(model), fasttext.load_model(str(ft_model))

    def mihwar() -> float:
        t = time.perf_counter()
        for b in batches:
            m.paragraph_probs(b)
        return n / (time.perf_counter() - t)

    def fast() -> float:
        t = time.perf_counter()
        for b in batches:
            ft.predict([clean(x) for x in b], k=1)
        return n / (time.perf_counter() - t)

    figs = interleaved({"mihwar": mihwar, "fasttext": fast}, runs, "paragraphs/s")
    return {"paragraphs": n, **{k: v.as_dict() for k, v in figs.items()}, "ratio": ratio(figs["mihwar"], figs["fasttext"])}


def throughput_process(model: str, ft_model: Path, n: int, runs: int) -> dict:
    """Whole `mihwar predict` and fastText processes on the same JSONL (one paragraph per row)."""
    source, out = paragraph_jsonl(n), BUILD / "labels.jsonl"
    rss: dict[str, list[float]] = {"mihwar": [], "fasttext": []}

    def timed(name: str, cmd: list[str]) -> float:
        out.unlink(missing_ok=True)
        run = run_process(cmd, cwd=str(ROOT))
        rss[name].append(run.peak_rss_mb)
        return n / run.seconds

    figs = interleaved({"mihwar": lambda: timed("mihwar", mihwar_cmd(model, source, out)),
                        "fasttext": lambda: timed("fasttext", fasttext_cmd(ft_model, source, out))}, runs, "paragraphs/s")
    return {"paragraphs": n, "input_mb": round(source.stat().st_size / 1e6, 1),
            **{k: v.as_dict() for k, v in figs.items()}, "ratio": ratio(figs["mihwar"], figs["fasttext"]),
            "peak_rss_mb": {k: Figure(v, "MB").as_dict() for k, v in rss.items()}}


def cold_start(model: str, runs: int) -> dict:
    """One article through a fresh `mihwar predict` process, beside `python -c "import sklearn"` and a bare interpreter."""
    out = BUILD / "one_label.jsonl"

    def timed(cmd: list[str]) -> float:
        out.unlink(missing_ok=True)
        return run_process(cmd, cwd=str(ROOT)).seconds * 1000

    plain = [sys.executable, "-m", "mihwar.cli", "predict", str(one_article()), "--output", str(out)]
    figs = interleaved({"mihwar": lambda: timed(mihwar_cmd(model, one_article(), out)),
                        "mihwar_default": lambda: timed(plain),  # no --model, as README's commands run it
                        "import_sklearn": lambda: timed([sys.executable, "-c", "import sklearn"]),
                        "python": lambda: timed([sys.executable, "-c", "pass"])}, runs, "ms")
    out.unlink(missing_ok=True)
    said = subprocess.run(plain, capture_output=True, text=True, cwd=ROOT, check=True).stderr
    default_model = next((line.split(": ", 1)[1].split(" (")[0] for line in said.splitlines() if line.startswith("model: ")), "?")
    return {**{k: v.as_dict() for k, v in figs.items()}, "ratio": ratio(figs["mihwar"], figs["import_sklearn"]),
            "default_ratio": ratio(figs["mihwar_default"], figs["import_sklearn"]), "default_model": default_model,
            "imports": import_profile(model)}


def import_profile(model: str, top: int = 8) -> dict:
    """`python -X importtime` of the one-article run: the top-level imports by cumulative time, and the heavy ones loaded."""
    out = BUILD / "one_label.jsonl"
    out.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-X", "importtime", *mihwar_cmd(model, one_article(), out)[1:]],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m.group(3)) == 1:  # one space: imported at top level, not by another module
            rows.append((m.group(4), int(m.group(2)) / 1000))
    loaded = {name.split(".")[0] for line in proc.stderr.splitlines() if (name := line.rsplit("|", 1)[-1].strip())}
    return {"top_level_ms": dict(sorted(rows, key=lambda r: -r[1])[:top]), "total_ms": round(sum(ms for _, ms in rows), 1),
            "heavy_loaded": [w for w in WATCHED if w in loaded]}


def peak_rss(model: str, sizes: list[int]) -> dict:
    """Peak RSS of one `mihwar predict` process per input size, streaming the JSONL from disk."""
    out, result = BUILD / "labels.jsonl", {}
    for n in sizes:
        out.unlink(missing_ok=True)
        run = run_process(mihwar_cmd(model, paragraph_jsonl(n), out), cwd=str(ROOT))
        result[str(n)] = {"peak_rss_mb": round(run.peak_rss_mb, 1), "seconds": round(run.seconds, 1),
                          "paragraphs_per_s": round(n / run.seconds)}
    return result
