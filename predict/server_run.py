"""Starting `mihwar serve`: settings and model checked first, then uvicorn with one or more workers."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from predict.server_settings import Settings, SettingsError, load_settings

NEXT_STEP = "name a trained model with --model (or MIHWAR_MODEL), or train one: mihwar train configs/default.yaml"


class ServeError(Exception):
    """The server cannot start; the message says what to do instead."""


def prepare(model: str | None = None, workers: int | None = None) -> tuple[Settings, Any]:
    """Checked settings and the loaded model, before anything listens (no lifespan tracebacks)."""
    from predict.artifact import ModelNotFoundError, default_model_uri, load_model, resolve_model_dir

    try:
        settings = load_settings(model=model, workers=workers)
    except SettingsError as exc:
        raise ServeError(str(exc)) from None
    settings = capped_workers(settings)
    uri = settings.model or default_model_uri()
    try:
        directory = resolve_model_dir(uri)  # a registry model is fetched once, not once per worker
        loaded = load_model(str(directory))
    except ModelNotFoundError as exc:
        raise ServeError(str(exc)) from None
    except Exception as exc:  # a damaged artifact: say which and what to do, not a traceback
        raise ServeError(f"{uri}: could not load the model ({type(exc).__name__}: {exc}); {NEXT_STEP}") from None
    return settings.model_copy(update={"model": str(directory), "model_name": settings.model_name or uri}), loaded


def capped_workers(settings: Settings) -> Settings:
    """At most one worker per core this process may use, said on stderr when fewer than asked: each worker loads
    the model (about 300 MB), so more only add memory (`--workers 99999` filled 24 GB and took the machine down)."""
    from predict.cores import usable_cores

    cores = usable_cores()
    if settings.workers <= cores:
        return settings
    print(f"note: {settings.workers} workers asked: at most {cores}, the cores this process may use (more would only "
          "add memory, about 300 MB each)", file=sys.stderr)
    return settings.model_copy(update={"workers": cores})


class StopsOnce:
    """A `uvicorn.Server` mixin: the first Ctrl-C or SIGTERM stops the server, and the requests being scored
    finish; a later one changes nothing. uvicorn took a second Ctrl-C as "exit now": it cancelled the requests
    being scored, each with a 500 and an `Exception in ASGI application` traceback (an adversarial pass: 15 of
    15 runs with requests of 0.65 s). SIGKILL still ends it at once."""

    should_exit: bool

    def handle_exit(self, sig: int, frame: Any) -> None:
        if not self.should_exit:
            super().handle_exit(sig, frame)  # type: ignore[misc]


def one_process_server() -> type:
    """uvicorn's server, saying where it listens once started (uvicorn says so only for sockets it binds itself)."""
    import uvicorn

    class OneProcessServer(StopsOnce, uvicorn.Server):
        async def startup(self, sockets: list | None = None) -> None:
            await super().startup(sockets=sockets)
            for sock in sockets or []:
                host, port = sock.getsockname()[:2]
                logging.getLogger("uvicorn.error").info("mihwar serving on http://%s:%d (Press CTRL+C to quit)",
                                                        f"[{host}]" if ":" in host else host, port)

    return OneProcessServer


def run(settings: Settings, model: Any, host: str, port: int) -> None:
    """uvicorn with request deadlines; ``workers`` > 1 starts processes that each load the model once."""
    import uvicorn

    from predict.server_limits import DeadlineH11Protocol

    # lifespan off: the app has no startup or shutdown handlers (the model is loaded before uvicorn starts), and a
    # second Ctrl-C while shutting down left starlette's lifespan task waiting, to be cancelled with a traceback
    options: dict[str, Any] = dict(host=host, port=port, log_level=settings.log_level, http=DeadlineH11Protocol,
                                   timeout_keep_alive=settings.keep_alive_timeout, lifespan="off")
    if settings.workers == 1:
        from predict.server import create_app
        from predict.server_workers import listening_socket

        config = uvicorn.Config(create_app(settings, model), **options)
        listener = listening_socket(host, port, config.backlog)  # a port in use: one line and exit 2, as with --workers
        try:
            one_process_server()(config).run(sockets=[listener])
        finally:
            listener.close()
        return
    os.environ.update(MIHWAR_MODEL=str(settings.model), MIHWAR_MODEL_NAME=str(settings.model_name),
                      MIHWAR_WORKERS=str(settings.workers))
    del model  # each worker loads its own copy
    from predict.server_workers import run_workers

    run_workers("predict.server:app_from_env", settings.workers, options)
