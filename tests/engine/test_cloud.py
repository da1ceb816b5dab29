"""Cloud regions as queues: Erlang C for an M/M/c region, Little's law, remote-access rules."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from sim import Simulation
from tests.engine.conftest import build, micro_world

SERVERS = 10  # GPUs in the region
ARRIVALS_PER_DAY = 8.0
MEAN_DAYS = 1.0
WARMUP_DAYS = 30.0


def erlang_c_wait(c: int, lam: float, mu: float) -> float:
    """Mean wait in queue of an M/M/c queue (Erlang C)."""
    a = lam / mu
    top = a**c / math.factorial(c) * c / (c - a)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam)


def mmc_world(end=dt.date(2025, 12, 31)) -> dict:
    d = micro_world()
    d["end"] = end
    d["labs"] = {}
    d["edges"] = {}
    d["chips"]["gpu"]["service_life_years"] = 100
    d["clouds"] = {"c": {"country": "MY", "initial_fleet": {"gpu": SERVERS}, "price_usd_per_gpu_hour": {"gpu": 2.0}}}
    d["rental_streams"] = {"bg": {"cloud": "c", "chip": "gpu", "arrivals_per_day": ARRIVALS_PER_DAY,
                                  "mean_duration_days": MEAN_DAYS}}
    return d


def run_with_probe(d: dict, seed: int):
    sim = Simulation(build(d), seed)
    samples = []

    def probe(env):
        yield env.timeout(WARMUP_DAYS)
        while True:
            pool = sim.pools[("c", "gpu")]
            samples.append((len(pool.queue), pool.in_use))
            yield env.timeout(0.05)

    sim.env.process(probe(sim.env))
    return sim.run(), np.array(samples, dtype=float)


@pytest.fixture(scope="module")
def mmc_runs():
    return [run_with_probe(mmc_world(), seed) for seed in range(1, 9)]


def test_mean_wait_matches_erlang_c_within_the_95pct_interval(mmc_runs):
    expected = erlang_c_wait(SERVERS, ARRIVALS_PER_DAY, 1 / MEAN_DAYS)
    means = []
    for result, _ in mmc_runs:
        rent = result.tables["rentals"]
        rent = rent[(rent["request_day"] > WARMUP_DAYS) & (rent["status"] == "served") & rent["end_day"].notna()]
        means.append(rent["wait_days"].mean())
    means = np.array(means)
    half = 2.365 * means.std(ddof=1) / math.sqrt(len(means))  # t(0.975, 7)
    assert abs(means.mean() - expected) <= half, (means.mean(), expected, half)
    assert half < 0.25 * expected  # the interval is tight enough to mean something


def test_littles_law_on_the_queue_and_busy_servers(mmc_runs):
    for result, samples in mmc_runs:
        rent = result.tables["rentals"]
        after = rent[(rent["request_day"] > WARMUP_DAYS) & rent["start_day"].notna()]
        horizon = result.tables["ledger"]["day"].max()
        lam = len(after) / (horizon - WARMUP_DAYS)
        lq_time_avg = samples[:, 0].mean()
        assert lq_time_avg == pytest.approx(lam * after["wait_days"].mean(), rel=0.12)
        # busy servers = offered load a = lambda / mu
        assert samples[:, 1].mean() == pytest.approx(ARRIVALS_PER_DAY * MEAN_DAYS, rel=0.05)


def test_fifo_queue_never_lets_a_later_request_overtake():
    result, _ = run_with_probe(mmc_world(end=dt.date(2024, 6, 30)), 3)
    served = result.tables["rentals"].dropna(subset=["start_day"]).sort_values("request_day")
    assert served["start_day"].is_monotonic_increasing


def rent_world(ban: bool) -> dict:
    d = micro_world()
    d["nodes"]["v"]["initial_inventory"] = {"gpu": 0}
    d["clouds"] = {"c": {"country": "MY", "hq_country": "US", "initial_fleet": {"gpu": 200},
                         "price_usd_per_gpu_hour": {"gpu": 2.0}}}
    d["edges"]["c-lab"] = {"from": "c", "to": "lab", "flow": "rental", "channel": "remote"}
    job = d["labs"]["lab"]["jobs"]["j"]
    job["sourcing"] = "rent"
    job["earliest_start"] = dt.date(2024, 3, 1)
    if ban:
        d["rules"] = {"raa": {"announced": dt.date(2024, 1, 12), "effective": dt.date(2024, 2, 1),
                              "scope": {"buyer_hq": ["CN"], "channels": ["remote"]}, "treatment": {"kind": "deny"}}}
    return d


def test_renting_abroad_runs_the_job_at_the_rental_price():
    r = Simulation(build(rent_world(False)), 1).run()
    job = r.tables["jobs"].iloc[0]
    start = (dt.date(2024, 3, 1) - dt.date(2024, 1, 1)).days
    assert (job.start_day, job.rented_chips, job.owned_chips) == (start, 100, 0)
    assert job.finish_day == pytest.approx(start + 10.0)
    assert job.rental_cost_usd == pytest.approx(100 * 24 * 10.0 * 2.0)
    assert r.kpis["job_rented_share[lab/j]"] == 1.0


def test_remote_access_ban_refuses_rentals_and_never_speeds_the_job():
    free = Simulation(build(rent_world(False)), 1).run()
    banned = Simulation(build(rent_world(True)), 1).run()
    assert banned.kpis["rentals_refused"] > 0
    assert set(banned.tables["rentals"]["rule"].dropna()) == {"raa"}
    f_free = free.kpis["job_finish_day[lab/j]"]
    f_ban = banned.kpis["job_finish_day[lab/j]"]
    assert math.isnan(f_ban) or f_ban >= f_free
    assert banned.kpis["job_finished[lab/j]"] <= free.kpis["job_finished[lab/j]"]


def test_remote_ban_taking_effect_mid_run_stops_the_rented_job_at_the_next_renewal():
    d = rent_world(False)
    job = d["labs"]["lab"]["jobs"]["j"]
    job["flop"] = job["flop"] * 10  # 100 days on 100 rented GPUs
    job["rental_days_block"] = 30
    d["rules"] = {"raa": {"announced": dt.date(2024, 3, 10), "effective": dt.date(2024, 4, 15),
                          "scope": {"buyer_hq": ["CN"], "channels": ["remote"]}, "treatment": {"kind": "deny"}}}
    r = Simulation(build(d), 1).run()
    start = (dt.date(2024, 3, 1) - dt.date(2024, 1, 1)).days
    rent = r.tables["rentals"]
    served = rent[rent["status"] == "served"].iloc[0]
    # contract renewed at day start+30 (before the rule), refused at start+60 (after it took effect)
    assert served.start_day == start and served.end_day == start + 60
    assert served.cost_usd == pytest.approx(100 * 24 * 60 * 2.0)
    refused = rent[rent["status"] == "refused"]
    assert len(refused) >= 1 and refused.iloc[0].request_day == start + 60 and refused.iloc[0].rule == "raa"
    j = r.tables["jobs"].iloc[0]
    assert not j.finished
    assert j.flop_done == pytest.approx(job["flop"] * 60 / 100, rel=1e-9)  # 60 of 100 days, checkpointed hourly
    ev = r.tables["events"]
    assert (ev["kind"] == "job_paused").sum() == 1
