"""`mihwar serve`: the labeling model over HTTP, plus a small page for analysts.

The model is loaded once per process, before the server listens. Health checks are
answered on the event loop; parsing, validation and scoring of a body over 16 KB run in a
few scoring threads behind a bounded queue (`ScoringGate`), so neither a burst of clients
nor a hostile body can stall them. A smaller body (a typical article) is scored on the
event loop, a few milliseconds, unless it asks for explanations: with two workers at
concurrency 8, that took the p99 from about 21 to 16 ms, as the thread hop and the GIL
handed back and forth cost more than the article. A body is read before it takes a scoring
slot, so stalled uploads hold none; the bytes of bodies held at once are bounded by
`BodyBudget`. Settings: `predict.server_settings`.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from predict.batch import BatchOptions, label_records
from predict.model import TopicModel
from predict.readers import Record
from predict.server_input import ClassifyRequest, ClientError, describe, parse_classify
from predict.server_limits import RETRY_AFTER_S, BodyBudget, Busy, DeadlineH11Protocol, ScoringGate
from predict.server_settings import Settings, load_settings

STATIC = Path(__file__).parent / "static"
BODY_DOC = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/ClassifyRequest"}}}}}
INLINE_BODY_BYTES = 16_384  # a body this small (a typical article or two) is scored on the event loop: see ScoringGate.run
bearer = HTTPBearer(auto_error=False, description="MIHWAR_API_TOKEN, when the server has one")


def create_app(settings: Settings, model: TopicModel | None = None) -> FastAPI:
    """The app around one loaded model (loaded here when not given)."""
    if model is None:
        from predict.artifact import default_model_uri, load_model

        model = load_model(settings.model or default_model_uri())
    from predict.pool import loading

    with loading():
        model.start_compiled()  # before the server listens: no request waits for Numba to load
    DeadlineH11Protocol.timeout = settings.request_timeout
    gate = ScoringGate(settings.scoring_threads, settings.max_queue)
    bodies = BodyBudget(settings.max_body_memory)
    app = FastAPI(title="mihwar", version="1", redirect_slashes=False,  # /v1/model/ is a 404, not a redirect to Host
                  description="Topics of Arabic news on US policy in Syria: drugs, counter_isis, sanctions, diplomacy, or other.")
    app.state.model = model
    add_error_handlers(app)
    document_request_body(app)

    async def require_token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        """Checked from the headers alone, before the body is read; the scheme is case-insensitive. Async: on the
        event loop, not a trip to a thread (a sync dependency cost each request a thread hop)."""
        if settings.api_token is None:
            return
        given = (credentials.credentials.strip() if credentials else "").encode("latin-1")
        if not secrets.compare_digest(given, settings.api_token.encode("utf-8")):
            raise StarletteHTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    @app.api_route("/healthz", methods=["GET", "HEAD"], summary="The process is alive")  # HEAD: load balancers' probes
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.api_route("/readyz", methods=["GET", "HEAD"], summary="The model is loaded")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}  # the model is loaded before the server listens

    @app.get("/v1/model", dependencies=[Depends(require_token)], summary="The model being served")
    async def model_info() -> dict[str, Any]:
        return describe_model(model, settings)

    @app.post("/v1/classify", dependencies=[Depends(require_token)], summary="Label one article or a batch",
              openapi_extra=BODY_DOC)
    async def classify(request: Request) -> Response:
        # The body is read before it takes a scoring slot, so a stalled upload holds none; the bytes it has sent
        # count against the process's body budget until its answer is made, which bounds the memory of bodies.
        with bodies.hold() as held:
            body = await read_body(request, settings.max_body_bytes, held)
            async with gate.admit():
                answer = await (small_body(gate, model, settings, body) if len(body) <= INLINE_BODY_BYTES
                                else gate.run(classify_body, model, settings, body))
        return Response(answer, media_type="application/json")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    return app


def app_from_env() -> FastAPI:
    """App factory for `mihwar serve --workers N`: each worker process loads the model once."""
    return create_app(load_settings())


async def small_body(gate: ScoringGate, model: TopicModel, settings: Settings, body: bytes) -> bytes:
    """A body of at most `INLINE_BODY_BYTES`, parsed on the event loop and scored there too unless it asks for
    explanations: they take the NumPy path per article, and 64 short articles with ``explain`` held the loop
    67 ms, so health checks waited behind them (0.6 s median with 4 such clients). Those go to a thread."""
    request = parse_classify(body, settings.max_articles, settings.max_chars)
    return await gate.run(score_request, model, settings, request, inline=not request.explain)


def classify_body(model: TopicModel, settings: Settings, body: bytes) -> bytes:
    """Parse, check and score one request body (in a scoring thread)."""
    return score_request(model, settings, parse_classify(body, settings.max_articles, settings.max_chars))


def score_request(model: TopicModel, settings: Settings, request: ClassifyRequest) -> bytes:
    """The response body of a checked request: one row per article, as `mihwar predict` writes them."""
    records = [Record(a.id if a.id is not None else str(i), a.text) for i, a in enumerate(request.items())]
    opts = BatchOptions(paragraphs=request.paragraphs, explain=request.explain, max_chars=settings.max_chars)
    rows = label_records(model, records, opts)
    return json.dumps({"results": rows}, ensure_ascii=False, allow_nan=False).encode("utf-8")


async def read_body(request: Request, limit: int, held: Any) -> bytes:
    """The body, refused (413) as soon as it is over ``limit`` bytes, declared or streamed; each chunk is charged
    to ``held`` (`BodyBudget.hold`), which turns the request away (503) when the process holds too much."""
    refuse = ClientError(413, f"request body over the limit of {limit} bytes")
    if int(request.headers.get("content-length") or 0) > limit:  # h11 has checked it is a number
        raise refuse
    chunks, seen = [], 0
    try:
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit:
                raise refuse
            held.take(len(chunk))
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientError(400, "the client went away before the body arrived") from None
    return b"".join(chunks)


def describe_model(model: TopicModel, settings: Settings) -> dict[str, Any]:
    """What /v1/model tells: the model's name and provenance, never a path on this machine."""
    meta = model.meta
    return {"uri": public_name(settings.model_name or settings.model), "model_id": model.identity,
            "backend": meta["backend"], "mlflow_run_id": meta.get("mlflow_run_id"),
            "data_version": meta.get("data_version"), "git_commit": meta.get("git_commit"), "topics": model.topics,
            "classes": model.classes, "other_label": model.other_label, "threshold": model.threshold,
            "min_topic_share": model.min_topic_share, "temperature": model.temperature,
            "scope_gate": meta.get("scope_gate") if model.gate is not None else None, "metrics": meta.get("metrics", {})}


def public_name(uri: str | None) -> str | None:
    """An MLflow URI as given; a local model folder by its name only."""
    if uri is None or ":/" in uri:
        return uri
    return Path(uri).name


def add_error_handlers(app: FastAPI) -> None:
    """One error shape everywhere: ``{"error": "..."}``."""

    def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(ClientError)
    async def client_error(request: Request, exc: ClientError):
        return error(exc.status, exc.message)

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy):
        return error(503, str(exc), {"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return error(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return error(422, describe(list(exc.errors()), len(exc.errors())))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):
        return error(500, "internal error (logged on the server)")


def document_request_body(app: FastAPI) -> None:
    """/v1/classify reads its own body (after auth, off the loop); describe it in OpenAPI all the same."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            body = ClassifyRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas.update({**body.pop("$defs", {}), "ClassifyRequest": body})
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
