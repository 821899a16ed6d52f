"""MLflow: the promotion gate, and a real tracking server over HTTP."""

import os
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import FAST, free_port, mihwar, wait_http
from train.tracking import promotion_decision

TOPICS = ["drugs", "sanctions"]


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
    assert "registered mihwar-topics v1" in out
    assert not (workdir / "mlruns").exists()  # went to the server, not the local store
    floor = mihwar("promote", "--recall-floor", "0.99", cwd=workdir, env=env, check=False)
    assert floor.returncode == 1 and "v1: not promoted: recall under the floor 0.99" in floor.stdout
    promoted = mihwar("promote", "--recall-floor", "0.0", cwd=workdir, env=env)  # fast CV: a collapsed topic is likely
    assert "v1: promoted to @champion" in promoted.stdout
    # same model again cannot beat itself
    mihwar("train", "configs/default.yaml", *sets, cwd=workdir, env=env)
    refused = mihwar("promote", "--recall-floor", "0.0", cwd=workdir, env=env, check=False)
    assert refused.returncode == 1 and "v2: not promoted: cv_macro_f1" in refused.stdout

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
        assert answer.json()["predictions"][0]["label"] == "sanctions"
    finally:
        served.terminate()
        served.wait(timeout=30)
    # mihwar predict resolves the registry URI itself
    labeled = mihwar("predict", "data/samples/un_ceasefire_vote.txt", "--model", "models:/mihwar-topics@champion",
                     cwd=workdir, env=env)
    assert '"error": null' in labeled.stdout
