"""One-at-a-time swings of the Ascend supply levers on the flagship (docs/model.md, "binding supply").

Each lever is set low and high with everything else as written; every world runs on the same seeds (common
random numbers). Printed per lever and level: the mean over the seeds of China's chip output over the run
(``produced_eflops[CN]``: dense BF16 peak of every chip made, EFLOP/s), ByteDance's LLM finish day and the share
of months in which each input bound Huawei's packaging (``sim.experiments.binding.packaging_binding``).

    .venv/bin/python docs/measurements/supply_levers.py [--seeds 6]

Scaling a supply series multiplies every step's figure (a value, or a distribution's low/high/mean/mode); the
yield lever sets the mean of the per-lot die-yield beta.
"""

from __future__ import annotations

import argparse
import copy
from collections import Counter
from statistics import fmean

from sim import load_scenario
from sim.experiments.binding import packaging_binding
from sim.results.simulation import Simulation
from sim.scenario.loader import scenario_from_dict

FLAGSHIP = "scenarios/bytedance_ascend.yaml"
JOB = "bytedance/llm"


def _scale_quantity(q: dict, k: float) -> None:
    for key in ("value", "low", "high", "mean", "mode"):
        if isinstance(q.get(key), (int, float)):
            q[key] = q[key] * k


def scale_series(node: str, field: str):
    def apply(d: dict, k: float) -> None:
        for step in d["nodes"][node][field]:
            v = step["value"]
            if isinstance(v, dict):
                _scale_quantity(v, k)
            else:
                step["value"] = v * k
    return apply


def die_yield(d: dict, mean: float) -> None:
    d["nodes"]["smic"]["allocation"]["ascend910b"]["die_yield"]["mean"] = mean


LEVERS = {
    "Samsung HBM stacks": (scale_series("samsung-hbm", "hbm_stacks_per_month"), (0.5, 2.0), "x"),
    "CXMT HBM stacks": (scale_series("cxmt", "hbm_stacks_per_month"), (0.5, 2.0), "x"),
    "Huawei packaging capacity": (scale_series("huawei-pkg", "chips_per_month"), (0.5, 2.0), "x"),
    "SMIC wafer starts": (scale_series("smic", "wafer_starts_per_month"), (0.5, 2.0), "x"),
    "SMIC 910B die yield (mean)": (die_yield, (0.3, 0.7), ""),
}


def measure(data: dict, seeds: list[int]) -> dict:
    sc = scenario_from_dict(data)
    out, fin, binding = [], [], Counter()
    for seed in seeds:
        r = Simulation(sc, seed).run()
        out.append(r.kpis.get("produced_eflops[CN]", 0.0))
        fin.append(r.kpis.get(f"job_finish_or_horizon_day[{JOB}]", float("nan")))
        for b in packaging_binding(r, sc):  # what stopped each month's packaging plan (sim.experiments.binding)
            binding.update(b.by)
    n = sum(binding.values()) or 1
    return {"eflops": fmean(out), "finish": fmean(fin),
            "binding": ", ".join(f"{b} {c / n:.0%}" for b, c in binding.most_common())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6)
    args = ap.parse_args()
    seeds = list(range(1, args.seeds + 1))
    base = load_scenario(FLAGSHIP).model_dump(by_alias=True, mode="json")
    b = measure(base, seeds)
    print(f"flagship as written, seeds 1-{args.seeds}: China's output {b['eflops']:,.0f} EFLOP/s, "
          f"ByteDance finish day {b['finish']:.1f}; packaging bound by {b['binding']}")
    print("| lever | low -> high | China's output, EFLOP/s | ByteDance finish day | packaging bound by (low / high) |")
    print("| --- | --- | --- | --- | --- |")
    for name, (apply, (lo, hi), unit) in LEVERS.items():
        res = []
        for level in (lo, hi):
            d = copy.deepcopy(base)
            apply(d, level)
            res.append(measure(d, seeds))
        print(f"| {name} | {unit}{lo:g} -> {unit}{hi:g} | {res[0]['eflops']:,.0f} -> {res[1]['eflops']:,.0f} | "
              f"{res[0]['finish']:.1f} -> {res[1]['finish']:.1f} | {res[0]['binding']} / {res[1]['binding']} |")


if __name__ == "__main__":
    main()
