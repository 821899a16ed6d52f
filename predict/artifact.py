"""The self-contained model artifact: one folder that labels raw text on its own.

Layout (format ``mihwar-model/2``): ``meta.json`` (classes, calibration, threshold,
resolved config, data version, metrics, ``model_id``) and either ``linear/`` (the
linear model as JSON vocabularies and ``.npy`` arrays) or ``hf/`` (transformer weights
as safetensors, tokenizer and config as JSON); ``gate/``, when the model has a scope gate
(``meta["scope_gate"]``), is a linear model in the same format. Nothing is unpickled when loading.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from predict.model import TopicModel
from predict.model_uri import (  # noqa: F401  (default_model_uri, ModelNotFoundError: callers import them from here)
    ModelNotFoundError, default_model_uri, registry_folder, resolve_tracking_uri, sqlite_path, use_tracking_uri)

FORMAT = "mihwar-model/2"
OLD_FORMATS = {"mihwar-model/1": "it holds a pickled scikit-learn pipeline, which mihwar no longer loads because "
                                 "unpickling runs whatever code the file holds; retrain it (`dvc repro` or `mihwar train CONFIG`)"}
META = "meta.json"
DEFAULT_MODEL_DIR = Path("models") / "default"
PYFUNC_ARTIFACT = "mihwar_model"
RUN_RECORD = "run.json"


def content_id(directory: Path) -> str:
    """Hash of every file of a saved model (meta.json without its own id): the model version."""
    h = hashlib.sha256()
    try:
        for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name not in (META, RUN_RECORD)):
            h.update(str(path.relative_to(directory)).encode())
            h.update(path.read_bytes())
    except OSError as exc:  # a file removed between listing and reading: the folder is being replaced
        raise ModelNotFoundError(f"{directory}: its files changed while they were read ({exc.strerror}: "
                                 f"{exc.filename}); load it again") from None
    meta = _json_object(directory / META)
    meta.pop("model_id", None)
    h.update(json.dumps(meta, sort_keys=True).encode())
    return h.hexdigest()[:16]


def save_model(directory: Path, scorer: Any, meta: dict[str, Any], gate: Any = None) -> None:
    """Write any backend's scorer (and the scope gate, if any) with its metadata (the scorer's own class order), then stamp its id."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, **meta, "classes": list(scorer.classes)}
    from predict.linear import save_linear  # NumPy only

    if gate is not None:
        save_linear(directory / "gate", gate)
    else:
        import shutil

        shutil.rmtree(directory / "gate", ignore_errors=True)  # a previous model's gate must not outlive it
    if hasattr(scorer, "blocks"):
        meta["backend"] = "linear"
        save_linear(directory / "linear", scorer)
    else:
        meta["backend"] = "transformer"
        scorer.save(directory / "hf")
    (directory / META).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    meta["model_id"] = content_id(directory)
    (directory / META).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")


def read_meta(directory: Path) -> dict[str, Any]:
    path = Path(directory) / META
    if not path.is_file():
        raise ModelNotFoundError(f"{directory}: not a mihwar model folder (no {META})")
    meta = _json_object(path)
    fmt = meta.get("format")
    if fmt in OLD_FORMATS:
        raise ModelNotFoundError(f"{directory}: model format {fmt!r}: {OLD_FORMATS[fmt]}")
    if fmt != FORMAT:
        raise ModelNotFoundError(f"{path}: unknown model format {fmt!r}, expected {FORMAT!r}")
    run = Path(directory) / RUN_RECORD  # the run that trained it (MLflow run id, git commit), kept out of dvc.lock
    return {**meta, **_json_object(run)} if run.is_file() else meta


def _json_object(path: Path) -> dict[str, Any]:
    """A model's JSON metadata file, which must hold an object; anything else is named, as metadata that cannot be read."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelNotFoundError(f"{path}: not readable model metadata ({exc})") from None
    if not isinstance(value, dict):
        raise ModelNotFoundError(f"{path}: not readable model metadata (a JSON {type(value).__name__}, not an object)")
    return value


def resolve_model_dir(uri: str, tracking_uri: str | None = None) -> Path:
    """Local folder of a model named by a path, ``runs:/...`` or ``models:/NAME@alias`` URI.

    Registry and run URIs are looked up in the project's tracking store (see ``predict.model_uri``): a
    registered version whose files are on this disk is read where it is, without MLflow; anything else
    is fetched by MLflow.
    """
    if uri.startswith(("models:/", "runs:/", "mlflow-artifacts:/")):
        here = registry_folder(uri, resolve_tracking_uri(tracking_uri))
        if here is None:
            return _fetched_by_mlflow(uri, tracking_uri)
        if not here.is_dir():
            raise ModelNotFoundError(f"{uri}: the registry keeps its files in {here}, which is not there (moved or "
                                     "deleted?); name another model with --model")
        found = _artifact_in(here)
        if found is None:
            raise ModelNotFoundError(f"{uri}: {here} holds no mihwar model ({META}); name another model with --model")
        return found
    path = Path(uri)
    if not path.exists():
        raise ModelNotFoundError(f"{uri}: no such model; run `dvc repro` (or `mihwar train CONFIG`), or name one with --model")
    return path


def _artifact_in(folder: Path) -> Path | None:
    """The folder holding a mihwar artifact: ``folder`` itself, or the first one under its logged artifacts."""
    for candidate in [folder, *(m.parent for m in sorted(folder.glob(f"artifacts/**/{META}")))]:
        if (candidate / META).is_file():
            return candidate
    return None


def _fetched_by_mlflow(uri: str, tracking_uri: str | None) -> Path:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow  # only registry/run URIs that are not on this disk need it

    store = use_tracking_uri(tracking_uri)
    database = sqlite_path(store)
    if database is not None and not database.is_file():  # MLflow would create an empty store here, then not find it
        raise ModelNotFoundError(f"{uri}: no MLflow store at {database} (run from the project folder, which holds "
                                 "dvc.yaml, or name the store with --tracking-uri or MLFLOW_TRACKING_URI)")
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    except Exception as exc:  # mlflow raises several types for "not there"
        raise ModelNotFoundError(f"{uri}: could not be fetched from MLflow at {store}: {exc}") from exc
    found = _artifact_in(local)
    if found is None:
        raise ModelNotFoundError(f"{uri}: the MLflow model holds no mihwar artifact")
    return found


def _linear(folder: Path) -> Any:
    """The linear scorer saved in ``folder``; a missing or damaged file is named, as a model that cannot be used."""
    from predict.linear import load_linear

    try:
        return load_linear(folder)
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:  # json and np.load raise ValueError subclasses
        raise ModelNotFoundError(f"{folder}: a model file is missing or damaged ({type(exc).__name__}: {exc}); fetch it "
                                 "again (`dvc checkout`), retrain it, or name another model with --model") from None


def load_model(uri: str | None = None, device: str | None = None) -> TopicModel:
    """Load a model once for labeling; the backend is read from its metadata."""
    directory = resolve_model_dir(uri or default_model_uri())
    before = content_id(directory) if (directory / META).is_file() else None
    meta = read_meta(directory)
    if meta.get("backend") == "linear":
        model = TopicModel(_linear(directory / "linear"), meta)
    elif meta.get("backend") == "transformer":
        from predict.hf_backend import TransformerScorer

        model = TopicModel(TransformerScorer.load(directory / "hf", meta, device=device), meta)
    else:
        raise ModelNotFoundError(f"{directory}: unknown backend {meta.get('backend')!r}")
    if list(getattr(model.scorer, "classes", model.classes)) != model.classes:  # scores would go to the wrong names
        raise ModelNotFoundError(f"{directory}: meta.json names the classes {model.classes}, its scorer "
                                 f"{list(model.scorer.classes)}; retrain the model, or fetch it again")
    if meta.get("scope_gate"):
        if not (directory / "gate" / "spec.json").is_file():
            raise ModelNotFoundError(f"{directory}: meta.json names a scope gate but gate/spec.json is missing; retrain the model")
        model.gate = _linear(directory / "gate")
    model.uri = uri or str(directory)
    after = content_id(directory)  # what is on disk, edited or not, names the version
    if after != before:  # files replaced while they were read: the arrays may come from two versions
        raise ModelNotFoundError(f"{directory}: the model's files changed while it loaded (version {before}, then "
                                 f"{after}); load it again")
    model.meta["model_id"] = after
    return model
