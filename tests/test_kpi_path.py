"""The KPI-only run path (plain Python over the rows) equals the KPIs computed from the tidy tables.

Runs compute KPIs from their records without pandas (``sim.results.kpis``) and build tables only when read;
``sim.results.metrics.kpis_from_tables`` holds the same definitions over the tables.  They must agree on every
key, to floating-point summation order, on generated scenarios (extremes included), the market worlds and the
shipped library.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from sim import Simulation, load_scenario, scenario_from_dict
from sim.results.metrics import kpis_from_tables
from sim.scenario.loader import ScenarioError
from tests.fuzz.conftest import scenarios
from tests.fuzz.test_market_generated import market_worlds

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ["bytedance_ascend", "bytedance_ascend_rent", "history_2022_2026", "remote_access_ban", "h200_open"]


def assert_same_kpis(result) -> None:
    fast = result.kpis
    slow = kpis_from_tables(result.tables, result._scenario)  # the canonical scenario the run used
    assert list(fast) == list(slow)  # same keys in the same order (sweep columns follow it)
    for key, want in slow.items():
        got = fast[key]
        assert type(got) is float, key
        if math.isnan(want):
            assert math.isnan(got), key
        else:
            assert got == pytest.approx(want, rel=1e-12, abs=1e-9), key


def test_tables_are_built_only_when_read():
    s = load_scenario(ROOT / "tests/data/tiny.yaml")
    r = Simulation(s, 3).run()
    assert r._tables is None  # KPIs came from the rows
    assert set(r.tables) >= {"shipments", "fleet", "jobs"}
    assert r.tables is r.tables  # built once


@pytest.mark.parametrize("name", LIBRARY)
@pytest.mark.parametrize("seed", [1, 7])
def test_library_kpis_equal_table_kpis(name, seed):
    s = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    assert_same_kpis(Simulation(s, seed).run())


@settings(deadline=None, max_examples=150)
@given(scenarios())
def test_generated_kpis_equal_table_kpis(world):
    s = scenario_from_dict(world)
    assert_same_kpis(Simulation(s).run())


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(market_worlds())
def test_market_kpis_equal_table_kpis(world):
    try:
        s = scenario_from_dict(copy.deepcopy(world))
    except ScenarioError:
        return
    assert_same_kpis(Simulation(s, 2).run())
