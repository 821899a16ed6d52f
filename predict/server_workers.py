"""`mihwar serve --workers N`: N uvicorn processes behind one listening socket, the connections dealt out evenly.

uvicorn's own multi-worker mode shares the listening socket among the workers. Each worker's
event loop then accepts every pending connection it sees, so the keep-alive connections of a
client pool that connects at once all land on one worker and the others idle (measured: 8
connections, one worker used all the CPU, the other none). A socket per worker with
SO_REUSEPORT spreads them by a hash instead, at random: of 8 connections one worker often
held 5 to 7, and its queue set the p99 (26 ms at concurrency 8 against 11 ms for the median).

Here the parent process alone listens. A dispatcher thread in it accepts each connection and
passes it (SCM_RIGHTS over a Unix socket pair) to the ready worker holding the fewest open
connections; each worker says when it is ready and when a connection it holds closes. uvicorn's
supervisor still starts, health-checks and restarts the workers; a restarted worker gets a new
socket pair. Connections wait in the kernel's backlog until one worker has loaded its model.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import selectors
import signal
import socket
import threading
from typing import Any

import uvicorn
from uvicorn.supervisors import multiprocess

from predict.pool import sigint_blocked
from predict.server_run import ServeError, StopsOnce

READY, CLOSED, CONNECTION = b"r", b"c", b"n"
logger = logging.getLogger("uvicorn.error")


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """The server's one listening socket. No SO_REUSEPORT: a second `mihwar serve` on the port is refused,
    not let in to share the traffic."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                         "(another server holds the port? choose one with --port)") from None
    return sock


class WorkerServer(StopsOnce, uvicorn.Server):
    """A worker's uvicorn server: no listener of its own; it serves the connections the dispatcher hands it."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # lifespan: the app (and the model) is loaded, nothing listens
        self._channel = (sockets or [])[0]
        self._channel.setblocking(False)
        config = self.config

        def protocol() -> asyncio.Protocol:
            made = config.http_protocol_class(config=config, server_state=self.server_state,  # type: ignore[call-arg]
                                              app_state=self.lifespan.state)
            lost = made.connection_lost

            def connection_lost(exc: Exception | None) -> None:
                lost(exc)
                self._tell(CLOSED)

            made.connection_lost = connection_lost  # type: ignore[method-assign]
            return made

        self._protocol = protocol
        asyncio.get_running_loop().add_reader(self._channel.fileno(), self._take_connections)
        self._tell(READY)

    def _tell(self, message: bytes) -> None:
        try:
            self._channel.send(message)
        except BlockingIOError:  # the parent is behind: one count is off until the worker restarts
            pass
        except OSError:  # the parent is gone: shut down
            self.should_exit = True

    def _take_connections(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self._channel, 1, 1)
            except BlockingIOError:
                return
            except OSError:
                message, fds = b"", []
            if not message:  # the parent closed its end
                loop.remove_reader(self._channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                connection = socket.socket(fileno=fd)
                if self.should_exit:
                    connection.close()
                    self._tell(CLOSED)
                else:
                    loop.create_task(self._take(connection))

    async def _take(self, connection: socket.socket) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(self._protocol, connection)
        except OSError:  # the client left before the worker took the connection
            connection.close()
            self._tell(CLOSED)


class WorkerProcess(multiprocess.Process):
    """uvicorn's worker process, running a `WorkerServer`, with a socket pair to the dispatcher."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        self.channel, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._child_end = child_end
        self.ready, self.open, self.dealt_at = False, 0, -1  # dealt_at: the dispatcher's turn when it last got one
        super().__init__(config, [child_end])  # the worker gets its end of the pair, not the listening socket

    def start(self) -> None:
        with sigint_blocked():  # the worker inherits the block and keeps it: a Ctrl-C is the supervisor's to handle
            super().start()
        self._child_end.close()  # the worker has its own copy

    def target(self, sockets: list[socket.socket] | None = None) -> None:
        """The worker process's entry. This object came over pickled, the parent's end of the pair with it: closed
        here, or the worker would hold both ends, never read the end of file when the parent dies, and live on."""
        self.channel.close()
        super().target(sockets)

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = WorkerServer(config=self.config)
        return self._server


class Dispatcher:
    """The parent's thread that accepts connections and deals each to the least-loaded ready worker."""

    def __init__(self, listener: socket.socket, supervisor: multiprocess.Multiprocess):
        self.listener, self.supervisor = listener, supervisor
        self.selector = selectors.DefaultSelector()
        self.known: dict[int, WorkerProcess] = {}  # channel fd -> worker
        self.turn = itertools.count()  # ties go to the worker that got a connection least recently
        self.accepting = False

    def run(self) -> None:
        while not self.supervisor.should_exit.is_set():
            self._follow_workers()
            for key, _ in self.selector.select(timeout=0.5):
                if key.fileobj is self.listener:
                    self._accept()
                else:
                    self._hear(key.data)

    def _follow_workers(self) -> None:
        """Register the channels of new (restarted) workers and forget the ones that are gone."""
        current = {p.channel.fileno(): p for p in list(self.supervisor.processes) if p.channel.fileno() >= 0}
        for fd in set(self.known) - set(current):
            self._forget(fd)
        for fd, worker in current.items():
            if fd not in self.known:
                worker.channel.setblocking(False)
                self.selector.register(fd, selectors.EVENT_READ, worker)
                self.known[fd] = worker
        self._accept_when_ready()

    def _forget(self, fd: int) -> None:
        self.selector.unregister(fd)
        del self.known[fd]

    def _accept_when_ready(self) -> None:
        """Listen for connections while some worker is ready; while none is, they wait in the kernel's backlog."""
        ready = any(w.ready for w in self.known.values())
        if ready != self.accepting:
            if ready:
                self.selector.register(self.listener, selectors.EVENT_READ)
            else:
                self.selector.unregister(self.listener)
            self.accepting = ready

    def _hear(self, worker: WorkerProcess) -> None:
        while True:
            try:
                message = worker.channel.recv(64)
            except BlockingIOError:
                return
            except OSError:
                message = b""
            if not message:  # the worker exited: its connections went with it
                worker.ready, worker.open = False, 0
                self._forget(worker.channel.fileno())
                worker.channel.close()
                self._accept_when_ready()
                return
            if message == READY:
                worker.ready = True
                self._accept_when_ready()
            elif message == CLOSED:
                worker.open = max(0, worker.open - 1)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, for example: the connection stays in the backlog
                logger.warning("accept failed: %s", exc)
                return
            with connection:
                self._deal(connection)

    def _deal(self, connection: socket.socket) -> None:
        """Hand ``connection`` to the ready worker with the fewest open connections; if none takes it, close it."""
        ready = sorted((w for w in self.known.values() if w.ready),
                       key=lambda w: (w.open, w.dealt_at))
        for worker in ready:
            try:
                socket.send_fds(worker.channel, [CONNECTION], [connection.fileno()])
            except OSError:  # its queue is full or it is exiting: the next one
                continue
            worker.open += 1
            worker.dealt_at = next(self.turn)
            return
        if not self.supervisor.should_exit.is_set():  # while the workers stop, none takes one: that is expected
            logger.warning("no worker could take a connection; closed it")


class Supervisor(multiprocess.Multiprocess):
    """uvicorn's supervisor plus the dispatcher thread."""

    def __init__(self, config: uvicorn.Config, listener: socket.socket):
        super().__init__(config, sockets=[])
        self.listener = listener
        self.stopped_by: int | None = None  # the signal that stopped the server, said again once the workers are gone

    def handle_int(self) -> None:
        self.stopped_by = self.stopped_by or signal.SIGINT
        super().handle_int()

    def handle_term(self) -> None:
        self.stopped_by = self.stopped_by or signal.SIGTERM
        super().handle_term()

    def init_processes(self) -> None:
        host, port = self.listener.getsockname()[:2]
        logger.info("mihwar serving on http://%s:%d with %d workers (Press CTRL+C to quit)",
                    f"[{host}]" if ":" in host else host, port, self.processes_num)
        super().init_processes()
        self.listener.setblocking(False)
        threading.Thread(target=Dispatcher(self.listener, self).run, name="mihwar-dispatcher", daemon=True).start()


def run_workers(app: str, workers: int, options: dict[str, Any]) -> None:
    """Serve the app factory ``app`` from ``workers`` processes behind one listening socket in this process."""
    if not hasattr(socket, "send_fds") or not hasattr(socket, "AF_UNIX"):  # not a Unix: uvicorn's shared socket
        uvicorn.run(app, factory=True, workers=workers, **options)
        return
    config = uvicorn.Config(app, factory=True, workers=workers, **options)
    listener = listening_socket(config.host, config.port, config.backlog)  # a port in use fails here, before any worker
    multiprocess.Process = WorkerProcess  # type: ignore[misc]  # the supervisor makes its workers by this name
    handlers = {sig: signal.getsignal(sig) for sig in multiprocess.SIGNALS}  # the supervisor replaces them for good
    try:
        supervisor = Supervisor(config, listener)
        supervisor.run()
    finally:
        listener.close()
        for sig, handler in handlers.items():
            if handler is not None:  # None: a handler not set from Python, which cannot be set back from it
                signal.signal(sig, handler)
    if supervisor.stopped_by is not None:  # as one uvicorn process does: the caller's handler says how it stopped
        signal.raise_signal(supervisor.stopped_by)
