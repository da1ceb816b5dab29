"""An observable's value in one run: a KPI, or a table filtered, windowed, evaluated per row and aggregated.

A measure (:class:`sim.schema.observed.Measure`) is defined over a run's tidy tables (:mod:`sim.results.metrics`).
Calibration and the backtest measure thousands of runs that never need those tables, and building them (every
table, in pandas) cost more than a fifth of a calibration run beyond the model.  So a run that still holds its rows
is measured from them: the same filter, window and arithmetic (in float64 on both paths, a None cell being NaN),
row by row, and the same pandas reduction over the kept values, so the result is the table path's to the bit
(``tests/test_measures.py`` compares the two on every published observable and on generated measures).
A measure the row path does not cover (a column of text in arithmetic, a numeric column filtered by value,
``run_id``) is measured on the tables.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import operator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from sim.results.result import RunResult
    from sim.schema.observed import Measure

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
# row fields whose cells are numbers (a bool column is left to the tables: pandas' bool arithmetic is its own)
_NUMERIC_TYPES = {"float", "int", "float | None", "int | None"}


def row_types() -> dict[str, type]:
    """Table name -> its row dataclass."""
    from sim.results.metrics import ROW_TYPES

    return ROW_TYPES


def columns(table: str) -> set[str]:
    """Columns of a run table (from its row type)."""
    row = row_types().get(table)
    return {"run_id"} | ({f.name for f in dataclasses.fields(row)} if row else set())


def _coerced(col: str) -> bool:
    """Whether the tables store *col* as float64 whatever its cells hold (:func:`sim.results.metrics.tables`)."""
    return col.endswith("_day") or col in ("day", "qty", "units")


def expression_problem(expr: str, table: str) -> str | None:
    """Why *expr* is not an arithmetic expression over *table*'s columns (None when it is)."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return f"not an arithmetic expression: '{expr}'"
    cols = columns(table)
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
    import pandas as pd

    if isinstance(node, ast.Expression):
        return _evaluate(node.body, df)
    if isinstance(node, ast.Name):  # arithmetic is in float64 (an int64 column would overflow in a product)
        return pd.to_numeric(df[node.id], errors="coerce").astype("float64")
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):  # the AST check allows numbers only
        return float(node.value)
    if isinstance(node, ast.UnaryOp):
        v = _evaluate(node.operand, df)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, df), _evaluate(node.right, df)
        if isinstance(node.op, ast.Div) and isinstance(left, float) and isinstance(right, float):
            return _div(left, right)  # two numbers: divided as float64 is (2 / 0 is inf, not an error)
        return _OPS[type(node.op)](left, right)
    raise ValueError("unsupported expression")


def _reduce(values: Any, aggregate: str) -> float:
    """The measure's aggregate of *values* (a Series, a list or one number), as pandas reduces a float64 Series."""
    import pandas as pd

    s = pd.Series(values, dtype="float64")
    agg = {"sum": s.sum, "mean": s.mean, "median": s.median, "max": s.max, "min": s.min,
           "last": lambda: s.iloc[-1]}[aggregate]
    return float(agg())


def measure(result: RunResult, m: Measure, scenario_start) -> float:
    """The observable's value in one run (NaN when it cannot be computed, e.g. no matching rows)."""
    if m.kpi is not None:
        v = result.kpis.get(m.kpi, math.nan)
        return float(v) * m.scale
    table = m.table
    assert table is not None  # a measure names a KPI or a table (schema)
    rows = result.records_of(table)
    if rows is not None:
        got = _from_rows(rows, row_types()[table], table, m, scenario_start)
        if got is not None:
            return got
    return _from_table(result.tables[table], table, m, scenario_start)


def _from_table(df: pd.DataFrame, table: str, m: Measure, scenario_start) -> float:
    import pandas as pd

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
        problem = expression_problem(m.value, table)
        if problem:
            raise ValueError(problem)
        values = _evaluate(ast.parse(m.value, mode="eval"), df)
    return _reduce(values, m.aggregate) * m.scale


# ------------------------------------------------------------------------------------------------- the row path
def _cell(col: str):
    """A function of a row: its *col* cell as a float64 (None is NaN), as the table path computes with it."""
    get = operator.attrgetter(col)
    return lambda r: math.nan if (v := get(r)) is None else float(v)


def _div(a: Any, b: Any) -> float:
    """a / b as float64 division does it (a zero divisor gives inf or NaN, not an error)."""
    if b == 0:
        if a == 0 or a != a:  # 0/0 and NaN/0
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _compile(node: ast.AST, fields: dict[str, str]):
    """A function of a row for a checked expression, or None when the row path cannot match the tables' dtypes
    (a column of text, or no column at all)."""
    if isinstance(node, ast.Expression):
        return _compile(node.body, fields)
    if isinstance(node, ast.Name):
        if fields.get(node.id) not in _NUMERIC_TYPES:
            return None
        return _cell(node.id)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        c = float(node.value)
        return lambda r: c
    if isinstance(node, ast.UnaryOp):
        f = _compile(node.operand, fields)
        if f is None:
            return None
        return (lambda r: -f(r)) if isinstance(node.op, ast.USub) else f
    if isinstance(node, ast.BinOp):
        left, right = _compile(node.left, fields), _compile(node.right, fields)
        if left is None or right is None:
            return None
        op = _div if isinstance(node.op, ast.Div) else _OPS[type(node.op)]
        return lambda r: op(left(r), right(r))
    return None


def _from_rows(rows: list, row_type: type, table: str, m: Measure, scenario_start) -> float | None:
    """The table path's value computed on the rows; None when this measure is left to the tables."""
    fields = {f.name: str(f.type) for f in dataclasses.fields(row_type)}
    tests = []
    for col, allowed in m.where.items():
        if col not in fields or _coerced(col) or fields[col] not in ("str", "str | None"):
            return None  # run_id, a missing column (the table path's error) or a number filtered by value
        if any(isinstance(a, float) and a != a for a in allowed):
            return None
        tests.append((operator.attrgetter(col), set(allowed)))
    day_of = None
    lo = hi = None
    if m.window is not None:
        if m.day_column not in fields or fields[m.day_column] not in _NUMERIC_TYPES:
            return None
        day_of = operator.attrgetter(m.day_column)
        lo = (m.window.start - scenario_start).days if m.window.start is not None else None
        hi = (m.window.end - scenario_start).days if m.window.end is not None else None
    value = None
    if m.aggregate != "count":
        if m.value in fields:
            if fields[m.value] not in _NUMERIC_TYPES:
                return None
            value = _cell(m.value)
        else:
            if expression_problem(m.value, table):
                return None  # the table path raises the problem
            tree = ast.parse(m.value, mode="eval")
            if not any(isinstance(n, ast.Name) for n in ast.walk(tree)):
                return None  # a constant: pandas broadcasts it to one value, not one per row
            value = _compile(tree, fields)
            if value is None:
                return None
    kept = rows
    for get, kept_values in tests:  # one pass per filter, in row order
        kept = [r for r in kept if get(r) in kept_values]
    if day_of is not None:  # a day that is None or NaN is outside every window, as in the tables
        kept = [r for r in kept if (d := day_of(r)) is not None and d == d
                and (lo is None or d >= lo) and (hi is None or d < hi)]
    if m.aggregate == "count":
        return float(len(kept)) * m.scale
    if not kept:
        return 0.0 if m.aggregate == "sum" else math.nan
    assert value is not None
    return _reduce([value(r) for r in kept], m.aggregate) * m.scale


__all__ = ["columns", "expression_problem", "measure", "row_types"]
