"""The Answer page shows the options study of `exportsim options`: the same numbers for the same scenario, seed, R."""

import json
from pathlib import Path

from typer.testing import CliRunner

from app import services

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
TINY = str(DATA / "tiny.yaml")
OPTS = [str(DATA / "tiny_variant.yaml"), str(DATA / "tiny_renamed.yaml"), str(DATA / "tiny_lever.yaml")]


def test_cli_json_equals_the_dashboard_service():
    from sim.cli.main import app

    args = ["options", TINY, "--replications", "3", "--seed", "11", "--json"] + sum((["--option", o] for o in OPTS), [])
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    cli = json.loads(res.stdout)
    loaded = services.load_file(TINY)
    ui = services.options_study(services.canonical_json(loaded.data), TINY, tuple(OPTS), 3, 11, "lab")
    assert cli == ui
    assert [r["option"] for r in ui["rows"]] == ["baseline", "no_rules", "tiny_variant", "tiny_renamed", "tiny_lever"]
    # the page's table is the CLI's table of text
    from sim.reports import options as fmt

    assert services.options_table(ui).to_dict("records") == fmt.table(cli)


def test_answer_page_shows_the_question_table_and_chart(tiny_app):
    at = tiny_app.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.header[0].value == "Answer"
    table = at.dataframe[0].value
    assert list(table["option"])[:2] == ["baseline (tiny)", "counterfactual: no rules"]
    assert table["finish date (95 % CI)"].str.match(r"20\d\d-\d\d-\d\d").all()
    assert any("R = 10" in s.value for s in at.subheader)
    limits = [e for e in at.expander if e.label.startswith("What limits the baseline")]
    assert limits and "limited by packaging capacity" in " ".join(m.value for m in limits[0].markdown)
    at.button(key="ans_sens").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert (len(at.dataframe) > 1 and "flips the sign" in at.dataframe[1].value.columns) or any(
        "nothing to swing" in i.value for i in at.info)


MFU = "mfu:lab-cn:job1:ascend910b"


def test_a_shared_link_opens_the_same_view(tiny_app):
    at = tiny_app
    at.query_params["scenario"] = "tests/data/tiny.yaml"
    at.query_params["seed"] = "9"
    at.query_params[f"lever.{MFU}"] = "0.3"
    at.query_params["lever.rule_on:us_2022_10"] = "0"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="seed").value == 9
    assert any("2 lever(s) changed" in c.value for c in at.caption)
    at.switch_page("app_pages/scenario.py").run()
    assert at.slider(key=f"scn_lever:{MFU}").value == 0.3
    assert at.toggle(key="scn_lever:rule_on:us_2022_10").value is False
    # and the address bar carries the state on
    assert at.query_params["seed"] in ("9", ["9"])


def test_a_bad_link_says_so_in_one_line(tiny_app):
    at = tiny_app
    at.query_params["seed"] = "x"
    at.query_params["lever.nope"] = "1"
    at.run()
    assert not at.exception
    assert sum("Link:" in w.value for w in at.warning) == 2


def test_the_picker_offers_only_scenarios():
    names = [services.short_name(f) for f in services.scenario_files()]
    assert "observed.yaml" not in names and "bytedance_ascend.yaml" in names
