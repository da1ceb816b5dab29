"""The engine compiled with mypyc against the engine as it runs (interpreted), side by side (issue 18).

    python benchmarks/compiled.py [--rounds 3] [--runs 5]      (make bench-compiled)

Copies ``sim/`` and ``pyproject.toml`` into a temporary folder, compiles every module of ``sim/engine`` there with
mypyc (the mypy the project lints with; needs a C compiler and the Python headers), then:

1. **same model**: runs the flagship and its rent variant on seeds 1 and 2 in each copy, in its own process,
   and compares every record table row by row (a compiled float field holds 2143.0 where the interpreted row
   holds the int 2143: equal under ``==``, and equal once in a table);
2. **speed**: alternates the two copies' processes for *rounds* rounds; each times *runs* flagship
   ``env.run`` calls (CPU, ``gc.collect()`` before each) next to the floor's bare unit costs measured in the same
   process (:func:`ratios.unit_costs`); the primitive counts are the interpreted run's (the rows are the same).

Writes ``benchmarks/results/compiled.json`` and ``compiled.md``.  Not part of ``make bench``: the compile takes
about two minutes, and the project runs interpreted (profiles and call counts need Python frames).
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
SCENARIOS = tuple(str(ROOT / "scenarios" / f) for f in ("bytedance_ascend.yaml", "bytedance_ascend_rent.yaml"))
SEEDS = (1, 2)

# run in a child process: python -c WORKER <root> rows|time <out> <arg> <benchmarks dir> <flagship>, where <arg> is
# {"files": [...], "seeds": [...]} as JSON for rows and the number of timed runs for time
WORKER = r"""
import dataclasses, gc, json, pickle, statistics, sys, time
root, what, out = sys.argv[1], sys.argv[2], sys.argv[3]
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f)]  # this copy's sim, not the installed one
sys.path[:0] = [root, sys.argv[5]]
import sim.engine.mechanisms.orders as probe
from sim.engine.simulation import World
from sim.scenario.canonical import canonical
from sim.scenario.loader import load_scenario
compiled = not probe.__file__.endswith(".py")
if what == "rows":
    rows = {}
    spec = json.loads(sys.argv[4])
    for f in spec["files"]:
        sc = canonical(load_scenario(f))
        for seed in spec["seeds"]:
            w = World(sc, seed)
            w.run()
            for t in w.rec.TABLES:
                rows[(f, seed, t)] = [tuple(getattr(r, x.name) for x in dataclasses.fields(r))
                                      for r in getattr(w.rec, t)]
    pickle.dump({"compiled": compiled, "rows": rows}, open(out, "wb"))
else:
    import ratios
    sc = canonical(load_scenario(sys.argv[6]))
    counts = ratios.primitive_counts(sc, 1) if not compiled else None
    units = ratios.unit_costs()
    env = []
    for i in range(int(sys.argv[4])):
        w = World(sc, 1 + i % 3)
        gc.collect()
        c = time.process_time()
        w.run()
        env.append(time.process_time() - c)
    json.dump({"compiled": compiled, "counts": counts, "units": units, "env_run_cpu_s": statistics.median(env)},
              open(out, "w"))
"""


def _fail(msg: str) -> None:
    print(f"compiled: {msg}", file=sys.stderr)
    raise SystemExit(2)


def build(where: Path) -> float:
    """Copy the package into *where* and compile ``sim/engine`` there; returns the compile's wall seconds."""
    shutil.copytree(ROOT / "sim", where / "sim", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copy(ROOT / "pyproject.toml", where / "pyproject.toml")
    mods = sorted(str(p.relative_to(where)) for p in (where / "sim" / "engine").rglob("*.py"))
    t = time.time()
    res = subprocess.run([sys.executable, "-m", "mypyc", *mods], cwd=where, capture_output=True, text=True)
    if res.returncode != 0:
        tail = (res.stdout + res.stderr).strip().splitlines()[-5:]
        _fail("mypyc failed (needs mypy, a C compiler and the Python headers): " + " | ".join(tail))
    return time.time() - t


def child(root: Path, what: str, out: Path, arg: str) -> None:
    res = subprocess.run([sys.executable, "-c", WORKER, str(root), what, str(out), arg, str(HERE), SCENARIOS[0]],
                         capture_output=True, text=True)
    if res.returncode != 0:
        _fail(f"the {what} run in {root} failed: " + " | ".join(res.stderr.strip().splitlines()[-3:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="exportsim-compiled-"))
    try:
        print(f"[compiled] compiling sim/engine with mypyc in {tmp} ...", flush=True)
        compile_s = build(tmp)
        roots = {"interpreted": ROOT, "compiled": tmp}
        print("[compiled] same model: every record table of 2 scenarios x 2 seeds", flush=True)
        got = {}
        for mode, root in roots.items():
            child(root, "rows", tmp / f"{mode}.pkl", json.dumps({"files": SCENARIOS, "seeds": SEEDS}))
            got[mode] = pickle.loads((tmp / f"{mode}.pkl").read_bytes())
        if got["interpreted"]["compiled"] or not got["compiled"]["compiled"]:
            _fail("the copies did not load the engine they were meant to (interpreted / compiled)")
        a_rows, b_rows = got["interpreted"]["rows"], got["compiled"]["rows"]
        differ = sorted(f"{f} seed {s} {t}" for (f, s, t) in a_rows if a_rows[(f, s, t)] != b_rows.get((f, s, t)))
        n_rows = sum(len(v) for v in a_rows.values())
        samples: dict[str, list[dict]] = {"interpreted": [], "compiled": []}
        for r in range(a.rounds):
            for mode, root in roots.items():  # interleaved: the machine is shared
                print(f"[compiled] round {r + 1}/{a.rounds}: {mode}", flush=True)
                child(root, "time", tmp / "t.json", str(a.runs))
                samples[mode].append(json.loads((tmp / "t.json").read_text()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.path.insert(0, str(HERE))
    from ratios import floor_seconds

    counts = samples["interpreted"][0]["counts"]

    def floor(u: dict) -> float:
        return floor_seconds(counts, u)

    out: dict = {"commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                          text=True).stdout.strip(),
                 "python": platform.python_version(), "compile_s": compile_s, "rounds": a.rounds, "runs": a.runs,
                 "tables": len(a_rows), "rows": n_rows, "tables_differing": differ, "counts": counts}
    for mode, ss in samples.items():
        out[mode] = {"env_run_cpu_s": statistics.median(s["env_run_cpu_s"] for s in ss),
                     "floor_s": statistics.median(floor(s["units"]) for s in ss),
                     "ratio_to_floor": statistics.median(s["env_run_cpu_s"] / floor(s["units"]) for s in ss)}
    out["speedup"] = statistics.median(i["env_run_cpu_s"] / c["env_run_cpu_s"]
                                       for i, c in zip(samples["interpreted"], samples["compiled"], strict=True))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "compiled.json").write_text(json.dumps(out, indent=2) + "\n")
    i, c = out["interpreted"], out["compiled"]
    md = [
        "# The engine compiled with mypyc, against the engine interpreted",
        "",
        f"`python benchmarks/compiled.py --rounds {a.rounds} --runs {a.runs}` · commit {out['commit']} · Python "
        f"{out['python']} · compile {compile_s:.0f} s",
        "",
        f"- same model: {len(a_rows)} record tables ({n_rows:,} rows; flagship and rent variant, seeds "
        f"{', '.join(map(str, SEEDS))}): "
        + ("every row equal" if not differ else f"**{len(differ)} tables differ**: " + "; ".join(differ[:5])),
        f"- flagship `env.run` CPU (median over {a.rounds} interleaved rounds of {a.runs} runs): interpreted "
        f"{i['env_run_cpu_s'] * 1000:.0f} ms, compiled {c['env_run_cpu_s'] * 1000:.0f} ms; **{out['speedup']:.2f}x** "
        "(the ratio of each round's pair)",
        f"- ÷ the primitive floor measured in the same process ({counts['events']:,} events, {counts['draws']:,} "
        f"draws, {counts['compliance_lookups']:,} look-ups, {counts['rows']:,} rows): interpreted "
        f"{i['ratio_to_floor']:.2f}x, compiled {c['ratio_to_floor']:.2f}x (goal <= 3x)",
        "",
    ]
    (RESULTS / "compiled.md").write_text("\n".join(md))
    print("\n".join(md))
    if differ:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
