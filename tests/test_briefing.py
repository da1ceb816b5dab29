"""Briefings (sim/reports/briefing/): sections, number provenance, HTML/PDF/Markdown output, the brief command.

The provenance test is the point: it renders a briefing, takes every number out of the Markdown and
fails when one is not printed by a fact of the ledger, when a fact disagrees with the runs it names,
or when changing a KPI in the runs leaves the text unchanged.
"""

from __future__ import annotations

import copy
import json
import re
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.reports.briefing import BriefingError, build, collect, format_value, render_pngs
from sim.reports.briefing.decision import BODY_TITLES
from sim.reports.briefing.sections import SECTION_TITLES

TESTS = Path(__file__).resolve().parent
TINY = TESTS / "data" / "tiny.yaml"

# a number: digits with optional thousands separators, decimals, exponent, sign; not part of a word (h100, us_2022)
NUMBER = re.compile(r"(?<![\w.])[-+\u2212]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])")
IDENT_CODE = re.compile(r"`[A-Za-z_][^`\s]*`")  # inline code holding one identifier (KPI name, path, fact name)
LINK_TARGET = re.compile(r"\]\([^)]*\)")
CHECKED_KINDS = ("run", "paired", "runtext", "swing", "backtest", "compare", "sweep", "study", "tipping")


def untraced_numbers(md: str, facts: dict) -> list[str]:
    """Numbers left in *md* once every fact's text (where it stands as a whole) is taken out."""
    text = LINK_TARGET.sub("]", md)
    for f in sorted(facts.values(), key=lambda f: -len(f.text)):
        if f.text:
            text = re.sub(r"(?<![0-9A-Za-z.])" + re.escape(f.text) + r"(?![0-9A-Za-z])", " ", text)
    text = IDENT_CODE.sub(" ", text)
    return NUMBER.findall(text)


def check_facts_agree(b) -> int:
    """Every fact naming runs recomputes to its value, and its text is its formatter's output."""
    n = 0
    for f in b.facts.values():
        if f.kind not in CHECKED_KINDS:
            continue
        again = b.recompute(f)
        if isinstance(f.value, float) and isinstance(again, float):
            assert again == pytest.approx(f.value, nan_ok=True, rel=1e-12), f.name
        else:
            assert again == f.value, f.name
        if f.fmt != "text":
            assert format_value(f.fmt, f.value, b.ledger.ctx) == f.text, f.name
        n += 1
    return n


@pytest.fixture(scope="module", autouse=True)
def _no_browser_by_default():
    """Static charts (kaleido + chromium, seconds) only where a test asks for them."""
    mp = pytest.MonkeyPatch()
    mp.setenv("EXPORTSIM_NO_STATIC_CHARTS", "1")
    yield
    mp.undo()


@pytest.fixture(scope="module")
def rich_dir(tmp_path_factory) -> Path:
    """tiny.yaml with uncertain inputs and a rule that bites (H100 denied from March 2022), plus an option file."""
    d = tmp_path_factory.mktemp("rich")
    (d / "rich.yaml").write_text(textwrap.dedent(f"""\
        extends: {TINY}
        name: rich
        rules:
          us_2022_10:
            announced: 2022-03-01
            effective: 2022-03-01
        labs:
          lab-cn:
            jobs:
              job1:
                chips: [h100, ascend910b]
                mfu:
                  h100: {{dist: uniform, low: 0.3, high: 0.5, source: T1}}
                  ascend910b: {{dist: uniform, low: 0.2, high: 0.5, source: [T3, ASSUMPTION-ascend-mfu]}}
                restart_hours: {{dist: triangular, low: 0.25, mode: 0.5, high: 2.0, source: T9}}
        """))
    (d / "rich_only.yaml").write_text("extends: rich.yaml\nname: rich_only\n"
                                      "labs: {lab-cn: {jobs: {job1: {chips: [ascend910b]}}}}\n")
    (d / "rich_mix.yaml").write_text("extends: rich.yaml\nname: rich_mix\n"
                                     "labs: {lab-cn: {jobs: {job1: {cluster_size: {min: 100, max: 300}}}}}\n")
    # a policy lever (not a scenario: its rules are laid on the baseline): the rule from the start of 2022
    (d / "strict_enforcement.yaml").write_text(textwrap.dedent("""\
        name: strict_enforcement
        rules:
          us_2022_10:
            announced: 2022-01-01
            effective: 2022-01-01
        """))
    return d


@pytest.fixture(scope="module")
def tiny_brief():
    return build(collect(TINY, "policy", 3))


@pytest.fixture(scope="module")
def rich_policy(rich_dir):
    return build(collect(rich_dir / "rich.yaml", "policy", 3))


@pytest.fixture(scope="module")
def rich_lab(rich_dir):
    return build(collect(rich_dir / "rich.yaml", "lab", 3))


# ----------------------------------------------------------------------------------- content
def test_markdown_has_every_section(tiny_brief):
    md = tiny_brief.markdown()
    for title in BODY_TITLES.values():
        assert f"\n## {title}\n" in md, title
    assert "## Appendix C: where each number comes from" in md
    assert "Does the October 2022 rule slow lab-cn's job?" in md
    answer = md.split("## The answer")[1].split("\n## ")[0]
    assert "With the rules in force, lab-cn's 1e23-FLOP training run finishes on" in answer
    assert [ln[:len("- Answer.")] for ln in answer.strip().splitlines() if ln.startswith("- ")][:1] == ["- Answer."]
    assert "- Confidence: " in answer and "- Recommended action. " in answer
    assert "exportsim brief" in md.split("## Appendix B: reproduce")[1]


@pytest.mark.parametrize("which", ["tiny_brief", "rich_policy", "rich_lab"])
def test_every_number_in_the_markdown_is_a_fact(which, request):
    b = request.getfixturevalue(which)
    md = b.markdown()
    assert untraced_numbers(md, b.facts) == []
    assert check_facts_agree(b) > 20


def test_the_number_check_catches_a_stray_number(tiny_brief):
    md = tiny_brief.markdown().replace("## The answer", "## The answer\n\nAbout 42 chips.")
    assert untraced_numbers(md, tiny_brief.facts) == ["42"]


def test_a_changed_result_changes_the_text(rich_policy):
    data = copy.deepcopy(rich_policy.data)
    base = next(r for r in data.options_study["rows"] if r["option"] == "baseline")
    base["finish_day"]["mean"] += 92.0  # three months later
    b = build(data)
    before, after = rich_policy.markdown(), b.markdown()
    assert before != after
    old = rich_policy.facts["options.baseline.finish_day.mean"]
    new = b.facts["options.baseline.finish_day.mean"]
    assert new.value == pytest.approx(old.value + 92.0)
    assert new.text != old.text
    assert new.text in after.split("## The options")[0]
    assert untraced_numbers(after, b.facts) == []
    check_facts_agree(b)


def test_the_title_states_the_finding_with_a_number(rich_policy, rich_lab):
    for b in (rich_policy, rich_lab):
        title = b.context["title_text"]
        assert title.startswith("The rules ")
        delay = b.facts["headline.delay.abs"]
        assert delay.text in title or "do not delay" in title
        assert NUMBER.search(title.replace(b.facts["scenario.job_flop"].text, "")), title
        assert b.markdown().startswith(f"# {title}\n")


def test_lab_and_policy_get_different_options_and_bottom_lines(rich_policy, rich_lab):
    lab = [r["option"] for r in rich_lab.data.options_study["rows"]]
    pol = [r["option"] for r in rich_policy.data.options_study["rows"]]
    assert lab != pol
    assert "rich_only" in lab and "rich_only" not in pol
    assert "strict_enforcement" in pol and "strict_enforcement" not in lab  # a tightening lever, policy only
    assert next(r for r in rich_policy.data.options_study["rows"] if r["option"] == "strict_enforcement")["kind"] \
        == "lever"
    bottom = [b.markdown().split("## The answer")[1].split("\n## ")[0] for b in (rich_lab, rich_policy)]
    action = [x.split("- Recommended action. ")[1] for x in bottom]
    assert action[0] != action[1]
    assert "(tightening)" in rich_policy.markdown().split("## The options")[1].split("\n## ")[0]


def test_the_remote_access_ban_is_paired_with_the_strategy_that_rents():
    """The flagship's mix rents nothing abroad, so a ban laid on it cannot bite (tests/test_reach.py): both
    audiences compare renting abroad against renting with remote access closed, named as such."""
    from sim.reports.briefing.collect import default_options
    from sim.reports.briefing.decision import LEVER_DIRECTION, option_name

    flagship = Path("scenarios/bytedance_ascend.yaml")
    policy = [p.stem for p in default_options(flagship, "policy")]
    lab = [p.stem for p in default_options(flagship, "lab")]
    assert policy[:2] == ["bytedance_ascend_rent", "bytedance_ascend_rent_no_remote"]
    assert "remote_access_ban" in policy and "bytedance_ascend_no_remote" not in policy + lab
    assert lab[-1] == "bytedance_ascend_rent_no_remote"
    assert option_name("bytedance_ascend_rent_no_remote", {}, "bytedance_ascend") == \
        "Rent Nvidia abroad with remote access closed at the run's start"
    assert LEVER_DIRECTION["_rent_no_remote"] == "tightening"


@pytest.mark.parametrize("which", ["tiny_brief", "rich_policy", "rich_lab"])
def test_no_fractional_chips_and_dates_not_day_numbers(which, request):
    b = request.getfixturevalue(which)
    md = b.markdown().split("## Appendix C")[0]
    assert not re.search(r"\d\.\d+\)?\s*(chips|GPUs|accelerators)\b", md)
    for f in b.facts.values():
        if f.fmt == "count" and f.value == f.value and f.value is not None:
            assert "." not in f.text or "million" in f.text, (f.name, f.text)
    assert not re.search(r"\bday \d", md) and "% of counterfactual" not in md
    options = md.split("## The options")[1].split("\n## ")[0]
    assert "mean of the paired differences" in options and "t interval" in options


def test_the_backtest_rows_that_bear_on_the_run_are_traced_and_signed(rich_policy):
    from sim.experiments.backtest import BacktestRow

    data = copy.deepcopy(rich_policy.data)
    row = {"description": "Nvidia H100 chips lab-cn received in 2022", "unit": "chips", "source": "X1",
           "published_low": 900.0, "published_high": 1200.0, "published_central": None, "simulated_p10": 100.0,
           "simulated_p90": 300.0, "replications": 3, "missing": 0, "scenario": "history.yaml"}
    data.backtest = [
        BacktestRow(observable="h100_2022", simulated_median=200.0, inside=False, **row),
        BacktestRow(observable="ref_hours", description="H100-hours of a reference run", unit="GPU-hours",
                    source="T1", published_low=10.0, published_high=12.0, published_central=None,
                    simulated_median=15.0, simulated_p10=14.0, simulated_p90=16.0, inside=False, replications=3,
                    missing=0, scenario="reference/ref.yaml"),
        BacktestRow(observable="other", simulated_median=1000.0, inside=True,
                    **(row | {"description": "Something about soybeans"})),
    ]
    b = build(data)
    md = b.markdown()
    trust = md.split("## How far to trust it")[1].split("\n## ")[0]
    if "H100" in (b.facts.get("options.baseline.chip_mode") or b.facts["scenario.name"]).text:
        assert "the delay is, if anything, overstated" in trust
    assert "dates are likely late in both worlds" in trust
    assert "soybeans" not in trust
    assert untraced_numbers(md, b.facts) == []
    check_facts_agree(b)


def test_body_is_at_most_six_pages(rich_lab):
    pytest.importorskip("weasyprint")
    body, total = rich_lab.page_count()  # charts switched off here: the flagship with charts is in docs/examples
    assert 1 <= body <= 6 and total > body


def test_deterministic(tiny_brief):
    again = build(collect(TINY, "policy", 3))
    assert again.markdown() == tiny_brief.markdown()


# ----------------------------------------------------------------------------------- formats
def test_html_is_self_contained_with_interactive_charts(tiny_brief):
    html = tiny_brief.html()
    assert html.count('class="plotly-graph-div') >= 2
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|<img[^>]+src=\"http", html)  # opens offline
    assert "Plotly.newPlot" in html
    assert len(html) > 3_000_000
    assert 'data-fact="options.baseline.finish_day.mean"' in html
    facts = json.loads(re.search(r'<script type="application/json" id="exportsim-facts">(.*?)</script>', html,
                                 re.S).group(1))
    assert {f["name"] for f in facts["facts"]} >= {"options.baseline.finish_day.mean", "repro.hash"}
    for t in BODY_TITLES.values():
        assert f"<h2>{t}</h2>" in html
    for c in tiny_brief.charts:  # margins that keep axis labels in the picture
        assert c.figure.layout.xaxis.automargin and c.figure.layout.yaxis.automargin, c.name


def test_pdf_is_a_pdf(tiny_brief):
    pytest.importorskip("weasyprint")
    pdf = tiny_brief.pdf()  # charts switched off here: a note instead, no crash
    assert pdf.startswith(b"%PDF")


def test_static_charts_in_markdown_and_pdf(rich_lab, monkeypatch):
    pytest.importorskip("weasyprint")
    monkeypatch.delenv("EXPORTSIM_NO_STATIC_CHARTS")
    pngs, why = render_pngs(rich_lab.charts)
    if why:
        pytest.skip(why)
    assert len(pngs) >= 2
    assert all(p.startswith(b"\x89PNG") for p in pngs.values())
    b = build(rich_lab.data)
    b._png = pngs  # the batched render above, reused
    files = b.render("md", "brief")
    assert [n for n in files if n.endswith(".png")]
    assert "![" in files["brief.md"].decode()
    assert b.pdf().startswith(b"%PDF")


def test_no_browser_means_no_charts_not_a_crash(rich_lab, monkeypatch):
    b = build(rich_lab.data)
    md = b.markdown()  # EXPORTSIM_NO_STATIC_CHARTS is set: the fallback path
    assert "Charts are not included" in md
    assert untraced_numbers(md, b.facts) == []


# ----------------------------------------------------------------------------------- other targets
def _app():
    from sim.cli import app
    from sim.cli.brief import register

    if not any(c.name == "brief" for c in app.registered_commands):
        register(app)
    return app


def test_compare_result_target(tmp_path):
    runner = CliRunner()
    res = runner.invoke(_app(), ["compare", str(TINY), "--without-rules", "--replications", "2", "--json"])
    assert res.exit_code == 0, res.output
    path = tmp_path / "cmp.json"
    path.write_text(res.stdout)
    b = build(collect(path, "policy"))
    md = b.markdown()
    for title in SECTION_TITLES.values():
        assert f"## {title}" in md
    assert untraced_numbers(md, b.facts) == []
    check_facts_agree(b)


def test_sweep_store_target(tmp_path):
    from sim.experiments.sweep import run_sweep

    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent(f"""\
        name: tiny_sweep
        base: {TINY}
        seed: 42
        design: {{kind: lhs, n: 6}}
        replications: 1
        levers:
          tpp: {{path: rules.us_2022_10.scope.items.0.tpp_min, levels: [2400, 4800]}}
        uncertainties:
          flop: {{path: labs.lab-cn.jobs.job1.flop, dist: loguniform, low: 3.0e+22, high: 3.0e+23}}
          mfu: {{path: labs.lab-cn.jobs.job1.mfu.ascend910b, low: 0.2, high: 0.5}}
        kpis: ["job_*[lab-cn/job1]", blocked_units]
        """))
    run_sweep(spec, tmp_path / "store", executor="serial")
    b = build(collect(tmp_path / "store", "policy"))
    md = b.markdown()
    assert "## What drives the result" in md
    assert "Spearman" in md
    assert "flop (the job's size: a fixed choice of the study, not a driver)" in md
    assert untraced_numbers(md, b.facts) == []
    check_facts_agree(b)


# ----------------------------------------------------------------------------------- the command
@pytest.mark.parametrize(("args", "message"), [
    (["nowhere.yaml"], "nowhere.yaml:1: -: no such file or directory"),
    ([str(TINY), "--format", "docx"], "--format: must be html, pdf or md, got 'docx'"),
    ([str(TINY), "--audience", "press"], "--audience: must be policy or lab, got 'press'"),
    ([str(TESTS / "data")], "a directory but not a sweep store"),
    ([str(TESTS / "malformed" / "bad_date_format.yaml")], "bad_date_format.yaml:"),
])
def test_bad_target_exits_2_with_one_line(args, message):
    res = CliRunner().invoke(_app(), ["brief", *args])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) >= 1
    assert message in lines[0]
    assert "Traceback" not in res.output
    if "malformed" not in args[0]:
        assert len(lines) == 1


def test_command_writes_markdown_with_its_ledger(tmp_path):
    out = tmp_path / "b" / "tiny.md"
    res = CliRunner().invoke(_app(), ["brief", str(TINY), "--replications", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"wrote {out}" in res.stdout
    assert out.read_text().startswith("# The rules ")
    assert json.loads((tmp_path / "b" / "tiny_files" / "facts.json").read_text())


def test_api_rejects_bad_replications():
    with pytest.raises(BriefingError):
        collect(TINY, "policy", 0)


def test_a_difference_is_a_lower_bound_when_the_option_does_not_finish():
    """An unfinished job is counted at the horizon, so its delay against a run that finished is 'at least'."""
    from types import SimpleNamespace

    from sim.reports.briefing.decision import _at_least

    S = SimpleNamespace(R=3, rows={"baseline": {"finished": 3}, "rent": {"finished": 3},
                                   "closed": {"finished": 0}, "late": {"finished": 2}})
    assert _at_least(S, "closed", "rent") == ["at least "]
    assert _at_least(S, "late", None) == ["at least "]  # measured against the baseline
    assert _at_least(S, "rent", None) == []
    assert _at_least(S, "closed", "late") == []  # both censored: no bound either way


def test_the_policy_title_names_the_lever_a_strategy_variant_applies():
    """Renting with remote access closed is a strategy variant: the policy title names what it changes (closing
    remote access) and the strategy it is measured on, with 'at least' when the variant never finishes."""
    from types import SimpleNamespace

    from sim.reports.briefing.decision import Study, _title_clause
    from sim.reports.briefing.model import Ledger

    d = {"mean": 600.0, "ci_low": 500.0, "ci_high": 700.0, "n": 2}

    def row(option, finished, vs=None):
        return {"option": option, "lab": "bytedance", "job": "llm", "finished": finished, "file": f"{option}.yaml",
                "diff_days": d, "vs_parent": {"option": vs, "diff_days": d} if vs else None}

    study = {"replications": 2, "rows": [row("baseline", 2), row("bytedance_ascend_rent", 2),
                                          row("bytedance_ascend_rent_no_remote", 0, vs="bytedance_ascend_rent")]}
    data = SimpleNamespace(audience="policy", world=SimpleNamespace(name="bytedance_ascend"), options_study=study,
                           replications=2)
    L = Ledger({})
    S = Study(L, data)
    words = "".join(x if isinstance(x, str) else x.text
                    for x in _title_clause(data, S, ["bytedance_ascend_rent_no_remote"], None))
    assert words.startswith("; of the tightening levers, closing remote access at the run's start delays it most, "
                            "by at least ")
    assert words.endswith(" days on Rent Nvidia abroad")
    assert S.change("bytedance_ascend_rent") is None  # a strategy, not a change to another
    assert S.lever("bytedance_ascend_rent_no_remote").text == "closing remote access at the run's start"
    assert S.lever("bytedance_ascend_rent").text == "Rent Nvidia abroad"  # the answer and the action name levers so
