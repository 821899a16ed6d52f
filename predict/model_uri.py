"""Which tracking store and which model a command uses when none is named.

One resolution for every command (train, evaluate, promote, predict, serve):
``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else the project's SQLite store
``mlruns/mlflow.db`` under the project root (the nearest folder holding ``dvc.yaml``).
Labeling defaults to the registry's champion when the store holds one, else to
``models/default``. Nothing here imports MLflow unless a remote store must be asked.
"""

from __future__ import annotations

import os
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import unquote, urlparse

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


def registry_folder(uri: str, tracking_uri: str) -> Path | None:
    """The folder on this disk that holds the model version ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``
    names, read from a SQLite store without MLflow; None where MLflow must be asked.

    MLflow would import itself (1.2 s, 190 MB) and copy the version's files to a temporary folder on every
    run; labeling only reads them. None for any other URI or store, a version that is not READY, one whose
    files are not on this disk, or a name or alias found more than once (workspaces).
    """
    path = sqlite_path(tracking_uri)
    match = re.fullmatch(r"models:/([^/@]+)(?:@([^/]+)|/(\d+))/?", uri)
    if path is None or match is None or not path.is_file():
        return None
    name, alias, version = match.groups()
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            if alias is not None:
                found = db.execute("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                                   (name, alias)).fetchall()
                if len(found) != 1:
                    return None
                version = found[0][0]
            found = db.execute("SELECT storage_location, status FROM model_versions WHERE name = ? AND version = ?",
                               (name, int(version))).fetchall()
    except (sqlite3.Error, ValueError):
        return None
    if len(found) != 1 or found[0][1] != "READY" or not str(found[0][0] or "").startswith("file:"):
        return None
    location = urlparse(found[0][0])
    folder = Path(unquote(location.path))
    return folder if location.netloc in ("", "localhost") and folder.is_dir() else None


def default_model_uri(tracking_uri: str | None = None) -> str:
    """The model labeling uses when none is named: $MIHWAR_MODEL, else the champion, else models/default."""
    if os.environ.get("MIHWAR_MODEL"):
        return os.environ["MIHWAR_MODEL"]
    if champion_version(resolve_tracking_uri(tracking_uri)) is not None:
        return CHAMPION_URI
    return str(DEFAULT_MODEL_DIR)
