"""Simulation(scenario, seed).run() -> RunResult: one run of the World, with its KPIs (and tables on demand)."""

from __future__ import annotations

from sim.engine.simulation import World
from sim.results import kpis
from sim.results.result import RunResult


class Simulation(World):
    """One run of one scenario with one seed.

    *scenario* is a validated :class:`~sim.schema.Scenario`; *seed* defaults to the scenario's own.  ``run()``
    runs the engine's :class:`~sim.engine.simulation.World` and returns a :class:`RunResult`: flat KPIs computed
    from its records, and tidy tables built from them the first time they are read.
    """

    def run(self, progress=None) -> RunResult:  # type: ignore[override]
        return build_result(super().run(progress))


def build_result(w: World) -> RunResult:
    """Turn a finished World into a RunResult (KPIs and tables when first read)."""
    rec, scenario = w.rec, w.scenario
    return RunResult(
        w.run_id, w.seed, w.scenario.name, w.scenario.start, lambda: kpis.kpis(rec, scenario), records=w.rec,
        scenario=w.scenario, events_processed=w.events_processed, streams=w.rng.names,
    )


__all__ = ["Simulation", "build_result"]
