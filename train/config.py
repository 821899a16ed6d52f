"""Typed run configuration: YAML in configs/ -> validated pydantic model.

Errors name the file and the dotted key. ``--set key=value`` overrides are
applied to the raw YAML and validated by the same model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator


class ConfigError(ValueError):
    """A configuration problem, worded as 'FILE: KEY: what is wrong'."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceConfig(Strict):
    """An extra labeled JSONL source, e.g. out-of-scope news."""

    path: Path
    text_field: str = "text"
    label_field: str = "label"
    label_map: dict[str, str] = Field(min_length=1, description="source label -> mihwar class; other rows are dropped")
    max_per_label: int | None = Field(default=None, gt=0)
    holdout_fraction: float = Field(default=0.0, ge=0.0, lt=1.0)


class CorpusConfig(Strict):
    """A labeled corpus: a folder of .txt articles or a JSONL file, and its annotation file."""

    path: Path
    annotations: Path
    holdout_fraction: float = Field(default=0.0, ge=0.0, lt=1.0, description="articles kept as the fixed test split")
    optional: bool = Field(default=False, description="a missing corpus is empty instead of an error (e.g. data/raw/added)")


class DataConfig(Strict):
    corpora: list[CorpusConfig] = []
    sources: list[SourceConfig] = []
    labels: list[str] = Field(min_length=1, description="the topics")
    other_label: str | None = "other"
    granularity: Literal["paragraph", "article"] = "paragraph"
    dataset_dir: Path = Path("data/processed/dataset")

    @model_validator(mode="after")
    def _check(self) -> "DataConfig":
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be unique")
        if self.other_label in self.labels:
            raise ValueError(f"other_label {self.other_label!r} must not also be a topic")
        if not self.corpora and not self.sources:
            raise ValueError("no data: give corpora (path + annotations) or sources")
        return self


# The longest n-gram each analyzer may take: a text of n words has about n x longest word n-grams (and a word of
# k characters about k x longest character ones), all held in memory while the vocabulary is built.
LONGEST_NGRAM = {"word_ngrams": 5, "char_ngrams": 10}


class FeaturesConfig(Strict):
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] | None = Field(default=(3, 5), description="None = no character n-grams: word n-grams and "
                                                "term features only (labels faster; README's Performance weighs it)")
    char_analyzer: Literal["char", "char_wb"] = "char_wb"
    min_df: int = Field(default=1, ge=1)
    max_features: int | None = Field(default=None, gt=0)
    sublinear_tf: bool = True
    lexicon: Path | None = Field(default=None, description="topic lexicon YAML (topic -> terms); None = no lexicon features")
    lexicon_weight: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    scope: Path | None = Field(default=None, description="scope gazetteer YAML (group -> terms); None = no scope features")
    scope_weight: float = Field(default=1.0, gt=0, allow_inf_nan=False)

    @field_validator("word_ngrams", "char_ngrams")
    @classmethod
    def _ngram_range(cls, r: tuple[int, int] | None, info: ValidationInfo) -> tuple[int, int] | None:
        if r is None:  # character n-grams only: word_ngrams is not Optional
            return r
        if not 1 <= r[0] <= r[1]:
            raise ValueError(f"[{r[0]}, {r[1]}]: need [shortest, longest] with 1 <= shortest <= longest")
        longest = LONGEST_NGRAM[info.field_name]
        if r[1] > longest:  # [1, 1000] passed, and training filled the memory until the system killed it
            raise ValueError(f"[{r[0]}, {r[1]}]: the longest n-gram may be at most {longest}; every length up to it adds "
                             "about one feature per position of every text, and longer ones almost never repeat")
        return r


class LinearModelConfig(Strict):
    type: Literal["logreg", "linear_svm"] = "logreg"
    C_grid: list[float] = Field(default=[0.3, 1.0, 3.0, 10.0], min_length=1)
    class_weight: Literal["balanced"] | None = "balanced"
    max_iter: int = Field(default=2000, gt=0)
    solver: Literal["lbfgs", "newton-cg", "saga"] = Field(default="newton-cg", description="logreg only; newton-cg converges "
                                                          "in a few seconds where lbfgs takes minutes on these features")
    excerpt_view: bool = Field(default=True, description="also fit on every paragraph read alone, as its own article, so a "
                               "short excerpt is scored like a paragraph of a long article (train.linear.with_excerpt_view)")

    @field_validator("C_grid")
    @classmethod
    def _positive(cls, grid: list[float]) -> list[float]:
        if not all(0 < c < float("inf") for c in grid):  # NaN fails too
            raise ValueError("C_grid values must be finite and > 0")
        return grid


class TransformerModelConfig(Strict):
    type: Literal["transformer"]
    model_name_or_path: str
    max_length: int = Field(default=256, ge=16)
    stride: int = Field(default=64, ge=0)
    epochs: float = Field(default=3.0, gt=0)
    learning_rate: float = Field(default=3e-5, gt=0)
    batch_size: int = Field(default=16, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)

    @model_validator(mode="after")
    def _stride(self) -> "TransformerModelConfig":
        if self.stride >= self.max_length // 2:
            raise ValueError("stride must be under half of max_length")
        return self


ModelConfig = Annotated[Union[LinearModelConfig, TransformerModelConfig], Field(discriminator="type")]


class EvaluationConfig(Strict):
    n_splits: int = Field(default=5, ge=2)
    n_repeats: int = Field(default=3, ge=1)
    inner_splits: int = Field(default=3, ge=2, description="grouped folds that choose C inside each outer fold")
    target_accuracy: float | None = Field(default=None, gt=0, le=1, description="accuracy wanted on the texts given a "
                                          "topic; None = the threshold with the best out-of-fold macro-F1")
    threshold: float | None = Field(default=None, ge=0, le=1, description="fixed abstention threshold; None = choose by CV")
    recall_floor: float = Field(default=0.5, ge=0, le=1, description="promotion gate: minimum per-topic recall")
    min_topic_share: float | None = Field(default=None, ge=0, le=1, description="share of an article's words that paragraphs "
                                          "decided as topics must hold for a topic label; None = chosen with the threshold "
                                          "for the best out-of-fold article macro-F1")


class ScopeGateConfig(Strict):
    """The article-level scope gate (`train.gate`): vetoes a topic whose article reads as out of the Syria file."""

    C: float = Field(default=10.0, gt=0, allow_inf_nan=False, description="inverse regularization of the gate's logistic regression")
    min_articles: int = Field(default=20, ge=1, description="a topic is gated only with at least this many training articles")
    threshold: float | None = Field(default=None, ge=0, le=1, description="fixed gate threshold; None = chosen on "
                                    "out-of-fold articles")


class TrackingConfig(Strict):
    experiment: str = "mihwar"
    registered_model: str = "mihwar-topics"
    register_model: bool = True


class Config(Strict):
    seed: int = Field(default=13, ge=0, lt=2**32)  # NumPy's and scikit-learn's seeds
    data: DataConfig
    features: FeaturesConfig = FeaturesConfig()
    model: ModelConfig = LinearModelConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    scope_gate: ScopeGateConfig | None = Field(default=None, description="article-level scope gate; None = no gate")
    tracking: TrackingConfig = TrackingConfig()
    model_dir: Path = Path("models/default")
    reports_dir: Path = Path("reports/default")

    @property
    def classes(self) -> list[str]:
        """Topics plus the out-of-scope class, in a fixed order."""
        return self.data.labels + ([self.data.other_label] if self.data.other_label else [])

    @model_validator(mode="after")
    def _gate_needs_other(self) -> "Config":
        if self.scope_gate is not None and not self.data.other_label:
            raise ValueError("scope_gate: a gate turns topics into the out-of-scope class; set data.other_label or drop scope_gate")
        return self


def _set_key(raw: dict[str, Any], dotted: str, value: Any) -> None:
    node = raw
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {dotted}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings; values are parsed as YAML (``3`` is an int)."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. model.C_grid=[1,3]")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({str(exc).splitlines()[0]})") from None
        _set_key(raw, key.strip(), parsed)
    return raw


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"] if p not in ("logreg", "linear_svm", "transformer")) or "(top level)"
        lines.append(f"{source}: {key}: {err['msg']}")
    return "\n".join(lines)


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read, override and validate a config; raise ConfigError naming file and key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start}); re-save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    raw = apply_overrides(raw, overrides or [])
    source = f"{path}" + (f" (with --set {', '.join(overrides)})" if overrides else "")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc)) from None


def config_to_dict(config: Config) -> dict[str, Any]:
    """JSON-ready resolved config, as logged with the run and saved in the artifact."""
    return config.model_dump(mode="json")


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{'a': {'b': 1}} -> {'a.b': 1}``, for MLflow params."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def load_lexicon(path: Path, topics: list[str]) -> dict[str, list[str]]:
    """Topic -> terms from YAML; a topic outside the label set is a config error."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"features.lexicon: {path} not found")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict) or not all(isinstance(v, list) and v for v in raw.values()):
        raise ConfigError(f"{path}: expected a mapping of topic -> non-empty list of terms")
    unknown = sorted(set(raw) - set(topics))
    if unknown:
        raise ConfigError(f"{path}: topics {unknown} are not in data.labels {topics}")
    return {str(k): [str(t) for t in v] for k, v in raw.items()}


def load_gazetteer(path: Path) -> dict[str, list[str]]:
    """Place group -> terms from YAML (the scope gazetteer)."""
    if not path.is_file():
        raise ConfigError(f"features.scope: {path} not found")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, list) and v for v in raw.values()):
        raise ConfigError(f"{path}: expected a mapping of group -> non-empty list of terms")
    return {str(k): [str(t) for t in v] for k, v in raw.items()}
