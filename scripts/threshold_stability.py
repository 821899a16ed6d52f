"""How much does the abstention threshold `mihwar train` picks depend on which CV repeats it saw?

    python scripts/threshold_stability.py [--config configs/default.yaml] [--repeats 6] [--pairs-of 2]

`mihwar train` picks the paragraph threshold and article topic share on the out-of-fold
predictions of `evaluation.n_repeats` grouped-CV repeats (2 in the default config; more cost
CI and quickstart time). This script runs the same CV with ``--repeats`` repeats, then applies
the same choice (`train.article_level.pick_decision`) to every subset of ``--pairs-of`` repeats,
and prints, for each pick, how far its score on all repeats is from the best score on all
repeats (the regret). A choice that moves a lot at no regret is noise among equals; one with
a large regret would mean too few repeats. Nothing passes or fails; about 4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.article_level import criterion_tables, pick_decision  # noqa: E402
from train.config import load_config  # noqa: E402
from train.cv import train_model  # noqa: E402
from train.dataset import load_examples  # noqa: E402
from train.train import THRESHOLDS, TOPIC_SHARES, make_fit  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/default.yaml")
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--pairs-of", type=int, default=2, help="repeats per subset (the config's n_repeats)")
    args = ap.parse_args()
    config = load_config(args.config)
    config.evaluation.n_repeats = args.repeats
    rows = load_examples(config, "train")
    result = train_model([(r["text"], r["context"]) for r in rows], [r["label"] for r in rows],
                         [r["article_id"] for r in rows], config, make_fit(config))
    tables = criterion_tables(result.oof_probs, rows, result.classes, config.data.other_label, THRESHOLDS,
                              TOPIC_SHARES, result.excerpt_probs)
    full = tables.mean(axis=0)
    best = float(full.max())
    print(f"{len(rows)} training paragraphs, {args.repeats} repeats of {config.evaluation.n_splits}-fold grouped CV")
    print("threshold | best share | score on all repeats (mean) | per repeat")
    for ti, t in enumerate(THRESHOLDS):
        si = int(full[ti].argmax())
        print(f"{t:9.2f} | {TOPIC_SHARES[si]:10.1f} | {full[ti, si]:27.4f} | "
              + " ".join(f"{x:.3f}" for x in tables[:, ti].max(axis=1)))
    picks = []
    for subset in itertools.combinations(range(args.repeats), args.pairs_of):
        t, s, _ = pick_decision(tables[list(subset)].mean(axis=0), THRESHOLDS, TOPIC_SHARES)
        picks.append((t, best - float(full[THRESHOLDS.index(t), TOPIC_SHARES.index(s)])))
    t_all, s_all, _ = pick_decision(full, THRESHOLDS, TOPIC_SHARES)
    counts = ", ".join(f"{t:.2f} x{n}" for t, n in sorted(Counter(t for t, _ in picks).items()))
    regrets = [r for _, r in picks]
    print(f"picks on {len(picks)} subsets of {args.pairs_of} repeats: {counts}")
    print(f"regret (best score on all repeats minus the pick's): mean {np.mean(regrets):.4f}, max {max(regrets):.4f}")
    print(f"pick on all {args.repeats} repeats: threshold {t_all:.2f}, share {s_all:.1f}")


if __name__ == "__main__":
    main()
