"""Calibration (ABC-SMC on pyabc) on the tiny scenario: an analytic posterior, recovery of known inputs from
synthetic observations, the store (resume, report, predictive checks), the posterior applied to runs.

Small on purpose: populations of 20-40 particles, 2-5 generations, the serial sampler with numpy's global
RNG seeded (pyabc draws its proposals from it), so every test is deterministic and the file runs in well
under a minute.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.experiments.calibrate import (
    RangeDistance,
    load_calibration,
    run_calibration,
    simulate,
    synthetic_observed,
)
from sim.experiments.calibration_report import summarise
from sim.experiments.posterior import (
    Posterior,
    apply_draw,
    apply_inputs,
    expand_path,
    scale_quantity,
)
from sim.scenario.loader import ScenarioError, load_scenario
from sim.scenario.paths import PathError

DATA = Path(__file__).parent / "data"
NEW = "abc: {population_size: 30, generations: 3, min_acceptance_rate: 0.05}"  # the tiny spec's abc line
SPEC = DATA / "calibration" / "tiny.yaml"


@pytest.fixture
def spec_file(tmp_path):
    """Copies of the tiny spec (with edits) beside copies of its scenario and observables, in tmp_path."""
    data = tmp_path / "data"
    (data / "calibration").mkdir(parents=True)
    shutil.copy(DATA / "tiny.yaml", data / "tiny.yaml")
    shutil.copy(DATA / "calibration" / "observed_tiny.yaml", data / "calibration" / "observed_tiny.yaml")
    count = iter(range(1000))

    def make(extra: str = "", **replace: str) -> Path:
        text = SPEC.read_text()
        for old, new in replace.items():
            assert old in text, old
            text = text.replace(old, new)
        out = data / "calibration" / f"spec{next(count)}.yaml"
        out.write_text(text + extra)
        return out

    return make


# ------------------------------------------------------------------------------------ analytic check
def test_posterior_of_a_linear_observable_is_the_prior_cut_to_the_accepted_band(spec_file, tmp_path):
    """dies_2022 = k x wafers exactly (deterministic in the tiny scenario), prior wafers ~ U(500, 2000).  At
    threshold eps the interval distance accepts y in [low - eps w, high + eps w]: the exact ABC posterior is
    uniform on that band / k, and inputs no fitted figure depends on keep their prior."""
    p = spec_file(**{"abc: {population_size: 30, generations: 3, min_acceptance_rate: 0.05}":
                     "abc: {population_size: 30, generations: 4, min_acceptance_rate: 0.05}\nobservables: [dies_2022]"})
    lc = load_calibration(p)
    assert list(lc.fit) == ["dies_2022"]
    y1 = simulate(lc, {"wafers": 1000.0, "pkg_scale": 1.0, "markup": 0.5}, [1], lc.fit)["dies_2022"]
    y2 = simulate(lc, {"wafers": 1500.0, "pkg_scale": 1.0, "markup": 0.5}, [2], lc.fit)["dies_2022"]
    assert y2 / y1 == pytest.approx(1.5, rel=2e-3)  # linear and seed-free: the analytic form holds
    k = y1 / 1000.0
    np.random.seed(3)
    run_calibration(lc, tmp_path / "store", executor="serial", predictive=False)
    post = pd.read_parquet(tmp_path / "store" / "posterior.parquet")
    eps = pd.read_parquet(tmp_path / "store" / "generations.parquet")["epsilon"].iloc[-1]
    o = lc.fit["dies_2022"]
    width = o.high - o.low
    lo, hi = max((o.low - eps * width) / k, 500.0), min((o.high + eps * width) / k, 2000.0)
    w = post["weight"].to_numpy()
    x = post["wafers"].to_numpy()
    assert x.min() >= lo * (1 - 3e-3) and x.max() <= hi * (1 + 3e-3)  # nothing outside the exact support
    mean = float(np.sum(w * x))
    sd = float(np.sqrt(np.sum(w * (x - mean) ** 2)))
    assert mean == pytest.approx((lo + hi) / 2, abs=0.15 * (hi - lo))
    assert sd == pytest.approx((hi - lo) / math.sqrt(12), rel=0.35)
    s = summarise(tmp_path / "store")
    verdict = {i["input"]: i["verdict"] for i in s["inputs"]}
    assert verdict["wafers"] == "pinned"
    assert verdict["pkg_scale"] == "at prior" and verdict["markup"] == "at prior"


# ------------------------------------------------------------------------------- synthetic truth
TRUTH = {"wafers": 1250.0, "pkg_scale": 0.8, "markup": 0.45}


@pytest.fixture(scope="module")
def synthetic_store(tmp_path_factory):
    """The tiny calibration fitted to the model's own output at TRUTH (+/-10 % ranges)."""
    lc0 = load_calibration(SPEC)
    obs = synthetic_observed(lc0, TRUTH, seed=99, rel_halfwidth=0.1)
    lc = load_calibration(SPEC, observed=obs)
    root = tmp_path_factory.mktemp("cal") / "store"
    np.random.seed(5)
    res = run_calibration(lc, root, executor="serial")
    return lc, root, res


def test_synthetic_truth_is_recovered(synthetic_store):
    lc, root, res = synthetic_store
    assert res.status == "finished" and res.generations == 3 and res.predictive_runs == 2 * lc.spec.predictive_draws
    s = summarise(root)
    by = {i["input"]: i for i in s["inputs"]}
    for name in ("wafers", "pkg_scale"):  # the fitted figures depend on these: 90 % intervals cover the truth
        q = by[name]["posterior"]
        assert q["q05"] <= TRUTH[name] <= q["q95"], (name, q)
        assert by[name]["verdict"] == "pinned"
    assert by["markup"]["verdict"] == "at prior"  # nothing fitted depends on the grey markup
    held = [r for r in s["observables"] if r["role"] == "held_out"]
    assert {r["observable"] for r in held} == {"dies_2023h2", "chips_2023h2"}
    assert s["coverage"]["held_out"]["covered_95"] == 2 and s["coverage"]["fit"]["covered_95"] == 2
    assert s["unreachable"] == []


def test_store_files_and_metadata(synthetic_store):
    lc, root, _ = synthetic_store
    meta = json.loads((root / "calibration.json").read_text())
    from sim.engine.version import MODEL_VERSION

    # the fingerprint of the model that ran (the source hash moves whenever sim/engine or sim/schema is edited)
    assert meta["model_fingerprint"].startswith(f"{MODEL_VERSION}-") and meta["status"] == "finished"
    assert meta["spec"]["name"] == "tiny" and set(meta["fit"]) == {"dies_2022", "chips_2023h1"}
    post = pd.read_parquet(root / "posterior.parquet")
    assert {"particle", "weight", "distance", "u:wafers", "wafers", "sim:dies_2022"} <= set(post.columns)
    assert post["weight"].sum() == pytest.approx(1.0)
    pred = pd.read_parquet(root / "predictive.parquet")
    assert set(pred["kind"]) == {"prior", "posterior"}
    # prior draw i and posterior draw i share seed i (common random numbers for the predictive check)
    seeds = pred.pivot(index="draw", columns="kind", values="seed")
    assert (seeds["prior"] == seeds["posterior"]).all()
    gens = pd.read_parquet(root / "generations.parquet")
    assert list(gens["t"]) == [0, 1, 2] and (gens["acceptance_rate"] > 0).all()


def test_resume_goes_on_from_the_stored_generations_and_refuses_another_spec(tmp_path, spec_file):
    from sim.experiments.calibrate import CalibrationError

    lc = load_calibration(spec_file(**{NEW: "abc: {population_size: 12, generations: 3}"}))
    root = tmp_path / "store"
    np.random.seed(8)
    first = run_calibration(lc, root, executor="serial", generations=2, predictive=False)
    assert first.generations == 2 and first.new_generations == 2
    again = run_calibration(lc, root, executor="serial", generations=2, predictive=False)
    assert again.new_generations == 0  # nothing to do: the store already has them
    more = run_calibration(lc, root, executor="serial", generations=3, predictive=False)
    assert more.new_generations == 1 and more.generations == 3
    assert json.loads((root / "calibration.json").read_text())["generations"][-1]["t"] == 2
    other = load_calibration(SPEC)
    with pytest.raises(CalibrationError, match="different spec"):
        run_calibration(other, root, executor="serial", generations=1, predictive=False)


# ---------------------------------------------------------------------------------- the distance
def test_interval_distance_is_zero_inside_and_in_ranges_outside():
    d = RangeDistance({"a": (10.0, 20.0, 15.0), "b": (0.0, 1.0, 0.5)}, "interval", 2.0, 10.0)
    assert d({"a": 12.0, "b": 0.3}) == 0.0
    assert d({"a": 25.0, "b": 0.5}) == pytest.approx(0.5)
    assert d({"a": 5.0, "b": 3.0}) == pytest.approx(math.hypot(0.5, 2.0))
    assert d({"a": math.nan, "b": 0.5}) == pytest.approx(10.0)
    c = RangeDistance({"a": (10.0, 20.0, 12.0)}, "central", 1.0, 10.0)
    assert c({"a": 17.0}) == pytest.approx(0.5)


# ------------------------------------------------------------------------------- posterior helper
def test_scale_keeps_shape_dates_and_integers():
    q = [{"since": "2022-01-01", "value": {"dist": "uniform", "low": 10.0, "high": 20.0, "source": ["X"]}},
         {"since": "2023-01-01", "value": {"dist": "constant", "value": 5.0}}]
    s = scale_quantity(q, 2.0)
    assert s[0]["since"] == "2022-01-01" and s[0]["value"]["low"] == 20.0 and s[0]["value"]["high"] == 40.0
    assert s[0]["value"]["source"] == ["X"] and s[1]["value"]["value"] == 10.0
    assert scale_quantity({"dist": "beta", "a": 2.0, "b": 3.0, "low": 0.0, "high": 1.0}, 0.5)["a"] == 2.0
    assert scale_quantity({"dist": "lognormal", "median": 4.0, "sigma": 0.3}, 2.0) == {
        "dist": "lognormal", "median": 8.0, "sigma": 0.3}
    assert scale_quantity(7, 1.5) == 10 and isinstance(scale_quantity(7, 1.5), int)
    assert q[0]["value"]["low"] == 10.0  # a copy: the input is untouched


def test_wildcard_paths_and_missing_paths():
    base = load_scenario(DATA / "tiny.yaml").model_dump(by_alias=True)
    assert expand_path(base, "nodes.*.grey.markup") == ["nodes.sg-hub.grey.markup"]
    assert expand_path(base, "labs.*.budget_usd_per_year") == ["labs.lab-cn.budget_usd_per_year"]
    with pytest.raises(PathError):
        expand_path(base, "nodes.*.no_such_field")
    missing = apply_inputs(base, [("nodes.nowhere.x", "set", 1.0), ("nodes.smic.wafer_starts_per_month", "set", 7)],
                           strict=False)
    assert missing == ["nodes.nowhere.x"]


def test_posterior_draws_apply_to_a_scenario(synthetic_store):
    _, root, _ = synthetic_store
    post = Posterior.load(root)
    assert post.names == ["wafers", "pkg_scale", "markup"] and post.fingerprint.count("-") == 1
    d1, d2 = post.draws(5, seed=1), post.draws(5, seed=1)
    pd.testing.assert_frame_equal(d1, d2)  # the same seed gives the same draws
    s = load_scenario(DATA / "tiny.yaml")
    s2, values, missing = apply_draw(s, post, index=2, seed=1)
    assert missing == [] and values["wafers"] == pytest.approx(d1.iloc[2]["wafers"])
    dumped = s2.model_dump(by_alias=True)
    assert dumped["nodes"]["sg-hub"]["grey"]["markup"]["value"] == pytest.approx(values["markup"])
    base_pkg = s.model_dump(by_alias=True)["nodes"]["huawei-pkg"]["chips_per_month"]
    after = dumped["nodes"]["huawei-pkg"]["chips_per_month"]
    assert json.dumps(after, default=str) != json.dumps(base_pkg, default=str)


# ------------------------------------------------------------------------------------- spec errors
def test_spec_problems_are_file_line_messages(spec_file):
    with pytest.raises(ScenarioError) as e:
        load_calibration(spec_file(**{"nodes.smic.wafer_starts_per_month": "nodes.smic.wafer_start_per_month"}))
    text = str(e.value.problems[0])
    assert "parameters.wafers.path" in text and "wafer_starts_per_month" in text and ".yaml:9:" in text
    with pytest.raises(ScenarioError, match="levels"):
        load_calibration(spec_file(**{"{path: nodes.smic.wafer_starts_per_month, low: 500, high: 2000}":
                                      "{path: nodes.smic.wafer_starts_per_month, levels: [500, 1000]}"}))
    with pytest.raises(ScenarioError, match="nothing to fit"):
        load_calibration(spec_file(**{"cutoff: 2023-06-30": "cutoff: 2021-06-30"}))
    with pytest.raises(ScenarioError, match="no observable 'nope'"):
        load_calibration(spec_file("observables: [nope]\n"))


# --------------------------------------------------------------------------------------------- CLI
def test_cli_report_json_html_and_run_on_the_posterior(synthetic_store, tmp_path):
    from typer.testing import CliRunner

    from sim.cli.main import app

    _, root, _ = synthetic_store
    runner = CliRunner()
    r = runner.invoke(app, ["calibrate", "--report", str(root), "--html", str(tmp_path / "c.html")])
    assert r.exit_code == 0, r.output
    assert "held-out coverage" in r.output and "pinned by the data" in r.output
    assert (tmp_path / "c.html").stat().st_size > 10_000
    r = runner.invoke(app, ["calibrate", "--report", str(root), "--json"])
    rep = json.loads(r.stdout)
    assert rep["coverage"]["held_out"]["n"] == 2 and rep["pinned"]
    r = runner.invoke(app, ["run", str(DATA / "tiny.yaml"), "--posterior", str(root), "--draw", "1", "--json"])
    assert r.exit_code == 0 and "posterior of calibration 'tiny'" in r.stderr
    r = runner.invoke(app, ["compare", str(DATA / "tiny.yaml"), "--without-rules", "--replications", "2",
                            "--posterior", str(root), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["posterior"]["name"] == "tiny"
    r = runner.invoke(app, ["calibrate", "--report", str(tmp_path)])
    assert r.exit_code == 2 and "not a calibration store" in r.stderr


def test_cli_calibrate_runs_a_spec(tmp_path, spec_file):
    from typer.testing import CliRunner

    from sim.cli.main import app

    p = spec_file(**{"abc: {population_size: 30, generations: 3, min_acceptance_rate: 0.05}":
                     "abc: {population_size: 10, generations: 1}", "predictive_draws: 15": "predictive_draws: 10"})
    np.random.seed(2)
    r = CliRunner().invoke(app, ["calibrate", str(p), "--store", str(tmp_path / "s"), "--executor", "serial"])
    assert r.exit_code == 0, r.output
    assert "generation 1/1 done" in r.stderr and "Held out" in r.stdout
    shutil.rmtree(tmp_path / "s")


def test_a_briefing_on_the_posterior_says_so(synthetic_store):
    from sim.reports.briefing import build, collect

    _, root, _ = synthetic_store
    data = collect(str(DATA / "tiny.yaml"), "policy", 2, None, posterior=root, backtest=False)
    assert data.posterior["name"] == "tiny" and data.posterior["pinned"]
    md = build(data).render("md", "brief")["brief.md"].decode()
    assert "On the calibrated posterior" in md and "--posterior" in md


def test_a_sweep_on_the_posterior_applies_draw_i_to_sample_i(synthetic_store, tmp_path):
    from sim.experiments.posterior import with_posterior
    from sim.experiments.sweep import expand, load_spec, run_sweep
    from sim.experiments.sweep.design import assignments

    _, root, _ = synthetic_store
    spec = tmp_path / "sweep.yaml"
    spec.write_text(f"name: tiny_post\nbase: {DATA / 'tiny.yaml'}\ndesign: {{kind: lhs, n: 3}}\nuncertainties:\n"
                    "  mfu: {path: labs.lab-cn.jobs.job1.mfu.ascend910b, low: 0.3, high: 0.5}\nkpis: ['job_*']\n")
    plain = load_spec(spec)
    ls = with_posterior(plain, Posterior.load(root))
    assert ls.spec_key != plain.spec_key  # never the same store as the sweep on the priors
    runs = expand(ls)
    draws = Posterior.load(root).draws(3, ls.spec.seed)
    assert runs[1].values["posterior.wafers"] == pytest.approx(draws.iloc[1]["wafers"])
    paths = [p for p, _ in assignments(ls, runs[1])]
    assert paths[-1] == "labs.lab-cn.jobs.job1.mfu.ascend910b" and "nodes.smic.wafer_starts_per_month" in paths
    rep = run_sweep(ls, tmp_path / "store", executor="serial")
    assert rep.done == 3 and rep.failed == 0


def test_a_posterior_from_edited_source_is_told_apart_from_one_of_another_model_version(synthetic_store,
                                                                                        monkeypatch):
    """The fingerprint is MODEL_VERSION plus a hash of the source: an edit that keeps every golden output (same
    MODEL_VERSION) is not reported as the model changing; another MODEL_VERSION is, with "recalibrate"."""
    from sim.engine import version
    from sim.reports.briefing import build, collect

    assert version.fingerprint_change("12-aaaaaaaaaaaa", "12-aaaaaaaaaaaa") is None
    assert version.fingerprint_change("12-aaaaaaaaaaaa", "12-bbbbbbbbbbbb") == "source"
    assert version.fingerprint_change("4-aaaaaaaaaaaa", "12-aaaaaaaaaaaa") == "version"
    assert version.fingerprint_change("1-aaaaaaaaaaaa", "12-aaaaaaaaaaaa") == "version"  # not a prefix match
    assert version.fingerprint_change(None, "12-aaaaaaaaaaaa") == "version"

    _, root, _ = synthetic_store
    post = Posterior.load(root)
    fitted_version = post.fingerprint.split("-", 1)[0]
    assert post.model_warning() is None  # fitted by this very source
    monkeypatch.setattr(version, "model_fingerprint", lambda: f"{fitted_version}-ffffffffffff")
    assert "expected to hold" in post.model_warning() and "recalibrate" not in post.model_warning()
    md = build(collect(str(DATA / "tiny.yaml"), "policy", 2, None, posterior=root, backtest=False)).render(
        "md", "brief")["brief.md"].decode()
    assert "expected to hold" in md and "recalibrate" not in md
    monkeypatch.setattr(version, "model_fingerprint", lambda: f"{int(fitted_version) + 1}-ffffffffffff")
    assert "recalibrate before relying on it" in post.model_warning()
    md = build(collect(str(DATA / "tiny.yaml"), "policy", 2, None, posterior=root, backtest=False)).render(
        "md", "brief")["brief.md"].decode()
    assert "recalibrate before relying on it" in md
