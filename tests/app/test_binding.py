"""What binds, in words (sim.experiments.binding), the KPI catalogue, and run ids that change with edits."""

import json
from pathlib import Path

import pytest

from app import levers as lv
from app import services
from sim import Simulation, load_scenario
from sim.experiments import binding
from sim.results import kpi_catalog

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "tests" / "data" / "tiny.yaml")


@pytest.fixture(scope="module")
def tiny():
    s = load_scenario(TINY)
    return s, Simulation(s, seed=7).run()


def test_job_start_reads_the_jobs_table(tiny):
    s, r = tiny
    js = binding.job_start(r, s, "lab-cn")
    assert js.chip == "ascend910b" and js.chips == 200 and js.on_held_chips
    assert js.start_day == pytest.approx(404.0) and not js.at_earliest  # it waited for Ascend chips


def test_explain_run_names_the_start_and_the_packaging_limit(tiny):
    s, r = tiny
    lines = binding.explain_run(r, s, "lab-cn")
    assert lines[0].startswith("lab-cn/job1 starts on 2023-02-09 on 200 ascend910b lab-cn already holds")
    assert "supply after 2023-02-09 cannot change its finish (2023-03-26)" in lines[0]
    assert lines[1] == "Huawei output (huawei-pkg) is limited by packaging capacity (in 12 of 12 months with assembly)."


def test_packaging_binding_counts_hbm_months_on_the_flagship():
    s = load_scenario(ROOT / "scenarios" / "bytedance_ascend.yaml")
    r = Simulation(s, seed=1).run()
    (b,) = binding.packaging_binding(r, s)
    assert b.packager == "huawei-pkg" and b.months == sum(b.by.values())
    assert b.by.get("hbm", 0) > 0 and b.main() == "capacity"  # capacity-bound, HBM in the last months
    js = binding.job_start(r, s, "bytedance")
    assert js.at_earliest and js.on_held_chips and js.chip == "h800"
    lines = binding.explain_no_effect(r, r, s, "bytedance", [("SMIC die yield", "nodes.smic.allocation.ascend910c")])
    assert lines[0].startswith("**SMIC die yield** moves nothing here (the finish date is unchanged): "
                               "bytedance/llm starts on 2024-10-01 on 16,384 h800 bytedance already holds")
    assert "nothing can make it start sooner" in lines[0] and lines[0].endswith("not dies.")


def test_no_effect_is_silent_when_the_finish_moves(tiny):
    s, r = tiny
    data = services._dump(s)
    data["labs"]["lab-cn"]["jobs"]["job1"]["mfu"]["ascend910b"] = {"dist": "constant", "value": 0.1}
    s2 = services._scenario(services.canonical_json(data))
    r2 = Simulation(s2, seed=7).run()
    assert binding.moved(r, r2, s2, "lab-cn")
    assert binding.explain_no_effect(r, r2, s2, "lab-cn", [("MFU", "labs.lab-cn.jobs.job1.mfu.ascend910b")]) == []
    # an MFU on a chip the job does not run on: nothing moves, and the sentence says why
    lines = binding.explain_no_effect(r, r, s, "lab-cn", [("MFU on h100", "labs.lab-cn.jobs.job1.mfu.h100")])
    assert lines == ["**MFU on h100** moves nothing here (the finish date is unchanged): the job runs on ascend910b, "
                     "not h100, so the MFU on h100 is never used."]


def test_kpi_catalogue_has_units_and_definitions():
    for kpi in ("job_cost_usd[a/b]", "job_cost_per_pflop_usd[a/b]", "blocked_units", "domestic_share[a]"):
        d = kpi_catalog.lookup(kpi)
        assert d is not None and d.unit and d.definition, kpi
    assert "capex over the chip's service life" in kpi_catalog.help_text("job_cost_usd[x/y]")
    assert "refused" in kpi_catalog.help_text("blocked_units") and "Futile" in kpi_catalog.help_text("blocked_units")
    assert kpi_catalog.label("job_cost_usd[bytedance/llm]") == "job cost (bytedance/llm)"
    assert kpi_catalog.lookup("no_such_kpi") is None and kpi_catalog.label("no_such_kpi") == "no_such_kpi"


def test_run_ids_change_with_edits_and_only_with_edits():
    data = services.load_file(TINY).data
    plain = services.canonical_json(data)
    assert services.run_id_for(plain, data, 7) is None  # the file as written keeps the engine's id
    assert services.run(plain, 7).run_id == "tiny:7"
    found = lv.discover(data)
    mfu = next(x for x in found if x.id == "mfu:lab-cn:job1:ascend910b")
    a, _ = services.validate(lv.apply(data, found, {mfu.id: 0.2}))
    b, _ = services.validate(lv.apply(data, found, {mfu.id: 0.3}))
    ida, idb = services.run_id_for(a, data, 7), services.run_id_for(b, data, 7)
    assert ida.startswith("tiny@") and ida.endswith(":7") and ida != idb
    assert services.run_id_for(a, data, 7) == ida and services.run_id_for(a, data, 8) == ida[:-2] + ":8"
    from sim.reports.briefing import scenario_hash

    assert ida == f"tiny@{scenario_hash(services._scenario(a))}:7"  # the briefing's one hash of a scenario
    assert services.run(a, 7, ida).run_id == ida


def test_dated_tables_show_dates_not_days(tiny):
    s, r = tiny
    shown = services.dated(r.tables["shipments"], r.start)
    assert all(str(v)[:2] == "20" for v in shown["ship_day"].dropna())
    assert not any(isinstance(v, float) for v in shown["order_day"].dropna())
    frame = services.kpi_frame(r)
    row = frame[frame["kpi"] == "job_finish_day[lab-cn/job1]"].iloc[0]
    assert row["value"] == "2023-03-26" and row["unit"] == "date"
    assert json.dumps(list(frame["value"]))  # plain text


@pytest.mark.parametrize("name", ["tests/data/tiny.yaml", "scenarios/bytedance_ascend.yaml"])
def test_changed_from_file_is_in_words_for_every_lever(name):
    data = services.load_file(str(ROOT / name)).data
    found = lv.discover(data)
    moved = {"toggle": False, "number": 1.0, "date": "2024-03-01", "add_rule": "2026-06-01"}
    for lever in found:
        value = moved.get(lever.kind, lever.high if lever.kind == "scale" else lever.low)
        if lever.kind == "toggle":
            value = not lever.default
        rows = lv.changes(data, lv.apply(data, found, {lever.id: value}))
        assert rows or lever.kind == "scale", lever.id  # 0 × factor is still 0
        for path, old, new in rows:
            for text in (lv.describe(old), lv.describe(new)):
                assert not any(ch in text for ch in "{}[]'"), (lever.id, path, text)
            assert lv.lever_of(found, path) is not None, (lever.id, path)
    tpp = next(x for x in found if x.kind == "number")
    ((path, old, new),) = lv.changes(data, lv.apply(data, found, {tpp.id: 1.0}))
    assert path.endswith(".tpp_min") and lv.describe(new) == "1"
