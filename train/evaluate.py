"""evaluate: reports on the trained model from its held-out predictions.

Reads the out-of-fold predictions written by `train` and the prepared holdout
split (out-of-scope articles never trained on); writes metrics.json, plots and
the misclassified table, and adds them to the training run in MLflow.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from train import metrics as M
from train.config import Config
from train.corpus import jsonl_lines


def plot_confusion(matrix: np.ndarray, classes: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", color="black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Out-of-fold paragraphs (grouped CV)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_per_class_f1(f1: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(list(f1), list(f1.values()), color="#3b6ea5")
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1")
    ax.set_title("Per-class F1, grouped CV (mean over repeats)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_misclassified(rows: list[dict[str, Any]], pred: list[str], probs: np.ndarray, path: Path) -> int:
    wrong = [(r, p, float(pr.max())) for r, p, pr in zip(rows, pred, probs) if r["label"] != p]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["article_id", "paragraph_index", "true", "predicted", "confidence", "text"])
        for r, p, c in wrong:
            w.writerow([r["article_id"], r["paragraph_index"], r["label"], p, round(c, 3), r["text"][:300]])
    return len(wrong)


SEED_ORIGINS = ("articles", "ant_subset.jsonl")  # the first round's data: the five seed articles + general news


def fit_with(fit: Any, data: tuple[list, list, list]) -> Any:
    return fit(*data)


def ablations(config: Config, rows: list[dict[str, Any]], base: Any, jobs: int | None = None) -> dict[str, Any]:
    """The same recipe refitted without a part, for the side-by-side table: the seed-only model
    (first-round data: too few articles per topic for a scope gate, so it has none), the model
    without the topic lexicon or without the scope gazetteer (both keep the model's scope gate),
    and the model itself without its scope gate."""
    from predict.model import TopicModel
    from train.parallel import map_folds
    from train.train import make_fit

    variants = {
        "seed_only": (config, [r for r in rows if r["origin"] in SEED_ORIGINS]),
        "no_lexicon": (config.model_copy(update={"features": config.features.model_copy(update={"lexicon": None})}), rows),
        "no_scope": (config.model_copy(update={"features": config.features.model_copy(update={"scope": None})}), rows),
    }
    tasks = [(make_fit(cfg), ([(r["text"], r["context"]) for r in subset], [r["label"] for r in subset],
                              [r["article_id"] for r in subset])) for cfg, subset in variants.values()]
    models = {}
    parallel = all(getattr(fit, "parallel_folds", False) for fit, _ in tasks)
    for name, scorer in zip(variants, map_folds(fit_with, tasks, jobs if parallel else 1)):  # one BLAS thread each
        gated = name != "seed_only" and base.gate is not None
        models[name] = TopicModel(scorer, {**base.meta, "classes": list(scorer.classes), "scope_gate": base.meta.get("scope_gate") if gated else None},
                                  base.gate if gated else None)
    if base.gate is not None:
        models["no_gate"] = TopicModel(base.scorer, {**base.meta, "scope_gate": None})
    return models


def seed_articles(config: Config, model: Any, oof_rows: list[dict[str, Any]], oof_probs: np.ndarray,
                  classes: list[str]) -> dict[str, Any]:
    """The five seed articles: gold label, the final model's label (trained on them) and the out-of-fold label."""
    from train.article_level import article_decisions
    from train.dataset import load_examples

    rows = [r for r in load_examples(config, "train") if r["origin"] == "articles"]
    texts = {r["article_id"]: r["context"] for r in rows}
    idx = [i for i, r in enumerate(oof_rows) if r["article_id"] in texts]
    gate_path = config.reports_dir / "cv" / "gate_oof.json"
    in_scope = None
    if model.meta.get("scope_gate"):
        if not gate_path.is_file():
            raise FileNotFoundError(f"{gate_path}: the model has a scope gate but its out-of-fold scores are missing; run `mihwar train` again")
        in_scope = {a: float(np.mean(v)) for a, v in json.loads(gate_path.read_text(encoding="utf-8")).items()}
    decided = article_decisions(oof_probs[idx], [oof_rows[i] for i in idx], classes, model.other_label,
                                model.threshold, model.min_topic_share, model.meta.get("scope_gate"), in_scope)
    final = dict(zip(texts, (p.label for p in model.predict_articles(list(texts.values())))))
    out = {d["article_id"]: {"gold": d["gold"], "final_model": final[d["article_id"]], "out_of_fold": d["pred"]} for d in decided}
    return {"articles": out, "final_model_right": sum(v["gold"] == v["final_model"] for v in out.values()),
            "out_of_fold_right": sum(v["gold"] == v["out_of_fold"] for v in out.values()), "n": len(out)}


def evaluate_holdout(config: Config, model: Any, classes: list[str], jobs: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model and its ablations on the fixed test split: article by article, and as short excerpts
    (each held-out paragraph labeled alone, gold its own label; `excerpt_items`)."""
    from train.article_level import article_items
    from train.dataset import load_examples
    from train.holdout import score_articles

    other = config.data.other_label
    held_out = load_examples(config, "holdout")
    articles, excerpts = article_items(held_out, other), excerpt_items(held_out)
    if not articles:
        return {}, {}
    variants = {"model": model}
    if config.model.type != "transformer":
        variants.update(ablations(config, load_examples(config, "train"), model, jobs))
    result = {name: score_articles(v, articles, classes, other) for name, v in variants.items()}
    alone = {name: score_articles(variants[name], excerpts, classes, other) for name in ("model", "no_gate", "seed_only")
             if name in variants}
    for r in (*result.values(), *alone.values()):
        r.pop("_pred", None)
    return result, alone


def excerpt_items(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each held-out paragraph as an article of its own: what a user labels when they paste an excerpt."""
    return [{"article_id": f"{r['article_id']}#{r['paragraph_index']}", "text": r["text"], "gold": r["label"],
             "family": r.get("family", "in_scope"), "origin": r.get("origin")} for r in rows]


def run_evaluate(config: Config, tracking_uri: str | None, jobs: int | None = None) -> list[str]:
    """evaluate stage: metrics.json, plots/, misclassified.csv, the test-split tables; added to the training run."""
    from predict.artifact import ModelNotFoundError, load_model

    if not Path(config.model_dir).exists():  # load_model's own message would suggest --model, which evaluate has not
        raise ModelNotFoundError(f"{config.model_dir}: no trained model there (the config's model_dir); run "
                                 "`mihwar train CONFIG` (or `dvc repro`) first")
    model = load_model(str(config.model_dir))
    meta, other, threshold = model.meta, config.data.other_label, model.threshold
    cv_dir, out = config.reports_dir / "cv", config.reports_dir
    classes = json.loads((cv_dir / "classes.json").read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in jsonl_lines((cv_dir / "oof.jsonl").read_text(encoding="utf-8"))]
    probs = np.array([r["probs"] for r in rows])
    pred = M.decisions(probs, classes, other, threshold)
    y = [r["label"] for r in rows]
    (out / "plots").mkdir(parents=True, exist_ok=True)
    plot_confusion(M.confusion(y, pred, classes), classes, out / "plots" / "confusion.png")
    plot_per_class_f1({c: meta["metrics"][f"cv_f1.{c}"] for c in classes}, out / "plots" / "per_class_f1.png")
    n_wrong = write_misclassified(rows, pred, probs, out / "misclassified.csv")
    test, excerpts = evaluate_holdout(config, model, classes, jobs)
    if test:
        write_holdout_reports(out / "test_split", test)
    cv = {k: round(v, 4) for k, v in meta["metrics"].items()}
    metrics = {
        "paragraph_cv": {k: v for k, v in cv.items() if not k.startswith("cv_article") and k != "gate_threshold"},
        "article_cv": {k[len("cv_article_"):]: v for k, v in cv.items() if k.startswith("cv_article")},
        "test_split": {name: {k: v for k, v in r.items() if k != "reliability"} for name, r in test.items()},
        "test_split_excerpts": {name: {k: v for k, v in r.items() if k != "reliability"} for name, r in excerpts.items()},
        "seed_articles": seed_articles(config, model, rows, probs, classes),
        "calibration": {"temperature": round(model.temperature, 4), "threshold": threshold, "scope_gate": meta.get("scope_gate"),
                        "article_confidence": meta.get("article_calibration")},
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False), encoding="utf-8")
    _log_to_run(meta.get("mlflow_run_id"), tracking_uri, metrics, out)  # from run.json, merged by read_meta
    seeds = metrics["seed_articles"]
    lines = [f"misclassified out-of-fold paragraphs: {n_wrong} (see {out / 'misclassified.csv'})",
             f"seed articles right: {seeds['final_model_right']}/{seeds['n']} (final model), "
             f"{seeds['out_of_fold_right']}/{seeds['n']} (out of fold)"]
    for name, r, unit in [*((n, r, "articles") for n, r in test.items()),
                          *((f"{n}, paragraphs alone", r, "paragraphs") for n, r in excerpts.items())]:
        fam = ", ".join(f"{k.split('.', 1)[1]} {v:.3f}" for k, v in r.items() if k.startswith("false_topic_rate."))
        lines.append(f"test split, {name}: macro-F1 over topics {r['macro_f1_topics']} (95% CI {r['macro_f1_topics_95ci']}; "
                     f"{'/'.join(r['topics_present'])}), "
                     f"{r['articles']} {unit}; out-of-scope given a topic: {fam}")
    return lines + [f"wrote {out / 'metrics.json'}, {out / 'plots'} and {out / 'test_split'}"]


def write_holdout_reports(directory: Path, test: dict[str, Any]) -> None:
    """The article-level reliability table of the model on the test split (DVC plot)."""
    directory.mkdir(parents=True, exist_ok=True)
    table = test["model"]["reliability"]
    with open(directory / "article_reliability.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(table[0]) if table else ["bin"])
        w.writeheader()
        w.writerows(table)


def _log_to_run(run_id: str | None, tracking_uri: str | None, metrics: dict[str, Any], out: Path) -> None:
    if not run_id:
        return
    import mlflow

    from train.config import flatten
    from train.tracking import resolve_tracking_uri

    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    with mlflow.start_run(run_id=run_id):
        flat = flatten({k: metrics[k] for k in ("article_cv", "test_split", "test_split_excerpts")})
        mlflow.log_metrics({f"eval.{k}": v for k, v in flat.items() if isinstance(v, (int, float)) and v is not None})
        mlflow.log_artifacts(str(out / "plots"), "plots")
        mlflow.log_artifact(str(out / "misclassified.csv"))
        mlflow.log_artifact(str(out / "metrics.json"))
