"""The server's settings: one pydantic BaseSettings, read from MIHWAR_* variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from predict.limits import MAX_CHARS as DEFAULT_MAX_CHARS  # one default with `mihwar predict`


class Settings(BaseSettings):
    """Server settings from MIHWAR_* environment variables (or `mihwar serve` options)."""

    model_config = SettingsConfigDict(env_prefix="MIHWAR_")
    model: str | None = Field(default=None, description="model folder or MLflow URI")
    model_name: str | None = Field(default=None, description="how /v1/model names the model (default: from `model`)")
    api_token: str | None = Field(default=None, description="bearer token for /v1/*; unset: no auth")
    max_body_bytes: int = Field(default=2_000_000, gt=0)
    max_articles: int = Field(default=64, gt=0)
    max_chars: int = Field(default=DEFAULT_MAX_CHARS, gt=0)
    scoring_threads: int = Field(default=2, gt=0, description="requests scored at once per worker")
    max_queue: int = Field(default=64, ge=0, description="requests waiting for a scoring thread before 503")
    max_body_memory: int = Field(default=64_000_000, gt=0, description="bytes of request bodies one worker holds at "
                                 "once (being read or scored) before 503; at least max_body_bytes")
    request_timeout: float = Field(default=30.0, gt=0, description="seconds for a whole request (headers and body) to arrive")
    keep_alive_timeout: float = Field(default=5.0, gt=0, description="seconds an idle keep-alive connection stays open")
    workers: int = Field(default=1, gt=0, description="server processes, each with its own copy of the model")
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"

    @model_validator(mode="after")
    def _room_for_one_body(self) -> "Settings":
        if self.max_body_memory < self.max_body_bytes:
            raise ValueError(f"MIHWAR_MAX_BODY_MEMORY ({self.max_body_memory}) is under MIHWAR_MAX_BODY_BYTES "
                             f"({self.max_body_bytes}): no body of the largest size could be read")
        return self

    @field_validator("api_token")
    @classmethod
    def _token_not_empty(cls, token: str | None) -> str | None:
        if token is not None and not token.strip():
            raise ValueError("set but empty; set a real token, or unset it to serve without auth")
        return token


def load_settings(**overrides) -> Settings:
    """Settings from the environment plus command-line overrides; a bad value is one clear line."""
    from pydantic import ValidationError

    given = {k: v for k, v in overrides.items() if v is not None}

    def name(loc: tuple) -> str:  # a value given on the command line is named as its option, not as the variable
        field = ".".join(map(str, loc))
        return f"--{field.replace('_', '-')}" if field in given else f"MIHWAR_{field.upper()}"

    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join((f"{name(e['loc'])}: " if e["loc"] else "") + e["msg"].removeprefix("Value error, ")
                             for e in exc.errors(include_input=False, include_url=False))
        raise SettingsError(problems) from None


class SettingsError(ValueError):
    """A server setting that cannot be used; the message names the variable."""
