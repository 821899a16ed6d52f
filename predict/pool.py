"""Worker processes: batch labeling's pool, and the plumbing training's folds share (`train.parallel`).

Each labeling worker loads the model once; results come back in input order. Every pool
here is spawned, and made so that Ctrl-C and a killed parent end it cleanly:

- a worker is started with SIGINT blocked (`spawn_quietly`), so a Ctrl-C in the terminal,
  which reaches the whole process group, never interrupts a worker still importing its
  modules (it printed a `KeyboardInterrupt` traceback from inside NumPy); the parent alone
  handles it;
- a worker dies with its parent (`die_with_parent`), instead of living on with the
  terminal's pipes;
- a pool left early (Ctrl-C, SIGTERM, an error) is stopped at once (`stop_pool`): waiting
  for it could hang for good (Python 3.11's executor, interrupted, left its workers waiting
  for tasks while it waited for them).
"""

from __future__ import annotations

import os
import signal
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

_MODEL: Any = None
AHEAD = 4  # chunks in flight per helper: fewer left a helper idle while this process labeled one


def die_with_parent(parent: int) -> None:
    """Linux: have the kernel kill this process when ``parent`` ends, however it ends (PR_SET_PDEATHSIG).

    A spawned worker holds both ends of its task queue, so it never sees the queue close:
    without this, the workers of a killed parent lived on, with the terminal's pipes.
    """
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # pragma: no cover - not Linux: the worker exits after its queue is gone
        return
    if os.getppid() != parent:  # the parent ended before the request took hold
        os._exit(1)


def worker_start(parent: int) -> None:
    """The first thing a worker does: Ctrl-C is the parent's to handle, and the worker dies with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)


@contextmanager
def loading() -> Iterator[None]:
    """Load a model or start its compiled loop with the garbage collector paused, and Ctrl-C or SIGTERM held
    until it is done.

    Loading makes some 100,000 long-lived objects (Numba's type system, the vocabularies), and the collector
    ran about 250 times over them while they were made (about 80 ms of a 0.7 s start). Only paused: a caller
    of `predict.batch.run_batch` in its own process (a notebook) keeps its collector as it was.

    A Ctrl-C raised inside Numba's loading ran in a callback of its code library, which printed "Exception
    ignored on calling ctypes callback function" and went on: the server then started as if nothing had
    happened (an adversarial pass, 3 times in about 16 Ctrl-C at 0.7 s). Held, it is raised when the load ends
    (`held_signals`)."""
    import gc

    was_on = gc.isenabled()
    gc.disable()
    try:
        with held_signals():
            yield
    finally:
        if was_on:
            gc.enable()


@contextmanager
def held_signals(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Each of ``signals`` handled by Python code (Ctrl-C's KeyboardInterrupt, the CLI's SIGTERM) noted instead
    for a moment, and sent again to its own handler once the block ends. Only in the main thread, where
    Python runs signal handlers; elsewhere, and for signals left to the system, nothing changes."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    held = {sig: handler for sig in signals if callable(handler := signal.getsignal(sig))}
    for sig in held:
        signal.signal(sig, lambda signum, frame: noted.append(signum))
    try:
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(noted):
            signal.raise_signal(sig)


def skip_exit_collection() -> None:
    """Have the garbage collector leave alone, at this process's exit, every object still alive.

    Python's shutdown runs full collections over everything left, and with Numba loaded (some 100,000 objects
    of its type system) that took about 0.2 s, for a labeling process as for a helper, whose exit its parent
    waits for. Objects alive at exit are not collected anyway; the process's files are written and closed
    before it ends (the parent's output by its writer, a helper's results through the pool's pipe)."""
    import gc

    gc.freeze()


@contextmanager
def sigint_blocked() -> Iterator[None]:
    """SIGINT held back in this thread for a moment: a process started now inherits the block, and a Ctrl-C
    meanwhile reaches this process right after (it is pending, not lost).

    multiprocessing's resource tracker is started first: a process's first spawn starts it, and starting it
    unblocks SIGINT in this thread (`resource_tracker.ensure_running`), so that process started with SIGINT
    deliverable after all. A pool's queues start the tracker before any spawn; `mihwar serve --workers`'s first
    worker met it (`tests/predict/test_server_signals.py`)."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def spawn_quietly(pool: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """``pool.submit(fn, *args)``; a worker it starts (the executor starts them on submit) ignores Ctrl-C from its
    first instruction, not only from its initializer on."""
    with sigint_blocked():
        return pool.submit(fn, *args)


def stop_pool(pool: Any) -> None:
    """Stop a pool now: pending tasks cancelled, running ones killed (their results are not wanted).

    A worker killed while sending a result leaves half a message in the result pipe, and the executor's
    manager thread blocks reading the rest: the parent still holds a write end, so no end of file ever comes,
    and Python's exit joined that thread for good (an adversarial pass saw 1 hang in about 15 interrupts).
    Once the workers are reaped, the parent's write end is closed too, so the reader sees the end of the
    pipe, takes the pool for broken and ends; it is then joined here, before Python's exit cleanup, which
    otherwise raced with it ("Exception ignored ... Bad file descriptor")."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    results = getattr(pool, "_result_queue", None)
    for process in processes:
        process.kill()
    for process in processes:
        process.join(timeout=5)
    pool.shutdown(wait=False, cancel_futures=True)
    writer = getattr(results, "_writer", None)
    if writer is not None:
        writer.close()
    if manager is not None:
        manager.join(timeout=10)


def spawn_pool(workers: int, initializer: Callable[..., Any], initargs: tuple) -> Any:
    """A `ProcessPoolExecutor` of ``workers`` spawned processes; ``initializer`` must call `worker_start` first."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=initializer,
                               initargs=initargs)


def _load_once(parent: int, model_dir: str, identity: str, early: bool) -> None:
    """Pool initializer: the worker's own model, loaded from the already resolved local folder; with ``early``,
    its compiled loop started before the first chunk (`predict.batch.compile_early`).

    A model that fails to load here, or that is not the version the parent loaded (``identity``: the folder
    was replaced in between), is kept as the error the worker's first chunk raises: raised from an
    initializer it printed a traceback and broke the pool, which then read as a helper killed."""
    from predict.artifact import ModelNotFoundError, load_model

    worker_start(parent)
    global _MODEL
    try:
        with loading():
            _MODEL = load_model(model_dir)
            if _MODEL.identity != identity:
                raise ModelNotFoundError(f"{model_dir}: the model changed while the batch started (version "
                                         f"{identity}, then {_MODEL.identity}); run the batch again")
            if early:
                _MODEL.start_compiled()
    except Exception as exc:  # noqa: BLE001 - any load failure is the batch's error, said once by the parent
        _MODEL = exc
        return
    import atexit
    import gc

    gc.freeze()  # this process is the pool's: what it loaded lives until it ends, and the collector skips it
    atexit.register(skip_exit_collection)


def _label(packed: list[tuple], opts: Any) -> list[dict[str, Any]]:
    from predict.labeling import label_records
    from predict.tables import Record

    if isinstance(_MODEL, Exception):
        raise _MODEL
    return label_records(_MODEL, [Record(*fields) for fields in packed], opts)


def _packed(chunk: list) -> list[tuple]:
    """A chunk's records as plain tuples for the pipe to a helper: pickled in a fifth of the time of the records
    themselves (0.06 s against 0.31 s for 100,000 one-paragraph rows, all in this process)."""
    return [(r.id, r.text, r.error, r.where) for r in chunk]


def label_in_pool(chunks: Iterable[list], model: Any, model_dir: str, opts: Any, workers: int,
                  early: bool = False) -> Iterator[list[dict[str, Any]]]:
    """Rows of each chunk, in chunk order, scored by ``workers`` processes: this one and ``workers - 1`` helpers.

    Each helper has at most `AHEAD` chunks in flight; while they all do, this process labels the next chunk itself
    with ``model`` instead of waiting, so no process idles and one model load fewer is paid than with ``workers``
    helpers. Left before the end (the consumer interrupted, or closed this generator), the pool is stopped at once."""
    from predict.labeling import label_records

    helpers = workers - 1
    pool = spawn_pool(helpers, _load_once, (os.getpid(), model_dir, model.identity, early))
    pending: deque = deque()  # a helper's future, or rows this process labeled, in chunk order
    compiled = not early
    try:
        for chunk in chunks:
            while pending and (isinstance(pending[0], list) or pending[0].done()):
                yield _rows(pending.popleft())
            if sum(not isinstance(entry, list) for entry in pending) < AHEAD * helpers:  # at most 4 x workers entries
                pending.append(spawn_quietly(pool, _label, _packed(chunk), opts))  # the first one starts the helpers
                if not compiled:
                    with loading():
                        model.start_compiled()  # while the helpers start theirs
                    compiled = True
            else:
                pending.append(label_records(model, chunk, opts))
            while len(pending) > 4 * workers:  # a slow helper: wait for it rather than hold ever more rows
                yield _rows(pending.popleft())
        while pending:
            yield _rows(pending.popleft())
    except BaseException as exc:  # Ctrl-C, SIGTERM, a worker's error, or the consumer gone (GeneratorExit)
        stop_pool(pool)
        from concurrent.futures.process import BrokenProcessPool

        if isinstance(exc, BrokenProcessPool):
            raise HelperDied("a helper process of --workers stopped abruptly (killed, or out of memory?); the batch "
                             "stopped") from None
        raise
    pool.shutdown(wait=True)


class HelperDied(RuntimeError):
    """A labeling helper process died (the kernel's out-of-memory killer, a `kill -9`)."""


def _rows(entry: Any) -> list[dict[str, Any]]:
    return entry if isinstance(entry, list) else entry.result()
