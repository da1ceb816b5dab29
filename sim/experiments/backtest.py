"""Backtest: run the history scenario (and the reference training runs) and compare with published
figures from ``scenarios/observed.yaml``.

Each observable names a scenario file and how to compute a number from a run (a KPI, or a table
filtered, windowed, evaluated per row and aggregated; see :mod:`sim.schema.observed`).  Every scenario
named is run *replications* times with seeds ``scenario.seed + r``; the rows report the simulated
median and 10-90 % band next to the published range.  Nothing here is tuned: a miss is reported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from sim.results.measures import columns, expression_problem, measure
from sim.results.simulation import Simulation
from sim.scenario.loader import LoadProblem, ScenarioError, load_scenario
from sim.schema.observed import Observable, ObservedFile

DEFAULT_OBSERVED = Path("scenarios/observed.yaml")
_EXPR_OK = re.compile(r"^[A-Za-z0-9_ .+\-*/()]+$")


@dataclass(frozen=True)
class BacktestRow:
    """One observable: published range and the simulated distribution over replications."""

    observable: str
    description: str
    unit: str
    source: str
    published_low: float
    published_high: float
    published_central: float | None
    simulated_median: float
    simulated_p10: float
    simulated_p90: float
    inside: bool
    replications: int
    missing: int
    scenario: str


def load_observed(path: str | Path = DEFAULT_OBSERVED) -> ObservedFile:
    """Read and validate an observables file; raise :class:`ScenarioError` with one line per problem."""
    from sim.scenario.loader import _read_yaml

    p = Path(path)
    data, where = _read_yaml(p)  # the scenario loader's guards: safe YAML, size cap, alias bound, file:line errors
    shown = next(iter(where.values()))[0]
    lines = {tuple(str(x) for x in k): w[1] for k, w in where.items()}
    if not isinstance(data, dict):
        raise ScenarioError([LoadProblem(shown, 1, "", "top level must be a mapping")])
    try:
        observed = ObservedFile.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors(include_url=False):
            loc = [str(x) for x in err["loc"] if not str(x).startswith(("function-", "literal["))]
            path = ".".join(loc)
            line = next((lines[tuple(loc[:n])] for n in range(len(loc), 0, -1) if tuple(loc[:n]) in lines), 1)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = "required field missing"
            elif err["type"] == "extra_forbidden":
                msg = f"unknown key '{loc[-1]}'" if loc else "unknown key"
            problems.append(LoadProblem(shown, line, path, msg))
        raise ScenarioError(problems) from None
    problems = []
    for oid, obs in observed.observables.items():
        target = p.parent / obs.compute.scenario
        if not target.is_file():
            line = lines.get(("observables", oid, "compute", "scenario"), 1)
            problems.append(LoadProblem(shown, line, f"observables.{oid}.compute.scenario",
                                        f"no scenario file '{obs.compute.scenario}'"))
        if obs.compute.table is not None:
            why = expression_problem(obs.compute.value, obs.compute.table)
            if why:
                line = lines.get(("observables", oid, "compute", "value"), 1)
                problems.append(LoadProblem(shown, line, f"observables.{oid}.compute.value", why))
            for col in obs.compute.where:
                if col not in columns(obs.compute.table):
                    line = lines.get(("observables", oid, "compute", "where", col), 1)
                    problems.append(LoadProblem(shown, line, f"observables.{oid}.compute.where.{col}",
                                                f"table '{obs.compute.table}' has no column '{col}'"))
    if problems:
        raise ScenarioError(problems)
    return observed




def backtest(
    observed: str | Path | ObservedFile = DEFAULT_OBSERVED,
    replications: int = 10,
    base_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[BacktestRow]:
    """Run every scenario the observables name *replications* times; one row per observable.

    *observed* is a path to an observables file or an already-loaded :class:`ObservedFile` (then
    *base_dir* is where its scenario paths are relative to).
    """
    if replications < 1:
        raise ValueError("replications must be at least 1")
    if isinstance(observed, ObservedFile):
        obs_file = observed
        base = Path(base_dir) if base_dir is not None else DEFAULT_OBSERVED.parent
    else:
        obs_file = load_observed(observed)
        base = Path(base_dir) if base_dir is not None else Path(observed).parent
    by_scenario: dict[str, list[tuple[str, Observable]]] = {}
    for oid, obs in obs_file.observables.items():
        by_scenario.setdefault(obs.compute.scenario, []).append((oid, obs))
    values: dict[str, list[float]] = {oid: [] for oid in obs_file.observables}
    total = len(by_scenario) * replications
    done = 0
    for rel, items in by_scenario.items():
        scenario = load_scenario(base / rel)
        for r in range(replications):
            result = Simulation(scenario, scenario.seed + r).run()
            for oid, obs in items:
                values[oid].append(measure(result, obs.compute, scenario.start))
            done += 1
            if progress is not None:
                progress(done, total)
    rows = []
    for oid, obs in obs_file.observables.items():
        v = np.array(values[oid], dtype=float)
        ok = v[~np.isnan(v)]
        if len(ok):
            med, p10, p90 = (float(x) for x in np.percentile(ok, [50, 10, 90]))
        else:
            med = p10 = p90 = math.nan
        tol = 1e-9 * max(abs(obs.low), abs(obs.high), 1.0)  # a median equal to a bound is inside
        inside = bool(len(ok)) and obs.low - tol <= med <= obs.high + tol
        rows.append(BacktestRow(
            observable=oid, description=obs.description, unit=obs.unit, source=", ".join(obs.source),
            published_low=obs.low, published_high=obs.high, published_central=obs.central,
            simulated_median=med, simulated_p10=p10, simulated_p90=p90, inside=inside,
            replications=replications, missing=int(np.isnan(v).sum()), scenario=obs.compute.scenario,
        ))
    return rows
