"""The NumPy scorer computes what the scikit-learn pipeline computes, and labeling never imports scikit-learn.

One fit of the default pipeline (fixed C, no CV) on the shipped corpus's train split;
its export, saved and reloaded as labeling loads it, must give the pipeline's
probabilities within 1e-6 on every shipped paragraph (train and test splits) and on
every paragraph of the ANT articles, and the same label everywhere.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

TEMPERATURE = 1.3  # any temperature: both sides divide by it before the softmax


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, monkeypatch_module):
    from predict.artifact import save_model
    from predict.linear import load_linear, save_linear
    from train.config import load_config
    from train.linear import build_pipeline, export_scorer
    from train.prepare import collect_examples
    from train.train import term_features

    config = load_config(ROOT / "configs/default.yaml")
    examples = collect_examples(config)
    train = [e for e in examples if e.split == "train"]
    terms = term_features(config)
    pipe = build_pipeline(config.features, config.model, 1.0, config.seed, terms)
    pipe.fit([(e.text, e.context) for e in train], [e.label for e in train])
    out = tmp_path_factory.mktemp("parity")
    save_linear(out / "scorer", export_scorer(pipe, terms))
    scorer = load_linear(out / "scorer")
    save_model(out / "model", scorer, {"other_label": config.data.other_label, "temperature": TEMPERATURE, "threshold": 0.0})
    return pipe, scorer, examples, out / "model"


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)  # config paths are relative to the repository root
        yield mp


def ant_units() -> list[tuple[str, str]]:
    """Every paragraph of the shipped ANT articles (out-of-scope subset and the labeled set), with its article."""
    from predict.text import paragraphs_or_whole

    units = []
    for path in ("data/raw/ant/ant_subset.jsonl", "data/raw/ant_labeled/articles.jsonl"):
        for line in (ROOT / path).read_text(encoding="utf-8").splitlines():
            text = json.loads(line)["text"]
            units += [(p, text) for p in paragraphs_or_whole(text)]
    return units


def sklearn_probs(pipe, units) -> np.ndarray:
    from predict.model import softmax

    z = pipe.decision_function(units)
    z = np.column_stack([np.zeros(len(z)), z]) if z.ndim == 1 else z
    return softmax(z, TEMPERATURE)


def test_numpy_scorer_matches_the_pipeline(fitted):
    from predict.model import softmax

    pipe, scorer, examples, _ = fitted
    assert scorer.classes == [str(c) for c in pipe.classes_]
    units = [(e.text, e.context) for e in examples] + ant_units()
    assert {e.split for e in examples} >= {"train", "holdout"} and len(units) > 5_000
    expected = sklearn_probs(pipe, units)
    got = softmax(scorer.logits([u[0] for u in units], [u[1] for u in units]), TEMPERATURE)
    assert np.abs(got - expected).max() < 1e-6
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()


LOADED_MODULES = """
import json, sys
from mihwar.cli import app
sys.argv = ["mihwar", "predict", sys.argv[1], "--model", sys.argv[2], "--output", sys.argv[3]]
try:
    app()
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps(sorted(sys.modules)))
"""


def test_labeling_imports_no_sklearn_scipy_or_pandas(fitted, tmp_path):
    *_, model_dir = fitted
    article = ROOT / "data/samples/un_ceasefire_vote.txt"
    out = tmp_path / "labels.jsonl"
    proc = subprocess.run([sys.executable, "-c", LOADED_MODULES, str(article), str(model_dir), str(out)],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    loaded = {m.split(".")[0] for m in json.loads(proc.stdout)}
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[-1])["label"]  # it did label the article
    assert "predict" in loaded and not loaded & {"sklearn", "scipy", "pandas"}
