"""What keeps the server answering under load: a bounded scoring queue and request deadlines."""

from __future__ import annotations

from contextlib import asynccontextmanager, contextmanager
from typing import Any, AsyncIterator, Callable, Iterator, TypeVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

T = TypeVar("T")
RETRY_AFTER_S = 1


class Busy(Exception):
    """Every scoring slot is taken, or the bodies held are at their budget: answered 503 with Retry-After."""


class ScoringGate:
    """At most ``threads`` requests scored at once and ``queue`` more waiting; the rest are turned away.

    Scoring gets its own threads, so health checks (answered on the event loop) never
    wait behind it, and a burst of clients is told to retry instead of queueing forever.
    """

    def __init__(self, threads: int, queue: int):
        self.threads, self.capacity, self.in_flight = threads, threads + queue, 0
        self._limiter: Any = None

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        if self.in_flight >= self.capacity:  # the event loop is one thread: no race on the counter
            raise Busy("busy: every scoring slot is taken; retry shortly")
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def run(self, fn: Callable[..., T], *args: Any, inline: bool = False) -> T:
        """``fn(*args)`` in a scoring thread; with ``inline``, on the event loop itself (for small work: the trip
        to a thread and back, and the GIL handed between them, cost more than a short article's scoring)."""
        if inline:
            return fn(*args)
        import anyio

        if self._limiter is None:  # made on the running loop
            self._limiter = anyio.CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)


class BodyBudget:
    """Bytes of request bodies one process holds at once, being read or waiting for their answer; a request whose
    next chunk would go over ``limit`` is turned away (503).

    Until 2026-11-24 a body over 16 KB was read inside a scoring slot, so stalled uploads (70 chunked ones, each
    a few bytes sent) took every slot and all scoring answered 503 for 30 s. Counting the bytes actually received
    bounds memory as the slots did, and a stalled upload holds only what it sent."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0

    @contextmanager
    def hold(self) -> Iterator["_Held"]:
        held = _Held(self)
        try:
            yield held
        finally:
            self.used -= held.bytes


class _Held:
    """One request's share of a `BodyBudget`."""

    def __init__(self, budget: BodyBudget):
        self.budget, self.bytes = budget, 0

    def take(self, n: int) -> None:
        if self.budget.used + n > self.budget.limit:  # the event loop is one thread: no race on the counter
            raise Busy(f"busy: request bodies already hold {self.budget.limit} bytes here; retry shortly")
        self.budget.used += n
        self.bytes += n


_REQUEST_IN = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)


def _no_delay(transport: Any) -> None:
    """TCP_NODELAY on the connection. asyncio sets it only on sockets whose ``proto`` is TCP, and a socket made
    with proto 0 (uvicorn's listening socket shared among ``--workers`` processes was) would leave Nagle on:
    every response then waited for the client's delayed ACK (48 ms a request at concurrency 1 with two
    workers, 6 ms with one). Set here whatever made the socket."""
    import socket

    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus one deadline: a request must arrive in full (headers and body)
    within ``timeout`` seconds (MIHWAR_REQUEST_TIMEOUT) of the connection opening or of the previous response.

    uvicorn alone times out only idle keep-alive connections, so a client that sends half
    a request (a slowloris) would hold its connection, and a scoring slot, forever.
    """

    timeout: float = 30.0  # create_app sets it from the settings, in each worker process

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        _no_delay(transport)
        self._deadline: Any = None
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in _REQUEST_IN:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()
        if not self.transport.is_closing() and self.conn.their_state not in _REQUEST_IN:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """The server is stopping (SIGTERM): a request still arriving is closed now, as its deadline would close it.
        uvicorn waits for every request it has begun, so one half-sent request held the shutdown 29 s."""
        if self.cycle is not None and self.conn.their_state not in _REQUEST_IN:
            self._disarm()
            self.transport.close()
            return
        super().shutdown()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.timeout, self._expire)

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection whose request did not arrive in %.0fs", self.timeout)
            self.transport.close()

