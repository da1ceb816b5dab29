"""AppTest (streamlit.testing.v1): every page renders, levers change KPIs, bad scenarios show error lists."""

import json
from pathlib import Path

import pytest
import yaml

from app import levers as lv
from app import services

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "tests" / "data" / "tiny.yaml")

PAGES = ["answer", "scenario", "run", "compare", "network", "sweep", "briefing"]
MFU_LEVER = "scn_lever:mfu:lab-cn:job1:ascend910b"


def finish_card(at) -> str:
    return next(m.value for m in at.metric if m.label == "lab-cn/job1 finishes")


def test_entrypoint_opens_the_answer_page(tiny_app):
    at = tiny_app.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.header[0].value == "Answer"
    assert "Does the October 2022 rule slow lab-cn's job?" in at.info[0].value
    at.switch_page("app_pages/scenario.py").run()
    assert at.header[0].value == "Scenario"
    assert "Does the October 2022 rule slow lab-cn's job?" in at.info[0].value


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(tiny_app, page):
    at = tiny_app.run()
    at.switch_page("app_pages/scenario.py").run()  # the Answer page opens first
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.header[0].value


def test_run_page_shows_kpi_cards_and_charts(tiny_app):
    at = tiny_app.run()
    at.switch_page("app_pages/scenario.py").run()  # the Answer page opens first
    at.switch_page("app_pages/run.py").run()
    labels = [m.label for m in at.metric]
    assert {"lab-cn/job1 finishes", "Domestic share of compute", "Chips blocked (denied + refused)",
            "Chips seized"} <= set(labels)
    charts = at.get("plotly_chart")
    assert len(charts) == 5
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in charts]
    assert any(t.startswith("Installed fleet of lab-cn") for t in titles)


def test_mfu_lever_moves_the_finish_date(tiny_app):
    at = tiny_app.run()
    at.switch_page("app_pages/scenario.py").run()  # the Answer page opens first
    at.switch_page("app_pages/run.py").run()
    before = finish_card(at)
    at.switch_page("app_pages/scenario.py").run()
    at.slider(key=MFU_LEVER).set_value(0.1).run()
    assert not at.exception
    changed = at.dataframe[0].value
    assert "labs.lab-cn.jobs.job1.mfu.ascend910b" in set(changed["field"])
    at.switch_page("app_pages/run.py").run()  # the lever value survives the page switch
    after = finish_card(at)
    assert not at.exception
    assert after > before, (before, after)


def test_rule_toggle_removes_the_rule(tiny_app):
    at = tiny_app.run()
    at.switch_page("app_pages/scenario.py").run()  # the Answer page opens first
    at.toggle(key="scn_lever:rule_on:us_2022_10").set_value(False).run()
    assert not at.exception
    assert "rules.us_2022_10" in set(at.dataframe[0].value["field"])
    at.switch_page("app_pages/network.py").run()
    assert not at.exception
    assert "0 rule(s) in force" in at.caption[0].value


def test_reset_restores_the_file(tiny_app):
    at = tiny_app.run()
    at.switch_page("app_pages/scenario.py").run()  # the Answer page opens first
    at.slider(key=MFU_LEVER).set_value(0.2).run()
    at.button(key="scn_reset").click().run()
    assert not at.exception
    assert at.slider(key=MFU_LEVER).value == pytest.approx(0.4)
    assert any("No changes" in c.value for c in at.caption)


def test_malformed_upload_shows_one_line_errors_not_a_traceback(tiny_app):
    at = tiny_app.run()
    at.switch_page("app_pages/scenario.py").run()  # the Answer page opens first
    bad = b"name: bad\nstart: 2022-01-01\nend: 2021-01-01\nchips:\n  x: {vendr: nvidia}\n"
    at.file_uploader(key="scn_upload").upload("bad.yaml", bad, "application/x-yaml").run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors
    assert "bad.yaml was not loaded" in errors[0]
    assert "bad.yaml:" in errors[0]
    assert "Traceback" not in errors[0]


def test_valid_upload_becomes_the_open_scenario(tiny_app):
    at = tiny_app.run()
    at.switch_page("app_pages/scenario.py").run()  # the Answer page opens first
    text = Path(TINY).read_bytes().replace(b"name: tiny", b"name: tiny_uploaded")
    at.file_uploader(key="scn_upload").upload("mine.yaml", text, "application/x-yaml").run()
    assert not at.exception
    assert at.subheader[0].value == "tiny_uploaded"
    at.switch_page("app_pages/run.py").run()
    assert not at.exception
    assert "tiny_uploaded" in at.caption[0].value
    assert "run `tiny_uploaded@" in at.status[0].label  # an upload's run id comes from its content


def test_invalid_scenario_file_shows_its_problems_on_every_page(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(services, "DEFAULT_SCENARIO", str(ROOT / "tests" / "malformed" / "bad_date_format.yaml"))
    at = AppTest.from_file(str(ROOT / "app" / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.error  # the Answer page (first) lists the problems too
    at.switch_page("app_pages/scenario.py").run()
    assert not at.exception
    assert any("does not load" in e.value for e in at.error)
    at.switch_page("app_pages/run.py").run()
    assert not at.exception
    assert at.error


def test_compare_page_runs_paired_replications(tiny_app):
    at = tiny_app.run()
    at.switch_page("app_pages/scenario.py").run()  # the Answer page opens first
    at.switch_page("app_pages/compare.py").run()
    at.slider(key="cmp_reps").set_value(3).run()
    at.button(key="cmp_run").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    row = table[table["KPI"] == "job_finish_day[lab-cn/job1]"].iloc[0]
    assert row["R"] == 3
    assert row["scenario"].startswith("20") and row["difference (mean)"].endswith(" d")  # dates, not day numbers


def test_network_date_slider(tiny_app):
    import datetime as dt

    at = tiny_app.run()
    at.switch_page("app_pages/scenario.py").run()  # the Answer page opens first
    at.switch_page("app_pages/network.py").run()
    at.slider(key="net_date").set_value(dt.date(2022, 1, 2)).run()
    assert not at.exception
    assert "0 rule(s) in force" in at.caption[0].value


# --------------------------------------------------------------------- services and levers, no UI

def test_upload_size_cap():
    loaded = services.load_upload("big.yaml", b"#" * (services.UPLOAD_LIMIT_BYTES + 1))
    assert not loaded.ok
    assert "limit" in loaded.problems[0]


def test_upload_may_include_catalogue_fragments():
    text = (ROOT / "scenarios" / "bytedance_ascend.yaml").read_bytes()
    assert services.load_upload("flagship_copy.yaml", text).ok


@pytest.mark.parametrize("name", ["bytedance_ascend.yaml", "tiny"])
def test_downloaded_yaml_round_trips(name):
    path = TINY if name == "tiny" else str(ROOT / "scenarios" / name)
    loaded = services.load_file(path)
    text = services.to_yaml(loaded.data)
    again = services.load_upload("again.yaml", text.encode())
    assert again.ok, again.problems
    assert again.data == loaded.data


def test_every_lever_of_the_flagship_validates_when_moved():
    data = services.load_file(str(ROOT / "scenarios" / "bytedance_ascend.yaml")).data
    found = lv.discover(data)
    kinds = {lever.kind for lever in found}
    assert kinds == {"toggle", "date", "number", "constant", "scale", "add_rule"}
    moved = {"toggle": False, "date": "2024-06-01", "number": 3000.0, "constant": 0.33, "scale": 1.5,
             "add_rule": "2026-07-01"}
    for lever in found:
        edited = lv.apply(data, found, {lever.id: moved[lever.kind]})
        scenario_json, problems = services.validate(edited)
        assert lv.changes(data, edited) or lever.kind == "scale", lever.id  # 0 × factor is still 0
        if lever.kind != "date":  # an effective date may legitimately precede announcement checks
            assert scenario_json is not None, (lever.id, problems)


def test_changes_lists_dotted_paths():
    mfu = {"dist": "uniform", "low": 0.3, "high": 0.5}
    a = {"rules": {"r": {"effective": "2022-10-07"}}, "labs": {"x": {"mfu": mfu}}}
    b = {"rules": {}, "labs": {"x": {"mfu": {"dist": "constant", "value": 0.4}}}}
    assert [c[0] for c in lv.changes(a, b)] == ["rules.r", "labs.x.mfu"]


def test_scaling_a_series_keeps_shares_at_most_one():
    series = [{"since": "2022-01-01", "value": {"dist": "uniform", "low": 0.3, "high": 0.6}}]
    out = lv.scale_quantity(series, 3.0, cap=1.0)
    assert out[0]["value"] == {"dist": "uniform", "low": pytest.approx(0.9), "high": 1.0}


def test_yaml_download_is_plain_yaml():
    data = services.load_file(TINY).data
    assert yaml.safe_load(services.to_yaml(data))["name"] == "tiny"


def test_briefing_page_offers_the_document(tiny_app, monkeypatch):
    monkeypatch.setenv("EXPORTSIM_NO_STATIC_CHARTS", "1")  # no browser start-up here; tests/test_briefing.py covers it
    at = tiny_app.run()
    at.switch_page("app_pages/scenario.py").run()  # the Answer page opens first
    at.switch_page("app_pages/briefing.py").run()
    at.slider(key="brf_reps").set_value(2).run()
    at.button(key="brf_build").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("With the rules in force, lab-cn's" in m.value for m in at.markdown)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels[:2] == ["Markdown (zip with charts)", "HTML (interactive, offline)"]


def test_network_page_ranks_simulated_chokepoints(tiny_app):
    at = tiny_app.run()
    at.switch_page("app_pages/scenario.py").run()  # the Answer page opens first
    at.switch_page("app_pages/network.py").run()
    at.number_input(key="net_choke_reps").set_value(2).run()
    at.button(key="net_choke_go").click().run()
    assert not at.exception
    charts = [c for c in at.get("plotly_chart") if c.proto.id and "net_choke_chart" in c.proto.id]
    assert charts, "the chokepoint chart is shown"
    assert any("Spearman" in c.value for c in at.caption)


def test_briefing_of_an_edited_scenario_reproduces_from_the_saved_edit(tiny_app, monkeypatch, tmp_path):
    """A lever moved: the page offers the edit as a file, and the document's reproduce line runs that file as
    printed (saved under the offered name, from the repository root) and gives the same answer."""
    import io
    import os
    import re
    import subprocess
    import sys
    import zipfile

    monkeypatch.setenv("EXPORTSIM_NO_STATIC_CHARTS", "1")
    at = tiny_app.run()
    at.switch_page("app_pages/scenario.py").run()
    at.slider(key=MFU_LEVER).set_value(0.1).run()
    at.switch_page("app_pages/briefing.py").run()
    offers = {b.proto.label: b for b in at.get("download_button")}
    label = next(k for k in offers if k.startswith("Download the edited scenario (tiny_edited.yaml)"))
    at.slider(key="brf_reps").set_value(2).run()
    at.button(key="brf_build").click().run()
    assert not at.exception, [e.value for e in at.exception]
    state = at.session_state
    current_json, seed = state["brf_last"][0], state["brf_last"][1]
    brief = services.briefing(current_json, seed, 2, "policy", state["brf_last"][4], edited=True)
    md = brief.files["md"]
    text = zipfile.ZipFile(io.BytesIO(md[1])).read("tiny_brief.md").decode()
    line = re.search(r"exportsim brief tiny_edited\.yaml[^\n`]*", text).group(0)
    saved = tmp_path / "tiny_edited.yaml"
    saved.write_text(services.to_yaml(json.loads(current_json)))
    assert label  # the offered file is what the line names
    args = line.split()[1:]  # brief tiny_edited.yaml --audience ... (as printed, the file where it was saved)
    args[1] = str(saved)
    out = tmp_path / "again.md"
    p = subprocess.run([sys.executable, "-m", "sim.cli", *args, "--format", "md", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "EXPORTSIM_NO_STATIC_CHARTS": "1"})
    assert p.returncode == 0, p.stderr[-500:]
    again = out.read_text()
    first = text.split("## The answer", 1)[1].split("\n## ", 1)[0]
    assert again.split("## The answer", 1)[1].split("\n## ", 1)[0] == first
