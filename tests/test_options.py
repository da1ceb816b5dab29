"""The options study (sim.experiments.options, exportsim options): pairing, common seeds, flags, JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

from typer.testing import CliRunner

from sim import load_scenario
from sim.cli.main import app
from sim.experiments import estimate
from sim.experiments.options import default_options, is_variant_of, main_jobs, options_study
from sim.reports import options as fmt

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny.yaml"
OPTS = [DATA / "tiny_variant.yaml", DATA / "tiny_renamed.yaml", DATA / "tiny_lever.yaml"]


def _study(R=2):
    return options_study(load_scenario(TINY), TINY, OPTS, replications=R)


def test_rows_pair_the_main_job_across_names_and_use_the_estimator():
    st = _study()
    keys = [r.option for r in st.rows]
    assert keys == ["baseline", "no_rules", "tiny_variant", "tiny_renamed", "tiny_lever"]
    assert st.seeds == [load_scenario(TINY).seed + r for r in range(2)]
    renamed = st.row("tiny_renamed")
    assert renamed.job == "job2" and renamed.kind == "variant"
    assert st.row("tiny_lever").kind == "lever" and st.row("tiny_variant").kind == "variant"
    base = st.row("baseline")
    want = estimate.paired(renamed.finish_days, base.finish_days, "job_finish_or_horizon_day")
    assert math.isclose(renamed.diff_days["mean"], want.mean)
    assert renamed.diff_days["n"] == 2
    assert renamed.finish_date is not None and renamed.finish_date[:2] == "20"
    assert sum(renamed.chip_counts.values()) == 2


def test_identical_option_is_flagged():
    base = load_scenario(TINY)
    st = options_study(base, TINY, [TINY], replications=2)  # the baseline itself as an option (a lever: no extends)
    row = st.rows[-1]
    assert row.identical and row.job_unchanged and row.diff_days["mean"] == 0
    assert "cannot differ by construction" in fmt.note_cell(json.loads(json.dumps(st.to_dict()))["rows"][-1], 2)


def test_variant_detection_and_defaults():
    assert is_variant_of(DATA / "tiny_variant.yaml", TINY)
    assert not is_variant_of(DATA / "tiny_lever.yaml", TINY)
    flagship = Path("scenarios/bytedance_ascend.yaml")
    names = [p.stem for p in default_options(flagship, "lab")]
    assert names == ["bytedance_ascend_only", "bytedance_ascend_rent", "bytedance_ascend_mix",
                     "bytedance_ascend_rent_no_remote"]
    assert "remote_access_ban" in [p.stem for p in default_options(flagship, "policy")]
    assert main_jobs(load_scenario(TINY)) == {"lab-cn": "job1"}


def test_cli_json_matches_the_api_and_text_has_dates():
    runner = CliRunner()
    args = ["options", str(TINY), "--replications", "2"] + sum((["--option", str(o)] for o in OPTS), [])
    res = runner.invoke(app, args + ["--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == json.loads(json.dumps(_study().to_dict()))
    text = runner.invoke(app, args)
    assert text.exit_code == 0, text.output
    assert "R = 2 paired" in " ".join(text.stdout.split()) and "2023-03-" in text.stdout
    bad = runner.invoke(app, ["options", str(TINY), "--option", "nope.yaml"])
    assert bad.exit_code == 2


def test_without_rules_drops_the_references_to_removed_rules():
    import json as _json

    from sim.experiments.compare import without_rules
    from sim.scenario.loader import scenario_from_dict

    s = load_scenario("scenarios/bytedance_ascend.yaml")
    for removed in (["us_2023_10"], ["us_2022_10"], ["us_2022_10", "us_2023_10"]):
        c = without_rules(s, removed)
        assert not set(removed) & set(c.rules)
        assert not set(removed) & set(c.rules["us_2026_01_h200"].overrides)
        scenario_from_dict(_json.loads(_json.dumps(c.model_dump(by_alias=True, mode="json"))))  # validates


def test_compare_display_shows_dates_for_day_kpis():
    import datetime as _dt

    import pandas as pd

    from app import services

    t = pd.DataFrame([{"kpi": "job_finish_day[a/b]", "base_mean": 10.0, "counterfactual_mean": 5.0, "diff_mean": 5.0,
                       "diff_ci_low": 1.0, "diff_ci_high": 9.0, "diff_p10": 2.0, "diff_p90": 8.0, "n_pairs": 3},
                      {"kpi": "domestic_share[a]", "base_mean": 0.5, "counterfactual_mean": 0.25, "diff_mean": 0.25,
                       "diff_ci_low": 0.1, "diff_ci_high": 0.4, "diff_p10": 0.1, "diff_p90": 0.4, "n_pairs": 3}])
    d = services.compare_display(t, _dt.date(2024, 1, 1)).to_dict("records")
    assert d[0]["scenario"] == "2024-01-11" and d[0]["difference (mean)"] == "+5 d"
    assert d[1]["scenario"] == "0.5"


def test_the_briefing_prints_the_same_options_table_as_the_cli():
    from sim.reports.briefing import build, collect
    from sim.reports.briefing.decision import study_value
    from sim.reports.formatting import format_value

    runner = CliRunner()
    args = ["options", str(TINY), "--replications", "2", "--json"] + sum((["--option", str(o)] for o in OPTS), [])
    cli = json.loads(runner.invoke(app, args).stdout)
    data = collect(TINY, "lab", 2, options=OPTS, backtest=False)  # variants and a lever, as the CLI runs them
    assert json.loads(json.dumps(data.options_study)) == cli
    b = build(data)
    md = b.markdown()
    section = md.split("## The options, on the same seeds")[1].split("\n## ")[0]
    study = [f for f in b.facts.values() if f.kind == "study"]
    assert len(study) > 30
    for f in study:  # every options figure in the briefing is the CLI's number, printed by its formatter
        want = study_value(cli, f.prov)
        assert (want == f.value) or (want != want and f.value != f.value), f.name
    for row in cli["rows"]:
        for field in ("finish_day.mean", "cost_usd.mean"):
            fmt_ = "date" if field.startswith("finish") else "usdM"
            text = format_value(fmt_, study_value(cli, {"option": row["option"], "lab": row["lab"],
                                                       "field": field}), b.ledger.ctx)
            assert text in section, (row["option"], field, text)
        if row["diff_days"] is not None:
            text = format_value("days+", row["diff_days"]["mean"], b.ledger.ctx)
            assert f"| {text}" in section, (row["option"], text)


def test_a_variant_of_an_option_is_also_compared_with_it():
    opts = [DATA / "tiny_renamed.yaml", DATA / "tiny_renamed_more.yaml"]
    st = options_study(load_scenario(TINY), TINY, opts, replications=2)
    row = st.row("tiny_renamed_more")
    assert row.vs_parent is not None and row.vs_parent["option"] == "tiny_renamed"
    want = estimate.paired(row.finish_days, st.row("tiny_renamed").finish_days, "job_finish_or_horizon_day")
    assert math.isclose(row.vs_parent["diff_days"]["mean"], want.mean, abs_tol=1e-9)
    assert st.row("tiny_renamed").vs_parent is None  # its parent is the baseline itself


def test_the_table_marks_a_difference_bounded_by_an_unfinished_job():
    """A job unfinished on some seed is counted at the horizon: its difference against a run that finished on every
    seed is a lower bound ("at least"), the mirror case an upper bound, and two censored runs bound nothing; the
    cells say so, against the baseline and in the note against the option a variant extends."""
    d = {"mean": 600.0, "ci_low": 500.0, "ci_high": 700.0}

    def row(option, kind, finished, diff=None, parent=None):
        return {"option": option, "label": option, "kind": kind, "lab": "a", "job": "j", "finished": finished,
                "finish_date": "2027-12-31", "chip_counts": {"h100": 2}, "diff_days": diff, "p_earlier": 0.0,
                "cost_usd": None, "rules_in_window": {},
                "vs_parent": {"option": parent, "diff_days": d} if parent else None}

    R = 2
    rows = [row("baseline", "baseline", 2), row("no_rules", "counterfactual", 2, {"mean": -5.0}),
            row("rent", "variant", 2, d), row("closed", "variant", 0, d, parent="rent"),
            row("late", "variant", 1, d, parent="closed")]
    cells = {c["option"]: c for c in fmt.table({"replications": R, "rows": rows})}
    assert cells["rent"]["vs baseline, days (95 % CI)"] == "+600 [+500, +700]"
    assert cells["closed"]["vs baseline, days (95 % CI)"] == "at least +600 [+500, +700]"
    assert "at least +600 [+500, +700] days against it" in cells["closed"]["note"]
    assert "extends closed: +600 [+500, +700] days against it" in cells["late"]["note"]  # both censored
    assert cells["no_rules"]["vs baseline, days (95 % CI)"] == "-5"
    assert fmt.bound(rows[2], rows[3], R) == "at most"  # the finished run against an unfinished one
    assert fmt.bound(rows[3], rows[4], R) == "" and fmt.bound(rows[3], None, R) == ""
