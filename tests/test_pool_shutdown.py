"""A local sweep's pool is shut down once its results are in without waiting forever for a worker that does
not exit (``sim.experiments.sweep.executors._shutdown``)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

from sim.experiments.sweep.executors import _shutdown


def _pid() -> int:
    return os.getpid()


def _pool() -> ProcessPoolExecutor:
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("needs the fork start method the local executor uses on Linux")
    return ProcessPoolExecutor(2, mp_context=mp.get_context("fork"))


def test_a_worker_that_does_not_exit_is_killed_after_the_grace():
    pool = _pool()
    pids = {pool.submit(_pid).result() for _ in range(20)}
    procs = list(pool._processes.values())
    stuck = procs[0]
    os.kill(stuck.pid, signal.SIGSTOP)  # it can no longer take its stop sentinel: shutdown(wait=True) would hang
    t = time.monotonic()
    _shutdown(pool, grace_s=0.5)
    took = time.monotonic() - t
    assert 0.5 <= took < 10
    assert not any(p.is_alive() for p in procs)
    assert stuck.exitcode == -signal.SIGKILL
    assert pids <= {p.pid for p in procs}


def test_workers_that_exit_are_joined_and_not_killed():
    pool = _pool()
    for _ in range(4):
        pool.submit(_pid).result()
    procs = list(pool._processes.values())
    t = time.monotonic()
    _shutdown(pool, grace_s=30)
    assert time.monotonic() - t < 10
    assert [p.exitcode for p in procs] == [0, 0]
