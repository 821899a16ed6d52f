"""`mihwar serve` as a real process on a loopback port, spoken to over HTTP."""

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port, wait_http

SANCTIONS = "أعلنت وزارة الخزانة الأمريكية فرض عقوبات جديدة بموجب قانون قيصر على رجال أعمال مرتبطين بالنظام السوري."
DRUGS = "ضبطت السلطات الأردنية شحنة كبيرة من حبوب الكبتاغون المهربة من سوريا عبر الحدود."


def start_server(model_dir, **env_extra):
    port = free_port()
    env = {**os.environ, "MIHWAR_MAX_ARTICLES": "5", "MIHWAR_MAX_CHARS": "5000", "MIHWAR_MAX_BODY_BYTES": "60000",
           "MIHWAR_LOG_LEVEL": "warning", **env_extra}
    env.pop("MIHWAR_API_TOKEN", None) if "MIHWAR_API_TOKEN" not in env_extra else None
    proc = subprocess.Popen([sys.executable, "-m", "mihwar.cli", "serve", "--model", str(model_dir), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz", proc)
    return proc, base


@pytest.fixture(scope="module")
def server(trained_model_dir):
    proc, base = start_server(trained_model_dir)
    yield base
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def secured(trained_model_dir):
    proc, base = start_server(trained_model_dir, MIHWAR_API_TOKEN="s3cret")
    yield base
    proc.terminate()
    proc.wait(timeout=20)


def test_health_ready_and_model_info(server):
    assert httpx.get(server + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server + "/readyz").json() == {"status": "ready"}
    info = httpx.get(server + "/v1/model").json()
    assert set(info["topics"]) == {"drugs", "counter_isis", "sanctions", "diplomacy"} and info["backend"] == "linear"
    assert 0 <= info["threshold"] <= 1 and "cv_macro_f1" in info["metrics"]


def test_probes_answer_head_too(server):
    """Load balancers and uptime monitors often probe with HEAD: 200 and no body, not 405."""
    for path in ("/healthz", "/readyz", "/"):
        r = httpx.head(server + path)
        assert r.status_code == 200 and r.content == b"", path


def test_a_misspelt_field_is_an_error_not_ignored(server):
    """`"paragraph": true` used to be ignored, so the client got no paragraphs and no hint why."""
    r = httpx.post(server + "/v1/classify", json={"text": DRUGS, "paragraph": True})
    assert r.status_code == 422 and r.json() == {"error": "invalid request: body.paragraph: unknown field; a request has "
                                                          "text (or articles), and optionally id, paragraphs, explain"}
    r = httpx.post(server + "/v1/classify", json={"articles": [{"text": DRUGS}, {"txt": DRUGS, "ID": "b"}]})
    assert r.status_code == 422
    error = r.json()["error"]
    assert "body.articles.1.txt: unknown field; an article has text, and optionally id" in error
    assert "body.articles.1.ID: unknown field" in error and "body.articles.1.text: Field required" in error
    assert DRUGS not in error  # errors never echo the client's text
    for odd in ("a\nb\u202e", "articles.0.text", "x" * 41, "\u0646\u0635"):  # control, a path, long, Arabic
        r = httpx.post(server + "/v1/classify", json={"text": DRUGS, odd: 1})
        assert r.status_code == 422 and r.json() == {"error": "invalid request: body: an unknown field (its name is not "
                                                              "shown: not a plain name); a request has text (or articles), "
                                                              "and optionally id, paragraphs, explain"}, odd
    for body, where in ((b'{"text": "x", "\\ud800": 1}', "body"),
                        (b'{"articles": [{"text": "x"}, {"text": "y", "\\udfff": 1}]}', "body.articles.1")):
        r = httpx.post(server + "/v1/classify", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json() == {
            "error": f"invalid request: {where}: a field name holds invalid Unicode (a lone surrogate)"}


def test_classify_one_article_and_a_batch(server):
    one = httpx.post(server + "/v1/classify", json={"id": "a1", "text": SANCTIONS, "paragraphs": True, "explain": True}).json()
    [row] = one["results"]
    assert row["id"] == "a1" and row["label"] == "sanctions" and row["paragraphs"][0]["label"] == "sanctions"
    assert row["explanation"]
    batch = httpx.post(server + "/v1/classify", json={"articles": [{"id": "x", "text": DRUGS}, {"text": "  "},
                                                                   {"text": "English only text here"}]}).json()
    assert [r["id"] for r in batch["results"]] == ["x", "1", "2"]
    assert batch["results"][0]["label"] == "drugs"
    assert batch["results"][1]["error"] == "empty text"
    assert batch["results"][2]["not_arabic"] is True and batch["results"][2]["label"] == "other"


def test_same_answer_as_the_cli(server, trained_model_dir, tmp_path):
    src = tmp_path / "a.jsonl"
    src.write_text(json.dumps({"id": "z", "text": DRUGS}, ensure_ascii=False) + "\n", encoding="utf-8")
    cli = subprocess.run([sys.executable, "-m", "mihwar.cli", "predict", str(src), "--model", str(trained_model_dir)],
                         capture_output=True, text=True, check=True)
    http = httpx.post(server + "/v1/classify", json={"id": "z", "text": DRUGS}).json()["results"][0]
    assert json.loads(cli.stdout) == http


def test_limits_answer_with_clear_json_errors(server):
    r = httpx.post(server + "/v1/classify", json={"articles": [{"text": DRUGS}] * 6})
    assert r.status_code == 413 and r.json() == {"error": "articles: 6 in one request, limit 5"}
    r = httpx.post(server + "/v1/classify", json={"articles": [{"text": DRUGS}, {"text": "ا" * 5001}]})
    assert r.status_code == 413 and r.json() == {"error": "articles.1.text: 5001 characters, limit 5000"}
    r = httpx.post(server + "/v1/classify", content=json.dumps({"text": "ا" * 70000}), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json() == {"error": "request body over the limit of 60000 bytes"}

    def chunks():
        for _ in range(10):
            yield b" " * 10000

    r = httpx.post(server + "/v1/classify", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413  # no Content-Length: counted while streaming


def test_bad_json_and_wrong_types_get_422_naming_the_field(server):
    r = httpx.post(server + "/v1/classify", content=b'{"text": "abc"', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"].startswith("invalid JSON: ")
    r = httpx.post(server + "/v1/classify", json={"articles": [{"id": "a", "text": 7}]})
    assert r.status_code == 422 and "body.articles.0.text: Input should be a valid string" in r.json()["error"]
    r = httpx.post(server + "/v1/classify", json={"text": DRUGS, "articles": []})
    assert r.status_code == 422 and "either 'text'" in r.json()["error"]


def test_concurrent_requests_all_answered(server):
    def call(i):
        return httpx.post(server + "/v1/classify", json={"id": str(i), "text": (DRUGS, SANCTIONS)[i % 2]}, timeout=30).json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(40)))
    assert [r["results"][0]["label"] for r in results] == [("drugs", "sanctions")[i % 2] for i in range(40)]


def test_openapi_documents_the_routes(server):
    spec = httpx.get(server + "/openapi.json").json()
    assert {"/v1/classify", "/v1/model", "/healthz", "/readyz"} <= set(spec["paths"])
    assert "ClassifyRequest" in spec["components"]["schemas"]


def test_auth_on(secured):
    assert httpx.get(secured + "/healthz").status_code == 200 and httpx.get(secured + "/readyz").status_code == 200
    r = httpx.post(secured + "/v1/classify", json={"text": DRUGS})
    assert r.status_code == 401 and r.json() == {"error": "missing or wrong bearer token"}
    assert httpx.get(secured + "/v1/model", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = httpx.post(secured + "/v1/classify", json={"text": DRUGS}, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json()["results"][0]["label"] == "drugs"


def test_binds_to_loopback_by_default():
    from typer.testing import CliRunner

    from mihwar.cli import app

    help_text = CliRunner().invoke(app, ["serve", "--help"]).output
    assert "127.0.0.1" in help_text


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver are not installed "
                    "(make test installs them with apt-get when it runs as root)")
def test_analyst_page_in_headless_chromium(secured, tmp_path):
    """The page behind a token: asks for it, then shows the API's label, confidence and scores as they are."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(secured + "/")
        article = next((ROOT / "data/raw/articles").glob("001_*.txt")).read_text(encoding="utf-8")
        box = driver.find_element(By.ID, "text")
        driver.execute_script("arguments[0].value = arguments[1];", box, article)  # a paste, without IME quirks
        driver.find_element(By.ID, "go").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "error").text)
        assert "رمز الدخول" in driver.find_element(By.ID, "error").text  # no token yet: told what to do
        driver.find_element(By.ID, "token").send_keys("s3cret")
        driver.find_element(By.ID, "go").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "topic").get_attribute("data-label"))
        assert driver.find_element(By.ID, "topic").get_attribute("data-label") == "drugs"
        assert driver.find_element(By.ID, "topic").text == "المخدرات (الكبتاغون)"
        api = httpx.post(secured + "/v1/classify", json={"text": article, "paragraphs": True},
                         headers={"Authorization": "Bearer s3cret"}).json()["results"][0]
        assert float(driver.find_element(By.ID, "confidence").get_attribute("data-confidence")) == api["confidence"]
        assert driver.find_element(By.ID, "confidence").text == f"{api['confidence'] * 100:.1f}%"
        bars = driver.find_elements(By.CSS_SELECTOR, "#bars .bar")
        assert {b.get_attribute("data-label"): float(b.get_attribute("data-score")) for b in bars} == api["scores"]
        assert "الثقة" in driver.find_element(By.ID, "confidence-help").text
        shaded = driver.find_elements(By.CSS_SELECTOR, "#paragraphs .para")
        assert len(shaded) == 16 and all(p.get_attribute("data-label") for p in shaded)
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("dir") == "rtl"
        artifacts = Path(os.environ.get("MIHWAR_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))
        artifacts.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(artifacts / "analyst_page.png"))
    finally:
        driver.quit()


def test_scoring_does_not_block_health_checks(trained_model_dir):
    import threading

    proc, base = start_server(trained_model_dir, MIHWAR_MAX_ARTICLES="150", MIHWAR_MAX_CHARS="100000",
                              MIHWAR_MAX_BODY_BYTES="50000000")
    try:
        article = next((ROOT / "data/raw/articles").glob("002_*.txt")).read_text(encoding="utf-8")
        done = threading.Event()

        def big():
            httpx.post(base + "/v1/classify", json={"articles": [{"text": article}] * 150}, timeout=300).raise_for_status()
            done.set()

        worker = threading.Thread(target=big)
        worker.start()
        answered_during = 0
        while not done.is_set() and answered_during < 5:
            assert httpx.get(base + "/healthz", timeout=30).status_code == 200
            if not done.is_set():
                answered_during += 1
        worker.join()
        assert answered_during >= 3  # the loop kept answering while 150 articles were being scored
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_the_server_starts_the_compiled_loop_before_it_listens(trained_model_dir, monkeypatch):
    """A scorer would otherwise switch to the compiled loop after 2,000 paragraphs, importing Numba and building
    its tables (0.7 s, 8 s the first time on a machine) in the middle of a request."""
    from predict.artifact import load_model
    from predict.server import create_app
    from predict.server_settings import load_settings

    model = load_model(str(trained_model_dir))
    assert model.scorer.compiled_after and model.scorer._compiled is None  # a batch run starts it later
    create_app(load_settings(model=str(trained_model_dir)), model)
    assert model.scorer.compiled_after == 0 and model.scorer.compiled() is not None
    assert model.gate is None or (model.gate.compiled_after == 0 and model.gate.compiled() is not None)
    monkeypatch.setenv("MIHWAR_COMPILED_AFTER", "never")  # the user's choice holds in the server too
    model = load_model(str(trained_model_dir))
    create_app(load_settings(model=str(trained_model_dir)), model)
    assert model.scorer.compiled_after is None and model.scorer._compiled is None
