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


def map_folds(fn: Callable[..., Any], tasks: Sequence[tuple], jobs: int | None) -> list[Any]:
    """``[fn(*t) for t in tasks]``, each with one BLAS thread, on up to ``jobs`` processes (None, or more than
    the cores: every core).

    ``fn`` must be a module-level function and its arguments picklable. One task, or one
    job, runs here without starting a process. The workers are spawned, as `predict.pool`'s
    are; one whose parent is gone (killed, or stopped by Ctrl-C) is
    killed by the kernel (`predict.pool.die_with_parent`), instead of living on with the terminal's pipes.
    """
    cores = default_jobs()
    jobs = min(cores if jobs is None else max(1, jobs), cores, len(tasks))  # more than the cores only adds memory
    if jobs <= 1:
        return [_in_one_thread(fn, t) for t in tasks]
    from concurrent.futures.process import BrokenProcessPool

    from predict.pool import spawn_pool, spawn_quietly, stop_pool, worker_start

    pool = spawn_pool(jobs, worker_start, (os.getpid(),))
    try:
        futures = [spawn_quietly(pool, _in_one_thread, fn, t) for t in tasks]
        results = [f.result() for f in futures]
    except BrokenProcessPool:
        stop_pool(pool)
        raise FoldWorkerLost(f"a worker process fitting folds ended without its result (killed from outside, most often "
                             f"by the system for lack of memory: each of the {jobs} workers holds one fold's matrices); "
                             "run again, with --jobs 1 to use the least memory") from None
    except BaseException:  # Ctrl-C, SIGTERM (as `Terminated`), a failed fold: stop the others now
        stop_pool(pool)
        raise
    pool.shutdown(wait=True)
    return results
