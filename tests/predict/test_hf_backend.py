"""The transformer backend for real, on a tiny BERT built locally (no hub, no mocks)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the transformers extra is not installed")
pytest.importorskip("transformers")

from predict.artifact import load_model, save_model  # noqa: E402
from predict.hf_backend import TransformerScorer, load_pretrained  # noqa: E402
from tests.conftest import ROOT, mihwar  # noqa: E402
from tests.tiny_bert import build_tiny_bert, corpus_texts  # noqa: E402
from train.config import TransformerModelConfig  # noqa: E402
from train.transformer import TransformerFit  # noqa: E402


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("tiny") / "tiny-bert", corpus_texts(ROOT))


def seed_paragraphs(labels):
    rows = [json.loads(l) for l in (ROOT / "data/annotations/paragraphs.jsonl").read_text(encoding="utf-8").splitlines()]
    from predict.text import paragraph_hash, segment_article

    texts = {}
    for path in (ROOT / "data/raw/articles").glob("*.txt"):
        for p in segment_article(path.read_text(encoding="utf-8")):
            texts[(path.stem, paragraph_hash(p))] = p
    pairs = [(texts[(r["article_id"], r["paragraph_hash"])], r["label"], r["article_id"]) for r in rows if r["label"] in labels]
    return [p[0] for p in pairs], [p[1] for p in pairs], [p[2] for p in pairs]


def test_long_paragraphs_become_overlapping_windows(tiny_bert):
    tokenizer, model = load_pretrained(str(tiny_bert), num_labels=2)
    scorer = TransformerScorer(model, tokenizer, max_length=32, stride=8, device="cpu")
    long_text = " ".join(corpus_texts(ROOT)[:3])
    enc, owner = scorer.windows([long_text, "عقوبات قيصر"])
    assert (owner == 0).sum() > 2 and (owner == 1).sum() == 1
    assert enc["input_ids"].shape[1] <= 32
    assert scorer.logits([long_text, "عقوبات قيصر"]).shape == (2, 2)


def test_fine_tuning_learns_and_the_artifact_round_trips(tiny_bert, tmp_path):
    texts, labels, groups = seed_paragraphs({"drugs", "counter_isis"})
    cfg = TransformerModelConfig(type="transformer", model_name_or_path=str(tiny_bert), max_length=64, stride=16,
                                 epochs=8, learning_rate=2e-3, batch_size=16)
    scorer = TransformerFit(cfg, seed=0, device="cpu")([(t, t) for t in texts], labels, groups)
    pred = [scorer.classes[i] for i in scorer.logits(texts).argmax(axis=1)]
    assert np.mean(np.array(pred) == np.array(labels)) > 0.9  # it fits its training data: the loop really trains
    meta = {"classes": scorer.classes, "other_label": "other", "temperature": 1.0, "threshold": 0.0,
            "config": {"model": cfg.model_dump()}}
    save_model(tmp_path / "m", scorer, meta)
    loaded = load_model(str(tmp_path / "m"), device="cpu")
    assert loaded.meta["backend"] == "transformer"
    np.testing.assert_allclose(loaded.scorer.logits(texts[:5]), scorer.logits(texts[:5]), rtol=1e-4, atol=1e-5)
    [article] = loaded.predict_articles(["\n".join(texts[:3])], paragraphs=True)
    assert article.label in scorer.classes and len(article.paragraphs) == 3


def test_missing_hub_model_offline_gives_a_clear_error():
    # HF_HUB_OFFLINE is read when huggingface_hub is imported: a fresh interpreter, as a user would run it
    code = ("from predict.hf_backend import load_pretrained\n"
            "load_pretrained('aubmindlab/bert-base-arabertv02-not-cached')\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(ROOT / "build" / "empty-hf-home")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("predict.hf_backend.PretrainedModelNotFound: model 'aubmindlab/bert-base-arabertv02-not-cached'")
    assert "could not be found locally" in last and "HF_HUB_OFFLINE=1" in last and "local folder" in last


@pytest.mark.slow
def test_transformer_config_trains_logs_and_labels_through_the_same_interface(workdir, tiny_bert):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"}
    mihwar("prepare", "configs/transformer_tiny.yaml", cwd=workdir, env=env)
    out = mihwar("train", "configs/transformer_tiny.yaml", f"--set=model.model_name_or_path={tiny_bert}", cwd=workdir, env=env)
    assert "grouped CV (1x2-fold by article)" in out.stdout
    assert (workdir / "models/tiny-transformer/hf/config.json").is_file()
    mihwar("evaluate", "configs/transformer_tiny.yaml", cwd=workdir, env=env)
    labeled = mihwar("predict", "data/samples", "--model", "models/tiny-transformer", "--paragraphs", cwd=workdir, env=env)
    rows = [json.loads(l) for l in labeled.stdout.splitlines()]
    assert len(rows) == 5 and all(set(r["scores"]) == {"drugs", "counter_isis", "sanctions", "diplomacy", "other"} for r in rows)

    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    run = mlflow.search_runs(experiment_names=["mihwar-tiny-transformer"], output_format="list")[0]
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    df = pyfunc.predict(pd.DataFrame({"text": ["ضبطت السلطات شحنة من حبوب الكبتاغون"]}))
    assert df.loc[0, "label"] in {"drugs", "counter_isis", "sanctions", "diplomacy", "other"}
