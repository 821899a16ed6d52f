"""`train.parallel.map_folds`: results in task order, at most one worker per core, and failures a user can act on."""

from __future__ import annotations

import os
import signal

import pytest

from train.parallel import FoldWorkerLost, default_jobs, map_folds


def pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def fails_here(x: int) -> None:
    raise ValueError(f"fold {x} cannot be fitted")  # the line the error must name


def killed_from_outside(x: int) -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would


def test_results_come_back_in_task_order_on_no_more_workers_than_cores():
    out = map_folds(pid_and_square, [(i,) for i in range(12)], jobs=64)
    assert [sq for _, sq in out] == [i * i for i in range(12)]
    workers = {pid for pid, _ in out}
    assert os.getpid() not in workers if default_jobs() > 1 else workers == {os.getpid()}
    assert len(workers) <= default_jobs()  # --jobs 64 on 2 cores: 2 workers, not 10


@pytest.mark.skipif(default_jobs() < 2, reason="needs two cores for worker processes")
def test_an_error_in_a_worker_names_the_line_it_was_raised_on():
    from mihwar.cli import _one_line

    with pytest.raises(ValueError, match="fold 0 cannot be fitted") as caught:
        map_folds(fails_here, [(0,), (1,)], jobs=2)
    line = next(n for n, text in enumerate(open(__file__, encoding="utf-8"), 1) if "the line the error must name" in text)
    assert f"(at test_parallel.py:{line})" in _one_line(caught.value)  # not concurrent/futures/_base.py


@pytest.mark.skipif(default_jobs() < 2, reason="needs two cores for worker processes")
def test_a_worker_killed_from_outside_is_one_clear_error():
    with pytest.raises(FoldWorkerLost, match="lack of memory.*--jobs 1"):
        map_folds(killed_from_outside, [(0,), (1,)], jobs=2)
