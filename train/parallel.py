"""Training's folds on every core, and one BLAS thread per fit, so a model does not depend on the machine.

newton-cg's dense steps go through OpenBLAS, whose sums are split by thread count: the
same data fitted with 1 and with 2 BLAS threads gave coefficients 1e-4 apart. Pinned to
one thread, a fit no longer depends on how many cores the machine has (a CPU of another
type may still get other BLAS kernels, and with them other last digits), and it costs
nothing here (the heavy products are scipy's sparse ones, single-threaded).
The cores go to the folds instead: independent fits in separate processes, results
gathered in fold order, so ``--jobs 1`` and ``--jobs N`` train the same model (tested).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence


def default_jobs() -> int:
    """The cores this process may use (`predict.cores.usable_cores`): ``--jobs``' default and cap."""
    from predict.cores import usable_cores

    return usable_cores()


class FoldWorkerLost(RuntimeError):
    """A fold's worker process ended without a result: killed from outside, most often for lack of memory."""


@contextmanager
def one_blas_thread() -> Iterator[None]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _in_one_thread(fn: Callable[..., Any], args: tuple) -> Any:
    try:
        with one_blas_thread():
            return fn(*args)
    except Exception as exc:  # a worker's error reaches the parent pickled, its traceback lost: keep where it was raised
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is not None and not hasattr(exc, "where"):
            exc.where = f"{os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"
        raise


def _worker_start(parent: int) -> None:
    """Pool initializer: Ctrl-C is the parent's to handle (no traceback per worker), and the worker dies with it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)


def die_with_parent(parent: int) -> None:
    """Linux: have the kernel kill this process when ``parent`` ends, however it ends (PR_SET_PDEATHSIG).

    A spawned worker holds both ends of its task queue, so it never sees the queue close:
    without this, the workers of a killed `mihwar train` lived on, with the terminal's pipes.
    """
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # pragma: no cover - not Linux: the worker exits after its queue is gone
        return
    if os.getppid() != parent:  # the parent ended before the request took hold
        os._exit(1)


def _stop(pool: Any) -> None:
    """Stop a pool now: pending folds cancelled, running ones killed (their results are not wanted)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def map_folds(fn: Callable[..., Any], tasks: Sequence[tuple], jobs: int | None) -> list[Any]:
    """``[fn(*t) for t in tasks]``, each with one BLAS thread, on up to ``jobs`` processes (None, or more than
    the cores: every core).

    ``fn`` must be a module-level function and its arguments picklable. One task, or one
    job, runs here without starting a process. The workers are spawned, as `predict.pool`'s
    are; one whose parent is gone (killed, or stopped by Ctrl-C) is
    killed by the kernel (`die_with_parent`), instead of living on with the terminal's pipes.
    """
    cores = default_jobs()
    jobs = min(cores if jobs is None else max(1, jobs), cores, len(tasks))  # more than the cores only adds memory
    if jobs <= 1:
        return [_in_one_thread(fn, t) for t in tasks]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start,
                               initargs=(os.getpid(),))

    try:
        futures = [pool.submit(_in_one_thread, fn, t) for t in tasks]
        results = [f.result() for f in futures]
    except BrokenProcessPool:
        _stop(pool)
        raise FoldWorkerLost(f"a worker process fitting folds ended without its result (killed from outside, most often "
                             f"by the system for lack of memory: each of the {jobs} workers holds one fold's matrices); "
                             "run again, with --jobs 1 to use the least memory") from None
    except BaseException:  # Ctrl-C, SIGTERM (as `Terminated`), a failed fold: stop the others now
        _stop(pool)
        raise
    pool.shutdown(wait=True)
    return results
