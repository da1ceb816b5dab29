"""Why an option equals the run it is compared with (sim.experiments.reach), and where the reason is shown:
the options study's rows, the CLI's note column and the briefing's notes."""

from __future__ import annotations

import json
from pathlib import Path

from sim import load_scenario
from sim.experiments import reach
from sim.experiments.options import options_study
from sim.reports import options as fmt
from sim.scenario.loader import scenario_from_dict

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny.yaml"

REMOTE = {"announced": "2022-01-01", "effective": "2022-01-02",
          "scope": {"items": [{"tpp_min": 4800}], "buyer_hq": ["CN"], "channels": ["remote"]},
          "treatment": {"kind": "deny"}}
SALE = {"announced": "2022-01-01", "effective": "2022-01-02",
        "scope": {"items": [{"tpp_min": 100}], "destinations": ["CN"]}, "treatment": {"kind": "deny"}}


def _with_rule(rid: str, rule: dict, **dates) -> object:
    d = load_scenario(TINY).model_dump(by_alias=True, mode="json")
    d["rules"][rid] = {**rule, **dates}
    return scenario_from_dict(d)


def test_changed_rules_names_added_and_edited_rules_only():
    base = load_scenario(TINY)
    assert reach.changed_rules(base, base) == []
    assert reach.changed_rules(base, _with_rule("x_remote", REMOTE)) == ["x_remote"]
    later = base.model_dump(by_alias=True, mode="json")
    later["rules"]["us_2022_10"]["effective"] = "2023-01-01"
    assert reach.changed_rules(base, scenario_from_dict(later)) == ["us_2022_10"]
    assert reach.changed_rules(base, load_scenario(DATA / "tiny_renamed.yaml")) is None  # edits a lab: no reason
    assert reach.changed_rules(_with_rule("x_remote", REMOTE), base) is None  # removes a rule: no reason


def test_each_reason_and_when_there_is_none():
    base = load_scenario(TINY)
    remote = _with_rule("x_remote", REMOTE)
    text = reach.why_same(base, remote, "the baseline", [0.0, 0.0, 0.0], [300.0, 310.0, 320.0])
    assert text == ("the baseline rents nothing abroad on any of 3 seeds, so a remote-access rule (x_remote) cannot "
                    "reach it")
    assert reach.why_same(base, remote, "the baseline", [0.0, 0.2, 0.0], [300.0, 310.0, 320.0]) is None
    sale = _with_rule("x_sale", SALE)
    assert reach.why_same(base, sale, "the baseline", [0.0] * 3, [300.0, 310.0, 320.0]) is None
    late = _with_rule("x_sale", SALE, announced="2022-11-01", effective="2022-12-01")  # day 334 of 2022
    text = reach.why_same(base, late, "the baseline", [0.5] * 3, [300.0, 310.0, 320.0])
    assert text == ("x_sale takes effect on 2022-12-01, after the job has finished on every seed (the latest finish "
                    "is 2022-11-17)")
    assert reach.why_same(base, late, "the baseline", [0.5] * 3, [300.0, 340.0, 320.0]) is None
    gone = _with_rule("x_sale", SALE, rescinded="2022-01-01")
    assert reach.why_same(base, gone, "the baseline", [0.5] * 3, [300.0] * 3) == (
        "x_sale is rescinded before it takes effect")


def test_the_study_the_cli_note_and_the_briefing_give_the_reason(tmp_path):
    variant = tmp_path / "tiny_remote.yaml"  # tiny's lab owns Ascend and has no cloud: a remote ban cannot bite
    variant.write_text(f"extends: {TINY}\nname: tiny-remote\nrules:\n  x_remote:\n"
                       + "".join(f"    {line}\n" for line in json.dumps(REMOTE).splitlines()))
    more = tmp_path / "tiny_remote_more.yaml"  # a variant of the variant: compared with it too
    more.write_text(f"extends: {variant}\nname: tiny-remote-more\nrules:\n  x_remote:\n    effective: 2022-03-01\n")
    st = options_study(load_scenario(TINY), TINY, [variant, more], replications=2)
    row, child = st.row("tiny_remote"), st.row("tiny_remote_more")
    assert row.job_unchanged  # (and identical: the ban never fires, so every KPI is the baseline's)
    assert row.why_same is not None and "rents nothing abroad on any of 2 seeds" in row.why_same
    assert row.why_same.startswith("the baseline ")
    assert child.vs_parent["option"] == "tiny_remote"
    assert child.vs_parent["why_same"].startswith("that option rents nothing abroad")
    rows = json.loads(json.dumps(st.to_dict()))["rows"]
    notes = {r["option"]: fmt.note_cell(r, 2) for r in rows}
    assert "cannot reach it" in notes["tiny_remote_more"]
    assert "the same finish and cost on every seed" in notes["tiny_remote_more"]
    assert st.row("baseline").why_same is None and st.row("no_rules").why_same is None  # no_rules removes rules

    from sim.reports.briefing import build, collect

    md = build(collect(TINY, "lab", 2, options=[variant, more], backtest=False)).markdown()
    assert " on every seed: that option rents nothing abroad on any of 2 seeds" in md
    assert "moves 0 days" not in md


def test_closing_remote_access_reaches_the_rent_option_and_not_the_mix():
    """The flagship's remote-access lever bites where the run rents abroad (b) and cannot where it does not (c):
    the reason the mix-with-remote-closed option gives is what the runs do (seed 20240930, the study's first)."""
    from sim.results.simulation import Simulation

    root = Path(__file__).resolve().parents[1] / "scenarios"
    seed = 20240930
    rent = Simulation(load_scenario(root / "bytedance_ascend_rent.yaml"), seed).run()
    closed = Simulation(load_scenario(root / "bytedance_ascend_rent_no_remote.yaml"), seed).run()
    assert rent.kpis["job_finished[bytedance/llm_rent]"] == 1 and rent.kpis["job_rented_share[bytedance/llm_rent]"] > 0
    assert closed.kpis["job_finished[bytedance/llm_rent]"] == 0  # a rent-only job with every rental denied
    tried = closed.tables["rentals"][closed.tables["rentals"]["tenant"] == "bytedance"]
    assert len(tried) > 0 and set(zip(tried["status"], tried["rule"], strict=True)) == {
        ("refused", "us_2026_remote_access")}  # it asks, and the rule refuses every request
    for r, reasons in ((rent, ["no option: no cluster of 8,192"]),
                       (closed, ["no option: no cluster of 8,192", "no option granted: 1 tried, each refused"])):
        ev = r.tables["events"]
        waits = ev[(ev["actor"] == "bytedance") & (ev["kind"] == "job_wait")]
        assert waits["day"].iloc[0] == 1004.0  # the job's earliest start (2024-10-01): why it does not start
        first = waits.iloc[0]  # in numbers: no region holds a cluster within bytedance's share of it
        assert 0 < first["value"] < 8192
        assert f"most rentable in one region: {int(first['value']):,} " in first["detail"]
        for want in reasons:  # a rent-only job says why it waits, once per change of the reason
            assert waits["detail"].str.contains(want, regex=False).sum() == 1, want
    mix = Simulation(load_scenario(root / "bytedance_ascend_mix.yaml"), seed).run()
    mix_closed = Simulation(load_scenario(root / "bytedance_ascend_no_remote.yaml"), seed).run()
    assert mix.kpis["job_rented_share[bytedance/llm]"] == 0
    key = "job_finish_or_horizon_day[bytedance/llm]"
    assert mix_closed.kpis[key] == mix.kpis[key]


def test_the_study_says_why_a_job_waits_and_the_briefing_says_it_once():
    """The rent option's job cannot start at its earliest start (no region rents it 8,192 GPUs within its tenant
    share): the study row carries the engine's first job_wait reason, the CLI note prints it, and the briefing
    says it for the rent option only, not again for the option that builds on it with the same wait."""
    from sim.reports.options import waited

    root = Path(__file__).resolve().parents[1] / "scenarios"
    base = root / "bytedance_ascend.yaml"
    st = options_study(load_scenario(base), base, [root / "bytedance_ascend_rent.yaml",
                                                   root / "bytedance_ascend_rent_no_remote.yaml"], replications=1)
    rows = {r["option"]: r for r in json.loads(json.dumps(st.to_dict()))["rows"]}
    assert rows["baseline"]["wait"] is None  # the baseline starts on H800s it holds
    rent, closed = rows["bytedance_ascend_rent"], rows["bytedance_ascend_rent_no_remote"]
    assert {k: rent["wait"][k] for k in ("seeds", "seed", "day", "date")} == {
        "seeds": 1, "seed": 20240930, "day": 1004.0, "date": "2024-10-01"}
    assert rent["wait"]["reason"].startswith("no option: no cluster of 8,192 chips held, on order or rentable now "
                                             "(most rentable in one region: ")
    assert rent["wait"]["reason"].endswith(", within bytedance's tenant share)")
    assert rent["wait"]["blocked"] is True  # nothing could start it (not a choice to wait for chips on order)
    # the no-rent row's unfinished job bounds its difference: the CLI cell and the note against rent say so
    cells = {c["option"]: c for c in fmt.table(st.to_dict())}
    assert cells["bytedance_ascend_rent_no_remote"]["vs baseline, days (95 % CI)"].startswith("at least +")
    assert "extends bytedance_ascend_rent: at least +" in cells["bytedance_ascend_rent_no_remote"]["note"]
    assert "waits for a cluster in 1/1 seeds (first: seed 20240930, 2024-10-01: no option:" in fmt.note_cell(rent, 1)
    assert closed["wait"] == rent["wait"]  # the ban refuses later; the first reason is the same
    assert closed["chip_counts"] == {"none": 1} and closed["cluster_chips"]["missing"] == 1  # it never got chips
    assert "none 1/1" in fmt.chip_cell(closed["chip_counts"], closed["cluster_chips"])
    assert waited(rent) and waited(closed) and not waited(closed, rent)
