"""Sweep analysis: Sobol on Ishigami (analytic indices), Morris ranking, PRIM on a planted box, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

from sim.experiments.analysis import (
    AnalysisError,
    condition_mask,
    morris_from_design,
    parse_condition,
    prim,
    rank_correlations,
    sobol_from_design,
    variance_split,
)

ISHIGAMI_S1 = [0.314, 0.442, 0.0]
ISHIGAMI_ST = [0.557, 0.442, 0.244]


def ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def _design_frames(U: np.ndarray, y: np.ndarray, factors: list[str], reps: int = 1, noise: float = 0.0):
    """A stored-design look-alike: one row per (sample, replication), with u:<factor> columns."""
    rng = np.random.default_rng(0)
    rows, outs = [], []
    for i, u in enumerate(U):
        for r in range(reps):
            rid = f"r{i}-{r}"
            rows.append({"run_id": rid, "point_id": f"p{i}", "policy_index": 0, "sample_index": i, "replication": r,
                         **{f"u:{f}": u[j] for j, f in enumerate(factors)}})
            outs.append({"run_id": rid, "y": y[i] + noise * rng.standard_normal()})
    return pd.DataFrame(rows), pd.DataFrame(outs)


def test_sobol_on_ishigami_matches_analytic_indices():
    factors = ["x1", "x2", "x3"]
    problem = {"num_vars": 3, "names": factors, "bounds": [[0.0, 1.0]] * 3}
    U = sobol_sample.sample(problem, 1024, calc_second_order=False, seed=1)
    y = ishigami(-math.pi + 2 * math.pi * U)  # u in [0, 1) -> x in [-pi, pi), as parameters map u
    design, outputs = _design_frames(U, y, factors)
    (res,) = sobol_from_design(design, outputs, "y", factors)
    t = res.table.set_index("factor")
    np.testing.assert_allclose(t["S1"], ISHIGAMI_S1, atol=0.04)
    np.testing.assert_allclose(t["ST"], ISHIGAMI_ST, atol=0.04)
    assert (t["ST_conf"] < 0.1).all()


def test_sobol_averages_replications_and_rejects_holes():
    factors = ["x1", "x2", "x3"]
    problem = {"num_vars": 3, "names": factors, "bounds": [[0.0, 1.0]] * 3}
    U = sobol_sample.sample(problem, 512, calc_second_order=False, seed=2)
    y = ishigami(-math.pi + 2 * math.pi * U)
    design, outputs = _design_frames(U, y, factors, reps=2, noise=0.01)
    (res,) = sobol_from_design(design, outputs, "y", factors)
    np.testing.assert_allclose(res.table["ST"], ISHIGAMI_ST, atol=0.06)
    outputs.loc[2, "y"] = np.nan
    outputs.loc[3, "y"] = np.nan  # both replications of one point
    with pytest.raises(AnalysisError, match="1 of .* design points have no value"):
        sobol_from_design(design, outputs, "y", factors)
    (res,) = sobol_from_design(design, outputs, "y", factors, fill=0.0)
    assert res.n_points == len(U)


def test_morris_ranks_factors():
    factors = ["a", "b", "c", "d"]
    problem = {"num_vars": 4, "names": factors, "bounds": [[0.0, 1.0]] * 4}
    U = morris_sample.sample(problem, 40, num_levels=4, seed=3)
    y = 10 * U[:, 0] + 3 * U[:, 1] ** 2 + 0.5 * U[:, 2]
    design, outputs = _design_frames(U, y, factors)
    (res,) = morris_from_design(design, outputs, "y", factors)
    assert list(res.table["factor"]) == ["a", "b", "c", "d"]
    assert res.table.set_index("factor").loc["a", "mu_star"] == pytest.approx(10, rel=1e-6)
    assert res.table.set_index("factor").loc["d", "mu_star"] == pytest.approx(0, abs=1e-9)


def test_prim_finds_planted_box():
    rng = np.random.default_rng(7)
    n = 3000
    X = pd.DataFrame({"die_yield": rng.uniform(0.2, 0.8, n), "grey_share": rng.uniform(0, 0.2, n),
                      "stockpile": rng.uniform(1, 3, n), "flop": rng.uniform(1, 10, n)})
    inside = (X["die_yield"] < 0.35) & (X["grey_share"] < 0.05)
    y = inside.to_numpy() ^ (rng.random(n) < 0.02)  # 2 % label noise
    boxes = prim(X, y)
    assert boxes
    b = boxes[0]
    assert set(b.limits) == {"die_yield", "grey_share"}
    assert b.limits["die_yield"][1] == pytest.approx(0.35, abs=0.03)
    assert b.limits["grey_share"][1] == pytest.approx(0.05, abs=0.01)
    assert b.density > 0.9
    assert b.coverage > 0.7
    text = b.describe("delay > 180 days")
    assert text.startswith("delay > 180 days when die_yield <= 0.3")
    assert "grey_share <= 0.0" in text


def test_prim_with_nothing_to_find():
    X = pd.DataFrame({"a": np.linspace(0, 1, 100)})
    assert prim(X, np.zeros(100, bool)) == []


def test_conditions():
    assert parse_condition("> 180") == (">", 180.0)
    assert parse_condition("<=0.5") == ("<=", 0.5)
    assert parse_condition("1e3") == (">", 1000.0)
    with pytest.raises(AnalysisError):
        parse_condition("about 3")
    assert condition_mask(np.array([1.0, np.nan, 300.0]), ">", 180).tolist() == [False, False, True]


def test_rank_correlation_and_variance_split():
    rng = np.random.default_rng(1)
    pts = 60
    x = rng.uniform(0, 1, pts)
    z = rng.uniform(0, 1, pts)
    inputs = pd.DataFrame({"point_id": np.repeat([f"p{i}" for i in range(pts)], 3), "x": np.repeat(x, 3),
                           "z": np.repeat(z, 3)})
    y = 5 * np.repeat(x, 3) + rng.normal(0, 0.5, 3 * pts)
    outputs = pd.DataFrame({"y": y})
    rc = rank_correlations(inputs, outputs, "y", ["x", "z"])
    assert rc.loc[0, "parameter"] == "x"
    assert rc.loc[0, "spearman"] > 0.9
    v = variance_split(inputs, outputs, "y")
    assert 0.05 < v["noise_share"] < 0.2  # noise variance 0.25 of total ~ 5^2/12 + 0.25
    assert v["replications_needed"] >= 1


# --------------------------------------------------------------------------- through the store + CLI
def test_analyze_cli_on_a_sweep(tmp_path, runner):
    from sim.experiments.sweep import run_sweep
    from tests.test_sweep import app, tiny_spec

    store = tmp_path / "st"
    run_sweep(tiny_spec(tmp_path, "sobol", 2, reps=2), store, executor="serial")
    kpi = "job_finish_day[lab-cn/job1]"
    res = runner.invoke(app(), ["analyze", str(store), "--kpi", kpi, "--threshold", "> 500", "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["kpi"] == kpi
    assert rep["runs"]["ok"] == 40
    assert len(rep["sobol"]) == 2  # one per policy (tpp lever level)
    assert {f["factor"] for f in rep["sobol"][0]["factors"]} == {"die_yield", "grey", "flop"}
    top = max(rep["sobol"][0]["factors"], key=lambda f: f["ST"])
    assert top["factor"] == "flop"  # the job's size drives its finish day
    assert "variance" in rep
    assert "prim" in rep
    res = runner.invoke(app(), ["analyze", str(store), "--kpi", kpi])
    assert res.exit_code == 0
    assert kpi in res.output
    assert "Sobol" in res.output
    res = runner.invoke(app(), ["analyze", str(store), "--kpi", "job_finish"])
    assert res.exit_code == 2
    assert "did you mean" in res.output
    res = runner.invoke(app(), ["analyze", str(store), "--method", "morris"])
    assert res.exit_code == 2
    assert "needs a morris design" in res.output
    res = runner.invoke(app(), ["analyze", str(tmp_path / "nowhere")])
    assert res.exit_code == 2
    assert "not a sweep store" in res.output


def test_analyze_lhs_falls_back_to_rank_correlation(tmp_path, runner):
    from sim.experiments.sweep import run_sweep
    from tests.test_sweep import app, tiny_spec

    store = tmp_path / "st"
    run_sweep(tiny_spec(tmp_path, "lhs", 6), store, executor="serial")
    res = runner.invoke(app(), ["analyze", str(store), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["rank_correlation"][0]["parameter"] == "flop"
    assert "main_effects" in rep
    assert "by_lever" in rep
