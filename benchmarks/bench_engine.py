"""Engine speed: the flagship run's events/s next to a bare SimPy loop of the same event count.

Both are measured side by side in one process, several times, and the ratio of medians is reported
(absolute times vary between machines; the ratio is what we track).  Goal: >= 0.5x the bare rate.

    python benchmarks/bench_engine.py [--repeats 5] [--scenario scenarios/bytedance_ascend.yaml]

Writes benchmarks/results/engine.json and engine.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import simpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim import Simulation, load_scenario  # noqa: E402


def bare_simpy(n_events: int, n_procs: int = 100) -> tuple[float, int]:
    """A bare loop of timeouts scheduling about *n_events* events; returns (seconds, events)."""
    env = simpy.Environment()
    per_proc = max(n_events // n_procs, 1)

    def p(env):
        for _ in range(per_proc):
            yield env.timeout(1)

    for _ in range(n_procs):
        env.process(p(env))
    t = time.perf_counter()
    env.run()
    dt = time.perf_counter() - t
    return dt, next(env._eid)


def flagship(scenario, seed: int) -> tuple[float, int]:
    sim = Simulation(scenario, seed)
    t = time.perf_counter()
    sim.run()
    dt = time.perf_counter() - t
    return dt, sim.events_processed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "bytedance_ascend.yaml"))
    args = ap.parse_args()
    scenario = load_scenario(args.scenario)
    flagship(scenario, 0)  # warm imports and caches
    runs, bares = [], []
    for i in range(args.repeats):  # interleaved so machine noise hits both alike
        f_dt, f_ev = flagship(scenario, i + 1)
        b_dt, b_ev = bare_simpy(f_ev)
        runs.append((f_dt, f_ev))
        bares.append((b_dt, b_ev))
    f_rate = statistics.median(ev / dt for dt, ev in runs)
    b_rate = statistics.median(ev / dt for dt, ev in bares)
    result = {
        "scenario": scenario.name,
        "repeats": args.repeats,
        "flagship_wall_s_median": statistics.median(dt for dt, _ in runs),
        "flagship_events_median": statistics.median(ev for _, ev in runs),
        "flagship_events_per_s": f_rate,
        "bare_simpy_events_per_s": b_rate,
        "ratio": f_rate / b_rate,
        "goal_ratio": 0.5,
        "python": platform.python_version(),
        "simpy": simpy.__version__,
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "engine.json").write_text(json.dumps(result, indent=2) + "\n")
    md = (
        "| measure | value |\n|---|---|\n"
        f"| flagship wall time (median of {args.repeats}) | {result['flagship_wall_s_median']:.3f} s |\n"
        f"| events per flagship run | {result['flagship_events_median']:,.0f} |\n"
        f"| flagship events/s | {f_rate:,.0f} |\n"
        f"| bare SimPy events/s (same count) | {b_rate:,.0f} |\n"
        f"| ratio (goal >= 0.5) | {result['ratio']:.3f} |\n"
    )
    (out / "engine.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
