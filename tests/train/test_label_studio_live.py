"""The labeling loop against a real Label Studio on loopback: suggest -> import tasks -> annotate
through the API as an annotator would -> export -> import-labels -> retrain -> new examples, new run."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FAST, ROOT, free_port, mihwar

LS_BIN = ROOT / ".venv-ls" / "bin" / "label-studio"
ARTIFACTS = Path(os.environ.get("MIHWAR_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))
HELD_BACK = 8  # gold rows taken out of the shipped annotations, to be labeled again in Label Studio


def held_back_rows(path: Path) -> list[dict]:
    """Remove two labeled paragraphs from each of four seed articles; return them (the annotator's answers)."""
    rows = [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines()]
    taken, keep = [], []
    for r in rows:
        if r["label"] != "skip" and sum(t["article_id"] == r["article_id"] for t in taken) < 2 and len(taken) < HELD_BACK:
            taken.append(r)
        else:
            keep.append(r)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep), encoding="utf-8")
    return taken


def start_label_studio(tmp_path: Path, env: dict) -> tuple[str, subprocess.Popen]:
    port = free_port()
    t0 = time.time()
    env = {**env, "LABEL_STUDIO_PORT": str(port), "LABEL_STUDIO_DATA_DIR": str(tmp_path / "ls-data"),
           "LABEL_STUDIO_USER_TOKEN": "mihwar-test-token-0123456789", "LABEL_STUDIO_PASSWORD": "mihwar-test-pw"}
    proc = subprocess.run(["bash", str(ROOT / "scripts/label-studio.sh"), "start"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=420)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (ARTIFACTS / "label_studio_startup.txt").write_text(f"{time.time() - t0:.1f} s\n{proc.stderr}", encoding="utf-8")
    return f"http://127.0.0.1:{port}", env


@pytest.mark.slow
@pytest.mark.skipif(not LS_BIN.exists(), reason="Label Studio is not installed in .venv-ls: run `bash scripts/label-studio.sh install` "
                    "(make test does it)")
def test_label_studio_round_trip_retrains_on_the_new_labels(workdir, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    annotations = workdir / "data/annotations/paragraphs.jsonl"
    gold = {r["paragraph_hash"]: r["label"] for r in held_back_rows(annotations)}
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "LS_VENV": str(ROOT / ".venv-ls")}
    env.pop("MIHWAR_MODEL", None)
    fast = [f"--set={s}" for s in FAST] + ["--set=tracking.register_model=false"]
    mihwar("prepare", "configs/default.yaml", cwd=workdir, env=env)
    mihwar("train", "configs/default.yaml", *fast, cwd=workdir, env=env)
    mihwar("add", "data/samples/un_ceasefire_vote.txt", cwd=workdir, env=env)

    url, env = start_label_studio(tmp_path, env)
    try:
        env["LABEL_STUDIO_API_KEY"] = env["LABEL_STUDIO_USER_TOKEN"]
        out = mihwar("suggest", "configs/default.yaml", "--limit", "30", "--per-article", "10", "--to-label-studio", url,
                     cwd=workdir, env=env)
        assert "imported" in out.stderr
        sys.path.insert(0, str(ROOT))
        from train.label_studio_api import LabelStudio

        ls = LabelStudio(url, env["LABEL_STUDIO_API_KEY"])
        project = ls.project_by_title("mihwar topics")
        tasks = ls.tasks(project["id"])
        seed_tasks = [t for t in tasks if t["data"]["paragraph_hash"] in gold]
        assert len(seed_tasks) == HELD_BACK and all(t["total_predictions"] == 1 for t in tasks)
        for t in seed_tasks:
            ls.annotate(t["id"], gold[t["data"]["paragraph_hash"]])
        added = [t for t in tasks if t["data"]["article_id"].startswith("un-ceasefire-vote_")]
        ls.annotate(added[0]["id"], "diplomacy")  # the new article's labels go to its own corpus's file
        screenshot(url, env, project["id"], seed_tasks[0]["id"])

        export = tmp_path / "export.json"
        export.write_text(json.dumps(ls.export(project["id"]), ensure_ascii=False), encoding="utf-8")
        res = mihwar("import-labels", "--from-label-studio", url, "--project", str(project["id"]), cwd=workdir, env=env)
        assert f"{HELD_BACK + 1} added" in res.stdout, res.stdout + res.stderr
        again = mihwar("import-labels", str(export), cwd=workdir, env=env)
        assert "0 added" in again.stdout and f"{HELD_BACK + 1} already there" in again.stdout
    finally:
        subprocess.run(["bash", str(ROOT / "scripts/label-studio.sh"), "stop"], cwd=tmp_path, env=env, timeout=60)

    rows = [json.loads(l) for l in annotations.read_text(encoding="utf-8").splitlines()]
    imported = [r for r in rows if r.get("origin") == "label-studio"]
    assert {r["paragraph_hash"]: r["label"] for r in imported} == gold  # predictions nobody reviewed were not taken
    assert all(r["annotator"] == "analyst@mihwar.local" and r["ls_task_id"] and r["annotated_at"] for r in imported)
    added_rows = (workdir / "data/annotations/added_paragraphs.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(added_rows) == 1 and json.loads(added_rows[0])["label"] == "diplomacy"

    mihwar("prepare", "configs/default.yaml", cwd=workdir, env=env)
    mihwar("train", "configs/default.yaml", *fast, cwd=workdir, env=env)
    from datasets import load_from_disk

    train = load_from_disk(str(workdir / "data/processed/default"))["train"]
    texts = set(train["text"])
    assert all(any(r["excerpt"] in t for t in texts) for r in imported)
    import mlflow

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    assert len(mlflow.search_runs(experiment_names=["mihwar"])) == 2


def screenshot(url: str, env: dict, project_id: int, task_id: int) -> None:
    """A task in the RTL config, in headless Chromium, kept as a test artifact (skipped without chromium)."""
    chromium, driver_bin = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_bin):
        (ARTIFACTS / "label_studio_task.SKIPPED").write_text("chromium/chromedriver missing (scripts/ensure-chromium.sh)")
        return
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,900", "--no-first-run"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_bin), options=options)
    try:
        driver.get(url + "/user/login/")
        driver.find_element(By.NAME, "email").send_keys("analyst@mihwar.local")
        driver.find_element(By.NAME, "password").send_keys(env["LABEL_STUDIO_PASSWORD"])
        driver.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
        WebDriverWait(driver, 60).until(lambda d: "/login" not in d.current_url)
        driver.get(f"{url}/projects/{project_id}/data?task={task_id}")
        WebDriverWait(driver, 90).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "input[type=radio]")) >= 6)
        time.sleep(1.5)
        rtl = driver.execute_script("return [...document.querySelectorAll('div')].some(e => getComputedStyle(e).direction === 'rtl')")
        assert rtl
        driver.save_screenshot(str(ARTIFACTS / "label_studio_task.png"))
    finally:
        driver.quit()
