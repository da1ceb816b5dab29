"""A LOCAL-executor worker process killed with SIGKILL in the middle of a sweep (the driver lives on).

What issue 9 asks: the death is detected, the run retried once and recorded failed if it dies again, the
sweep completes, the store stays readable, and every planned run is in it exactly once, none lost.

What holds today: the store stays readable, no run is ever stored twice, and resuming completes every
run exactly once (``test_worker_sigkill_never_duplicates_or_loses_a_run``).  What does not (strict xfails,
see RETRY_MISSING and CRASH): sim/sweep.py ``_execute_local`` never retries -- a ``BrokenProcessPool`` fails
the killed chunk *and every other chunk in flight* (they die with the pool), then a new pool starts; and
when the pool breaks while the driver is writing a chunk, the next ``submit`` raises ``BrokenProcessPool``
out of ``run_sweep``, so the sweep itself dies (exit 1) instead of completing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from sim.experiments.store import Store
from sim.experiments.sweep import expand, load_spec, run_sweep

TESTS = Path(__file__).resolve().parent
TINY = TESTS / "data" / "tiny.yaml"

SPEC = """\
name: kill_sweep
base: {base}
seed: 9
design: {{kind: lhs, n: {n}}}
levers:
  tpp: {{path: rules.us_2022_10.scope.items.0.tpp_min, levels: [2400, 4800]}}
uncertainties:
  die_yield: {{path: nodes.smic.allocation.ascend910b.die_yield, low: 0.2, high: 0.8}}
  flop: {{path: labs.lab-cn.jobs.job1.flop, dist: loguniform, low: 3.0e+22, high: 3.0e+23}}
kpis: ["job_*[lab-cn/job1]", blocked_units]
"""

KILL_SAMPLES = 10
KILL_RUNS = 2 * KILL_SAMPLES  # two policies (the tpp lever)

RETRY_MISSING = (
    "sim/sweep.py _execute_local does not retry: a worker killed by SIGKILL breaks the ProcessPoolExecutor, and "
    "the killed chunk and every other chunk in flight are recorded 'failed' ('worker process died ...') with no "
    "second attempt. Needed: on BrokenProcessPool, resubmit the chunks that were in flight to the new pool "
    "(their runs did not fail), run the chunk whose worker died again once (ideally run by run), and record a "
    "run failed only when its worker dies on the second attempt too. ")
CRASH = (
    "Also, sim/sweep.py _execute_local can crash the whole sweep: after a worker dies while the driver is "
    "writing a finished chunk, the next pool.submit() raises BrokenProcessPool, which nothing catches "
    "(exit 1 'internal error: BrokenProcessPool: A child process terminated abruptly'); catch it around "
    "submit and handle it like a broken pool found by wait()")


def _write_spec(dir_: Path, n: int) -> Path:
    p = dir_ / "spec.yaml"
    p.write_text(SPEC.format(base=TINY, n=n))
    return p


def _exportsim() -> list[str]:
    script = Path(sys.executable).parent / "exportsim"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sim.cli"]


def _children(pid: int) -> list[int]:
    """Processes whose parent is *pid* (from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(d.name))
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _parts(store: Path) -> list[Path]:
    return sorted((store / "runs").glob("part-*.parquet"))


def _records(store: Path) -> pd.DataFrame:
    """Every record in every committed runs file (not deduplicated: a run stored twice shows twice)."""
    return pd.concat([pd.read_parquet(p) for p in _parts(store)], ignore_index=True)


@pytest.fixture(scope="module")
def killed_sweep(tmp_path_factory):
    """``exportsim sweep --executor local --workers 2`` with one worker SIGKILLed after the first chunk lands."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("finds the worker processes through Linux /proc")
    tmp = tmp_path_factory.mktemp("killed")
    spec = _write_spec(tmp, n=KILL_SAMPLES)  # x 2 policies = KILL_RUNS runs, in chunks of 2
    store = tmp / "store"
    env = {k: v for k, v in os.environ.items() if k != "EXPORTSIM_DEBUG"}
    driver = subprocess.Popen([*_exportsim(), "sweep", str(spec), "--store", str(store), "--executor", "local",
                               "--workers", "2", "--chunk-size", "2", "--json"], cwd=tmp, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 40
        while time.time() < deadline and not _parts(store) and driver.poll() is None:
            time.sleep(0.02)
        me = _cmdline(driver.pid)
        workers = [c for c in _children(driver.pid) if _cmdline(c) == me]  # forked workers, not helpers
        parts_at_kill = len(_parts(store))
        assert driver.poll() is None, "the sweep finished before a worker could be killed"
        assert workers, "no worker process found"
        assert 0 < parts_at_kill < KILL_RUNS // 2
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    return {"spec": spec, "store": store, "rc": driver.returncode, "stdout": stdout, "stderr": stderr,
            "victim": victim, "parts_at_kill": parts_at_kill, "planned": {r.run_id for r in expand(load_spec(spec))}}


@pytest.mark.timeout(120)
def test_worker_sigkill_never_duplicates_or_loses_a_run(killed_sweep, tmp_path):
    """Whatever the driver did after the kill, the store is readable, holds no run twice, and resuming it
    completes every planned run exactly once.  (The sweep itself does not always complete today: see
    test_worker_killed_while_a_chunk_is_written_does_not_crash_the_sweep.)"""
    k = killed_sweep
    assert "Traceback" not in k["stderr"]
    store = k["store"]
    raw = _records(store)
    assert raw["run_id"].is_unique, raw["run_id"][raw["run_id"].duplicated()].tolist()
    assert set(raw["run_id"]) <= k["planned"]
    res = Store(store).results()
    assert res["run_id"].is_unique
    failed = res[res["status"] != "ok"]
    assert failed["error"].str.contains("worker process died").all(), failed["error"].tolist()
    assert not [p for p in store.rglob("*") if p.name.endswith(".tmp")]  # no half-written file
    con = duckdb.connect(str(store / "catalogue.duckdb"), read_only=True)  # rebuilt when the driver stopped
    try:
        n, distinct = con.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchone()
    finally:
        con.close()
    assert n == distinct == len(res)
    again = tmp_path / "again"
    shutil.copytree(store, again)
    r = run_sweep(k["spec"], again, executor="serial", retry_failed=True)
    assert r.skipped == (res["status"] == "ok").sum()
    assert (r.done, r.failed, r.remaining) == (KILL_RUNS - r.skipped, 0, 0)
    res = Store(again).results()
    assert len(res) == KILL_RUNS
    assert res["run_id"].is_unique
    assert set(res["run_id"]) == k["planned"]
    assert (res["status"] == "ok").all()



@pytest.mark.timeout(120)
def test_worker_sigkill_sweep_completes_and_retries(killed_sweep):
    """The worker was killed once: the sweep runs to its end, the second attempt succeeds, every run is ok."""
    k = killed_sweep
    assert k["rc"] == 0, k["stderr"][-600:]
    summary = json.loads(k["stdout"])
    assert (summary["runs"], summary["done"], summary["failed"], summary["remaining"]) == (KILL_RUNS, KILL_RUNS, 0, 0)
    assert len(k["planned"]) == KILL_RUNS
    res = Store(k["store"]).results()
    assert len(res) == KILL_RUNS
    assert set(res["run_id"]) == k["planned"]
    assert (res["status"] == "ok").all(), res.loc[res["status"] != "ok", "error"].tolist()



@pytest.mark.timeout(120)
def test_worker_killed_while_a_chunk_is_written_does_not_crash_the_sweep(tmp_path, monkeypatch):
    """Deterministic form of the race: the worker dies while the driver is writing a finished chunk."""
    import concurrent.futures

    import sim.experiments.sweep.driver

    if "fork" not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip("needs the fork start method the local executor uses on Linux")
    pools = []
    real_pool = concurrent.futures.ProcessPoolExecutor

    class Recording(real_pool):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            pools.append(self)

    real_write = sim.experiments.sweep.driver._write_chunk
    killed = []

    def write_and_kill(*a, **kw):
        if not killed:
            pid = next(iter(pools[-1]._processes))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            deadline = time.time() + 10
            while not pools[-1]._broken and time.time() < deadline:  # the pool has noticed the death
                time.sleep(0.01)
        return real_write(*a, **kw)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Recording)
    monkeypatch.setattr(sim.experiments.sweep.driver, "_write_chunk", write_and_kill)
    spec = _write_spec(tmp_path, n=4)  # 8 runs, 8 chunks: more than the 4 in flight
    report = run_sweep(spec, tmp_path / "store", executor="local", workers=2, chunk_size=1)
    assert killed
    assert (report.total, report.remaining) == (8, 0)
    res = Store(tmp_path / "store").results()
    assert len(res) == 8
    assert res["run_id"].is_unique
    assert (res["status"] == "ok").all(), res.loc[res["status"] != "ok", "error"].tolist()



@pytest.mark.timeout(120)
def test_run_that_kills_its_worker_twice_is_recorded_failed(tmp_path, monkeypatch):
    """A run whose worker dies on every attempt: tried exactly twice, then failed; the other runs are ok."""
    import sim.results.simulation

    if "fork" not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip("the poisoned model reaches the workers by fork")
    spec = _write_spec(tmp_path, n=4)  # 8 runs
    planned = expand(load_spec(spec))
    poison = planned[1].run_id
    attempts = tmp_path / "attempts.log"
    parent = os.getpid()
    real = sim.results.simulation.Simulation

    class Poisoned(real):
        def run(self, *a, **kw):
            if self.run_id == poison and os.getpid() != parent:  # never in the test process itself
                with open(attempts, "a") as f:
                    f.write(f"{os.getpid()}\n")
                os.kill(os.getpid(), signal.SIGKILL)
            return super().run(*a, **kw)

    monkeypatch.setattr(sim.results.simulation, "Simulation", Poisoned)
    store = tmp_path / "store"
    report = run_sweep(spec, store, executor="local", workers=2, chunk_size=1)
    tries = attempts.read_text().split() if attempts.exists() else []
    assert len(tries) == 2, f"attempts of the poisoned run: {len(tries)}"
    assert (report.total, report.done, report.failed, report.remaining) == (8, 7, 1, 0)
    res = Store(store).results().set_index("run_id")
    assert len(res) == 8
    assert res.index.is_unique
    assert res.loc[poison, "status"] == "failed"
    assert "died" in res.loc[poison, "error"]
    assert (res.drop(index=poison)["status"] == "ok").all()
