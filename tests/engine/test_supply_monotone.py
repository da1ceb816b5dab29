"""Directional property over generated supply worlds: more of any upstream input never less Ascend compute.

Monthly packaging plans are exactly monotone in their value, this month's compute plus the stacks kept for a line
short of them (``test_packaging_plan_more_of_any_input_never_less_value``); over a run the plans are myopic (a die
arriving this month may use stacks a better line would have used next month), so the run-level property is asserted up to one month's output of the packager (capacity x the best package).

The world: a foundry (wafers, die yield) -> a packager (capacity, packaging yield, die bank, HBM on hand) fed by
an HBM maker -> a vendor; two chip lines like 910B (1 die, 4 stacks) and 910C (2 dies, 8 stacks).  One input
is scaled up by a factor >= 1 with the same seed (common random numbers); the dense compute of every chip
made over the run (``produced_eflops[CN]``) must not fall.
"""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from sim import Simulation, scenario_from_dict

CHIP = {"vendor": "hw", "designer_country": "CN", "release": "2022-01-01", "die_area_mm2": 665, "price_usd": 20000}


def world(wafers, die_yield, capacity, stacks, bank_b, bank_c, hbm0) -> dict:
    alloc = {"die_yield": die_yield, "gross_dies_per_wafer": 80, "packager": "pkg", "share": 0.5}
    return {
        "name": "supply", "question": "how much is made?", "start": "2022-01-01", "end": "2023-06-30", "seed": 3,
        "chips": {
            "b": {**CHIP, "name": "B", "dense_tflops": {"bf16": 320}, "hbm_stacks": 4},
            "c": {**CHIP, "name": "C", "dense_tflops": {"bf16": 800}, "hbm_stacks": 8, "dies_per_package": 2},
        },
        "nodes": {
            "fab": {"kind": "foundry", "country": "CN", "wafer_starts_per_month": wafers,
                    "cycle_time_days": {"dist": "uniform", "low": 60, "high": 120},
                    "allocation": {"b": dict(alloc), "c": dict(alloc)}},
            "mem": {"kind": "memory", "country": "CN", "hbm_stacks_per_month": stacks},
            "pkg": {"kind": "packager", "country": "CN", "chips_per_month": capacity,
                    "packaging_yield": {"dist": "uniform", "low": 0.7, "high": 0.95},
                    "initial_dies": {"b": bank_b, "c": bank_c}, "initial_hbm_stacks": hbm0},
            "hw": {"kind": "vendor", "country": "CN"},
        },
        "edges": {
            "fab-pkg": {"from": "fab", "to": "pkg", "flow": "dies", "lead_time_days": {"dist": "uniform", "low": 3, "high": 14}},
            "mem-pkg": {"from": "mem", "to": "pkg", "flow": "hbm", "lead_time_days": {"dist": "uniform", "low": 7, "high": 30}},
            "pkg-hw": {"from": "pkg", "to": "hw", "flow": "chips"},
        },
    }


def produced(d: dict, seed: int) -> float:
    return Simulation(scenario_from_dict(copy.deepcopy(d)), seed).run().kpis.get("produced_eflops[CN]", 0.0)


INPUTS = {
    "wafers": ("nodes", "fab", "wafer_starts_per_month"),
    "capacity": ("nodes", "pkg", "chips_per_month"),
    "stacks": ("nodes", "mem", "hbm_stacks_per_month"),
    "bank_b": ("nodes", "pkg", "initial_dies", "b"),
    "bank_c": ("nodes", "pkg", "initial_dies", "c"),
    "hbm0": ("nodes", "pkg", "initial_hbm_stacks"),
}


@settings(max_examples=60, deadline=None)
@given(
    wafers=st.integers(0, 3000), die_yield=st.floats(0.05, 0.9), capacity=st.integers(0, 40000),
    stacks=st.integers(0, 300000), bank_b=st.integers(0, 200000), bank_c=st.integers(0, 200000),
    hbm0=st.integers(0, 500000), which=st.sampled_from(sorted(INPUTS)), factor=st.floats(1.0, 4.0),
    seed=st.integers(1, 50),
)
def test_more_of_any_supply_input_never_less_compute(wafers, die_yield, capacity, stacks, bank_b, bank_c, hbm0,
                                                       which, factor, seed):
    d = world(wafers, die_yield, capacity, stacks, bank_b, bank_c, hbm0)
    base = produced(d, seed)
    more = copy.deepcopy(d)
    *path, last = INPUTS[which]
    cur = more
    for k in path:
        cur = cur[k]
    cur[last] = int(cur[last] * factor)
    one_month = capacity * 800e12 / 1e18  # EFLOP/s of a month of the best package
    assert produced(more, seed) >= base - one_month - 1e-9


def test_die_yield_raises_compute_when_dies_bind():
    """SMIC's yield is a lever that bites once dies, not packaging or HBM, are the binding input."""
    lo = produced(world(2000, 0.2, 40000, 300000, 0, 0, 10**6), 1)
    hi = produced(world(2000, 0.6, 40000, 300000, 0, 0, 10**6), 1)
    assert hi > 2 * lo > 0
