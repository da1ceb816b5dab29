"""The run's KPIs from its record rows, in plain Python (no pandas): the path every run takes.

Tables are built only when someone asks for them (:class:`~sim.results.result.RunResult` builds them lazily), so
a sweep that keeps KPIs, a calibration particle or an options replication never pays for DataFrames.
:func:`sim.results.metrics.kpis_from_tables` computes the same KPIs from the tidy tables (for saved runs); a
test holds the two equal on generated scenarios and seeds.

KPI names follow ``name[key]`` (e.g. ``job_finish_day[bytedance/llm]``, ``delivered_units[bytedance/US]``,
``denied_units[us_2023_10]``) so a sweep can keep them as columns.  Definitions: :mod:`sim.results.metrics`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from math import fsum

from sim.engine.records import Recorder, ShipmentRow
from sim.schema import peak_flops

OK_STATUSES = ("delivered", "licensed", "grey")
FLOP_THRESHOLDS = (1e25, 1e26)


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _grouped(rows: Iterable, key, value) -> dict:
    """Exact sum (``math.fsum``) of *value* per *key*, keys in sorted order (as a pandas groupby gives them)."""
    out: dict = defaultdict(list)
    for r in rows:
        out[key(r)].append(value(r))
    return {k: fsum(out[k]) for k in sorted(out)}


def _rule(r: ShipmentRow) -> str:
    return r.rule if isinstance(r.rule, str) else "no_route"


def kpis(rec: Recorder, scenario, flop_thresholds=FLOP_THRESHOLDS) -> dict[str, float]:
    """The run's headline numbers, flat (see :func:`sim.results.metrics.kpis_from_tables` for each definition)."""
    k: dict[str, float] = {}
    ships = rec.shipments
    chips = [r for r in ships if r.item_kind == "chip"]
    ok = [r for r in chips if r.status in OK_STATUSES]
    hard = [r for r in chips if r.status == "denied"]
    refused = [r for r in chips if r.status == "refused"]
    futile = [r for r in chips if r.status == "futile"]
    capped = [r for r in chips if r.status == "capped"]
    seized = [r for r in chips if r.status == "seized"]
    for key, q in _grouped(ok, lambda r: (r.buyer, r.origin), lambda r: r.qty).items():
        k[f"delivered_units[{key[0]}/{key[1]}]"] = q
    for rule, q in _grouped(hard, _rule, lambda r: r.qty).items():
        k[f"denied_units[{rule}]"] = q
    for rule, q in _grouped(refused, _rule, lambda r: r.qty).items():
        k[f"refused_units[{rule}]"] = q
    spells = refused_spells(chips)
    demand: dict[str, list[float]] = {}  # in the order the spells close (as refused_demand gives them)
    for rule, q, _p in spells:
        demand.setdefault(rule, []).append(q)
    for rule, qs in demand.items():
        k[f"refused_demand_units[{rule}]"] = fsum(qs)
    for rule, q in _grouped(futile, _rule, lambda r: r.qty).items():
        k[f"futile_units[{rule}]"] = q
    for rule, q in _grouped(capped, _rule, lambda r: r.qty).items():
        k[f"capped_units[{rule}]"] = q
    k["blocked_units"] = fsum(r.qty for r in hard + refused)
    k["grey_units"] = fsum(r.qty for r in ok if r.status == "grey")
    k["seized_units"] = fsum(r.qty for r in seized)
    k["seized_loss_usd"] = fsum(r.qty * r.price_usd for r in seized)  # grey lots are paid up front: lost
    k["refunded_usd"] = fsum(r.refund_usd for r in chips)
    k["stockpiled_units"] = fsum(r.qty for r in ok if r.stockpile)
    piles = [e for e in rec.events if e.kind == "stockpile"]
    for rule, q in _grouped(piles, lambda e: e.detail.split(" ahead of ")[-1], lambda e: e.value).items():
        k[f"stockpile_extra_units[{rule}]"] = q
    # vendor revenue lost at list price: demand denied before any order, futile, capped and refused demand, once each
    lost = fsum([*(r.qty * r.price_usd for r in hard
                   if r.ship_day is None and r.treatment in ("deny", "no_route") and r.refund_usd == 0),
                 *(r.qty * r.price_usd for r in futile), *(r.qty * r.price_usd for r in capped),
                 *(q * p for _r, q, p in spells)])
    k["vendor_revenue_lost_usd"] = lost
    k["fees_paid_usd"] = fsum(r.fee_usd for r in chips)
    k["dies_denied"] = fsum(r.qty for r in ships if r.item_kind == "die" and r.status == "denied")
    k["hbm_denied"] = fsum(r.qty for r in ships if r.item_kind == "hbm" and r.status == "denied")

    made = _grouped((r for r in rec.production if r.item_kind == "chip"), lambda r: r.product, lambda r: r.qty)
    for product, q in made.items():
        k[f"produced_units[{product}]"] = q
    sold = (e for e in rec.events if e.kind == "sold_elsewhere")  # the buyers' leftover of a world-market part
    for product, q in _grouped(sold, lambda e: e.detail, lambda e: e.value).items():
        k[f"sold_elsewhere_units[{product}]"] = q
    by_country: dict[str, list[float]] = {}
    for product, q in made.items():
        spec = scenario.chips[product]
        by_country.setdefault(spec.designer_country, []).append(q * peak_flops(spec) / 1e18)
    for country in sorted(by_country):
        k[f"produced_eflops[{country}]"] = fsum(by_country[country])  # dense BF16 peak of every chip made, EFLOP/s

    fleet = rec.fleet
    # the last snapshot's rows: snapshots append in time order, so they are the rows at the end with its day
    last_day = fleet[-1].day if fleet else None
    i = len(fleet)
    while i and fleet[i - 1].day == last_day:
        i -= 1
    last = fleet[i:]
    for lid, lab in scenario.labs.items():  # every lab gets its fleet KPIs, 0 when it owns nothing
        mine = [r for r in last if r.owner == lid]
        total = fsum(r.peak_pflops for r in mine)
        dom = fsum(r.peak_pflops for r in mine if r.origin == lab.hq)
        k[f"compute_eflops_end[{lid}]"] = total / 1000.0
        k[f"domestic_share[{lid}]"] = dom / total if total > 0 else 0.0
        k[f"fleet_units_end[{lid}]"] = fsum(r.units for r in mine)

    horizon = scenario.horizon_days
    for j in rec.jobs:
        key = f"{j.lab}/{j.job}"
        finish = _nan(j.finish_day)
        done = not math.isnan(finish)
        k[f"job_finish_day[{key}]"] = finish
        k[f"job_finished[{key}]"] = float(bool(j.finished))
        k[f"job_finish_or_horizon_day[{key}]"] = finish if done else horizon  # right-censored at the horizon
        k[f"job_start_day[{key}]"] = _nan(j.start_day)
        k[f"job_cost_usd[{key}]"] = float(j.cost_usd)
        k[f"job_cost_per_pflop_usd[{key}]"] = (float(j.cost_usd) / (j.flop_done / 1e15) if j.flop_done > 0
                                               else math.nan)
        k[f"job_rented_share[{key}]"] = float(j.rented_chips) / j.chips if j.chips else 0.0
        hq = scenario.labs[j.lab].hq
        k[f"job_domestic_share[{key}]"] = float(j.origin == hq and j.rented_chips == 0) if j.chips else 0.0
        k[f"job_grey_share[{key}]"] = float(j.grey_share)
        k[f"job_failures[{key}]"] = float(j.failures)
        k[f"job_effective_pflops[{key}]"] = float(j.effective_pflops)
        if j.deadline_day is not None and not math.isnan(j.deadline_day):
            k[f"job_delay_vs_deadline_days[{key}]"] = (finish if done else horizon) - float(j.deadline_day)
    for lid in scenario.labs:
        finished = [j for j in rec.jobs if j.lab == lid and bool(j.finished)]
        for x in flop_thresholds:
            hits = [_nan(j.finish_day) for j in finished if j.target_flop >= x]
            hits = [h for h in hits if not math.isnan(h)]
            k[f"first_day_job_flop_ge_{x:.0e}[{lid}]"] = float(min(hits)) if hits else math.nan

    rentals = rec.rentals
    served = [r for r in rentals if r.status == "served"]
    waits = [float(r.wait_days) for r in served if r.wait_days is not None and not math.isnan(r.wait_days)]
    k["rentals_refused"] = float(sum(1 for r in rentals if r.status == "refused"))
    k["rental_mean_wait_days"] = fsum(waits) / len(waits) if waits else math.nan
    k["rental_cost_usd"] = fsum(r.cost_usd for r in served)
    for lid in scenario.labs:
        served_rows = [r for r in rec.inference if r.lab == lid]
        serving = [r for r in served_rows if r.workload == "serving"]
        if serving:
            need = fsum(r.needed_pflops for r in serving)
            k[f"inference_unmet_share[{lid}]"] = fsum(r.unmet_pflops for r in serving) / need if need > 0 else 0.0
        other = [r for r in served_rows if r.workload != "serving"]
        if other:
            need = fsum(r.needed_pflops for r in other)
            k[f"workload_unmet_share[{lid}]"] = fsum(r.unmet_pflops for r in other) / need if need > 0 else 0.0
    return k


def refused_spells(chips: list[ShipmentRow]) -> list[tuple[str, float, float]]:
    """(rule, units, price) per spell of refused demand: a buyer's largest refused lot of a product, per rule,
    until a lot of that product reaches the buyer (re-applying for the same need is not new demand)."""
    rel = [r for r in chips if r.status == "refused" or r.status in OK_STATUSES]
    if not any(r.status == "refused" for r in rel):
        return []

    def when(r: ShipmentRow) -> float:
        return r.ship_day if r.ship_day is not None and not math.isnan(r.ship_day) else r.order_day

    by_pair: dict[tuple[str, str], list[ShipmentRow]] = defaultdict(list)
    for r in sorted(rel, key=lambda r: (when(r), r.lot_id)):
        by_pair[(r.buyer, r.product)].append(r)
    out: list[tuple[str, float, float]] = []
    for pair in sorted(by_pair):
        spell: dict[str, tuple[float, float]] = {}
        for r in by_pair[pair]:
            if r.status == "refused":
                spell[_rule(r)] = max(spell.get(_rule(r), (0.0, 0.0)), (float(r.qty), float(r.price_usd)))
            elif spell:
                out += [(rule, q, p) for rule, (q, p) in spell.items()]
                spell = {}
        out += [(rule, q, p) for rule, (q, p) in spell.items()]
    return out


__all__ = ["kpis", "refused_spells"]
