"""The /v1/classify request: parsed and checked off the event loop, with short, bounded errors.

Nothing here echoes the client's input back: an error names where the problem is
(`body.articles.3.text`) and what it is, for the first few problems only.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from predict.decoding import find_invalid

MAX_PROBLEMS = 3
MAX_MESSAGE = 160
KNOWN_REQUEST = "a request has text (or articles), and optionally id, paragraphs, explain"
KNOWN_ARTICLE = "an article has text, and optionally id"
PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,39}")


class ClientError(Exception):
    """A request the client must change: answered with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _valid_unicode(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"invalid Unicode (lone surrogate at character {exc.start})") from None
    return value


Text = Annotated[str, AfterValidator(_valid_unicode)]


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not silently ignored

    id: Text | None = Field(default=None, description="your id; echoed back (default: the article's position)")
    text: Text = Field(description="the article, raw text; paragraphs separated by newlines")


class ClassifyRequest(BaseModel):
    """One article (`text`, optional `id`) or a batch (`articles`)."""

    model_config = ConfigDict(extra="forbid")  # `"paragraph": true` must not quietly give no paragraphs

    text: Text | None = None
    id: Text | None = None
    articles: list[ArticleIn] | None = None
    paragraphs: bool = Field(default=False, description="add per-paragraph topics and scores")
    explain: bool = Field(default=False, description="add the n-grams and terms that pushed each decision, and the scope gate's verdict")

    @model_validator(mode="after")
    def _one_form(self) -> "ClassifyRequest":
        if (self.text is None) == (self.articles is None):
            raise ValueError("give either 'text' (one article) or 'articles' (a batch), not both or neither")
        if self.articles is not None and not self.articles:
            raise ValueError("'articles' is empty")
        return self

    def items(self) -> list[ArticleIn]:
        return self.articles if self.articles is not None else [ArticleIn(id=self.id, text=self.text or "")]


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE] + "…"


def parse_json(body: bytes) -> Any:
    """The body as JSON; NaN, Infinity, bad UTF-8, huge numbers and deep nesting are client errors."""
    try:
        return json.loads(body, parse_constant=_no_constants)
    except RecursionError:
        raise ClientError(422, "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, integer digit limit, NaN/Infinity
        raise ClientError(422, f"invalid JSON: {_short(str(exc))}") from None


def describe(errors: list[dict[str, Any]], total: int) -> str:
    """The first few validation problems as one line, without the offending values."""
    parts = []
    for e in errors[:MAX_PROBLEMS]:
        where = ".".join(["body", *(str(p)[:40] for p in e["loc"])])
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            known = KNOWN_ARTICLE if len(e["loc"]) > 1 else KNOWN_REQUEST
            message = f"unknown field; {known}"
            if not PLAIN_NAME.fullmatch(str(e["loc"][-1])):  # a name is the client's input too: only a plain one is shown
                where = ".".join(["body", *(str(p) for p in e["loc"][:-1])])
                message = f"an unknown field (its name is not shown: not a plain name); {known}"
        parts.append(f"{where}: {_short(message)}")
    more = f" (and {total - MAX_PROBLEMS} more)" if total > MAX_PROBLEMS else ""
    return "invalid request: " + "; ".join(parts) + more


def _check_field_names(data: Any) -> None:
    """A field name with a lone surrogate (``"\\ud800"`` in JSON) is named as such, not as an unreadable body."""
    objects = [("body", data)]
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        objects += [(f"body.articles.{i}", a) for i, a in enumerate(data["articles"])]
    for where, obj in objects:
        if isinstance(obj, dict) and any(find_invalid(k) is not None for k in obj):
            raise ClientError(422, f"invalid request: {where}: a field name holds invalid Unicode (a lone surrogate)")


def parse_classify(body: bytes, max_articles: int, max_chars: int) -> ClassifyRequest:
    """A checked request from raw bytes: count limit first, then the fields, then each text's length."""
    data = parse_json(body)
    articles = data.get("articles") if isinstance(data, dict) else None
    if isinstance(articles, list) and len(articles) > max_articles:
        raise ClientError(413, f"articles: {len(articles)} in one request, limit {max_articles}")
    _check_field_names(data)
    try:
        request = ClassifyRequest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        raise ClientError(422, describe(errors, exc.error_count())) from None
    for i, article in enumerate(request.items()):
        if len(article.text) > max_chars:
            where = "text" if request.articles is None else f"articles.{i}.text"
            raise ClientError(413, f"{where}: {len(article.text)} characters, limit {max_chars}")
    return request
