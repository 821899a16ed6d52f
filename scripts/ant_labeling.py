"""Labeling work on the ANT Corpus: choose what to read, hand it out, collect what was read.

The selection below only decides *which* articles a person reads; every label comes
from reading them with data/annotations/GUIDELINE.md (never from these patterns).

    python scripts/ant_labeling.py packets ANT.jsonl build/labeling      # select, write reading packets
    python scripts/ant_labeling.py collect ANT.jsonl build/labeling      # labels -> corpus + annotations

Selected articles: every article whose title or text names Syria, Damascus, Daesh /
the Islamic State, captagon or Caesar; and a seeded random sample of near negatives
(the topics' vocabulary - drugs, sanctions, terrorism, envoys and talks - with none of
those names).
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from predict.text import paragraph_hash, segment_article  # noqa: E402

SCOPE = re.compile(r"سوري|دمشق|داعش|تنظيم الدولة|الدولة الإسلامية|كبتاغون|كبتاجون|كابتاغون|قيصر")
NEAR = {
    "drugs": re.compile(r"مخدر|زطلة|القنب|حشيش|كوكايين|هيروين|الحبوب المخدرة|أقراص مخدرة"),
    "sanctions": re.compile(r"عقوبات|العقوبات"),
    "terrorism": re.compile(r"إرهاب|ارهاب|إرهابي|ارهابي|تفجير|خلية"),
    "envoys": re.compile(r"مبعوث|المبعوث|مفاوضات|وقف إطلاق النار|مجلس الأمن"),
}
NEAR_PER_FAMILY = {"drugs": 100, "sanctions": 80, "terrorism": 100, "envoys": 100}
SEED = 20261123
CORPUS_OUT = Path("data/raw/ant_labeled/articles.jsonl")
ANNOTATIONS_OUT = Path("data/annotations/ant_paragraphs.jsonl")


def article_text(row: dict) -> str:
    """What mihwar segments for an ANT article: its title line, then its text."""
    return f"{row['title']}\n{row['text']}"


def select(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    scope = [r for r in rows if SCOPE.search(r["title"] + "\n" + r["text"])]
    rng = random.Random(SEED)
    taken: set[str] = {r["id"] for r in scope}
    near = []
    for family, pattern in NEAR.items():
        pool = [r for r in rows if r["id"] not in taken and pattern.search(r["title"] + "\n" + r["text"])]
        pick = sorted(rng.sample(pool, min(NEAR_PER_FAMILY[family], len(pool))), key=lambda r: r["id"])
        for r in pick:
            taken.add(r["id"])
            near.append({**r, "_family": family})
    return scope, near


def write_packets(rows: list[dict], out: Path, name: str, n_packets: int) -> None:
    for k in range(n_packets):
        part = rows[k::n_packets]
        lines = []
        for r in part:
            paragraphs = segment_article(article_text(r))
            lines.append(f"## ARTICLE {r['id']}  ({r['category']}, {r['time'][:10]}, {len(paragraphs)} paragraphs)")
            for i, p in enumerate(paragraphs):
                lines.append(f"[{i}] {p}")
            lines.append("")
        (out / f"{name}_{k}.md").write_text("\n".join(lines), encoding="utf-8")
        print(f"{out / f'{name}_{k}.md'}: {len(part)} articles")


def packets(ant: Path, out: Path) -> None:
    rows = [json.loads(line) for line in ant.read_text(encoding="utf-8").splitlines() if line.strip()]
    scope, near = select(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "selection.json").write_text(json.dumps({"scope": [r["id"] for r in scope],
                                                    "near": {r["id"]: r["_family"] for r in near}}, indent=1))
    print(f"scope {len(scope)}, near negatives {len(near)}")
    write_packets(scope, out, "scope", 3)
    write_packets(near, out, "near", 2)


def collect(ant: Path, out: Path) -> None:
    """Labelers' JSONL (``{"article_id", "labels": [...]}`` or ``{"article_id", "article_label"}``)
    -> the ANT corpus file and its annotation rows, keyed by paragraph hash."""
    rows = {r["id"]: r for r in map(json.loads, ant.read_text(encoding="utf-8").splitlines()) if r}
    selection = json.loads((out / "selection.json").read_text())
    family = {**{a: "syria" for a in selection["scope"]}, **selection["near"]}
    labeled: dict[str, dict] = {}
    for path in sorted((out / "labels").glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                item = json.loads(line)
                labeled[item["article_id"]] = {**item, "_where": f"{path.name}:{n}"}
    corpus, annotations, problems = [], [], []
    for aid in sorted(labeled):
        item, row = labeled[aid], rows.get(aid)
        if row is None:
            problems.append(f"{item['_where']}: unknown article {aid}")
            continue
        paragraphs = segment_article(article_text(row))
        corpus.append({k: row[k] for k in ("id", "category", "title", "time", "url", "text")} | {"selection": family.get(aid)})
        if "article_label" in item:
            annotations.append({"article_id": aid, "label": item["article_label"], "level": "article"})
            continue
        labels = item["labels"]
        if len(labels) != len(paragraphs):
            problems.append(f"{item['_where']}: {aid} has {len(paragraphs)} paragraphs, {len(labels)} labels")
            continue
        annotations += [{"article_id": aid, "paragraph_hash": paragraph_hash(p), "label": lab}
                        for p, lab in zip(paragraphs, labels)]
    CORPUS_OUT.parent.mkdir(parents=True, exist_ok=True)
    CORPUS_OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in corpus), encoding="utf-8")
    ANNOTATIONS_OUT.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in annotations), encoding="utf-8")
    print(f"{len(corpus)} articles, {len(annotations)} annotation rows; {len(problems)} problems")
    for p in problems:
        print("  " + p)


if __name__ == "__main__":
    verb, ant, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    {"packets": packets, "collect": collect}[verb](ant, out)
