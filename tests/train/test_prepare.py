import json
import shutil

import pytest

from tests.conftest import mihwar
from train.config import load_config
from train.prepare import PrepareError, collect_examples, label_counts
from train.prepare import run_prepare


def test_prepare_builds_a_datasets_dataset_with_classlabels(workdir):
    config = load_config("configs/default.yaml")
    counts, unlabeled = run_prepare(config, "configs/default.yaml")
    assert unlabeled == 0
    assert counts["train"]["drugs"] == 30 and counts["train"]["sanctions"] == 13
    from datasets import load_from_disk

    ds = load_from_disk("data/processed/default")
    assert ds["train"].features["label"].names == ["drugs", "counter_isis", "sanctions", "diplomacy", "other"]
    assert set(ds["train"].column_names) >= {"text", "article_id", "paragraph_index", "label"}
    corpus = ds["train"].filter(lambda r: r["origin"] == "corpus")
    assert len(corpus) == 92  # 97 paragraphs minus 5 `skip`
    assert set(ds["holdout"]["label"]) == {4}  # only out-of-scope news is held out


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
    rows = [json.loads(l) for l in mihwar("annotate", "configs/default.yaml", cwd=workdir).stdout.splitlines()]
    assert rows and all(r["article_id"] == "new_article" and r["label"] == "" for r in rows)
    with open(workdir / "data/annotations/paragraphs.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(rows[0], ensure_ascii=False) + "\n")
    with pytest.raises(PrepareError, match="label '' is not in the configured set"):
        collect_examples(load_config("configs/default.yaml"))


def test_holdout_split_is_stable_and_only_from_sources(workdir):
    a = label_counts(collect_examples(load_config("configs/default.yaml")))
    b = label_counts(collect_examples(load_config("configs/default.yaml")))
    assert a == b and set(a["holdout"]) == {"other"}
