"""The benchmark suite: engine speed, scaling, sweeps, dashboard, memory (``make bench``).

    python benchmarks/run_all.py [--quick] [--only engine,scaling,sweeps,dashboard,memory]
                                 [--sweep-runs 2000] [--out benchmarks/results] [--ema auto|skip]

Writes ``bench.md`` (a Markdown table), ``bench.json`` (every measurement, the goals, load averages)
and ``scaling.png`` (log-log run time vs size with fitted exponents) to ``--out``; in a full run also
``profile_flagship.txt`` (cProfile of one flagship run).  About 4-5 minutes on 2 idle cores.

Absolute times vary between machines, so every headline figure is a ratio of two things measured side
by side in the same process and run: the repeats of the two sides are interleaved (for scaling and
sweeps their order rotates each repeat) and the figure is the median of the per-repeat ratios (>= 3
repeats; ``--quick`` does 1-2 and is a smoke run only).  Single-process ratios are also given in CPU time
(``time.process_time``), which other work on the machine disturbs less; the share of the CPUs others
were using is sampled from /proc/stat before each section (and sweep repeat), and each section first
waits up to ``--settle`` seconds for the machine to quieten, then collects and freezes the process's heap (what
earlier sections imported is not scanned by a collection inside a timed item; timed runs in the scaling and
engine sections each start from a collected heap).  Measured in order:

1. **engine**: events/s of the flagship (``scenarios/bytedance_ascend.yaml``) vs a bare SimPy loop
   scheduling the same number of events (``bench_engine.bare_simpy``); "engine only" times
   ``env.run`` alone, "with results" the whole ``Simulation.run`` (process start-up, ``env.run``,
   end-of-run bookkeeping and ``build_result``, which makes the tidy tables and KPIs).  Context only (the
   goal it once had, >= 0.5x, measured the wrong thing: issue 18 measures a run against its own primitive floor,
   section ratios).
2. **scaling**: run time as the horizon, labs, nodes and rules double (``synthetic.py`` builds the
   families from the flagship); the ratio per doubling (goal <= 2.2x) and the exponent of a log-log fit.
3. **sweeps**: the same LHS runs through ``run_sweep`` serial / local (2 processes) / Dask (LocalCluster,
   2 workers), a direct loop of ``apply_point`` + ``Simulation.run``, a plain chunked
   ``ProcessPoolExecutor(2)`` and EMA Workbench's ``MultiprocessingEvaluator(2)``, for two run
   lengths (48 flagship runs, ~0.15 s each; 1,024 runs of tests/data/tiny.yaml, ~2.5 ms each: a sweep of
   ~1.3 s on two workers, where 128 runs, sized when a tiny run took ~30 ms, had become a 0.3-s sweep that
   measured mostly the ~0.1 s every sweep costs once; that fixed cost is its own figure).  Goals:
   parallel efficiency >= 90 %, overhead vs direct <= 5 %, Dask <= 10 % slower, >= 0.98x a plain
   pool's runs/s, ahead of EMA.  Also, within each sweep, its wall time against the sum of its runs'
   own clocks (the store's ``elapsed_s``), which does not depend on comparing two noisy loops.
4. **dashboard**: ``app/services.py`` as the Run page calls it: a lever change (cache miss: validate,
   run, the no-rules run, summaries, five figures) and a cached re-render (cache hits), next to a bare
   ``Simulation.run``.  Goal <= 1 s.
5. **memory**: peak RSS of a flagship run in a fresh process; a KPI-only sweep of ``--sweep-runs`` runs
   of tests/data/tiny.yaml (local executor, 2 workers, in a fresh process): runs/s, peak RSS of the
   driver and the workers, and whether RSS stays flat from the 500th run to the last.

EMA Workbench is not a dependency: with ``--ema auto`` the suite imports it, or installs it once with
pip into a cache directory (``--ema-cache``; ~0.6 GB, ~1 min) and puts that directory at the end of
``sys.path``; if that fails the EMA rows say "not measured" and why.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import gc
import io
import json
import logging
import math
import multiprocessing as mp
import os
import platform
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import ratios  # noqa: E402
import simpy  # noqa: E402
import synthetic  # noqa: E402
import workloads  # noqa: E402
from bench_engine import bare_simpy  # noqa: E402

from sim import Simulation, load_scenario  # noqa: E402

SECTIONS = ("ratios", "engine", "scaling", "sweeps", "dashboard", "memory")
FLAGSHIP = ROOT / "scenarios" / "bytedance_ascend.yaml"
TINY = ROOT / "tests" / "data" / "tiny.yaml"
WORKERS = 2

# The sweeps' parameters: (name, dotted path, low, high) per base, and the KPIs kept.
SWEEP_SETUPS: dict[str, dict[str, Any]] = {
    "flagship": {
        "base": FLAGSHIP,
        "params": [("die_yield", "nodes.smic.allocation.ascend910b.die_yield.mean", 0.3, 0.7),
                   ("grey_share_sg", "nodes.sg-hub.grey.share_of_denied", 0.0, 0.2)],
        "kpis": ["job_finish_day[bytedance/llm]", "job_*[bytedance/llm]", "blocked_units", "grey_units"],
    },
    "tiny": {
        "base": TINY,
        "params": [("die_yield", "nodes.smic.allocation.ascend910b.die_yield", 0.2, 0.8),
                   ("grey_share", "nodes.sg-hub.grey.share_of_denied", 0.0, 0.3)],
        "kpis": ["job_finish_day[lab-cn/job1]", "job_*[lab-cn/job1]", "blocked_units"],
    },
}


# ======================================================================================== helpers
def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def med(xs) -> float:
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(xs) if xs else math.nan


def rotated(items: list, k: int) -> list:
    """*items* rotated by *k*: interleaved measurements change order each repeat."""
    k %= max(len(items), 1)
    return items[k:] + items[:k]


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_ticks() -> tuple[int, int]:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return sum(ticks), idle


def cpu_busy(interval: float = 0.5) -> float:
    """Share of the machine's CPU time busy over the next *interval* seconds (0..1; others' work, when we idle)."""
    try:
        t0, i0 = _cpu_ticks()
        time.sleep(interval)
        t1, i1 = _cpu_ticks()
    except (OSError, ValueError, IndexError):
        return math.nan
    return round(1 - (i1 - i0) / max(t1 - t0, 1), 3)


def settle(max_wait: float, below: float = 0.25) -> dict:
    """Wait (at most *max_wait* s) until the machine is mostly idle; what was seen, for the record."""
    t0 = time.perf_counter()
    busy = cpu_busy(1.0)
    while busy > below and time.perf_counter() - t0 < max_wait:
        busy = cpu_busy(2.0)
    waited = time.perf_counter() - t0
    if busy > below:
        log(f"the machine stays busy ({busy:.0%} of its CPUs used by others); measuring anyway")
    return {"busy_before": busy, "waited_s": round(waited, 1), "loadavg": loadavg()}


def begin_section(max_wait: float) -> dict:
    """:func:`settle`, then the process's heap collected and frozen (``gc.freeze``): the modules and results the
    sections before left behind (pyabc, scikit-learn, Dask, pandas) are not scanned by a full collection inside a
    timed item.  A full collection landing inside one run scanned ~300k objects (~0.27 s, on runs of 0.1 s) and
    moved a doubling's ratio by up to 2x between benches; the CLI's own process freezes its start-up heap too."""
    from sim.experiments.heap import freeze_for_good

    seen = settle(max_wait)
    gc.collect()
    freeze_for_good()  # and the sweeps and calibrations measured leave it frozen
    return seen


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size of a process now (MB), from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def hwm_mb() -> float:
    """Peak resident set size of this process so far (MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quiet_logs() -> None:
    for name in ("distributed", "streamlit", "tornado", "bokeh", "EMA"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


# ========================================================================================= engine
def instrumented_run(scenario, seed: int) -> tuple[dict[str, float], Any]:
    """One ``Simulation.run`` with its parts timed: env.run, build_result, the whole call."""
    import sim.results.simulation as metrics  # build_result lives beside Simulation (KPIs now, tables lazily)

    s = Simulation(scenario, seed)
    env = s.env
    box: dict[str, float] = {}
    env_run = env.run

    def timed_env_run(until=None):
        t, c = time.perf_counter(), time.process_time()
        out = env_run(until)
        box["env_run_s"] = time.perf_counter() - t
        box["env_run_cpu_s"] = time.process_time() - c
        box["events"] = float(next(env._eid))  # scheduled events, as bench_engine counts them
        return out

    build = metrics.build_result

    def timed_build(w):
        t = time.perf_counter()
        out = build(w)
        out.kpis  # noqa: B018 - computed on first read: part of building the result
        box["build_s"] = time.perf_counter() - t
        return out

    env.run = timed_env_run  # Simulation.run calls self.env.run(...)
    metrics.build_result = timed_build  # Simulation.run looks it up at call time
    try:
        t, c = time.perf_counter(), time.process_time()
        result = s.run()
        box["total_s"] = time.perf_counter() - t
        box["total_cpu_s"] = time.process_time() - c
    finally:
        metrics.build_result = build
    box["other_s"] = box["total_s"] - box["env_run_s"] - box["build_s"]
    return box, result


def bench_engine(repeats: int) -> dict:
    scenario = load_scenario(FLAGSHIP)
    instrumented_run(scenario, 0)  # warm imports and caches
    bare_simpy(5_000)
    pairs = []
    for i in range(repeats):  # interleaved: each flagship run is followed by its bare loop
        gc.collect()
        box, _ = instrumented_run(scenario, i + 1)
        rec: dict[str, Any] = {"seed": i + 1, **box}
        gc.collect()
        c = time.process_time()
        b_dt, b_ev = bare_simpy(int(rec["events"]))  # the same number of events
        rec["bare_cpu_s"] = time.process_time() - c  # includes building the bare processes (small)
        rec["bare_s"], rec["bare_events"] = b_dt, b_ev
        rec["bare_events_per_s"] = b_ev / b_dt
        rec["engine_events_per_s"] = rec["events"] / rec["env_run_s"]
        rec["total_events_per_s"] = rec["events"] / rec["total_s"]
        rec["ratio_engine"] = rec["engine_events_per_s"] / rec["bare_events_per_s"]
        rec["ratio_total"] = rec["total_events_per_s"] / rec["bare_events_per_s"]
        rec["ratio_engine_cpu"] = (rec["bare_cpu_s"] / rec["bare_events"]) / (rec["env_run_cpu_s"] / rec["events"])
        rec["ratio_total_cpu"] = (rec["bare_cpu_s"] / rec["bare_events"]) / (rec["total_cpu_s"] / rec["events"])
        pairs.append(rec)
    total = med(p["total_s"] for p in pairs)
    return {
        "scenario": scenario.name,
        "repeats": repeats,
        "events_median": med(p["events"] for p in pairs),
        "run_s_median": total,
        "env_run_s_median": med(p["env_run_s"] for p in pairs),
        "build_result_s_median": med(p["build_s"] for p in pairs),
        "other_s_median": med(p["other_s"] for p in pairs),
        "build_share_median": med(p["build_s"] / p["total_s"] for p in pairs),
        "engine_events_per_s": med(p["engine_events_per_s"] for p in pairs),
        "total_events_per_s": med(p["total_events_per_s"] for p in pairs),
        "bare_events_per_s": med(p["bare_events_per_s"] for p in pairs),
        "ratio_engine_only": med(p["ratio_engine"] for p in pairs),
        "ratio_with_results": med(p["ratio_total"] for p in pairs),
        "ratio_engine_only_cpu": med(p["ratio_engine_cpu"] for p in pairs),
        "ratio_with_results_cpu": med(p["ratio_total_cpu"] for p in pairs),
        "goal_ratio": 0.5,
        "samples": pairs,
    }


def profile_flagship(out: Path) -> dict:
    """cProfile of one flagship run: the top functions by own and by cumulative time, to a text file."""
    scenario = load_scenario(FLAGSHIP)
    Simulation(scenario, 1).run()
    prof = cProfile.Profile()
    prof.enable()
    Simulation(scenario, 1).run()
    prof.disable()
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.strip_dirs()
    buf.write("# cProfile of Simulation(flagship, seed=1).run(); times are inflated by the profiler\n\n")
    buf.write("## by own time (tottime)\n")
    st.sort_stats("tottime").print_stats(30)
    buf.write("\n## by cumulative time\n")
    st.sort_stats("cumulative").print_stats(40)
    (out / "profile_flagship.txt").write_text(buf.getvalue())
    top = []
    for (file, line, fn), (_cc, nc, tt, ct, _callers) in sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:12]:
        top.append({"function": f"{file}:{line}({fn})", "calls": nc, "tottime_s": round(tt, 4),
                    "cumtime_s": round(ct, 4)})
    return {"file": "profile_flagship.txt", "total_s": round(st.total_tt, 4), "top_by_tottime": top}


# ======================================================================================== scaling
def fit_exponent(sizes: list[float], values: list[float]) -> float:
    import numpy as np

    x, y = np.log(np.asarray(sizes, float)), np.log(np.asarray(values, float))
    if len(x) < 2 or not np.all(np.isfinite(y)):
        return math.nan
    return float(np.polyfit(x, y, 1)[0])


def bench_scaling(repeats: int, quick: bool) -> dict:
    base = load_scenario(FLAGSHIP).model_dump(by_alias=True)
    sizes = synthetic.family_sizes(base, quick)
    members = [(fam, size) for fam, ss in sizes.items() for size in ss]
    built = {}
    for fam, size in members:
        sc = synthetic.scenario(base, fam, size)
        built[(fam, size)] = sc
        Simulation(sc, 1).run()  # warm
    times: dict[tuple, list[dict]] = {m: [] for m in members}
    # each run starts from a collected heap (what earlier sections left is frozen by begin_section: a full
    # collection landing inside one run scanned all of it, and a doubling of rules read x2.46 in one bench and
    # x1.16 in the next)
    for i in range(repeats):
        for fam, size in rotated(members, i * 3):
            gc.collect()
            box, _ = instrumented_run(built[(fam, size)], i + 1)  # same seed for every size in a repeat
            times[(fam, size)].append(box)
    families = {}
    for fam, ss in sizes.items():
        run_s = [med(b["total_s"] for b in times[(fam, s)]) for s in ss]
        env_s = [med(b["env_run_s"] for b in times[(fam, s)]) for s in ss]
        events = [med(b["events"] for b in times[(fam, s)]) for s in ss]
        # per doubling: the median over repeats of the paired ratio t(2n)/t(n)
        steps = []
        for a, b in zip(ss, ss[1:], strict=False):
            steps.append(med(tb["total_s"] / ta["total_s"] for ta, tb in zip(times[(fam, a)], times[(fam, b)],
                                                                            strict=True)))
        steps_cpu = []
        for a, b in zip(ss, ss[1:], strict=False):
            steps_cpu.append(med(tb["total_cpu_s"] / ta["total_cpu_s"]
                                 for ta, tb in zip(times[(fam, a)], times[(fam, b)], strict=True)))
        run_cpu = [med(b["total_cpu_s"] for b in times[(fam, s)]) for s in ss]
        families[fam] = {
            "sizes": ss, "run_s": run_s, "env_run_s": env_s, "events": events, "run_cpu_s": run_cpu,
            "ratio_per_doubling": steps, "ratio_per_doubling_cpu": steps_cpu,
            "exponent_run_cpu_s": fit_exponent(ss, run_cpu),
            "max_ratio_per_doubling": max(steps) if steps else math.nan,
            "exponent_run_s": fit_exponent(ss, run_s),
            "exponent_events": fit_exponent(ss, events),
            "exponent_s_per_event": fit_exponent(ss, [t / e for t, e in zip(run_s, events, strict=True)]),
        }
    return {"repeats": repeats, "goal_ratio_per_doubling": 2.2, "families": families,
            "units": {"horizon": "years", "labs": "labs", "market": "copies of the market", "nodes": "nodes",
                      "rules": "rules", "supplied": "labs, supply scaled with them"}}


def plot_scaling(scaling: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.2), dpi=110)
    markers = {"horizon": "o", "labs": "s", "market": "v", "nodes": "^", "rules": "D"}
    for fam, f in scaling["families"].items():
        rel = [s / f["sizes"][0] for s in f["sizes"]]
        unit = scaling["units"][fam]
        label = (f"{fam}: {f['sizes'][0]:.3g}→{f['sizes'][-1]:.3g} {unit}, exponent {f['exponent_run_s']:.2f} "
                 f"(max ×{f['max_ratio_per_doubling']:.2f}/doubling)")
        ax.plot(rel, f["run_s"], marker=markers.get(fam, "o"), label=label)
    top = max(max(f["run_s"]) for f in scaling["families"].values())
    low = min(min(f["run_s"]) for f in scaling["families"].values())
    xs = [1, 2, 4, 8]
    ax.plot(xs, [low * x for x in xs], "k:", lw=1, label="linear (exponent 1) reference")
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [f"{x}×" for x in xs])
    ax.set_yscale("log")
    ax.set_xlabel("size relative to the smallest member")
    ax.set_ylabel("run time, s (median, Simulation.run incl. results)")
    ax.set_title("exportsim: run time as one dimension of the flagship doubles")
    ax.set_ylim(low / 1.5, top * 1.5)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ========================================================================================= sweeps
def write_spec(directory: Path, kind: str, n: int) -> Path:
    setup = SWEEP_SETUPS[kind]
    lines = [f"name: bench_{kind}", f"base: {setup['base']}", "seed: 20260101", f"design: {{kind: lhs, n: {n}}}",
             "replications: 1", "uncertainties:"]
    for name, path, lo, hi in setup["params"]:
        lines.append(f"  {name}: {{path: {path}, low: {lo}, high: {hi}}}")
    lines.append("kpis: " + json.dumps(setup["kpis"]))
    lines.append("keep: kpis")
    p = directory / f"bench_{kind}.yaml"
    p.write_text("\n".join(lines) + "\n")
    return p


class EmaUnavailable(Exception):
    pass


def ensure_ema(mode: str, cache: Path) -> tuple[Any, str]:
    """(the ema_workbench module, how it was found) or raise EmaUnavailable with the reason."""
    if mode == "skip":
        raise EmaUnavailable("skipped (--ema skip)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import ema_workbench

            return ema_workbench, "installed in the environment"
        except ImportError:
            pass
        if not (cache / "ema_workbench").is_dir():
            log(f"installing ema-workbench into {cache} (once; ~1 min) ...")
            cache.mkdir(parents=True, exist_ok=True)
            try:
                cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                       "--timeout", "30", "--target", str(cache), "ema-workbench"]
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise EmaUnavailable(f"pip install ema-workbench failed: {e}") from None
            if r.returncode != 0:
                tail = " ".join((r.stderr or r.stdout).strip().splitlines()[-2:])
                raise EmaUnavailable(f"pip install ema-workbench failed: {tail[:300]}")
        sys.path.append(str(cache))  # last: the project's own numpy/pandas/SALib win
        try:
            import ema_workbench
        except Exception as e:  # noqa: BLE001
            raise EmaUnavailable(f"import ema_workbench failed: {type(e).__name__}: {e}") from None
    return ema_workbench, f"pip --target {cache}"


def _sweep_timed(ls, executor: str, store_parent: Path, expect: int | None = None, **kw) -> dict:
    """One ``run_sweep`` into a fresh store: its wall time, and the time its runs took by their own clocks
    (the store's ``elapsed_s``: apply_point + Simulation.run + KPI filtering, what a direct call does)."""
    from sim.experiments.store import Store
    from sim.experiments.sweep import run_sweep

    store = Path(tempfile.mkdtemp(prefix=f"{executor}-", dir=store_parent))
    shutil.rmtree(store)
    c, t = time.process_time(), time.perf_counter()
    rep = run_sweep(ls, store, executor=executor, workers=WORKERS, **kw)
    dt_, cpu = time.perf_counter() - t, time.process_time() - c
    if rep.failed or rep.done != (rep.total if expect is None else expect):
        raise RuntimeError(f"{executor} sweep: {rep.done}/{rep.total} ok, {rep.failed} failed")
    in_runs = float(Store(store).results()["elapsed_s"].sum())
    shutil.rmtree(store, ignore_errors=True)
    return {"wall": dt_, "in_runs": in_runs, "cpu": cpu}  # cpu: the driver's, run_sweep's alone (not the read)


class SweepRunners:
    """The same runs of one spec through each runner; every method returns its wall time (s)."""

    def __init__(self, kind: str, n: int, tmp: Path, ema: Any):
        from sim.experiments.sweep import default_chunk_size, expand, kpi_matcher, load_spec
        from sim.experiments.sweep.design import assignments

        self.kind, self.tmp, self.ema = kind, tmp, ema
        self.setup = SWEEP_SETUPS[kind]
        self.ls = load_spec(write_spec(tmp, kind, n))
        self.runs = expand(self.ls)
        self.tasks = [(r.seed, assignments(self.ls, r)) for r in self.runs]
        self.pattern = kpi_matcher(self.ls.spec.kpis)
        self.chunk = default_chunk_size(len(self.tasks), WORKERS)  # what the local executor uses
        self.chunks = [self.tasks[i:i + self.chunk] for i in range(0, len(self.tasks), self.chunk)]
        paths = {name: path for name, path, _lo, _hi in self.setup["params"]}
        workloads.EMA_SETUPS[kind] = (self.ls.base, self.runs[0].seed, paths, list(self.setup["kpis"]))

    def measures(self) -> dict[str, Callable[[], Any]]:
        m: dict[str, Callable[[], Any]] = {
            "serial": self.serial, "serial_1run": self.serial_1run, "local": self.local, "dask": self.dask,
            "direct": self.direct, "pool": self.pool,
        }
        if self.ema is not None:
            m["ema"] = self.ema_run
        return m

    def serial(self) -> dict:
        return _sweep_timed(self.ls, "serial", self.tmp)

    def serial_1run(self) -> dict:
        """A one-run sweep of the same spec: the per-sweep fixed cost (design, store, catalogue) + one run."""
        return _sweep_timed(self.ls, "serial", self.tmp, limit=1, expect=1)

    def local(self) -> dict:
        return _sweep_timed(self.ls, "local", self.tmp)

    def dask(self) -> dict:
        """run_sweep on a LocalCluster(2) started here: cold (start + sweep + close) and warm (sweep only)."""
        from dask.distributed import LocalCluster

        t0 = time.perf_counter()
        cluster = LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None,
                               host="127.0.0.1")
        t1 = time.perf_counter()
        try:
            warm = _sweep_timed(self.ls, "dask", self.tmp, scheduler=cluster.scheduler_address)
        finally:
            t2 = time.perf_counter()
            cluster.close()
            t3 = time.perf_counter()
        return {"cold": t3 - t0, "warm": warm["wall"], "in_runs": warm["in_runs"], "startup": t1 - t0,
                "close": t3 - t2}

    def direct(self) -> float:
        """The runs one after another in this process: apply_point + Simulation.run, nothing else."""
        t = time.perf_counter()
        for seed, assigns in self.tasks:
            workloads.run_one(self.ls.base, seed, assigns, self.pattern)
        return time.perf_counter() - t

    def pool(self) -> float:
        """A plain ProcessPoolExecutor(2) (fork, as the local executor) mapping the same chunks."""
        from concurrent.futures import ProcessPoolExecutor

        fork = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        t = time.perf_counter()
        with ProcessPoolExecutor(WORKERS, mp_context=fork, initializer=workloads.init_pool,
                                 initargs=(self.ls.base, list(self.ls.spec.kpis))) as ex:
            res = [r for part in ex.map(workloads.pool_chunk, self.chunks) for r in part]
        dt_ = time.perf_counter() - t
        assert len(res) == len(self.tasks)
        return dt_

    def ema_run(self) -> float:
        """EMA Workbench's MultiprocessingEvaluator(2) on the same parameter values and seed."""
        ema = self.ema
        model = ema.Model(f"exportsim{self.kind}", function=workloads.ema_model)
        model.uncertainties = [ema.RealParameter(name, lo, hi) for name, _p, lo, hi in self.setup["params"]]
        model.constants = [ema.Constant("kind", self.kind)]
        model.outcomes = [ema.ScalarOutcome("kpi")]
        scenarios = [ema.Scenario(f"s{i}", **r.values) for i, r in enumerate(self.runs)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()), \
                    ema.MultiprocessingEvaluator(model, n_processes=WORKERS) as ev:  # its tqdm bar muted
                _experiments, outcomes = ev.perform_experiments(scenarios=scenarios)
            dt_ = time.perf_counter() - t
        assert len(outcomes["kpi"]) == len(self.runs)
        return dt_


def _wall(v: Any) -> float:
    if isinstance(v, dict):
        return v["cold"] if "cold" in v else v["wall"]
    return v


POOL_PAIRS = 9  # local-vs-pool pairs in all (the repeats' own, then extra interleaved pairs of those two alone)


def bench_sweeps(repeats: int, sizes: dict[str, int], ema_mode: str, ema_cache: Path) -> dict:
    try:
        ema, ema_how = ensure_ema(ema_mode, ema_cache)
        ema_note = None
    except EmaUnavailable as e:
        ema, ema_how, ema_note = None, None, str(e)
        log(f"EMA Workbench not measured: {e}")

    tmp = Path(tempfile.mkdtemp(prefix="exportsim-bench-"))
    out: dict[str, Any] = {"workers": WORKERS, "repeats": repeats, "kinds": {},
                           "ema": {"available": ema is not None, "how": ema_how, "note": ema_note,
                                   "version": getattr(ema, "__version__", None)}}
    try:
        for kind, n in sizes.items():
            runners = SweepRunners(kind, n, tmp, ema)
            measures = runners.measures()
            log(f"sweeps/{kind}: {len(runners.tasks)} runs x {repeats} repeats: {', '.join(measures)}")
            samples: list[dict] = []
            for i in range(repeats):
                rec: dict[str, Any] = {"busy_before": cpu_busy(0.5), "driver_cpu_s": {}}
                for name in rotated(list(measures), i):
                    c = time.process_time()
                    try:
                        rec[name] = measures[name]()
                    except Exception as e:  # noqa: BLE001 - EMA is optional: note why, go on without it
                        if name != "ema":
                            raise
                        out["ema"].update(available=False, note=f"failed: {type(e).__name__}: {e}"[:300])
                        log(f"EMA Workbench failed, not measured: {e}")
                        ema = runners.ema = None
                        del measures["ema"]
                        for prev in samples:
                            prev.pop("ema", None)
                        continue
                    got = rec[name]
                    # a sweep's own driver CPU (run_sweep only, not the bench's read of its store afterwards)
                    rec["driver_cpu_s"][name] = got["cpu"] if isinstance(got, dict) and "cpu" in got \
                        else time.process_time() - c
                samples.append(rec)
                log(f"  repeat {i + 1} (machine {rec['busy_before']:.0%} busy before): "
                    + ", ".join(f"{k} {_wall(rec[k]):.2f}s" for k in measures))
            # the comparison with the plain pool swings 0.87-1.05x between single readings: more pairs for it alone
            pairs = [_wall(x["pool"]) / _wall(x["local"]) for x in samples]
            for i in range(max(POOL_PAIRS - len(pairs), 0) if repeats > 1 else 0):
                order = ("pool", "local") if i % 2 else ("local", "pool")
                got = {name: _wall(measures[name]()) for name in order}
                pairs.append(got["pool"] / got["local"])
            log(f"  local vs pool, {len(pairs)} interleaved pairs: " + ", ".join(f"{x:.3f}" for x in pairs))
            out["kinds"][kind] = summarise_sweeps(samples, list(measures), len(runners.tasks), runners.chunk)
            out["kinds"][kind]["runs_per_s_vs_pool_pairs"] = pairs
            out["kinds"][kind]["runs_per_s_vs_pool"] = med(pairs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def summarise_sweeps(samples: list[dict], names: list[str], n_runs: int, chunk: int) -> dict:
    cpu = [s["driver_cpu_s"] for s in samples]
    w = [{name: _wall(s[name]) for name in names} for s in samples]
    fixed = [x["serial_1run"] - x["direct"] / n_runs for x in w]  # a one-run sweep minus one run
    return {
        "runs": n_runs, "chunk_size_local": chunk,
        "median_s": {name: med(x[name] for x in w) for name in names},
        "runs_per_s": {name: n_runs / med(x[name] for x in w) for name in names},
        "dask_warm_median_s": med(s["dask"]["warm"] for s in samples),
        "dask_startup_median_s": med(s["dask"]["startup"] for s in samples),
        "parallel_efficiency": med(x["serial"] / (WORKERS * x["local"]) for x in w),
        # the same runs' own clocks (store elapsed_s) summed, against the sweep's wall time: in-sweep figures
        "worker_busy_share_local": med(s["local"]["in_runs"] / (WORKERS * s["local"]["wall"]) for s in samples),
        "machinery_share_serial": med(s["serial"]["wall"] / s["serial"]["in_runs"] - 1 for s in samples),
        "sweep_overhead_vs_direct": med(x["serial"] / x["direct"] - 1 for x in w),
        "sweep_overhead_vs_direct_cpu": med(c["serial"] / c["direct"] - 1 for c in cpu),
        "sweep_fixed_cost_s": med(fixed),
        "sweep_overhead_per_run_excl_fixed": med((x["serial"] - f) / x["direct"] - 1
                                                 for x, f in zip(w, fixed, strict=True)),
        "driver_cpu_share_local": med(c["local"] / (WORKERS * x["local"]) for x, c in zip(w, cpu, strict=True)),
        "dask_slower_than_local": med(x["dask"] / x["local"] - 1 for x in w),
        "dask_warm_slower_than_local": med(s["dask"]["warm"] / x["local"] - 1 for s, x in zip(samples, w, strict=True)),
        "runs_per_s_vs_pool": med(x["pool"] / x["local"] for x in w),
        "runs_per_s_vs_ema": med(x["ema"] / x["local"] for x in w) if "ema" in names else None,
        "run_s_direct_mean": med(x["direct"] for x in w) / n_runs,
        "busy_before_median": med(s["busy_before"] for s in samples),
        "samples": samples,
    }


# ====================================================================================== dashboard
def bench_dashboard(repeats: int) -> dict:
    quiet_logs()
    os.environ.setdefault("STREAMLIT_GLOBAL_DEVELOPMENT_MODE", "false")
    with contextlib.redirect_stderr(io.StringIO()):
        from app import levers as lv
        from app import services
    quiet_logs()
    loaded = services.load_file(str(FLAGSHIP))
    found = lv.discover(loaded.data)
    lever = next(lv_ for lv_ in found if lv_.id == "yield:smic:ascend910b")
    seed = 1
    scenario = load_scenario(FLAGSHIP)
    # The Run page, minus Streamlit's rendering: current() re-validates the edited scenario, then
    # run + run_without_rules (cached), job summaries, compute by origin, five figures.

    def page(values: dict) -> dict[str, float]:
        t0 = time.perf_counter()
        edited = lv.apply(loaded.data, found, values)
        sj, problems = services.validate(edited, name="edited")
        assert not problems, problems
        meta = services.scenario_meta(sj)
        t1 = time.perf_counter()
        result = services.run(sj, seed)
        no_rules = services.run_without_rules(sj, seed)
        t2 = time.perf_counter()
        lab = meta["labs"][0]
        services.job_summary(result, no_rules)
        services.compute_by_origin(result, lab)
        plots = services.plots
        plots.fleet_area(result.tables["fleet"], result.start, owner=lab)
        plots.shipments_by_status(result.tables["shipments"])
        plots.jobs_gantt(result.tables["jobs"], result.start, meta["horizon_days"])
        plots.rentals_timeline(result.tables["rentals"], result.start)
        plots.cost_breakdown(result.tables["shipments"], result.tables["jobs"], buyer=lab)
        t3 = time.perf_counter()
        return {"total_s": t3 - t0, "validate_s": t1 - t0, "runs_s": t2 - t1, "figures_s": t3 - t2}

    with contextlib.redirect_stderr(io.StringIO()):
        page({lever.id: 0.33})  # warm: imports, plotly, caches of the loaded file
        samples = []
        for i in range(repeats):
            values = {lever.id: round(0.35 + 0.01 * i, 2)}  # a new value every repeat: a cache miss
            rec: dict[str, Any] = {}
            for what in rotated(["miss_then_hit", "direct"], i):
                if what == "direct":
                    t = time.perf_counter()
                    Simulation(scenario, seed).run().kpis  # noqa: B018 - a run with its KPIs (read lazily)
                    rec["direct_run_s"] = time.perf_counter() - t
                else:
                    rec["miss"] = page(values)
                    rec["hit"] = page(values)
            samples.append(rec)
    miss = med(s["miss"]["total_s"] for s in samples)
    hit = med(s["hit"]["total_s"] for s in samples)
    return {
        "lever": lever.id,
        "repeats": repeats,
        "rerun_after_lever_s": miss,
        "rerun_runs_s": med(s["miss"]["runs_s"] for s in samples),
        "rerun_figures_s": med(s["miss"]["figures_s"] for s in samples),
        "rerun_validate_s": med(s["miss"]["validate_s"] for s in samples),
        "cached_rerender_s": hit,
        "cached_runs_s": med(s["hit"]["runs_s"] for s in samples),
        "direct_run_s": med(s["direct_run_s"] for s in samples),
        "rerun_vs_direct_run": med(s["miss"]["total_s"] / s["direct_run_s"] for s in samples),
        "cached_vs_direct_run": med(s["hit"]["total_s"] / s["direct_run_s"] for s in samples),
        "cache": "st.cache_data outside a server (bare mode, in-memory cache)",
        "goal_s": 1.0,
        "samples": samples,
    }


# ========================================================================================= memory
def child_flagship_rss() -> dict:
    """(In a fresh process) peak RSS of one flagship run, and what the process held before it."""
    scenario = load_scenario(FLAGSHIP)
    before = hwm_mb()
    result = Simulation(scenario, 1).run()
    after = hwm_mb()
    return {"rss_before_run_mb": before, "peak_rss_mb": after, "run_increment_mb": after - before,
            "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "events": result.events_processed,
            "table_rows": {k: len(v) for k, v in result.tables.items()}}


def child_sweep_rss(runs: int) -> dict:
    """(In a fresh process) a KPI-only sweep of *runs* tiny runs: runs/s, RSS of driver and workers."""
    import psutil

    from sim.experiments.sweep import load_spec, run_sweep

    quiet_logs()
    tmp = Path(tempfile.mkdtemp(prefix="exportsim-bench-mem-"))
    try:
        ls = load_spec(write_spec(tmp, "tiny", runs))
        me = psutil.Process()
        samples: list[dict] = []

        def progress(done: int, todo: int, failed: int) -> None:
            kids = me.children(recursive=True)
            rss = []
            for k in kids:
                with contextlib.suppress(psutil.Error):
                    rss.append(k.memory_info().rss / 2**20)
            samples.append({"runs": done, "driver_mb": rss_mb(), "workers_mb": sum(rss),
                            "worker_max_mb": max(rss, default=0.0), "workers": len(rss)})

        rep = run_sweep(ls, tmp / "store", executor="local", workers=WORKERS, progress=progress)
        ok = rep.done == rep.total and not rep.failed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    live = [s for s in samples if s["workers"] > 0]
    mark = min(500, runs // 4)
    first = next((s for s in live if s["runs"] >= mark), live[0] if live else None)
    last = live[-1] if live else None
    out = {
        "runs": runs, "ok": ok, "wall_s": rep.wall_s, "runs_per_s": rep.runs_per_s, "chunks": rep.chunks,
        "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "samples": samples,
    }
    if first and last:
        out.update({
            "flat_from_runs": first["runs"], "flat_to_runs": last["runs"],
            "driver_mb_at": [first["driver_mb"], last["driver_mb"]],
            "workers_mb_at": [first["workers_mb"], last["workers_mb"]],
            "driver_growth_mb": last["driver_mb"] - first["driver_mb"],
            "workers_growth_mb": last["workers_mb"] - first["workers_mb"],
        })
        growth = max(out["driver_growth_mb"], out["workers_growth_mb"] / WORKERS)
        base = max(first["driver_mb"], first["worker_max_mb"])
        out["flat"] = bool(growth <= max(10.0, 0.05 * base))  # within 10 MB or 5 %
    return out


def _child(mode: str, *extra: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(f"child {mode} failed ({r.returncode}): {r.stderr.strip()[-1500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def bench_memory(sweep_runs: int) -> dict:
    log("memory: flagship run in a fresh process")
    flagship = _child("flagship-rss")
    log(f"memory: KPI-only sweep of {sweep_runs} tiny runs in a fresh process")
    sweep = _child("sweep-rss", str(sweep_runs))
    return {"flagship": flagship, "sweep": sweep}


# ========================================================================================= report
def goal_rows(res: dict) -> list[dict]:
    """One row per headline figure: area, measure, value, shown (short), detail, goal, met (None: no goal)."""
    rows: list[dict] = []

    def add(area, measure, value, shown, detail, goal, met):
        rows.append({"area": area, "measure": measure, "value": value, "shown": shown, "detail": detail,
                     "goal": goal, "met": met})

    r = res.get("ratios")
    if r:
        ratios.goal_rows(r, add)
    e = res.get("engine")
    if e:
        add("engine", "flagship events/s ÷ bare SimPy, engine only (env.run)", e["ratio_engine_only"],
            f"{e['ratio_engine_only']:.3f}x",
            f"{e['engine_events_per_s']:,.0f} vs {e['bare_events_per_s']:,.0f} events/s; "
            f"{e['ratio_engine_only_cpu']:.3f}x in CPU time; context, not a goal (issue 18: a free event loop would "
            "speed a run by ~10 %; the run's own floor is the goal above)", "–", None)
        add("engine", "flagship events/s ÷ bare SimPy, with result building", e["ratio_with_results"],
            f"{e['ratio_with_results']:.3f}x",
            f"a run takes {e['run_s_median'] * 1000:.0f} ms: env.run {e['env_run_s_median'] * 1000:.0f}, "
            f"build_result {e['build_result_s_median'] * 1000:.0f}, the rest {e['other_s_median'] * 1000:.0f}; "
            f"{e['events_median']:,.0f} events; {e['ratio_with_results_cpu']:.3f}x in CPU time; context",
            "–", None)
    s = res.get("scaling")
    if s:
        for fam, f in s["families"].items():
            steps = " → ".join(f"{r:.2f}" for r in f["ratio_per_doubling"])
            steps_cpu = " → ".join(f"{r:.2f}" for r in f["ratio_per_doubling_cpu"])
            add("scaling", f"run time per doubling of {fam} ({f['sizes'][0]:.3g}→{f['sizes'][-1]:.3g} "
                f"{s['units'][fam]})", f["max_ratio_per_doubling"], f"×{steps}",
                f"fitted exponent {f['exponent_run_s']:.2f} (events per run: {f['exponent_events']:.2f}); "
                f"in CPU time ×{steps_cpu}", "<= 2.2x each", f["max_ratio_per_doubling"] <= 2.2)
    w = res.get("sweeps")
    if w:
        for kind, k in w["kinds"].items():
            tag = f"{kind} ×{k['runs']}"
            add("sweeps", f"2-worker parallel efficiency, local vs serial ({tag})", k["parallel_efficiency"],
                f"{k['parallel_efficiency']:.0%}",
                f"workers were running runs {k['worker_busy_share_local']:.0%} of the sweep's wall time; the "
                f"driver used {k['driver_cpu_share_local']:.0%} of the 2 CPUs; others used "
                f"{k['busy_before_median']:.0%} of the machine before the repeats", ">= 90 %",
                k["parallel_efficiency"] >= 0.90)
            add("sweeps", f"2-worker sweep: worker busy share ({tag})", k["worker_busy_share_local"],
                f"{k['worker_busy_share_local']:.1%}",
                "the sum of the runs' own clocks (store's elapsed_s: applying the point + the run + KPI filtering) "
                "over 2 × the sweep's wall time", ">= 95 %", k["worker_busy_share_local"] >= 0.95)
            add("sweeps", f"2-worker sweep: driver CPU share ({tag})", k["driver_cpu_share_local"],
                f"{k['driver_cpu_share_local']:.1%}", "the driver process's CPU time over 2 × the sweep's wall time",
                "<= 5 %", k["driver_cpu_share_local"] <= 0.05)
            add("sweeps", f"sweep overhead per run vs direct calls, serial ({tag})", k["sweep_overhead_vs_direct"],
                f"{k['sweep_overhead_vs_direct']:+.1%}",
                f"direct {k['run_s_direct_mean'] * 1000:.0f} ms/run; {k['sweep_overhead_vs_direct_cpu']:+.1%} in "
                f"CPU time; fixed cost per sweep {k['sweep_fixed_cost_s']:.2f} s; within one sweep, wall time "
                f"exceeds the sum of its runs' own clocks by {k['machinery_share_serial']:+.1%}",
                "<= 5 %", k["sweep_overhead_vs_direct"] <= 0.05)
            add("sweeps", f"fixed cost of one sweep, serial ({tag})", k["sweep_fixed_cost_s"],
                f"{k['sweep_fixed_cost_s'] * 1000:.0f} ms",
                "a one-run sweep of the same spec (design, store, catalogue, the run) minus one direct run; "
                f"{k['sweep_fixed_cost_s'] / k['run_s_direct_mean']:.2g} runs' worth", "report", None)
            add("sweeps", f"Dask LocalCluster(2) vs local processes ({tag})", k["dask_slower_than_local"],
                f"{k['dask_slower_than_local']:+.1%}",
                f"including the cluster's start-up ({k['dask_startup_median_s']:.1f} s); "
                f"{k['dask_warm_slower_than_local']:+.1%} on a started cluster", "<= +10 %",
                k["dask_slower_than_local"] <= 0.10)
            add("sweeps", f"runs/s ÷ plain chunked ProcessPoolExecutor(2) ({tag})", k["runs_per_s_vs_pool"],
                f"{k['runs_per_s_vs_pool']:.3f}x",
                f"median of {len(k.get('runs_per_s_vs_pool_pairs', []))} interleaved pairs (range "
                f"{min(k.get('runs_per_s_vs_pool_pairs', [math.nan])):.3f}-"
                f"{max(k.get('runs_per_s_vs_pool_pairs', [math.nan])):.3f}x); repeats' medians "
                f"{k['runs_per_s']['local']:.1f} vs {k['runs_per_s']['pool']:.1f} runs/s", ">= 1.0x",
                k["runs_per_s_vs_pool"] >= 1.0)
            if k.get("runs_per_s_vs_ema") is not None:
                add("sweeps", f"runs/s ÷ EMA Workbench MultiprocessingEvaluator(2) ({tag})", k["runs_per_s_vs_ema"],
                    f"{k['runs_per_s_vs_ema']:.2f}x",
                    f"{k['runs_per_s']['local']:.1f} vs {k['runs_per_s']['ema']:.1f} runs/s "
                    f"(ema_workbench {w['ema']['version']})", "> 1x", k["runs_per_s_vs_ema"] > 1.0)
            else:
                add("sweeps", f"runs/s ÷ EMA Workbench MultiprocessingEvaluator(2) ({tag})", None, "not measured",
                    w["ema"]["note"] or "", "> 1x", None)
    d = res.get("dashboard")
    if d:
        add("dashboard", "Run page after a lever change (cache miss)", d["rerun_after_lever_s"],
            f"{d['rerun_after_lever_s']:.2f} s",
            f"the run and the no-rules run {d['rerun_runs_s']:.2f} s, five figures {d['rerun_figures_s']:.2f} s, "
            f"lever + validation {d['rerun_validate_s']:.2f} s; {d['rerun_vs_direct_run']:.1f}x one bare "
            "Simulation.run", "<= 1 s", d["rerun_after_lever_s"] <= 1.0)
        add("dashboard", "Run page re-render (cache hit)", d["cached_rerender_s"], f"{d['cached_rerender_s']:.2f} s",
            f"reading both runs from st.cache_data {d['cached_runs_s'] * 1000:.0f} ms, the rest is the figures; "
            f"{d['cached_vs_direct_run']:.1f}x one bare Simulation.run", "<= 1 s", d["cached_rerender_s"] <= 1.0)
    m = res.get("memory")
    if m:
        f = m["flagship"]
        add("memory", "peak RSS of a flagship run (fresh process)", f["peak_rss_mb"], f"{f['peak_rss_mb']:.0f} MB",
            f"{f['run_increment_mb']:+.0f} MB over the process with sim imported and the scenario loaded",
            "report", None)
        sw = m["sweep"]
        add("memory", f"KPI-only sweep of {sw['runs']:,} tiny runs (local ×2): runs/s", sw["runs_per_s"],
            f"{sw['runs_per_s']:.1f} runs/s",
            f"peak RSS: driver {sw['driver_peak_rss_mb']:.0f} MB, largest worker {sw['worker_peak_rss_mb']:.0f} MB",
            "report", None)
        if "driver_growth_mb" in sw:
            add("memory", f"… RSS from run {sw['flat_from_runs']:,} to {sw['flat_to_runs']:,}",
                sw["driver_growth_mb"], f"{sw['driver_growth_mb']:+.1f} MB driver, "
                f"{sw['workers_growth_mb']:+.1f} MB workers",
                f"driver {sw['driver_mb_at'][0]:.0f} → {sw['driver_mb_at'][1]:.0f} MB, workers (sum) "
                f"{sw['workers_mb_at'][0]:.0f} → {sw['workers_mb_at'][1]:.0f} MB", "flat (±10 MB or 5 %)",
                sw.get("flat"))
    return rows


def write_markdown(res: dict, rows: list[dict], path: Path) -> str:
    meta = res["meta"]
    mark = {True: "yes", False: "**no**", None: "–"}
    busy = ", ".join(f"{k} {v['busy_before']:.0%}" for k, v in meta.get("machine_before_section", {}).items())
    cmd = "python benchmarks/run_all.py" + ("" if not meta["argv"] else " " + " ".join(meta["argv"]))
    lines = [
        "# exportsim benchmarks",
        "",
        f"`{cmd}` · commit {meta['commit']} · {meta['started']} · Python {meta['python']}, SimPy {meta['simpy']} · "
        f"{meta['cpus']} CPUs · load average (1/5/15 min) {meta['loadavg_start']} at start, "
        f"{meta['loadavg_end']} at end; CPU used by other work just before each section: {busy} · "
        f"{meta['duration_s']:.0f} s",
        "",
        "Each figure is a ratio (or a time beside its reference) of things measured side by side in this run, "
        "repeats interleaved, median of the repeats.",
        "",
        "| # | area | measure | value | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        lines.append(f"| {i} | {r['area']} | {r['measure']} | {r['shown']} | {r['goal']} | {mark[r['met']]} |")
    lines += ["", "Details:", ""]
    for i, r in enumerate(rows, 1):
        if r["detail"]:
            lines.append(f"{i}. {r['detail']}")
    s = res.get("scaling")
    if s:
        lines += ["", "Scaling (median run time of Simulation.run, and events per run):", "",
                  "| family | sizes | run time, s | events | × per doubling | exponent |",
                  "|---|---|---|---|---|---|"]
        for fam, f in s["families"].items():
            lines.append(
                f"| {fam} | {', '.join(f'{x:.3g}' for x in f['sizes'])} {s['units'][fam]} | "
                f"{', '.join(f'{x:.3f}' for x in f['run_s'])} | {', '.join(f'{x:,.0f}' for x in f['events'])} | "
                f"{', '.join(f'{x:.2f}' for x in f['ratio_per_doubling'])} | {f['exponent_run_s']:.2f} |")
        lines += ["", "![scaling](scaling.png)"]
    w = res.get("sweeps")
    if w:
        names = ("serial", "local", "dask", "direct", "pool", "ema")
        lines += ["", "Sweep wall times (median, s; dask includes starting its cluster):", "",
                  "| runs | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for kind, k in w["kinds"].items():
            cells = [f"{k['median_s'][n]:.2f}" if n in k["median_s"] else "–" for n in names]
            lines.append(f"| {kind} ×{k['runs']} | " + " | ".join(cells) + " |")
    e = res.get("engine")
    if e and e.get("profile"):
        lines += ["", f"Profile of one flagship run: `{e['profile']['file']}` (cProfile)."]
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


# =========================================================================================== main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=textwrap.dedent(__doc__.split("\n", 2)[2]))
    ap.add_argument("--quick", action="store_true", help="a smoke run: fewer repeats, sizes and runs")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections ({', '.join(SECTIONS)})")
    ap.add_argument("--repeats", type=int, default=None, help="repeats per measurement (default 5, quick 1)")
    ap.add_argument("--sweep-runs", type=int, default=None,
                    help="runs of the memory section's KPI-only tiny sweep (default 2000, quick 200)")
    ap.add_argument("--sweep-flagship-runs", type=int, default=None,
                    help="runs per sweep in the sweeps section, flagship-sized (default 48, quick 8)")
    ap.add_argument("--sweep-tiny-runs", type=int, default=None,
                    help="runs per sweep in the sweeps section, tiny.yaml (default 1024, quick 16)")
    ap.add_argument("--out", default=str(HERE / "results"), help="output directory")
    ap.add_argument("--ema", choices=("auto", "skip"), default="auto",
                    help="EMA Workbench: import or pip-install it into --ema-cache (auto), or skip")
    ap.add_argument("--ema-cache", default=os.environ.get(
        "EXPORTSIM_EMA_CACHE", str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                                   / "exportsim-bench" / "ema-workbench")))
    ap.add_argument("--no-profile", action="store_true", help="skip the cProfile of one flagship run")
    ap.add_argument("--settle", type=float, default=None,
                    help="before each section wait up to this many seconds for the machine to be mostly idle "
                         "(others using < 25 %% of the CPUs); default 10, quick 0")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        mode, *extra = args.child
        res = child_flagship_rss() if mode == "flagship-rss" else child_sweep_rss(int(extra[0]))
        print(json.dumps(res))
        return 0

    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        ap.error(f"--only: unknown section(s) {', '.join(bad)} (choose from {', '.join(SECTIONS)})")
    quick = args.quick
    if args.settle is None:
        args.settle = 0.0 if quick else 10.0
    repeats = args.repeats or (1 if quick else 5)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    quiet_logs()

    t_start = time.perf_counter()
    res: dict[str, Any] = {"meta": {
        "started": dt.datetime.now().isoformat(timespec="seconds"), "commit": git_commit(), "quick": quick,
        "sections": only, "repeats": repeats, "python": platform.python_version(), "simpy": simpy.__version__,
        "platform": platform.platform(), "cpus": os.cpu_count(), "loadavg_start": loadavg(), "argv": sys.argv[1:],
    }}
    section_load = {}
    if "ratios" in only:
        section_load["ratios"] = begin_section(args.settle)
        log("ratios")
        spec_dir = Path(tempfile.mkdtemp(prefix="exportsim-ratios-"))
        try:
            res["ratios"] = ratios.bench_ratios(repeats, quick, write_spec(spec_dir, "flagship", 8 if quick else 24))
        finally:
            shutil.rmtree(spec_dir, ignore_errors=True)
    if "engine" in only:
        section_load["engine"] = begin_section(args.settle)
        log("engine")
        res["engine"] = bench_engine(max(repeats, 2) if quick else max(repeats, 7))
        if not quick and not args.no_profile:
            res["engine"]["profile"] = profile_flagship(out)
    if "scaling" in only:
        section_load["scaling"] = begin_section(args.settle)
        log("scaling")
        res["scaling"] = bench_scaling(1 if quick else max(repeats, 3), quick)
        plot_scaling(res["scaling"], out / "scaling.png")
        res["scaling"]["plot"] = "scaling.png"
    if "sweeps" in only:
        section_load["sweeps"] = begin_section(args.settle)
        log("sweeps")
        sizes = {"flagship": args.sweep_flagship_runs or (8 if quick else 48),
                 "tiny": args.sweep_tiny_runs or (16 if quick else 1024)}
        res["sweeps"] = bench_sweeps(1 if quick else max(min(repeats, 3), 3), sizes, args.ema, Path(args.ema_cache))
    if "dashboard" in only:
        section_load["dashboard"] = begin_section(args.settle)
        log("dashboard")
        res["dashboard"] = bench_dashboard(2 if quick else max(repeats, 3))
    if "memory" in only:
        section_load["memory"] = begin_section(args.settle)
        res["memory"] = bench_memory(args.sweep_runs or (200 if quick else 2000))
    res["meta"]["loadavg_end"] = loadavg()
    res["meta"]["machine_before_section"] = section_load
    res["meta"]["duration_s"] = time.perf_counter() - t_start
    rows = goal_rows(res)
    res["goals"] = rows
    (out / "bench.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    text = write_markdown(res, rows, out / "bench.md")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
