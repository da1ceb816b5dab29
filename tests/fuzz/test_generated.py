"""Property tests: every generated scenario runs and keeps the model's invariants.

Profiles (tests/conftest.py): ``ci`` (the default, 500 examples) and ``long`` (``make fuzz``:
HYPOTHESIS_PROFILE=long, 5,000 examples).
"""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import given, settings

from sim import Simulation, scenario_from_dict
from sim.engine.compliance import Compliance, Lot
from tests.fuzz.conftest import scenarios

HELD = ["in_inventory", "in_transit", "installed", "seized", "retired", "failed", "sold_elsewhere"]


def check_invariants(s, r) -> None:
    t = r.tables
    led = t["ledger"]
    assert (led["produced"] == led[HELD].sum(axis=1)).all(), "chips not conserved"
    assert (led[HELD + ["produced", "dies_banked", "hbm_stacks"]] >= 0).all().all(), "negative stock"
    fleet = t["fleet"]
    assert (fleet["units"] >= 0).all()
    assert (fleet["reserved_inference"] >= 0).all() and (fleet["reserved_training"] >= 0).all()
    assert (fleet["reserved_inference"] + fleet["reserved_training"] <= fleet["units"] + 1e-9).all()
    inv = t["inventory"]
    assert (inv["units"] >= 0).all() and (inv["backorder_units"] >= 0).all()
    jobs = t["jobs"]
    assert len(jobs) == sum(len(lab.jobs) for lab in s.labs.values()), "a job went unrecorded"
    assert (jobs["flop_done"] <= jobs["target_flop"] * (1 + 1e-9)).all()
    assert ((jobs["flop_done"] >= jobs["target_flop"] * (1 - 1e-9)) == jobs["finished"].astype(bool)).all()
    assert (jobs["cost_usd"] >= 0).all() and (jobs["failures"] >= 0).all() and (jobs["lost_hours"] >= 0).all()
    assert jobs["finish_day"].dropna().le(s.horizon_days + 1e-9).all()
    rent = t["rentals"]
    assert (rent["cost_usd"] >= 0).all()
    assert rent["wait_days"].dropna().ge(0).all()
    ship = t["shipments"]
    assert (ship["qty"] > 0).all(), "an empty lot was recorded"
    assert (ship["fee_usd"] >= 0).all()
    denied = ship[ship["status"].isin(["denied", "refused"])]
    assert (denied["rule"].notna() | (denied["treatment"] == "no_route")).all(), "a denied lot names no rule"
    comp = Compliance(s)
    sent = ship[(ship["status"] == "delivered") & (ship["item_kind"] == "chip")]
    for lot in sent.itertuples():
        actor = s.labs.get(lot.buyer) or s.clouds.get(lot.buyer)
        d = comp.decide(Lot(comp.item(lot.product), lot.qty, actor.country, lot.buyer, actor.hq, lot.channel,
                            lot.order_day), lot.ship_day)
        assert d.kind != "deny", f"{lot.product} to {lot.buyer} shipped on day {lot.ship_day} under {d.rule}"
    for k, v in r.kpis.items():
        if "share" in k and not math.isnan(v):
            assert -1e-9 <= v <= 1 + 1e-9, k


@settings(deadline=None)
@given(scenarios())
def test_generated_scenarios_run_and_keep_invariants(world):
    s = scenario_from_dict(world)
    check_invariants(s, Simulation(s).run())


@settings(deadline=None, max_examples=60)
@given(scenarios())
def test_generated_scenarios_are_deterministic(world):
    s = scenario_from_dict(world)
    a, b = Simulation(s, 5).run(), Simulation(s, 5).run()
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
