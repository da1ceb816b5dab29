"""A measure computed on a run's rows equals the same measure on its tidy tables, to the bit.

Calibration and the backtest measure runs from their rows (building every table in pandas cost more than a fifth
of a calibration run beyond the model); the tables stay the definition.  Checked on every published observable
of ``scenarios/observed.yaml`` over three seeds, and on generated measures (filters drawn from the values the
columns hold, windows, every aggregate, arithmetic with divisions by columns that hold zeros and NaN).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path
from typing import get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import Simulation, load_scenario
from sim.experiments.backtest import load_observed
from sim.results import measures
from sim.results.result import RunResult
from sim.schema.observed import Measure, TableName

ROOT = Path(__file__).resolve().parents[1]
OBSERVED = ROOT / "scenarios" / "observed.yaml"


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def on_tables(result: RunResult, m: Measure) -> float:
    """The measure on the tidy tables only (the definition)."""
    assert m.table is not None
    return measures._from_table(result.tables[m.table], m.table, m, result.start) if m.kpi is None else math.nan


@pytest.fixture(scope="module")
def history_runs():
    s = load_scenario(ROOT / "scenarios" / "history_2022_2026.yaml")
    return [Simulation(s, seed).run() for seed in (1, 2, 3)]


def test_every_published_observable_is_the_same_on_rows_and_tables(history_runs):
    observed = load_observed(OBSERVED)
    scenarios: dict[str, list[RunResult]] = {}
    checked = 0
    for oid, obs in observed.observables.items():
        m = obs.compute
        if m.table is None:
            continue
        runs = scenarios.get(m.scenario)
        if runs is None:
            s = load_scenario(OBSERVED.parent / m.scenario)
            runs = scenarios[m.scenario] = [Simulation(s, seed).run() for seed in (1, 2, 3)]
        for r in runs:
            rows = measures._from_rows(r.records_of(m.table), measures.row_types()[m.table], m.table, m, r.start)
            assert rows is not None, oid  # every published observable takes the row path
            assert same(rows, on_tables(r, m)), (oid, r.seed, rows, on_tables(r, m))
            checked += 1
    assert checked >= 30


def _text_columns(row_type) -> list[str]:
    return [f.name for f in dataclasses.fields(row_type) if str(f.type) in ("str", "str | None")]


def _numeric_columns(row_type) -> list[str]:
    return [f.name for f in dataclasses.fields(row_type) if str(f.type) in measures._NUMERIC_TYPES]


def _day_columns(row_type) -> list[str]:
    return [f.name for f in dataclasses.fields(row_type) if f.name == "day" or f.name.endswith("_day")]


@st.composite
def generated(draw, runs):
    r = draw(st.sampled_from(runs))
    table = draw(st.sampled_from([t for t, rows in measures.row_types().items()
                                  if t in get_args(TableName) and len(r.records_of(t)) and _day_columns(rows)]))
    row_type = measures.row_types()[table]
    rows = r.records_of(table)
    where = {}
    text = _text_columns(row_type)
    for col in draw(st.lists(st.sampled_from(text), max_size=2, unique=True)) if text else []:
        seen = sorted({getattr(x, col) for x in rows if getattr(x, col) is not None})
        if seen:
            where[col] = draw(st.lists(st.sampled_from(seen), min_size=1, max_size=3, unique=True))
    window = None
    if draw(st.booleans()):
        start = draw(st.none() | st.integers(0, 2000))
        end = draw(st.none() | st.integers(0 if start is None else start + 1, 2200))
        window = {"start": None if start is None else r.start + dt.timedelta(days=start),
                  "end": None if end is None else r.start + dt.timedelta(days=end)}
    nums = _numeric_columns(row_type)
    leaf = st.sampled_from(nums) | st.sampled_from(["2", "0", "0.5"])
    expr = draw(st.recursive(leaf, lambda inner: st.tuples(inner, st.sampled_from("+-*/"), inner).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"), max_leaves=4))
    if not any(c in expr for c in nums):
        expr = f"{expr} * {nums[0]}"
    m = Measure(scenario="x.yaml", table=table, where=where, day_column=draw(st.sampled_from(_day_columns(row_type))),
                window=window, value=expr, aggregate=draw(st.sampled_from(
                    ["sum", "mean", "median", "max", "min", "last", "count"])),
                scale=draw(st.sampled_from([1.0, 1e-3])))
    return r, m


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_generated_measures_are_the_same_on_rows_and_tables(history_runs, data):
    import warnings

    r, m = data.draw(generated(history_runs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns of a division by zero; the row path gives the same inf/NaN
        got = measures.measure(r, m, r.start)
        want = on_tables(r, m)
    assert same(got, want), (m, got, want)


def test_a_measure_the_rows_cannot_match_is_taken_on_the_tables(history_runs):
    """A number filtered by value, a text column in arithmetic, a constant: left to the tables, same answer."""
    r = history_runs[0]
    for m in (Measure(scenario="x.yaml", table="shipments", where={"qty": [100.0]}, value="qty"),
              Measure(scenario="x.yaml", table="shipments", value="1", aggregate="sum"),
              Measure(scenario="x.yaml", table="shipments", value="stockpile", aggregate="sum"),
              Measure(scenario="x.yaml", table="shipments", where={"run_id": [r.run_id]}, value="qty")):
        assert measures._from_rows(r.records_of("shipments"), measures.row_types()["shipments"], "shipments", m,
                                   r.start) is None
        assert same(measures.measure(r, m, r.start), on_tables(r, m))
    assert measures.measure(r, Measure(scenario="x.yaml", table="shipments", value="1"), r.start) == 1.0


def test_a_result_without_rows_is_measured_on_its_tables(history_runs):
    r = history_runs[0]
    bare = RunResult(r.run_id, r.seed, r.scenario_name, r.start, r.kpis, tables=r.tables)
    m = load_observed(OBSERVED).observables["bytedance_910b_delivered_mid_2024"].compute
    assert bare.records_of("shipments") is None
    assert measures.measure(bare, m, r.start) == measures.measure(r, m, r.start) > 0
