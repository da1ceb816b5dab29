"""The scenario library: every file validates and runs, catalogue numbers cite sources, diff, backtest."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from sim import Simulation, load_scenario
from sim.experiments.backtest import BacktestRow, backtest, load_observed
from sim.scenario.diff import diff_scenarios
from sim.scenario.loader import _Loader

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
OBSERVED = SCENARIOS / "observed.yaml"
SCENARIO_FILES = sorted(
    p for p in [*SCENARIOS.glob("*.yaml"), *(SCENARIOS / "reference").glob("*.yaml")]
    if not p.name.startswith("_") and p != OBSERVED
)
CALIBRATED_SECTIONS = ("chips", "nodes", "edges", "rules", "labs", "clouds")


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_scenario_validates_and_runs(path: Path) -> None:
    s = load_scenario(path)
    assert s.question.strip(), "every scenario states its question"
    r = Simulation(s, seed=1).run()
    assert r.kpis, "a run returns KPIs"


def test_library_has_the_issue_files() -> None:
    names = {p.name for p in SCENARIO_FILES}
    for f in ("history_2022_2026.yaml", "bytedance_ascend.yaml", "no_controls.yaml", "remote_access_ban.yaml",
              "hbm_squeeze.yaml", "smic_breakthrough.yaml", "diffusion_rule_kept.yaml", "h200_open.yaml",
              "strict_enforcement.yaml", "llama3_405b.yaml", "deepseek_v3.yaml"):
        assert f in names


def test_flagship_job_chooses_its_chip() -> None:
    """The flagship's answer must not come from a hand-written chip list (issue 15): the job is free to choose;
    only the variant that pins the reported Ascend plan lists chips."""
    job = load_scenario(SCENARIOS / "bytedance_ascend.yaml").labs["bytedance"].jobs["llm"]
    assert job.chips == [] and job.objective == "earliest_finish"
    pinned = load_scenario(SCENARIOS / "bytedance_ascend_only.yaml").labs["bytedance"].jobs["llm"]
    assert pinned.chips == ["ascend910b"]


def _unsourced(node: object, path: tuple, sourced: bool, out: list[str]) -> None:
    """Collect numeric leaves with no `source` on their own mapping or an enclosing one."""
    if isinstance(node, dict):
        here = sourced or bool(node.get("source"))
        for k, v in node.items():
            if k != "source":
                _unsourced(v, path + (str(k),), here, out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _unsourced(v, path + (str(i),), sourced, out)
    elif isinstance(node, (int, float)) and not isinstance(node, bool) and not sourced:
        out.append(".".join(path))


@pytest.mark.parametrize("path", sorted((SCENARIOS / "_catalog").glob("*.yaml")), ids=lambda p: p.name)
def test_catalogue_numbers_cite_sources(path: Path) -> None:
    """A calibrated number = any numeric leaf under chips/nodes/edges/rules/labs/clouds of a catalogue
    fragment; it needs a non-empty `source` on its own mapping or an enclosing block (scenarios/README.md)."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (safe loader subclass)
    missing: list[str] = []
    for section in CALIBRATED_SECTIONS:
        for eid, block in (data.get(section) or {}).items():
            _unsourced(block, (section, str(eid)), False, missing)
    assert not missing, f"{path.name}: numbers without a source: {', '.join(missing)}"


def test_source_ids_are_known() -> None:
    """Every source ID cited in the library is a facts.md ID or an ASSUMPTION listed in SOURCES.md."""
    sources_md = (SCENARIOS / "SOURCES.md").read_text(encoding="utf-8")
    cited: set[str] = set()

    def walk(n: object) -> None:
        if isinstance(n, dict):
            for k, v in n.items():
                if k == "source":
                    cited.update([v] if isinstance(v, str) else v)
                else:
                    walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)

    for p in [*SCENARIOS.rglob("*.yaml")]:
        walk(yaml.load(p.read_text(encoding="utf-8"), Loader=_Loader))  # noqa: S506
    unknown = sorted(c for c in cited if f"| {c} |" not in sources_md)
    assert not unknown, f"sources not listed in scenarios/SOURCES.md: {unknown}"


def test_diff_history_vs_no_controls_lists_removed_rules() -> None:
    a = load_scenario(SCENARIOS / "history_2022_2026.yaml")
    b = load_scenario(SCENARIOS / "no_controls.yaml")
    rows = diff_scenarios(a, b)
    removed = {r.path for r in rows if r.new is None}
    us_rules = {f"rules.{rid}" for rid, rule in a.rules.items() if rule.authority == "US"}
    assert us_rules
    assert us_rules <= removed
    assert all(r.old_source for r in rows if r.path in us_rules)
    assert "rules.cn_2025_08_h20_discouraged" not in removed


def test_diff_leaf_change_and_identity() -> None:
    a = load_scenario(SCENARIOS / "history_2022_2026.yaml")
    assert diff_scenarios(a, a) == []
    rows = diff_scenarios(a, load_scenario(SCENARIOS / "diffusion_rule_kept.yaml"))
    assert [(r.path, r.new) for r in rows] == [("rules.us_2025_01_diffusion.rescinded", None)]
    assert rows[0].old == "2025-05-13"
    assert rows[0].old_source == ["E6", "E9"]


def test_observed_validates() -> None:
    obs = load_observed(OBSERVED)
    assert len(obs.observables) >= 8
    for o in obs.observables.values():
        assert o.source
        assert o.low <= o.high


@pytest.fixture(scope="module")
def backtest_rows() -> list[BacktestRow]:
    return backtest(OBSERVED, replications=2)


def test_backtest_rows(backtest_rows: list[BacktestRow]) -> None:
    assert len(backtest_rows) >= 8
    for r in backtest_rows:
        assert r.observable
        assert r.source
        assert r.published_low <= r.published_high
        assert isinstance(r.inside, bool)
        assert r.replications == 2
        if not math.isnan(r.simulated_median):
            assert r.simulated_p10 <= r.simulated_median <= r.simulated_p90


def test_cli_backtest_and_diff(runner, tmp_path: Path) -> None:
    import json

    from sim.cli import app
    from sim.cli.library import register

    if not any(c.name == "diff" for c in app.registered_commands):
        register(app)
    history, no_controls = str(SCENARIOS / "history_2022_2026.yaml"), str(SCENARIOS / "no_controls.yaml")
    res = runner.invoke(app, ["diff", history, no_controls, "--json"])
    assert res.exit_code == 0, res.output
    assert any(c["path"] == "rules.us_2023_10" and c["new"] is None for c in json.loads(res.stdout)["changes"])
    res = runner.invoke(app, ["diff", str(SCENARIOS / "history_2022_2026.yaml"), str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2
    bad = tmp_path / "observed.yaml"
    bad.write_text("observables:\n  x:\n    description: d\n    low: 2\n    high: 1\n    source: T1\n"
                   "    compute: {scenario: nope.yaml, kpi: k}\n")
    res = runner.invoke(app, ["backtest", "--observed", str(bad)])
    assert res.exit_code == 2
