"""Shared fixtures: a scratch copy of the repo's data and configs, and one fast trained model."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Small CV and one C keep CI fast; without the excerpt view the fit has half the rows (tests of that view set it themselves).
FAST = ["evaluation.n_splits=3", "evaluation.n_repeats=1", "evaluation.inner_splits=2", "model.C_grid=[10.0]", "model.excerpt_view=false"]


def copy_project(dest: Path) -> Path:
    """The parts of the repo a run reads: configs, raw data, annotations, samples."""
    shutil.copytree(ROOT / "configs", dest / "configs")
    for part in ("data/raw", "data/annotations", "data/samples"):
        shutil.copytree(ROOT / part, dest / part)
    return dest


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A scratch project folder, made the working directory."""
    copy_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def fast_config_args() -> list[str]:
    return [f"--set={s}" for s in FAST]


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory) -> Path:
    """The default config, trained fast (1 repeat, fixed C) without MLflow, saved as an artifact (scope gate included)."""
    from dataclasses import asdict

    from predict.artifact import save_model
    from train.config import load_config
    from train.dataset import dataset_version
    from train.prepare import collect_examples
    from train.provenance import build_meta
    from train.train import train_and_calibrate

    base = copy_project(tmp_path_factory.mktemp("project"))
    config = load_config(base / "configs/default.yaml", FAST)
    for corpus in config.data.corpora:
        corpus.path, corpus.annotations = base / corpus.path, base / corpus.annotations
    config.data.sources[0].path = base / "data/raw/ant/ant_subset.jsonl"
    config.features.lexicon = base / "configs/lexicon.yaml"
    config.features.scope = base / "configs/scope.yaml"
    rows = [asdict(e) for e in collect_examples(config) if e.split == "train"]
    result, calibration, _ = train_and_calibrate(config, rows)
    out = base / "models/fast"
    save_model(out, result.scorer, {**build_meta(config, result, dataset_version(rows), None), "article_calibration": calibration,
                                    "scope_gate": result.gate_meta}, result.gate)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer in {timeout}s")


def mihwar(*args: str, cwd: Path | None = None, env: dict | None = None, input: str | None = None, check: bool = True):
    """Run the real `mihwar` console entry point in a subprocess."""
    cmd = [sys.executable, "-m", "mihwar.cli", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, input=input, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
