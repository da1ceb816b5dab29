"""The market mechanisms: pro-rata allocation, the packaging plan, workloads that hold chips, free chip
choice, import licences, refunds, tenant shares and the treatment registry (with its worked example)."""

from __future__ import annotations

import copy
import datetime as dt
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import Simulation
from sim.engine.plans import Line, expected_run_days, owned_hourly_usd, packaging_plan, packaging_value, pro_rata
from tests.engine.conftest import PEAK_BF16_TFLOPS, build, job_flop, micro_world


def run(d, seed=1):
    return Simulation(build(d), seed).run()


# ------------------------------------------------------------------------------- pure arithmetic
def test_pro_rata_splits_in_proportion_with_largest_remainder():
    assert pro_rata(10, {"a": 30, "b": 10}) == {"a": 8, "b": 2}  # 7.5 / 2.5 -> the tie goes to 'a' by id
    assert pro_rata(100, {"a": 30, "b": 10}) == {"a": 30, "b": 10}  # enough for everyone
    assert pro_rata(0, {"a": 5}) == {"a": 0}


@given(st.integers(0, 10_000), st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 5_000), min_size=1))
def test_pro_rata_never_over_allocates_and_uses_the_stock(stock, wants):
    got = pro_rata(stock, wants)
    assert all(0 <= got[b] <= max(wants[b], 0) for b in wants)
    assert sum(got.values()) == min(stock, sum(wants.values()))


def ascend_lines(dies_b: int, dies_c: int) -> list[Line]:
    return [Line("910b", 1, 4, 320.0, dies_b), Line("910c", 2, 8, 800.0, dies_c)]


@settings(max_examples=300)
@given(st.integers(0, 50_000), st.integers(0, 50_000), st.integers(0, 40_000), st.integers(0, 400_000),
       st.sampled_from(["dies_b", "dies_c", "capacity", "hbm"]), st.integers(1, 20_000))
def test_packaging_plan_more_of_any_input_never_less_value(dies_b, dies_c, capacity, hbm, which, extra):
    """Issue 15: more of any input never produces less of the plan's value (this month's Ascend compute plus the
    stacks kept for the 910C line at 100 TFLOP/s a stack; this month's compute alone can fall, see below)."""
    def compute(db, dc, cap, h):
        plan = packaging_plan(ascend_lines(db, dc), cap, h)
        value = packaging_value(ascend_lines(db, dc), cap, h)
        assert value >= 320.0 * plan["910b"] + 800.0 * plan["910c"]
        return value

    base = compute(dies_b, dies_c, capacity, hbm)
    more = dict(db=dies_b, dc=dies_c, cap=capacity, h=hbm)
    more[{"dies_b": "db", "dies_c": "dc", "capacity": "cap", "hbm": "h"}[which]] += extra
    assert compute(**more) >= base


def test_packaging_plan_respects_every_input():
    plan = packaging_plan(ascend_lines(100, 50), capacity=60, hbm=400)
    assert plan == {"910c": 25, "910b": 35}  # 910C first (100 TF/stack): 25 x 8 = 200 stacks; 910B gets 35 slots
    assert 25 * 8 + 35 * 4 <= 400
    # 910C short of stacks: the 4 left over are kept for it, not spent on a 910B
    assert packaging_plan(ascend_lines(100, 50), capacity=60, hbm=12) == {"910c": 1, "910b": 0}


def test_expected_run_days_closed_form_and_failure_overhead():
    assert expected_run_days(job_flop(100, 10.0), 100, PEAK_BF16_TFLOPS * 1e12, 0.5) == pytest.approx(10.0)
    # 100 chips, MTBF 1,000 h: 0.1 failures/h, each costs 0.5 h rollback + 0.5 h restart -> x1.1
    slow = expected_run_days(job_flop(100, 10.0), 100, PEAK_BF16_TFLOPS * 1e12, 0.5, mtbf_hours=1000,
                             checkpoint_hours=1.0, restart_hours=0.5)
    assert slow == pytest.approx(11.0)


def test_owned_hourly_cost_adds_networking_financing_and_power():
    base = owned_hourly_usd(8766.0, 1.0, 0.0)
    assert base == pytest.approx(1.0)  # price spread over a year of hours
    full = owned_hourly_usd(8766.0, 1.0, 1000.0, networking_capex_share=0.5, annual_financing_rate=0.1,
                            pue=1.2, electricity_usd_per_kwh=0.1)
    assert full == pytest.approx(1.5 + 0.15 + 0.12)


# ----------------------------------------------------------------------------- mechanisms in runs
def two_buyers(policy: str) -> dict:
    d = micro_world()
    d["nodes"]["v"]["initial_inventory"] = {"gpu": 100}
    d["nodes"]["v"]["allocation_policy"] = policy
    d["labs"]["lab"]["jobs"] = {}
    d["labs"]["lab"]["strategy"]["extra_demand_units_per_month"] = 300
    other = copy.deepcopy(d["labs"]["lab"])
    other["strategy"]["extra_demand_units_per_month"] = 100
    d["labs"]["lab2"] = other
    d["edges"]["v-lab2"] = {"from": "v", "to": "lab2", "flow": "chips", "lead_time_days": 30}
    return d


def delivered(r, buyer):
    s = r.tables["shipments"]
    return s[(s.buyer == buyer) & (s.status == "delivered")]["qty"].sum()


def test_pro_rata_vendor_shares_scarce_stock_by_open_orders():
    r = run(two_buyers("pro_rata"))
    # 100 units, open orders ~ 3:1 -> 75 / 25 (fcfs would give everything to whoever ordered first)
    assert delivered(r, "lab") == 75 and delivered(r, "lab2") == 25


def test_a_cloud_cancels_what_a_short_vendor_cannot_fill_as_a_lab_does():
    """A cloud's monthly purchases (300) and a lab's (100) against a pro-rata vendor making 100 a month: both
    buyers cancel what waits three monthly reviews (91 days), so open orders stay near three months of each and the
    lab keeps its quarter of the output, 150 units for each half-year's orders, in every half-year between the
    first (which also drains the start's queue) and the last (cut by the run's end).  A cloud that never
    cancelled (before MODEL_VERSION 12) piled up 200 units a month of orders and took a growing share: the lab's
    half-years 1-4 got 57, 41, 32, 26."""
    d = micro_world()
    d["end"] = dt.date(2026, 12, 31)
    v = d["nodes"]["v"]
    v.update(initial_inventory={"gpu": 0}, external_supply_per_month={"gpu": 100}, allocation_policy="pro_rata")
    d["labs"]["lab"]["jobs"] = {}
    d["labs"]["lab"]["strategy"] = {"review_interval_days": 30, "extra_demand_units_per_month": 100, "reroute": []}
    d["clouds"] = {"c": {"country": "MY", "purchases_per_month": {"gpu": 300}, "price_usd_per_gpu_hour": {"gpu": 2.0}}}
    d["edges"]["v-c"] = {"from": "v", "to": "c", "flow": "chips", "lead_time_days": 30}
    r = run(d)
    s = r.tables["shipments"]
    s = s[(s.status == "delivered") & (s.buyer == "lab")]
    halves = s.groupby((s.order_day // (365.25 / 2)).astype(int))["qty"].sum()
    assert list(halves.loc[1:4]) == [150, 150, 150, 150]
    ev = r.tables["events"]
    cancelled = ev[(ev.kind == "order_cancelled") & (ev.actor == "c")]
    assert len(cancelled) > 0 and cancelled.day.min() >= 90


def test_fcfs_vendor_serves_the_first_order_in_full():
    r = run(two_buyers("fcfs"))
    assert delivered(r, "lab") + delivered(r, "lab2") == 100
    assert max(delivered(r, "lab"), delivered(r, "lab2")) == 100


def test_workload_holds_chips_so_the_job_gets_only_what_is_free():
    d = micro_world()
    d["labs"]["lab"]["initial_fleet"] = {"gpu": 150}
    d["nodes"]["v"]["initial_inventory"] = {"gpu": 0}
    # 100 chips' worth of compute held by recommendation: 50 free < the job's 100 -> it never starts
    d["labs"]["lab"]["workloads"] = {"recsys": {"compute_pflop_s": 100 * PEAK_BF16_TFLOPS / 1000}}
    r = run(d)
    assert r.kpis["job_finished[lab/j]"] == 0.0
    fleet = r.tables["fleet"]
    assert fleet["reserved_workloads"].max() == 100
    d["labs"]["lab"]["workloads"] = {"recsys": {"compute_pflop_s": 50 * PEAK_BF16_TFLOPS / 1000}}
    assert run(d).kpis["job_finished[lab/j]"] == 1.0  # 100 free: it runs


def chip_choice_world() -> dict:
    d = micro_world()
    d["chips"]["fast"] = {**d["chips"]["gpu"], "name": "Fast", "dense_tflops": {"bf16": 4 * PEAK_BF16_TFLOPS}}
    d["nodes"]["v"]["initial_inventory"] = {"gpu": 0, "fast": 0}
    d["labs"]["lab"]["initial_fleet"] = {"gpu": 100, "fast": 100}
    job = d["labs"]["lab"]["jobs"]["j"]
    job["chips"] = []
    job["mfu"] = {"gpu": 0.5, "fast": 0.5}
    return d


def test_job_chooses_the_chip_with_the_earliest_expected_finish_and_records_it():
    r = run(chip_choice_world())
    jobs = r.tables["jobs"]
    assert jobs.iloc[0].chip == "fast"
    assert jobs.iloc[0].finish_day == pytest.approx(2.5)  # 10 days' work on chips 4x faster
    ev = r.tables["events"]
    assert ev[ev.kind == "job_choice"]["detail"].str.contains("fast x100").all()


def test_job_may_choose_only_chips_with_a_training_mfu():
    d = chip_choice_world()
    d["labs"]["lab"]["jobs"]["j"]["mfu"] = {"gpu": 0.5}  # nothing known about 'fast' on this job
    assert run(d).tables["jobs"].iloc[0].chip == "gpu"
    d["chips"]["fast"]["training_mfu"] = 0.5  # the catalogue knows it
    assert run(d).tables["jobs"].iloc[0].chip == "fast"


def test_cluster_limit_of_a_chip_bounds_the_cluster():
    d = chip_choice_world()
    d["chips"]["fast"]["max_cluster_chips"] = 50  # below the job's minimum of 100
    assert run(d).tables["jobs"].iloc[0].chip == "gpu"


def test_import_licence_review_refuses_or_delays_purchases():
    base = {"announced": "2023-01-01", "effective": "2023-01-01", "authority": "CN", "applies_at": "import",
            "scope": {"destinations": ["CN"]}}
    never = micro_world(rules={"imp": {**base, "treatment": {"kind": "license", "approval_probability": 0.0}}})
    r = run(never)
    assert len(r.tables["shipments"]) == 0  # barred at import: nothing is ordered
    assert (r.tables["events"]["kind"] == "import_barred").any()
    slow = micro_world(rules={"imp": {**base, "treatment": {"kind": "license", "approval_probability": 1.0,
                                                               "review_days": 20}}})
    lot = run(slow).tables["shipments"].iloc[0]
    assert (lot.order_day, lot.ship_day, lot.deliver_day) == (0.0, 20.0, 50.0)  # a 20-day domestic review first


def rental_world(share=None) -> dict:
    d = micro_world()
    d["nodes"]["v"]["initial_inventory"] = {"gpu": 0}
    d["clouds"] = {"c": {"country": "MY", "initial_fleet": {"gpu": 200}, "price_usd_per_gpu_hour": {"gpu": 2.0}}}
    if share is not None:
        d["clouds"]["c"]["tenant_share"] = {"lab": share}
    d["edges"]["c-lab"] = {"from": "c", "to": "lab", "flow": "rental", "channel": "remote"}
    d["labs"]["lab"]["jobs"]["j"]["sourcing"] = "rent"
    return d


def test_tenant_share_limits_what_one_tenant_can_rent():
    assert run(rental_world()).kpis["job_finished[lab/j]"] == 1.0
    assert run(rental_world(share=0.6)).kpis["job_finished[lab/j]"] == 1.0  # 120 >= 100
    capped = run(rental_world(share=0.4))
    assert capped.kpis["job_finished[lab/j]"] == 0.0  # 80 < the job's minimum of 100
    waits = capped.tables["events"].query("kind == 'job_wait'")
    assert list(zip(waits["day"], waits["detail"], waits["value"], strict=True)) == [  # the wait says why, once
        (0.0, "j: no option: no cluster of 100 chips held, on order or rentable now (most rentable in one region: "
              "80 gpu in c, within lab's tenant share)", 80.0)]
    small = rental_world()
    small["clouds"]["c"]["initial_fleet"] = {"gpu": 90}  # the whole region is smaller than the cluster
    waits = run(small).tables["events"].query("kind == 'job_wait'")
    assert list(waits["detail"]) == [
        "j: no option: no cluster of 100 chips held, on order or rentable now (most rentable in one region: 90 gpu in c)"]


def test_certify_treatment_worked_example():
    """The end-use certification kind added through the registry: the lot waits, then passes or is denied."""
    rule = {"announced": "2023-01-01", "effective": "2023-01-01", "scope": {"destinations": ["CN"]}}
    ok = micro_world(rules={"cert": {**rule, "treatment": {"kind": "certify", "pass_probability": 1.0,
                                                              "certification_days": 12}}})
    lot = run(ok).tables["shipments"].iloc[0]
    assert (lot.ship_day, lot.deliver_day, lot.status) == (12.0, 42.0, "delivered")
    fail = micro_world(rules={"cert": {**rule, "treatment": {"kind": "certify", "pass_probability": 0.0}}})
    r = run(fail)
    ship = r.tables["shipments"]
    assert set(ship["status"]) == {"denied"}
    assert (ship["refund_usd"] == ship["qty"] * ship["price_usd"]).all()  # money back for a lot that did not ship


def test_stacks_held_for_dies_on_the_way_grow_with_capacity():
    """Where the value's monotonicity stops (plans.packaging_plan's docstring): with 20 910C dies on the way, more
    capacity holds more of the 23 stacks for them, so capacity 1 -> 9 plans one 910B -> nothing this month."""
    def lines():
        return [Line("910b", 1, 4, 320.0, 9, 6), Line("910c", 2, 8, 800.0, 1, 20)]

    assert packaging_plan(lines(), 1, 23) == {"910c": 0, "910b": 1}
    assert packaging_plan(lines(), 9, 23) == {"910c": 0, "910b": 0}
    assert packaging_value(lines(), 9, 23) < packaging_value(lines(), 1, 23)


def test_a_refusal_at_export_cancels_the_rest_of_the_order():
    """One refused lot answers its order: the 70 units not yet allocated are cancelled (out of the pipeline and the
    backlog, the money back) the moment the first 30 are refused, so the returned stock is not allocated to the
    same order again (it was: 30 units refused again after each wait, until the order was used up)."""
    rule = {"announced": "2023-01-01", "effective": "2023-01-01", "scope": {"destinations": ["CN"]},
            "treatment": {"kind": "certify", "pass_probability": 0.0, "certification_days": 5}}
    d = micro_world(rules={"cert": rule})
    d["nodes"]["v"]["initial_inventory"] = {"gpu": 30}
    sim = Simulation(build(d), 1)
    r = sim.run()
    ship = r.tables["shipments"]
    assert list(zip(ship["qty"], ship["status"], ship["rule"], strict=True)) == [(30.0, "denied", "cert")]
    ev = r.tables["events"].query("kind == 'order_cancelled'")
    assert list(zip(ev["day"], ev["actor"], ev["detail"], ev["value"], strict=True)) == [
        (5.0, "lab", "gpu from v: denied by cert", 70.0)]
    assert sim.pipeline["lab"]["gpu"] == 0 and sim.backlog["v"]["gpu"] == 0
    assert sim.inventory["v"]["gpu"] == 30  # the refused lot is back in stock, allocated to nobody
    closed = micro_world(rules={"cert": {**rule, "treatment": {"kind": "deny"}}})  # never ordered: nothing spent
    closed["nodes"]["v"]["initial_inventory"] = {"gpu": 30}
    untouched = Simulation(build(closed), 1)
    untouched.run()
    assert sim.budget_usd["lab"] == untouched.budget_usd["lab"]  # all 100 units' money back


def test_a_deny_rule_that_comes_into_force_during_a_review_stops_the_lot():
    """A lot waits 12 days for end-use certification from day 0; a deny rule takes effect on day 4.  The lot has not
    been exported when the review ends, so the deny applies (before MODEL_VERSION 14 it shipped on day 12 under the
    deny: found by the generated-world fuzz test, hypothesis seed 119)."""
    scope = {"scope": {"destinations": ["CN"]}}
    d = micro_world(rules={
        "cert": {**scope, "announced": "2023-01-01", "effective": "2023-01-01",
                 "treatment": {"kind": "certify", "pass_probability": 1.0, "certification_days": 12}},
        "deny": {**scope, "announced": "2024-01-01", "effective": "2024-01-05", "treatment": {"kind": "deny"}},
    })
    r = run(d)
    ship = r.tables["shipments"]
    assert list(zip(ship["qty"], ship["status"], ship["rule"], strict=True)) == [(100.0, "denied", "deny")]
    # without the deny the same lot ships when its review ends
    d["rules"].pop("deny")
    lot = run(d).tables["shipments"].iloc[0]
    assert (lot.status, lot.rule, lot.ship_day) == ("delivered", "cert", 12.0)


def test_registry_has_a_handler_for_every_schema_kind_and_refuses_a_missing_one(monkeypatch):
    import importlib

    import sim.engine.treatments as treatments
    from sim.schema.rules import TREATMENT_CLASSES

    assert set(treatments.HANDLERS) == set(TREATMENT_CLASSES)
    monkeypatch.setitem(TREATMENT_CLASSES, "embargo", object)
    with pytest.raises(ImportError, match="embargo"):
        importlib.reload(treatments)
    monkeypatch.delitem(TREATMENT_CLASSES, "embargo")
    importlib.reload(treatments)


def test_seized_grey_lot_is_a_loss_not_a_refund():
    d = micro_world(rules={"deny": {"announced": "2023-01-01", "effective": "2023-01-01",
                                    "scope": {"destinations": ["CN"]}, "treatment": {"kind": "deny"}}})
    d["nodes"]["hub"] = {"kind": "distributor", "country": "SG",
                         "grey": {"share_of_denied": 1.0, "markup": 0.5, "extra_delay_days": 0,
                                  "seizure_probability": 1.0}}
    d["edges"]["v-hub"] = {"from": "v", "to": "hub", "flow": "chips"}
    d["edges"]["hub-lab"] = {"from": "hub", "to": "lab", "flow": "chips", "channel": "grey"}
    d["labs"]["lab"]["strategy"]["reroute"] = ["grey"]
    r = run(d)
    seized = r.tables["shipments"].query("status == 'seized'")
    assert len(seized) and r.kpis["seized_loss_usd"] == float((seized.qty * seized.price_usd).sum())
    assert r.kpis["refunded_usd"] == 0.0


def test_expected_finish_is_not_a_hand_list():
    """The choice changes with what the lab holds, not with list order."""
    d = chip_choice_world()
    d["labs"]["lab"]["initial_fleet"] = {"gpu": 100, "fast": 10}  # too few fast chips for the minimum cluster
    assert run(d).tables["jobs"].iloc[0].chip == "gpu"
    assert math.isfinite(run(d).kpis["job_finish_day[lab/j]"])
    _ = dt


def test_lot_in_transit_is_stopped_only_by_a_rule_without_the_exemption():
    rule = {"announced": "2024-01-01", "effective": "2024-01-15", "scope": {"destinations": ["CN"]},
            "treatment": {"kind": "deny"}}
    kept = run(micro_world(rules={"r": {**rule, "exemptions": {"in_transit": True}}}))
    assert kept.tables["shipments"].iloc[0].status == "delivered"  # shipped day 0, arrives day 30: exempt
    stopped = run(micro_world(rules={"r": {**rule, "exemptions": {"in_transit": False}}}))
    lot = stopped.tables["shipments"].iloc[0]
    assert (lot.status, lot.rule, lot.ship_day, lot.refund_usd) == ("denied", "r", 0.0, lot.qty * lot.price_usd)
    assert (stopped.tables["events"]["kind"] == "stopped_in_transit").any()


def test_multi_region_cluster_only_when_allowed():
    d = rental_world()
    d["clouds"]["c"]["initial_fleet"] = {"gpu": 60}
    d["clouds"]["c2"] = {"country": "US", "initial_fleet": {"gpu": 60}, "price_usd_per_gpu_hour": {"gpu": 3.0}}
    d["edges"]["c2-lab"] = {"from": "c2", "to": "lab", "flow": "rental", "channel": "remote"}
    assert run(d).kpis["job_finished[lab/j]"] == 0.0  # 60 + 60 in two regions: no single region has 100
    d["labs"]["lab"]["jobs"]["j"]["multi_region"] = True
    r = run(d)
    assert r.kpis["job_finished[lab/j]"] == 1.0
    assert r.tables["jobs"].iloc[0].rented_from == "c,c2"


def test_four_more_910c_dies_keep_stacks_for_next_month_worth_more_than_this_months_910b():
    """The property test's counterexample of 2026-12-08, kept: 12 -> 16 910C dies with 3 910B dies, 9 slots and 60
    stacks plans 6 x 910C + 3 x 910B (5,760 TFLOP/s) -> 7 x 910C + 0 x 910B (5,600), the 4 stacks left kept for the
    910C line, worth 4 x 100 there: the plan's value rises 5,760 -> 6,000 while this month's compute falls."""
    assert packaging_plan(ascend_lines(3, 12), 9, 60) == {"910c": 6, "910b": 3}
    assert packaging_plan(ascend_lines(3, 16), 9, 60) == {"910c": 7, "910b": 0}
    assert packaging_value(ascend_lines(3, 12), 9, 60) == 5760.0
    assert packaging_value(ascend_lines(3, 16), 9, 60) == 5600.0 + 4 * 100.0
