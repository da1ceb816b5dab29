"""Backtest: run the history scenario (and the reference training runs) and compare with published
figures from ``scenarios/observed.yaml``.

Each observable names a scenario file and how to compute a number from a run (a KPI, or a table
filtered, windowed, evaluated per row and aggregated; see :mod:`sim.schema.observed`).  Every scenario
named is run *replications* times with seeds ``scenario.seed + r``; the rows report the simulated
median and 10-90 % band next to the published range.  Nothing here is tuned: a miss is reported.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from sim.results.result import RunResult
from sim.results.simulation import Simulation
from sim.scenario.loader import LoadProblem, ScenarioError, load_scenario
from sim.schema.observed import Measure, Observable, ObservedFile

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
            why = _expression_problem(obs.compute.value, obs.compute.table)
            if why:
                line = lines.get(("observables", oid, "compute", "value"), 1)
                problems.append(LoadProblem(shown, line, f"observables.{oid}.compute.value", why))
            for col in obs.compute.where:
                if col not in _columns(obs.compute.table):
                    line = lines.get(("observables", oid, "compute", "where", col), 1)
                    problems.append(LoadProblem(shown, line, f"observables.{oid}.compute.where.{col}",
                                                f"table '{obs.compute.table}' has no column '{col}'"))
    if problems:
        raise ScenarioError(problems)
    return observed


def _columns(table: str) -> set[str]:
    """Columns of a run table (from its row type)."""
    import dataclasses

    from sim.results.metrics import ROW_TYPES

    row = ROW_TYPES.get(table)
    return {"run_id"} | ({f.name for f in dataclasses.fields(row)} if row else set())


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _expression_problem(expr: str, table: str) -> str | None:
    """Why *expr* is not an arithmetic expression over *table*'s columns (None when it is)."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return f"not an arithmetic expression: '{expr}'"
    cols = _columns(table)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.USub, ast.UAdd, *_OPS)):
            continue
        if isinstance(node, ast.Name) and node.id in cols:
            continue
        if isinstance(node, ast.Name):
            return f"table '{table}' has no column '{node.id}'"
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            continue
        if isinstance(node, ast.Load):
            continue
        return "only column names, numbers, + - * / and parentheses are allowed"
    return None


def _evaluate(node: ast.AST, df: pd.DataFrame):
    """Evaluate a checked arithmetic expression over the frame's columns (no eval, no attribute access)."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, df)
    if isinstance(node, ast.Name):
        return pd.to_numeric(df[node.id], errors="coerce")
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):  # the AST check allows numbers only
        return float(node.value)
    if isinstance(node, ast.UnaryOp):
        v = _evaluate(node.operand, df)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        return _OPS[type(node.op)](_evaluate(node.left, df), _evaluate(node.right, df))
    raise ValueError("unsupported expression")


def measure(result: RunResult, m: Measure, scenario_start) -> float:
    """The observable's value in one run (NaN when it cannot be computed, e.g. no matching rows)."""
    if m.kpi is not None:
        v = result.kpis.get(m.kpi, math.nan)
        return float(v) * m.scale
    assert m.table is not None  # a measure names a KPI or a table (schema)
    df = result.tables[m.table]
    for col, allowed in m.where.items():
        if col not in df.columns:
            raise KeyError(f"table '{m.table}' has no column '{col}'")
        df = df[df[col].isin(allowed)]
    if m.window is not None:
        if m.day_column not in df.columns:
            raise KeyError(f"table '{m.table}' has no column '{m.day_column}'")
        day = pd.to_numeric(df[m.day_column], errors="coerce")
        keep = day.notna()
        if m.window.start is not None:
            keep &= day >= (m.window.start - scenario_start).days
        if m.window.end is not None:
            keep &= day < (m.window.end - scenario_start).days
        df = df[keep]
    if m.aggregate == "count":
        return float(len(df)) * m.scale
    if len(df) == 0:
        return 0.0 if m.aggregate == "sum" else math.nan
    if m.value in df.columns:
        values = pd.to_numeric(df[m.value], errors="coerce")
    else:
        problem = _expression_problem(m.value, m.table)
        if problem:
            raise ValueError(problem)
        values = _evaluate(ast.parse(m.value, mode="eval"), df)
    values = pd.Series(values, dtype="float64")
    agg = {"sum": values.sum, "mean": values.mean, "median": values.median, "max": values.max,
           "min": values.min, "last": lambda: values.iloc[-1]}[m.aggregate]
    return float(agg()) * m.scale


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
