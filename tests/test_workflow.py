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
    config["model"]["excerpt_view"] = False  # half the training rows; the view has its own tests (tests/train)
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


# --- The README, followed literally: its marked blocks are parsed and run, not re-typed. ---

import re
import signal

from tests.conftest import free_port, wait_http

SERVERS = ("mihwar serve", "mlflow models serve")  # long-running: started, answered, stopped


def readme_block(name: str) -> list[str]:
    """The commands of the ```bash block under `<!-- test:NAME ...-->`, continuation lines joined."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- test:{re.escape(name)}\b[^>]*-->\s*```bash\n(.*?)```", text, re.S)
    assert match, f"README.md has no block marked test:{name}"
    return [line.strip() for line in match.group(1).replace("\\\n", " ").splitlines() if line.strip()]


def bash(line: str, cwd: Path, env: dict, ok=(0,)) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode in ok, f"{line}\n-> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def run_with_server(lines: list[str], cwd: Path, env: dict, ready_path: str) -> list[str]:
    """Exports before the server line apply to it; the server is started, the lines after it run, then it stops."""
    i = next(i for i, line in enumerate(lines) if line.startswith(SERVERS))
    port = int(re.search(r"--port (\d+)", lines[i]).group(1))
    proc = subprocess.Popen(["bash", "-c", "\n".join([*lines[:i], "exec " + lines[i]])], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}{ready_path}", proc, timeout=180)
        return [bash("\n".join([*lines[:i], line]), cwd, env).stdout for line in lines[i + 1:]]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def with_free_ports(lines: list[str]) -> list[str]:
    """The README's fixed ports, swapped for free ones so parallel test runs do not collide."""
    ports = {p: str(free_port()) for line in lines for p in re.findall(r"(?:--port |localhost:)(\d+)", line)}
    return [re.sub(r"(--port |localhost:)(\d+)", lambda m: m.group(1) + ports[m.group(2)], line) for line in lines]


FILL_LABELS = """import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
for r in rows:
    r["label"] = r["label"] or "diplomacy"
open(sys.argv[1], "w", encoding="utf-8").write("".join(json.dumps(r, ensure_ascii=False) + "\\n" for r in rows))
"""


@pytest.mark.slow
def test_readme_quickstart_retraining_and_serving_run_as_written_in_a_fresh_clone(tmp_path):
    venv = Path(sys.prefix)
    if not (venv / ".core-installed").is_file():
        pytest.skip("needs the project's .venv (made by `make setup`): the clone's `make quickstart` reuses it")
    repo = tmp_path / "clone"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (repo / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, repo / f)
    config = yaml.safe_load((repo / "configs/default.yaml").read_text(encoding="utf-8"))
    config["evaluation"].update(n_splits=3, n_repeats=1, inner_splits=2)  # small data, same commands
    config["model"]["C_grid"] = [10.0]
    config["model"]["excerpt_view"] = False  # half the training rows; the view has its own tests (tests/train)
    (repo / "configs/default.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    (repo / ".venv").symlink_to(venv)  # `make setup` finds it installed and leaves it alone
    for dep in ("requirements.lock", "pyproject.toml"):
        stamp = (venv / ".core-installed").stat().st_mtime
        os.utime(repo / dep, (stamp - 60, stamp - 60))
    shutil.copy2(ROOT / "data/samples/un_ceasefire_vote.txt", repo / "new_article.txt")  # the analyst's new article
    (tmp_path / "fill_labels.py").write_text(FILL_LABELS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MIHWAR_MODEL", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", EDITOR=f"{sys.executable} {tmp_path / 'fill_labels.py'}",
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    for line in ("git init -q", "git add -A", "git commit -qm clone"):
        bash(line, repo, env)
    (repo / ".git/info/exclude").write_text("/.venv\n/new_article.txt\n")

    # Quickstart: `make test` is this suite, so it is the one line not run here.
    for line in readme_block("quickstart"):
        if not line.startswith("make test"):
            bash(line, repo, env)
    rows = [json.loads(l) for l in (repo / "out/labels.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 5 and all(r["error"] is None for r in rows)
    from predict.model_uri import champion_version

    assert champion_version(f"sqlite:///{repo / 'mlruns/mlflow.db'}") == "1"  # the quickstart ends with a champion
    bash("\n".join(["set -e", *readme_block("after-quickstart")]), repo, env)
    assert (repo / "out/champion.jsonl").read_text(encoding="utf-8") == (repo / "out/labels.jsonl").read_text(encoding="utf-8")
    # without --model: the champion, read from the store's own folder (MLflow's real schema), MLflow never imported
    plain = bash(f"{sys.executable} -X importtime -m mihwar.cli predict data/samples -o out/plain.jsonl", repo, env)
    assert "model: models:/mihwar-topics@champion" in plain.stderr
    assert not [line for line in plain.stderr.splitlines() if line.startswith("import time:") and "mlflow" in line]
    assert (repo / "out/plain.jsonl").read_text(encoding="utf-8") == (repo / "out/labels.jsonl").read_text(encoding="utf-8")

    served = run_with_server(with_free_ports(readme_block("serving")), repo, env, "/readyz")
    assert json.loads(served[0])["results"][0]["label"] == "sanctions"
    served = run_with_server(with_free_ports(readme_block("mlflow-serve")), repo, env, "/ping")
    predictions = json.loads(served[0], parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))["predictions"]
    assert predictions[0]["label"] == "sanctions" and predictions[1]["error"]
    assert not (repo / "mlflow.db").exists()

    # Retraining, line by line; `mihwar promote` may refuse (exit 1) by design.
    bash("git add -A && git commit -qm quickstart", repo, env)
    for line in readme_block("retraining"):
        if line.startswith("mlflow ui"):
            continue  # a browser UI for a person; the same store is read by promote and serve here
        if line.startswith("mihwar promote"):
            assert "mihwar-topics v2: " in bash(line, repo, env, ok=(0, 1)).stdout
        else:
            bash(line, repo, env)
    status = bash("git status --porcelain --untracked-files=all", repo, env).stdout
    assert status == "", f"the README's commit line left these out (or they are not ignored):\n{status}"
    assert "new_article" in bash("git show --stat HEAD", repo, env).stdout  # a teammate's clone has the raw article

    # The same inputs give the same dvc.lock: nothing run-specific is hashed.
    bash("dvc repro -f", repo, env)
    assert bash("git status --porcelain", repo, env).stdout == "", bash("git diff dvc.lock", repo, env).stdout


def test_committed_dvc_lock_matches_dvc_yaml_and_the_code():
    """A fresh clone's `dvc repro` must not rewrite dvc.lock: every dependency recorded is the file as committed."""
    import hashlib

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    stale = []
    for name, stage in stages.items():
        assert sorted(d["path"] for d in lock[name]["deps"]) == sorted(stage["deps"]), f"dvc.lock's {name} deps are not dvc.yaml's"
        for dep in lock[name]["deps"]:
            path = ROOT / dep["path"]
            if path.is_file() and hashlib.md5(path.read_bytes()).hexdigest() != dep["md5"]:
                stale.append(dep["path"])
    assert not stale, f"dvc.lock is stale for {stale}: run `dvc repro` and commit dvc.lock"


def test_generated_files_are_ignored_by_git():
    proc = subprocess.run(["git", "check-ignore", "dvc_plots/index.html", "mlflow.db", "configs/mlflow.db"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.stdout.split() == ["dvc_plots/index.html", "mlflow.db", "configs/mlflow.db"]
