"""docs/measurements/supply_levers.py, which docs/model.md's lever table cites: its levers change what they name
and nothing else, and its measurement reads the product's own KPI and binding reader."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

from sim import load_scenario
from sim.scenario.loader import scenario_from_dict

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "measurements" / "supply_levers.py"


def _script():
    spec = importlib.util.spec_from_file_location("supply_levers", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_each_lever_scales_every_step_of_its_series_and_nothing_else():
    sl = _script()
    base = load_scenario(sl.FLAGSHIP).model_dump(by_alias=True, mode="json")
    for name, (apply, (_lo, hi), _unit) in sl.LEVERS.items():
        d = copy.deepcopy(base)
        apply(d, hi)
        scenario_from_dict(d)  # still a valid scenario
        changed = [n for n in base["nodes"] if base["nodes"][n] != d["nodes"][n]]
        assert len(changed) == 1, name
        assert {k: v for k, v in base.items() if k != "nodes"} == {k: v for k, v in d.items() if k != "nodes"}
    d = copy.deepcopy(base)
    sl.scale_series("samsung-hbm", "hbm_stacks_per_month")(d, 2.0)
    for a, b in zip(base["nodes"]["samsung-hbm"]["hbm_stacks_per_month"],
                    d["nodes"]["samsung-hbm"]["hbm_stacks_per_month"], strict=True):
        va, vb = a["value"], b["value"]
        for key in ("value", "low", "high", "mean", "mode"):
            if isinstance(va.get(key), (int, float)):
                assert vb[key] == 2 * va[key]


def test_more_hbm_makes_more_chips_in_china():
    sl = _script()  # the table's largest lever, one seed: HBM x0.5 makes less than x2 (HBM binds in the base)
    base = load_scenario(sl.FLAGSHIP).model_dump(by_alias=True, mode="json")
    out = {}
    for k in (0.5, 2.0):
        d = copy.deepcopy(base)
        sl.scale_series("samsung-hbm", "hbm_stacks_per_month")(d, k)
        out[k] = sl.measure(d, [1])
    assert out[0.5]["eflops"] < out[2.0]["eflops"]
    assert "hbm" in out[0.5]["binding"]
