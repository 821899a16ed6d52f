from dataclasses import asdict

import numpy as np
import pytest

from predict.artifact import load_model, read_meta
from train import metrics as M
from train.config import load_config
from train.prepare import collect_examples
from train.train import make_fit, train_and_calibrate
from train.cv import grouped_folds, train_model
from tests.conftest import FAST


def test_grouped_folds_never_put_an_article_on_both_sides():
    rng = np.random.default_rng(0)
    groups = [f"a{i}" for i in rng.integers(0, 30, 300)]
    labels = [["x", "y", "z"][hash(g) % 3] for g in groups]
    folds = grouped_folds(labels, groups, n_splits=5, n_repeats=3, seed=1)
    assert len(folds) == 15
    for f in folds:
        train_groups = {groups[i] for i in f.train}
        test_groups = {groups[i] for i in f.test}
        assert not train_groups & test_groups
    for r in range(3):  # each repeat covers every example exactly once as test
        tested = np.concatenate([f.test for f in folds if f.repeat == r])
        assert sorted(tested) == list(range(300))


def test_temperature_recovers_overconfidence():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 2000)
    true_logits = rng.normal(size=(2000, 3))
    true_logits[np.arange(2000), y] += 1.0
    assert M.fit_temperature(true_logits * 4, y) == pytest.approx(4, rel=0.15)


def test_threshold_choice_follows_the_coverage_curve():
    curve = [{"threshold": 0.0, "selective_accuracy": 0.7, "accuracy": 0.8, "macro_f1": 0.6},
             {"threshold": 0.5, "selective_accuracy": 0.86, "accuracy": 0.82, "macro_f1": 0.7},
             {"threshold": 0.9, "selective_accuracy": 0.95, "accuracy": 0.9, "macro_f1": 0.5}]
    assert M.choose_threshold(curve, 0.85) == 0.5
    assert M.choose_threshold(curve, 0.99) == 0.5  # unreachable target: the best macro-F1, not the most accurate
    assert M.choose_threshold(curve, None) == 0.5


def test_fast_training_is_reproducible_and_honest(workdir):
    """The same model twice, once with its folds in this process and once on two worker processes."""
    config = load_config("configs/default.yaml", FAST)
    rows = [asdict(e) for e in collect_examples(config) if e.split == "train"]
    first, _, _ = train_and_calibrate(config, rows, jobs=1)
    second, _, _ = train_and_calibrate(config, rows, jobs=2)
    assert first.metrics == second.metrics
    assert np.array_equal(first.oof_probs, second.oof_probs) and np.array_equal(first.excerpt_probs, second.excerpt_probs)
    assert np.array_equal(first.scorer.coef_t, second.scorer.coef_t)
    assert first.gate is not None and np.array_equal(first.gate.coef_t, second.gate.coef_t)
    assert first.gate_meta == second.gate_meta and all(np.array_equal(first.gate_oof[a], second.gate_oof[a]) for a in first.gate_oof)
    probe = ["فرضت وزارة الخزانة الأمريكية عقوبات على شبكة لتهريب الكبتاغون"]
    assert np.array_equal(first.scorer.logits(probe), second.scorer.logits(probe))
    args = ([(r["text"], r["context"]) for r in rows], [r["label"] for r in rows])
    # held-out figures, not training fit: the final model scores its own training data higher
    fitted = first.scorer.logits([u[0] for u in args[0]], [u[1] for u in args[0]]).argmax(axis=1)
    train_acc = np.mean(np.array(first.scorer.classes)[fitted] == np.array(args[1]))
    assert first.metrics["cv_accuracy"] < train_acc
    assert 0 < first.metrics["cv_macro_f1"] < 1
    # the excerpt view: the same held-out paragraphs scored alone; identical where the paragraph is its whole article
    alone = first.excerpt_probs
    assert alone.shape == first.oof_probs.shape and not np.isnan(alone).any()
    whole = np.array([p == c for p, c in args[0]])
    assert np.allclose(alone[:, whole], first.oof_probs[:, whole]) and not np.allclose(alone[:, ~whole], first.oof_probs[:, ~whole])


def test_excerpt_view_adds_each_paragraph_of_a_longer_article_alone():
    from train.linear import with_excerpt_view

    units = [("p1", "p1\np2"), ("p2", "p1\np2"), ("solo", "solo")]
    got = with_excerpt_view(units, ["a", "b", "c"], ["A", "A", "S"])
    assert got == (units + [("p1", "p1"), ("p2", "p2")], ["a", "b", "c", "a", "b"], ["A", "A", "S", "A", "A"])


def test_excerpt_cv_reports_recall_and_false_topics_per_family():
    from train.article_level import excerpt_cv

    classes = ["drugs", "other"]
    rows = [{"label": "drugs", "family": "in_scope"}, {"label": "other", "family": "same_vocabulary"},
            {"label": "other", "family": "same_vocabulary"}]
    probs = np.array([[[0.9, 0.1], [0.6, 0.4], [0.1, 0.9]]])  # the second out-of-scope paragraph given a topic
    m = excerpt_cv(probs, rows, classes, "other", threshold=0.5)
    assert m["cv_excerpt_recall.drugs"] == 1.0 and m["cv_excerpt_false_topic_rate.same_vocabulary"] == 0.5
    assert excerpt_cv(probs, rows, classes, "other", threshold=0.7)["cv_excerpt_false_topic_rate.same_vocabulary"] == 0.0
    # with the gate as labeling applies it: a gated topic whose paragraph alone reads out of scope is vetoed
    gate = {"topics": ["drugs"], "threshold": 0.3}
    m = excerpt_cv(probs, rows, classes, "other", threshold=0.5, gate=(gate, np.array([[0.9, 0.1, 0.5]])))
    assert m["cv_gated_excerpt_false_topic_rate.same_vocabulary"] == 0.0 and m["cv_gated_excerpt_recall.drugs"] == 1.0
    assert m["cv_excerpt_false_topic_rate.same_vocabulary"] == 0.5  # the ungated figures stay as they were
    m = excerpt_cv(probs, rows, classes, "other", threshold=0.5, gate=(gate, np.array([[0.2, 0.1, 0.5]])))
    assert m["cv_gated_excerpt_recall.drugs"] == 0.0  # the gate can cost recall too


def test_the_threshold_is_chosen_in_a_good_region_not_on_a_lone_spike():
    from train.article_level import smoothed

    # rows: thresholds in order; columns: topic shares. One article flipping gives the 5th
    # threshold a spike; thresholds 2-4 are good together.
    scores = np.array([[0.60, 0.50], [0.70, 0.50], [0.71, 0.50], [0.70, 0.50], [0.64, 0.50], [0.76, 0.50], [0.63, 0.50]])
    assert np.unravel_index(np.argmax(scores), scores.shape) == (5, 0)
    s = smoothed(scores)
    assert np.unravel_index(np.argmax(s), s.shape) == (2, 0)
    assert s[0, 0] == pytest.approx(0.65) and s[-1, 0] == pytest.approx(0.695)  # the ends: one neighbour
    assert np.allclose(s[:, 1], 0.5)  # each share column on its own


def test_artifact_round_trip_labels_raw_text(trained_model_dir):
    meta = read_meta(trained_model_dir)
    assert meta["backend"] == "linear" and meta["format"] == "mihwar-model/2" and meta["config"]["model"]["type"] == "logreg"
    assert not list(trained_model_dir.rglob("*.joblib")) and not list(trained_model_dir.rglob("*.pkl"))
    assert len(meta["data_version"]) == 16 and 0 <= meta["threshold"] <= 1
    model = load_model(str(trained_model_dir))
    raw = "أعلنت وزارة الخزانة الأميركية فرض عقوبات جديدة بموجب «قانون قيصر» على رجال أعمال مرتبطين بالنظام السوري."
    [pred] = model.predict_articles([raw], paragraphs=True, explain=5)
    assert set(pred.scores) == {"drugs", "counter_isis", "sanctions", "diplomacy", "other"}
    assert sum(pred.scores.values()) == pytest.approx(1, abs=1e-3)
    assert pred.label == "sanctions"
    assert pred.paragraphs and pred.explanation and all(e["weight"] > 0 for e in pred.explanation)
    # the artifact alone is enough: a copy elsewhere gives the same scores
    import shutil

    copy = trained_model_dir.parent / "copied"
    shutil.copytree(trained_model_dir, copy)
    assert load_model(str(copy)).predict_articles([raw])[0].scores == pred.scores


@pytest.mark.parametrize("damage, said", [
    ("meta null", "meta.json: not readable model metadata (a JSON NoneType, not an object)"),
    ("meta list", "meta.json: not readable model metadata (a JSON list, not an object)"),
    ("run.json broken", "run.json: not readable model metadata"),
    ("coef of another shape", "coef.npy holds 3 x 3 weights; the vocabularies and terms need 5 x "),
    ("intercept of another shape", "intercept.npy has shape (2,), expected (5,)"),
    ("idf of another length", "vocab_0.json holds "),
    ("idf of integers", "idf_0.npy holds int64 values, expected floating-point numbers"),
    ("idf of strings", "idf_0.npy holds <U"),
    ("coef with a NaN", "coef.npy holds values that are not finite (NaN or infinite)"),
    ("classes that disagree", "meta.json names the classes"),
])
def test_a_model_whose_files_do_not_fit_is_refused_at_load(trained_model_dir, tmp_path, damage, said):
    """Metadata that is JSON but not an object gave "unexpected AttributeError"; arrays of the wrong shape loaded
    and then failed every row ("index 8955 is out of bounds"); arrays of integers, strings or NaN, and classes
    that meta.json and the scorer order differently, loaded and gave wrong or NaN scores. All are now refused
    when the model loads, by the error every unusable model gives (`ModelNotFoundError`: one line, exit 2)."""
    import shutil

    from predict.artifact import ModelNotFoundError

    folder = shutil.copytree(trained_model_dir, tmp_path / "model")
    linear = folder / "linear"
    if damage.startswith("meta"):
        (folder / "meta.json").write_text("null" if damage == "meta null" else "[]", encoding="utf-8")
    elif damage == "run.json broken":
        (folder / "run.json").write_text("{", encoding="utf-8")
    elif damage == "coef of another shape":
        np.save(linear / "coef.npy", np.zeros((3, 3)))
    elif damage.startswith("intercept"):
        np.save(linear / "intercept.npy", np.zeros(2))
    elif damage == "idf of integers":
        np.save(linear / "idf_0.npy", np.load(linear / "idf_0.npy").astype(np.int64))
    elif damage == "idf of strings":
        np.save(linear / "idf_0.npy", np.load(linear / "idf_0.npy").astype(str))
    elif damage == "coef with a NaN":
        coef = np.load(linear / "coef.npy")
        coef[0, 0] = np.nan
        np.save(linear / "coef.npy", coef)
    elif damage == "classes that disagree":  # scores would be named by meta.json's order, computed in spec.json's
        import json

        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        meta["classes"] = meta["classes"][::-1]
        (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    else:
        np.save(linear / "idf_0.npy", np.load(linear / "idf_0.npy")[:-1])
    with pytest.raises(ModelNotFoundError) as info:
        load_model(str(folder))
    assert said in str(info.value) and "\n" not in str(info.value)


def test_a_model_replaced_while_it_loads_is_refused(trained_model_dir, tmp_path, monkeypatch):
    """The version was hashed after the arrays were read: a folder replaced in between (a `dvc checkout`, a copy)
    gave a model made of two versions, named by the newer one, and a pool's helper could label with it beside a
    parent holding the older one. The folder is now hashed before and after; here another writer negates
    coef.npy right after the scorer is read. And a metadata file replaced by something that is not an object
    while it is hashed is the one-line error, not "unexpected TypeError"."""
    import shutil

    import predict.artifact as artifact
    from predict.artifact import ModelNotFoundError, content_id

    folder = shutil.copytree(trained_model_dir, tmp_path / "model")
    read, swapped = artifact._linear, []

    def read_then_swap(path):
        scorer = read(path)
        if not swapped:
            coef = folder / "linear" / "coef.npy"
            np.save(coef, -np.load(coef))
            swapped.append(coef)
        return scorer

    monkeypatch.setattr(artifact, "_linear", read_then_swap)
    with pytest.raises(ModelNotFoundError, match="the model's files changed while it loaded"):
        load_model(str(folder))
    monkeypatch.setattr(artifact, "_linear", read)
    assert load_model(str(folder)).identity == content_id(folder) != content_id(trained_model_dir)  # settled: loads
    (folder / "meta.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ModelNotFoundError, match="not readable model metadata"):
        content_id(folder)


def test_training_and_labeling_clean_text_with_the_same_function(trained_model_dir):
    from predict.features import TermFeatures
    from predict.text import normalize_arabic
    from train.features import NormalizeUnits

    raw = "وقّعت «الخزانة» الأمريكيـــة ٣ قرارات"
    assert NormalizeUnits().transform([(raw, raw)]) == [(normalize_arabic(raw), normalize_arabic(raw))]
    scorer = load_model(str(trained_model_dir)).scorer
    assert scorer.spec["normalization"] == "predict.text.normalize_arabic"
    terms = TermFeatures.from_json(scorer.spec["terms"])
    names = terms.names()
    vec = terms.vector(normalize_arabic("بالكبتاغون"), None)
    assert vec[names.index("lexicon:drugs")] > 0  # clitic-tolerant
    linked = terms.vector(normalize_arabic("ضبط شحنة مخدرات"), terms.article_link(normalize_arabic("ضبط شحنة مخدرات قادمة من سوريا")))
    unlinked = terms.vector(normalize_arabic("ضبط شحنة مخدرات"), terms.article_link(normalize_arabic("ضبط شحنة مخدرات في صفاقس")))
    assert linked[names.index("lexicon:drugs|linked")] > 0 and unlinked[names.index("lexicon:drugs|linked")] == 0
    assert unlinked[names.index("lexicon:drugs|unlinked")] > 0


def test_abstention_only_when_there_is_an_out_of_scope_class():
    from predict.model import decide

    scores = np.array([0.4, 0.35, 0.25])
    assert decide(scores, ["a", "b", "other"], "other", 0.5) == ("other", 0.4)
    assert decide(scores, ["a", "b", "other"], "other", 0.3) == ("a", 0.4)
    assert decide(scores, ["a", "b", "c"], None, 0.5) == ("a", 0.4)


def test_a_topic_surrounded_by_background_still_labels_the_article():
    from predict.model import aggregate_article, decide_article

    classes = ["sanctions", "drugs", "other"]
    sanctions, background = [0.9, 0.05, 0.05], [0.02, 0.03, 0.95]
    probs = np.array([sanctions] * 3 + [background] * 7)
    assert aggregate_article(probs, np.ones(10)).argmax() == 2  # most of the article is background...
    assert decide_article(probs, np.ones(10), classes, "other", threshold=0.5, min_topic_share=0.2) == "sanctions"
    assert decide_article(np.array([background] * 10), np.ones(10), classes, "other", 0.5, 0.2) == "other"
    mixed = np.array([[0.5, 0.45, 0.05]] * 4)
    assert decide_article(mixed, np.ones(4), classes, "other", threshold=0.6, min_topic_share=0.2) == "other"  # no clear topic


def test_many_lukewarm_paragraphs_do_not_add_up_to_a_topic():
    """The World-Bank-loan case: no paragraph is about a topic, so the article is not either."""
    from predict.model import decide_article

    lukewarm = np.array([[0.35, 0.05, 0.6]] * 10)  # every paragraph leans `other`, a third of each is `sanctions`
    assert decide_article(lukewarm, np.ones(10), ["sanctions", "drugs", "other"], "other", 0.0, 0.3) == "other"


@pytest.mark.parametrize("batch_pass_from", [0, 10**9])  # the one-pass path, and the article-by-article path
def test_a_batch_is_decided_as_each_article_alone_ties_and_empty_articles_included(batch_pass_from, monkeypatch):
    """`decide_articles`/`aggregate_articles` (one pass over a batch, what labeling uses) against
    `decide_article`/`aggregate_article` (one article, what training's evaluation uses), on random batches
    built to tie: few distinct word counts and probabilities near the threshold."""
    from predict import model
    from predict.model import aggregate_article, aggregate_articles, decide_article, decide_articles

    monkeypatch.setattr(model, "BATCH_PASS_FROM", batch_pass_from)
    rng = np.random.default_rng(0)
    classes = ["sanctions", "drugs", "diplomacy", "other"]
    ties = 0
    for _ in range(200):
        sizes = rng.integers(0, rng.choice([2, 6, 30]), size=rng.integers(1, 40))  # 30: long articles too
        probs = rng.dirichlet(np.ones(4) * 0.5, size=int(sizes.sum()))
        weights = rng.choice([1.0, 2.0, 3.0], size=len(probs))
        starts = np.concatenate([[0], np.cumsum(sizes)])
        for other in ("other", None):
            threshold, share = rng.choice([0.0, 0.4, 0.6]), rng.choice([0.0, 0.3, 0.5])
            batch = decide_articles(probs, weights, starts, classes, other, threshold, share)
            alone = [decide_article(probs[a:b], weights[a:b], classes, other, threshold, share)
                     for a, b in zip(starts[:-1], starts[1:])]
            assert batch == alone
        for (a, b), row in zip(zip(starts[:-1], starts[1:]), aggregate_articles(probs, weights, starts)):
            if b > a:
                assert np.array_equal(row, aggregate_article(probs[a:b], weights[a:b]))
            else:
                assert np.isnan(row).all()
        best = probs.argmax(axis=1)
        ties += sum(len(set(best[a:b])) > 1 for a, b in zip(starts[:-1], starts[1:]))
    assert ties > 100  # the batches did hold articles with more than one topic to choose between


def test_a_fit_does_not_depend_on_how_many_blas_threads_the_machine_offers(workdir):
    """newton-cg's dense steps summed over 2 OpenBLAS threads moved coefficients by 1e-4; fits are pinned to one."""
    from threadpoolctl import threadpool_limits

    from train.evaluate import fit_with
    from train.parallel import map_folds

    config = load_config("configs/default.yaml", FAST)
    rows = [e for e in collect_examples(config) if e.split == "train"][:1500]
    task = (make_fit(config), ([(r.text, r.context) for r in rows], [r.label for r in rows], [r.article_id for r in rows]))
    fitted = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            fitted.append(map_folds(fit_with, [task], jobs=1)[0])
    assert np.array_equal(fitted[0].coef_t, fitted[1].coef_t) and np.array_equal(fitted[0].intercept, fitted[1].intercept)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_a_stopped_training_leaves_no_fold_worker_behind(workdir, tmp_path, sig):
    """Stopped while its folds run on worker processes, `mihwar train` takes them with it: SIGTERM is handled
    as Ctrl-C (message, exit 143); after SIGKILL the kernel ends them (PR_SET_PDEATHSIG). Before, both
    left the workers running with the terminal's pipes, and `mihwar train | tee` never ended."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    subprocess.run([sys.executable, "-m", "mihwar.cli", "prepare", "configs/default.yaml"], cwd=workdir, env=env, check=True,
                   capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "mihwar.cli", "train", "configs/default.yaml", "--jobs", "2",
                             *[f"--set={s}" for s in FAST], "--set=tracking.register_model=false"],
                            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, workers = time.time() + 120, []
    while time.time() < deadline and proc.poll() is None:
        workers = [c for c in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(c.cmdline())]
        if len(workers) == 2:
            break
        time.sleep(0.2)
    assert len(workers) == 2, "the folds never reached two worker processes"
    time.sleep(2)  # inside a fold
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=60)  # returns only once nothing holds the pipes
    if sig == "SIGTERM":
        assert proc.returncode == 143 and "terminated (SIGTERM): training stopped" in err and "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive
