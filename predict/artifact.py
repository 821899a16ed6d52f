"""The self-contained model artifact: one folder that labels raw text on its own.

Layout: ``meta.json`` (classes, threshold, temperature, resolved config, data
version, metrics) and either ``model.joblib`` (scikit-learn pipeline, text
normalization included) or ``hf/`` (transformer weights and tokenizer).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from predict.model import TopicModel
from predict.model_uri import default_model_uri, use_tracking_uri  # noqa: F401  (default_model_uri: callers import it from here)

FORMAT = "mihwar-model/1"
META = "meta.json"
DEFAULT_MODEL_DIR = Path("models") / "default"
PYFUNC_ARTIFACT = "mihwar_model"
RUN_RECORD = "run.json"


class ModelNotFoundError(FileNotFoundError):
    """The model URI names nothing that holds a mihwar model."""


def save_meta(directory: Path, meta: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / META).write_text(json.dumps({"format": FORMAT, **meta}, ensure_ascii=False, indent=2), encoding="utf-8")


def save_sklearn_model(directory: Path, pipeline: Any, meta: dict[str, Any]) -> None:
    """Write a scikit-learn artifact: the pipeline and its metadata, side by side."""
    import joblib

    save_meta(directory, {**meta, "backend": "sklearn"})
    for step in [pipeline, *pipeline.get_params(deep=True).values()]:  # id() of a list: the same model saved twice differed
        if hasattr(step, "_stop_words_id"):
            del step._stop_words_id
    joblib.dump(pipeline, directory / "model.joblib", compress=3)


def save_model(directory: Path, scorer: Any, meta: dict[str, Any]) -> None:
    """Write any backend's scorer with its metadata (the scorer's own class order)."""
    directory = Path(directory)
    meta = {**meta, "classes": list(scorer.classes)}
    if hasattr(scorer, "pipeline"):
        save_sklearn_model(directory, scorer.pipeline, meta)
    else:
        save_meta(directory, {**meta, "backend": "transformer"})
        scorer.save(directory / "hf")


def read_meta(directory: Path) -> dict[str, Any]:
    path = Path(directory) / META
    if not path.is_file():
        raise ModelNotFoundError(f"{directory}: not a mihwar model folder (no {META})")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ModelNotFoundError(f"{path}: unknown model format {meta.get('format')!r}, expected {FORMAT!r}")
    run = Path(directory) / RUN_RECORD  # the run that trained it (MLflow run id, git commit), kept out of dvc.lock
    return {**meta, **json.loads(run.read_text(encoding="utf-8"))} if run.is_file() else meta


def resolve_model_dir(uri: str, tracking_uri: str | None = None) -> Path:
    """Local folder of a model named by a path, ``runs:/...`` or ``models:/NAME@alias`` URI.

    Registry and run URIs are looked up in the project's tracking store (see ``predict.model_uri``).
    """
    if uri.startswith(("models:/", "runs:/", "mlflow-artifacts:/")):
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        import mlflow  # only registry/run URIs need it

        store = use_tracking_uri(tracking_uri)
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
        except Exception as exc:  # mlflow raises several types for "not there"
            raise ModelNotFoundError(f"{uri}: could not be fetched from MLflow at {store}: {exc}") from exc
        for candidate in [local, *(m.parent for m in sorted(local.glob(f"artifacts/**/{META}")))]:
            if (candidate / META).is_file():
                return candidate
        raise ModelNotFoundError(f"{uri}: the MLflow model holds no mihwar artifact")
    path = Path(uri)
    if not path.exists():
        raise ModelNotFoundError(f"{uri}: no such model; run `dvc repro` (or `mihwar train CONFIG`), or name one with --model")
    return path


def load_model(uri: str | None = None, device: str | None = None) -> TopicModel:
    """Load a model once for labeling; the backend is read from its metadata."""
    directory = resolve_model_dir(uri or default_model_uri())
    meta = read_meta(directory)
    if meta["backend"] == "sklearn":
        import joblib

        from predict.linear import LinearScorer

        return TopicModel(LinearScorer(joblib.load(directory / "model.joblib")), meta)
    if meta["backend"] == "transformer":
        from predict.hf_backend import TransformerScorer

        return TopicModel(TransformerScorer.load(directory / "hf", meta, device=device), meta)
    raise ModelNotFoundError(f"{directory}: unknown backend {meta['backend']!r}")
