"""`exportsim run` and `exportsim compare` through Typer's CliRunner."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from sim.cli import app


def test_run_json_kpis(runner, tiny_path):
    res = runner.invoke(app, ["run", str(tiny_path), "--seed", "3", "--json"])
    assert res.exit_code == 0, res.output
    k = json.loads(res.stdout)
    assert k["job_finished[lab-cn/job1]"] == 1.0
    assert k["job_finish_day[lab-cn/job1]"] > k["job_start_day[lab-cn/job1]"] >= 151
    assert "delivered_units[lab-cn/CN]" in k


def test_run_writes_every_table(runner, tiny_path, tmp_path):
    res = runner.invoke(app, ["run", str(tiny_path), "--out", str(tmp_path / "o"), "--format", "parquet"])
    assert res.exit_code == 0, res.output
    for name in ("shipments", "fleet", "ledger", "inventory", "production", "events", "jobs", "rentals", "inference"):
        df = pd.read_parquet(tmp_path / "o" / f"{name}.parquet")
        assert "run_id" in df.columns
    assert json.loads((tmp_path / "o" / "meta.json").read_text())["seed"] == 7
    assert "job_finish_day[lab-cn/job1]" in res.stdout


def test_run_same_seed_same_kpis(runner, tiny_path):
    a = runner.invoke(app, ["run", str(tiny_path), "--seed", "9", "--json"]).stdout
    b = runner.invoke(app, ["run", str(tiny_path), "--seed", "9", "--json"]).stdout
    assert a == b


@pytest.mark.parametrize("args", [["--format", "xls"], ["--seed", "x"]])
def test_run_bad_options_exit_2(runner, tiny_path, args):
    res = runner.invoke(app, ["run", str(tiny_path), *args])
    assert res.exit_code == 2
    assert "Traceback" not in res.output


def test_compare_without_rules_json(runner, tiny_path):
    res = runner.invoke(app, ["compare", str(tiny_path), "--without-rules", "--replications", "3", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["replications"] == 3
    rows = {r["kpi"]: r for r in out["kpis"]}
    finish = rows["job_finish_day[lab-cn/job1]"]
    assert finish["n_pairs"] == 3
    # the Ascend-only job in tiny is untouched by a rule on US chips: the paired difference is exactly 0
    assert finish["diff_mean"] == 0 and finish["diff_ci_low"] == 0 and finish["diff_ci_high"] == 0


def test_compare_needs_exactly_one_counterfactual(runner, tiny_path):
    assert runner.invoke(app, ["compare", str(tiny_path)]).exit_code == 2
    res = runner.invoke(app, ["compare", str(tiny_path), "--without-rules", "--without", "us_2022_10"])
    assert res.exit_code == 2


def test_compare_unknown_rule_is_one_line(runner, tiny_path):
    res = runner.invoke(app, ["compare", str(tiny_path), "--without", "nope"])
    assert res.exit_code == 2
    assert "unknown rule(s): nope" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_paired_interval_matches_student_t():
    import numpy as np

    from sim.experiments.estimate import t_interval

    m, lo, hi = t_interval(np.array([1.0, 2.0, 3.0, 4.0]))
    assert m == 2.5
    assert hi - m == pytest.approx(3.182446305 * math.sqrt(5 / 3) / 2)  # t(0.975, 3) * sd / sqrt(n)
    assert (lo + hi) / 2 == pytest.approx(m)
