"""`mihwar serve --workers N`: N uvicorn processes, each listening on its own SO_REUSEPORT socket.

uvicorn's own multi-worker mode shares one listening socket. Each worker's event loop then
accepts every pending connection it sees, so the keep-alive connections of a client pool that
connects at once all land on one worker and the others idle (measured: 8 connections, one
worker used all the CPU, the other none). With a socket per worker bound with SO_REUSEPORT,
the kernel spreads new connections over the workers. uvicorn still supervises the workers
(health checks, restarts); only the socket each one listens on changes.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import multiprocess

from predict.server_run import ServeError


def _bound(family: int, address: tuple, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to ``address`` (SO_REUSEADDR; SO_REUSEPORT when asked), closed again if binding fails."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT. It never listens: it holds the port and tells each
    worker where to bind its own.

    The port is first bound once without SO_REUSEPORT: that fails while anything holds it, so a second
    `mihwar serve` on the same port is refused instead of silently sharing its connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        probe = _bound(family, (host, port), reuse_port=False)
        port = probe.getsockname()[1]  # port 0: the free port the system chose
        probe.close()
        sock = _bound(family, (host, port), reuse_port=True)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                         "(another server holds the port? choose one with --port)") from None
    sock.set_inheritable(True)
    return sock


def own_socket(placeholder: socket.socket) -> socket.socket:
    """This worker's socket: the placeholder's address, SO_REUSEPORT, not inherited by anything it starts."""
    return _bound(placeholder.family, placeholder.getsockname()[:2], reuse_port=True)


class WorkerServer(uvicorn.Server):
    """A worker's uvicorn server, serving on its own socket instead of the shared one."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[own_socket(s) for s in sockets] if sockets else sockets)


class WorkerProcess(multiprocess.Process):
    """uvicorn's worker process, running a `WorkerServer`."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = WorkerServer(config=self.config)
        return self._server


def run_workers(app: str, workers: int, options: dict[str, Any]) -> None:
    """Serve the app factory ``app`` from ``workers`` processes (uvicorn's supervisor, one socket per worker)."""
    if not hasattr(socket, "SO_REUSEPORT"):  # not Linux/BSD: uvicorn's shared socket
        uvicorn.run(app, factory=True, workers=workers, **options)
        return
    config = uvicorn.Config(app, factory=True, workers=workers, **options)
    placeholder = reuse_port_socket(config.host, config.port)  # a port in use fails here, before any worker starts
    multiprocess.Process = WorkerProcess  # type: ignore[misc]  # the supervisor makes its workers by this name
    multiprocess.Multiprocess(config, sockets=[placeholder]).run()
