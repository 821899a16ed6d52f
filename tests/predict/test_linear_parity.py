"""The NumPy scorer and its compiled loop compute what the scikit-learn pipeline computes; labeling never imports scikit-learn.

One fit of the default pipeline (fixed C, no CV) on the shipped corpus's train split;
its export, saved and reloaded as labeling loads it, must give the pipeline's
probabilities within 1e-6 on every shipped paragraph (train and test splits) and on
every paragraph of the ANT articles, and the same label everywhere: through NumPy and
through the compiled loop (`predict.compiled`), whose normalization and term counts are
also checked against `predict.text` and `predict.features` on adversarial random text.
"""

from __future__ import annotations

import json
import os
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


def scored(scorer, units, compiled: bool) -> np.ndarray:
    """Logits through NumPy only, or through the compiled loop from the first text."""
    from predict.linear import COMPILED_AFTER_TEXTS

    scorer.compiled_after = 0 if compiled else None
    try:
        if compiled:
            assert scorer.compiled() is not None, "the compiled loop does not take the default model"
        return scorer.logits([u[0] for u in units], [u[1] for u in units])
    finally:
        scorer.compiled_after = COMPILED_AFTER_TEXTS


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
def test_scorer_matches_the_pipeline(fitted, compiled):
    from predict.model import softmax

    pipe, scorer, examples, _ = fitted
    assert scorer.classes == [str(c) for c in pipe.classes_]
    units = [(e.text, e.context) for e in examples] + ant_units()
    assert {e.split for e in examples} >= {"train", "holdout"} and len(units) > 5_000
    expected = sklearn_probs(pipe, units)
    got = softmax(scored(scorer, units, compiled), TEMPERATURE)
    assert np.abs(got - expected).max() < 1e-6
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()


def hostile_texts(n: int, seed: int = 0) -> list[str]:
    """Random text from the characters normalization and matching treat specially: folded letters, diacritics,
    invisible marks (also above the BMP), every kind of space, Greek sigma, dotted I, emoji, presentation forms, ellipsis."""
    import random

    from predict.text import _CHAR_MAP

    special = [chr(c) for c in _CHAR_MAP] + list("\u064b\u0650\u0670\u0640\u200b\u200c\u200f\u00ad\ufeff\U000110bd\U0001343a")
    special += list(" \t\n\u00a0\u2003\u3000\u1680\x1c") + list("ΣσςİIiAZaz_09.-@'") + ["🙂", "𝐀", "ﻻ", "ﷲ", "…", "\ud800"]
    words = ["سوريا", "الكبتاغون", "داعش", "قيصر", "قيصرية", "العقوبات", "دمشق", "التحالف", "واشنطن", "حلب"]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [rng.choice(words) if rng.random() < 0.4 else rng.choice(special) for _ in range(rng.randint(0, 30))]
        out.append("".join(p + (" " if rng.random() < 0.5 else "") for p in parts))
    return out


def test_compiled_normalization_and_term_counts_match_python(fitted):
    from predict.compiled import NormalizedBatch
    from predict.features import count_terms
    from predict.text import normalize_arabic

    _, scorer, examples, _ = fitted
    texts = [e.text for e in examples[:500]] + hostile_texts(3_000)
    batch = NormalizedBatch(texts)
    assert batch.texts() == [normalize_arabic(t) for t in texts]
    compiled = scorer.compiled()
    groups = list(scorer.terms.lexicon) + list(scorer.terms.gazetteer)
    expected = [[count_terms(normalize_arabic(t), terms) for _, terms in groups] for t in texts]
    assert compiled.term_counts(batch).tolist() == expected


def test_one_walk_counts_every_term_group_as_if_it_were_scanned_alone():
    """Groups share one trie in the compiled loop: overlapping groups, shared prefixes, word-end terms,
    a plain and a word-end term ending on the same node, on random text over a tiny alphabet."""
    import random

    from predict.compiled import CompiledLinear, NormalizedBatch
    from predict.features import count_terms

    groups = [("ab", "abc$", "b"), ("bc", "b$", "abcd"), ("c", "cab"), ("a$", "a"), ("dd$",), ("abcdab",)]
    compiled = CompiledLinear.__new__(CompiledLinear)
    compiled.tries = CompiledLinear._tries(groups)
    rng = random.Random(3)
    texts = ["".join(rng.choice("abcd ") for _ in range(rng.randint(0, 40))) for _ in range(3_000)]
    batch = NormalizedBatch(texts)
    expected = [[count_terms(t, terms) for terms in groups] for t in batch.texts()]
    assert compiled.term_counts(batch).tolist() == expected
    assert compiled.term_counts(batch, first_group=4).tolist() == [row[4:] for row in expected]


def test_compiled_loop_matches_numpy_on_hostile_text_and_without_term_features(fitted):
    from predict.linear import LinearScorer

    _, scorer, examples, _ = fitted
    units = [(t, t) for t in hostile_texts(2_000, seed=1)] + [(e.text, e.context) for e in examples[:300]]
    assert np.abs(scored(scorer, units, True) - scored(scorer, units, False)).max() < 1e-9
    n_blocks = scorer.offsets[-1]  # the scope gate's kind of scorer: TF-IDF blocks only
    plain = LinearScorer({**scorer.spec, "terms": None}, scorer.blocks, scorer.coef_t[:n_blocks].T, scorer.intercept)
    assert np.abs(scored(plain, units, True) - scored(plain, units, False)).max() < 1e-9


def test_a_model_without_character_ngrams_matches_its_pipeline(fitted):
    """``features.char_ngrams: null`` (word n-grams and term features only) trains, exports and scores as the default
    does: through NumPy and the compiled loop, the pipeline's probabilities within 1e-6 and its labels."""
    from predict.linear import load_linear, save_linear
    from predict.model import softmax
    from train.config import load_config
    from train.linear import build_pipeline, export_scorer
    from train.train import term_features

    _, _, examples, model_dir = fitted
    config = load_config(ROOT / "configs/default.yaml", ["features.char_ngrams=null"])
    terms = term_features(config)
    train = [e for e in examples if e.split == "train"]
    pipe = build_pipeline(config.features, config.model, 1.0, config.seed, terms)
    pipe.fit([(e.text, e.context) for e in train], [e.label for e in train])
    save_linear(model_dir.parent / "word_only", export_scorer(pipe, terms))
    scorer = load_linear(model_dir.parent / "word_only")
    assert [b.analyzer for b in scorer.blocks] == ["word"]
    units = [(e.text, e.context) for e in examples]
    expected = sklearn_probs(pipe, units)
    for compiled in (False, True):
        got = softmax(scored(scorer, units, compiled), TEMPERATURE)
        assert np.abs(got - expected).max() < 1e-6
        assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_compiled_loop_steps_aside_for_what_it_cannot_take(fitted, monkeypatch):
    from predict.linear import LinearScorer

    _, scorer, examples, _ = fitted
    units = [(e.text, e.context) for e in examples[:50]] + [("نص فيه\x00محرف فارغ", "نص فيه\x00محرف فارغ")]
    assert np.array_equal(scored(scorer, units, True), scored(scorer, units, False))  # NUL separates texts in its batch
    monkeypatch.setitem(sys.modules, "predict.compiled", None)  # as if Numba were not installed
    fresh = LinearScorer(scorer.spec, scorer.blocks, scorer.coef_t.T, scorer.intercept)
    fresh.compiled_after = 0
    assert fresh.compiled() is None and np.array_equal(fresh.logits([u[0] for u in units]), scored(scorer, [(u[0], u[0]) for u in units], False))


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


def test_labeling_imports_no_sklearn_scipy_pandas_or_numba(fitted, tmp_path):
    *_, model_dir = fitted
    article = ROOT / "data/samples/un_ceasefire_vote.txt"
    out = tmp_path / "labels.jsonl"
    proc = subprocess.run([sys.executable, "-c", LOADED_MODULES, str(article), str(model_dir), str(out)],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    loaded = {m.split(".")[0] for m in json.loads(proc.stdout)}
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[-1])["label"]  # it did label the article
    assert "predict" in loaded and not loaded & {"sklearn", "scipy", "pandas", "numba"}  # one article: no compiled loop
    # The compiled loop (a big batch) loads Numba, and Numba looks for scipy and cffi: kept out
    # (`predict.compiled.hidden_from_numba`)
    proc = subprocess.run([sys.executable, "-c", LOADED_MODULES, str(article), str(model_dir), str(out)],
                          capture_output=True, text=True, cwd=ROOT, check=True, env={**os.environ, "MIHWAR_COMPILED_AFTER": "0"})
    loaded = {m.split(".")[0] for m in json.loads(proc.stdout)}
    assert "numba" in loaded and not loaded & {"sklearn", "scipy", "pandas", "cffi"}
