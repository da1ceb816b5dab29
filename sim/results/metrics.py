"""Records -> tidy tables (one row per observation, snake_case, a run_id column), and the KPIs from tables.

Runs compute their KPIs from the rows without pandas (:mod:`sim.results.kpis`); :func:`kpis_from_tables` is the
same definitions over the tidy tables, for saved runs and as the reference a test holds the fast path to.
KPI names follow ``name[key]`` (e.g. ``job_finish_day[bytedance/llm]``,
``delivered_units[bytedance/US]``, ``denied_units[us_2023_10]``) so a sweep can keep them as columns.
"""

from __future__ import annotations

import dataclasses
import math
import operator

import pandas as pd

from sim.engine.records import (
    EventRow,
    FleetRow,
    InferenceRow,
    InventoryRow,
    JobRow,
    LedgerRow,
    ProductionRow,
    Recorder,
    RentalRow,
    ShipmentRow,
)
from sim.schema import peak_flops

ROW_TYPES = {
    "shipments": ShipmentRow, "fleet": FleetRow, "ledger": LedgerRow, "inventory": InventoryRow,
    "production": ProductionRow,
    "events": EventRow, "jobs": JobRow, "rentals": RentalRow, "inference": InferenceRow,
}


def tables(rec: Recorder, run_id: str) -> dict[str, pd.DataFrame]:
    """One DataFrame per record type, built once; empty tables keep their columns."""
    out = {}
    for name, row_type in ROW_TYPES.items():
        rows = getattr(rec, name)
        cols = [f.name for f in dataclasses.fields(row_type)]
        get = operator.attrgetter(*cols)  # rows are flat: no deep copy needed (dataclasses.astuple copies)
        df = pd.DataFrame([get(r) for r in rows], columns=cols)
        for c in cols:  # keep numeric dtypes stable even when a column is all None
            if c.endswith("_day") or c in ("day", "qty", "units"):
                df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
        df.insert(0, "run_id", run_id)
        out[name] = df
    return out


def kpis_from_tables(t: dict[str, pd.DataFrame], scenario, flop_thresholds=(1e25, 1e26)) -> dict[str, float]:
    """The run's headline numbers, flat, from its tables."""
    k: dict[str, float] = {}
    ship = t["shipments"]
    chips = ship[ship["item_kind"] == "chip"]
    ok = chips[chips["status"].isin(["delivered", "licensed", "grey"])]
    denied = chips[chips["status"].isin(["denied", "refused"])]
    for (buyer, origin), q in ok.groupby(["buyer", "origin"])["qty"].sum().items():
        k[f"delivered_units[{buyer}/{origin}]"] = float(q)
    # denied demand: counted once while it stays open (a re-order of the same need is not new demand)
    hard = denied[denied["status"] == "denied"]
    for rule, q in hard.groupby(hard["rule"].fillna("no_route"))["qty"].sum().items():
        k[f"denied_units[{rule}]"] = float(q)
    # licence refusals: one lot per application; the refused *demand* counts a buyer's need for a product once
    # until a lot of it reaches that buyer (re-applying for the same need is not new demand)
    refused = denied[denied["status"] == "refused"]
    for rule, q in refused.groupby(refused["rule"].fillna("no_route"))["qty"].sum().items():
        k[f"refused_units[{rule}]"] = float(q)
    for rule, q in refused_demand(chips).items():
        k[f"refused_demand_units[{rule}]"] = q
    # never ordered because futile: a licence that is never granted (approval probability 0)
    futile = chips[chips["status"] == "futile"]
    for rule, q in futile.groupby(futile["rule"].fillna("no_route"))["qty"].sum().items():
        k[f"futile_units[{rule}]"] = float(q)
    # never ordered because a volume cap had no room left in its period (once while the demand stays open)
    capped = chips[chips["status"] == "capped"]
    for rule, q in capped.groupby(capped["rule"].fillna("no_route"))["qty"].sum().items():
        k[f"capped_units[{rule}]"] = float(q)
    k["blocked_units"] = float(denied["qty"].sum())
    k["grey_units"] = float(chips.loc[chips["status"] == "grey", "qty"].sum())
    seized = chips[chips["status"] == "seized"]
    k["seized_units"] = float(seized["qty"].sum())
    k["seized_loss_usd"] = float((seized["qty"] * seized["price_usd"]).sum())  # grey lots are paid up front: lost
    k["refunded_usd"] = float(chips["refund_usd"].sum()) if "refund_usd" in chips else 0.0
    k["stockpiled_units"] = float(ok.loc[ok["stockpile"].astype(bool), "qty"].sum()) if len(ok) else 0.0
    ev = t["events"]
    piles = ev[ev["kind"] == "stockpile"]
    for rule, q in piles.groupby(piles["detail"].str.split(" ahead of ").str[-1])["value"].sum().items():
        k[f"stockpile_extra_units[{rule}]"] = float(q)
    # vendor revenue lost, at list price: demand denied (once), demand refused (once), futile and capped demand
    # (once each).
    # Export-side denials of an allocated lot return the units to stock for other buyers: not lost.
    demand_denied = hard[hard["ship_day"].isna() & hard["treatment"].isin(["deny", "no_route"])
                         & (hard["refund_usd"] == 0)]
    lost = (float((demand_denied["qty"] * demand_denied["price_usd"]).sum())
            + float((futile["qty"] * futile["price_usd"]).sum())
            + float((capped["qty"] * capped["price_usd"]).sum()))
    lost += refused_demand_value(chips)
    k["vendor_revenue_lost_usd"] = lost
    k["fees_paid_usd"] = float(chips["fee_usd"].sum())
    k["dies_denied"] = float(ship.loc[(ship["item_kind"] == "die") & (ship["status"] == "denied"), "qty"].sum())
    k["hbm_denied"] = float(ship.loc[(ship["item_kind"] == "hbm") & (ship["status"] == "denied"), "qty"].sum())

    prod = t["production"]
    made = prod[prod["item_kind"] == "chip"] if len(prod) else prod
    for product, q in (made.groupby("product")["qty"].sum().items() if len(made) else []):
        k[f"produced_units[{product}]"] = float(q)
    sold = ev[ev["kind"] == "sold_elsewhere"]  # the buyers' leftover of a world-market part
    for product, q in (sold.groupby("detail")["value"].sum().items() if len(sold) else []):
        k[f"sold_elsewhere_units[{product}]"] = float(q)
    by_country: dict[str, float] = {}
    for product, q in (made.groupby("product")["qty"].sum().items() if len(made) else []):
        spec = scenario.chips[product]
        by_country[spec.designer_country] = (by_country.get(spec.designer_country, 0.0)
                                             + float(q) * peak_flops(spec) / 1e18)
    for country, eflops in sorted(by_country.items()):
        k[f"produced_eflops[{country}]"] = eflops  # dense BF16 peak of every chip made over the run, EFLOP/s
    fleet = t["fleet"]
    horizon = scenario.horizon_days
    last = fleet[fleet["day"] == fleet["day"].max()] if len(fleet) else fleet
    for lid, lab in scenario.labs.items():  # every lab gets its fleet KPIs, 0 when it owns nothing
        mine = last[last["owner"] == lid]
        total = float(mine["peak_pflops"].sum())
        dom = float(mine.loc[mine["origin"] == lab.hq, "peak_pflops"].sum())
        k[f"compute_eflops_end[{lid}]"] = total / 1000.0
        k[f"domestic_share[{lid}]"] = dom / total if total > 0 else 0.0
        k[f"fleet_units_end[{lid}]"] = float(mine["units"].sum())
    jobs = t["jobs"]
    for _, j in jobs.iterrows():
        key = f"{j['lab']}/{j['job']}"
        finish = j["finish_day"]
        k[f"job_finish_day[{key}]"] = float(finish) if pd.notna(finish) else math.nan
        k[f"job_finished[{key}]"] = float(bool(j["finished"]))
        # finish day, or the horizon when unfinished (right-censored): comparable across worlds
        k[f"job_finish_or_horizon_day[{key}]"] = float(finish) if pd.notna(finish) else horizon
        k[f"job_start_day[{key}]"] = float(j["start_day"]) if pd.notna(j["start_day"]) else math.nan
        k[f"job_cost_usd[{key}]"] = float(j["cost_usd"])
        k[f"job_cost_per_pflop_usd[{key}]"] = (float(j["cost_usd"]) / (j["flop_done"] / 1e15) if j["flop_done"] > 0
                                               else math.nan)
        k[f"job_rented_share[{key}]"] = float(j["rented_chips"]) / j["chips"] if j["chips"] else 0.0
        lab = scenario.labs[j["lab"]]
        k[f"job_domestic_share[{key}]"] = float(j["origin"] == lab.hq and j["rented_chips"] == 0) if j["chips"] else 0.0
        k[f"job_grey_share[{key}]"] = float(j["grey_share"])
        k[f"job_failures[{key}]"] = float(j["failures"])
        k[f"job_effective_pflops[{key}]"] = float(j["effective_pflops"])
        if pd.notna(j["deadline_day"]):
            end = float(finish) if pd.notna(finish) else horizon
            k[f"job_delay_vs_deadline_days[{key}]"] = end - float(j["deadline_day"])
    for lid in scenario.labs:
        mine = jobs[(jobs["lab"] == lid) & jobs["finished"].astype(bool)] if len(jobs) else jobs
        for x in flop_thresholds:
            hit = mine[mine["target_flop"] >= x]["finish_day"] if len(mine) else pd.Series(dtype=float)
            k[f"first_day_job_flop_ge_{x:.0e}[{lid}]"] = float(hit.min()) if len(hit) else math.nan
    rentals = t["rentals"]
    served = rentals[rentals["status"] == "served"] if len(rentals) else rentals
    k["rentals_refused"] = float((rentals["status"] == "refused").sum()) if len(rentals) else 0.0
    k["rental_mean_wait_days"] = float(served["wait_days"].mean()) if len(served) else math.nan
    k["rental_cost_usd"] = float(served["cost_usd"].sum()) if len(served) else 0.0
    inf = t["inference"]
    for lid in scenario.labs:
        mine = inf[inf["lab"] == lid] if len(inf) else inf
        serving = mine[mine["workload"] == "serving"] if len(mine) else mine
        if len(serving):
            need = float(serving["needed_pflops"].sum())
            k[f"inference_unmet_share[{lid}]"] = float(serving["unmet_pflops"].sum()) / need if need > 0 else 0.0
        other = mine[mine["workload"] != "serving"] if len(mine) else mine
        if len(other):
            need = float(other["needed_pflops"].sum())
            k[f"workload_unmet_share[{lid}]"] = float(other["unmet_pflops"].sum()) / need if need > 0 else 0.0
    return k


def _refused_spells(chips: pd.DataFrame):
    """(rule, units, price) per spell of refused demand: a buyer's largest refused lot of a product until a lot of it
    reaches the buyer."""
    rel = chips[chips["status"].isin(["refused", "delivered", "licensed", "grey"])]
    if not len(rel) or not (rel["status"] == "refused").any():
        return []
    rel = rel.assign(_t=rel["ship_day"].fillna(rel["order_day"]))
    out = []
    for (_buyer, _product), g in rel.sort_values(["_t", "lot_id"]).groupby(["buyer", "product"], sort=True):
        spell: dict = {}
        for status, rule, qty, price in zip(g["status"], g["rule"], g["qty"], g["price_usd"], strict=True):
            if status == "refused":
                key = rule if isinstance(rule, str) else "no_route"
                spell[key] = max(spell.get(key, (0.0, 0.0)), (float(qty), float(price)))
            elif spell:
                out += [(r, q, p) for r, (q, p) in spell.items()]
                spell = {}
        out += [(r, q, p) for r, (q, p) in spell.items()]
    return out


def refused_demand(chips: pd.DataFrame) -> dict[str, float]:
    """Refused demand by rule, each buyer's need for a product counted once per spell (see kpis)."""
    out: dict[str, float] = {}
    for rule, q, _p in _refused_spells(chips):
        out[rule] = out.get(rule, 0.0) + q
    return out


def refused_demand_value(chips: pd.DataFrame) -> float:
    """List value of the refused demand."""
    return float(sum(q * p for _r, q, p in _refused_spells(chips)))
