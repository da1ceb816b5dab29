"""Simulation(scenario, seed).run() -> RunResult: one run of the engine's World, with its tables and KPIs."""

from __future__ import annotations

from sim.engine.simulation import World
from sim.results import metrics
from sim.results.result import RunResult


class Simulation(World):
    """One run of one scenario with one seed.

    *scenario* is a validated :class:`~sim.schema.Scenario`; *seed* defaults to the scenario's own.  ``run()``
    runs the engine's :class:`~sim.engine.simulation.World` and returns a :class:`RunResult` (tidy tables and
    flat KPIs built from its records).
    """

    def run(self, progress=None) -> RunResult:  # type: ignore[override]
        return metrics.build_result(super().run(progress))  # looked up at call time (benchmarks time it)


__all__ = ["Simulation"]
