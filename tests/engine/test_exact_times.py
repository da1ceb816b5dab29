"""SimPy-style micro-tests: exact event days through order, licence, shipping, install and training."""

from __future__ import annotations

import math

import pytest

from sim import Simulation
from tests.engine.conftest import build, job_flop, micro_world

LICENCE = {
    "announced": "2023-01-01", "effective": "2023-01-01",
    "scope": {"destinations": ["CN"]},
    "treatment": {"kind": "license", "approval_probability": 1.0, "review_days": 38},
}


def run(d, seed=1):
    return Simulation(build(d), seed).run()


def test_no_rules_lot_arrives_after_lead_time_and_job_runs_closed_form():
    r = run(micro_world())
    ship = r.tables["shipments"]
    assert len(ship) == 1
    lot = ship.iloc[0]
    assert (lot.order_day, lot.ship_day, lot.deliver_day, lot.qty, lot.status) == (0.0, 0.0, 30.0, 100.0, "delivered")
    job = r.tables["jobs"].iloc[0]
    assert job.start_day == 30.0
    # closed form: start + C / (n x peak x MFU x 86,400)
    assert job.finish_day == pytest.approx(30.0 + 10.0, abs=1e-9)
    assert job.flop_done == job.target_flop
    assert r.kpis["job_finish_day[lab/j]"] == pytest.approx(40.0, abs=1e-9)


def test_licence_review_delays_shipment_exactly():
    d = micro_world(rules={"lic": LICENCE})
    r = run(d)
    lot = r.tables["shipments"].iloc[0]
    # ordered day 0, licence review 38 days, lead time 30 -> delivered day 68
    assert (lot.order_day, lot.ship_day, lot.deliver_day, lot.status, lot.rule) == (0.0, 38.0, 68.0, "licensed", "lic")
    job = r.tables["jobs"].iloc[0]
    assert job.start_day == 68.0
    assert job.finish_day == pytest.approx(78.0, abs=1e-9)


def test_installation_delay_and_notify_delay_add_up():
    d = micro_world(rules={"n": {**LICENCE, "treatment": {"kind": "notify", "delay_days": 25}}})
    d["labs"]["lab"]["install_delay_days"] = 7
    r = run(d)
    lot = r.tables["shipments"].iloc[0]
    assert (lot.ship_day, lot.deliver_day) == (25.0, 55.0)
    assert r.tables["jobs"].iloc[0].start_day == 62.0


def test_licence_never_granted_is_futile_counted_once_and_job_never_starts():
    # approval probability 0: the buyer knows it cannot pass, does not apply, and the need is counted once
    d = micro_world(rules={"lic": {**LICENCE, "treatment": {"kind": "license", "approval_probability": 0.0}}})
    r = run(d)
    ship = r.tables["shipments"]
    assert set(ship["status"]) == {"futile"}
    assert ship["qty"].sum() == 100
    assert r.kpis["futile_units[lic]"] == 100
    job = r.tables["jobs"].iloc[0]
    assert not job.finished and math.isnan(job.start_day)
    assert r.kpis["vendor_revenue_lost_usd"] == 100 * 10_000


def test_refused_lot_is_refunded_and_returns_to_stock():
    # approval probability 0.5 with a fixed draw sequence: some applications are refused; every refused lot's
    # money goes back to the buyer, and the refused units go back to the vendor's stock
    d = micro_world(rules={"lic": {**LICENCE, "treatment": {"kind": "license", "approval_probability": 0.5}}})
    d["labs"]["lab"]["budget_usd_per_year"] = 1.0e7
    r = run(d)
    ship = r.tables["shipments"]
    refused = ship[ship["status"] == "refused"]
    assert (refused["refund_usd"] == refused["qty"] * refused["price_usd"]).all()
    assert r.kpis["refunded_usd"] == float((refused["qty"] * refused["price_usd"]).sum())


def test_deny_rule_blocks_and_counts_denied_demand_once():
    d = micro_world(rules={"deny": {**LICENCE, "treatment": {"kind": "deny"}}})
    d["labs"]["lab"]["strategy"]["review_interval_days"] = 30
    r = run(d)
    ship = r.tables["shipments"]
    assert set(ship["status"]) == {"denied"}
    assert ship["qty"].sum() == 100  # the open need is counted once, not at every review
    assert r.kpis["denied_units[deny]"] == 100
    assert r.kpis["job_finished[lab/j]"] == 0.0


def test_fee_is_revenue_share_of_lot_value():
    d = micro_world(rules={"fee": {**LICENCE, "treatment": {"kind": "fee", "revenue_share": 0.15}}})
    r = run(d)
    lot = r.tables["shipments"].iloc[0]
    assert lot.fee_usd == pytest.approx(0.15 * 100 * 10_000)
    assert lot.deliver_day == 30.0


def test_rule_effective_later_does_not_touch_earlier_lot_and_grace_days_shift_enforcement():
    later = {**LICENCE, "announced": "2024-01-01", "effective": "2024-01-02", "treatment": {"kind": "deny"}}
    r = run(micro_world(rules={"late": later}))
    assert r.tables["shipments"].iloc[0].status == "delivered"  # exported on day 0, rule from day 1
    early = {**LICENCE, "announced": "2023-12-01", "effective": "2024-01-01", "treatment": {"kind": "deny"},
             "exemptions": {"grace_days": 5}}
    r = run(micro_world(rules={"grace": early}))
    assert r.tables["shipments"].iloc[0].status == "delivered"  # inside the grace period


def test_orders_before_announcement_are_exempt_when_the_rule_says_so():
    rule = {**LICENCE, "announced": "2024-01-01", "effective": "2024-01-01", "treatment": {"kind": "deny"},
            "exemptions": {"orders_before_announcement": True}}
    d = micro_world(rules={"r": rule})
    r = run(d)
    assert r.tables["shipments"].iloc[0].status == "denied"  # ordered on the announcement day: not before it


def test_more_chips_never_finish_later():
    finish = {}
    for n in (100, 200, 400):
        d = micro_world()
        d["labs"]["lab"]["jobs"]["j"]["cluster_size"] = {"min": n, "max": n}
        d["labs"]["lab"]["jobs"]["j"]["flop"] = job_flop(100, 40.0)
        finish[n] = run(d).tables["jobs"].iloc[0].finish_day
    assert finish[100] > finish[200] > finish[400]
    assert finish[200] - 30 == pytest.approx((finish[100] - 30) / 2)


def test_failures_lose_work_since_checkpoint_plus_restart():
    d = micro_world()
    job = d["labs"]["lab"]["jobs"]["j"]
    job["mtbf_hours_per_chip"] = {"gpu": 2000.0}  # cluster of 100: one failure per 20 h
    job["restart_hours"] = 0.5
    job["checkpoint_interval_hours"] = 1.0
    r = run(d)
    j = r.tables["jobs"].iloc[0]
    assert j.failures > 0
    # each failure loses < one checkpoint interval plus exactly the restart time
    assert j.lost_hours <= j.failures * 1.5 + 1e-9
    assert j.lost_hours >= j.failures * 0.5 - 1e-9
    # and the job is later than the failure-free closed form by at least the restart time
    assert j.finish_day >= 40.0 + j.failures * 0.5 / 24 - 1e-9


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_shorter_checkpoint_interval_never_loses_more_per_failure(seed):
    lost = {}
    for ckpt in (0.5, 4.0):
        d = micro_world()
        job = d["labs"]["lab"]["jobs"]["j"]
        job["mtbf_hours_per_chip"] = {"gpu": 2000.0}
        job["restart_hours"] = 0.0
        job["checkpoint_interval_hours"] = ckpt
        j = run(d, seed).tables["jobs"].iloc[0]
        lost[ckpt] = j.lost_hours / max(j.failures, 1)
        assert lost[ckpt] <= ckpt
    assert lost[0.5] <= lost[4.0]
