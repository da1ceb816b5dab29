"""Sweeps: a :class:`~sim.schema.sweep.SweepSpec` expanded into runs, executed, streamed to a run store.

**Runs.**  The design (SALib for LHS, Sobol/Saltelli and Morris; a full factorial for grids) is drawn
in the unit hypercube and mapped to parameter values (``sim.schema.sweep``).  Each (point,
replication) is one run whose id is content-addressed: ``run_id = sha256(code version, base scenario,
fixed settings, parameter values, seed)[:16]``, so re-running a spec never repeats a stored run and two
design rows that land on the same scenario and seed share one run.  Seeds come from the spec's seed
through ``numpy.random.SeedSequence(seed).spawn(replications)`` (replication r uses the same seed at
every point: common random numbers; ``common_random_numbers: false`` spawns per point instead).
No global RNG is ever touched.

**Applying a point.**  ``scenario.model_dump(by_alias=True)`` of the base, deep-copied, each dotted
path set, then re-validated with :func:`sim.scenario.loader.scenario_from_dict` (so a sampled value the schema
rejects fails that run with the loader's message).  Every path is checked against the base, and every
parameter's extreme values validated, when the spec is loaded: bad paths are ``FILE:LINE: path:
message`` lines before any run starts.

**Execution.**  Runs go to workers in chunks (consecutive replications of a point share a chunk, and the
validated scenario).  Executors: ``serial``, ``local`` (a ``ProcessPoolExecutor``, the default) and
``dask`` (``distributed.Client`` on ``--scheduler tcp://...`` or a loopback ``LocalCluster``).  At most
``2 x workers`` chunks are in flight, so memory stays flat however long the sweep is, and an
interruption loses only those chunks.  A run that raises is recorded as ``failed`` with a one-line
error; a worker process that dies fails its chunk, and the pool is rebuilt.

**Store** (a directory; layout in :mod:`sim.experiments.store`): only this driver writes.  Each completed chunk is
one Parquet file written to a temporary name and renamed, so no reader ever sees half a file; the
DuckDB catalogue is rebuilt from the Parquet files when a sweep stops (to a temporary file, renamed),
so it never holds a lock a reader could meet.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import re
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from sim import __version__
from sim.scenario.loader import (
    LoadProblem,
    ScenarioError,
    _data_path,
    _shown,
    _where,
    load_raw,
    load_scenario,
    scenario_from_dict,
)
from sim.schema.sweep import Parameter, SweepSpec

EXECUTORS = ("local", "dask", "serial")
Assignment = tuple[str, Any]  # (dotted path, value)
Progress = Callable[[int, int, int], None]  # (runs finished, runs to do, of which failed)


# =============================================================================== dotted paths
class PathError(ValueError):
    """A dotted path does not lead to a value of the scenario."""


def _segments(path: str) -> list[str]:
    return path.split(".")


def _step(cur: Any, seg: str, done: list[str]) -> Any:
    where = ".".join(done) or "the scenario"
    if isinstance(cur, dict):
        if seg in cur:
            return cur[seg]
        import difflib

        close = difflib.get_close_matches(seg, [str(k) for k in cur], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        keys = ", ".join(sorted(str(k) for k in cur)[:12])
        raise PathError(f"no key '{seg}' under {where}{hint} (has: {keys}{', ...' if len(cur) > 12 else ''})")
    if isinstance(cur, list):
        if not re.fullmatch(r"-?\d+", seg):
            raise PathError(f"{where} is a list; '{seg}' must be an index 0..{len(cur) - 1}")
        i = int(seg)
        if not 0 <= i < len(cur):
            raise PathError(f"index {i} out of range under {where} (a list of {len(cur)})")
        return cur[i]
    raise PathError(f"{where} is a value ({_brief(cur)}), not a mapping or list; cannot go on to '{seg}'")


def _brief(v: Any) -> str:
    s = repr(v)
    return s if len(s) < 40 else s[:37] + "..."


def get_path(data: Any, path: str) -> Any:
    """The value at dotted *path* in *data* (mappings by key, lists by index); :class:`PathError` if absent."""
    cur, done = data, []
    for seg in _segments(path):
        cur = _step(cur, seg, done)
        done.append(seg)
    return cur


def set_path(data: Any, path: str, value: Any) -> None:
    """Set dotted *path* in *data* in place; the path must already exist (it is never created)."""
    segs = _segments(path)
    parent = get_path(data, ".".join(segs[:-1])) if len(segs) > 1 else data
    last = segs[-1]
    _step(parent, last, segs[:-1])  # raises PathError if absent
    if isinstance(parent, list):
        parent[int(last)] = value
    else:
        parent[last] = value


def apply_point(base: dict, assignments: Sequence[Assignment]):
    """A validated Scenario: a deep copy of *base* (a ``model_dump(by_alias=True)``) with *assignments* set."""
    data = copy.deepcopy(base)
    for path, value in assignments:
        set_path(data, path, value)
    return scenario_from_dict(data)


# ====================================================================== parameter values from u
def _ppf(p: Parameter, u: np.ndarray) -> np.ndarray:
    from scipy import stats

    kind = p.kind
    if kind == "uniform":
        return p.low + u * (p.high - p.low)  # type: ignore[operator]
    if kind == "loguniform":
        lo, hi = math.log(p.low), math.log(p.high)  # type: ignore[arg-type]
        return np.exp(lo + u * (hi - lo))
    if kind == "triangular":
        width = p.high - p.low  # type: ignore[operator]
        return stats.triang.ppf(u, (p.mode - p.low) / width, loc=p.low, scale=width)  # type: ignore[operator]
    # unbounded: keep Morris' u = 0 and 1 finite (0.1 % and 99.9 % quantiles)
    uu = 0.001 + 0.998 * u
    if kind == "normal":
        lo = -np.inf if p.low is None else (p.low - p.mean) / p.sd  # type: ignore[operator]
        hi = np.inf if p.high is None else (p.high - p.mean) / p.sd  # type: ignore[operator]
        return stats.truncnorm.ppf(uu, lo, hi, loc=p.mean, scale=p.sd)
    if kind == "lognormal":
        x = np.exp(stats.norm.ppf(uu, loc=p.mean, scale=p.sd))
        if p.low is not None or p.high is not None:
            x = np.clip(x, p.low if p.low is not None else -np.inf, p.high if p.high is not None else np.inf)
        return x
    raise ValueError(kind)


def values_from_u(p: Parameter, u: np.ndarray) -> list[Any]:
    """Map unit-interval draws *u* to the parameter's values (inverse CDF, or ``levels[floor(u k)]``)."""
    u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
    if p.levels is not None:
        k = len(p.levels)
        return [p.levels[min(int(x * k), k - 1)] for x in u]
    x = _ppf(p, u)
    if p.integer:
        return [int(round(float(v))) for v in x]
    return [float(v) for v in x]


def grid_u(p: Parameter) -> np.ndarray:
    """The unit-interval points a parameter takes in a grid: its levels, or ``grid_points`` values."""
    if p.levels is not None:
        k = len(p.levels)
        return (np.arange(k) + 0.5) / k
    g = p.grid_points
    return np.linspace(0.0, 1.0, g) if p.bounded else (np.arange(g) + 0.5) / g


def is_numeric(p: Parameter) -> bool:
    """Whether the parameter's values are numbers (its store column is float64, else JSON text)."""
    if p.levels is None:
        return True
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p.levels)


# ======================================================================================= spec
@dataclass
class LoadedSpec:
    """A validated spec with its base scenario resolved."""

    spec: SweepSpec
    file: str
    base_file: Path
    base: dict  # base scenario, model_dump(by_alias=True), with `fixed` applied
    base_hash: str
    lines: dict = field(default_factory=dict, repr=False)

    @property
    def factors(self) -> dict[str, Parameter]:
        """Parameters sampled by the design (uncertainties; plus levers unless they are crossed)."""
        s = self.spec
        return dict(s.uncertainties) if s.design.cross_levers else s.parameters

    @property
    def policy_levers(self) -> dict[str, Parameter]:
        """Levers enumerated as a full factorial of policies (empty when they are design factors)."""
        s = self.spec
        return dict(s.levers) if s.design.cross_levers else {}

    @property
    def spec_key(self) -> str:
        """Hash of everything that defines the sweep except its size (design.n, replications)."""
        d = self.spec.model_dump(mode="json")
        d["design"].pop("n", None)
        d.pop("replications", None)
        d.pop("chunk_size", None)
        d.pop("description", None)
        d["base_hash"] = self.base_hash
        return _hash(d)[:16]

    @property
    def sweep_id(self) -> str:
        """``name-<spec key>``: stays the same when a sweep is extended."""
        return f"{self.spec.name}-{self.spec_key[:8]}"


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()


def _spec_problems(err: ValidationError, data: dict, lines: dict, file: str) -> list[LoadProblem]:
    out, seen = [], set()
    for e in err.errors(include_url=False):
        path = _data_path(e["loc"], data)
        f, line = _where(path, lines, file)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"unknown key '{path[-1] if path else '?'}'"
        elif e["type"] == "missing":
            msg = "required field missing"
        elif "input" in e and not isinstance(e["input"], (dict, list)) and len(repr(e["input"])) < 60:
            msg += f" (got {e['input']!r})"
        dotted = ".".join(str(p) for p in path)
        if (f, line, dotted, msg) not in seen:
            seen.add((f, line, dotted, msg))
            out.append(LoadProblem(f, line, dotted, msg))
    return out


def load_spec(path: str | os.PathLike) -> LoadedSpec:
    """Read and check a sweep spec: schema, base scenario, every dotted path, every parameter's extremes.

    Raises :class:`ScenarioError` listing every problem as ``FILE:LINE: path: message``.
    """
    data, lines = load_raw(path)
    file = _shown(Path(path))
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(_spec_problems(e, data, lines, file)) from None

    def at(*keys: Any) -> tuple[str, int]:
        return _where(tuple(keys), lines, file)

    base_file = (Path(path).parent / spec.base) if not Path(spec.base).is_absolute() else Path(spec.base)
    if not base_file.is_file():
        f, line = at("base")
        msg = f"cannot find scenario '{spec.base}' (looked at {_shown(base_file)})"
        raise ScenarioError([LoadProblem(f, line, "base", msg)])
    scenario = load_scenario(base_file)  # its own problems, with its own file:line
    base = scenario.model_dump(by_alias=True)
    problems: list[LoadProblem] = []
    for fpath, value in spec.fixed.items():
        try:
            set_path(base, fpath, value)
        except PathError as e:
            f, line = at("fixed", fpath)
            problems.append(LoadProblem(f, line, f"fixed.{fpath}", f"'{fpath}' is not in the scenario: {e}"))
    if problems:
        raise ScenarioError(problems)
    if spec.fixed:
        try:
            base = scenario_from_dict(copy.deepcopy(base), file=file).model_dump(by_alias=True)
        except ScenarioError as e:
            f, line = at("fixed")
            raise ScenarioError([LoadProblem(f, line, "fixed", f"makes the base invalid: {p.path}: {p.message}")
                                 for p in e.problems]) from None
    for group in ("levers", "uncertainties"):
        for name, p in getattr(spec, group).items():
            try:
                get_path(base, p.path)
            except PathError as e:
                f, line = at(group, name, "path")
                problems.append(LoadProblem(f, line, f"{group}.{name}.path", f"'{p.path}' is not in the scenario: {e}"))
                continue
            u = grid_u(p) if p.levels is not None else np.array([0.0, 1.0])
            for v in dict.fromkeys(json.dumps(x, default=str) for x in values_from_u(p, u)):
                try:
                    apply_point(base, [(p.path, json.loads(v))])
                except ScenarioError as e:
                    f, line = at(group, name)
                    first = e.problems[0]
                    problems.append(LoadProblem(f, line, f"{group}.{name}",
                                                f"value {v} makes the scenario invalid: {first.path}: {first.message}"))
                    break
    if problems:
        raise ScenarioError(problems)
    return LoadedSpec(spec, file, base_file, base, _hash(base), lines)


# ===================================================================================== design
@dataclass(frozen=True)
class Run:
    """One planned run: a design row (policy, sample) and a replication."""

    run_id: str
    point_id: str
    policy_index: int
    sample_index: int
    replication: int
    seed: int
    values: dict[str, Any]
    u: tuple[float, ...]


def design_matrix(ls: LoadedSpec, lhs_blocks: Sequence[int] | None = None) -> np.ndarray:
    """The design in the unit hypercube: one row per sample, one column per factor (``ls.factors``)."""
    spec, names = ls.spec, list(ls.factors)
    d, n = len(names), spec.design.n
    problem = {"num_vars": d, "names": names, "bounds": [[0.0, 1.0]] * d}
    seed = int(np.random.SeedSequence(spec.seed).generate_state(1)[0])
    kind = spec.design.kind
    if d == 0:
        return np.zeros((1, 0))
    if kind == "grid":
        axes = [grid_u(p) for p in ls.factors.values()]
        return np.array(list(itertools.product(*axes)), dtype=float)
    if kind == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, n, calc_second_order=spec.design.second_order, seed=seed)
    if kind == "morris":
        from SALib.sample import morris

        return morris.sample(problem, n, num_levels=spec.design.levels, seed=seed)
    from SALib.sample import latin

    blocks = list(lhs_blocks or [n])
    parts = []
    for b, size in enumerate(blocks):
        bseed = int(np.random.SeedSequence(spec.seed, spawn_key=(b,)).generate_state(1)[0])
        parts.append(latin.sample(problem, size, seed=bseed))
    return np.vstack(parts)


def design_size(spec: SweepSpec) -> int:
    """Number of samples (rows of the design matrix) before policies and replications."""
    d = len(spec.uncertainties) if spec.design.cross_levers else len(spec.parameters)
    k = spec.design
    if k.kind == "sobol":
        return k.n * (2 * d + 2 if k.second_order else d + 2)
    if k.kind == "morris":
        return k.n * (d + 1)
    if k.kind == "lhs":
        return k.n
    factors = spec.uncertainties if k.cross_levers else spec.parameters
    return math.prod(len(grid_u(p)) for p in factors.values())


def replication_seeds(spec: SweepSpec) -> list[int]:
    """Seed of each replication: ``SeedSequence(spec.seed).spawn(R)``, 63 bits of each child."""
    children = np.random.SeedSequence(spec.seed).spawn(spec.replications)
    return [int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children]


def expand(ls: LoadedSpec, lhs_blocks: Sequence[int] | None = None) -> list[Run]:
    """Every run of the sweep, in design order: policy, then sample, then replication."""
    spec = ls.spec
    U = design_matrix(ls, lhs_blocks)
    factor_values = {name: values_from_u(p, U[:, j]) for j, (name, p) in enumerate(ls.factors.items())}
    levers = ls.policy_levers
    policies = list(itertools.product(*[values_from_u(p, grid_u(p)) for p in levers.values()])) or [()]
    crn_seeds = replication_seeds(spec)
    runs = []
    for pi, policy in enumerate(policies):
        for si in range(U.shape[0]):
            values = dict(zip(levers, policy, strict=True))
            values.update({name: vals[si] for name, vals in factor_values.items()})
            values = {name: values[name] for name in spec.parameters}  # file order
            point_key = _hash(values)
            point_id = point_key[:12]
            for r in range(spec.replications):
                if spec.common_random_numbers:
                    seed = crn_seeds[r]
                else:
                    ss = np.random.SeedSequence(spec.seed, spawn_key=(r, int(point_key[:15], 16)))
                    seed = int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))
                run_id = _hash([__version__, ls.base_hash, values, seed])[:16]
                runs.append(Run(run_id, point_id, pi, si, r, seed, values, tuple(float(x) for x in U[si])))
    return runs


def assignments(ls: LoadedSpec, run: Run) -> list[Assignment]:
    """The (dotted path, value) pairs that turn the base into *run*'s scenario."""
    params = ls.spec.parameters
    return [(params[name].path, v) for name, v in run.values.items()]


# ================================================================================ worker side
_KPI_CACHE: dict[tuple[str, ...], re.Pattern] = {}
_WORKER_BASE: dict | None = None


def kpi_matcher(patterns: Sequence[str]) -> re.Pattern:
    """A regex for KPI *patterns*: ``*`` and ``?`` are wildcards, everything else (``[``, ``/``) literal."""
    key = tuple(patterns)
    if key not in _KPI_CACHE:
        parts = [re.escape(p).replace(r"\*", ".*").replace(r"\?", ".") for p in patterns]
        _KPI_CACHE[key] = re.compile("^(?:" + "|".join(parts) + ")$")
    return _KPI_CACHE[key]


def _init_worker(base: dict) -> None:
    global _WORKER_BASE
    _WORKER_BASE = base


@dataclass
class ChunkResult:
    """What a worker sends back for one chunk: one record per run, and tables when kept."""

    records: list[dict]
    tables: dict[str, Any] | None = None


def _one_line(e: BaseException) -> str:
    if isinstance(e, ScenarioError) and e.problems:
        p = e.problems[0]
        text = f"invalid scenario: {p.path}: {p.message}"
    else:
        text = f"{type(e).__name__}: {e}"
    text = " ".join(text.split())
    return text if len(text) <= 500 else text[:497] + "..."


def run_chunk(base: dict | None, tasks: list[tuple[str, int, list[Assignment]]], keep_tables: bool,
              kpi_patterns: Sequence[str]) -> ChunkResult:
    """Run *tasks* ``(run_id, seed, assignments)``; never raises for a failing run (it is recorded).

    Consecutive tasks with the same assignments (replications of a point) share one validated scenario.
    *base* None means the base given to the worker at start-up (``ProcessPoolExecutor`` initializer).
    """
    import pandas as pd

    from sim.engine.simulation import Simulation

    base = base if base is not None else _WORKER_BASE
    match = kpi_matcher(kpi_patterns)
    records: list[dict] = []
    tables: dict[str, list] = {}
    last_key, scenario, scenario_err = None, None, None
    for run_id, seed, assigns in tasks:
        t0 = time.perf_counter()
        key = json.dumps(assigns, default=str)
        if key != last_key:
            last_key, scenario, scenario_err = key, None, None
            try:
                scenario = apply_point(base, assigns)  # type: ignore[arg-type]
            except Exception as e:  # noqa: BLE001 - recorded, not fatal
                scenario_err = _one_line(e)
        rec: dict[str, Any] = {"run_id": run_id, "status": "ok", "error": None}
        if scenario_err is not None:
            rec.update(status="failed", error=scenario_err)
        else:
            try:
                result = Simulation(scenario, seed, run_id=run_id).run()
                rec.update({k: float(v) for k, v in result.kpis.items() if match.match(k)})
                if keep_tables:
                    for name, df in result.tables.items():
                        tables.setdefault(name, []).append(df)
            except Exception as e:  # noqa: BLE001 - recorded, not fatal
                rec.update(status="failed", error=_one_line(e))
                if os.environ.get("EXPORTSIM_DEBUG"):
                    traceback.print_exc()
        rec["elapsed_s"] = time.perf_counter() - t0
        records.append(rec)
    out_tables = None
    if keep_tables:
        out_tables = {name: pd.concat(dfs, ignore_index=True) for name, dfs in tables.items() if dfs}
    return ChunkResult(records, out_tables)


# ================================================================================ executors
Chunk = list[tuple[str, int, list[Assignment]]]


def _execute(kind: str, workers: int, scheduler: str | None, base: dict, chunks: Iterator[Chunk],
             keep_tables: bool, kpis: Sequence[str]) -> Iterator[tuple[Chunk, ChunkResult | BaseException]]:
    """Yield (chunk, result or the infrastructure error) as chunks finish, at most 2*workers in flight."""
    if kind == "serial":
        for chunk in chunks:
            yield chunk, run_chunk(base, chunk, keep_tables, kpis)
        return
    inflight_max = max(2 * workers, 2)
    if kind == "local":
        yield from _execute_local(workers, base, chunks, keep_tables, kpis, inflight_max)
    elif kind == "dask":
        yield from _execute_dask(workers, scheduler, base, chunks, keep_tables, kpis, inflight_max)
    else:
        raise ValueError(f"unknown executor '{kind}' ({', '.join(EXECUTORS)})")


MAX_CHUNK_ATTEMPTS = 2  # a chunk whose worker dies is retried once, then recorded failed


def _execute_local(workers, base, chunks, keep_tables, kpis, inflight_max):
    """A process pool.  A worker that dies (e.g. SIGKILL) breaks the pool and every chunk in flight with it:
    each of those chunks is retried once, alone on a fresh pool, so the one whose worker dies again is known
    and recorded failed while the others complete.  The sweep goes on either way."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None

    def new_pool():
        return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(base,))

    pool = new_pool()
    inflight: dict = {}  # future -> chunk
    retry: list = []  # chunks to submit again first (the pool broke while submitting them)
    solo: list = []  # chunks lost with a broken pool: each runs again alone
    alone = False  # the chunk in flight runs alone
    try:
        exhausted = False
        while True:
            broken = False
            while not alone and len(inflight) < inflight_max:
                if solo:
                    if inflight:
                        break  # wait until the pool is empty, then run the suspect alone
                    chunk, alone = solo.pop(0), True
                elif retry:
                    chunk = retry.pop(0)
                else:
                    chunk = None if exhausted else next(chunks, None)
                    if chunk is None:
                        exhausted = True
                        break
                try:
                    inflight[pool.submit(run_chunk, None, chunk, keep_tables, kpis)] = chunk
                except BrokenProcessPool:  # the pool died while the driver was writing: this one goes again too
                    (solo if alone else retry).insert(0, chunk)
                    alone = False
                    broken = True
                    break
            if not inflight and not broken:
                if retry or solo:
                    continue
                return
            if not broken:
                finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in finished:
                    chunk = inflight.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        inflight[fut] = chunk  # handled with the rest of the in-flight chunks below
                        continue
                    except Exception as e:  # noqa: BLE001 - e.g. unpicklable result
                        yield chunk, e
                        continue
                    yield chunk, result
                if not broken and not inflight:
                    alone = False
            if broken:
                lost = list(inflight.values())
                was_alone = alone
                inflight.clear()
                alone = False
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
                for chunk in lost:
                    if was_alone:
                        yield chunk, RuntimeError("worker process died twice running this chunk (the second time alone)")
                    else:
                        solo.append(chunk)
    finally:
        pool.shutdown(wait=not inflight, cancel_futures=True)


def _execute_dask(workers, scheduler, base, chunks, keep_tables, kpis, inflight_max):
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler, timeout=30)
        n = max(len(client.scheduler_info().get("workers", {})), 1)
        inflight_max = max(inflight_max, 2 * n)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               host="127.0.0.1")
        client = Client(cluster)
    try:
        base_f = client.scatter(base, broadcast=True)
        ac = as_completed()
        owner: dict = {}

        def submit() -> bool:
            chunk = next(chunks, None)
            if chunk is None:
                return False
            fut = client.submit(run_chunk, base_f, chunk, keep_tables, kpis, pure=False)
            owner[fut.key] = chunk
            ac.add(fut)
            return True

        for _ in range(inflight_max):
            if not submit():
                break
        for fut in ac:
            chunk = owner.pop(fut.key)
            try:
                res = fut.result()
            except Exception as e:  # noqa: BLE001 - a killed worker etc.: the chunk fails, the sweep goes on
                res = e
            fut.release()
            yield chunk, res
            submit()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ====================================================================================== driver
@dataclass
class SweepReport:
    """What one ``run_sweep`` call did."""

    sweep_id: str
    store: str
    total: int  # distinct runs in the design
    skipped: int  # already in the store
    done: int  # run now, ok
    failed: int  # run now, failed
    remaining: int  # not run (limit reached, fail-fast, interrupted)
    wall_s: float
    executor: str
    workers: int
    chunks: int
    unmatched_kpis: list[str] = field(default_factory=list)

    @property
    def runs_per_s(self) -> float:
        """Runs finished per second of wall time in this call."""
        return (self.done + self.failed) / self.wall_s if self.wall_s > 0 else math.nan


class SweepError(Exception):
    """A sweep cannot start (store conflict, bad option); one line each in ``problems``."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def default_chunk_size(n_runs: int, workers: int) -> int:
    """About four chunks per worker for load balance, capped at 64 runs (the most an interruption loses)."""
    return max(1, min(64, math.ceil(n_runs / max(4 * workers, 1))))


def run_sweep(
    spec: str | os.PathLike | LoadedSpec,
    store: str | os.PathLike | None = None,
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    extend: bool = False,
    retry_failed: bool = False,
    fail_fast: bool = False,
    limit: int | None = None,
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> SweepReport:
    """Run (or resume, or extend) a sweep into *store* (default ``sweeps/<name>``); see the module doc.

    *progress* is called as ``progress(finished, to_do, failed)`` after every chunk.  *limit* stops after
    that many new runs (the store is left resumable, as after Ctrl-C).
    """
    from sim.experiments import store as st

    t0 = time.perf_counter()
    ls = spec if isinstance(spec, LoadedSpec) else load_spec(spec)
    if executor == "processes":
        executor = "local"
    if executor not in EXECUTORS:
        raise SweepError([f"--executor: must be one of {', '.join(EXECUTORS)}, got '{executor}'"])
    workers = workers or os.cpu_count() or 1
    root = Path(store) if store is not None else Path("sweeps") / ls.spec.name
    meta = _prepare_store(root, ls, extend)
    runs = expand(ls, meta.get("lhs_blocks"))
    try:
        _write_design(root, ls, runs)
        _write_meta(root, meta)
    except OSError as e:
        raise SweepError([f"{root}: cannot write: {e.strerror or e}"]) from None

    done_ids, failed_ids = st.stored_run_ids(root)
    skip = done_ids | (set() if retry_failed else failed_ids)
    todo: list[Run] = []
    seen: set[str] = set()
    for r in runs:
        if r.run_id not in seen:
            seen.add(r.run_id)
            if r.run_id not in skip:
                todo.append(r)
    total = len(seen)
    skipped = total - len(todo)
    if limit is not None:
        todo = todo[: max(limit, 0)]
    workers_used = 1 if executor == "serial" else workers
    size = chunk_size or ls.spec.chunk_size or default_chunk_size(len(todo), workers_used)
    chunk_list = [[(r.run_id, r.seed, assignments(ls, r)) for r in todo[i:i + size]] for i in range(0, len(todo), size)]
    report = SweepReport(ls.sweep_id, str(root), total, skipped, 0, 0, len(todo), 0.0, executor, workers_used,
                         len(chunk_list))
    if progress is not None:
        progress(0, len(todo), 0)
    seq = st.next_chunk_seq(root)
    matched: set[str] = set()
    kept_any = False
    stream = None
    try:
        if chunk_list:
            stream = _execute(executor, workers_used, scheduler, ls.base, iter(chunk_list), ls.spec.keep == "tables",
                              ls.spec.kpis)
            for chunk, res in stream:
                if isinstance(res, BaseException):
                    res = ChunkResult([{"run_id": t[0], "status": "failed", "error": _one_line(res), "elapsed_s": 0.0}
                                       for t in chunk])
                _write_chunk(root, seq, ls, res)
                seq += 1
                n_failed = sum(r["status"] != "ok" for r in res.records)
                report.done += len(res.records) - n_failed
                report.failed += n_failed
                report.remaining -= len(res.records)
                for r in res.records:
                    if r["status"] == "ok":
                        kept_any = True
                        matched.update(k for k in r if k not in ("run_id", "status", "error", "elapsed_s"))
                if progress is not None:
                    progress(report.done + report.failed, len(todo), report.failed)
                if fail_fast and n_failed:
                    break
    finally:
        if stream is not None:
            stream.close()  # shuts the pool/cluster down; in-flight chunks are dropped (re-run resumes them)
        try:
            st.rebuild_catalogue(root)
        except Exception:  # noqa: BLE001 - the Parquet files are the truth; the catalogue is a convenience
            pass
    if kept_any:
        report.unmatched_kpis = [p for p in ls.spec.kpis if not any(kpi_matcher([p]).match(k) for k in matched)]
    report.wall_s = time.perf_counter() - t0
    return report


def _prepare_store(root: Path, ls: LoadedSpec, extend: bool) -> dict:
    from sim.experiments import store as st

    old = st.read_meta(root)
    spec = ls.spec
    if root.exists() and not root.is_dir():
        raise SweepError([f"{root}: not a directory"])
    fresh = {"format": st.STORE_FORMAT, "sweep_id": ls.sweep_id, "name": spec.name, "spec_key": ls.spec_key,
             "spec": spec.model_dump(mode="json"), "spec_file": ls.file, "base_file": _shown(ls.base_file),
             "base_hash": ls.base_hash, "version": __version__,
             "parameters": {n: {"group": "lever" if n in spec.levers else "uncertainty", "path": p.path,
                                "kind": p.kind, "numeric": is_numeric(p)} for n, p in spec.parameters.items()},
             "factors": list(ls.factors), "policy_levers": list(ls.policy_levers),
             "lhs_blocks": [spec.design.n] if spec.design.kind == "lhs" else None,
             "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if old is None:
        if any(root.glob("*")) and not (root / "runs").is_dir():
            raise SweepError([f"{root}: exists and is not a sweep store (no {st.META}); choose another --store"])
        return fresh
    if old.get("spec_key") != ls.spec_key:
        raise SweepError([f"{root}: holds sweep '{old.get('sweep_id')}', made from a different spec (parameters, "
                          f"design kind, base scenario or KPIs differ); use another --store"])
    old_spec = old["spec"]
    grown = (old_spec["design"]["n"], old_spec["replications"]) != (spec.design.n, spec.replications)
    if grown and not extend:
        raise SweepError([f"{root}: this spec changes design.n ({old_spec['design']['n']} -> {spec.design.n}) or "
                          f"replications ({old_spec['replications']} -> {spec.replications}) of the stored sweep; "
                          "pass --extend to add runs"])
    if spec.design.n < old_spec["design"]["n"] or spec.replications < old_spec["replications"]:
        raise SweepError([f"{root}: --extend can add points or replications, not remove them"])
    fresh["created"] = old.get("created", fresh["created"])
    if spec.design.kind == "lhs":
        blocks = list(old.get("lhs_blocks") or [old_spec["design"]["n"]])
        if spec.design.n > sum(blocks):
            blocks.append(spec.design.n - sum(blocks))  # LHS is not nested: new points are a new LHS block
        fresh["lhs_blocks"] = blocks
    return fresh


def _atomic_parquet(df, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _write_meta(root: Path, meta: dict) -> None:
    from sim.experiments import store as st

    root.mkdir(parents=True, exist_ok=True)
    (root / "runs").mkdir(exist_ok=True)
    meta = dict(meta, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
    tmp = root / f".{st.META}.tmp"
    tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n")
    os.replace(tmp, root / st.META)


def _write_design(root: Path, ls: LoadedSpec, runs: list[Run]) -> None:
    import pandas as pd

    from sim.experiments import store as st

    ids = ("run_id", "point_id", "policy_index", "sample_index", "replication", "seed")
    cols: dict[str, list] = {k: [] for k in ids}
    params = ls.spec.parameters
    numeric = {n: is_numeric(p) for n, p in params.items()}
    for n in params:
        cols[n] = []
    factors = list(ls.factors)
    for n in factors:
        cols[f"u:{n}"] = []
    for r in runs:
        for k in ("run_id", "point_id", "policy_index", "sample_index", "replication", "seed"):
            cols[k].append(getattr(r, k))
        for n in params:
            v = r.values[n]
            cols[n].append(float(v) if numeric[n] else json.dumps(v, default=str))
        for j, n in enumerate(factors):
            cols[f"u:{n}"].append(r.u[j])
    df = pd.DataFrame(cols)
    df["seed"] = df["seed"].astype("int64")
    _atomic_parquet(df, root / st.DESIGN)


def _write_chunk(root: Path, seq: int, ls: LoadedSpec, res: ChunkResult) -> None:
    import pandas as pd

    from sim.experiments import store as st

    tag = f"part-{seq:06d}-{uuid.uuid4().hex[:8]}"
    if res.tables:  # tables first: a runs file is the commit marker that makes them visible
        for name, df in res.tables.items():
            _atomic_parquet(df, root / st.TABLES / name / f"{tag}.parquet")
    df = pd.DataFrame.from_records(res.records)
    for c in ("status", "error"):
        df[c] = df[c].astype("string") if c in df else pd.Series([None] * len(df), dtype="string")
    df["chunk"] = seq
    kpi_cols = [c for c in df.columns if c not in ("run_id", "status", "error", "elapsed_s", "chunk")]
    for c in kpi_cols:
        df[c] = df[c].astype("float64")
    df = df[["run_id", "status", "error", "elapsed_s", "chunk", *kpi_cols]]
    _atomic_parquet(df, root / st.RUNS / f"{tag}.parquet")
