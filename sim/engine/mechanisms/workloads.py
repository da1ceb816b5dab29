"""Workloads: non-LLM compute (recommendation, ads, search, cloud customers) that holds a lab's chips.

Mechanism: each month, after serving has reserved its chips (``inference``), every workload of the lab
reserves chips worth its dense compute (``compute_pflop_s`` at its precision) from what neither training
nor serving holds, in its chip order; with no order given it takes the lab's weakest chips first (by
peak FLOP/s), leaving the strongest free for training.  A running training job is never pre-empted,
so a job gets only chips that no workload holds; what cannot be held is unmet demand.  Procurement
(``orders.needs``) buys to cover the workloads.

Assumptions (stated): weakest-first when a workload names no chips; reservations are revised monthly.

Records: ``inference`` rows with ``workload`` = the workload id (needed, served, unmet PFLOP/s, units).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.engine.records import InferenceRow
from sim.engine.routes import holdable
from sim.engine.state import ceil_units

if TYPE_CHECKING:
    from sim.engine.simulation import World as Simulation


def chip_order(w: Simulation, lid: str, wid: str) -> list[str]:
    """The chips a workload runs on, in the order it takes them."""
    found = w.memo.get(("chip_order", lid, wid))
    if found is not None:
        return found
    wl = w.scenario.labs[lid].workloads[wid]
    if wl.chips:
        order = list(wl.chips)
    else:
        held = holdable(w, lid)  # no other chip is ever in the lab's fleet
        owned = [c for c in w.scenario.chips if c in held and w.peak(c, wl.precision) > 0]
        order = sorted(owned, key=lambda c: (w.peak(c, wl.precision), c))
    w.memo[("chip_order", lid, wid)] = order  # a function of the scenario alone: worked out once per run
    return order


def needed_flops(w: Simulation, lid: str, wid: str, day: float) -> float:
    """FLOP/s the workload holds on *day*."""
    wl = w.scenario.labs[lid].workloads[wid]
    return max(w.series(f"{lid}/workload/{wid}", wl.compute_pflop_s).at(day), 0.0) * 1e15


def reserve(w: Simulation, lid: str) -> None:
    """Hold chips for every workload of the lab now (after serving), in id order."""
    lab = w.scenario.labs[lid]
    now = w.env.now
    for fleet_line in w.fleet[lid].values():
        fleet_line.workloads = 0
    for wid in sorted(lab.workloads):
        wl = lab.workloads[wid]
        need = needed_flops(w, lid, wid, now)
        total = need
        held = 0
        peaks = w.peaks_at(wl.precision)
        for chip in chip_order(w, lid, wid):
            if need <= 0:
                break
            line = w.fleet[lid].get(chip)
            peak = peaks[chip]
            if line is None or peak <= 0:
                continue
            take = min(line.free, ceil_units(need / peak))
            line.workloads += take
            held += take
            need -= min(take * peak, need)
        w.rec.inference.append(InferenceRow(
            now, lid, 0.0, total / 1e15, (total - need) / 1e15, need / 1e15, float(held), wid,
        ))
    w.signal_fleet(lid)
