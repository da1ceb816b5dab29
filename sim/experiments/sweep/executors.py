"""Running chunks of runs: the worker function and the serial, process-pool and Dask executors."""

from __future__ import annotations

import gc
import json
import os
import re
import time
import traceback
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sim.experiments.heap import frozen_heap
from sim.experiments.sweep.spec import apply_point
from sim.experiments.sweep.watchdog import time_limit
from sim.scenario.loader import (
    ScenarioError,
)
from sim.scenario.overrides import validated_base
from sim.scenario.paths import Assignment

EXECUTORS = ("local", "dask", "serial")


_KPI_CACHE: dict[tuple[str, ...], re.Pattern] = {}
_WORKER_BASE: dict | None = None


def kpi_matcher(patterns: Sequence[str]) -> re.Pattern:
    """A regex for KPI *patterns*: ``*`` and ``?`` are wildcards, everything else (``[``, ``/``) literal."""
    key = tuple(patterns)
    if key not in _KPI_CACHE:
        parts = [re.escape(p).replace(r"\*", ".*").replace(r"\?", ".") for p in patterns]
        _KPI_CACHE[key] = re.compile("^(?:" + "|".join(parts) + ")$")
    return _KPI_CACHE[key]


#: Default per-run wall-time limit in a sweep, seconds (``--run-timeout``; the flagship runs in ~0.2 s).
RUN_SECONDS = 600.0


def _guarded(sim: Any, seconds: float | None) -> Any:
    """``sim.run()``, stopped with :class:`RunTimeout` once *seconds* of wall time have passed (see
    :mod:`sim.experiments.sweep.watchdog`)."""
    with time_limit(sim.env, seconds):
        return sim.run()


def _init_worker(base: dict, parent: int | None = None) -> None:
    """A pool worker: the base scenario; Ctrl-C is the driver's to handle (the worker ignores it, so no
    worker prints a traceback); and the worker exits when its driver dies (even by SIGKILL)."""
    import signal

    global _WORKER_BASE
    _WORKER_BASE = base
    validated_base(base)  # validated once per worker, before the heap is frozen
    gc.collect()
    gc.freeze()  # what the worker holds for good (modules, the base scenario) leaves the collector's scans
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        _exit_with_parent(parent)


def _exit_with_parent(parent: int) -> None:
    """End this process when *parent* is gone: Linux's parent-death signal, and a watchdog thread everywhere."""
    import sys
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exportsim-parent-watch", daemon=True).start()


@dataclass
class ChunkResult:
    """What a worker sends back for one chunk: one record per run, and tables when kept."""

    records: list[dict]
    tables: dict[str, Any] | None = None


def _one_line(e: BaseException) -> str:
    if isinstance(e, ScenarioError) and e.problems:
        p = e.problems[0]
        text = f"invalid scenario: {p.path}: {p.message}"
    else:
        text = f"{type(e).__name__}: {e}"
    text = " ".join(text.split())
    return text if len(text) <= 500 else text[:497] + "..."


def run_chunk(base: dict | None, tasks: list[tuple[str, int, list[Assignment]]], keep_tables: bool,
              kpi_patterns: Sequence[str], run_seconds: float | None = None) -> ChunkResult:
    """Run *tasks* ``(run_id, seed, assignments)``; never raises for a failing run (it is recorded).

    *run_seconds*: each run's wall-time limit; a run past it is recorded failed ("RunTimeout: ...").

    Consecutive tasks with the same assignments (replications of a point) share one validated scenario.
    *base* None means the base given to the worker at start-up (``ProcessPoolExecutor`` initializer).
    """
    import pandas as pd

    from sim.results.simulation import Simulation

    base = base if base is not None else _WORKER_BASE
    match = kpi_matcher(kpi_patterns)
    records: list[dict] = []
    tables: dict[str, list] = {}
    last_key, scenario, scenario_err = None, None, None
    for run_id, seed, assigns in tasks:
        t0 = time.perf_counter()
        key = json.dumps(assigns, default=str)
        if key != last_key:
            last_key, scenario, scenario_err = key, None, None
            try:
                scenario = apply_point(base, assigns)  # type: ignore[arg-type]
            except Exception as e:  # noqa: BLE001 - recorded, not fatal
                scenario_err = _one_line(e)
        rec: dict[str, Any] = {"run_id": run_id, "status": "ok", "error": None}
        if scenario_err is not None:
            rec.update(status="failed", error=scenario_err)
        else:
            try:
                assert scenario is not None  # validated above (or scenario_err is set)
                result = _guarded(Simulation(scenario, seed, run_id=run_id), run_seconds)
                rec.update({k: float(v) for k, v in result.kpis.items() if match.match(k)})
                if keep_tables:
                    for name, df in result.tables.items():
                        tables.setdefault(name, []).append(df)
            except Exception as e:  # noqa: BLE001 - recorded, not fatal
                rec.update(status="failed", error=_one_line(e))
                if os.environ.get("EXPORTSIM_DEBUG"):
                    traceback.print_exc()
        rec["elapsed_s"] = time.perf_counter() - t0
        records.append(rec)
    out_tables = None
    if keep_tables:
        out_tables = {name: pd.concat(dfs, ignore_index=True) for name, dfs in tables.items() if dfs}
    return ChunkResult(records, out_tables)


Chunk = list[tuple[str, int, list[Assignment]]]


def _execute(kind: str, workers: int, scheduler: str | None, base: dict, chunks: Iterator[Chunk],
             keep_tables: bool, kpis: Sequence[str], run_seconds: float | None = RUN_SECONDS,
             client: Any = None) -> Generator[tuple[Chunk, ChunkResult | BaseException]]:
    """Yield (chunk, result or the infrastructure error) as chunks finish, at most 2*workers in flight.

    *client*: a Dask client already connected to *scheduler* (the driver checks the scheduler first)."""
    if kind == "serial":
        for chunk in chunks:
            yield chunk, run_chunk(base, chunk, keep_tables, kpis, run_seconds)
        return
    inflight_max = max(2 * workers, 2)
    if kind == "local":
        yield from _execute_local(workers, base, chunks, keep_tables, kpis, inflight_max, run_seconds)
    elif kind == "dask":
        yield from _execute_dask(workers, scheduler, base, chunks, keep_tables, kpis, inflight_max, run_seconds,
                                 client)
    else:
        raise ValueError(f"unknown executor '{kind}' ({', '.join(EXECUTORS)})")


SCHEDULER_TIMEOUT_S = 10  # a scheduler that does not answer in this long is refused before the store is made
MAX_CHUNK_ATTEMPTS = 2  # a chunk whose worker dies is retried once, then recorded failed


def _execute_local(workers, base, chunks, keep_tables, kpis, inflight_max, run_seconds=RUN_SECONDS):
    """A process pool.  A worker that dies (e.g. SIGKILL) breaks the pool and every chunk in flight with it:
    each of those chunks is retried once, alone on a fresh pool, so the one whose worker dies again is known
    and recorded failed while the others complete.  The sweep goes on either way."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None

    def new_pool():
        return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(base, os.getpid()))

    # the driver's heap is frozen while the pool forks and runs: a worker's first collection then scans only what
    # it made itself, instead of every object it inherited (80 ms on a flagship sweep, with each touched page
    # copied on write); the driver's own later garbage is collected as usual, and the freeze ends with the pool
    # (unless the caller had frozen its heap already: run_sweep does, for every executor)
    with frozen_heap():
        yield from _pool_chunks(new_pool, chunks, keep_tables, kpis, inflight_max, run_seconds)


def _pool_chunks(new_pool, chunks, keep_tables, kpis, inflight_max, run_seconds):
    """:func:`_execute_local`'s loop over a pool made by *new_pool* (and remade when a worker dies)."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    pool = new_pool()
    inflight: dict = {}  # future -> chunk
    retry: list = []  # chunks to submit again first (the pool broke while submitting them)
    solo: list = []  # chunks lost with a broken pool: each runs again alone
    alone = False  # the chunk in flight runs alone
    stopping = None  # (workers, manager thread) of the pool once it was told to stop after its work
    try:
        exhausted = False
        while True:
            broken = False
            while not alone and len(inflight) < inflight_max:
                if solo:
                    if inflight:
                        break  # wait until the pool is empty, then run the suspect alone
                    chunk, alone = solo.pop(0), True
                elif retry:
                    chunk = retry.pop(0)
                else:
                    chunk = None if exhausted else next(chunks, None)
                    if chunk is None:
                        exhausted = True
                        break
                try:
                    inflight[pool.submit(run_chunk, None, chunk, keep_tables, kpis, run_seconds)] = chunk
                except BrokenProcessPool:  # the pool died while the driver was writing: this one goes again too
                    (solo if alone else retry).insert(0, chunk)
                    alone = False
                    broken = True
                    break
            if exhausted and not (broken or retry or solo) and stopping is None:
                # every chunk handed out: the pool stops once the last is done, its manager thread sending the
                # workers their stop sentinels as soon as the last result is in, while the driver stores it
                stopping = _begin_shutdown(pool)
            if not inflight and not broken:
                if retry or solo:
                    continue
                return
            if not broken:
                finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in finished:
                    chunk = inflight.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        inflight[fut] = chunk  # handled with the rest of the in-flight chunks below
                        continue
                    except Exception as e:  # noqa: BLE001 - e.g. unpicklable result
                        yield chunk, e
                        continue
                    yield chunk, result
                if not broken and not inflight:
                    alone = False
            if broken:
                lost = list(inflight.values())
                was_alone = alone
                inflight.clear()
                alone = False
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
                stopping = None
                for chunk in lost:
                    if was_alone:
                        yield chunk, RuntimeError("worker process died twice running this chunk (the second time "
                                                  "alone)")
                    else:
                        solo.append(chunk)
    finally:
        if inflight:  # stopped early (Ctrl-C, fail-fast): the workers finish their chunk and exit on their own
            pool.shutdown(wait=False, cancel_futures=True)
        else:
            _shutdown(pool, begun=stopping)


#: Once every result is in, how long the workers get to exit before the driver kills them.
SHUTDOWN_GRACE_S = 10.0


def _begin_shutdown(pool) -> tuple[list, Any]:
    """Tell *pool* to stop once the work it holds is done (``shutdown(wait=False)``); returns its worker processes
    and manager thread, which :func:`_shutdown` waits for (``shutdown()`` drops the pool's references to both)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    thread = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False)
    return procs, thread


def _shutdown(pool, grace_s: float = SHUTDOWN_GRACE_S, begun: tuple[list, Any] | None = None) -> None:
    """Shut a pool down whose results are all in, without waiting forever for a worker that does not exit
    (*begun*: what :func:`_begin_shutdown` returned, when the pool was told to stop earlier).

    A worker can be left waiting for its task queue's read lock with no one left to release it (seen once in
    ~80 sweeps whose first pool lost a worker to SIGKILL: the surviving worker of the next pool never took its
    stop sentinel), and ``shutdown(wait=True)`` then waits for it for good.  Its runs are all stored, so after
    *grace_s* it is killed; the pool's own manager thread then finishes."""
    procs, thread = begun if begun is not None else _begin_shutdown(pool)
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + grace_s
    for proc in procs:
        proc.join(max(deadline - time.monotonic(), 0.0))
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            proc.join(5.0)
    if thread is not None:
        thread.join(5.0)


def _execute_dask(workers, scheduler, base, chunks, keep_tables, kpis, inflight_max, run_seconds=RUN_SECONDS,
                  client=None):
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = client if client is not None else Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
        n = max(len(client.scheduler_info().get("workers", {})), 1)
        inflight_max = max(inflight_max, 2 * n)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               host="127.0.0.1")
        client = Client(cluster)
    try:
        base_f = client.scatter(base, broadcast=True)
        ac = as_completed()
        owner: dict = {}

        def submit() -> bool:
            chunk = next(chunks, None)
            if chunk is None:
                return False
            fut = client.submit(run_chunk, base_f, chunk, keep_tables, kpis, run_seconds, pure=False)
            owner[fut.key] = chunk
            ac.add(fut)
            return True

        for _ in range(inflight_max):
            if not submit():
                break
        for fut in ac:
            chunk = owner.pop(fut.key)
            try:
                res = fut.result()
            except Exception as e:  # noqa: BLE001 - a killed worker etc.: the chunk fails, the sweep goes on
                res = e
            fut.release()
            yield chunk, res
            submit()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
