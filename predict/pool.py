"""Label chunks on several processes: each worker loads the model once; results come back in input order."""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable, Iterator

_MODEL: Any = None


def _load_once(model_dir: str, early: bool) -> None:
    """Pool initializer: the worker's own model, loaded from the already resolved local folder; with ``early``,
    its compiled loop started before the first chunk (`predict.batch.compile_early`)."""
    import signal

    from predict.artifact import load_model

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; no traceback per worker
    global _MODEL
    _MODEL = load_model(model_dir)
    if early:
        _MODEL.start_compiled()


def _label(records: list, opts: Any) -> list[dict[str, Any]]:
    from predict.batch import label_records

    return label_records(_MODEL, records, opts)


def label_in_pool(chunks: Iterable[list], model_dir: str, opts: Any, workers: int,
                  early: bool = False) -> Iterator[list[dict[str, Any]]]:
    """Rows of each chunk, in chunk order, scored by ``workers`` processes (at most two chunks each in flight)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_load_once, initargs=(model_dir, early))
    pending: deque = deque()
    try:
        for chunk in chunks:
            pending.append(pool.submit(_label, chunk, opts))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
