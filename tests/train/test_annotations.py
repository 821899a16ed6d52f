import json
from collections import Counter
from pathlib import Path

from predict.text import paragraph_hash, segment_article
from train.prepare import SKIP

ROOT = Path(__file__).resolve().parents[2]
TOPICS = {"drugs", "counter_isis", "sanctions", "diplomacy"}


def annotations():
    return [json.loads(l) for l in (ROOT / "data/annotations/paragraphs.jsonl").read_text(encoding="utf-8").splitlines()]


def test_every_paragraph_of_the_corpus_has_exactly_one_annotation():
    keys = Counter((a["article_id"], a["paragraph_hash"]) for a in annotations())
    assert all(n == 1 for n in keys.values())
    for path in sorted((ROOT / "data/raw/articles").glob("*.txt")):
        for p in segment_article(path.read_text(encoding="utf-8")):
            assert (path.stem, paragraph_hash(p)) in keys, f"{path.stem}: unlabeled paragraph {p[:60]}"


def test_labels_are_topics_other_or_skip_and_every_topic_is_used():
    counts = Counter(a["label"] for a in annotations())
    assert set(counts) <= TOPICS | {"other", SKIP}
    assert TOPICS <= set(counts)
    assert counts == {"counter_isis": 32, "drugs": 30, "sanctions": 13, "other": 9, "diplomacy": 8, SKIP: 5}


def test_guideline_covers_each_topic_and_the_mixed_rules():
    text = (ROOT / "data/annotations/GUIDELINE.md").read_text(encoding="utf-8")
    for word in ("drugs", "counter_isis", "sanctions", "diplomacy", "other", "skip", "Mixed", "Syria file", "بؤر التوتر"):
        assert word in text


def ant_rows(name):
    return [json.loads(l) for l in (ROOT / "data/annotations" / name).read_text(encoding="utf-8").splitlines()]


def test_every_labeled_ant_article_is_labeled_whole_or_paragraph_by_paragraph():
    from train.corpus import read_jsonl_corpus

    articles = read_jsonl_corpus(ROOT / "data/raw/ant_labeled/articles.jsonl")
    rows = ant_rows("ant_paragraphs.jsonl")
    whole = {r["article_id"] for r in rows if r.get("level") == "article"}
    keyed = Counter((r["article_id"], r["paragraph_hash"]) for r in rows if r.get("level") != "article")
    assert set(articles) == whole | {a for a, _ in keyed} and not whole & {a for a, _ in keyed}
    assert all(n == 1 for n in keyed.values())
    for aid, article in articles.items():
        if aid not in whole:
            hashes = {paragraph_hash(p) for p in segment_article(article.text)}
            assert hashes == {h for a, h in keyed if a == aid}, aid
    assert {r["label"] for r in rows if r.get("level") == "article"} == {"other"}  # whole rows are only for no-link articles


def test_the_second_reading_covers_a_tenth_of_the_ant_articles():
    rows = ant_rows("ant_second_reading.jsonl")
    first = {(r["article_id"], r.get("paragraph_hash")) for r in ant_rows("ant_paragraphs.jsonl")}
    read = {a for a, _ in first}
    assert len({r["article_id"] for r in rows}) >= len(read) // 10  # at least 10 % of the labeled ANT articles
    assert {r["article_id"] for r in rows} <= read
