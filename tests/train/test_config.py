import re

import pytest

from train.config import ConfigError, load_config
from train.dataset import check_splits


def write(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_configs_validate():
    for name in ("default", "svm", "ant", "transformer", "transformer_tiny"):
        load_config(f"configs/{name}.yaml")


def test_unknown_key_names_file_and_key(tmp_path):
    path = write(tmp_path, "data: {labels: [a], corpora: [{path: x, annotations: y}]}\nmodel: {type: logreg, Cs: [1]}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}: model.Cs: Extra inputs are not permitted" in str(err.value)


def test_wrong_type_names_file_and_key(tmp_path):
    path = write(tmp_path, "data: {labels: [a], corpora: [{path: x, annotations: y}]}\nevaluation: {n_splits: five}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: evaluation.n_splits: Input should be a valid integer"):
        load_config(path)


def test_impossible_values_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match=r"evaluation.n_splits: Input should be greater than or equal to 2"):
        load_config("configs/default.yaml", ["evaluation.n_splits=1"])
    with pytest.raises(ConfigError, match=r"model.C_grid: Value error, C_grid values must be finite and > 0"):
        load_config("configs/default.yaml", ["model.C_grid=[0]"])
    path = write(tmp_path, "data: {labels: [a, a], corpora: [{path: x, annotations: y}]}\n")
    with pytest.raises(ConfigError, match="labels must be unique"):
        load_config(path)


@pytest.mark.parametrize("override, says", [
    ("seed=-1", "seed: Input should be greater than or equal to 0"),  # failed 6 s into training, inside NumPy
    ("seed=99999999999999", "seed: Input should be less than 4294967296"),
    ("model.C_grid=[.nan]", "model.C_grid: Value error, C_grid values must be finite"),  # NaN passed `c <= 0`
    ("features.lexicon_weight=.inf", "features.lexicon_weight: Input should be a finite number"),
    ("scope_gate.C=.inf", "scope_gate.C: Input should be a finite number"),
    ("features.char_ngrams=[-1,3]", "features.char_ngrams: Value error, [-1, 3]: need [shortest, longest]"),  # trained
    ("features.word_ngrams=[2,1]", "features.word_ngrams: Value error, [2, 1]"),
    ("features.word_ngrams=[1,1000]", "features.word_ngrams: Value error, [1, 1000]: the longest n-gram may be at most 5"),
    ("features.char_ngrams=[3,11]", "features.char_ngrams: Value error, [3, 11]: the longest n-gram may be at most 10"),
    ("model.C_grid=[1", "--set 'model.C_grid=[1': the value is not valid YAML"),
])
def test_values_that_only_failed_inside_training_fail_before_it(override, says):
    """Found by an adversarial pass: these passed validation and failed seconds into a run (leaving a FAILED MLflow
    run and an error naming no key), or, for a negative n-gram length, trained and registered a nonsense model.
    Word n-grams up to 1,000 words filled the memory until the system killed the training's fold workers."""
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_config("configs/default.yaml", [override])


def test_overrides_go_through_the_same_validation():
    config = load_config("configs/default.yaml", ["model.C_grid=[3]", "evaluation.n_repeats=2"])
    assert config.model.C_grid == [3.0] and config.evaluation.n_repeats == 2
    with pytest.raises(ConfigError, match=r"with --set model.max_iter=lots\): model.max_iter"):
        load_config("configs/default.yaml", ["model.max_iter=lots"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config("configs/default.yaml", ["model.max_iter"])


def test_missing_file_and_broken_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "data: [\n"))


def test_more_folds_than_articles_and_topics_without_examples_fail_before_work():
    config = load_config("configs/default.yaml", ["evaluation.n_splits=4"])
    rows = [{"article_id": a, "label": l} for a, l in [("a", "drugs"), ("b", "sanctions"), ("c", "other")]]
    with pytest.raises(ConfigError, match=r"evaluation.n_splits: 4 folds but only 3 articles"):
        check_splits(rows, config, "configs/default.yaml")
    config = load_config("configs/default.yaml", ["evaluation.n_splits=2"])
    with pytest.raises(ConfigError, match=r"configs/default.yaml: data.labels: \['counter_isis', 'diplomacy'\] have no training examples"):
        check_splits(rows, config, "configs/default.yaml")
