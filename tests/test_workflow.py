"""End to end on the shipped corpus, in a fresh git + DVC repository:
dvc repro (prepare -> train -> evaluate) -> dvc exp run -> dvc metrics -> mihwar predict."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT


def sh(*cmd, cwd, env):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.slow
def test_fresh_clone_dvc_repro_experiment_and_batch_labeling(tmp_path):
    repo = tmp_path / "clone"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (repo / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, repo / f)
    for generated in ("dvc.lock", "reports/default/metrics.json"):  # a clone has them; prove repro needs nothing pulled
        (repo / generated).unlink(missing_ok=True)
    config = yaml.safe_load((repo / "configs/default.yaml").read_text(encoding="utf-8"))
    config["evaluation"].update(n_splits=3, n_repeats=1, inner_splits=2)  # small, to keep CI fast
    config["model"]["C_grid"] = [10.0]
    (repo / "configs/default.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("MIHWAR_MODEL", None)
    sh("git", "init", "-q", cwd=repo, env=env)
    sh("git", "config", "user.name", "mihwar test", cwd=repo, env=env)  # dvc exp commits without reading env vars
    sh("git", "config", "user.email", "test@localhost", cwd=repo, env=env)
    sh("git", "add", "-A", cwd=repo, env=env)
    sh("git", "commit", "-qm", "clone", cwd=repo, env=env)

    out = sh("dvc", "repro", cwd=repo, env=env)
    assert all(f"Running stage '{s}'" in out for s in ("prepare", "train", "evaluate"))
    metrics = json.loads((repo / "reports/default/metrics.json").read_text())
    assert 0 < metrics["paragraph_cv"]["cv_macro_f1"] <= 1 and "cv_macro_f1_std" in metrics["paragraph_cv"]
    assert (repo / "reports/default/plots/confusion.png").stat().st_size > 1000
    assert (repo / "models/default/linear/coef.npy").is_file() and (repo / "dvc.lock").is_file()
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    dataset_md5 = next(o["md5"] for o in lock["stages"]["prepare"]["outs"] if o["path"] == "data/processed/default")
    meta = json.loads((repo / "models/default/meta.json").read_text())
    assert meta["dvc_dataset_md5"] == dataset_md5  # MLflow run tag and model point at DVC's version of the data
    assert "Stage 'train' didn't change" in sh("dvc", "repro", cwd=repo, env=env) or "up to date" in sh("dvc", "status", cwd=repo, env=env)

    sh("git", "add", "-A", cwd=repo, env=env)
    sh("git", "commit", "-qm", "baseline", cwd=repo, env=env)
    sh("dvc", "exp", "run", "-S", "configs/default.yaml:model.C_grid=[1.0]", "-n", "c1", cwd=repo, env=env)
    table = json.loads(sh("dvc", "exp", "show", "--json", cwd=repo, env=env))
    names = json.dumps(table)
    assert "c1" in names and "cv_macro_f1" in names
    diff = sh("dvc", "metrics", "diff", "--json", cwd=repo, env=env)
    assert "reports/default/metrics.json" in diff
    plots = sh("dvc", "plots", "show", "--json", cwd=repo, env=env)
    assert "coverage" in plots and "confusion.png" in plots

    sh(sys.executable, "-m", "mihwar.cli", "predict", "data/samples", "--output", "out/labels.jsonl", cwd=repo, env=env)
    rows = [json.loads(l) for l in (repo / "out/labels.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 5 and all(r["error"] is None for r in rows)
    assert {r["id"] for r in rows} >= {"monitor-1", "monitor-2", "data/samples/sport_page.html"}
