"""Supply: wafer starts -> good dies -> packaging with HBM -> vendor inventory.

Mechanism: each month a foundry starts the wafers available to the modelled designs (a series, e.g.
SMIC's 7 nm-class capacity share for Ascend, facts C1 C2) and splits them among chip designs by
share.  Good dies = wafers x gross dies per wafer x yield (yield drawn per monthly lot, e.g. 910B
around 50 %, C4) and reach the design's packager after the cycle time.  HBM makers ship stacks
monthly to the packagers they have edges to.  Each month a packager assembles up to its capacity,
limited by dies (dies_per_package each) and HBM stacks (hbm_stacks each); working packages
(x packaging yield) go to the chip's vendor.  Vendors may also receive chips made outside the
modelled foundries (``external_supply_per_month``), e.g. the share of Nvidia's output open to the
modelled buyers.  For a world-market part (``unsold_leaves_after_days``), units that no modelled buyer took
within that time (oldest first) are sold outside the modelled market and leave it (``run_unsold``).

Cross-border die and HBM shipments are checked against the rules (e.g. the Dec 2024 HBM rule, the
Huawei foreign-direct-product rule); denied lots are lost to the buyer (recorded).  Die banks are
starting stock at the packager.

Assumptions: gross dies per wafer from the standard formula without edge exclusion when not given;
packaging capacity and HBM go to the chip lines that make the most compute per stack (then per package),
stacks a line short of them cannot use are kept for it, so with no dies on the way more of any input never makes
less of this month's compute plus the kept stacks' worth (``plans.packaging_value``; this month's compute alone can
fall, and stacks held for dies on the way can lower both); no inventory holding cost.

Records: ``production`` (dies, stacks, packages per step), ``shipments`` (die/HBM lots that crossed a
border), ``events`` (denied die/HBM lots; chips sold elsewhere), ``ledger.sold_elsewhere``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

from sim.engine.compliance import Lot
from sim.engine.mechanisms.orders import allocate
from sim.engine.plans import Line, WholeUnits, packaging_plan
from sim.engine.records import ProductionRow, ShipmentRow
from sim.engine.treatments import handler
from sim.scenario.jurisdiction import FLOW_OF_ITEM, outside_rules
from sim.units import MONTH_DAYS

if TYPE_CHECKING:
    from sim.engine.simulation import World as Simulation
    from sim.schema.network import Foundry, Memory, Packager, Vendor

WAFER_DIAMETER_MM = 300.0


def gross_dies_per_wafer(die_area_mm2: float, diameter_mm: float = WAFER_DIAMETER_MM) -> float:
    """Standard estimate: pi (d/2)^2 / A - pi d / sqrt(2 A) (910B's 666 mm^2 gives ~80, facts a2)."""
    r = diameter_mm / 2
    return max(math.pi * r * r / die_area_mm2 - math.pi * diameter_mm / math.sqrt(2 * die_area_mm2), 0.0)


def start(w: Simulation) -> None:
    """Start every producer and load die banks and HBM stocks."""
    s = w.scenario
    for nid, node in s.nodes.items():
        if node.kind == "foundry":
            w.env.process(run_foundry(w, nid))
        elif node.kind == "memory":
            w.env.process(run_memory(w, nid))
        elif node.kind == "packager":
            for chip, q in node.initial_dies.items():
                w.dies[nid][chip] += int(round(w.param(f"die_bank/{nid}/{chip}", q)))
            w.hbm[nid] += int(round(w.param(f"hbm_stock/{nid}", node.initial_hbm_stacks)))
            for chip, series in sorted(node.die_arrivals_per_month.items()):
                w.env.process(run_die_arrivals(w, nid, chip, series))
            w.env.process(run_packager(w, nid))
        elif node.kind == "vendor":
            for chip, q in node.initial_inventory.items():
                units = int(round(w.param(f"initial_inventory/{nid}/{chip}", q)))
                w.ledger.produced += units
                add_inventory(w, nid, chip, units)
            for chip, series in node.external_supply_per_month.items():
                w.env.process(run_external_supply(w, nid, chip, series))
            for chip, days in sorted(node.unsold_leaves_after_days.items()):
                w.env.process(run_unsold(w, nid, chip, days))


def add_inventory(w: Simulation, vendor: str, chip: str, units: int) -> None:
    """New units reach a vendor's inventory; waiting orders are served."""
    if units <= 0:
        return
    w.inventory[vendor][chip] += units
    w.stock_added[(vendor, chip)] += units
    w.ledger.in_inventory += units
    rate = w.supply_rate[vendor]
    rate[chip] = 0.7 * rate[chip] + 0.3 * units  # smoothed monthly supply, used by buyers to plan
    allocate(w, vendor, chip)


def run_die_arrivals(w: Simulation, pid: str, chip: str, steps):
    """Monthly dies reaching a packager from outside the modelled foundries (a die bank built over time)."""
    env = w.env
    series = w.series(f"{pid}/die_arrivals/{chip}", steps)
    whole = WholeUnits()
    while True:
        dies = whole.take(series.at(env.now))
        if dies > 0:
            w.dies[pid][chip] += dies
            w.rec.production.append(ProductionRow(env.now, pid, "die", chip, float(dies), "die bank arrival"))
        yield env.timeout(MONTH_DAYS)


def _cross_border_ok(w: Simulation, src: str, dst: str, product: str, item_kind: str, qty: int, origin: str) -> bool:
    """Check a die/HBM lot against the rules; record and drop it when denied."""
    s = w.scenario
    if outside_rules(s, src, dst, FLOW_OF_ITEM[item_kind]):  # a domestic component transfer: no decision
        return True
    item = w.compliance.item(product, item_kind, origin)
    dst_country = s.country_of(dst)
    lot = Lot(item, qty, dst_country, dst, _hq_of(w, dst), "sale", w.env.now)
    d = w.compliance.decide(lot, w.env.now)
    if d.kind != "allow" and not handler(d.kind).at_component(w, d):
        w.rec.shipments.append(ShipmentRow(
            w.next_id(), product, item_kind, float(qty), src, dst, "sale", "denied", d.rule, d.kind,
            w.env.now, None, None, 0.0, 0.0, origin, False,
        ))
        w.rec.event(w.env.now, f"{item_kind}_denied", dst, f"{product} by {d.rule}", qty)
        return False
    return True


def _hq_of(w: Simulation, node: str) -> str:
    s = w.scenario
    if node in s.labs:
        return s.labs[node].hq
    if node in s.clouds:
        return s.clouds[node].hq
    return s.nodes[node].country


def run_foundry(w: Simulation, fid: str):
    """Monthly wafer starts, split among designs; good dies reach the packager after the cycle time."""
    env = w.env
    node = cast("Foundry", w.scenario.nodes[fid])
    wafers_series = w.series(f"{fid}/wafer_starts", node.wafer_starts_per_month)
    while True:
        wafers = wafers_series.at(env.now)
        for chip, alloc in node.allocation.items():
            spec = w.scenario.chips[chip]
            gross = alloc.gross_dies_per_wafer or gross_dies_per_wafer(spec.die_area_mm2 / spec.dies_per_package)
            y = w.sample(f"yield/{fid}/{chip}", alloc.die_yield)
            # cycle and lead times drawn every month, used or not (common random numbers across input levels)
            cycle = w.sample(f"cycle/{fid}/{chip}", node.cycle_time_days)
            lead = w.lead_time(fid, alloc.packager)
            good = int(wafers * alloc.share * gross * y)
            if good > 0:
                w.rec.production.append(ProductionRow(env.now, fid, "die", chip, float(good), f"yield={y:.3f}"))
                env.process(_deliver_dies(w, fid, alloc.packager, chip, good, cycle, lead))
        yield env.timeout(MONTH_DAYS)


def _deliver_dies(w: Simulation, fid: str, packager: str, chip: str, dies: int, cycle_days: float, lead_days: float):
    coming = w.dies_coming[packager]
    coming[chip] += dies
    yield w.env.timeout(cycle_days)
    if not _cross_border_ok(w, fid, packager, chip, "die", dies, w.scenario.nodes[fid].country):
        coming[chip] -= dies
        return
    yield w.env.timeout(lead_days)
    coming[chip] -= dies
    w.dies[packager][chip] += dies


def run_memory(w: Simulation, mid: str):
    """Monthly HBM output shipped in equal parts to the packagers this maker has hbm edges to."""
    env = w.env
    s = w.scenario
    node = cast("Memory", s.nodes[mid])
    series = w.series(f"{mid}/hbm", node.hbm_stacks_per_month)
    targets = [e.to for e in s.edges.values() if e.from_ == mid and e.flow == "hbm"]
    while True:
        stacks = int(series.at(env.now))
        leads = {t: w.lead_time(mid, t) for t in targets}  # drawn every month (common random numbers)
        if stacks > 0 and targets:
            w.rec.production.append(ProductionRow(env.now, mid, "hbm", "hbm", float(stacks), ""))
            share = stacks // len(targets)
            for t in targets:
                if _cross_border_ok(w, mid, t, "hbm", "hbm", share, node.country):
                    env.process(_deliver_hbm(w, t, share, leads[t]))
        yield env.timeout(MONTH_DAYS)


def _deliver_hbm(w: Simulation, packager: str, stacks: int, lead_days: float):
    yield w.env.timeout(lead_days)
    w.hbm[packager] += stacks


def run_packager(w: Simulation, pid: str):
    """Monthly assembly: the compute-maximising plan over dies, HBM stacks and capacity on hand (see plans)."""
    env = w.env
    s = w.scenario
    node = cast("Packager", s.nodes[pid])
    cap_series = w.series(f"{pid}/capacity", node.chips_per_month)
    lines_of = {pid: sorted(set(node.initial_dies) | {
        chip for f in s.nodes.values() if f.kind == "foundry" for chip, a in f.allocation.items() if a.packager == pid})}
    working = {chip: WholeUnits() for chip in lines_of[pid]}
    while True:
        capacity = int(cap_series.at(env.now))
        dies = w.dies[pid]
        # one yield draw per chip line and month, used or not: more of an input never shifts another month's draws
        yields = {chip: w.sample(f"packaging_yield/{pid}/{chip}", node.packaging_yield) for chip in lines_of[pid]}
        lines = [
            Line(chip, s.chips[chip].dies_per_package, s.chips[chip].hbm_stacks, w.peak(chip), n, w.dies_coming[pid][chip])
            for chip, n in sorted(dies.items())
            if (n > 0 or w.dies_coming[pid][chip] > 0) and chip in yields and w.release_day[chip] <= env.now  # not before its release
        ]
        if lines and capacity > 0:
            plan = packaging_plan(lines, capacity, w.hbm[pid])
            binding = _binding(plan, capacity, lines)
            for chip in sorted(plan):
                k = plan[chip]
                if k <= 0:
                    continue
                spec = s.chips[chip]
                dies[chip] -= k * spec.dies_per_package
                w.hbm[pid] -= k * spec.hbm_stacks
                # working packages, with the fraction carried to the next month (flooring would lose every
                # package of a one-package month)
                good = working[chip].take(k * yields[chip])
                w.rec.production.append(ProductionRow(env.now, pid, "chip", chip, float(good),
                                                      f"assembled={k} binding={binding}"))
                if good > 0:
                    env.process(_deliver_chips(w, pid, spec.vendor, chip, good))
        yield env.timeout(MONTH_DAYS)


def _binding(plan: dict[str, int], capacity: int, lines: list[Line]) -> str:
    """What stopped the month's plan from assembling one more package: ``capacity`` (all of it used), ``dies``
    (no line has the dies for another package) or ``hbm`` (a line has them, but the stacks are short or are kept
    for a better line that is short of them).  Recorded on the month's production rows."""
    if sum(plan.values()) >= capacity:
        return "capacity"
    ready = [ln for ln in lines if ln.dies - plan.get(ln.chip, 0) * ln.dies_per_package >= ln.dies_per_package]
    return "hbm" if ready else "dies"


def _deliver_chips(w: Simulation, pid: str, vendor: str, chip: str, units: int):
    w.ledger.produced += units
    w.ledger.in_transit += units
    yield w.env.timeout(w.lead_time(pid, vendor))
    w.ledger.in_transit -= units
    add_inventory(w, vendor, chip, units)


def run_external_supply(w: Simulation, vid: str, chip: str, steps):
    """Monthly units made outside the modelled foundries arrive in the vendor's inventory."""
    env = w.env
    series = w.series(f"{vid}/external/{chip}", steps)
    whole = WholeUnits()
    while True:
        units = whole.take(series.at(env.now))
        if units > 0:
            w.ledger.produced += units
            for product, k in direct_supply(w, vid, chip, units).items():
                detail = "external" if product == chip else f"external (made in place of {chip})"
                w.rec.production.append(ProductionRow(env.now, vid, "chip", product, float(k), detail))
                add_inventory(w, vid, product, k)
        yield env.timeout(MONTH_DAYS)


def run_unsold(w: Simulation, vid: str, chip: str, days: float):
    """Every *days*: units of *chip* that were in the vendor's stock at the last check and are still there (no
    modelled buyer took them; stock is taken oldest first) are sold outside the modelled market.  Recorded as a
    ``sold_elsewhere`` event and in the ledger."""
    env = w.env
    key = (vid, chip)
    while True:
        yield env.timeout(days)
        stock = w.inventory[vid][chip]
        stale = stock - w.stock_added[key]  # older than the last check (stock is taken oldest first)
        w.stock_added[key] = 0
        if stale > 0:
            w.inventory[vid][chip] = stock - stale
            w.ledger.in_inventory -= stale
            w.ledger.sold_elsewhere += stale
            w.rec.event(env.now, "sold_elsewhere", vid, chip, stale)


def direct_supply(w: Simulation, vendor: str, chip: str, units: int) -> dict[str, int]:
    """Which products *units* of external supply of *chip* are made as (``fungible_supply`` groups).

    The chip's own open orders (backorders not covered by stock) take the units first; what they leave is
    made as the group's other released products that buyers have ordered, the largest shortfall first.  So
    the China-specific H20 is made as H100 when nobody may be refused an H100 (a world without the rules),
    and stays H20 when H20 demand absorbs it.  Without a group the units are the chip itself.
    """
    node = cast("Vendor", w.scenario.nodes[vendor])
    group = next((g for g in node.fungible_supply if chip in g), None)
    if group is None:
        return {chip: units}

    def shortfall(p: str) -> int:
        backlog = w.backlog[vendor][p]
        return max(backlog - w.inventory[vendor][p], 0)

    out = {chip: min(units, shortfall(chip))}
    left = units - out[chip]
    others = [p for p in group if p != chip and w.release_day[p] <= w.env.now]
    for p in sorted(others, key=lambda p: (-shortfall(p), p)):
        if left <= 0:
            break
        k = min(left, shortfall(p))
        if k > 0:
            out[p] = out.get(p, 0) + k
            left -= k
    if left > 0:
        out[chip] += left
    return {p: k for p, k in out.items() if k > 0}
