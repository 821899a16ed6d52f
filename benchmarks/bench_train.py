"""Training benchmarks: (e) time and peak memory at 1x/10x/100x the labeled set, (f) grouped-CV macro-F1 beside fastText.

    python -m benchmarks.bench_train fit SCALE ROWS.json RESULT.txt   (one fit, in its own process)

The fit is the linear pipeline of `train.linear` with the config's first C (no inner CV),
so the figure is the cost of one final fit.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from benchmarks.inputs import BUILD, ROOT, bench_config, train_rows
from benchmarks.measure import Figure, run_process


def rows_file() -> Path:
    """The train split as plain JSON, so each fit process starts without `datasets`/pyarrow."""
    path = BUILD / "train_rows.json"
    BUILD.mkdir(parents=True, exist_ok=True)
    rows = [{k: r[k] for k in ("text", "context", "label", "article_id")} for r in train_rows()]
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def linear_pipeline():
    from train.linear import build_pipeline
    from train.train import term_features

    config = bench_config()
    return lambda: build_pipeline(config.features, config.model, config.model.C_grid[0], config.seed, term_features(config))


def fit_scaled(scale: int, rows_path: str, result_path: str) -> None:
    """Fit on ``scale`` copies of the train split (each copy its own article ids), with the excerpt view
    when the config has it, as `mihwar train`'s final fit sees them; write the fit seconds."""
    from train.linear import with_excerpt_view

    rows = json.loads(Path(rows_path).read_text(encoding="utf-8"))
    units = [(r["text"], r["context"]) for _ in range(scale) for r in rows]
    labels = [r["label"] for _ in range(scale) for r in rows]
    if bench_config().model.excerpt_view:
        units, labels, _ = with_excerpt_view(units, labels, [""] * len(units))
    from train.parallel import one_blas_thread

    make = linear_pipeline()
    t = time.perf_counter()
    with one_blas_thread():  # as `mihwar train` fits (train.parallel)
        make().fit(units, labels)
    Path(result_path).write_text(str(time.perf_counter() - t))


def training_scale(scales: dict[int, int]) -> dict:
    """Per scale (-> number of runs): fit seconds and whole-process peak RSS."""
    rows_path, result, out = rows_file(), {}, BUILD / "fit_seconds.txt"
    n = len(json.loads(rows_path.read_text(encoding="utf-8")))
    for scale, runs in scales.items():
        seconds, rss = [], []
        for _ in range(runs):
            run = run_process([sys.executable, "-m", "benchmarks.bench_train", "fit", str(scale), str(rows_path), str(out)],
                              cwd=str(ROOT))
            seconds.append(float(out.read_text()))
            rss.append(run.peak_rss_mb)
        result[f"{scale}x"] = {"rows": n * scale, "fit_seconds": Figure(seconds, "s").as_dict(),
                               "peak_rss_mb": Figure(rss, "MB").as_dict()}
    return result


def grouped_cv_f1(n_splits: int = 5) -> dict:
    """Macro-F1 of mihwar's linear pipeline and of fastText on the same grouped folds of the train split."""
    import numpy as np
    from sklearn.metrics import f1_score

    from benchmarks.fasttext_baseline import predict_labels, train_fasttext
    from train.cv import grouped_folds

    config = bench_config()
    rows = train_rows()
    units = [(r["text"], r["context"]) for r in rows]
    y = np.array([r["label"] for r in rows])
    folds = grouped_folds(y, [r["article_id"] for r in rows], n_splits, 1, config.seed)
    make = linear_pipeline()
    f1 = {"mihwar": [], "fasttext": []}
    pooled = {"mihwar": np.empty(len(y), dtype=object), "fasttext": np.empty(len(y), dtype=object)}
    for fold in folds:
        pipe = make().fit([units[i] for i in fold.train], y[fold.train])
        ft = train_fasttext([rows[i]["text"] for i in fold.train], y[fold.train])
        pooled["mihwar"][fold.test] = pipe.predict([units[i] for i in fold.test])
        pooled["fasttext"][fold.test] = predict_labels(ft, [rows[i]["text"] for i in fold.test])
        for k in f1:
            f1[k].append(float(f1_score(y[fold.test], pooled[k][fold.test], labels=config.classes, average="macro", zero_division=0)))
    return {"folds": len(folds), "paragraphs": len(y),
            **{k: {**Figure(v, "macro-F1").as_dict(), "mean": float(np.mean(v)),
                   "pooled": float(f1_score(y, pooled[k].astype(str), labels=config.classes, average="macro", zero_division=0))}
               for k, v in f1.items()}}


if __name__ == "__main__" and sys.argv[1:2] == ["fit"]:
    fit_scaled(int(sys.argv[2]), sys.argv[3], sys.argv[4])
