"""Table-driven compliance: which chips are controlled to China on which date, under which treatment.

Uses the real rule catalogue (scenarios/_catalog/rules_us.yaml) through the flagship scenario, a
Chinese buyer headquartered in China (ByteDance), and the sale channel.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sim import load_scenario
from sim.engine.compliance import Compliance, Lot

ROOT = Path(__file__).resolve().parents[2]
DATES = ["2022-09-01", "2022-11-01", "2023-12-01", "2025-05-01", "2025-09-01", "2026-02-01"]
A, D, L = "allow", "deny", "license"

# chip:        2022-09-01  2022-11-01  2023-12-01  2025-05-01  2025-09-01  2026-02-01
EXPECTED = {
    "a100":       (D, D, D, D, D, L),   # Aug 2022 letters; TPP 4992 & NVLink 600; Jan 2026 case-by-case
    "a800":       (A, A, D, D, D, L),   # NVLink cut to 400 passes Oct 2022, not Oct 2023
    "h100":       (D, D, D, D, D, L),
    "h800":       (A, A, D, D, D, L),
    "h20":        (A, A, A, L, L, L),   # under every TPP/PD line until the Apr 2025 licence requirement
    "h200":       (A, D, D, D, D, L),   # 900 GB/s NVLink: Oct 2022; Jan 2026 case-by-case (TPP < 21,000)
    "rtx4090":    (A, A, D, D, D, L),   # TPP 5,285 >= 4,800 catches a gaming part in Oct 2023
    "rtx4090d":   (A, A, A, A, A, A),   # designed at TPP ~4,700 to pass Oct 2023
    "ascend910b": (A, A, A, A, A, A),   # Chinese design: outside US origin scope
    "b200":       (A, D, D, D, D, D),   # TPP 36,000: above the Jan 2026 line
}
RULE_AT = {("a800", "2023-12-01"): "us_2023_10", ("h20", "2025-05-01"): "us_2025_04_h20",
           ("h20", "2025-09-01"): "us_2025_08_h20_licence", ("h200", "2026-02-01"): "us_2026_01_h200",
           ("a100", "2022-09-01"): "us_2022_08_letters", ("h100", "2022-11-01"): "us_2022_10"}


@pytest.fixture(scope="module")
def world():
    s = load_scenario(ROOT / "scenarios" / "bytedance_ascend.yaml")
    return s, Compliance(s)


def decide(world, chip: str, date: str, channel: str = "sale", buyer: str = "bytedance"):
    s, comp = world
    lab = s.labs[buyer]
    day = s.day_of(dt.date.fromisoformat(date))
    return comp.decide(Lot(comp.item(chip), 100, lab.country, buyer, lab.hq, channel, day), day)


@pytest.mark.parametrize(("chip", "date", "expected"),
                         [(c, d, e) for c, row in EXPECTED.items() for d, e in zip(DATES, row, strict=True)])
def test_treatment_by_chip_and_date(world, chip, date, expected):
    d = decide(world, chip, date)
    assert d.kind == expected, (chip, date, d.rule, d.matched)
    if (chip, date) in RULE_AT:
        assert d.rule == RULE_AT[(chip, date)]


def test_licence_carries_revenue_share(world):
    assert decide(world, "h20", "2025-09-01").spec.revenue_share == pytest.approx(0.15)
    assert decide(world, "h200", "2026-02-01").spec.revenue_share == pytest.approx(0.25)


def test_tpp_thresholds_are_what_rules_are_written_in(world):
    _, comp = world
    assert comp.items["a100"].tpp == 4992
    assert comp.items["h100"].tpp == comp.items["h800"].tpp == 15832
    assert comp.items["h20"].tpp == 2368
    assert comp.items["rtx4090d"].tpp < 4800 <= comp.items["rtx4090"].tpp


def test_pending_rule_is_visible_between_announcement_and_effect(world):
    s, comp = world
    lab = s.labs["bytedance"]
    day = s.day_of(dt.date(2023, 10, 20))  # announced Oct 17, effective Nov 17
    lot = Lot(comp.item("a800"), 1, lab.country, "bytedance", lab.hq, "sale", day)
    assert "us_2023_10" in comp.matching(lot, day, pending=True)
    assert comp.decide(lot, day).kind == "allow"


def test_rescinded_before_effective_never_bites(world):
    s, comp = world
    day = s.day_of(dt.date(2025, 6, 1))
    lot = Lot(comp.item("h100"), 1, "MY", "azure-my", "US", "sale", day)
    assert "us_2025_01_diffusion" not in comp.matching(lot, day)
    assert "us_2025_01_diffusion" in comp.matching(lot, s.day_of(dt.date(2025, 2, 1)), pending=True)


def test_most_restrictive_wins_and_overrides_apply():
    from sim import scenario_from_dict
    from tests.engine.conftest import micro_world

    d = micro_world(rules={
        "fee": {"announced": "2023-01-01", "effective": "2023-01-01", "scope": {"destinations": ["CN"]},
                "treatment": {"kind": "fee", "revenue_share": 0.1}},
        "deny": {"announced": "2023-01-01", "effective": "2023-01-01", "scope": {"destinations": ["CN"]},
                 "treatment": {"kind": "deny"}},
        "lic": {"announced": "2023-01-01", "effective": "2023-01-01", "scope": {"destinations": ["CN"]},
                "treatment": {"kind": "license", "approval_probability": 1}, "overrides": ["deny"]},
    })
    s = scenario_from_dict(d)
    comp = Compliance(s)
    lot = Lot(comp.item("gpu"), 1, "CN", "lab", "CN", "sale", 0.0)
    got = comp.decide(lot, 0.0)
    assert (got.kind, got.rule) == ("license", "lic")  # deny overridden; licence beats fee
    assert set(got.matched) == {"fee", "deny", "lic"}
    other = Lot(comp.item("gpu"), 1, "US", "lab", "US", "sale", 0.0)
    assert comp.decide(other, 0.0).kind == "allow"
