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


def test_a_local_sweep_finishes_its_catalogue_while_the_workers_exit(tmp_path, monkeypatch):
    """The pool is told to stop once the last chunk is handed out; when the last result is in, the driver finishes
    the catalogue first and then waits for the workers (which were exiting meanwhile), and none is left behind."""
    from pathlib import Path

    import sim.experiments.sweep.executors as ex
    from sim.experiments import store as st
    from sim.experiments.store import Store
    from sim.experiments.sweep import run_sweep

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("needs the fork start method the local executor uses on Linux")
    order: list[str] = []
    begin, shutdown, finish = ex._begin_shutdown, ex._shutdown, st.Catalogue.finish

    def begin_(pool):
        order.append("stop after the work")
        return begin(pool)

    def shutdown_(pool, grace_s=ex.SHUTDOWN_GRACE_S, begun=None):
        order.append("wait for the workers" + ("" if begun is not None else " (not told before)"))
        return shutdown(pool, grace_s, begun)

    def finish_(self):
        order.append("catalogue")
        return finish(self)

    monkeypatch.setattr(ex, "_begin_shutdown", begin_)
    monkeypatch.setattr(ex, "_shutdown", shutdown_)
    monkeypatch.setattr(st.Catalogue, "finish", finish_)
    data = Path(__file__).parent / "data"
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: s\nbase: {data / 'tiny.yaml'}\nseed: 3\ndesign: {{kind: lhs, n: 12}}\n"
                    "uncertainties:\n  y: {path: nodes.smic.allocation.ascend910b.die_yield, low: 0.2, high: 0.8}\n"
                    "kpis: [\"job_*\"]\n")
    rep = run_sweep(spec, tmp_path / "store", executor="local", workers=2, chunk_size=2)
    assert rep.done == 12 and rep.failed == 0
    assert order == ["stop after the work", "catalogue", "wait for the workers"]
    assert mp.active_children() == []
    assert len(Store(tmp_path / "store").query("SELECT * FROM runs")) == 12
