"""Installed fleets: installation after delivery, permanent failures, retirement, monthly snapshots.

Mechanism: a delivered lot becomes usable after the owner's installation delay.  Chips fail
permanently at the chip's annual rate (H100-class 2.5-6 %/yr, central 4 %, facts T8) and retire at the
end of their service life.

Assumptions: failures are drawn monthly as a binomial on idle-first units (a spare pool absorbs
failures inside a running job, as the ~5 % spares of T8 do), and retirement is applied at the first
monthly upkeep after a cohort's service life ends.

Records: ``fleet`` (a row per owner and product each month), ``inventory`` (vendors' stock and
backorders each month), ``ledger`` (the conservation account each month), ``events`` (retirements).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sim.engine.mechanisms import cloud as cloud_mod
from sim.engine.records import FleetRow, InventoryRow
from sim.units import MONTH_DAYS

if TYPE_CHECKING:
    from sim.engine.simulation import World as Simulation


def start(w: Simulation) -> None:
    """Install initial fleets and start the monthly upkeep."""
    s = w.scenario
    for lid, lab in s.labs.items():
        for chip, q in lab.initial_fleet.items():
            units = int(round(w.param(f"initial_fleet/{lid}/{chip}", q)))
            _add_initial(w, lid, chip, units)
    for cid, cloud in s.clouds.items():
        for chip, q in cloud.initial_fleet.items():
            units = int(round(w.param(f"initial_fleet/{cid}/{chip}", q)))
            _add_initial(w, cid, chip, units)
    w.env.process(upkeep(w))


def _add_initial(w: Simulation, owner: str, chip: str, units: int) -> None:
    if units <= 0:
        return
    w.ledger.produced += units
    install(w, owner, chip, units, grey=False, age_days=0.0)


def install(w: Simulation, owner: str, chip: str, units: int, *, grey: bool, age_days: float = 0.0) -> None:
    """Put *units* into *owner*'s fleet now (the caller has already moved them out of transit)."""
    if units <= 0:
        return
    line = w.fleet[owner][chip]
    line.cohorts.append([w.env.now - age_days, units])
    line.units += units
    if grey:
        line.grey_units += units
    w.ledger.installed += units
    w.signal_fleet(owner)
    if owner in w.scenario.clouds:  # a cloud's new GPUs serve its waiting tenants
        cloud_mod.grew(w, owner, chip)


def remove(w: Simulation, owner: str, chip: str, units: int) -> int:
    """Take up to *units* out of the oldest cohorts; returns how many were removed."""
    line = w.fleet[owner][chip]
    taken = 0
    while taken < units and line.cohorts:
        cohort = line.cohorts[0]
        k = min(cohort[1], units - taken)
        cohort[1] -= k
        taken += k
        if cohort[1] == 0:
            line.cohorts.popleft()
    line.units -= taken
    if line.grey_units:
        line.grey_units = min(line.grey_units, line.units)
    w.ledger.installed -= taken
    return taken


def owner_kind(w: Simulation, owner: str) -> str:
    """'lab' or 'cloud'."""
    return "cloud" if owner in w.scenario.clouds else "lab"


def upkeep(w: Simulation):
    """Monthly: permanent failures, retirements, then a snapshot of every fleet and the ledger."""
    env = w.env
    s = w.scenario
    # per chip: (service life in days, monthly failure probability), fixed for the run
    life = {c: (spec.service_life_years * 365.25,
                1 - math.exp(-spec.annual_failure_rate * MONTH_DAYS / 365.25) if spec.annual_failure_rate > 0 else 0.0)
            for c, spec in s.chips.items()}
    ledger = w.ledger
    fail_gens: dict[tuple[str, str], Any] = {}
    while True:
        now = env.now
        for owner, lines in w.fleet.items():
            changed = False
            for chip, line in lines.items():
                cohorts = line.cohorts
                if not cohorts and not line.units and not (line.training or line.inference or line.workloads):
                    continue  # an empty line: nothing to retire, fail or release
                life_days, p = life[chip]
                retired = 0
                while cohorts and now - cohorts[0][0] >= life_days:
                    k = cohorts.popleft()[1]
                    line.units -= k
                    retired += k
                if retired:
                    ledger.installed -= retired
                    ledger.retired += retired
                    line.grey_units = min(line.grey_units, line.units)
                    w.rec.event(now, "retired", owner, chip, retired)
                units = line.units
                if units > 0 and p > 0 and now > 0:
                    gen = fail_gens.get((owner, chip))
                    if gen is None:  # binomial draws only: the stream is never read in blocks
                        gen = fail_gens[(owner, chip)] = w.rng(f"failure/permanent/{owner}/{chip}")
                    failed = int(gen.binomial(units, p))
                    if failed:
                        failed = min(failed, line.free)  # failures inside busy clusters are covered by spares
                        if failed:
                            ledger.failed += remove(w, owner, chip, failed)
                            units = line.units
                if line.training + line.inference + line.workloads > units:  # retirements hit reserved chips
                    line.inference = min(line.inference, max(units - line.training, 0))
                    line.workloads = max(units - line.training - line.inference, 0)
                if retired or (units and now > 0):
                    changed = True
            if changed:  # one wake-up per owner (a second signal in the same instant finds nobody waiting)
                w.signal_fleet(owner)
        snapshot(w)
        w.record_ledger()
        yield env.timeout(MONTH_DAYS)


def snapshot(w: Simulation) -> None:
    """A fleet row per owner and product, and an inventory row per vendor and product, now."""
    now = w.env.now
    s = w.scenario
    add_inventory = w.rec.inventory.append
    for vendor, stock in sorted(w.inventory.items()):
        backlog = w.backlog[vendor]
        for chip, units in sorted(stock.items()):
            add_inventory(InventoryRow(now, vendor, chip, float(units), float(backlog.get(chip, 0))))
    peaks = w.peaks_at()
    origin = w.memo.get(("designer_country",))
    if origin is None:
        origin = w.memo[("designer_country",)] = {c: spec.designer_country for c, spec in s.chips.items()}
    add_fleet = w.rec.fleet.append
    for owner, lines in w.fleet.items():
        kind = owner_kind(w, owner)
        for chip, line in lines.items():
            units = line.units
            serving = min(line.inference, units)
            add_fleet(FleetRow(
                now, owner, kind, chip, origin[chip], float(units), units * peaks[chip] / 1e15, float(serving),
                float(min(line.training, units - serving)),
                float(min(line.workloads, max(units - line.training - line.inference, 0))),
            ))
