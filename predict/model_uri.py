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
from typing import Callable, TypeVar
from urllib.parse import unquote, urlparse

REGISTERED_MODEL = "mihwar-topics"
CHAMPION = "champion"
CHAMPION_URI = f"models:/{REGISTERED_MODEL}@{CHAMPION}"
DEFAULT_MODEL_DIR = Path("models") / "default"
STORE_FILE = Path("mlruns") / "mlflow.db"
PROJECT_MARKER = "dvc.yaml"
T = TypeVar("T")


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


class ModelNotFoundError(FileNotFoundError):
    """The model URI names nothing that holds a mihwar model (or the store that would say cannot be read)."""


def registry_uri(tracking_uri: str) -> str:
    """The store the model registry is read from: $MLFLOW_REGISTRY_URI, else the tracking store, as MLflow does."""
    return os.environ.get("MLFLOW_REGISTRY_URI") or tracking_uri


def _in_workspace(db: sqlite3.Connection, table: str) -> tuple[str, tuple[str, ...]]:
    """A filter on MLflow's workspace column ($MLFLOW_WORKSPACE, else ``default``) where the table has one."""
    if any(row[1] == "workspace" for row in db.execute(f"PRAGMA table_info({table})")):
        return " AND workspace = ?", (os.environ.get("MLFLOW_WORKSPACE") or "default",)
    return "", ()


def _alias_versions(db: sqlite3.Connection, name: str, alias: str) -> list[int]:
    """The versions ``NAME@ALIAS`` names in this workspace (one, where MLflow's store is whole)."""
    where, more = _in_workspace(db, "registered_model_aliases")
    return [row[0] for row in db.execute(f"SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?{where}",
                                         (name, alias, *more))]


def _read_registry(path: Path, read: Callable[[sqlite3.Connection], T]) -> T | None:
    """``read`` on the SQLite store, read-only; None where the store is no registry (yet), or an older one
    without the tables or columns read here. A store that cannot be read is an error, not "no model":
    labeling must not go on quietly with another model than the champion."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
            return read(db)
    except sqlite3.OperationalError as exc:
        if str(exc).startswith(("no such table", "no such column")):
            return None
        problem = f"cannot be read ({exc})"
    except sqlite3.DatabaseError as exc:
        problem = f"is not an MLflow store ({exc})"
    raise ModelNotFoundError(f"{path}: the model registry {problem}; try again, or name the model with --model")


def champion_version(tracking_uri: str, name: str = REGISTERED_MODEL) -> str | None:
    """The champion's version in the registry, or None when there is no store, no model or no champion.

    A SQLite store is read directly, so a labeling run without a champion never imports MLflow.
    """
    path = sqlite_path(registry_uri(tracking_uri))
    if path is not None:
        if not path.is_file():
            return None

        def read(db: sqlite3.Connection) -> str | None:
            versions = _alias_versions(db, name, CHAMPION)
            return str(versions[0]) if versions else None

        return _read_registry(path, read)
    try:
        import mlflow

        version = mlflow.MlflowClient(tracking_uri=tracking_uri).get_model_version_by_alias(name, CHAMPION)
        return str(version.version)
    except Exception:  # unreachable server or no champion: label with the local default
        return None


def registry_folder(uri: str, tracking_uri: str) -> Path | None:
    """The folder on this disk where the registry keeps the version ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``
    names, read from a SQLite store without MLflow; None where MLflow must be asked.

    MLflow would import itself (1.2 s, 190 MB) to return the same folder. None for any other URI or store, a
    version that is not READY or was deleted, one whose files are not on this disk, or a name or alias found more
    than once. The folder may be missing: the caller says so.
    """
    path = sqlite_path(registry_uri(tracking_uri))
    match = re.fullmatch(r"models:/([^/@]+)(?:@([^/]+)|/([0-9]{1,18}))/?", uri)
    if path is None or match is None or not path.is_file():
        return None
    name, alias, number = match.groups()

    def read(db: sqlite3.Connection) -> list[tuple]:
        version = number
        if alias is not None:
            versions = _alias_versions(db, name, alias)
            if len(versions) != 1:
                return []
            version = versions[0]
        where, more = _in_workspace(db, "model_versions")
        return db.execute("SELECT storage_location, status FROM model_versions WHERE name = ? AND version = ? "
                          f"AND (current_stage IS NULL OR current_stage != 'Deleted_Internal'){where}",
                          (name, int(version), *more)).fetchall()

    found = _read_registry(path, read)
    if not found or len(found) != 1 or found[0][1] != "READY" or not str(found[0][0] or "").startswith("file:"):
        return None
    location = urlparse(found[0][0])
    return Path(unquote(location.path)) if location.netloc in ("", "localhost") else None


def default_model_uri(tracking_uri: str | None = None) -> str:
    """The model labeling uses when none is named: $MIHWAR_MODEL, else the champion, else models/default."""
    if os.environ.get("MIHWAR_MODEL"):
        return os.environ["MIHWAR_MODEL"]
    if champion_version(resolve_tracking_uri(tracking_uri)) is not None:
        return CHAMPION_URI
    return str(DEFAULT_MODEL_DIR)
