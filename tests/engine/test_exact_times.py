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


CAPPED = {**LICENCE, "effective": "2024-01-01", "treatment": {
    "kind": "license", "approval_probability": 1.0, "review_days": 38,
    "volume_cap_ratio": 0.5, "volume_cap_reference_units_per_month": 5}}  # 0.5 x 5 x 12 = 30 units a year


def _cap_world(rule):
    d = micro_world(rules={"lic": rule})
    d["labs"]["lab"]["strategy"]["review_interval_days"] = 100
    return d


def test_volume_cap_is_planned_for_buyer_orders_its_room_and_counts_the_rest_once_per_review():
    # the cap is 30 units a year (from 2024-01-01): the buyer applies for 30 of its 100 on day 0 (review 38, lead
    # 30); at its review on day 100 the year's room is claimed, so it does not apply, and the 70 still open are
    # counted capped once; the next year's room opens on day 365.25 and is used at the review of day 400; the 40
    # still open on day 500 are counted again (a new spell: the product was orderable in between)
    r = run(_cap_world(CAPPED))
    ship = r.tables["shipments"].sort_values("order_day")
    got = [(row.order_day, row.status, row.qty, None if math.isnan(row.ship_day) else row.ship_day,
            None if math.isnan(row.deliver_day) else row.deliver_day) for row in ship.itertuples()]
    assert got == [(0.0, "licensed", 30.0, 38.0, 68.0), (100.0, "capped", 70.0, None, None),
                   (400.0, "licensed", 30.0, 438.0, 468.0), (500.0, "capped", 40.0, None, None)]
    assert (ship.loc[ship.status == "capped", "treatment"] == "license").all()
    assert r.kpis["capped_units[lic]"] == 110
    assert r.kpis.get("refused_units[lic]", 0) == 0  # no application is made beyond the quota, so none is refused
    assert r.kpis["vendor_revenue_lost_usd"] == 110 * 10_000


def test_cap_that_denies_its_excess_is_planned_for_like_a_licence_quota():
    rule = {**LICENCE, "effective": "2024-01-01",
            "treatment": {"kind": "cap", "units_per_period": 30, "period_days": 365.25, "excess": "deny"}}
    r = run(_cap_world(rule))
    ship = r.tables["shipments"]
    assert ship.loc[ship.status != "capped", "qty"].sum() == 60  # two periods' room, nothing beyond it
    assert set(ship.loc[ship.status != "capped", "status"]) == {"delivered"}
    assert r.kpis["capped_units[lic]"] == 110
    # a queued excess is not planned for: the buyer orders all it needs and the cap holds the rest
    queued = {**rule, "treatment": {**rule["treatment"], "excess": "queue"}}
    rq = run(_cap_world(queued))
    assert rq.kpis.get("capped_units[lic]", 0) == 0
    # (one order of 100 on day 0: 30 ship in each period, the last 40 wait for the period after the horizon)
    shq = rq.tables["shipments"]
    assert list(zip(shq.order_day, shq.ship_day, shq.qty, strict=True)) == [(0.0, 0.0, 30.0), (0.0, 365.25, 30.0)]


def test_without_the_cap_the_same_world_gets_everything_at_once():
    # the mechanism must bite: remove the cap and the buyer's whole need ships at day 0
    uncapped = {**CAPPED, "treatment": {"kind": "license", "approval_probability": 1.0, "review_days": 38}}
    r = run(_cap_world(uncapped))
    ship = r.tables["shipments"]
    assert list(zip(ship.order_day, ship.status, ship.qty, strict=True)) == [(0.0, "licensed", 100.0)]
    assert r.kpis.get("capped_units[lic]", 0) == 0


def test_unsold_stock_of_a_world_market_part_leaves_after_a_full_check_period():
    """Checked every 30 days: the 1,000 units in stock at day 0 are still fresh at day 30 and leave at day 60 (no
    order comes: the job starts too late for the day-0 review, and the next review is after the horizon)."""
    d = micro_world()
    d["labs"]["lab"]["jobs"]["j"]["earliest_start"] = "2025-06-01"
    d["nodes"]["v"]["unsold_leaves_after_days"] = {"gpu": 30}
    r = run(d)
    ev = r.tables["events"]
    sold = ev[ev["kind"] == "sold_elsewhere"]
    assert sold[["day", "actor", "detail", "value"]].values.tolist() == [[60.0, "v", "gpu", 1000.0]]
    led = r.tables["ledger"]
    assert led["sold_elsewhere"].iloc[-1] == 1000 and led["in_inventory"].iloc[-1] == 0
    assert r.tables["inventory"].query("day > 60")["units"].max() == 0
    d["nodes"]["v"].pop("unsold_leaves_after_days")  # a part only these buyers can use stays in stock
    kept = run(d)
    assert kept.tables["ledger"]["sold_elsewhere"].iloc[-1] == 0 and kept.tables["ledger"]["in_inventory"].iloc[-1] == 1000


def test_stock_taken_within_a_period_never_leaves():
    """The job orders the whole stock of 100 on day 0: nothing is left to sell elsewhere, and its days are those of
    the same world without the field."""
    d = micro_world()
    d["nodes"]["v"]["initial_inventory"] = {"gpu": 100}
    base = run(d)
    d["nodes"]["v"]["unsold_leaves_after_days"] = {"gpu": 30}
    r = run(d)
    assert r.tables["ledger"]["sold_elsewhere"].iloc[-1] == 0
    assert r.tables["jobs"].iloc[0].finish_day == base.tables["jobs"].iloc[0].finish_day == 40.0
