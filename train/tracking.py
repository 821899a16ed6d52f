"""MLflow side of training: one run per `train`, the pyfunc model, registry and promotion gate."""

from __future__ import annotations

import os
from pathlib import Path

from predict.model_uri import CHAMPION, resolve_tracking_uri, sqlite_path  # noqa: F401  (one resolution for every command)

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


class RegistryError(RuntimeError):
    """The registry cannot answer: no store, no registered model, no such version, server down."""


def start_run(tracking_uri: str, experiment: str):
    """Open the run (the caller closes it); local stores keep artifacts next to the database."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    db = sqlite_path(tracking_uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
        if mlflow.get_experiment_by_name(experiment) is None:
            mlflow.create_experiment(experiment, artifact_location=(db.parent / "artifacts").resolve().as_uri())
    mlflow.set_experiment(experiment)
    return mlflow.start_run()


def log_model(model_dir: Path, registered_name: str | None) -> str | None:
    """Log the artifact as a pyfunc model (code included) and register it; return the version."""
    import mlflow
    import numpy as np
    import pandas as pd

    import predict
    from predict.artifact import PYFUNC_ARTIFACT, load_model
    from predict.mlflow_model import MihwarPyfunc

    requirements = [f"numpy=={np.__version__}", f"pandas=={pd.__version__}", f"mlflow=={mlflow.__version__}"]
    if (model_dir / "hf").is_dir():
        import torch
        import transformers

        requirements += [f"torch=={torch.__version__.split('+')[0]}", f"transformers=={transformers.__version__}"]
    example = pd.DataFrame({"text": ["أعلنت وزارة الخزانة الأمريكية فرض عقوبات جديدة بموجب قانون قيصر."]})
    local = load_model(str(model_dir))
    out = MihwarPyfunc()
    out.model = local
    signature = mlflow.models.infer_signature(example, out.predict(None, example))
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=str(Path(predict.__file__).parent / "mlflow_model_code.py"),  # models from code: no pickle
        artifacts={PYFUNC_ARTIFACT: str(model_dir)},
        code_paths=[str(Path(predict.__file__).parent)],
        signature=signature,
        input_example=example,
        pip_requirements=requirements,
        registered_model_name=registered_name,
    )
    return str(info.registered_model_version) if registered_name and info.registered_model_version else None


# What promotion compares, richest first: the level both models have decides (a champion from an older round may lack some).
# The first is the figure `train.article_level.choose_article_decision` picks the threshold by: articles and excerpts alike.
PROMOTION_FIGURES = (("cv_article_macro_f1", "cv_excerpt_macro_f1"), ("cv_article_macro_f1",), ("cv_macro_f1",))


def promotion_figure(candidate: dict[str, float], champion: dict[str, float] | None) -> tuple[str, float, float | None] | None:
    """The figure both models are compared on: its name, the candidate's value and the champion's (mean of the keys)."""
    for keys in PROMOTION_FIGURES:
        if all(k in candidate for k in keys) and (champion is None or all(k in champion for k in keys)):
            name = keys[0] if len(keys) == 1 else f"mean({', '.join(keys)})"
            mean = lambda m: sum(float(m[k]) for k in keys) / len(keys)  # noqa: E731
            return name, mean(candidate), None if champion is None else mean(champion)
    return None


def promotion_decision(candidate: dict[str, float], champion: dict[str, float] | None, topics: list[str], floor: float) -> tuple[bool, str]:
    """Promote only a model that beats the champion with every topic's recall over ``floor``.

    The figure compared (`promotion_figure`) is the one the decision threshold is chosen by:
    the mean of the article-level CV macro-F1 (the label users get, after the article
    decision and the scope gate) and the excerpt-level one (each paragraph read alone),
    when both models have them; else the article figure; else the paragraph-level
    ``cv_macro_f1``. The floor applies to paragraph and article recall.
    """
    recalls = {f"{t}{level}": candidate[key] for t in topics for level, key in (("", f"cv_recall.{t}"), (" (articles)", f"cv_article_recall.{t}"))
               if key in candidate}
    recalls.update({t: 0.0 for t in topics if f"cv_recall.{t}" not in candidate})
    low = {name: v for name, v in recalls.items() if v < floor}
    if low:
        return False, f"recall under the floor {floor}: " + ", ".join(f"{t}={v:.3f}" for t, v in low.items())
    figure = promotion_figure(candidate, champion)
    if figure is None:
        return False, "the candidate has no cv_macro_f1"
    name, f1, best = figure
    if best is not None and f1 <= best:
        return False, f"{name} {f1:.4f} does not beat the champion's {best:.4f}"
    return True, f"{name} {f1:.4f}" + (f" beats the champion's {best:.4f}" if best is not None else " (no champion yet)")


def crown_first_version(name: str, version: str) -> bool:
    """Make ``version`` the champion when the model has none yet (nothing to beat); True if it did."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        client.get_model_version_by_alias(name, CHAMPION)
        return False
    except MlflowException:
        client.set_registered_model_alias(name, CHAMPION, version)
        return True


def promote(name: str, version: str | None, floor: float | None = None, topics: list[str] | None = None,
            tracking_uri: str | None = None) -> tuple[bool, str, str]:
    """Move the champion alias to ``version`` (default: newest) when the gate allows it.

    The recall floor and the topics default to the candidate run's own config
    (``evaluation.recall_floor``, ``data.labels``). A store, model or version that is
    not there raises ``RegistryError`` with what to do next.
    """
    store = resolve_tracking_uri(tracking_uri)
    db = sqlite_path(store)
    if db is not None and not db.is_file():
        raise RegistryError(f"no model registered yet (no tracking store at {db}): run `dvc repro` first")
    if store.startswith(("http://", "https://")):  # a store that does not answer: MLflow's 7 retries with backoff
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")  # were 250 s of silence; promote asks a few
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")  # quick questions, so it gives up sooner
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(store)
    try:
        return _promote(mlflow.MlflowClient(), name, version, floor, topics)
    except MlflowException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RegistryError(f"the registry at {store} could not answer: {first}") from exc


def _promote(client, name: str, version: str | None, floor: float | None, topics: list[str] | None) -> tuple[bool, str, str]:
    import ast

    from mlflow.exceptions import MlflowException

    versions = client.search_model_versions(f"name='{name}'")
    if not versions:
        raise RegistryError(f"no model registered yet under {name!r}: run `dvc repro` (or `mihwar train CONFIG`) first")
    if version is None:
        version = str(max(int(v.version) for v in versions))
    elif version not in {str(v.version) for v in versions}:
        known = ", ".join(sorted((str(v.version) for v in versions), key=int))
        raise RegistryError(f"{name} has no version {version} (versions: {known})")
    run = client.get_run(client.get_model_version(name, version).run_id)
    candidate = run.data.metrics
    if floor is None:
        floor = float(run.data.params.get("evaluation.recall_floor", 0.5))
    labels = list(ast.literal_eval(run.data.params["data.labels"]))
    if topics is None:
        topics = labels
    unknown = [t for t in topics if t not in labels]
    if unknown:  # its recall would read as 0.000 "under the floor", as if the model were bad at it
        raise RegistryError(f"--topics {','.join(unknown)}: not a topic of {name} v{version} "
                            f"(its topics: {', '.join(labels)})")
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
        champion = client.get_run(current.run_id).data.metrics
    except MlflowException:
        current, champion = None, None
    if current is not None and str(current.version) == str(version):
        return False, f"version {version} is already the champion", version
    ok, reason = promotion_decision(candidate, champion, topics, floor)
    if ok:
        client.set_registered_model_alias(name, CHAMPION, version)
    return ok, reason, version
