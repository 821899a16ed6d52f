"""The labeling loop's workers on in-memory data: add, suggest, Label Studio tasks and import."""

import json

import numpy as np
import pytest

from predict.text import paragraph_hash, segment_article
from train.corpus_add import known_articles, plan_additions, read_new_articles, write_article
from train.import_labels import plan_import, write_annotations
from train.label_studio import ExportedLabel, build_task, labeling_config, read_export
from train.corpus import read_folder as read_folder_corpus
from train.labeling_corpus import unlabeled
from train.suggest import Candidate, choose, score_candidates

CLASSES = ["drugs", "counter_isis", "sanctions", "diplomacy", "other"]
P = "فرضت وزارة الخزانة الأمريكية عقوبات جديدة على شبكة تهريب الكبتاغون في سوريا اليوم"
Q = "قال المبعوث الأممي إن الجولة الجديدة من المحادثات في جنيف ستبدأ الأسبوع المقبل"


def test_add_refuses_duplicates_by_content_and_keeps_provenance(tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [{"id": "a1", "text": P, "url": "https://x/1", "title": "عنوان"}, {"id": "a2", "text": P + "  "}, {"id": "a3", "text": Q}]
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    articles, errors = read_new_articles([str(src)])
    assert not errors and articles[0].url == "https://x/1" and articles[0].title == "عنوان"
    plan, refused = plan_additions(articles, known_articles({"seed": Q}))
    assert [a.input_id for _, a, _ in plan] == ["a1"]
    assert len(refused) == 2 and "duplicate of article a1_" in refused[0] and "duplicate of article seed" in refused[1]
    aid, article, sha = plan[0]
    write_article(tmp_path / "added", aid, article, sha)
    assert (tmp_path / "added" / f"{aid}.txt").read_text(encoding="utf-8") == P  # unedited
    [read] = read_folder_corpus(tmp_path / "added").values()
    assert (read.url, read.title, read.source) == ("https://x/1", "عنوان", f"{src}:1") and aid.startswith("a1_")


def test_add_refuses_a_copy_of_a_general_news_source_row(tmp_path):
    """A newcomer added the text of a general-news (ANT) source row: `add` took it, and `prepare` then silently
    dropped the source row from the dataset, before anyone had labeled the copy."""
    from train.config import load_config
    from train.corpus_add import source_texts

    sources = load_config("configs/default.yaml").data.sources
    texts = source_texts(sources)
    some_id, some_text = next(iter(texts.items()))
    src = tmp_path / "copy.txt"
    src.write_text(some_text, encoding="utf-8")
    articles, _ = read_new_articles([str(src)])
    plan, refused = plan_additions(articles, known_articles(texts))
    assert not plan and f"duplicate of article {some_id}" in refused[0]


def cand(aid, i, key, probs, hits, source="s"):
    return Candidate(aid, i, key, key, source), probs, hits


def test_suggest_ranks_uncertain_and_disagreeing_first_and_spreads_over_articles():
    rows = [cand("A", i, f"a{i}", [0.5, 0.45, 0, 0, 0.05], [0, 0, 0, 0]) for i in range(5)]  # unsure: drugs vs isis
    rows += [cand("B", 0, "b0", [0, 0, 0, 0.02, 0.98], [0, 0, 2, 0]),  # sure 'other', but the lexicon says sanctions
             cand("C", 0, "c0", [0, 0, 0.99, 0, 0.01], [0, 0, 2, 0]),  # sure and agreeing: last
             cand("D", 0, "d0", [0, 0.6, 0, 0, 0.4], [0, 0, 0, 0], source="t")]
    cands = score_candidates([r[0] for r in rows], np.array([r[1] for r in rows], float), CLASSES,
                             np.array([r[2] for r in rows], float), ["drugs", "counter_isis", "sanctions", "diplomacy"], "other")
    batch = choose(cands, limit=6, seed=1, per_article=2)
    assert sum(c.article_id == "A" for c in batch) == 2  # one article cannot fill the batch
    assert batch[0].article_id == "A"  # the least sure first
    assert {c.model_label for c in batch[:3]} == {"other", "drugs", "counter_isis"}  # round-robin over labels
    b, c = [x.key for x in batch].index("b0"), [x.key for x in batch].index("c0")
    assert b < c and batch[b].disagrees  # equally sure, but the lexicon disagrees: asked first
    assert [c.key for c in choose(cands, 6, 1, 2)] == [c.key for c in batch]  # deterministic
    assert [c.key for c in choose(cands, 3, 1, strategy="random")] != [c.key for c in choose(cands, 3, 2, strategy="random")]


def test_task_has_context_and_a_prediction_and_config_is_rtl():
    paragraphs = [P, Q, P + " ثانية"]
    c = Candidate("art", 1, Q, paragraph_hash(Q), "src", {"diplomacy": 0.7, "other": 0.3}, {}, "diplomacy", 0.4, "diplomacy")
    task = build_task(c, paragraphs, "عنوان", "https://x", "model123")
    d = task["data"]
    assert (d["before"], d["text"], d["after"], d["title"]) == (P, Q, P + " ثانية", "عنوان")
    assert d["paragraph_hash"] == paragraph_hash(Q) and d["article_id"] == "art" and d["source"] == "src"
    [pred] = task["predictions"]
    assert pred["model_version"] == "model123" and pred["result"][0]["value"]["choices"] == ["diplomacy"]
    assert "annotations" not in task
    xml = labeling_config(CLASSES)
    assert "direction: rtl" in xml and all(f'value="{c}"' in xml for c in CLASSES + ["skip"])


def export_task(tid, aid, h, annotations, level="paragraph", text=P):
    return {"id": tid, "data": {"article_id": aid, "paragraph_hash": h, "level": level, "text": text},
            "annotations": annotations, "predictions": [{"result": [{"from_name": "label", "type": "choices", "value": {"choices": ["drugs"]}}]}]}


def ann(label, who=1, cancelled=False):
    return {"id": who * 10, "completed_by": who, "was_cancelled": cancelled, "updated_at": "2026-01-01T00:00:00Z",
            "result": [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]}


def test_import_takes_only_human_labels_reports_unmatched_and_conflicts(tmp_path):
    articles = {"x": f"{P}\n{Q}", "y": Q}
    hp, hq = paragraph_hash(P), paragraph_hash(Q)
    old_file = tmp_path / "paragraphs.jsonl"
    existing = {old_file: [{"article_id": "x", "paragraph_hash": hq, "label": "other"}]}
    tasks = [export_task(1, "x", hp, [ann("sanctions")]),
             export_task(2, "x", hq, [ann("diplomacy")]),  # contradicts the file
             export_task(3, "y", hq, []),  # prediction only: never a label
             export_task(4, "y", hq, [ann("other", cancelled=True)]),  # skipped in Label Studio
             export_task(5, "x", "deadbeefdeadbeef", [ann("drugs")]),  # paragraph no longer there
             export_task(6, "y", None, [ann("other")], level="article"),
             export_task(7, "y", hq, [ann("drugs", 1), ann("sanctions", 2)])]  # annotators disagree
    labels, notes = read_export(tasks)
    assert [l.task_id for l in labels] == [1, 2, 5, 6] and "task 7" in notes[0]
    files = {"x": old_file, "y": old_file}
    plan = plan_import(labels, articles, files, existing, set(CLASSES) | {"skip"}, prefer=None)
    assert plan.added == 2 and len(plan.problems) == 1 and "deadbeefdeadbeef" in plan.problems[0]
    assert len(plan.conflicts) == 1 and "'other'" in plan.conflicts[0] and "--prefer" in plan.conflicts[0]
    write_annotations(plan, {old_file: []})
    rows = [json.loads(l) for l in old_file.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["label"] == "other"  # never silently overwritten
    assert rows[1]["label"] == "sanctions" and rows[1]["annotator"] == "label-studio-user:1" and rows[1]["ls_task_id"] == 1
    assert rows[2] == {**rows[2], "article_id": "y", "label": "other", "level": "article"} and "paragraph_hash" not in rows[2]
    newer = plan_import(labels[1:2], articles, files, {old_file: rows}, set(CLASSES), prefer="new")
    assert newer.replaced == 1 and newer.rows[old_file][0]["label"] == "diplomacy"


def test_import_refuses_what_would_contradict_itself(tmp_path):
    """Found by an adversarial pass: two tasks of one export labeling a paragraph differently wrote the first as
    settled; an article label silently overrode its paragraphs' human labels at `prepare`; --prefer new replaced
    only the first of two rows of a paragraph; an annotation with two choices imported the first."""
    articles = {"x": f"{P}\n{Q}"}
    hp, hq = paragraph_hash(P), paragraph_hash(Q)
    f = tmp_path / "paragraphs.jsonl"
    both = [{"article_id": "x", "paragraph_hash": hq, "label": "other"}] * 2
    tasks = [export_task(1, "x", hp, [ann("sanctions")]), export_task(2, "x", hp, [ann("other")]),
             export_task(3, "x", None, [ann("sanctions")], level="article"),
             export_task(4, "x", hq, [ann("diplomacy")]),
             {**export_task(5, "x", hq, [ann("drugs")]), "annotations": [{**ann("drugs"), "result": [
                 {"from_name": "label", "type": "choices", "value": {"choices": ["drugs", "other"]}}]}]},
             "not a task", export_task(7, "x", hq, "oops")]
    labels, notes = read_export(tasks)
    assert [l.task_id for l in labels] == [1, 2, 3, 4]
    assert any("task 5" in n and "several topics" in n for n in notes)
    assert any("task #6" in n for n in notes) and any("task #7" in n and "annotations" in n for n in notes)
    by_task = {l.task_id: l for l in labels}
    plan = plan_import([by_task[t] for t in (1, 2, 4)], articles, {"x": f}, {f: list(both)}, set(CLASSES), prefer="new")
    assert sum("tasks of this export disagree" in p for p in plan.problems) == 2  # tasks 1 and 2: neither imported
    assert plan.replaced == 1 and [r["label"] for r in plan.rows[f]] == ["diplomacy"]  # both old rows of hq replaced
    plan = plan_import([by_task[3]], articles, {"x": f}, {f: list(both)}, set(CLASSES), prefer="new")
    assert any("task 3" in c and "must agree" in c for c in plan.conflicts)  # article 'sanctions', its paragraph 'other'
    assert plan.rows[f] == both  # nothing imported, nothing changed
    plan = plan_import(labels, articles, {"x": f}, {f: list(both)}, set(CLASSES), prefer="new")
    assert sum("tasks of this export disagree" in p for p in plan.problems) == 4  # the article task against its paragraphs'
    nameless = [ExportedLabel(None, "x", hp, "paragraph", lab, P, [], None, []) for lab in ("drugs", "other")]
    nameless.append(ExportedLabel(None, "x", hq, "paragraph", "other", Q, [], None, []))
    plan = plan_import(nameless, articles, {"x": f}, {f: []}, set(CLASSES), prefer=None)
    assert len(plan.problems) == 2 and plan.added == 1  # tasks without ids: the third is not caught up with the two
    with pytest.raises(ValueError, match="a JSON list of tasks"):
        read_export({"tasks": []})
    placeholder = [{"article_id": "x", "paragraph_hash": hp, "label": ""}, {"article_id": "x", "paragraph_hash": hq, "label": ""}]
    whole = {"article_id": "x", "level": "article", "label": "sanctions"}
    kept = plan_import([by_task[4]], articles, {"x": f}, {f: [*placeholder, whole]}, set(CLASSES), prefer=None)
    assert kept.conflicts and kept.rows[f] == [*placeholder, whole]  # a refused label leaves its placeholder
    assert unlabeled(articles, placeholder) == [("x", 0, P), ("x", 1, Q)]  # `mihwar annotate` rows: not labeled yet
    [four] = [l for l in labels if l.task_id == 4]
    filled = plan_import([four], articles, {"x": f}, {f: list(placeholder)}, set(CLASSES), prefer=None)
    assert not filled.conflicts and filled.added == 1  # was a conflict: "says '', Label Studio says 'diplomacy'"
    assert [r["label"] for r in filled.rows[f]] == ["", "diplomacy"]  # in the placeholder's place


def test_a_failed_write_leaves_annotations_and_articles_whole(tmp_path, monkeypatch):
    """An interrupted `add` left empty .meta.json/.txt files that broke every later command; a full disk tore
    the annotation file that `import-labels --prefer new` rewrote in place. Writes are now whole or nothing."""
    import os

    from train.files import append_atomically, write_atomically

    f = tmp_path / "a.jsonl"
    f.write_text('{"a":1}', encoding="utf-8")  # no final line break, compact: kept byte for byte
    append_atomically(f, '{"b": 2}\n')
    assert f.read_text(encoding="utf-8") == '{"a":1}\n{"b": 2}\n'
    real = os.replace

    def full_disk(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError) as err:
        write_atomically(f, "torn")
    assert err.value.filename == str(f) and f.read_text(encoding="utf-8") == '{"a":1}\n{"b": 2}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl"]  # no temporary file left behind
    monkeypatch.setattr(os, "replace", real)
    sidecar = tmp_path / "added" / "z.meta.json"
    sidecar.parent.mkdir()
    sidecar.write_text("", encoding="utf-8")
    (tmp_path / "added" / "z.txt").write_text(P, encoding="utf-8")
    with pytest.raises(Exception, match=r"z\.meta\.json: broken article sidecar"):
        read_folder_corpus(tmp_path / "added")


def test_unlabeled_skips_labeled_paragraphs_and_whole_articles():
    articles = {"x": f"{P}\n{Q}", "y": Q}
    rows = [{"article_id": "x", "paragraph_hash": paragraph_hash(P), "label": "drugs"},
            {"article_id": "y", "label": "other", "level": "article"}]
    assert unlabeled(articles, rows) == [("x", 1, segment_article(articles["x"])[1])]


def test_lexicon_counts_match_the_models_lexicon_feature():
    from train.suggest import lexicon_counts

    counts, topics = lexicon_counts([P, Q, "نص لا علاقة له"], {"drugs": ["الكبتاغون"], "sanctions": ["عقوبات", "الخزانة"]})
    assert topics == ["drugs", "sanctions"]
    assert np.allclose(counts, np.log1p([[1, 2], [0, 0], [0, 0]]))


def test_suggest_command_writes_tasks_offline_with_a_trained_model(workdir, trained_model_dir):
    """`mihwar suggest` end to end, as a user runs it before opening Label Studio."""
    from tests.conftest import mihwar

    refused = mihwar("suggest", "configs/default.yaml", "--model", str(trained_model_dir), cwd=workdir, check=False)
    assert refused.returncode == 1 and "every paragraph of the corpora is labeled" in refused.stderr
    mihwar("add", "data/samples/un_ceasefire_vote.txt", cwd=workdir)
    n = len(segment_article((workdir / "data/samples/un_ceasefire_vote.txt").read_text(encoding="utf-8")))
    args = ["suggest", "configs/default.yaml", "--model", str(trained_model_dir), "--limit", "50", "--per-article", "50", "--seed", "3"]
    out = mihwar(*args, "--output", "out/tasks.json", cwd=workdir)
    tasks = json.loads((workdir / "out/tasks.json").read_text(encoding="utf-8"))
    assert len(tasks) == n and len(out.stdout.strip().splitlines()) == n  # every new paragraph, once
    assert "Traceback" not in out.stderr and (workdir / "out/labeling_config.xml").is_file()
    assert mihwar(*args, "--output", "out/again.json", cwd=workdir).stdout == out.stdout  # a seed gives one batch


def test_learning_curve_simulation_runs_on_the_shipped_corpora(tmp_path):
    """`make learning-curve` in one short round: the held-out split is apart from the corpus test split."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = tmp_path / "lc"
    proc = subprocess.run([sys.executable, "scripts/learning_curve.py", "configs/default.yaml", "--seeds", "1", "--rounds", "1",
                           "--batch", "5", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "learning_curve.json").read_text(encoding="utf-8"))
    assert report["split"] == "article" and report["test"] > 100 and report["test_labels"]["counter_isis"] > 0
    rounds = report["summary"]["suggest"]
    assert [r["n_labeled"] - rounds[0]["n_labeled"] for r in rounds] == [0, 5]
    assert (out / "learning_curve.png").stat().st_size > 0
