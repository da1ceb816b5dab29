"""The per-run wall-time limit (sim.experiments.sweep.watchdog): it stops a run that would never end, mid-run, in a
forked child too, and leaves a run that ends in time untouched."""

from __future__ import annotations

import math
import multiprocessing as mp
import threading
import time
from pathlib import Path

import pytest
import simpy

from sim import Simulation, load_scenario
from sim.experiments.sweep.watchdog import RunTimeout, time_limit


def _endless() -> simpy.Environment:
    env = simpy.Environment()

    def tick():
        while True:
            yield env.timeout(1)

    env.process(tick())
    return env


def test_a_run_that_never_ends_is_stopped_mid_run():
    env = _endless()
    t0 = time.monotonic()
    expected = r"^stopped after 0\.05 s of wall time, the per-run limit \(at simulated day"
    with pytest.raises(RunTimeout, match=expected), time_limit(env, 0.05):
        env.run()
    waited = time.monotonic() - t0
    assert 0.05 <= waited < 5.0
    assert env.now > 0  # it ran until the watchdog stopped it


def test_the_shorter_of_two_limits_stops_first_and_the_other_run_ends_in_time():
    long_env, short_env = _endless(), _endless()
    outcome: dict[str, object] = {}

    def limited(name, env, seconds, until):
        try:
            with time_limit(env, seconds):
                env.run(until=until)
            outcome[name] = "ended"
        except RunTimeout:
            outcome[name] = "stopped"

    # the long limit is armed first, so the watchdog must wake early for the short one
    a = threading.Thread(target=limited, args=("long", long_env, 30.0, 200_000))
    a.start()
    limited("short", short_env, 0.05, None)
    a.join()
    assert outcome == {"long": "ended", "short": "stopped"}
    assert long_env.now == 200_000


def test_a_run_in_time_keeps_its_step_after_its_deadline():
    sim = Simulation(load_scenario(Path(__file__).parent / "data" / "tiny.yaml"), 1)
    step = sim.env.step
    with time_limit(sim.env, 2.0):
        result = sim.run()
    assert result.kpis  # the run's result is there
    assert sim.env.step == step  # disarmed: nothing replaced it


def test_no_limit_is_no_watchdog():
    env = _endless()
    with time_limit(env, None):
        env.run(until=10)
    assert env.now == 10
    with time_limit(env, math.inf):
        env.run(until=20)
    assert env.now == 20
    with pytest.raises(ValueError, match="NaN"), time_limit(env, math.nan):
        pass


def test_a_limit_beyond_the_thread_timeout_leaves_the_watchdog_working():
    """A limit above threading.TIMEOUT_MAX (~9.2e9 s) once made the watchdog's wait raise OverflowError, which ended its
    thread for the whole process: no later run was stopped mid-run."""
    with time_limit(_endless(), 1e12):
        time.sleep(0.05)  # the thread sleeps towards the far deadline (it wakes when a nearer one is armed)
    env = _endless()
    with pytest.raises(RunTimeout), time_limit(env, 0.05):
        env.run(until=5_000_000)  # seconds of events: without the watchdog it ends, and fails only on leaving
    assert env.now < 5_000_000  # stopped mid-run


def _child(q):
    env = _endless()
    try:
        with time_limit(env, 0.05):
            env.run()
        q.put("ended")
    except RunTimeout:
        q.put("stopped")


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_the_watchdog_works_in_a_forked_child_of_a_process_that_used_it():
    with time_limit(_endless(), 10.0):  # the parent's watchdog thread is started (a fork copies no thread)
        pass
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    try:
        assert q.get(timeout=20) == "stopped"
    finally:
        p.join(10)
    assert p.exitcode == 0
