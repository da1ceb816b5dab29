"""Chokepoint ranking: "no impact" in words instead of an all-zero chart, Spearman never "nan", progress reported."""

import datetime as dt
import math
from pathlib import Path

from sim import load_scenario
from sim.experiments import chokepoints

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny.yaml"


def test_after_the_job_nothing_matters_and_rho_is_explained():
    s = load_scenario(TINY)
    calls = []
    rep = chokepoints.rank(s, lab="lab-cn", since=dt.date(2023, 6, 1), replications=2,
                           progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1]  # progress reaches the end
    text = chokepoints.no_impact(rep, why="the job has finished by then")
    assert text.startswith("no impact: none of the ") and "from 2023-06-01 moves the finish of lab-cn/job1" in text
    assert text.endswith("(every impact is exactly 0 at R = 2): the job has finished by then")
    assert math.isnan(rep.spearman["rho"])
    rho = chokepoints.spearman_text(rep)
    assert rho.startswith("undefined: every one of the") and "nan" not in rho


def test_a_ranking_with_an_impact_keeps_its_chart():
    s = load_scenario(TINY)
    rep = chokepoints.rank(s, lab="lab-cn", since=dt.date(2022, 6, 1), replications=2)
    assert chokepoints.no_impact(rep) is None
    assert chokepoints.spearman_text(rep).startswith("+1.00")


def test_network_page_says_no_impact_in_words(tiny_app):
    at = tiny_app.run()
    at.switch_page("app_pages/network.py").run()
    at.slider(key="net_date").set_value(dt.date(2023, 6, 1)).run()
    at.number_input(key="net_choke_reps").set_value(2).run()
    at.button(key="net_choke_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [c for c in at.get("plotly_chart") if c.proto.id and "net_choke_chart" in c.proto.id]
    (info,) = [i.value for i in at.info if "impact" in i.value]
    assert info.startswith("No impact: none of the") and "lab-cn/job1 starts on 2023-02-09" in info
    caption = next(c.value for c in at.caption if "Spearman" in c.value)
    assert "undefined: every one of the" in caption and "nan" not in caption
