"""Does `mihwar suggest` choose better paragraphs to label than chance? A simulation on labeled data.

Start from a small labeled set, then in rounds add ``--batch`` paragraphs from the rest of the
labeled pool, chosen by `suggest`'s strategy (margin + lexicon disagreement + spread) or at
random; after each round retrain (the configured linear model, C fixed) and score macro-F1 on a
fixed held-out split. Several seeds give the spread. The labels of the pool are only revealed
when a paragraph is chosen, as an annotator would reveal them.

Start set: ``--start-per-class`` paragraphs per class drawn from the pool (by seed), plus the
whole first annotated corpus (the seed articles) when another corpus also has labels.
Held-out: 30% of articles by a salted stable hash when there are at least 20 topical
articles (the seed articles stay in the pool), else 30% of paragraphs. It is drawn from the
training part only: the corpora's fixed test split is never read. Macro-F1 is over the
classes the held-out split has.

    python scripts/learning_curve.py configs/default.yaml   # -> reports/learning_curve/{csv,json,png}
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from predict.model import TopicModel  # noqa: E402
from train.config import load_config, load_lexicon  # noqa: E402
from train.corpus import corpus_name  # noqa: E402
from train.linear import build_pipeline, export_scorer  # noqa: E402
from train.prepare import collect_examples  # noqa: E402
from train.suggest import Candidate, rank  # noqa: E402
from train.train import term_features  # noqa: E402


def stable_fraction(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 16**8


def seed_corpus(config, examples) -> str | None:
    """The first configured corpus (the seed articles) when the examples come from more than one, else None."""
    first = corpus_name(Path(config.data.corpora[0].path)) if config.data.corpora else None
    origins = {e.origin for e in examples}
    return first if len(origins) > 1 and first in origins else None


def split(examples, other_label, seeds: str | None = None):
    """Fixed held-out split, by article when there are enough topical articles.

    The hash is salted: the corpus's own test split (`holdout_fraction`) uses the unsalted one, and
    the examples here are what is left of it. The ``seeds`` corpus (the start set) stays whole in the pool.
    """
    topical_articles = {e.article_id for e in examples if e.label != other_label}
    by_article = len(topical_articles) >= 20
    key = (lambda e: e.article_id) if by_article else (lambda e: f"{e.article_id}#{e.paragraph_index}")
    held = lambda e: e.origin != seeds and stable_fraction("learning-curve:" + key(e)) < 0.3  # noqa: E731
    return [e for e in examples if not held(e)], [e for e in examples if held(e)], "article" if by_article else "paragraph"


def start_set(rest, classes, per_class, seed, seeds: str | None):
    """``per_class`` paragraphs per class drawn (seeded) from the pool, plus the whole ``seeds``
    corpus (the seed articles) when there is one: each seed starts elsewhere."""
    rng = np.random.default_rng(seed)
    chosen = [i for i, e in enumerate(rest) if e.origin == seeds]
    taken = set(chosen)
    for c in classes:
        idx = [i for i, e in enumerate(rest) if e.label == c and i not in taken]
        if idx:
            chosen += list(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    return sorted(int(i) for i in chosen)


def unit(e):
    """What the model reads: the paragraph and its whole article."""
    return (e.text, e.context or e.text)


def fit(config, terms, units, labels, seed, C):
    pipe = build_pipeline(config.features, config.model, C, seed, terms).fit(units, labels)
    scorer = export_scorer(pipe, terms)
    return TopicModel(scorer, {"classes": list(scorer.classes), "other_label": config.data.other_label})


def macro_f1(model, test, classes):
    from sklearn.metrics import f1_score

    probs = model.paragraph_probs([e.text for e in test], [e.context or e.text for e in test])
    pred = [model.classes[i] for i in probs.argmax(axis=1)]
    present = [c for c in classes if any(e.label == c for e in test)]  # a class the split lacks has no F1
    return float(f1_score([e.label for e in test], pred, labels=present, average="macro", zero_division=0))


def simulate(config, lexicon, rest, test, strategy, seed, args, seeds):
    labeled = set(start_set(rest, config.classes, args.start_per_class, seed, seeds))
    terms = term_features(config)
    curve = []
    for r in range(args.rounds + 1):
        units = [unit(rest[i]) for i in sorted(labeled)]
        labels = [rest[i].label for i in sorted(labeled)]
        model = fit(config, terms, units, labels, seed, args.C)
        curve.append({"strategy": strategy, "seed": seed, "round": r, "n_labeled": len(labeled),
                      "macro_f1": round(macro_f1(model, test, config.classes), 4),
                      "label_mix": dict(Counter(labels))})
        if r == args.rounds:
            break
        pool = [i for i in range(len(rest)) if i not in labeled]
        cands = [Candidate(rest[i].article_id, rest[i].paragraph_index, rest[i].text, str(i), rest[i].origin, context=rest[i].context)
                 for i in pool]
        chosen = rank(cands, model, lexicon, args.batch, seed, args.per_article, strategy)
        labeled |= {int(c.key) for c in chosen}
    return curve


def summarize(rows):
    out = {}
    for strategy in sorted({r["strategy"] for r in rows}):
        for n_round in sorted({r["round"] for r in rows}):
            f1 = [r["macro_f1"] for r in rows if r["strategy"] == strategy and r["round"] == n_round]
            n = [r["n_labeled"] for r in rows if r["strategy"] == strategy and r["round"] == n_round]
            out.setdefault(strategy, []).append({"round": n_round, "n_labeled": int(np.mean(n)), "macro_f1_mean": round(float(np.mean(f1)), 4),
                                                 "macro_f1_std": round(float(np.std(f1)), 4), "min": min(f1), "max": max(f1)})
    return out


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for strategy, pts in summary.items():
        x = [p["n_labeled"] for p in pts]
        m = np.array([p["macro_f1_mean"] for p in pts])
        s = np.array([p["macro_f1_std"] for p in pts])
        ax.plot(x, m, marker="o", label=strategy)
        ax.fill_between(x, m - s, m + s, alpha=0.2)
    ax.set_xlabel("labeled paragraphs")
    ax.set_ylabel("held-out macro-F1 (mean ± std over seeds)")
    ax.set_title("Learning curve: suggest vs random")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config", nargs="?", default="configs/default.yaml")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--start-per-class", type=int, default=3)
    ap.add_argument("--per-article", type=int, default=3)
    ap.add_argument("--C", type=float, default=10.0)
    ap.add_argument("--out", type=Path, default=Path("reports/learning_curve"))
    args = ap.parse_args()
    config = load_config(args.config)
    lexicon = load_lexicon(config.features.lexicon, config.data.labels) if config.features.lexicon else None
    examples = [e for e in collect_examples(config) if e.split == "train"]
    seeds = seed_corpus(config, examples)
    rest, test, split_kind = split(examples, config.data.other_label, seeds)
    rows = []
    for seed in range(args.seeds):
        for strategy in ("suggest", "random"):
            rows += simulate(config, lexicon, rest, test, strategy, seed, args, seeds)
            print(f"seed {seed} {strategy}: " + " ".join(f"{r['macro_f1']:.3f}" for r in rows if r["seed"] == seed and r["strategy"] == strategy),
                  file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "learning_curve.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["strategy", "seed", "round", "n_labeled", "macro_f1", "label_mix"])
        w.writeheader()
        w.writerows({**r, "label_mix": json.dumps(r["label_mix"])} for r in rows)
    summary = summarize(rows)
    meta = {"config": args.config, "pool": len(rest), "test": len(test), "split": split_kind, "batch": args.batch,
            "rounds": args.rounds, "seeds": args.seeds, "test_labels": dict(Counter(e.label for e in test))}
    (args.out / "learning_curve.json").write_text(json.dumps({**meta, "summary": summary}, indent=2), encoding="utf-8")
    plot(summary, args.out / "learning_curve.png")
    for strategy, pts in summary.items():
        print(f"{strategy:8s} " + "  ".join(f"{p['n_labeled']}:{p['macro_f1_mean']:.3f}±{p['macro_f1_std']:.3f}" for p in pts))


if __name__ == "__main__":
    main()
