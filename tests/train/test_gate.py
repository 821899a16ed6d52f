"""The scope gate: its veto rule, its threshold choice, its export, and its place in `TopicModel.predict_articles`
(which every labeling path calls: CLI, server, Spark, MLflow pyfunc, `suggest`)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from predict.artifact import ModelNotFoundError, load_model
from predict.model import gate_label
from tests.conftest import ROOT
from train.metrics import classification_metrics
from train.gate import (
    GATE_THRESHOLDS,
    IN_SCOPE,
    choose_gate,
    gate_probability,
    gated_topics,
)

CLASSES = ["drugs", "counter_isis", "sanctions", "diplomacy", "other"]


def test_the_gate_vetoes_only_gated_topics_under_its_threshold():
    gated = ["counter_isis", "diplomacy"]
    assert gate_label("counter_isis", 0.1, gated, 0.3, "other") == "other"
    assert gate_label("counter_isis", 0.3, gated, 0.3, "other") == "counter_isis"  # at the threshold: kept
    assert gate_label("drugs", 0.0, gated, 0.3, "other") == "drugs"  # not gated: too few articles to judge
    assert gate_label("other", 0.0, gated, 0.3, "other") == "other"
    assert gate_label("diplomacy", 0.0, gated, 0.3, None) == "diplomacy"  # nothing to veto to


def test_only_topics_with_enough_articles_are_gated():
    gold = ["counter_isis"] * 25 + ["diplomacy"] * 20 + ["drugs"] * 2 + ["other"] * 50
    assert gated_topics(gold, CLASSES[:4], 20) == ["counter_isis", "diplomacy"]
    assert gated_topics(gold, CLASSES[:4], 21) == ["counter_isis"]
    assert gated_topics(gold, CLASSES[:4], 100) == []


def _decided(gold: list[str], pred: list[str]) -> list[dict]:
    return [{"gold": g, "pred": p} for g, p in zip(gold, pred)]


def test_the_threshold_follows_the_out_of_fold_articles():
    # 10 in-scope articles the gate is sure of, 10 off-axis ones given a topic the gate doubts
    gold = ["counter_isis"] * 10 + ["other"] * 10
    pred = ["counter_isis"] * 10 + ["counter_isis"] * 10
    oof = np.array([[0.9] * 10 + [0.05] * 10])
    t, score = choose_gate([_decided(gold, pred)], oof, ["counter_isis"], CLASSES, "other")
    assert 0.05 < t <= max(GATE_THRESHOLDS) and score == 1.0
    # the same, but the gate is wrong about the in-scope ones: no veto beats any veto
    oof_wrong = np.array([[0.05] * 10 + [0.9] * 10])
    t, score = choose_gate([_decided(gold, pred)], oof_wrong, ["counter_isis"], CLASSES, "other")
    assert t == 0.0
    # a topic that is not gated is never vetoed, whatever its gate score
    t, score = choose_gate([_decided(gold, pred)], oof, ["diplomacy"], CLASSES, "other")
    assert t == max(GATE_THRESHOLDS)  # no threshold changes anything: the tie goes to the stricter gate


def test_the_stricter_threshold_wins_when_the_data_cannot_tell_them_apart():
    """The one-standard-error rule: 0.3 is best by one article of 200, well within the standard error, so a
    stricter threshold (which also vetoes the off-axis articles the gate scores 0.35) is taken; when the
    stricter threshold costs many in-scope articles, it is not."""
    rng = np.random.default_rng(3)
    n_in, n_off = 120, 80
    gold = ["counter_isis"] * n_in + ["other"] * n_off
    pred = ["counter_isis"] * (n_in + n_off)
    gate = np.concatenate([rng.uniform(0.65, 1.0, n_in), rng.uniform(0.0, 0.15, n_off - 6), [0.35] * 6])
    gate_close = gate.copy()
    gate_close[:7] = 0.35  # 7 in-scope articles beside the 6 off-axis ones: 0.3 is best, by one article
    decided = [_decided(gold, pred)]
    scores = {t: classification_metrics(gold, [gate_label(p, g, ["counter_isis"], t, "other") for p, g in
                                               zip(pred, gate_close)], CLASSES)["macro_f1"] for t in (0.3, 0.4)}
    assert 0 < scores[0.3] - scores[0.4] < 0.01
    t, score = choose_gate(decided, gate_close[None, :], ["counter_isis"], CLASSES, "other")
    assert t >= 0.4 and score == round(scores[0.4], 3)
    gate_far = gate.copy()
    gate_far[:30] = 0.35  # 30 in-scope articles there: a stricter gate costs a quarter of the topic
    t, score = choose_gate([_decided(gold, pred)], gate_far[None, :], ["counter_isis"], CLASSES, "other")
    assert t == 0.3


def test_the_exported_gate_computes_what_the_pipeline_computes(tmp_path, monkeypatch):
    """The gate as data (no pickle) gives scikit-learn's P(in scope) within 1e-6 on every shipped article."""
    from predict.linear import load_linear, save_linear
    from train.article_level import gold_article_label, group_by_article
    from train.config import load_config
    from train.linear import LinearModelConfig, build_pipeline, export_scorer
    from train.prepare import collect_examples

    monkeypatch.chdir(ROOT)
    config = load_config("configs/default.yaml")
    rows = [e for e in collect_examples(config)]
    groups = group_by_article([r.article_id for r in rows])
    texts = [rows[idx[0]].context for idx in groups.values()]
    gold = [gold_article_label([rows[i].label for i in idx], [rows[i].text for i in idx], "other") for idx in groups.values()]
    train = [i for i, idx in enumerate(groups.values()) if rows[idx[0]].split == "train"]
    labels = [IN_SCOPE if gold[i] != "other" else "other" for i in train]
    model = LinearModelConfig(C_grid=[config.scope_gate.C], class_weight="balanced", solver="newton-cg")
    pipeline = build_pipeline(config.features, model, config.scope_gate.C, config.seed).fit([(texts[i], texts[i]) for i in train], labels)
    save_linear(tmp_path / "gate", export_scorer(pipeline, None))
    gate = load_linear(tmp_path / "gate")
    ours = gate_probability(gate, texts)
    theirs = pipeline.predict_proba([(t, t) for t in texts])[:, list(pipeline.classes_).index(IN_SCOPE)]
    assert len(texts) > 1000
    assert np.abs(ours - theirs).max() < 1e-6


def test_a_trained_model_carries_its_gate_into_labeling(trained_model_dir, tmp_path):
    model = load_model(str(trained_model_dir))
    gate = model.meta["scope_gate"]
    assert model.gate is not None and gate["topics"] and "drugs" not in gate["topics"]
    assert gate["threshold"] in GATE_THRESHOLDS
    raw = ("أعلن التحالف الدولي بقيادة الولايات المتحدة أن طائراته قصفت مواقع لتنظيم داعش قرب دير الزور في سوريا، "
           "وقال المتحدث باسم التحالف إن الغارات دمرت مستودعات أسلحة للتنظيم.")
    [pred] = model.predict_articles([raw], explain=3)
    assert pred.label == "counter_isis"
    in_scope = float(gate_probability(model.gate, [raw])[0])
    assert pred.explanation[0] == {"feature": "scope_gate", "in_scope": pytest.approx(in_scope, abs=1e-4),
                                   "threshold": gate["threshold"], "vetoed": False}
    assert in_scope >= gate["threshold"]
    # the same article under a stricter gate is vetoed, and says so
    strict = load_model(str(trained_model_dir))
    strict.meta["scope_gate"] = {**gate, "threshold": min(1.0, in_scope + 0.01)}
    [vetoed] = strict.predict_articles([raw], explain=3)
    assert vetoed.label == "other" and vetoed.explanation[0]["vetoed"] is True
    # meta naming a gate without its files is a clear error, not a silently ungated model
    broken = tmp_path / "broken"
    shutil.copytree(trained_model_dir, broken)
    shutil.rmtree(broken / "gate")
    with pytest.raises(ModelNotFoundError, match="gate"):
        load_model(str(broken))


def test_training_reports_the_gate_beside_the_model_without_it(trained_model_dir):
    meta = json.loads((trained_model_dir / "meta.json").read_text(encoding="utf-8"))
    m = meta["metrics"]
    assert "cv_article_without_gate_macro_f1" in m and "cv_article_false_topic_rate.syria_off_axis" in m
    assert m["gate_threshold"] == meta["scope_gate"]["threshold"]
    # a veto can only remove topics: the gated model never gives more out-of-scope articles a topic
    for family in ("syria_off_axis", "same_vocabulary", "general_news"):
        key = f"cv_article_false_topic_rate.{family}"
        if key in m:
            assert m[key] <= m[f"cv_article_without_gate_false_topic_rate.{family}"] + 1e-12


def test_a_stricter_gate_that_costs_excerpts_is_not_taken():
    """The gate acts on an excerpt as on an article: with each article's paragraph also scored alone, a stricter
    threshold that the articles cannot tell apart but that vetoes a third of the in-scope excerpts is not taken."""
    from train.gate import Excerpts

    rng = np.random.default_rng(3)
    n_in, n_off = 120, 80
    gold = ["counter_isis"] * n_in + ["other"] * n_off
    pred = ["counter_isis"] * (n_in + n_off)
    gate = np.concatenate([rng.uniform(0.65, 1.0, n_in), rng.uniform(0.0, 0.15, n_off - 6), [0.35] * 6])
    gate[:7] = 0.35  # as in the test above: on articles alone, a stricter threshold is taken
    decided = [_decided(gold, pred)]
    assert choose_gate(decided, gate[None, :], ["counter_isis"], CLASSES, "other")[0] >= 0.4
    alone = gate.copy()
    alone[7:47] = 0.35  # 40 in-scope paragraphs read alone look less in scope than their articles
    excerpts = Excerpts([pred], alone[None, :], gold, list(range(n_in + n_off)))
    t, score = choose_gate(decided, gate[None, :], ["counter_isis"], CLASSES, "other", excerpts=excerpts)
    assert t == 0.3


def test_the_gate_choice_scores_articles_as_the_reported_metrics_do():
    """`choose_gate`'s fast macro-F1 (a confusion matrix per resample) equals `classification_metrics`."""
    from train.gate import _mean_macro_f1

    rng = np.random.default_rng(5)
    for _ in range(300):
        n = int(rng.integers(1, 60))
        gold, pred = rng.integers(0, 5, (2, n)), rng.integers(0, 5, (2, n))
        gold[:, : n // 2] = rng.integers(1, 3, (2, n // 2))  # classes missing from the gold labels, too
        pick = rng.integers(0, n, n)
        expected = np.mean([classification_metrics([CLASSES[i] for i in g[pick]], [CLASSES[i] for i in p[pick]],
                                                   CLASSES)["macro_f1"] for g, p in zip(gold, pred)])
        assert abs(_mean_macro_f1(gold, pred, pick, len(CLASSES)) - expected) < 1e-12
