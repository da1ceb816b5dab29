"""A job's failure-and-restart cycles are worked out without an event each (``training._progress``): the rows must
be exactly those of waiting out every failure and every restart as SimPy events, which the reference below does
(the engine's loop before it stopped making those events).  Checked on hand-built worlds where failures are many,
rental renewals interleave with them and the horizon falls inside a segment or a restart, on the flagship and on
generated worlds."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import HealthCheck, given, settings

from sim.engine.mechanisms import training
from sim.engine.simulation import World
from sim.scenario.loader import load_scenario
from sim.units import HOURS_PER_DAY, SECONDS_PER_DAY
from tests.engine.conftest import build, job_flop, micro_world
from tests.engine.test_cloud import rent_world
from tests.fuzz.conftest import scenarios

FLAGSHIP = "scenarios/bytedance_ascend.yaml"


def _progress_per_event(w, st, job, target):
    """The reference: every failure and every restart is a SimPy timeout the job waits out."""
    env = w.env
    n = st.own + sum(r.gpus for _, r in st.rentals)
    if st.rate_flop_s <= 0:
        return "stalled"
    mtbf = job.mtbf_hours_per_chip.get(st.chip)
    mtbf_h = w.param(f"mtbf/{st.lab}/{st.job}/{st.chip}", mtbf) if mtbf is not None else None
    fail_rng = w.rng(f"failure/job/{st.lab}/{st.job}")
    fail_days = fail_rng.exponential(mtbf_h / n) / HOURS_PER_DAY if mtbf_h else math.inf
    while st.done_flop < target:
        remaining_days = (target - st.done_flop) / st.rate_flop_s / SECONDS_PER_DAY
        renew_days = training._next_renewal(st, job.rental_days_block, env.now)
        st.segment_start = env.now
        step = min(remaining_days, fail_days, renew_days)
        if step == remaining_days:
            yield env.timeout(remaining_days)
            st.done_flop = target
            st.segment_start = None
            return "done"
        yield env.timeout(step)
        hours = step * HOURS_PER_DAY
        fail_days -= step
        if step == renew_days and fail_days > 0:
            lost_gpus = training._renew(w, st)
            if not lost_gpus:
                st.done_flop += st.rate_flop_s * hours * 3600.0
                st.phase_h += hours
                continue
            training._interrupt(w, st, job, hours, count_failure=False)
            if st.own + sum(r.gpus for _, r in st.rentals) < job.cluster_size.min:
                st.segment_start = None
                return "lost_capacity"
            n = training._configure(w, st, job)
            st.assemblies -= 1
            w.rec.event(env.now, "job_shrunk", st.lab, f"{st.job} to {n} x {st.chip}", n)
        else:
            training._interrupt(w, st, job, hours, count_failure=True)
        restart_h = w.sample(f"restart/{st.lab}/{st.job}", job.restart_hours)
        st.lost_hours += restart_h
        st.segment_start = None
        yield env.timeout(restart_h / HOURS_PER_DAY)
        fail_days = fail_rng.exponential(mtbf_h / n) / HOURS_PER_DAY if mtbf_h else math.inf
    st.segment_start = None
    return "done"


def _rows(scenario, seed: int) -> tuple[dict[str, list[str]], int, list[str], World]:
    """Every record row (as its repr: NaN-safe and exact to the last bit), the events scheduled, the streams."""
    w = World(scenario, seed).run()
    rows = {t: [repr(r) for r in getattr(w.rec, t)] for t in w.rec.TABLES}
    return rows, w.events_processed, w.rng.names, w


def _assert_same(scenario, seed: int, monkeypatch) -> tuple[int, int, int, World]:
    """Run with failure cycles and with the reference; the rows and streams must be equal."""
    rows, events, names, w = _rows(scenario, seed)
    with monkeypatch.context() as m:
        m.setattr(training, "_progress", _progress_per_event)
        ref_rows, ref_events, ref_names, _ = _rows(scenario, seed)
    for table in rows:
        assert rows[table] == ref_rows[table], table
    assert names == ref_names  # the same streams, so the same draws were made where the reference made them
    return events, ref_events, sum(r.failures for r in w.rec.jobs), w


def _failing(mtbf_h: float = 2000.0, restart_h=0.5, checkpoint_h: float = 1.0, days: float = 40.0,
             end: dt.date | None = None) -> dict:
    d = micro_world()
    job = d["labs"]["lab"]["jobs"]["j"]
    job["mtbf_hours_per_chip"] = {"gpu": mtbf_h}  # a cluster of 100: one failure per mtbf_h / 100 hours
    job["restart_hours"] = restart_h
    job["checkpoint_interval_hours"] = checkpoint_h
    job["flop"] = job_flop(100, days)
    if end is not None:
        d["end"] = end
    return d


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_failure_cycles_give_the_rows_of_an_event_per_failure(seed, monkeypatch):
    events, ref_events, failures, _w = _assert_same(build(_failing()), seed, monkeypatch)
    assert failures > 30  # one per 20 hours over ~40 days: ~48
    assert ref_events - events == 2 * failures  # the reference waits out each failure and each restart


def test_a_horizon_inside_a_segment_or_a_restart_is_met_as_with_events(monkeypatch):
    """The horizon cuts the job mid-segment (progress up to the last checkpoint) or mid-restart (none since)."""
    cut = set()
    for end_day in (45, 52, 59, 66):  # the chips arrive on day 30: the job runs from then
        for seed in (1, 2, 3):
            d = _failing(restart_h={"dist": "uniform", "low": 2.0, "high": 30.0}, days=80.0,
                         end=dt.date(2024, 1, 1) + dt.timedelta(days=end_day))
            _events, _ref, failures, w = _assert_same(build(d), seed, monkeypatch)
            st = w.job_states[("lab", "j")]
            assert failures > 0 and not st.finished
            cut.add("segment" if st.segment_start is not None else "restart")
    assert cut == {"segment", "restart"}  # both cases met


def test_renewals_between_failures_and_a_ban_at_a_renewal_are_met_as_with_events(monkeypatch):
    d = rent_world(False)  # 100 GPUs rented abroad from Mar 1, 2024
    job = d["labs"]["lab"]["jobs"]["j"]
    job.update(mtbf_hours_per_chip={"gpu": 5000.0}, restart_hours={"dist": "uniform", "low": 0.5, "high": 4.0},
               checkpoint_interval_hours=1.0, flop=job_flop(100, 100.0), rental_days_block=7)
    for ban in (False, True):
        if ban:  # refused at a renewal in mid-run: the job pauses with the work up to its last checkpoint
            d["rules"] = {"raa": {"announced": dt.date(2024, 3, 10), "effective": dt.date(2024, 4, 15),
                                  "scope": {"buyer_hq": ["CN"], "channels": ["remote"]}, "treatment": {"kind": "deny"}}}
        for seed in (1, 2):
            _events, _ref, failures, _w = _assert_same(build(d), seed, monkeypatch)
            assert failures > 10


@pytest.mark.parametrize("seed", [1, 2])
def test_the_flagship_gives_the_rows_of_an_event_per_failure(seed, monkeypatch):
    events, ref_events, failures, _w = _assert_same(load_scenario(FLAGSHIP), seed, monkeypatch)
    assert failures > 0 and ref_events - events >= failures


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=scenarios())
def test_generated_worlds_give_the_rows_of_an_event_per_failure(world, monkeypatch):
    _assert_same(build(world), 1, monkeypatch)
