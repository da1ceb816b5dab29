"""Sweeps: designs, dotted paths, executors agree, resume after a real kill, extend, failures recorded."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer

from sim.experiments.store import Store
from sim.experiments.sweep import (
    PathError,
    SweepError,
    apply_point,
    design_size,
    expand,
    get_path,
    kpi_matcher,
    load_spec,
    run_sweep,
    set_path,
)
from sim.scenario.loader import ScenarioError, _shown

TESTS = Path(__file__).resolve().parent
TINY = TESTS / "data" / "tiny.yaml"
REPO = TESTS.parent


def write_spec(tmp_path: Path, body: str, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(body).replace("BASE", str(TINY)))
    return p


TINY_SPEC = """\
    name: tiny_sweep
    base: BASE
    seed: 42
    design: {kind: DESIGN, n: N}
    replications: REPS
    levers:
      tpp: {path: rules.us_2022_10.scope.items.0.tpp_min, levels: [2400, 4800]}
    uncertainties:
      die_yield: {path: nodes.smic.allocation.ascend910b.die_yield, low: 0.2, high: 0.8}
      grey: {path: nodes.sg-hub.grey.share_of_denied, low: 0.0, high: 0.3}
      flop: {path: labs.lab-cn.jobs.job1.flop, dist: loguniform, low: 3.0e+22, high: 3.0e+23}
    kpis: ["job_*[lab-cn/job1]", blocked_units]
"""


def tiny_spec(tmp_path: Path, design: str = "lhs", n: int = 4, reps: int = 1, name: str = "spec.yaml") -> Path:
    body = TINY_SPEC.replace("DESIGN", design).replace("N", str(n)).replace("REPS", str(reps))
    return write_spec(tmp_path, body, name)


def app():
    from sim.cli import app as main_app
    from sim.cli.sweep import register

    a = typer.Typer()
    a.registered_commands = list(main_app.registered_commands)
    register(a)
    return a


# ------------------------------------------------------------------------------------------ design
@pytest.mark.parametrize(("design", "n", "second", "expected"), [
    ("sobol", 8, False, 8 * (3 + 2)),
    ("sobol", 8, True, 8 * (2 * 3 + 2)),
    ("morris", 5, False, 5 * (3 + 1)),
    ("lhs", 7, False, 7),
    ("grid", 1, False, 3 * 3 * 3),  # grid_points defaults to 3 per ranged parameter
])
def test_design_sizes(tmp_path, design, n, second, expected):
    p = tiny_spec(tmp_path, design, n, reps=2)
    if second:
        p.write_text(p.read_text().replace(f"n: {n}}}", f"n: {n}, second_order: true}}"))
    ls = load_spec(p)
    assert design_size(ls.spec) == expected
    runs = expand(ls)
    assert len(runs) == expected * 2 * 2  # x 2 policies (tpp levels) x 2 replications
    assert {r.policy_index for r in runs} == {0, 1}
    # replications share seeds across points (common random numbers), and differ from each other
    seeds = {r.replication: r.seed for r in runs}
    assert len(set(seeds.values())) == 2
    assert all(r.seed == seeds[r.replication] for r in runs)


def test_seeds_come_from_seedsequence_spawn(tmp_path):
    ls = load_spec(tiny_spec(tmp_path, reps=3))
    children = np.random.SeedSequence(42).spawn(3)
    want = [int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children]
    assert sorted({r.seed for r in expand(ls)}) == sorted(want)


@pytest.mark.parametrize("crn", [True, False])
def test_run_and_point_ids_are_the_hashes_of_their_contents(tmp_path, crn):
    """run_id = sha256(JSON of [model fingerprint, base hash, values, seed])[:16], point_id = sha256(JSON of
    values)[:12] (sorted keys, no spaces), however expand assembles the JSON: stores keep these ids."""
    import hashlib

    from sim.engine.version import model_fingerprint

    def h(obj) -> str:
        return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()

    p = tiny_spec(tmp_path, "lhs", 6, reps=2)
    if not crn:
        p.write_text(p.read_text().replace("replications: 2", "replications: 2\ncommon_random_numbers: false"))
    ls = load_spec(p)
    runs = expand(ls)
    assert len({r.seed for r in runs}) == (2 if crn else len(runs))
    for r in runs:
        assert r.run_id == h([model_fingerprint(), ls.base_hash, r.values, r.seed])[:16]
        assert r.point_id == h(r.values)[:12]


def test_levers_cross_uncertainty_sample(tmp_path):
    ls = load_spec(tiny_spec(tmp_path, "lhs", 5))
    runs = expand(ls)
    by_policy = {}
    for r in runs:
        by_policy.setdefault(r.policy_index, []).append((r.values["die_yield"], r.values["flop"]))
    assert by_policy[0] == by_policy[1]  # same scenarios under each policy (EMA's scenarios x policies)
    assert {r.values["tpp"] for r in runs} == {2400, 4800}


# ------------------------------------------------------------------------------------ dotted paths
def _leaves(d, prefix=()):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _leaves(v, (*prefix, str(k)))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _leaves(v, (*prefix, str(i)))
    else:
        yield ".".join(prefix), d


@pytest.mark.parametrize(("path", "value"), [
    ("nodes.smic.allocation.ascend910b.die_yield", 0.31),
    ("rules.us_2022_10.scope.items.0.tpp_min", 1234.0),
    ("labs.lab-cn.jobs.job1.flop", 4.5e23),
    ("nodes.sg-hub.grey.markup", 0.9),
])
def test_dotted_path_changes_exactly_that_value(tiny_scenario, path, value):
    base = tiny_scenario.model_dump(by_alias=True)
    changed = apply_point(base, [(path, value)]).model_dump(by_alias=True)
    before, after = dict(_leaves(base)), dict(_leaves(changed))
    diff = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert diff
    assert all(k.startswith(path) for k in diff), diff
    got = get_path(changed, path)
    assert got == value or (isinstance(got, dict) and got.get("value") == value)


def test_path_errors_are_clear(tiny_scenario):
    base = tiny_scenario.model_dump(by_alias=True)
    with pytest.raises(PathError, match="did you mean 'die_yield'"):
        set_path(base, "nodes.smic.allocation.ascend910b.die_yeild", 0.3)
    with pytest.raises(PathError, match="index 5 out of range"):
        get_path(base, "rules.us_2022_10.scope.items.5.tpp_min")
    with pytest.raises(PathError, match="not a mapping or list"):
        get_path(base, "labs.lab-cn.jobs.job1.flop.x")


def test_bad_path_exits_2_with_file_line(tmp_path, runner):
    p = tiny_spec(tmp_path)
    p.write_text(p.read_text().replace("ascend910b.die_yield", "ascend910b.die_yeild"))
    line = next(i for i, s in enumerate(p.read_text().splitlines(), 1) if "die_yeild" in s)
    res = runner.invoke(app(), ["sweep", str(p), "--store", str(tmp_path / "st")])
    assert res.exit_code == 2
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1
    assert lines[0].startswith(f"{_shown(p)}:{line}: uncertainties.die_yield.path: ")
    assert "die_yeild" in lines[0]
    assert "did you mean 'die_yield'" in lines[0]
    assert not (tmp_path / "st").exists()  # nothing ran


def test_spec_schema_errors_list_every_problem(tmp_path):
    p = write_spec(tmp_path, """\
        name: bad
        base: BASE
        design: {kind: sobol, n: 6}
        replications: 0
        uncertainties:
          y: {path: nodes.smic.allocation.ascend910b.die_yield, low: 0.8, high: 0.2}
          z: {path: labs.lab-cn.jobs.job1.flop, levles: [1, 2]}
    """)
    with pytest.raises(ScenarioError) as e:
        load_spec(p)
    text = "\n".join(map(str, e.value.problems))
    assert "design" in text
    assert "power of 2" in text
    assert "replications" in text
    assert "low must be below high" in text
    assert "unknown key 'levles'" in text
    assert all(str(x).split(":")[1].isdigit() for x in e.value.problems)


def test_invalid_extreme_value_caught_at_load(tmp_path):
    p = tiny_spec(tmp_path)
    p.write_text(p.read_text().replace("low: 0.2, high: 0.8", "low: 0.2, high: 1.8"))
    with pytest.raises(ScenarioError, match="uncertainties.die_yield: value 1.8 makes the scenario invalid"):
        load_spec(p)


def test_kpi_patterns_treat_brackets_literally():
    m = kpi_matcher(["job_finish_day[lab-cn/job1]", "delivered_units[*/CN]"])
    assert m.match("job_finish_day[lab-cn/job1]")
    assert not m.match("job_finish_day[lab-cn/job2]")
    assert m.match("delivered_units[lab-cn/CN]")
    assert not m.match("delivered_units[lab-cn/US]")


# ---------------------------------------------------------------------------------------- executors
def _kpis(store: Path) -> pd.DataFrame:
    inputs, outputs = Store(store).frames()
    return inputs[["run_id", "seed", "die_yield", "flop"]].join(outputs.drop(columns="run_id"))


def test_serial_and_local_give_identical_kpi_tables(tmp_path):
    spec = tiny_spec(tmp_path, "sobol", 2)
    r1 = run_sweep(spec, tmp_path / "serial", executor="serial")
    r2 = run_sweep(spec, tmp_path / "local", executor="local", workers=2, chunk_size=3)
    assert r1.done == r2.done == r1.total == 2 * 2 * (3 + 2)
    a, b = _kpis(tmp_path / "serial"), _kpis(tmp_path / "local")
    assert a["job_finish_day[lab-cn/job1]"].nunique() > 3  # the sweep really varies the job
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.timeout(60)
def test_dask_localcluster_gives_identical_kpi_table(tmp_path):
    pytest.importorskip("dask.distributed")
    spec = tiny_spec(tmp_path, "lhs", 4)
    run_sweep(spec, tmp_path / "serial", executor="serial")
    t0 = time.perf_counter()
    r = run_sweep(spec, tmp_path / "dask", executor="dask", workers=2, chunk_size=2)
    assert time.perf_counter() - t0 < 30
    assert r.done == r.total == 8
    assert r.failed == 0
    pd.testing.assert_frame_equal(_kpis(tmp_path / "serial"), _kpis(tmp_path / "dask"))


# ------------------------------------------------------------------------------ resume / extend
def test_resume_after_limit_runs_each_id_once(tmp_path):
    spec = tiny_spec(tmp_path, "lhs", 6)
    store = tmp_path / "st"
    first = run_sweep(spec, store, executor="serial", limit=5, chunk_size=2)
    assert (first.done, first.remaining) == (5, 0)
    assert first.total == 12
    before = Store(store).results().set_index("run_id")
    second = run_sweep(spec, store, executor="serial", chunk_size=2)
    assert (second.skipped, second.done) == (5, 7)
    after = Store(store).results().set_index("run_id")
    assert len(after) == 12
    assert after.index.is_unique
    # nothing that was done was recomputed: its record (chunk number, timing) is untouched
    pd.testing.assert_frame_equal(after.loc[before.index, ["chunk", "elapsed_s"]], before[["chunk", "elapsed_s"]])
    third = run_sweep(spec, store, executor="serial")
    assert (third.done, third.skipped) == (0, 12)
    import duckdb

    con = duckdb.connect(str(store / "catalogue.duckdb"), read_only=True)
    try:
        n, distinct = con.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchall()[0]
        cols = [r[0] for r in con.execute("DESCRIBE runs").fetchall()]
    finally:
        con.close()
    assert n == distinct == 12
    for c in ("sweep_id", "run_id", "point_id", "replication", "seed", "status", "die_yield", "blocked_units"):
        assert c in cols


def test_killed_sweep_resumes_with_every_id_once(tmp_path):
    spec = tiny_spec(tmp_path, "lhs", 20, reps=2)  # 80 runs
    store = tmp_path / "st"
    code = ("from sim.cli import app; from sim.cli.sweep import register; register(app); app()")
    proc = subprocess.Popen([sys.executable, "-c", code, "sweep", str(spec), "--store", str(store), "--executor",
                             "serial", "--chunk-size", "2"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline and len(list((store / "runs").glob("part-*.parquet"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up
    proc.wait()
    done_before = len(Store(store).results())
    assert 0 < done_before < 80
    assert not list((store / "runs").glob("*.parquet.tmp"))  # temp names are hidden dot-files anyway
    r = run_sweep(spec, store, executor="serial")
    assert r.skipped == done_before
    assert r.done == 80 - done_before
    res = Store(store).results()
    assert len(res) == 80
    assert res["run_id"].is_unique
    assert (res["status"] == "ok").all()


def test_extend_adds_replications_and_points(tmp_path, runner):
    store = tmp_path / "st"
    spec = tiny_spec(tmp_path, "sobol", 2, reps=1)
    assert run_sweep(spec, store, executor="serial").done == 20
    spec = tiny_spec(tmp_path, "sobol", 2, reps=2)
    with pytest.raises(SweepError, match="--extend"):
        run_sweep(spec, store, executor="serial")
    res = runner.invoke(app(), ["sweep", str(spec), "--store", str(store), "--executor", "serial"])
    assert res.exit_code == 2
    assert "--extend" in res.output
    r = run_sweep(spec, store, executor="serial", extend=True)
    assert (r.skipped, r.done) == (20, 20)
    spec = tiny_spec(tmp_path, "sobol", 4, reps=2)  # Saltelli samples are nested: the first 2 are reused
    r = run_sweep(spec, store, executor="serial", extend=True)
    assert (r.skipped, r.done) == (40, 40)
    inputs, outputs = Store(store).frames()
    assert len(inputs) == 80
    assert inputs["run_id"].is_unique
    # a different sweep in the same store is refused
    other = tiny_spec(tmp_path, "lhs", 4, name="other.yaml")
    with pytest.raises(SweepError, match="different spec"):
        run_sweep(other, store, executor="serial")


def test_extend_lhs_adds_a_block(tmp_path):
    store = tmp_path / "st"
    run_sweep(tiny_spec(tmp_path, "lhs", 3), store, executor="serial")
    r = run_sweep(tiny_spec(tmp_path, "lhs", 5), store, executor="serial", extend=True)
    assert (r.skipped, r.done) == (6, 4)
    assert Store(store).meta["lhs_blocks"] == [3, 2]


# ------------------------------------------------------------------------------------ failures
class _Boom(Exception):
    pass


def test_failing_run_is_recorded_and_the_rest_complete(tmp_path, monkeypatch):
    import sim.results.simulation

    real = sim.results.simulation.Simulation

    class Flaky(real):
        def run(self, *a, **kw):
            if self.scenario.rules["us_2022_10"].scope.items[0].tpp_min == 2400:
                raise _Boom("model blew up\nsecond line")
            return super().run(*a, **kw)

    monkeypatch.setattr(sim.results.simulation, "Simulation", Flaky)
    store = tmp_path / "st"
    r = run_sweep(tiny_spec(tmp_path, "lhs", 3), store, executor="serial")
    assert (r.done, r.failed) == (3, 3)
    res = Store(store).results()
    failed = res[res["status"] == "failed"]
    assert len(failed) == 3
    assert (failed["error"] == "_Boom: model blew up second line").all()
    # failures are not retried unless asked; with --retry-failed (and a fixed model) they are replaced
    assert run_sweep(tiny_spec(tmp_path, "lhs", 3), store, executor="serial").done == 0
    monkeypatch.setattr(sim.results.simulation, "Simulation", real)
    r = run_sweep(tiny_spec(tmp_path, "lhs", 3), store, executor="serial", retry_failed=True)
    assert (r.done, r.failed) == (3, 0)
    res = Store(store).results()
    assert len(res) == 6
    assert (res["status"] == "ok").all()


def test_fail_fast_stops(tmp_path, monkeypatch):
    import sim.results.simulation

    class Broken(sim.results.simulation.Simulation):
        def run(self, *a, **kw):
            raise RuntimeError("always")

    monkeypatch.setattr(sim.results.simulation, "Simulation", Broken)
    r = run_sweep(tiny_spec(tmp_path, "lhs", 4), tmp_path / "st", executor="serial", fail_fast=True, chunk_size=2)
    assert r.failed == 2
    assert r.remaining == 6


# ----------------------------------------------------------------------------------------- CLI
def test_cli_sweep_json_summary(tmp_path, runner):
    import json

    spec = tiny_spec(tmp_path, "lhs", 2)
    res = runner.invoke(app(), ["sweep", str(spec), "--store", str(tmp_path / "st"), "--executor", "serial", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["done"] == 4
    assert summary["failed"] == 0
    assert summary["skipped"] == 0
    res = runner.invoke(app(), ["sweep", str(spec), "--store", str(tmp_path / "st"), "--executor", "nope"])
    assert res.exit_code == 2
    assert "--executor" in res.output


def test_keep_tables(tmp_path):
    spec = tiny_spec(tmp_path, "lhs", 2)
    spec.write_text(spec.read_text() + "keep: tables\n")
    run_sweep(spec, tmp_path / "st", executor="serial", chunk_size=1)
    jobs = Store(tmp_path / "st").table("jobs")
    assert set(jobs["run_id"]) == set(Store(tmp_path / "st").results()["run_id"])


def test_example_spec_loads():
    ls = load_spec(REPO / "scenarios" / "sweeps" / "flagship_levers.yaml")
    assert len(expand(ls)) <= 200  # the example stays under a minute on 2 cores


# ------------------------------------------------------------------------------------ model fingerprint
def test_run_ids_carry_the_model_fingerprint(tmp_path, monkeypatch):
    """Another model (version or engine source) gives other run ids: two models' results never share an id."""
    import sim.experiments.sweep.design as design

    ls = load_spec(tiny_spec(tmp_path))
    now = [r.run_id for r in expand(ls)]
    monkeypatch.setattr(design, "model_fingerprint", lambda: "999-000000000000")
    other = [r.run_id for r in expand(ls)]
    assert len(set(now)) == len(now) and not set(now) & set(other)


def test_resuming_a_store_made_by_another_model_is_refused(tmp_path, runner, monkeypatch):
    import sim.experiments.sweep.driver as driver

    spec, store = tiny_spec(tmp_path), tmp_path / "store"
    run_sweep(spec, store, executor="serial", limit=2)
    assert json.loads((store / "sweep.json").read_text())["model"] == driver.model_fingerprint()
    monkeypatch.setattr(driver, "model_fingerprint", lambda: "999-000000000000")
    with pytest.raises(SweepError) as e:
        run_sweep(spec, store, executor="serial")
    assert len(e.value.problems) == 1 and "made by model" in e.value.problems[0]
    res = runner.invoke(app(), ["sweep", str(spec), "--store", str(store), "--executor", "serial"])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "resuming would mix two models' results" in lines[0]


def test_model_fingerprint_follows_the_engine_source(tmp_path, monkeypatch):
    import shutil

    import sim.engine.version as version

    for sub in ("engine", "schema"):
        shutil.copytree(version._SIM / sub, tmp_path / sub, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(version, "_SIM", tmp_path)
    before = version.model_fingerprint()
    assert before.startswith(f"{version.MODEL_VERSION}-")
    (tmp_path / "engine" / "mechanisms" / "supply.py").write_text("# an edit\n", encoding="utf-8")
    assert version.model_fingerprint() != before
    monkeypatch.setattr(version, "MODEL_VERSION", version.MODEL_VERSION + "x")
    assert version.model_fingerprint().startswith(f"{version.MODEL_VERSION}-")


def test_a_kpi_pattern_no_run_produced_is_reported(tmp_path):
    """The KPI names kept are gathered from the ok runs' records: a pattern that matches none of them is reported,
    one that matches is not (nor are the records' own fields: run_id, status, error, elapsed_s)."""
    p = tiny_spec(tmp_path)
    p.write_text(p.read_text().replace('kpis: ["job_*[lab-cn/job1]", blocked_units]',
                                       'kpis: ["job_*[lab-cn/job1]", blocked_units, "no_such_kpi*", elapsed_s]'))
    rep = run_sweep(load_spec(p), tmp_path / "store", executor="serial")
    assert rep.done == rep.total > 0
    assert rep.unmatched_kpis == ["no_such_kpi*", "elapsed_s"]
