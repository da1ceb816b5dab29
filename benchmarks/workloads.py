"""Work functions the sweep benchmarks hand to worker processes (importable, so any start method works).

The same runs as a sweep's: ``apply_point(base, assignments)`` then ``Simulation(scenario, seed).run()``,
keeping the KPIs the spec keeps.  Used by the direct loop, the plain ``ProcessPoolExecutor`` and the EMA
Workbench model, so every runner does the same work per run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

Task = tuple[int, list]  # (seed, [(dotted path, value), ...])

_BASE: dict | None = None
_PATTERN: re.Pattern | None = None
#: EMA runs: kind -> (base dict, seed, {parameter name: dotted path}, KPI patterns)
EMA_SETUPS: dict[str, tuple[dict, int, dict[str, str], list[str]]] = {}


def run_one(base: dict, seed: int, assigns: Sequence, pattern: re.Pattern) -> dict[str, float]:
    """One run, as a sweep worker does it: the point applied to the base, validated, run; kept KPIs."""
    from sim.experiments.sweep import apply_point
    from sim.results.simulation import Simulation

    result = Simulation(apply_point(base, assigns), seed).run()
    return {k: float(v) for k, v in result.kpis.items() if pattern.match(k)}


def init_pool(base: dict, kpi_patterns: list[str]) -> None:
    """ProcessPoolExecutor initializer: the base scenario and KPI filter, once per worker."""
    from sim.experiments.sweep import kpi_matcher

    global _BASE, _PATTERN
    _BASE, _PATTERN = base, kpi_matcher(kpi_patterns)


def pool_chunk(tasks: list[Task]) -> list[dict[str, float]]:
    """A chunk of runs in a plain pool worker (after :func:`init_pool`)."""
    assert _BASE is not None
    assert _PATTERN is not None
    return [run_one(_BASE, seed, assigns, _PATTERN) for seed, assigns in tasks]


def ema_model(kind: str = "flagship", **values: Any) -> dict[str, float]:
    """The model EMA Workbench evaluates: parameter values by name -> the first kept KPI, as ``kpi``."""
    from sim.experiments.sweep import kpi_matcher

    base, seed, paths, kpis = EMA_SETUPS[kind]
    out = run_one(base, seed, [(paths[n], v) for n, v in values.items()], kpi_matcher(kpis))
    return {"kpi": next(iter(out.values()), float("nan"))}
