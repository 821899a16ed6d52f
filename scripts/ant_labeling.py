"""Labeling work on the ANT Corpus: choose what to read, hand it out, collect what was read.

The selection below only decides *which* articles a person reads; every label comes
from reading them with data/annotations/GUIDELINE.md (never from these patterns).

    python scripts/ant_labeling.py packets ANT.jsonl build/labeling      # select, write reading packets
    python scripts/ant_labeling.py collect ANT.jsonl build/labeling      # labels -> corpus + annotations
    python scripts/ant_labeling.py packets2 ANT.jsonl build/labeling2    # round 2: select, write packets
    python scripts/ant_labeling.py append ANT.jsonl build/labeling2      # round 2 labels added to both files

Selected articles: every article whose title or text names Syria, Damascus, Daesh /
the Islamic State, captagon or Caesar; and a seeded random sample of near negatives
(the topics' vocabulary - drugs, sanctions, terrorism, envoys and talks - with none of
those names).

Round 2 (`packets2`, `append`): the articles of the Syria file that name none of those -
Syrian and Iraqi places, the Assads, al-Nusra, the Golan, Hezbollah, the Kurds, the
Coalition, and the "hotspots" (بؤر التوتر) that Tunisian news uses for Syria and Iraq -
among the articles round 1 did not select. Its labels are added to the corpus and
annotation files, which keep round 1's (adjudicated) rows as they are.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from predict.text import paragraph_hash, segment_article  # noqa: E402
from train.config import load_config  # noqa: E402
from train.corpus import SKIP  # noqa: E402

SCOPE = re.compile(r"سوري|دمشق|داعش|تنظيم الدولة|الدولة الإسلامية|كبتاغون|كبتاجون|كابتاغون|قيصر")
NEAR = {
    "drugs": re.compile(r"مخدر|زطلة|القنب|حشيش|كوكايين|هيروين|الحبوب المخدرة|أقراص مخدرة"),
    "sanctions": re.compile(r"عقوبات|العقوبات"),
    "terrorism": re.compile(r"إرهاب|ارهاب|إرهابي|ارهابي|تفجير|خلية"),
    "envoys": re.compile(r"مبعوث|المبعوث|مفاوضات|وقف إطلاق النار|مجلس الأمن"),
}
ROUND2 = re.compile(r"حلب|الرقة|إدلب|ادلب|دير الزور|الحسكة|القامشلي|منبج|عفرين|درعا|حمص|حماة|اللاذقية|تدمر |الغوطة|"
                    r"بشار|الأسد|النصرة|فتح الشام|تحرير الشام|الموصل|الفلوجة|الأنبار|الجولان|حزب الله|الأكراد|"
                    r"الكردية|التحالف الدولي|بؤر التوتر|بؤر القتال|مناطق النزاع|العائدين من|الإرهابيين العائدين")
NEAR_PER_FAMILY = {"drugs": 100, "sanctions": 80, "terrorism": 100, "envoys": 100}
SEED = 20261123
CORPUS_OUT = Path("data/raw/ant_labeled/articles.jsonl")
ANNOTATIONS_OUT = Path("data/annotations/ant_paragraphs.jsonl")
CONFIG = Path(__file__).resolve().parents[1] / "configs/default.yaml"  # the label set the annotations must use


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


def read_labels(ant: Path, out: Path) -> tuple[list[dict], list[dict], list[str]]:
    """Labelers' JSONL in ``out/labels`` (``{"article_id", "labels": [...]}`` or ``{"article_id", "article_label"}``)
    -> corpus rows, annotation rows keyed by paragraph hash, and the problems found."""
    rows = {r["id"]: r for r in map(json.loads, ant.read_text(encoding="utf-8").splitlines()) if r}
    selection = json.loads((out / "selection.json").read_text())
    family = {**{a: selection.get("name", "syria") for a in selection["scope"]}, **selection["near"]}
    allowed = set(load_config(CONFIG).classes) | {SKIP}
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
        labels = item.get("labels")
        if "article_label" in item:
            if item["article_label"] != "other":
                problems.append(f"{item['_where']}: {aid}: a whole-article label can only be other (no Syria link at all)")
                continue
            annotation = [{"article_id": aid, "label": item["article_label"], "level": "article"}]
        elif not isinstance(labels, list) or not set(labels) <= allowed:
            problems.append(f"{item['_where']}: {aid}: labels must be a list of {sorted(allowed)}, got {labels!r}")
            continue
        elif len(labels) != len(paragraphs):
            problems.append(f"{item['_where']}: {aid} has {len(paragraphs)} paragraphs, {len(labels)} labels")
            continue
        else:
            annotation = [{"article_id": aid, "paragraph_hash": paragraph_hash(p), "label": lab}
                          for p, lab in zip(paragraphs, labels)]
        corpus.append({k: row[k] for k in ("id", "category", "title", "time", "url", "text")} | {"selection": family.get(aid)})
        annotations += annotation
    return corpus, annotations, problems


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def collect(ant: Path, out: Path) -> None:
    """Round 1: the labels in ``out`` become the ANT corpus file and its annotations (both rewritten)."""
    corpus, annotations, problems = read_labels(ant, out)
    CORPUS_OUT.parent.mkdir(parents=True, exist_ok=True)
    CORPUS_OUT.write_text(_jsonl(corpus), encoding="utf-8")
    ANNOTATIONS_OUT.write_text(_jsonl(annotations), encoding="utf-8")
    _report(corpus, annotations, problems)


def packets2(ant: Path, out: Path) -> None:
    """Round 2: articles round 1 did not select whose title or text names a place or actor of `ROUND2`."""
    rows = [json.loads(line) for line in ant.read_text(encoding="utf-8").splitlines() if line.strip()]
    scope, near = select(rows)
    done = {r["id"] for r in scope} | {r["id"] for r in near}
    chosen = [r for r in rows if r["id"] not in done and ROUND2.search(r["title"] + "\n" + r["text"])]
    out.mkdir(parents=True, exist_ok=True)
    (out / "selection.json").write_text(json.dumps({"name": "syria_round2", "scope": [r["id"] for r in chosen], "near": {}},
                                                   indent=1))
    print(f"round 2: {len(chosen)} articles")
    write_packets(chosen, out, "round2", 3)


def append(ant: Path, out: Path) -> None:
    """Round 2: the labels in ``out`` added to the ANT corpus file and its annotations; an article
    already there is a problem, never overwritten, and so is an article whose labels are not valid
    (it is left out: correct its line and run `append` again)."""
    corpus, annotations, problems = read_labels(ant, out)
    have = {json.loads(line)["id"] for line in CORPUS_OUT.read_text(encoding="utf-8").splitlines() if line.strip()}
    again = {r["id"] for r in corpus} & have
    problems += [f"{aid}: already in {CORPUS_OUT}, left as it is" for aid in sorted(again)]
    corpus = [r for r in corpus if r["id"] not in again]
    annotations = [a for a in annotations if a["article_id"] not in again]
    for path, rows in ((CORPUS_OUT, corpus), (ANNOTATIONS_OUT, annotations)):
        text = path.read_text(encoding="utf-8")
        with path.open("a", encoding="utf-8") as f:
            f.write(("\n" if text and not text.endswith("\n") else "") + _jsonl(rows))
    _report(corpus, annotations, problems)


def _report(corpus: list[dict], annotations: list[dict], problems: list[str]) -> None:
    print(f"{len(corpus)} articles, {len(annotations)} annotation rows; {len(problems)} problems")
    for p in problems:
        print("  " + p)


if __name__ == "__main__":
    verb, ant, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    {"packets": packets, "collect": collect, "packets2": packets2, "append": append}[verb](ant, out)
