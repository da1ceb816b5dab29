"""Chokepoint ranking (sim.experiments.chokepoints): quantity scaling, knock-outs through the engine, impacts with
common random numbers, the ranking against betweenness, the chart and the command."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from sim import Simulation, load_scenario, scenario_from_dict
from sim.experiments.chokepoints import (
    ChokepointError,
    counterfactual,
    knock_out,
    rank,
    targets,
)
from sim.scenario.paths import diff_assignments as assignments
from sim.scenario.quantities import draw, scale_quantity, scale_series
from sim.schema.dist import Step

D = dt.date


# ----------------------------------------------------------------------------- scale_quantity
@pytest.mark.parametrize(("q", "factor", "expected"), [
    (5, 0.5, 2.5),
    ({"dist": "constant", "value": 4.0, "source": ["S1"]}, 0.25, {"dist": "constant", "value": 1.0, "source": ["S1"]}),
    ({"dist": "uniform", "low": 2.0, "high": 6.0}, 0.5, {"dist": "uniform", "low": 1.0, "high": 3.0}),
    ({"dist": "triangular", "low": 1.0, "mode": 2.0, "high": 4.0}, 0.5,
     {"dist": "triangular", "low": 0.5, "mode": 1.0, "high": 2.0}),
    ({"dist": "normal", "mean": 10.0, "sd": 2.0, "low": 4.0, "high": None}, 0.5,
     {"dist": "normal", "mean": 5.0, "sd": 1.0, "low": 2.0, "high": None}),
    ({"dist": "lognormal", "median": 100.0, "sigma": 0.3}, 0.5, {"dist": "lognormal", "median": 50.0, "sigma": 0.3}),
    ({"dist": "beta", "a": 2.0, "b": 3.0, "low": 10.0, "high": 20.0}, 0.5,
     {"dist": "beta", "a": 2.0, "b": 3.0, "low": 5.0, "high": 10.0}),
    ({"dist": "beta", "mean": 0.5, "concentration": 20.0, "low": 0.0, "high": 1.0}, 0.5,
     {"dist": "beta", "mean": 0.25, "concentration": 20.0, "low": 0.0, "high": 0.5}),
    ({"dist": "pert", "low": 2.0, "mode": 4.0, "high": 10.0, "lamb": 4.0}, 0.25,
     {"dist": "pert", "low": 0.5, "mode": 1.0, "high": 2.5, "lamb": 4.0}),
])
def test_scale_quantity_scales_parameters(q, factor, expected):
    assert scale_quantity(q, factor) == expected


@pytest.mark.parametrize("q", [
    {"dist": "uniform", "low": 2.0, "high": 6.0},
    {"dist": "lognormal", "median": 100.0, "sigma": 0.3, "source": ["S2"]},
    {"dist": "beta", "mean": 0.5, "concentration": 20.0},
    {"dist": "pert", "low": 2.0, "mode": 4.0, "high": 10.0},
])
def test_scale_quantity_zero_and_one(q):
    zero = scale_quantity(q, 0.0)
    assert zero["dist"] == "constant"
    assert zero["value"] == 0.0
    assert zero.get("source") == q.get("source")
    assert scale_quantity(q, 1.0) == q
    assert scale_quantity(q, 1.0) is not q
    with pytest.raises(ValueError, match="finite number >= 0"):
        scale_quantity(q, -0.5)


@pytest.mark.parametrize("q", [
    {"dist": "uniform", "low": 2.0, "high": 6.0},
    {"dist": "triangular", "low": 1.0, "mode": 2.0, "high": 4.0},
    {"dist": "normal", "mean": 10.0, "sd": 2.0, "low": 7.0, "high": 12.0},
    {"dist": "lognormal", "median": 100.0, "sigma": 0.3},
    {"dist": "beta", "a": 2.0, "b": 3.0, "low": 10.0, "high": 20.0},
    {"dist": "pert", "low": 2.0, "mode": 4.0, "high": 10.0},
])
def test_scaled_distribution_draws_are_the_draws_times_the_factor(q):
    """Same random numbers: a draw of the scaled distribution is the original draw times the factor."""
    orig = Step.model_validate({"since": "2022-01-01", "value": q}).value
    scaled = Step.model_validate({"since": "2022-01-01", "value": scale_quantity(q, 0.3)}).value
    for seed in range(20):
        a = draw(orig, np.random.default_rng(seed))
        b = draw(scaled, np.random.default_rng(seed))
        assert b == pytest.approx(0.3 * a, rel=1e-12)


def test_scale_series_splits_the_step_in_force():
    steps = [{"since": D(2022, 1, 1), "value": 10.0}, {"since": D(2023, 1, 1), "value": {"dist": "uniform", "low": 2.0,
                                                                                          "high": 4.0}}]
    out = scale_series(steps, 0.5, D(2022, 7, 1))
    assert out == [{"since": D(2022, 1, 1), "value": 10.0}, {"since": D(2022, 7, 1), "value": 5.0},
                   {"since": D(2023, 1, 1), "value": {"dist": "uniform", "low": 1.0, "high": 2.0}}]
    # a date on a step boundary scales that step (no split); before the first step everything is scaled
    assert scale_series(steps, 0.0, D(2023, 1, 1))[1]["value"] == {"dist": "constant", "value": 0.0}
    assert [s["value"] for s in scale_series(steps, 0.5, D(2021, 1, 1))][0] == 5.0
    # after the last step: a new step at the date; a bare number is a one-step series
    assert scale_series(7.0, 0.0, D(2022, 3, 1)) == [{"since": D(1900, 1, 1), "value": 7.0},
                                                      {"since": D(2022, 3, 1), "value": 0.0}]
    assert scale_series(steps, 1.0, D(2022, 7, 1)) == steps  # severity 0: unchanged, no split
    assert steps[0]["value"] == 10.0  # the input is not touched


# ------------------------------------------------------------------------------- knock-outs
def test_knocked_out_foundry_makes_nothing_after_the_date_and_the_same_before(tiny_scenario):
    s = tiny_scenario
    day = s.day_of(D(2022, 7, 1))
    base = Simulation(s).run().tables["production"]
    cf = Simulation(counterfactual(s, "smic", 1.0, D(2022, 7, 1))).run().tables["production"]
    cols = ["day", "node", "product", "qty"]
    b_smic, c_smic = base[base["node"] == "smic"], cf[cf["node"] == "smic"]
    assert (b_smic["day"] >= day).any()
    assert not (c_smic["day"] >= day).any()
    assert b_smic.loc[b_smic["day"] < day, cols].reset_index(drop=True).equals(c_smic[cols].reset_index(drop=True))
    # the packager's capacity likewise: halved from the date, untouched before
    s2 = counterfactual(s, "huawei-pkg", 0.5, D(2022, 7, 1))
    steps = s2.nodes["huawei-pkg"].chips_per_month
    assert [(st.since, st.value.value) for st in steps] == [(D(1900, 1, 1), 20000.0), (D(2022, 7, 1), 10000.0)]


def test_knock_out_is_pure_and_severity_zero_is_the_base(tiny_scenario):
    s = tiny_scenario
    data = s.model_dump(by_alias=True)
    before = json.dumps(data, default=str, sort_keys=True)
    for t in targets(s):
        assert assignments(data, knock_out(data, s, t, 0.0, s.start)) == []
        assert counterfactual(s, t, 0.0) == s
        knock_out(data, s, t, 1.0, s.start)
    assert json.dumps(data, default=str, sort_keys=True) == before


def test_severity_zero_gives_exactly_zero_impact(tiny_scenario):
    rep = rank(tiny_scenario, severity=0.0, replications=2)
    assert rep.rows
    assert all(r["impact"] == 0.0 and r["impact_ci_low"] == r["impact_ci_high"] == 0.0 for r in rep.rows)
    base = Simulation(tiny_scenario).run().kpis
    again = Simulation(counterfactual(tiny_scenario, "smic", 0.0)).run().kpis
    assert json.dumps(base, sort_keys=True) == json.dumps(again, sort_keys=True)


def test_common_random_numbers_make_an_irrelevant_knock_out_exactly_zero(tiny_scenario):
    """lab-cn's job runs on Ascend: Nvidia's knock-out changes nothing it uses, so every pair is equal."""
    rep = rank(tiny_scenario, kinds=["vendor"], replications=3)
    nv = next(r for r in rep.rows if r["target"] == "nvidia")
    assert (nv["impact"], nv["impact_ci_low"], nv["impact_ci_high"], nv["n"]) == (0.0, 0.0, 0.0, 3)
    assert nv["feeds_job"] is False


def test_only_supplier_knock_out_blocks_the_job(tiny_scenario):
    """In tiny, Ascend reaches lab-cn only via smic -> huawei-pkg -> huawei: without the packager no job."""
    rep = rank(tiny_scenario, replications=2)
    row = next(r for r in rep.rows if "huawei-pkg" in r["targets"])
    assert row["targets"] == ["huawei-pkg", "huawei"]  # huawei sells only what huawei-pkg packages: one row
    assert row["impact"] > 0
    assert row["impact_ci_low"] > 0
    assert row["unfinished"] == 2
    assert row["cf_mean"] == tiny_scenario.horizon_days  # censored at the horizon
    assert row["sim_rank"] == 1


def test_impact_is_monotone_in_severity(tiny_raw):
    data, lines = tiny_raw
    data["nodes"]["huawei-pkg"]["chips_per_month"] = 60  # packaging binds: 200 chips take months
    s = scenario_from_dict(data, lines)
    impact = {}
    for sev in (0.5, 1.0):
        rep = rank(s, kinds=["packager"], severity=sev, replications=2, since=D(2022, 3, 1))
        impact[sev] = rep.rows[0]["impact"]
    assert 0 < impact[0.5] < impact[1.0]


def test_rental_edge_is_closed_by_a_remote_rule():
    s = load_scenario("scenarios/bytedance_ascend.yaml")
    data = s.model_dump(by_alias=True)
    by_id = {t.id: t for t in targets(s, ["edge"])}
    cut = knock_out(data, s, by_id["azure-my-rental"], 1.0, D(2025, 1, 1))
    rule = cut["rules"]["chokepoint_remote_MY_bytedance"]
    assert rule["scope"] == {"item_kinds": ["chip"], "destinations": ["MY"], "end_users": ["bytedance"],
                             "channels": ["remote"]}
    assert rule["treatment"] == {"kind": "deny"}
    assert rule["effective"] == D(2025, 1, 1)
    # rules see the country, not the region: both Malaysian regions close together (one counterfactual)
    same = knock_out(data, s, by_id["aolani-my-rental"], 1.0, D(2025, 1, 1))
    assert assignments(data, cut) == assignments(data, same)
    half = knock_out(data, s, by_id["azure-my-rental"], 0.5, D(2025, 1, 1))["rules"]["chokepoint_remote_MY_bytedance"]
    assert half["treatment"] == {"kind": "license", "approval_probability": 0.5, "review_days": 0.0}
    scenario_from_dict(cut)  # valid
    # grey edge = the hub's grey share
    grey = knock_out(data, s, by_id["sg-hub-bytedance"], 1.0, D(2025, 3, 1))
    assert assignments(data, grey) == assignments(data, knock_out(data, s, targets(s, ["distributor"])[0], 1.0,
                                                                  D(2025, 3, 1)))


# ------------------------------------------------------------------- a hand-built network
_CHIP = {"designer_country": "CN", "release": "2022-01-01", "die_area_mm2": 600, "dense_tflops": {"bf16": 300},
         "price_usd": 10000, "hbm_stacks": 1}
_LEAD = {"dist": "uniform", "low": 5, "high": 20}


def _hand(stock_b: float = 0, job_chips: tuple[str, ...] = ("chipa", "chipb")):
    """One foundry f -> two packagers pa, pb -> vendors va, vb -> lab; two HBM makers m1, m2 (each enough alone).

    Either branch alone supplies the job in time; the foundry feeds both.  *stock_b*: vb's starting stock.
    """
    alloc = {"share": 0.5, "die_yield": {"dist": "uniform", "low": 0.4, "high": 0.6}, "gross_dies_per_wafer": 80}
    edges = {f"{a}-{b}": {"from": a, "to": b, "flow": flow, **({"lead_time_days": _LEAD} if flow == "chips" else {})}
             for a, b, flow in [("f", "pa", "dies"), ("f", "pb", "dies"), ("m1", "pa", "hbm"), ("m1", "pb", "hbm"),
                                ("m2", "pa", "hbm"), ("m2", "pb", "hbm"), ("pa", "va", "chips"),
                                ("pb", "vb", "chips"), ("va", "lab", "chips"), ("vb", "lab", "chips")]}
    return scenario_from_dict({
        "name": "hand", "question": "which node matters?", "start": "2022-01-01", "end": "2024-06-30", "seed": 3,
        "chips": {"chipa": dict(_CHIP, name="A", vendor="va", foundry="f"),
                  "chipb": dict(_CHIP, name="B", vendor="vb", foundry="f")},
        "nodes": {
            "f": {"kind": "foundry", "country": "CN", "wafer_starts_per_month": 500, "cycle_time_days": 30,
                  "allocation": {"chipa": dict(alloc, packager="pa"), "chipb": dict(alloc, packager="pb")}},
            "pa": {"kind": "packager", "country": "CN", "chips_per_month": 3000},
            "pb": {"kind": "packager", "country": "CN", "chips_per_month": 3000},
            "m1": {"kind": "memory", "country": "CN", "hbm_stacks_per_month": 50000},
            "m2": {"kind": "memory", "country": "CN", "hbm_stacks_per_month": 50000},
            "va": {"kind": "vendor", "country": "CN"},
            "vb": {"kind": "vendor", "country": "CN", "initial_inventory": {"chipb": stock_b} if stock_b else {}},
        },
        "edges": edges,
        "labs": {"lab": {"country": "CN", "budget_usd_per_year": 1.0e9, "jobs": {"run": {
            "flop": 3.0e23, "chips": list(job_chips), "cluster_size": {"min": 1000, "max": 2000},
            "earliest_start": "2023-03-01", "sourcing": "own",
            "mfu": {c: {"dist": "uniform", "low": 0.3, "high": 0.5} for c in job_chips}}}}},
    })


@pytest.fixture(scope="module")
def hand_report():
    return rank(_hand(), replications=4)


def test_single_foundry_ranks_first_and_redundant_nodes_include_zero(hand_report):
    rows = {r["target"]: r for r in hand_report.rows}
    f = rows["f"]
    assert hand_report.rows[0]["target"] == "f"
    assert f["sim_rank"] == 1
    assert all(f["impact_ci_low"] > r["impact_ci_high"] for t, r in rows.items() if t != "f")
    assert f["on_every_path"]
    assert f["betweenness"] == 0.0
    # redundant: a second HBM maker with spare capacity, and a parallel packaging/vendor branch
    for t in ("m1", "m2", "pa + va", "pb + vb"):
        assert rows[t]["impact_ci_low"] <= 0 <= rows[t]["impact_ci_high"], t
    assert rows["m2"]["impact"] == 0.0


def test_ranking_spearman_and_disagreement_sentences(hand_report):
    rep = hand_report
    harms = [r["harm"] for r in rep.rows]
    assert harms == sorted(harms, reverse=True)
    assert [r["sim_rank"] for r in rep.rows] == sorted(r["sim_rank"] for r in rep.rows)
    assert set(rep.spearman) >= {"rho", "p_value", "n"}
    assert rep.spearman["n"] == 5
    assert math.isfinite(rep.spearman["rho"])
    assert -1 <= rep.spearman["rho"] <= 1
    first = rep.disagreements[0]
    assert first.startswith("The graph ranks only f joint 3rd-5th of 5")
    assert "simulation ranks it 1st of 5" in first
    assert "supply starts at f" in first
    for r in rep.rows:
        assert {"betweenness", "on_every_path", "capacity_share", "graph_place", "sim_place"} <= set(r)
    assert rep.to_dict()["since"] == "2022-01-01"


def test_a_starting_stockpile_makes_a_central_node_matter_less():
    """vb is as central as va; with a large starting stock its knock-out (after the start) no longer delays the
    job, and it falls below its betweenness rank.  (Knocked out two weeks in: before any die is packaged.)"""
    since = D(2022, 1, 15)
    bare = rank(_hand(job_chips=("chipb",)), replications=2, since=since, kinds=["vendor", "foundry"])
    stocked = rank(_hand(stock_b=5000, job_chips=("chipb",)), replications=2, since=since, kinds=["vendor", "foundry"])
    b = next(r for r in bare.rows if "vb" in r["targets"])
    s = next(r for r in stocked.rows if "vb" in r["targets"])
    assert b["impact"] > 0
    assert b["unfinished"] == 2
    assert b["sim_rank_avg"] <= b["graph_rank_avg"]
    assert s["impact"] == 0.0
    assert s["impact_ci_low"] <= 0 <= s["impact_ci_high"]
    assert s["graph_place"] == b["graph_place"]
    assert s["sim_rank_avg"] > s["graph_rank_avg"]


def test_local_executor_gives_the_serial_numbers(tiny_scenario):
    a = rank(tiny_scenario, replications=2, executor="serial")
    b = rank(tiny_scenario, replications=2, executor="local", workers=2)
    key = lambda rep: [(r["target"], r["impact"], r["cf_mean"]) for r in rep.rows]  # noqa: E731
    assert key(a) == key(b)


def test_bad_settings_are_one_line_errors(tiny_scenario):
    for kwargs, text in [({"lab": "nope"}, "--lab: unknown lab 'nope'"), ({"severity": 1.5}, "--severity"),
                         ({"since": D(2030, 1, 1)}, "--from: 2030-01-01 is outside"), ({"kinds": ["fab"]}, "--kind"),
                         ({"kpi": "no_such_kpi"}, "--kpi: the runs give no KPI 'no_such_kpi[lab-cn]'"),
                         ({"executor": "threads"}, "--executor")]:
        with pytest.raises(ChokepointError, match=text.replace("[", r"\[").replace("]", r"\]")):
            rank(tiny_scenario, replications=1, **kwargs)


# ------------------------------------------------------------------------ chart and command
def test_chokepoint_bars(hand_report):
    import pandas as pd

    from sim.reports.plots import chokepoint_bars

    fig = chokepoint_bars(hand_report.frame())
    kinds = {tr.name for tr in fig.data}
    assert kinds == {"foundry", "packager", "memory"}
    assert all(tr.type == "bar" and tr.error_x.visible for tr in fig.data)
    assert list(fig.layout.yaxis.categoryarray)[-1] == "f"  # largest impact on top
    empty = chokepoint_bars(pd.DataFrame(columns=["target", "kind", "impact", "impact_ci_low", "impact_ci_high"]))
    assert empty.layout.annotations[0].text == "no knock-out gave a result"


def _app() -> typer.Typer:
    from sim.cli.chokepoints import register

    app = typer.Typer()

    @app.callback()
    def _main() -> None:
        """Test harness."""

    register(app)
    return app


def test_cli_json_parses(tiny_path):
    res = CliRunner().invoke(_app(), ["chokepoints", str(tiny_path), "--replications", "2", "--executor", "serial",
                                      "--from", "2022-03-01", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["lab"] == "lab-cn"
    assert payload["kpi"] == "job_finish_day[lab-cn/job1]"
    assert payload["since"] == "2022-03-01"
    assert payload["replications"] == 2
    assert payload["rows"][0]["targets"] == ["huawei-pkg", "huawei"] or payload["rows"][0]["targets"] == ["smic"]
    assert "rho" in payload["spearman"]
    assert isinstance(payload["disagreements"], list)


def test_cli_table_and_errors(tiny_path):
    app = _app()
    res = CliRunner().invoke(app, ["chokepoints", str(tiny_path), "--replications", "2", "--executor", "serial",
                                   "--kind", "packager,vendor"])
    assert res.exit_code == 0, res.output
    assert "huawei-pkg" in res.stdout
    assert "Spearman" in res.stdout
    for args, text in [(["--lab", "x"], "--lab: unknown lab 'x'"), (["--from", "someday"], "--from: not a date"),
                       (["--severity", "2"], "--severity: must be between 0 and 1"),
                       (["--kind", "fab"], "--kind: unknown kind(s) fab")]:
        res = CliRunner().invoke(app, ["chokepoints", str(tiny_path), "--replications", "1", "--executor", "serial",
                                       *args])
        assert res.exit_code == 2, (args, res.output)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, (args, res.stderr)
        assert text in lines[0], (args, res.stderr)
    res = CliRunner().invoke(app, ["chokepoints", "no/such.yaml"])
    assert res.exit_code == 2

