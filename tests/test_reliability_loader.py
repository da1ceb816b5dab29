"""Issue 19, loader side: linear extends/include merge, section and file caps, uploads confined to the library,
escaped problem lines, and the run budget (an event estimate refused above a cap)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from sim.cli import app
from sim.scenario import budget
from sim.scenario.loader import (
    MAX_FILES_PER_LOAD,
    MAX_SECTION_ENTRIES,
    LoadProblem,
    ScenarioError,
    load_raw,
    load_scenario,
)

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
TINY = TESTS / "data" / "tiny.yaml"
LIBRARY = ROOT / "scenarios"


def _rules_file(path: Path, n: int, base: Path = TINY) -> Path:
    lines = [f"extends: {base}", "rules:"]
    for i in range(n):
        lines += [f"  r{i}:", "    announced: 2022-10-07", "    effective: 2022-10-07", "    scope:",
                  "      items:", f"        - tpp_min: {4800 + i}", "      destinations: [CN]",
                  "    treatment: {kind: deny}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _seconds(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def test_extends_merge_is_linear(tmp_path):
    """Merging a file of many rules onto a base costs in proportion to its size (it was quadratic: 80-105 s for
    4,000 rules)."""
    small = _rules_file(tmp_path / "small.yaml", 250)
    big = _rules_file(tmp_path / "big.yaml", 2000)
    t_small = min(_seconds(lambda: load_raw(small)) for _ in range(2))
    t_big = min(_seconds(lambda: load_raw(big)) for _ in range(2))
    assert t_big < 8, t_big
    assert t_big < 8 * t_small * 3 + 0.5, (t_small, t_big)  # 8x the input: far from 64x


def test_merged_lines_point_at_the_overriding_file(tmp_path):
    f = _rules_file(tmp_path / "r.yaml", 3)
    data, lines = load_raw(f)
    assert lines[("rules", "r1", "scope", "items", 0, "tpp_min")] == (str(f), 3 + 8 + 5)
    assert lines[("chips", "h100", "name")][0].endswith("tiny.yaml")
    assert "us_2022_10" in data["rules"]


def test_null_deletes_and_replacement_drops_inherited_lines(tmp_path):
    f = tmp_path / "o.yaml"
    f.write_text(f"extends: {TINY}\nrules:\n  us_2022_10:\n    scope:\n      items: [{{tpp_min: 1}}]\n"
                 "chips:\n  h100: null\n")
    data, lines = load_raw(f)
    assert "h100" not in data["chips"]
    assert not any(p[:2] == ("chips", "h100") for p in lines)
    items = ("rules", "us_2022_10", "scope", "items")
    assert data["rules"]["us_2022_10"]["scope"]["items"] == [{"tpp_min": 1}]  # a list is replaced whole
    assert (*items, 0, "interconnect_gb_s_min") not in lines
    assert lines[items] == (str(f), 5)
    assert lines[("rules", "us_2022_10", "treatment")][0].endswith("tiny.yaml")  # merged, not replaced


def test_too_many_rules_is_one_line(tmp_path):
    f = _rules_file(tmp_path / "many.yaml", MAX_SECTION_ENTRIES + 1)
    t0 = time.perf_counter()
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)
    assert time.perf_counter() - t0 < 10
    assert [str(p) for p in info.value.problems] == [
        f"{f}:2: rules: {MAX_SECTION_ENTRIES + 2:,} entries; the limit is {MAX_SECTION_ENTRIES:,} per section"]


def test_a_diamond_of_includes_is_capped(tmp_path):
    """Each level includes the next twice: 2^20 reads without a cap."""
    for i in range(20):
        nxt = f"l{i + 1}.yaml"
        (tmp_path / f"l{i}.yaml").write_text(f"include: [{nxt}, {nxt}]\nk{i}: 1\n")
    (tmp_path / "l20.yaml").write_text("leaf: 1\n")
    t0 = time.perf_counter()
    with pytest.raises(ScenarioError) as info:
        load_raw(tmp_path / "l0.yaml")
    assert time.perf_counter() - t0 < 10
    assert len(info.value.problems) == 1
    assert f"more than {MAX_FILES_PER_LOAD} files" in info.value.problems[0].message


# ------------------------------------------------------------------------------------------ uploads

def _services():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from app import services

    return services


@pytest.mark.parametrize("target", ["/etc/passwd", "../tests/data/tiny.yaml", "/dev/zero"])
def test_upload_cannot_extend_outside_the_library(target):
    services = _services()
    loaded = services.load_upload("up.yaml", f"extends: {target}\nname: x\n".encode())
    assert not loaded.ok
    assert loaded.problems == (f"up.yaml:1: extends: '{target}' is outside the scenario library; an uploaded "
                               "file may extend or include only files in the library",)


def test_upload_cannot_include_through_a_symlink_out_of_the_library(tmp_path):
    services = _services()
    link = LIBRARY / f".test-link-{tmp_path.name}.yaml"
    link.symlink_to("/etc/hostname")
    try:
        loaded = services.load_upload("up.yaml", f"include: [{link.name}]\nname: x\n".encode())
    finally:
        link.unlink()
    assert len(loaded.problems) == 1 and "outside the scenario library" in loaded.problems[0]


def test_upload_may_include_the_catalogue():
    services = _services()
    text = (LIBRARY / "bytedance_ascend.yaml").read_bytes()
    loaded = services.load_upload("mine.yaml", text)
    assert loaded.ok, loaded.problems


# ------------------------------------------------------------------------------ one line per problem

def test_a_newline_in_an_id_cannot_forge_a_second_line(tmp_path, runner, monkeypatch):
    f = tmp_path / "nl.yaml"
    f.write_text(f'extends: {TINY}\nedges:\n  "x\\nforged.yaml:1: fake: line":\n    from: nowhere\n    to: lab-cn\n'
                 "    flow: chips\n")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", "nl.yaml"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("nl.yaml:") and "edges.x\\nforged.yaml:1: fake: line.from: unknown node" in lines[0]


def test_a_newline_in_a_file_name_is_escaped():
    p = LoadProblem("a\nb.yaml", 1, "x\ty", "bad\rvalue")
    assert str(p) == "a\\nb.yaml:1: x\\ty: bad\\rvalue"


# -------------------------------------------------------------------------------------- run budget

def test_library_scenarios_are_far_inside_the_budget():
    for f in sorted(LIBRARY.glob("*.yaml")):
        if f.name == "observed.yaml":
            continue
        est = budget.estimate_events(load_scenario(f))
        assert est.total < budget.MAX_EVENTS / 20, (f.name, est.total)


def test_the_estimate_is_an_upper_estimate(tiny_scenario):
    from sim import Simulation

    sim = Simulation(tiny_scenario, 1)
    sim.run()
    assert sim.events_processed <= budget.estimate_events(tiny_scenario).total


def test_a_scenario_over_the_budget_is_refused_naming_the_field(tmp_path):
    f = tmp_path / "stream.yaml"
    f.write_text(f"extends: {TINY}\nclouds:\n  c:\n    country: MY\nrental_streams:\n  s:\n    cloud: c\n"
                 "    chip: h100\n    arrivals_per_day: 90000\n    mean_duration_days: 1\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)
    (p,) = info.value.problems
    assert (p.line, p.path) == (9, "rental_streams.s.arrivals_per_day")
    assert "over the run budget of 20,000,000" in p.message


def test_a_huge_cluster_failing_every_hour_is_refused(tmp_path):
    f = tmp_path / "mtbf.yaml"
    f.write_text(f"extends: {TINY}\nlabs:\n  lab-cn:\n    jobs:\n      job1:\n        flop: 1.0e+30\n"
                 "        cluster_size: {min: 1, max: 10000000}\n        mtbf_hours_per_chip: {ascend910b: 1}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)
    (p,) = info.value.problems
    assert p.path == "labs.lab-cn.jobs.job1.mtbf_hours_per_chip.ascend910b"


def test_the_cap_can_be_lowered(tiny_scenario, monkeypatch):
    monkeypatch.setenv("EXPORTSIM_MAX_EVENTS", "100")
    assert budget.check_budget(tiny_scenario) is not None
    monkeypatch.setenv("EXPORTSIM_MAX_EVENTS", "not a number")
    assert budget.check_budget(tiny_scenario) is None
