"""The model's outputs are exactly the golden ones recorded under the current MODEL_VERSION.

A refactor must leave every table and KPI identical.  A change that alters outputs bumps
``MODEL_VERSION`` (``sim/engine/version.py``) and regenerates the files (``make golden``); the regen script
refuses to overwrite different outputs under an unchanged version.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sim.engine.version import MODEL_VERSION
from tests.golden import regen

GOLDEN = regen.read_golden()
CASES = [(sc, seed) for sc in regen.SCENARIOS for seed in regen.SEEDS]


def test_golden_files_belong_to_this_model_version():
    assert GOLDEN["model_version"] == MODEL_VERSION, (
        f"golden outputs were made under MODEL_VERSION {GOLDEN['model_version']!r}, the model is "
        f"{MODEL_VERSION!r}: run `make golden`")


@pytest.mark.parametrize(("scenario", "seed"), CASES, ids=[regen.case_name(*c) for c in CASES])
def test_run_reproduces_golden_tables_and_kpis(scenario, seed):
    case = regen.case_name(scenario, seed)
    r = regen.run_case(scenario, seed)
    want = GOLDEN["runs"][case]
    assert sorted(r.kpis) == sorted(want)
    changed = {k: (want[k], r.kpis[k]) for k in want if not regen.kpis_equal(r.kpis[k], want[k])}
    assert not changed, f"{case}: KPIs changed (golden, now): {changed}"
    folder = regen.GOLDEN / "runs" / case
    assert sorted(p.stem for p in folder.glob("*.parquet")) == sorted(r.tables)
    for name, df in r.tables.items():
        pd.testing.assert_frame_equal(df, pd.read_parquet(folder / f"{name}.parquet"), check_exact=True,
                                      obj=f"{case} table {name}")


def test_sweep_reproduces_golden_kpi_table(tmp_path):
    got = regen.sweep_table(tmp_path / "store")
    assert len(got) == 16
    pd.testing.assert_frame_equal(got, pd.read_parquet(regen.GOLDEN / "sweep16.parquet"), check_exact=True)


def test_kpi_equality_is_exact():
    assert regen.kpis_equal(math.nan, math.nan)
    assert not regen.kpis_equal(1.0, 1.0 + 1e-15)
    assert not regen.kpis_equal(1, 1.0)
