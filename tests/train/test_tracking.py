"""MLflow: one store for every command, the champion by default, the promotion gate, and a real tracking server."""

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing

import pandas as pd
import pytest

from tests.conftest import FAST, ROOT, free_port, mihwar, wait_http
from train.tracking import promotion_decision

TOPICS = ["drugs", "sanctions"]


def test_every_command_resolves_the_project_store_from_any_folder(tmp_path, monkeypatch):
    from predict.model_uri import resolve_tracking_uri

    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "configs").mkdir()
    monkeypatch.chdir(tmp_path / "configs")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path.resolve() / 'mlruns/mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    assert resolve_tracking_uri(None) == "http://tracking:5000"
    assert resolve_tracking_uri("sqlite:///elsewhere.db") == "sqlite:///elsewhere.db"


def _store_with_alias(path, alias):
    """The table MLflow's SQLite store keeps aliases in, with one row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE registered_model_aliases (alias TEXT, version INTEGER, name TEXT)")
        db.execute("INSERT INTO registered_model_aliases VALUES (?, 3, 'mihwar-topics')", (alias,))


def test_labeling_defaults_to_the_champion_else_models_default_without_importing_mlflow(tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "models/LATEST").parent.mkdir()
    (tmp_path / "models/LATEST").write_text("models/some_experiment\n")  # the old "last trained" pointer counts for nothing
    probe = ("import sys; from predict.artifact import default_model_uri; "
             "print(default_model_uri(), 'mlflow' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MIHWAR_MODEL")}
    env["PYTHONPATH"] = str(ROOT)

    def default():
        return subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                              check=True).stdout.split()

    assert default() == ["models/default", "False"]  # no store
    _store_with_alias(tmp_path / "mlruns/mlflow.db", "challenger")
    assert default() == ["models/default", "False"]  # a store without a champion
    (tmp_path / "mlruns/mlflow.db").unlink()
    _store_with_alias(tmp_path / "mlruns/mlflow.db", "champion")
    assert default() == ["models:/mihwar-topics@champion", "False"]
    assert not (tmp_path / "mlflow.db").exists()


def _registry(path, alias_version, versions):
    """MLflow's alias and version tables (the columns read here), with a champion and these versions."""
    _store_with_alias(path, "champion")
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE registered_model_aliases SET version = ?", (alias_version,))
        db.execute("CREATE TABLE model_versions (name TEXT, version INTEGER, current_stage TEXT, storage_location TEXT, status TEXT)")
        db.executemany("INSERT INTO model_versions VALUES ('mihwar-topics', ?, ?, ?, ?)", versions)


def test_a_registered_model_on_this_disk_is_labeled_in_place_without_mlflow(tmp_path, trained_model_dir):
    """`mihwar predict` after the quickstart labels with the champion: MLflow was imported (1.2 s, 190 MB) only to
    return the same folder (one article: 3.2 s and 316 MB, against 0.4 s and 127 MB). What MLflow would refuse
    (a deleted version, another workspace's) is not read, and a store or model that cannot be read is named."""
    import shutil

    kept = tmp_path / "mlruns/artifacts/models/m-1/artifacts"
    shutil.copytree(trained_model_dir, kept / "artifacts/default")
    (kept / "MLmodel").write_text("flavors: {}\n")
    store, other = tmp_path / "mlruns/mlflow.db", tmp_path / "registry.db"
    _registry(store, 3, [(3, "None", kept.as_uri(), "READY"), (4, "None", (tmp_path / "gone").as_uri(), "READY"),
                         (5, "None", kept.as_uri(), "PENDING_REGISTRATION"), (6, "None", "s3://bucket/m-3", "READY"),
                         (8, "Deleted_Internal", kept.as_uri(), "READY")])
    _registry(other, 4, [(4, "None", (tmp_path / "gone").as_uri(), "READY")])
    probe = ("import sys; from predict.model_uri import registry_folder; from predict.artifact import resolve_model_dir; "
             f"store = {f'sqlite:///{store}'!r}; "
             "print(resolve_model_dir('models:/mihwar-topics@champion', store), resolve_model_dir('models:/mihwar-topics/3', store), "
             "registry_folder('models:/mihwar-topics/4', store), "
             "[registry_folder(f'models:/mihwar-topics/{v}', store) for v in (5, 6, 7, 8, 10**30)], "
             "registry_folder('models:/mihwar-topics@challenger', store), registry_folder('runs:/abc/model', store), "
             "'mlflow' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MIHWAR_MODEL")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    folder = str(kept / "artifacts/default")
    assert out == [folder, folder, str(tmp_path / "gone"), "[None,", "None,", "None,", "None,", "None]", "None", "None", "False"]
    # the command itself: labeled from the store's folder, named by its URI, MLflow never imported
    article = tmp_path / "a.txt"
    article.write_text("فرضت وزارة الخزانة الأمريكية عقوبات جديدة على سوريا بموجب قانون قيصر", encoding="utf-8")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")

    def label(*extra, **more):
        return subprocess.run([sys.executable, "-X", "importtime", "-m", "mihwar.cli", "predict", str(article), "-o", "-", *extra],
                              cwd=tmp_path, env={**env, **more}, capture_output=True, text=True)

    proc = label()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "model: models:/mihwar-topics@champion (model id " in proc.stderr
    assert not [line for line in proc.stderr.splitlines() if line.startswith("import time:") and "mlflow" in line]
    assert json.loads(proc.stdout)["label"] == "sanctions"

    def refused(proc, message):
        said = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
        assert proc.returncode == 2 and len(said) == 1 and message in said[0], proc.stderr[-2000:]

    # the registry store MLflow reads ($MLFLOW_REGISTRY_URI) names version 4, whose folder is gone: said, not replaced
    refused(label(MLFLOW_REGISTRY_URI=f"sqlite:///{other}"),
            f"models:/mihwar-topics@champion: the registry keeps its files in {tmp_path / 'gone'}, which is not there")
    # another workspace's champion is not this one: no champion, so models/default (absent here)
    with closing(sqlite3.connect(store)) as db, db:
        db.execute("ALTER TABLE registered_model_aliases ADD COLUMN workspace TEXT DEFAULT 'team'")
    refused(label(), "models/default: no such model")
    # a damaged store is an error, not "no champion": labeling would go on with another model
    store.write_text("not a database\n" * 100)
    refused(label(), f"{store}: the model registry is not an MLflow store (file is not a database)")
    # a damaged model file is one line naming the folder
    broken = tmp_path / "broken"
    shutil.copytree(trained_model_dir, broken)
    (broken / "linear/coef.npy").write_bytes((broken / "linear/coef.npy").read_bytes()[:100])
    refused(label("--model", str(broken)), f"{broken / 'linear'}: a model file is missing or damaged (ValueError")


def test_promote_in_a_fresh_clone_says_what_to_do_next(workdir):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = mihwar("promote", cwd=workdir, env=env, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: no model registered yet") and "dvc repro" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (workdir / "mlruns").exists() and not (workdir / "mlflow.db").exists()  # asking created no store


def test_evaluate_in_a_fresh_clone_says_what_to_do_next(workdir):
    """Before any training, evaluate said "...: no such model; ..., or name one with --model": it has no --model."""
    proc = mihwar("evaluate", "configs/default.yaml", cwd=workdir, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ("error: models/default: no trained model there (the config's model_dir); run "
                                   "`mihwar train CONFIG` (or `dvc repro`) first")


def test_version_option():
    proc = mihwar("--version")
    assert proc.stdout.startswith("mihwar ") and proc.stdout.split()[1][0].isdigit()


class _FakeModel:
    classes = ["drugs", "other"]

    def predict_articles(self, texts):
        from predict.model import ArticlePrediction

        return [ArticlePrediction("drugs", 0.9, {"drugs": 0.9, "other": 0.1}) for _ in texts]


def test_pyfunc_answers_empty_text_with_nulls_not_nan():
    from predict.mlflow_model import MihwarPyfunc

    pyfunc = MihwarPyfunc()
    pyfunc.model = _FakeModel()
    frame = pyfunc.predict(None, pd.DataFrame({"text": ["ضبط كبتاغون", "", "   ", None]}))
    rows = json.loads(json.dumps(frame.to_dict(orient="records"), allow_nan=False))  # NaN would raise here
    assert rows[0]["label"] == "drugs" and rows[0]["error"] is None
    assert all(r["label"] is None and r["confidence"] is None and r["score.drugs"] is None and r["error"] for r in rows[1:])


def metrics(f1, drugs=0.8, sanctions=0.8):
    return {"cv_macro_f1": f1, "cv_recall.drugs": drugs, "cv_recall.sanctions": sanctions}


def test_gate_promotes_a_better_model_with_every_recall_over_the_floor():
    ok, reason = promotion_decision(metrics(0.7), metrics(0.6), TOPICS, 0.5)
    assert ok and "beats the champion's 0.6000" in reason
    assert promotion_decision(metrics(0.3), None, TOPICS, 0.5)[0]  # first model becomes champion


def test_gate_refuses_a_model_that_is_not_better():
    ok, reason = promotion_decision(metrics(0.6), metrics(0.6), TOPICS, 0.5)
    assert not ok and "does not beat" in reason


def test_gate_refuses_a_better_model_with_a_collapsed_topic():
    ok, reason = promotion_decision(metrics(0.9, sanctions=0.2), metrics(0.6), TOPICS, 0.5)
    assert not ok and "sanctions=0.200" in reason


def test_gate_compares_the_article_labels_users_get_when_both_models_have_them():
    # the scope gate changes article labels only: same paragraph figures, better articles -> promoted
    champion = {**metrics(0.76), "cv_article_macro_f1": 0.849}
    candidate = {**metrics(0.76), "cv_article_macro_f1": 0.859, "cv_article_recall.drugs": 0.75, "cv_article_recall.sanctions": 1.0}
    ok, reason = promotion_decision(candidate, champion, TOPICS, 0.5)
    assert ok and reason == "cv_article_macro_f1 0.8590 beats the champion's 0.8490"
    assert not promotion_decision(champion | {"cv_article_macro_f1": 0.84}, candidate, TOPICS, 0.5)[0]
    # an article recall under the floor is refused even with paragraph recalls over it
    ok, reason = promotion_decision({**candidate, "cv_article_recall.drugs": 0.2}, champion, TOPICS, 0.5)
    assert not ok and "drugs (articles)=0.200" in reason
    # a champion from before article metrics: compared on the paragraph figure
    assert promotion_decision(candidate, metrics(0.7), TOPICS, 0.5)[1].startswith("cv_macro_f1 0.7600 beats")


def test_gate_compares_articles_and_excerpts_together_when_both_models_have_both():
    # the threshold is chosen for articles and excerpts alike: a model that gives up 0.05 on articles
    # for 0.12 on excerpts is the better one, and one that gains articles by losing more on excerpts is not
    champion = {**metrics(0.76), "cv_article_macro_f1": 0.85, "cv_excerpt_macro_f1": 0.57}
    candidate = {**metrics(0.76), "cv_article_macro_f1": 0.80, "cv_excerpt_macro_f1": 0.69}
    ok, reason = promotion_decision(candidate, champion, TOPICS, 0.5)
    assert ok and reason == "mean(cv_article_macro_f1, cv_excerpt_macro_f1) 0.7450 beats the champion's 0.7100"
    worse = {**candidate, "cv_article_macro_f1": 0.90, "cv_excerpt_macro_f1": 0.50}
    assert not promotion_decision(worse, champion, TOPICS, 0.5)[0]
    # a champion without excerpt figures: articles only, where this candidate loses
    older = {**metrics(0.76), "cv_article_macro_f1": 0.85}
    assert promotion_decision(candidate, older, TOPICS, 0.5)[1] == "cv_article_macro_f1 0.8000 does not beat the champion's 0.8500"


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    store = tmp_path / "server"
    store.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}", "--artifacts-destination", str(store / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, timeout=120)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_train_against_a_tracking_server_register_promote_and_load_back(workdir, mlflow_server):
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server}
    mihwar("prepare", "configs/default.yaml", cwd=workdir, env=env)
    sets = [f"--set={s}" for s in FAST]
    out = mihwar("train", "configs/default.yaml", *sets, cwd=workdir, env=env).stdout
    assert "registered mihwar-topics v1 (the first: now @champion)" in out  # nothing to beat
    assert not (workdir / "mlruns").exists()  # went to the server, not the local store
    again = mihwar("promote", cwd=workdir, env=env, check=False)
    assert again.returncode == 1 and "v1: not promoted: version 1 is already the champion" in again.stdout
    missing = mihwar("promote", "--version", "9", cwd=workdir, env=env, check=False)
    assert missing.returncode == 2 and "has no version 9" in missing.stderr and "Traceback" not in missing.stderr
    # later versions go through the gate: the same model again cannot beat itself, nor pass a floor it misses
    out = mihwar("train", "configs/default.yaml", *sets, cwd=workdir, env=env).stdout
    assert "registered mihwar-topics v2; `mihwar promote`" in out
    floor = mihwar("promote", "--recall-floor", "0.99", cwd=workdir, env=env, check=False)
    assert floor.returncode == 1 and "v2: not promoted: recall under the floor 0.99" in floor.stdout
    refused = mihwar("promote", "--recall-floor", "0.0", cwd=workdir, env=env, check=False)
    assert refused.returncode == 1 and "v2: not promoted: mean(cv_article_macro_f1, cv_excerpt_macro_f1)" in refused.stdout
    # a topic the model does not have read as "recall under the floor: nosuch=0.000", as if the model were bad at it
    typo = mihwar("promote", "--topics", "drugs,nosuch", cwd=workdir, env=env, check=False)
    assert typo.returncode == 2 and "--topics nosuch: not a topic of mihwar-topics v2 (its topics: drugs, " in typo.stderr

    import mlflow

    mlflow.set_tracking_uri(mlflow_server)
    run = mlflow.search_runs(experiment_names=["mihwar"], output_format="list")[0]
    assert run.data.tags["data_version"] and "git_commit" in run.data.tags
    assert run.data.params["model.type"] == "logreg" and "cv_macro_f1_std" in run.data.metrics
    pyfunc = mlflow.pyfunc.load_model("models:/mihwar-topics@champion")
    df = pyfunc.predict(pd.DataFrame({"text": ["ضبطت السلطات شحنة من حبوب الكبتاغون المهربة من سوريا"]}))
    assert list(df.columns[:2]) == ["label", "confidence"] and df.loc[0, "label"] == "drugs"
    # the same logged model behind `mlflow models serve` (current environment, no env rebuild)
    port = free_port()
    served = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/mihwar-topics@champion",
                               "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", served, timeout=120)
        import httpx

        answer = httpx.post(f"http://127.0.0.1:{port}/invocations", timeout=60,
                            json={"dataframe_split": {"columns": ["text"], "data": [["فرضت وزارة الخزانة عقوبات بموجب قانون قيصر"]]}})
        assert answer.status_code == 200, answer.text
        text = "فرضت وزارة الخزانة عقوبات بموجب قانون قيصر"
        in_process = pyfunc.predict(pd.DataFrame({"text": [text]})).loc[0, "label"]
        assert answer.json()["predictions"][0]["label"] == in_process  # the served model is the registered one
    finally:
        served.terminate()
        served.wait(timeout=30)
    # mihwar predict resolves the registry URI itself
    labeled = mihwar("predict", "data/samples/un_ceasefire_vote.txt", "--model", "models:/mihwar-topics@champion",
                     cwd=workdir, env=env)
    assert '"error": null' in labeled.stdout
