"""Issue 12 items 8, 9 and 11, and a clean start-up (issue 9 item 7): hostile or careless
requests get a short JSON error, never a 500, over a real socket to a real server."""

from __future__ import annotations

import http.client
import json
import shutil

import httpx
import pytest

from tests.conftest import ROOT
from tests.predict.server_process import DRUGS, SMALL_LIMITS, serve_and_wait, started

MARK = "ECHOED-BACK-"


@pytest.fixture(scope="module")
def server(trained_model_dir):
    s = started(trained_model_dir, **SMALL_LIMITS)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def secured(trained_model_dir):
    s = started(trained_model_dir, MIHWAR_API_TOKEN="s3cret", **SMALL_LIMITS)
    yield s
    s.stop()


# item 8: bounded validation errors
def test_invalid_items_get_a_short_error_that_echoes_nothing(server):
    bad = [{"id": MARK * 20, "text": [MARK * 200]}] * 5
    r = httpx.post(server.base + "/v1/classify", json={"articles": bad})
    assert r.status_code == 422 and set(r.json()) == {"error"}
    assert MARK not in r.text and len(r.content) < 1000
    assert r.json()["error"].startswith("invalid request: body.articles.0.text: Input should be a valid string")
    assert r.json()["error"].endswith("(and 2 more)")


def test_article_count_is_checked_before_the_items(server):
    r = httpx.post(server.base + "/v1/classify", json={"articles": [{"text": 7}] * 2000})
    assert r.status_code == 413 and r.json() == {"error": "articles: 2000 in one request, limit 5"}


# item 9: client input never gets a 500, and the keep-alive connection survives
CLIENT_MISTAKES = {
    "NaN text": b'{"text": NaN}',
    "Infinity in a flag": b'{"text": "abc", "paragraphs": Infinity}',
    "lone surrogate in id": json.dumps({"id": "x\ud800", "text": DRUGS}).encode(),
    "lone surrogate in text with paragraphs": json.dumps({"text": DRUGS + "\n\udc00" + DRUGS, "paragraphs": True}).encode(),
    "lone surrogate in a batch id": json.dumps({"articles": [{"id": "\udfff", "text": DRUGS}]}).encode(),
    "nested 50,000 deep": b"[" * 50_000,
    "a 5,000-digit number": b'{"text": "a", "id": ' + b"9" * 5000 + b"}",
    "bytes that are not UTF-8": b'{"text": "\xff\xfe\xfd"}',
    "a list, not an object": b"[1, 2]",
}


@pytest.mark.parametrize("name", list(CLIENT_MISTAKES))
def test_client_mistakes_get_422_and_the_connection_survives(server, name):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", "/v1/classify", body=CLIENT_MISTAKES[name], headers={"content-type": "application/json"})
        bad = conn.getresponse()
        raw = bad.read()
        assert bad.status == 422, (bad.status, raw[:200])
        assert set(json.loads(raw)) == {"error"}, raw[:200]
        sock = conn.sock
        assert sock is not None, "the server closed the connection after a client mistake"
        conn.request("POST", "/v1/classify", body=json.dumps({"text": DRUGS}), headers={"content-type": "application/json"})
        good = conn.getresponse()
        assert good.status == 200 and json.loads(good.read())["results"][0]["label"] == "drugs"
        assert conn.sock is sock  # same keep-alive connection
    finally:
        conn.close()


# item 11: auth as documented, one error shape, no paths
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_bearer_scheme_is_case_insensitive(secured, scheme):
    r = httpx.post(secured.base + "/v1/classify", json={"text": DRUGS}, headers={"Authorization": f"{scheme} s3cret"})
    assert r.status_code == 200 and r.json()["results"][0]["label"] == "drugs"


def test_token_is_checked_before_the_body(secured):
    r = httpx.post(secured.base + "/v1/classify", content=b'{"text": ', headers={"content-type": "application/json"})
    assert r.status_code == 401 and r.json() == {"error": "missing or wrong bearer token"}
    r = httpx.post(secured.base + "/v1/classify", content=b"x" * 70_000, headers={"content-type": "application/json"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_open_and_closed_routes_as_the_readme_says(secured):
    for path in ("/healthz", "/readyz", "/", "/docs", "/redoc", "/openapi.json"):
        assert httpx.get(secured.base + path).status_code == 200, path
    assert httpx.get(secured.base + "/v1/model").status_code == 401
    assert httpx.post(secured.base + "/v1/classify", json={"text": DRUGS}).status_code == 401
    spec = httpx.get(secured.base + "/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"  # /docs can send the token
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`/healthz`, `/readyz`, the page `/` and the API docs" in readme


def test_model_info_names_the_model_without_paths(server, trained_model_dir):
    r = httpx.get(server.base + "/v1/model")
    assert r.status_code == 200
    assert str(trained_model_dir.parent) not in r.text and "/tmp" not in r.text
    assert r.json()["uri"] == trained_model_dir.name and r.json()["model_id"]


def test_one_error_shape_everywhere(server):
    cases = [httpx.get(server.base + "/no/such/route"), httpx.get(server.base + "/v1/classify"),
             httpx.post(server.base + "/v1/classify", json={"text": 7}),
             httpx.post(server.base + "/v1/classify", json={"text": "ا" * 5001}),
             httpx.post(server.base + "/v1/classify", content=b"x" * 70_000)]
    assert [r.status_code for r in cases] == [404, 405, 422, 413, 413]
    for r in cases:
        assert set(r.json()) == {"error"} and isinstance(r.json()["error"], str), r.text


# start-up: one clear line and exit 2, never a lifespan traceback

def test_empty_token_refuses_to_start(trained_model_dir):
    done = serve_and_wait("--model", str(trained_model_dir), env_extra={"MIHWAR_API_TOKEN": " "}, timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: MIHWAR_API_TOKEN: set but empty; set a real token, "
                                   "or unset it to serve without auth")


def test_a_bad_option_is_named_as_the_option_and_a_bad_variable_as_the_variable(trained_model_dir):
    """`mihwar serve --workers 0` blamed MIHWAR_WORKERS, which the user had not set."""
    done = serve_and_wait("--model", str(trained_model_dir), "--workers", "0", timeout=30)
    assert done.returncode == 2 and done.stderr.strip() == "error: --workers: Input should be greater than 0"
    done = serve_and_wait("--model", str(trained_model_dir), env_extra={"MIHWAR_WORKERS": "0"}, timeout=30)
    assert done.returncode == 2 and done.stderr.strip() == "error: MIHWAR_WORKERS: Input should be greater than 0"


def test_missing_model_is_one_line_and_exit_2(tmp_path):
    done = serve_and_wait("--model", str(tmp_path / "nothing-here"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and "nothing-here" in line and "mihwar train" in line


def test_damaged_model_is_one_line_and_exit_2(trained_model_dir, tmp_path):
    damaged = shutil.copytree(trained_model_dir, tmp_path / "damaged")
    from predict.artifact import META

    for f in damaged.rglob("*"):
        if f.is_file() and f.name != META:  # the weights, whatever their format
            f.write_bytes(b"not a model")
    done = serve_and_wait("--model", str(damaged))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and "damaged" in line and "--model" in line


def test_connections_get_tcp_nodelay_even_on_a_socket_shared_among_workers():
    """uvicorn's socket for --workers N is made with proto 0, so asyncio leaves Nagle on; every response then
    waited for the client's delayed ACK (48 ms a request with two workers). The protocol turns it off itself."""
    import socket

    from predict.server_limits import _no_delay

    listener = socket.socket(socket.AF_INET)  # as uvicorn's Config.bind_socket makes it
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()
    try:
        assert conn.proto == 0 and not conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)

        class Transport:
            def get_extra_info(self, name):
                return conn if name == "socket" else None

        _no_delay(Transport())
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        for s in (client, conn, listener):
            s.close()
