import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest

from tests.conftest import mihwar
from train.config import load_config
from train.prepare import PrepareError, collect_examples, label_counts
from train.duplicates import opening_key, duplicate_groups
from train.prepare import Example, drop_copies, run_prepare


def test_prepare_builds_a_datasets_dataset_with_classlabels(workdir):
    config = load_config("configs/default.yaml")
    counts, unlabeled, copies = run_prepare(config, "configs/default.yaml")
    assert unlabeled == 0
    from datasets import load_from_disk

    ds = load_from_disk("data/processed/default")
    assert ds["train"].features["label"].names == ["drugs", "counter_isis", "sanctions", "diplomacy", "other"]
    assert set(ds["train"].column_names) >= {"text", "article_id", "paragraph_index", "label", "context", "family"}
    seeds = ds["train"].filter(lambda r: r["origin"] == "articles")
    assert len(seeds) == 92  # 97 paragraphs minus 5 `skip`
    names = ds["train"].features["label"].names
    assert sum(names[x] == "drugs" for x in seeds["label"]) == 30 and sum(names[x] == "sanctions" for x in seeds["label"]) == 13
    assert set(ds["holdout"]["origin"]) == {"ant_labeled", "ant_subset.jsonl"}  # the seeds are never held out
    assert not set(ds["train"]["article_id"]) & set(ds["holdout"]["article_id"])
    # ANT files some stories twice under two ids: one copy is kept, and no text is on both sides
    left_out = {c.left_out: c.kept for c in copies}
    assert left_out["JA-internationalNews-495-20151109"] == "JA-internationalNews-294-20151109"
    # two titles one letter apart over the same body are one story too
    assert left_out["JA-localNews-2810-20170305"] == "JA-localNews-2209-20170305"
    assert json.loads(Path("data/processed/default/copies_left_out.json").read_text()) == [asdict(c) for c in copies]
    sides = {split: {opening_key(c) for c in ds[split]["context"]} for split in ("train", "holdout")}
    assert not sides["train"] & sides["holdout"]
    assert {"syria_off_axis", "same_vocabulary", "general_news", "in_scope"} <= set(ds["holdout"]["family"])


def test_prepare_rejects_an_annotation_whose_paragraph_changed(workdir):
    article = next((workdir / "data/raw/articles").glob("003_*.txt"))
    text = article.read_text(encoding="utf-8")
    article.write_text(text.replace("ثم تحدث عن أهمية قانون قيصر", "ثم تحدث مطولا عن أهمية قانون قيصر"), encoding="utf-8")
    config = load_config("configs/default.yaml")
    with pytest.raises(PrepareError) as err:
        collect_examples(config)
    msg = str(err.value)
    assert "data/annotations/paragraphs.jsonl:" in msg and "no longer exists" in msg and article.stem in msg


def test_prepare_rejects_a_label_outside_the_configured_set(workdir):
    path = workdir / "data/annotations/paragraphs.jsonl"
    rows = path.read_text(encoding="utf-8").splitlines()
    row = json.loads(rows[4])
    row["label"] = "economy"
    rows[4] = json.dumps(row, ensure_ascii=False)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(PrepareError, match=r"paragraphs.jsonl:5: label 'economy' is not in the configured set"):
        collect_examples(load_config("configs/default.yaml"))


def test_cli_prepare_fails_with_one_clear_line(workdir):
    (workdir / "data/annotations/paragraphs.jsonl").write_text('{"article_id": "x"\n', encoding="utf-8")
    proc = mihwar("prepare", "configs/default.yaml", cwd=workdir, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: data/annotations/paragraphs.jsonl:1: broken annotation row")
    assert "Traceback" not in proc.stderr


def test_annotate_lists_new_paragraphs_and_unfilled_rows_fail(workdir):
    shutil.copy(next((workdir / "data/samples").glob("un_*.txt")), workdir / "data/raw/articles/new_article.txt")
    proc = mihwar("annotate", "configs/default.yaml", cwd=workdir)
    rows = [json.loads(l) for l in proc.stdout.splitlines()]
    assert rows and all(r["article_id"] == "new_article" and r["label"] == "" for r in rows)
    assert f"{len(rows)} corpus paragraphs have no label (rows above, on stdout)" in proc.stderr  # said to a person
    with open(workdir / "data/annotations/paragraphs.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(rows[0], ensure_ascii=False) + "\n")
    with pytest.raises(PrepareError, match="label '' is not in the configured set"):
        collect_examples(load_config("configs/default.yaml"))


def test_holdout_split_is_stable(workdir):
    a = label_counts(collect_examples(load_config("configs/default.yaml")))
    b = label_counts(collect_examples(load_config("configs/default.yaml")))
    assert a == b and {"other", "counter_isis", "diplomacy"} <= set(a["holdout"])


def test_two_rows_for_one_paragraph_with_different_labels_are_an_error_naming_both(workdir):
    path = workdir / "data/annotations/paragraphs.jsonl"
    rows = path.read_text(encoding="utf-8").splitlines()
    row = json.loads(rows[0])
    row["label"] = "sanctions" if row["label"] != "sanctions" else "drugs"
    path.write_text("\n".join(rows + [json.dumps(row, ensure_ascii=False)]) + "\n", encoding="utf-8")
    with pytest.raises(PrepareError) as err:
        collect_examples(load_config("configs/default.yaml"))
    assert f"paragraphs.jsonl:1 and {path.relative_to(workdir)}:{len(rows) + 1}" in str(err.value)
    assert "labeled both" in str(err.value)


def test_annotate_shows_the_whole_paragraph(workdir):
    article = next((workdir / "data/samples").glob("un_*.txt"))
    shutil.copy(article, workdir / "data/raw/articles/new_article.txt")
    rows = [json.loads(l) for l in mihwar("annotate", "configs/default.yaml", cwd=workdir).stdout.splitlines()]
    assert max(len(r["text"]) for r in rows) > 80 and all(r["text"] in article.read_text(encoding="utf-8") for r in rows)


def test_copies_of_one_text_are_one_group_whatever_their_spacing_or_punctuation():
    a = "قال المبعوث الأممي إلى سوريا، اليوم الإثنين: إن الجولة المقبلة ستبدأ قريبا."
    ids = ["b-2", "a-1", "b-2", "c-3", "d-4", "e-5"]
    texts = [a, a.replace("، ", " ,  ").replace(":", " -"), a, a[:-5] + "تأجلت.", "", ""]
    # the two spellings of one text are one group named by its smallest id; a changed ending
    # inside the key is another text; empty texts are each their own group
    assert duplicate_groups(ids, texts) == ["a-1", "a-1", "a-1", "c-3", "d-4", "e-5"]
    long = "كلمة " * 100
    assert duplicate_groups(["x", "y"], [long + "النهاية الأولى", long + "نهاية أخرى"]) == ["x", "x"]


def test_an_added_copy_never_displaces_a_corpus_article_from_the_test_split():
    title, body = "عنوان الخبر", "وقال المبعوث الأممي إن الجولة المقبلة من المحادثات ستبدأ في جنيف. " * 8
    ant = Example("p", "JA-internationalNews-1-20170101", 0, "diplomacy", "holdout", "ant_labeled", f"{title}\n{body}")
    # a user's .txt of the same story, body only, one sentence added, its name sorting before "JA-"
    added = Example("p", "2017-01-01-update_ab12", 0, "other", "train", "added", body + " وأضاف أن الوفود وصلت.")
    other = Example("p", "JA-sport-2-20170101", 0, "other", "train", "ant_labeled", "مباراة الأحد انتهت بالتعادل.")
    kept, copies = drop_copies([added, ant, other], ["articles", "ant_labeled", "added"])
    assert [e.article_id for e in kept] == ["JA-internationalNews-1-20170101", "JA-sport-2-20170101"]
    assert kept[0].split == "holdout" and kept[0].label == "diplomacy"
    assert [(c.left_out, c.kept, c.left_out_origin, c.kept_origin) for c in copies] == [
        ("2017-01-01-update_ab12", "JA-internationalNews-1-20170101", "added", "ant_labeled")]
    # without the config's order, the smallest id would win and take the story out of the test split
    assert [e.article_id for e in drop_copies([added, ant, other])[0]][0] == "2017-01-01-update_ab12"


def test_text_with_unicode_line_separators_goes_through_annotate_and_prepare(workdir):
    """A JSON string may hold U+2028/U+2029, U+0085 and \\x1c-\\x1e unescaped; `str.splitlines` split rows at them,
    and an annotated article holding one failed `prepare` with a broken row."""
    odd = "قال المبعوث الأممي\u2028إن المحادثات حول سوريا\x1cستستأنف\u2029في جنيف\x85الأسبوع المقبل"
    (workdir / "data/raw/articles/odd_separators.txt").write_text(odd + "\n\nوأضاف أن الوفود وصلت إلى جنيف.\n",
                                                                encoding="utf-8")
    proc = mihwar("annotate", "configs/default.yaml", cwd=workdir)
    rows = [json.loads(line) for line in proc.stdout.split("\n") if line.strip()]
    assert any("\u2028" in json.dumps(r, ensure_ascii=False) for r in rows)
    with open(workdir / "data/annotations/paragraphs.jsonl", "a", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({**r, "label": "other"}, ensure_ascii=False) + "\n")
    examples = [e for e in collect_examples(load_config("configs/default.yaml")) if e.article_id == "odd_separators"]
    assert len(examples) == len(rows) and any("\u2028" in e.text for e in examples)
