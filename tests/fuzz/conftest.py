"""Hypothesis strategies for random but valid scenarios, extremes included (a conftest: shared by the fuzz tests).

Worlds are small (a few chips, vendors, labs, clouds, rules) so hundreds run in a CI minute, but
reach the corners: zero capacity, yield 0 and 1, rules effective on day 0 or the last day, a
one-day horizon, daily reviews that make thousands of tiny lots, MFU near 0, empty budgets.  (MFU 0, a
chip of 0 TFLOPS and sub-day review periods are refused at load since issue 19: tests/test_reliability_*.py.)
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import strategies as st

START = dt.date(2024, 1, 1)
COUNTRIES = ["US", "CN", "MY", "SG"]


def _qty(hi: float, allow_dist: bool = True):
    """A non-negative quantity: a number, sometimes a distribution."""
    number = st.one_of(st.just(0.0), st.floats(0, hi, allow_nan=False, allow_infinity=False))
    if not allow_dist:
        return number
    dist = st.tuples(st.floats(0, hi / 2), st.floats(0, hi / 2)).map(
        lambda t: {"dist": "uniform", "low": t[0], "high": t[0] + t[1]})
    return st.one_of(number, number, dist)


def _unit():
    return st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1),
                     st.floats(0.01, 0.99).map(lambda m: {"dist": "beta", "mean": m, "concentration": 5}))


def _pos_unit():
    """A share above 0 (MFU: zero is refused at load)."""
    return st.one_of(st.just(1.0), st.floats(1e-6, 1),
                     st.floats(0.01, 0.99).map(lambda m: {"dist": "beta", "mean": m, "concentration": 5}))


def _date_within(draw, horizon: int, before: int = 0, after: int = 0) -> dt.date:
    return START + dt.timedelta(days=draw(st.integers(-before, horizon + after)))


def _series(draw, horizon: int, hi: float):
    if draw(st.booleans()):
        return draw(_qty(hi))
    n = draw(st.integers(1, 3))
    days = sorted(set(draw(st.lists(st.integers(-30, horizon), min_size=n, max_size=n, unique=True))))
    return [{"since": START + dt.timedelta(days=d), "value": draw(_qty(hi))} for d in days]


@st.composite
def scenarios(draw) -> dict:
    horizon = draw(st.one_of(st.just(1), st.integers(2, 60), st.integers(60, 700)))
    n_chips = draw(st.integers(1, 3))
    chips, vendors = {}, {}
    for i in range(n_chips):
        vendor = f"v{draw(st.integers(0, 1))}"
        vendors.setdefault(vendor, draw(st.sampled_from(["US", "CN"])))
        chips[f"c{i}"] = {
            "name": f"Chip {i}", "vendor": vendor, "designer_country": vendors[vendor],
            "release": _date_within(draw, horizon, before=400),
            "die_area_mm2": draw(st.floats(50, 900)), "dies_per_package": draw(st.integers(1, 2)),
            "dense_tflops": {"bf16": draw(st.one_of(st.just(1e-3), st.floats(1, 2500))),
                             "int8": draw(st.floats(1e-3, 5000))},
            "hbm_tb_s": draw(st.floats(0, 8)), "hbm_stacks": draw(st.integers(0, 8)),
            "interconnect_gb_s": draw(st.sampled_from([0, 400, 600, 900])),
            "price_usd": draw(_qty(50_000)), "service_life_years": draw(st.floats(0.1, 8)),
            "annual_failure_rate": draw(st.one_of(st.just(0.0), st.floats(0, 0.9))),
            "datacenter": draw(st.booleans()),
        }
    nodes: dict = {}
    edges: dict = {}
    for vid, country in vendors.items():
        mine = [c for c, spec in chips.items() if spec["vendor"] == vid]
        nodes[vid] = {
            "kind": "vendor", "country": country,
            "initial_inventory": {c: draw(_qty(50_000)) for c in mine if draw(st.booleans())},
            "external_supply_per_month": {c: _series(draw, horizon, 20_000) for c in mine if draw(st.booleans())},
            "allocation_interval_days": draw(st.floats(1, 30)),
        }
    if draw(st.booleans()):  # domestic production chain for the first chip
        chip = "c0"
        nodes["fab"] = {"kind": "foundry", "country": draw(st.sampled_from(COUNTRIES)),
                        "wafer_starts_per_month": _series(draw, horizon, 3000),
                        "cycle_time_days": draw(_qty(120)),
                        "allocation": {chip: {"share": draw(st.floats(0, 1)), "die_yield": draw(_unit()),
                                              "packager": "pkg"}}}
        nodes["pkg"] = {"kind": "packager", "country": draw(st.sampled_from(COUNTRIES)),
                        "chips_per_month": _series(draw, horizon, 20_000),
                        "packaging_yield": draw(_unit()),
                        "initial_dies": {chip: draw(_qty(100_000))},
                        "initial_hbm_stacks": draw(_qty(500_000))}
        edges["fab-pkg"] = {"from": "fab", "to": "pkg", "flow": "dies", "lead_time_days": draw(_qty(30))}
        edges["pkg-v"] = {"from": "pkg", "to": chips[chip]["vendor"], "flow": "chips", "lead_time_days": draw(_qty(30))}
        if draw(st.booleans()):
            nodes["mem"] = {"kind": "memory", "country": draw(st.sampled_from(COUNTRIES)),
                            "hbm_stacks_per_month": _series(draw, horizon, 100_000)}
            edges["mem-pkg"] = {"from": "mem", "to": "pkg", "flow": "hbm", "lead_time_days": draw(_qty(20))}
    hub = draw(st.booleans())
    if hub:
        nodes["hub"] = {"kind": "distributor", "country": "SG",
                        "grey": {"share_of_denied": _series_unit(draw, horizon), "markup": draw(_qty(2)),
                                 "extra_delay_days": draw(_qty(90)),
                                 "seizure_probability": _series_unit(draw, horizon)}}
    clouds = {}
    if draw(st.booleans()):
        cchips = draw(st.lists(st.sampled_from(sorted(chips)), min_size=1, max_size=2, unique=True))
        clouds["cl"] = {"country": draw(st.sampled_from(COUNTRIES)), "hq_country": "US",
                        "initial_fleet": {c: draw(_qty(5000)) for c in cchips},
                        "purchases_per_month": {c: _series(draw, horizon, 2000) for c in cchips if draw(st.booleans())},
                        "price_usd_per_gpu_hour": {c: _series(draw, horizon, 10) for c in cchips},
                        "queue_discipline": draw(st.sampled_from(["fifo", "largest_first", "smallest_first"])),
                        "install_delay_days": draw(_qty(30))}
        for c in cchips:
            edges[f"{chips[c]['vendor']}-cl"] = {"from": chips[c]["vendor"], "to": "cl", "flow": "chips",
                                                 "lead_time_days": draw(_qty(60))}
    labs = {}
    for li in range(draw(st.integers(1, 2))):
        lid = f"lab{li}"
        country = draw(st.sampled_from(COUNTRIES))
        jobs = {}
        for ji in range(draw(st.integers(0, 2))):
            jchips = draw(st.lists(st.sampled_from(sorted(chips)), min_size=1, max_size=2, unique=True))
            lo = draw(st.integers(1, 500))
            job = {
                "flop": draw(st.floats(1e15, 1e23)), "chips": jchips,
                "cluster_size": {"min": lo, "max": lo + draw(st.integers(0, 500))},
                "earliest_start": _date_within(draw, horizon),
                "sourcing": draw(st.sampled_from(["own", "rent", "own_then_rent", "cheapest"])),
                "mfu": {c: draw(_pos_unit()) for c in jchips},
                "mfu_loss_per_doubling": draw(st.floats(0, 0.5)),
                "checkpoint_interval_hours": draw(st.floats(0.1, 10)),
                "restart_hours": draw(_qty(3)),
            }
            if draw(st.booleans()):
                job["mtbf_hours_per_chip"] = {c: draw(st.floats(1_000, 100_000)) for c in jchips}
            if draw(st.booleans()):
                job["deadline"] = _date_within(draw, horizon)
            jobs[f"j{ji}"] = job
        lab = {
            "country": country, "hq_country": draw(st.sampled_from(COUNTRIES)),
            "budget_usd_per_year": _series(draw, horizon, 5e9),
            "initial_fleet": {c: draw(_qty(20_000)) for c in chips if draw(st.booleans())},
            "install_delay_days": draw(_qty(30)),
            "strategy": {
                "review_interval_days": draw(st.one_of(st.just(1.0), st.floats(1, 90))),
                "domestic_preference": draw(st.floats(0.5, 3)),
                "stockpile_factor": draw(st.floats(1, 3)),
                "reroute": draw(st.lists(st.sampled_from(["other_product", "domestic", "grey", "cloud"]),
                                         unique=True, max_size=4)),
                "extra_demand_units_per_month": _series(draw, horizon, 5000),
                "max_grey_premium": draw(st.floats(0, 3)),
            },
            "jobs": jobs,
        }
        if draw(st.booleans()):
            lab["inference"] = {"tokens_per_day": _series(draw, horizon, 5e12), "active_params": draw(_qty(5e10)),
                                "utilisation": draw(st.floats(0.05, 1)),
                                "chips": draw(st.lists(st.sampled_from(sorted(chips)), min_size=1, max_size=3,
                                                       unique=True))}
        labs[lid] = lab
        for vid in vendors:
            if draw(st.booleans()) or not edges.get(f"{vid}-{lid}"):
                edges[f"{vid}-{lid}"] = {"from": vid, "to": lid, "flow": "chips",
                                         "channel": draw(st.sampled_from(["direct", "reexport"])),
                                         "lead_time_days": draw(_qty(90))}
            if hub:
                edges[f"{vid}-hub"] = {"from": vid, "to": "hub", "flow": "chips", "lead_time_days": draw(_qty(20))}
        if hub:
            edges[f"hub-{lid}"] = {"from": "hub", "to": lid, "flow": "chips", "channel": "grey",
                                   "lead_time_days": draw(_qty(20))}
        if clouds:
            edges[f"cl-{lid}"] = {"from": "cl", "to": lid, "flow": "rental", "channel": "remote"}
    rules = {}
    for ri in range(draw(st.integers(0, 3))):
        announced = _date_within(draw, horizon, before=100, after=10)
        effective = announced + dt.timedelta(days=draw(st.integers(0, 200)))
        kind = draw(st.sampled_from(["deny", "license", "notify", "fee", "cap"]))
        treatment = {"kind": kind}
        if kind == "license":
            treatment |= {"approval_probability": draw(_unit()), "review_days": draw(_qty(90)),
                          "revenue_share": draw(st.floats(0, 0.5))}
        elif kind == "notify":
            treatment["delay_days"] = draw(_qty(60))
        elif kind == "fee":
            treatment["revenue_share"] = draw(st.floats(0, 1))
        elif kind == "cap":
            treatment |= {"units_per_period": draw(st.floats(0, 50_000)), "period_days": draw(st.floats(1, 400)),
                          "excess": draw(st.sampled_from(["queue", "deny"]))}
        clause = {}
        if draw(st.booleans()):
            clause["tpp_min"] = draw(st.floats(0, 40_000))
        if draw(st.booleans()):
            clause["pd_min"] = draw(st.floats(0, 20))
        rule = {
            "announced": announced, "effective": effective,
            "scope": {"destinations": draw(st.lists(st.sampled_from(COUNTRIES), unique=True, max_size=2)),
                      "items": [clause] if clause else [],
                      "origin": {"designer_countries": draw(st.lists(st.sampled_from(["US", "CN"]), unique=True,
                                                                     max_size=1))},
                      "channels": draw(st.lists(st.sampled_from(["sale", "reexport", "remote"]), unique=True,
                                                min_size=1, max_size=3)),
                      "item_kinds": draw(st.lists(st.sampled_from(["chip", "die", "hbm"]), unique=True,
                                                  min_size=1, max_size=3))},
            "treatment": treatment,
            "exemptions": {"orders_before_announcement": draw(st.booleans()), "grace_days": draw(st.floats(0, 30))},
        }
        if draw(st.booleans()):
            rule["rescinded"] = announced + dt.timedelta(days=draw(st.integers(0, 400)))
        rules[f"r{ri}"] = rule
    return {
        "name": "fuzz", "question": "Does the model hold its invariants?", "start": START,
        "end": START + dt.timedelta(days=horizon), "seed": draw(st.integers(0, 2**31)),
        "country_groups": {"ALL": COUNTRIES}, "chips": chips, "nodes": nodes, "edges": edges,
        "labs": labs, "clouds": clouds, "rules": rules,
    }


def _series_unit(draw, horizon: int):
    if draw(st.booleans()):
        return draw(st.floats(0, 1))
    return [{"since": START + dt.timedelta(days=d), "value": draw(st.floats(0, 1))}
            for d in sorted(set(draw(st.lists(st.integers(-10, horizon), min_size=1, max_size=3, unique=True))))]


RUN_LIMIT_S = 120.0  # a generated run takes well under a second


@pytest.fixture(autouse=True, scope="module")
def _generated_runs_end():
    """A generated run that does not end fails its test, with its example, after RUN_LIMIT_S of wall time, instead
    of holding up the suite (one did: tests/data/fuzz_denied_order_reallocated.yaml).  Module-scoped: hypothesis
    refuses function-scoped fixtures around its examples."""
    from sim.experiments.sweep.watchdog import time_limit
    from sim.results.simulation import Simulation

    real = Simulation.run

    def run(self, progress=None):
        with time_limit(self.env, RUN_LIMIT_S):
            return real(self, progress)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Simulation, "run", run)
        yield
