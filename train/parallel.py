"""Training's folds on every core, and one BLAS thread per fit, so a model does not depend on the machine.

newton-cg's dense steps go through OpenBLAS, whose sums are split by thread count: the
same data fitted with 1 and with 2 BLAS threads gave coefficients 1e-4 apart. Pinned to
one thread, a fit is the same on a 2-core laptop and a 64-core server (same packages),
and it costs nothing here (the heavy products are scipy's sparse ones, single-threaded).
The cores go to the folds instead: independent fits in separate processes, results
gathered in fold order, so ``--jobs 1`` and ``--jobs N`` train the same model (tested).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _in_one_thread(fn: Callable[..., Any], args: tuple) -> Any:
    with one_blas_thread():
        return fn(*args)


def map_folds(fn: Callable[..., Any], tasks: Sequence[tuple], jobs: int | None) -> list[Any]:
    """``[fn(*t) for t in tasks]``, each with one BLAS thread, on up to ``jobs`` processes (None: every core).

    ``fn`` must be a module-level function and its arguments picklable (joblib's loky
    workers). One task, or one job, runs here without starting a process.
    """
    jobs = min(default_jobs() if jobs is None else max(1, jobs), len(tasks))
    if jobs <= 1:
        return [_in_one_thread(fn, t) for t in tasks]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=jobs, backend="loky")(delayed(_in_one_thread)(fn, t) for t in tasks)
