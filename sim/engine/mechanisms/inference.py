"""Inference: a lab's serving demand reserves chips from its own fleet.

Mechanism: tokens served per day (e.g. Doubao's trajectory, facts D13) need
``tokens/day x 2 N / 86,400`` FLOP/s (N = active parameters, facts T10) at the fleet's average
utilisation, so chips worth ``needed / utilisation`` of peak are held for serving.  Chips are
reserved monthly in the lab's preference order (ByteDance serves mostly on Ascend 910B, D1) from what
training jobs do not hold; what cannot be served is recorded as unmet demand.

Assumptions: serving never pre-empts a running training job; reservations are revised monthly; the
serving precision's dense peak applies (INT8 by default).

Records: ``inference`` (per lab and month: demand, served, unmet PFLOP/s, reserved units).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from sim.engine.mechanisms import workloads
from sim.engine.records import InferenceRow
from sim.engine.state import ceil_units
from sim.units import MONTH_DAYS, SECONDS_PER_DAY

if TYPE_CHECKING:
    from sim.engine.simulation import World as Simulation
    from sim.schema.actors import InferenceDemand


def start(w: Simulation) -> None:
    """One monthly reservation process per lab with serving demand or workloads (serving first)."""
    for lid, lab in w.scenario.labs.items():
        if lab.inference is not None or lab.workloads:
            w.env.process(run_inference(w, lid))


def needed_flops(w: Simulation, lid: str, day: float) -> float:
    """Peak FLOP/s the lab must hold for serving on *day* (a lab with serving demand)."""
    inf = cast("InferenceDemand", w.scenario.labs[lid].inference)
    tokens = w.series(f"{lid}/tokens_per_day", inf.tokens_per_day).at(day)
    n_active = w.param(f"inference/params/{lid}", inf.active_params)
    util = max(w.param(f"inference/utilisation/{lid}", inf.utilisation), 1e-6)
    return tokens * 2.0 * n_active / SECONDS_PER_DAY / util


def run_inference(w: Simulation, lid: str):
    """Monthly: re-reserve chips for serving, then for the lab's workloads; record served and unmet demand."""
    lab = w.scenario.labs[lid]
    while True:
        for line in w.fleet[lid].values():  # serving comes first: workloads re-reserve after it
            line.workloads = 0
        if lab.inference is not None:
            reserve(w, lid)
        if lab.workloads:
            workloads.reserve(w, lid)
        yield w.env.timeout(MONTH_DAYS)


def reserve(w: Simulation, lid: str) -> None:
    """Hold chips for the serving demand now, in the lab's preference order (a lab with serving demand)."""
    inf = cast("InferenceDemand", w.scenario.labs[lid].inference)
    now = w.env.now
    need = needed_flops(w, lid, now)
    total_need = need
    served = 0.0
    units_held = 0
    peaks = w.peaks_at(inf.precision)
    for chip in inf.chips:
        line = w.fleet[lid][chip]
        line.inference = 0
        peak = peaks[chip]
        available = max(line.units - line.training, 0)
        take = min(available, ceil_units(need / peak)) if need > 0 and peak > 0 else 0
        line.inference = take
        units_held += take
        got = min(take * peak, need)
        served += got
        need -= got
    tokens = w.series(f"{lid}/tokens_per_day", inf.tokens_per_day).at(now)
    w.rec.inference.append(InferenceRow(
        now, lid, tokens, total_need / 1e15, served / 1e15, max(total_need - served, 0.0) / 1e15, float(units_held)
    ))
    w.signal_fleet(lid)
