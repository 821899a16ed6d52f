"""`mihwar serve`: the labeling model over HTTP, plus a small page for analysts.

The model is loaded once at start-up; scoring runs in the thread pool (sync
route), so the event loop keeps answering health checks while it works.
"""

from __future__ import annotations

import os
import secrets
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from predict.artifact import default_model_uri, load_model
from predict.batch import BatchOptions, label_records
from predict.readers import Record

STATIC = Path(__file__).parent / "static"


class Settings(BaseSettings):
    """Server settings from MIHWAR_* environment variables (or `mihwar serve` options)."""

    model_config = SettingsConfigDict(env_prefix="MIHWAR_")
    model: str | None = None
    api_token: str | None = None
    max_body_bytes: int = Field(default=2_000_000, gt=0)
    max_articles: int = Field(default=64, gt=0)
    max_chars: int = Field(default=100_000, gt=0)


class ArticleIn(BaseModel):
    id: str | None = Field(default=None, description="your id; echoed back (default: the article's position)")
    text: str = Field(description="the article, raw text; paragraphs separated by newlines")


class ClassifyRequest(BaseModel):
    """One article (`text`, optional `id`) or a batch (`articles`)."""

    text: str | None = None
    id: str | None = None
    articles: list[ArticleIn] | None = None
    paragraphs: bool = Field(default=False, description="add per-paragraph topics and scores")
    explain: bool = Field(default=False, description="add the n-grams that pushed each decision")

    @model_validator(mode="after")
    def _one_form(self) -> "ClassifyRequest":
        if (self.text is None) == (self.articles is None):
            raise ValueError("give either 'text' (one article) or 'articles' (a batch), not both or neither")
        if self.articles is not None and not self.articles:
            raise ValueError("'articles' is empty")
        return self

    def items(self) -> list[ArticleIn]:
        return self.articles if self.articles is not None else [ArticleIn(id=self.id, text=self.text or "")]


class BodyLimit:
    """ASGI middleware: refuse bodies over ``max_bytes``, declared or streamed."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and int(declared) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        if declared is not None:
            return await self.app(scope, receive, send)
        # streamed body with no declared length: read it up to the limit, then replay it
        chunks, seen, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            more = message.get("more_body", False)
            if seen > self.max_bytes:
                return await self._refuse(scope, receive, send)
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send):
        response = JSONResponse({"error": f"request body over the limit of {self.max_bytes} bytes"}, status_code=413)
        await response(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        uri = settings.model or default_model_uri()
        app.state.model = load_model(uri)
        app.state.model_uri = uri
        yield

    app = FastAPI(title="mihwar", version="1", lifespan=lifespan,
                  description="Topics of Arabic news on US policy in Syria: drugs, counter_isis, sanctions, diplomacy, or other.")
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": f"invalid request: {fields}", "detail": jsonable(exc.errors())}, status_code=422)

    def require_token(request: Request) -> None:
        if settings.api_token is None:
            return
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {settings.api_token}".encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/healthz", summary="The process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="The model is loaded")
    def readyz(request: Request):
        if getattr(request.app.state, "model", None) is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return {"status": "ready"}

    @app.get("/v1/model", dependencies=[Depends(require_token)], summary="The model being served")
    def model_info(request: Request) -> dict[str, Any]:
        model = request.app.state.model
        meta = model.meta
        return {"uri": request.app.state.model_uri, "backend": meta["backend"], "mlflow_run_id": meta.get("mlflow_run_id"),
                "data_version": meta.get("data_version"), "git_commit": meta.get("git_commit"), "topics": model.topics,
                "classes": model.classes, "other_label": model.other_label, "threshold": model.threshold,
                "min_topic_share": model.min_topic_share,
                "temperature": model.temperature, "metrics": meta.get("metrics", {})}

    @app.post("/v1/classify", dependencies=[Depends(require_token)], summary="Label one article or a batch")
    def classify(body: ClassifyRequest, request: Request) -> dict[str, Any]:
        items = body.items()
        if len(items) > settings.max_articles:
            raise HTTPException(413, f"articles: {len(items)} in one request, limit {settings.max_articles}")
        for i, a in enumerate(items):
            if len(a.text) > settings.max_chars:
                where = "text" if body.articles is None else f"articles.{i}.text"
                raise HTTPException(413, f"{where}: {len(a.text)} characters, limit {settings.max_chars}")
        records = [Record(a.id if a.id is not None else str(i), a.text) for i, a in enumerate(items)]
        opts = BatchOptions(paragraphs=body.paragraphs, explain=body.explain, max_chars=settings.max_chars)
        rows = label_records(request.app.state.model, records, opts)
        return {"results": rows}

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    return app


def jsonable(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors as plain JSON (locations as lists, inputs as text where needed)."""
    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return list(v)
        return v if isinstance(v, (str, int, float, bool, list, dict, type(None))) else str(v)

    return [{k: plain(v) for k, v in e.items() if k != "ctx"} for e in errors]


def serve(model: str | None, host: str, port: int) -> None:
    """Run the app under uvicorn (model loaded once, before the first request)."""
    import uvicorn

    settings = Settings(model=model) if model else Settings()
    uvicorn.run(create_app(settings), host=host, port=port, log_level=os.environ.get("MIHWAR_LOG_LEVEL", "info"))
