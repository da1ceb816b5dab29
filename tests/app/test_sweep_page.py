"""Sweep explorer (AppTest): a tiny sweep store of tests/data/tiny.yaml opens with every chart and table;
missing, empty and corrupt stores show a readable error, never a traceback."""

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from app import services

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app" / "streamlit_app.py")
TINY = ROOT / "tests" / "data" / "tiny.yaml"

SPEC = """\
    name: tiny_page
    base: {base}
    seed: 11
    design: {{kind: {kind}, n: {n}}}
    levers:
      tpp: {{path: rules.us_2022_10.scope.items.0.tpp_min, levels: [2400, 4800]}}
    uncertainties:
      die_yield: {{path: nodes.smic.allocation.ascend910b.die_yield, low: 0.2, high: 0.8}}
      grey: {{path: nodes.sg-hub.grey.share_of_denied, low: 0.0, high: 0.3}}
      flop: {{path: labs.lab-cn.jobs.job1.flop, dist: loguniform, low: 3.0e+22, high: 3.0e+23}}
    kpis: ["job_*[lab-cn/job1]", blocked_units, grey_units]
"""


def _sweep(base: Path, name: str, kind: str, n: int, limit: int | None = None) -> Path:
    from sim.experiments.sweep import run_sweep

    spec = base / f"{name}.yaml"
    spec.write_text(textwrap.dedent(SPEC.format(base=TINY, kind=kind, n=n)))
    store = base / "sweeps" / name
    run_sweep(spec, store, executor="serial", limit=limit)
    return store


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    """An LHS store (2 policies x 6 points), a Sobol store (2 x 2 x 5), the same stopped after 7 runs, and
    an empty one (no run yet)."""
    base = tmp_path_factory.mktemp("sweep_page")
    empty = _sweep(base, "empty", "lhs", 4, limit=0)
    partial = _sweep(base, "partial", "sobol", 2, limit=7)  # a sweep stopped early (or still running)
    sobol = _sweep(base, "sobol", "sobol", 2)
    return {"empty": empty, "partial": partial, "sobol": sobol,
            "lhs": _sweep(base, "lhs", "lhs", 6)}  # lhs is the newest


@pytest.fixture
def sweep_app(monkeypatch, stores):
    """The dashboard on tiny.yaml, finding only the test stores; opened on the sweep page."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(services, "DEFAULT_SCENARIO", str(TINY))
    monkeypatch.setattr(services, "SWEEP_DIRS", [stores["lhs"].parent])

    def open_page(path: Path | str | None = None):
        at = AppTest.from_file(APP, default_timeout=60).run()
        if path is not None:
            at.session_state["swp_path"] = str(path)
        at.switch_page("app_pages/sweep.py").run()
        return at

    return open_page


def _titles(at) -> list[str]:
    return [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]


def _chart(at, prefix: str) -> dict:
    """The plotly spec of the first chart whose title starts with *prefix*."""
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(s for s in specs if s["layout"].get("title", {}).get("text", "").startswith(prefix))


def _frames(at) -> list:
    return [d.value for d in at.dataframe]


def _errors(at) -> list[str]:
    return [e.value for e in at.error]


def test_lhs_store_shows_counts_scatter_sensitivity_and_prim(sweep_app, stores):
    at = sweep_app()  # the newest store found is opened by default
    assert not at.exception, [e.value for e in at.exception]
    assert not _errors(at), _errors(at)
    assert at.subheader[0].value.startswith("tiny_page-")
    cards = {m.label: m.value for m in at.metric}
    assert cards["Planned runs"] == "12"
    assert cards["Done"] == "12"
    assert cards["Failed"] == "0"
    titles = _titles(at)
    scatter = _chart(at, "Against ")
    assert scatter["layout"]["yaxis"]["title"]["text"] == "job_finish_day[lab-cn/job1]"
    assert {t["name"] for t in scatter["data"]} == {"tpp=2400", "tpp=4800"}  # coloured by lever setting
    assert _chart(at, "Every run as a line")["data"][0]["type"] == "parcoords"
    assert any(t.startswith("Spearman rank correlation") for t in titles), titles
    sensitivity = next(f for f in _frames(at) if "Spearman ρ" in f.columns)
    assert set(sensitivity["factor"]) == {"tpp", "die_yield", "grey", "flop"}
    assert sensitivity["Spearman ρ"].abs().max() <= 1.0
    assert any("runs meet" in m.value for m in at.markdown)


def test_sobol_store_shows_indices_with_intervals(sweep_app, stores):
    at = sweep_app(stores["sobol"])
    assert not at.exception, [e.value for e in at.exception]
    assert any(t.startswith("Sobol indices") for t in _titles(at)), _titles(at)
    table = next(f for f in _frames(at) if "factor" in f.columns)
    assert {"policy", "S1", "ST", "ST 95 % low", "ST 95 % high"} <= set(table.columns)
    assert set(table["factor"]) == {"die_yield", "grey", "flop"}  # the lever is crossed, not a factor
    assert set(table["policy"]) == {"tpp=2400", "tpp=4800"}


def test_unfinished_sobol_sweep_falls_back_to_rank_correlations(sweep_app, stores):
    at = sweep_app(stores["partial"])
    assert not at.exception, [e.value for e in at.exception]
    cards = {m.label: m.value for m in at.metric}
    assert (cards["Planned runs"], cards["Done"], cards["Not run yet"]) == ("20", "7", "13")
    assert any("Sobol indices are not available" in w.value for w in at.warning)
    assert any(t.startswith("Spearman rank correlation") for t in _titles(at))


def test_kpi_and_condition_change_the_analysis(sweep_app, stores):
    at = sweep_app(stores["lhs"])
    at.selectbox(key="swp_kpi").set_value("blocked_units").run()
    assert not at.exception
    assert _chart(at, "Against ")["layout"]["yaxis"]["title"]["text"] == "blocked_units"
    cond = next(t for t in at.text_input if t.key and t.key.startswith("swp_cond:"))
    cond.set_value("> -1").run()  # every run: no box can concentrate them
    assert not at.exception
    assert any("12** of 12 runs meet" in m.value for m in at.markdown)
    cond = next(t for t in at.text_input if t.key and t.key.startswith("swp_cond:"))
    cond.set_value("more than ten").run()
    assert not at.exception
    assert any("Condition not usable" in e for e in _errors(at))


def test_one_run_is_rebuilt_and_reproduced(sweep_app, stores):
    at = sweep_app(stores["lhs"])
    run_id = services.open_sweep(str(stores["lhs"])).points["run_id"].iloc[0]
    at.selectbox(key="swp_run").set_value(run_id).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("re-run reproduces the stored KPIs exactly" in c.value for c in at.caption)
    assert any(t.startswith("Installed fleet of lab-cn") for t in _titles(at))


def test_missing_store_shows_an_error(sweep_app, tmp_path):
    at = sweep_app(tmp_path / "no_such_store")
    assert not at.exception
    assert any("no such folder" in e for e in _errors(at)), _errors(at)


def test_corrupt_stores_show_errors_not_tracebacks(sweep_app, stores, tmp_path):
    not_json = tmp_path / "not_json"
    shutil.copytree(stores["lhs"], not_json)
    (not_json / "sweep.json").write_text("{ this is not json")
    bad_parquet = tmp_path / "bad_parquet"
    shutil.copytree(stores["lhs"], bad_parquet)
    next((bad_parquet / "runs").glob("*.parquet")).write_bytes(b"PAR1 garbage")
    plain = tmp_path / "plain_folder"
    plain.mkdir()
    # a damaged sweep.json is an error that says how to repair it; a damaged runs file is left out with a one-line
    # warning (the store reader quarantines it); a plain folder is not a store
    for folder, words in ((not_json, "damaged"), (bad_parquet, "damaged"), (plain, "not a sweep store")):
        at = sweep_app(folder)
        assert not at.exception, (folder, [e.value for e in at.exception])
        said = _errors(at) + [w.value for w in at.warning]
        assert any(words in e for e in said), (folder, said)
        assert not any("Traceback" in e for e in said)


def test_empty_store_says_nothing_has_run(sweep_app, stores):
    at = sweep_app(stores["empty"])
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Not run yet"] == "8"
    assert any("No run has finished" in w.value for w in at.warning)


def test_no_store_found_explains_how_to_make_one(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(services, "DEFAULT_SCENARIO", str(TINY))
    monkeypatch.setattr(services, "SWEEP_DIRS", [tmp_path])
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("app_pages/sweep.py").run()
    assert not at.exception
    assert any("exportsim sweep" in i.value for i in at.info)


def test_services_list_stores_newest_first(stores, monkeypatch):
    monkeypatch.setattr(services, "SWEEP_DIRS", [stores["lhs"].parent])
    found = services.sweep_stores()
    assert [Path(p).name for p in found] == ["lhs", "sobol", "partial", "empty"]
    assert services.open_sweep(found[0]).ok


def test_day_kpis_are_dates_on_the_charts_and_in_the_table(sweep_app, stores):
    """A finish day reads as a calendar date (the base scenario's start + days), not a day number."""
    import datetime as dt

    import yaml

    start = yaml.safe_load(TINY.read_text())["start"]
    start = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))
    at = sweep_app(stores["lhs"])
    assert not at.exception, [e.value for e in at.exception]
    scatter = _chart(at, "Against ")
    ys = [y for t in scatter["data"] for y in (t.get("y") or [])]
    assert ys and all(isinstance(y, str) and y[:4].isdigit() and y[4] == "-" for y in ys), ys[:3]
    assert min(dt.date.fromisoformat(y[:10]) for y in ys) >= start
    table = next(f for f in _frames(at) if "p50" in f.columns)
    assert all(hasattr(v, "year") for v in table["p50"].dropna()), table["p50"].tolist()
    at.selectbox(key="swp_kpi").set_value("blocked_units").run()  # not a day: numbers (plotly may pack them)
    for t in _chart(at, "Against ")["data"]:
        y = t.get("y")
        assert isinstance(y, dict) or all(isinstance(v, (int, float)) for v in y), y
