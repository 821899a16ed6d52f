"""Which tracking store and which model a command uses when none is named.

One resolution for every command (train, evaluate, promote, predict, serve):
``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else the project's SQLite store
``mlruns/mlflow.db`` under the project root (the nearest folder holding ``dvc.yaml``).
Labeling defaults to the registry's champion when the store holds one, else to
``models/default``. Nothing here imports MLflow unless a remote store must be asked.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

REGISTERED_MODEL = "mihwar-topics"
CHAMPION = "champion"
CHAMPION_URI = f"models:/{REGISTERED_MODEL}@{CHAMPION}"
DEFAULT_MODEL_DIR = Path("models") / "default"
STORE_FILE = Path("mlruns") / "mlflow.db"
PROJECT_MARKER = "dvc.yaml"


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) holding dvc.yaml, else ``start``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder
    return here


def default_tracking_uri() -> str:
    """The project's own store, as an absolute SQLite URI (the same from any subfolder)."""
    return f"sqlite:///{project_root() / STORE_FILE}"


def resolve_tracking_uri(cli_value: str | None = None) -> str:
    """--tracking-uri, else $MLFLOW_TRACKING_URI, else the project's SQLite store."""
    return cli_value or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, None for any other store."""
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def use_tracking_uri(cli_value: str | None = None) -> str:
    """Point MLflow (already imported by the caller) at the resolved store; return the URI."""
    import mlflow

    uri = resolve_tracking_uri(cli_value)
    mlflow.set_tracking_uri(uri)
    return uri


def champion_version(tracking_uri: str, name: str = REGISTERED_MODEL) -> str | None:
    """The champion's version in the store, or None when there is no store, no model or no champion.

    A SQLite store is read directly, so a labeling run without a champion never imports MLflow.
    """
    path = sqlite_path(tracking_uri)
    if path is not None:
        if not path.is_file():
            return None
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                row = db.execute("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                                 (name, CHAMPION)).fetchone()
            return str(row[0]) if row else None
        except sqlite3.Error:
            return None  # not an MLflow store (yet): nothing registered
    try:
        import mlflow

        version = mlflow.MlflowClient(tracking_uri=tracking_uri).get_model_version_by_alias(name, CHAMPION)
        return str(version.version)
    except Exception:  # unreachable server or no champion: label with the local default
        return None


def default_model_uri(tracking_uri: str | None = None) -> str:
    """The model labeling uses when none is named: $MIHWAR_MODEL, else the champion, else models/default."""
    if os.environ.get("MIHWAR_MODEL"):
        return os.environ["MIHWAR_MODEL"]
    if champion_version(resolve_tracking_uri(tracking_uri)) is not None:
        return CHAMPION_URI
    return str(DEFAULT_MODEL_DIR)
