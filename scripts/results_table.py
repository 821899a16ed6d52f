"""Print README's results table from reports/default/metrics.json (run after `dvc repro`)."""

import json
import sys
from pathlib import Path

m = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "reports/default/metrics.json").read_text(encoding="utf-8"))
cv, art, test = m["paragraph_cv"], m["article_cv"], m["test_split"]
fams = ("syria_off_axis", "same_vocabulary", "general_news")


def pct(v):
    return "n/a" if v is None else f"{100 * v:.1f} %"


TOPICS = ("drugs", "counter_isis", "sanctions", "diplomacy")


def cv_rows(d: dict, prefix: str, names: tuple[str, str, str]) -> None:
    """The macro-F1 ± std, per-topic recall and per-family false-topic rows of one CV view (keys ``prefix`` + name)."""
    print(f"| {names[0]} | {d[prefix + 'macro_f1']:.3f} ± {d[prefix + 'macro_f1_std']:.3f} |")
    print(f"| {names[1]} | " + " / ".join(f"{d[f'{prefix}recall.{t}']:.2f}" for t in TOPICS) + " |")
    print(f"| {names[2]} | " + " / ".join(pct(d.get(f"{prefix}false_topic_rate.{f}")) for f in fams) + " |")


def test_table(results: dict, with_ece: bool) -> None:
    """One row per model variant on the test split."""
    print("| model | topic macro-F1 [95 % CI] | recall counter_isis / diplomacy | given a topic: Syria off-axis / "
          "same vocabulary / general news |" + (" confidence ECE |\n|---|---|---|---|---|" if with_ece else "\n|---|---|---|---|"))
    for name, r in results.items():
        ci = r.get("macro_f1_topics_95ci", [None, None])
        print(f"| {name} | {r['macro_f1_topics']:.3f} [{ci[0]:.2f}, {ci[1]:.2f}] | {r.get('recall.counter_isis', 0):.2f} / "
              f"{r.get('recall.diplomacy', 0):.2f} | " + " / ".join(pct(r.get(f"false_topic_rate.{f}")) for f in fams)
              + (f" | {r['ece']:.3f} |" if with_ece else " |"))


print("Grouped CV (articles never on both sides; mean over repeats, ± std):\n")
print("| measure | value |\n|---|---|")
print(f"| paragraph macro-F1 (5 classes) | {cv['cv_macro_f1']:.3f} ± {cv['cv_macro_f1_std']:.3f} |")
print("| paragraph recall drugs / counter_isis / sanctions / diplomacy | "
      + " / ".join(f"{cv[f'cv_recall.{t}']:.2f}" for t in TOPICS) + " |")
print(f"| article macro-F1 (5 classes) | {art['macro_f1']:.3f} ± {art['macro_f1_std']:.3f} |")
print("| article recall drugs / counter_isis / sanctions / diplomacy | "
      + " / ".join(f"{art[f'recall.{t}']:.2f}" for t in TOPICS) + " |")
print("| out-of-scope articles given a topic: Syria off-axis / same vocabulary / general news | "
      + " / ".join(pct(art.get(f"false_topic_rate.{f}")) for f in fams) + " |")
if "without_gate_macro_f1" in art:
    cv_rows(art, "without_gate_", ("without the scope gate: article macro-F1",
                                   "without the scope gate: article recall drugs / counter_isis / sanctions / diplomacy",
                                   "without the scope gate: out-of-scope articles given a topic"))
if "cv_excerpt_macro_f1" in cv:
    cv_rows(cv, "cv_excerpt_", ("excerpts (each held-out paragraph alone, no gate): macro-F1 (5 classes)",
                                "excerpts: recall drugs / counter_isis / sanctions / diplomacy",
                                "excerpts: out-of-scope paragraphs given a topic"))
if "cv_gated_excerpt_macro_f1" in cv:
    cv_rows(cv, "cv_gated_excerpt_", ("excerpts with the scope gate, as labeling applies it: macro-F1 (5 classes)",
                                      "excerpts with the gate: recall drugs / counter_isis / sanctions / diplomacy",
                                      "excerpts with the gate: out-of-scope paragraphs given a topic"))
print(f"| article confidence ECE | {art['ece']:.3f} |")
seeds = m["seed_articles"]
print(f"| seed articles right (final model / out of fold) | {seeds['final_model_right']}/{seeds['n']} / "
      f"{seeds['out_of_fold_right']}/{seeds['n']} |\n")
print("Fixed test split (articles never trained or tuned on), article level; variants refitted on the same "
      "training split with the same decision rule:\n")
test_table(test, with_ece=True)
excerpts = m.get("test_split_excerpts") or {}
if excerpts:
    print("\nThe same test split as short excerpts: each held-out paragraph labeled alone, its gold label its own:\n")
    test_table(excerpts, with_ece=False)
first = next(iter(test.values()))
print(f"\n{first['articles']} test articles: " + ", ".join(f"{f} {first.get(f'articles.{f}', 0)}" for f in fams)
      + f"; in scope: {first['articles'] - sum(first.get(f'articles.{f}', 0) for f in fams)} ({', '.join(first['topics_present'])}).")
