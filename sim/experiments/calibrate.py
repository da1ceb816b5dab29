"""Calibration: ABC-SMC over a scenario's uncertain inputs against published observables, with a time split.

**What is fitted.**  A :class:`~sim.schema.calibration.CalibrationSpec` names inputs of one base scenario
(dotted paths, ``set`` or ``scale``) with priors in the sweep vocabulary, and an observables file
(``scenarios/observed.yaml``).  The observables computed from the base scenario are split by their
``date``: those on or before ``cutoff`` are fitted, the later ones held out and only predicted.

**How.**  pyabc's ABC-SMC (Del Moral / Beaumont / Toni et al.): each generation proposes particles from
the previous weighted population through a multivariate-normal kernel, runs the model, and accepts those
whose distance to the published figures is below a threshold that shrinks from generation to generation
(a quantile of the last generation's distances).  The sampler works in the unit hypercube: input i is
``values_from_u(prior_i, u_i)`` (the sweeps' inverse CDF), so every prior is Uniform(0, 1) in u and the
kernel never has to know a distribution's shape.

**Distance.**  Observable j's simulated value s_j is measured in units of its published range
w_j = high_j - low_j: ``interval`` (default) d_j = max(0, low_j - s_j, s_j - high_j) / w_j (0 anywhere
in the range: the range read as a band of equally plausible values, so at threshold 0 the posterior is
the prior restricted to runs that land inside every fitted range); ``central`` d_j = |s_j - c_j| / w_j.
The run's distance is the p-norm of the d_j (a value a run cannot compute counts ``distance.missing``).

**Randomness.**  A particle's run seed is derived from the spec seed and its u (fresh noise per particle,
so the posterior integrates over the model's own randomness, as ABC requires); ``common_random_numbers:
true`` gives every particle the same seeds instead (less noise between particles, but a posterior
conditional on those seeds).  The predictive checks use common random numbers either way: prior draw i
and posterior draw i run with the same seed i, distinct from every fitting seed.  Each run is
reproducible from its u; the order in which parallel workers propose particles is not.

**Store** (a folder; written only by this driver, every file atomically)::

    calibration.json     spec, spec/base/observed files and hashes, model fingerprint, seeds, split,
                         pyabc version, status, per-generation progress
    abc.db               pyabc's SQLite history: every generation, so a killed run resumes where it stopped
    generations.parquet  t, epsilon, samples, accepted, acceptance_rate, ess, wall_s
    populations.parquet  every generation's particles: t, particle, weight, distance, u:<input>, <input>
    posterior.parquet    the last generation: particle, weight, distance, u:<input>, <input>, sim:<observable>
    predictive.parquet   prior and posterior predictive runs: kind, draw, seed, particle, <input>, obs:<id>
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import logging
import math
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from sim.experiments.backtest import load_observed
from sim.experiments.heap import frozen_heap
from sim.experiments.posterior import (
    ABC_DB,
    GENERATIONS,
    META,
    POPULATIONS,
    POSTERIOR,
    PREDICTIVE,
    apply_inputs,
    expand_path,
    input_assignments,
)
from sim.experiments.sweep import values_from_u
from sim.results.measures import measure
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
from sim.scenario.overrides import apply_overrides, validated_base
from sim.scenario.paths import PathError, set_path
from sim.schema.calibration import CalibrationParameter, CalibrationSpec
from sim.schema.observed import Observable, ObservedFile

EXECUTORS = ("local", "dask", "serial")
STORE_FORMAT = 1
Progress = Callable[[dict], None]
log = logging.getLogger(__name__)


class CalibrationError(Exception):
    """A calibration cannot start or go on (store conflict, changed model, bad option); one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()


# ========================================================================================= the spec
@dataclass
class LoadedCalibration:
    """A checked spec: the base scenario (with ``fixed`` applied), the observables split at the cut-off."""

    spec: CalibrationSpec
    file: str
    base_file: Path
    base: dict
    base_hash: str
    observed_file: Path
    observed: ObservedFile
    fit: dict[str, Observable]
    held_out: dict[str, Observable]
    skipped: dict[str, str]  # observable id -> why it is not used
    start: dt.date

    @property
    def parameters(self) -> dict[str, CalibrationParameter]:
        """The inputs, in spec order."""
        return dict(self.spec.parameters)

    @property
    def used(self) -> dict[str, Observable]:
        """Fitted then held-out observables."""
        return {**self.fit, **self.held_out}

    @property
    def key(self) -> str:
        """Hash of everything that defines the fit (spec without its description, base, fitted observables)."""
        d = self.spec.model_dump(mode="json")
        d.pop("description", None)
        d.pop("predictive_draws", None)
        d["abc"].pop("generations", None)  # more generations extend a calibration
        obs = {k: v.model_dump(mode="json") for k, v in self.fit.items()}
        return _hash({"spec": d, "base": self.base_hash, "fit": obs})[:16]

    def values(self, u: Sequence[float]) -> dict[str, Any]:
        """Input values for unit-hypercube coordinates *u* (spec order)."""
        return {n: values_from_u(p, np.array([float(x)]))[0] for (n, p), x in zip(self.parameters.items(), u,
                                                                                    strict=True)}

    def inputs(self, values: dict[str, Any]) -> list[tuple[str, str, Any]]:
        """(path, set|scale, value) for input *values*."""
        return [(p.path, p.apply, values[n]) for n, p in self.parameters.items()]

    def scenario(self, values: dict[str, Any]):
        """The validated base scenario with input *values* applied."""
        assigns, _missing = input_assignments(self.base, self.inputs(values), strict=True)
        return apply_overrides(validated_base(self.base), assigns)  # only the touched entries are re-validated


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
        dotted = ".".join(str(p) for p in path)
        if (f, line, dotted, msg) not in seen:
            seen.add((f, line, dotted, msg))
            out.append(LoadProblem(f, line, dotted, msg))
    return out


def load_calibration(path: str | os.PathLike, observed: ObservedFile | None = None) -> LoadedCalibration:
    """Read and check a calibration spec: schema, base scenario, paths, priors' extremes, observables.

    *observed* replaces the spec's observables file (e.g. synthetic observations); its scenario paths are
    then taken as relative to the base scenario's folder.  Raises :class:`ScenarioError` with one
    ``FILE:LINE: path: message`` per problem.
    """
    data, lines = load_raw(path)
    file = _shown(Path(path))
    try:
        spec = CalibrationSpec.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(_spec_problems(e, data, lines, file)) from None

    def at(*keys: Any) -> tuple[str, int]:
        return _where(tuple(keys), lines, file)

    here = Path(path).parent
    base_file = here / spec.base if not Path(spec.base).is_absolute() else Path(spec.base)
    if not base_file.is_file():
        f, line = at("base")
        raise ScenarioError([LoadProblem(f, line, "base", f"cannot find scenario '{spec.base}'")])
    scenario = load_scenario(base_file)
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
        base = scenario_from_dict(copy.deepcopy(base), file=file).model_dump(by_alias=True)
    for name, p in spec.parameters.items():
        try:
            expand_path(base, p.path)
        except PathError as e:
            f, line = at("parameters", name, "path")
            problems.append(LoadProblem(f, line, f"parameters.{name}.path", f"'{p.path}' is not in the scenario: {e}"))
            continue
        for v in values_from_u(p, np.array([0.0, 1.0])):
            d = copy.deepcopy(base)
            try:
                apply_inputs(d, [(p.path, p.apply, v)])
                scenario_from_dict(d)
            except (ScenarioError, PathError, TypeError, ValueError) as e:
                first = e.problems[0] if isinstance(e, ScenarioError) else None
                why = f"{first.path}: {first.message}" if first else str(e)
                f, line = at("parameters", name)
                problems.append(LoadProblem(f, line, f"parameters.{name}",
                                            f"prior value {v:g} makes the scenario invalid: {why}"))
                break
    if problems:
        raise ScenarioError(problems)

    if observed is None:
        observed_file = here / spec.observed if not Path(spec.observed).is_absolute() else Path(spec.observed)
        if not observed_file.is_file():
            f, line = at("observed")
            raise ScenarioError([LoadProblem(f, line, "observed", f"cannot find observables file '{spec.observed}'")])
        obs_file = load_observed(observed_file)
        obs_dir = observed_file.parent
    else:
        observed_file, obs_file, obs_dir = base_file.parent / "<synthetic>", observed, base_file.parent
    target = base_file.resolve()
    fit: dict[str, Observable] = {}
    held: dict[str, Observable] = {}
    skipped: dict[str, str] = {}
    wanted = spec.observables
    for oid in wanted or []:
        if oid not in obs_file.observables:
            f, line = at("observables")
            problems.append(LoadProblem(f, line, "observables", f"no observable '{oid}' in {_shown(observed_file)}"))
    for oid in spec.exclude:
        if oid not in obs_file.observables:
            f, line = at("exclude")
            problems.append(LoadProblem(f, line, "exclude", f"no observable '{oid}' in {_shown(observed_file)}"))
    for oid, obs in obs_file.observables.items():
        same = (obs_dir / obs.compute.scenario).resolve() == target
        if oid in spec.exclude:
            skipped[oid] = "excluded by the spec"
            continue
        if wanted is not None and oid not in wanted:
            skipped[oid] = "not listed in the spec's observables"
            continue
        if not same:
            if wanted is not None:
                f, line = at("observables")
                problems.append(LoadProblem(f, line, "observables",
                                            f"'{oid}' is computed from {obs.compute.scenario}, not the base scenario"))
            else:
                skipped[oid] = f"computed from another scenario ({obs.compute.scenario})"
            continue
        when = obs.dated
        if when is None:
            f, line = at("observables")
            problems.append(LoadProblem(f, line, "observables",
                                        f"'{oid}' has no date (add `date:` to it in {_shown(observed_file)})"))
            continue
        (fit if when <= spec.cutoff else held)[oid] = obs
    if not problems and not fit:
        f, line = at("cutoff")
        problems.append(LoadProblem(f, line, "cutoff", f"no observable of the base scenario is dated on or before "
                                                       f"{spec.cutoff}: nothing to fit"))
    if problems:
        raise ScenarioError(problems)
    return LoadedCalibration(spec, file, base_file, base, _hash(base), observed_file, obs_file, fit, held, skipped,
                             scenario.start)


# ======================================================================== model and distance (picklable)
def _seed_of(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) & (2**63 - 1) for p in parts]).generate_state(1, np.uint64)[0] >> 1)


def fit_seeds(spec: CalibrationSpec) -> list[int]:
    """The common seeds of every particle (``common_random_numbers: true``)."""
    return [_seed_of(spec.seed, 1, r) for r in range(spec.replications)]


def particle_seeds(spec: CalibrationSpec, u: Sequence[float]) -> list[int]:
    """The seeds of the particle at *u*: common, or derived from u (fresh noise per particle)."""
    if spec.common_random_numbers:
        return fit_seeds(spec)
    key = int(_hash([round(float(x), 15) for x in u])[:15], 16)
    return [_seed_of(spec.seed, 2, key, r) for r in range(spec.replications)]


def predictive_seed(spec: CalibrationSpec, i: int) -> int:
    """Seed of predictive draw *i* (shared by the prior and the posterior draw i; no fitting run uses it)."""
    return _seed_of(spec.seed, 3, i)


def simulate(lc: LoadedCalibration, values: dict[str, Any], seeds: Sequence[int],
             observables: dict[str, Observable]) -> dict[str, float]:
    """Mean over *seeds* of each observable for input *values* (NaN where a run cannot compute it)."""
    from sim.results.simulation import Simulation

    scenario = lc.scenario(values)
    acc: dict[str, list[float]] = {oid: [] for oid in observables}
    for seed in seeds:
        result = Simulation(scenario, int(seed)).run()
        for oid, obs in observables.items():
            try:
                acc[oid].append(measure(result, obs.compute, lc.start))
            except (KeyError, ValueError):
                acc[oid].append(math.nan)
    out = {}
    for oid, v in acc.items():
        a = np.array(v, dtype=float)
        out[oid] = float(np.nanmean(a)) if (~np.isnan(a)).any() else math.nan
    return out


class CalibrationModel:
    """pyabc's model: u (a mapping input -> u) to the fitted observables' simulated values."""

    def __init__(self, lc: LoadedCalibration):
        self.lc = lc
        self.names = list(lc.parameters)
        self.__name__ = "exportsim"  # pyabc names models by their function name

    def __call__(self, pars: dict) -> dict[str, float]:
        u = [float(pars[n]) for n in self.names]
        try:
            return simulate(self.lc, self.lc.values(u), particle_seeds(self.lc.spec, u), self.lc.fit)
        except Exception as e:  # noqa: BLE001 - a failing run is infinitely far, not fatal
            if os.environ.get("EXPORTSIM_DEBUG"):
                raise
            log.debug("run failed at %s: %s", u, e)
            return dict.fromkeys(self.lc.fit, math.nan)


@dataclass
class RangeDistance:
    """Per-observable distance in units of the published range, combined by a p-norm (see module doc)."""

    ranges: dict[str, tuple[float, float, float]]  # id -> (low, high, central)
    kind: str = "interval"
    p: float = 2.0
    missing: float = 10.0

    @classmethod
    def of(cls, lc: LoadedCalibration) -> RangeDistance:
        r = {oid: (o.low, o.high, o.central if o.central is not None else (o.low + o.high) / 2)
             for oid, o in lc.fit.items()}
        d = lc.spec.distance
        return cls(r, d.kind, d.p, d.missing)

    def parts(self, x: dict) -> dict[str, float]:
        """Each observable's distance (in published ranges)."""
        out = {}
        for oid, (lo, hi, c) in self.ranges.items():
            s = x.get(oid, math.nan)
            width = max(hi - lo, 1e-9 * max(abs(lo), abs(hi), 1.0))
            if s is None or not math.isfinite(float(s)):
                out[oid] = self.missing
            elif self.kind == "central":
                out[oid] = abs(float(s) - c) / width
            else:
                out[oid] = max(0.0, lo - float(s), float(s) - hi) / width
        return out

    def __call__(self, x: dict, x0: dict | None = None) -> float:
        d = np.array(list(self.parts(x).values()), dtype=float)
        if self.p >= 1000:
            return float(d.max(initial=0.0))
        return float(np.sum(d ** self.p) ** (1.0 / self.p))


# ======================================================================================= the store
def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def read_meta(root: str | os.PathLike) -> dict | None:
    """A store's calibration.json (None when absent)."""
    p = Path(root) / META
    return json.loads(p.read_text()) if p.is_file() else None


def _fresh_meta(lc: LoadedCalibration) -> dict:
    import pyabc

    from sim._version import __version__
    from sim.engine.version import MODEL_VERSION, model_fingerprint

    spec = lc.spec
    return {
        "format": STORE_FORMAT, "kind": "calibration", "name": spec.name, "key": lc.key,
        "spec": spec.model_dump(mode="json"), "spec_file": lc.file, "base_file": _shown(lc.base_file),
        "base_hash": lc.base_hash, "observed_file": _shown(lc.observed_file),
        "model_version": MODEL_VERSION, "model_fingerprint": model_fingerprint(), "exportsim": __version__,
        "pyabc": pyabc.__version__, "cutoff": str(spec.cutoff),
        "fit": {k: {"date": str(o.dated), "low": o.low, "high": o.high, "central": o.central, "unit": o.unit,
                    "description": o.description} for k, o in lc.fit.items()},
        "held_out": {k: {"date": str(o.dated), "low": o.low, "high": o.high, "central": o.central, "unit": o.unit,
                         "description": o.description} for k, o in lc.held_out.items()},
        "skipped": lc.skipped,
        "parameters": {n: {"path": p.path, "apply": p.apply, "kind": p.kind} for n, p in spec.parameters.items()},
        "seeds": {"spec_seed": spec.seed, "common_random_numbers": spec.common_random_numbers,
                  "fit_seeds": fit_seeds(spec) if spec.common_random_numbers else "derived from (spec seed, u)",
                  "predictive": [predictive_seed(spec, i) for i in range(min(spec.predictive_draws, 5))] + ["..."]},
        "status": "running", "generations": [], "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _write_meta(root: Path, meta: dict) -> None:
    root.mkdir(parents=True, exist_ok=True)
    _atomic_write(root / META, json.dumps(dict(meta, updated=time.strftime("%Y-%m-%dT%H:%M:%S")), indent=2,
                                          default=str) + "\n")


def _prepare_store(root: Path, lc: LoadedCalibration) -> dict:
    from sim.engine.version import model_fingerprint

    if root.exists() and not root.is_dir():
        raise CalibrationError([f"{root}: not a directory"])
    old = read_meta(root)
    if old is None:
        if root.exists() and any(root.iterdir()):
            raise CalibrationError([f"{root}: exists and is not a calibration store (no {META}); "
                                    "choose another --store"])
        return _fresh_meta(lc)
    if old.get("key") != lc.key:
        raise CalibrationError([f"{root}: holds calibration '{old.get('name')}' made from a different spec, base "
                                "scenario or fitted observables; use another --store"])
    if old.get("model_fingerprint") != model_fingerprint():
        raise CalibrationError([f"{root}: was fitted under model {old.get('model_fingerprint')}, the model is now "
                                f"{model_fingerprint()}; its particles are not this model's: use another --store"])
    fresh = _fresh_meta(lc)
    fresh.update({k: old[k] for k in ("created", "generations", "abc_id", "status", "stopped_because",
                                      "simulations", "predictive_runs") if k in old})
    return fresh


# ======================================================================================= samplers
def _sampler(executor: str, workers: int, scheduler: str | None):
    """(pyabc sampler, cleanup callable, map function for predictive runs)."""
    import pyabc

    if executor == "serial":
        return pyabc.SingleCoreSampler(check_max_eval=True), (lambda: None), None
    if executor == "local":
        return pyabc.MulticoreEvalParallelSampler(n_procs=workers, check_max_eval=True), (lambda: None), None
    from dask.distributed import Client, LocalCluster

    cluster = None
    if scheduler:
        client = Client(scheduler, timeout=30)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               host="127.0.0.1")
        client = Client(cluster)

    def close() -> None:
        client.close()
        if cluster is not None:
            cluster.close()

    n = max(sum(client.ncores().values()), 1)
    sampler = pyabc.sampler.DaskDistributedSampler(dask_client=client, client_max_jobs=2 * n, batch_size=4)
    return sampler, close, client


# ======================================================================================= driver
@dataclass
class CalibrationRun:
    """What one ``run_calibration`` call did."""

    name: str
    store: str
    generations: int  # in the store now
    new_generations: int
    simulations: int  # fitting runs, in all
    predictive_runs: int
    wall_s: float
    executor: str
    workers: int
    status: str
    stopped_because: str
    fit: list[str] = field(default_factory=list)
    held_out: list[str] = field(default_factory=list)


def _generation_rows(history) -> list[dict]:
    from pyabc.weighted_statistics import effective_sample_size

    pops = history.get_all_populations()
    rows = []
    for _, r in pops.iterrows():
        t = int(r["t"])
        if t < 0:
            continue
        _, w = history.get_distribution(m=0, t=t)
        w = np.asarray(w, dtype=float)
        accepted = int(r["particles"])
        rows.append({"t": t, "epsilon": float(r["epsilon"]), "samples": int(r["samples"]), "accepted": accepted,
                     "acceptance_rate": accepted / int(r["samples"]) if r["samples"] else math.nan,
                     "ess": float(effective_sample_size(w / w.sum())), "wall_s": float(r["wall_time"] or 0.0)})
    return rows


def _population_frame(lc: LoadedCalibration, history, t: int, with_sims: bool) -> pd.DataFrame:
    pop = history.get_population(t=t)
    names = list(lc.parameters)
    rows = []
    for i, p in enumerate(pop.particles):
        u = [float(p.parameter[n]) for n in names]
        row: dict[str, Any] = {"t": t, "particle": i, "weight": float(p.weight), "distance": float(p.distance)}
        vals = lc.values(u)
        for n, x in zip(names, u, strict=True):
            row[f"u:{n}"] = x
        row.update(vals)
        if with_sims:
            for oid in lc.fit:
                row[f"sim:{oid}"] = float(p.sum_stat.get(oid, math.nan))
        rows.append(row)
    df = pd.DataFrame(rows)
    df["weight"] = df["weight"] / df["weight"].sum()
    return df


def _eta(rows: list[dict], remaining: int) -> float | None:
    """Seconds left for *remaining* generations, assuming each needs as many runs more as the last did."""
    if not rows or remaining <= 0:
        return 0.0 if remaining <= 0 else None
    last = rows[-1]
    rate = last["samples"] / last["wall_s"] if last["wall_s"] > 0 else None
    if not rate:
        return None
    growth = 1.0
    if len(rows) > 1 and rows[-2]["samples"] > 0:
        growth = min(max(last["samples"] / rows[-2]["samples"], 1.0), 3.0)
    samples, total = last["samples"], 0.0
    for _ in range(remaining):
        samples *= growth
        total += samples / rate
    return total


def run_calibration(
    spec: str | os.PathLike | LoadedCalibration,
    store: str | os.PathLike | None = None,
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    generations: int | None = None,
    predictive: bool = True,
    progress: Progress | None = None,
    show_progress: bool = False,
) -> CalibrationRun:
    """Run (or resume) a calibration into *store* (default ``calibrations/<name>``); see the module doc.

    Each finished generation is in ``abc.db``: after a kill, the same call goes on from the next one.
    *generations* overrides ``abc.generations`` (the total, counting generations already stored).
    *progress* receives dicts: ``{"event": "generation", "t", "of", "epsilon", "accepted", "samples",
    "acceptance_rate", "ess", "wall_s", "eta_s"}``, ``{"event": "predictive", "done", "of"}``, ...
    *show_progress* draws pyabc's bar of accepted particles within a generation (for a terminal).
    What the process holds when the sampling starts is left out of the collector's scans while it runs
    (:func:`sim.experiments.heap.frozen_heap`).
    """
    import pyabc  # noqa: F401 - imported (2 s the first time) before the heap is frozen

    with frozen_heap():
        return _run_calibration(spec, store, executor, workers, scheduler, generations, predictive, progress,
                                show_progress)


def _run_calibration(spec: str | os.PathLike | LoadedCalibration, store: str | os.PathLike | None, executor: str,
                     workers: int | None, scheduler: str | None, generations: int | None, predictive: bool,
                     progress: Progress | None, show_progress: bool) -> CalibrationRun:
    """:func:`run_calibration`'s work, in the frozen heap."""
    import pyabc

    t_start = time.perf_counter()
    lc = spec if isinstance(spec, LoadedCalibration) else load_calibration(spec)
    if executor == "processes":
        executor = "local"
    if executor not in EXECUTORS:
        raise CalibrationError([f"--executor: must be one of {', '.join(EXECUTORS)}, got '{executor}'"])
    workers = 1 if executor == "serial" else (workers or os.cpu_count() or 1)
    root = Path(store) if store is not None else Path("calibrations") / lc.spec.name
    meta = _prepare_store(root, lc)
    try:
        _write_meta(root, meta)
    except OSError as e:
        raise CalibrationError([f"{root}: cannot write: {e.strerror or e}"]) from None
    a = lc.spec.abc
    total_gens = generations if generations is not None else a.generations
    emit = progress or (lambda ev: None)
    for name in ("ABC", "ABC.Sampler", "ABC.History", "ABC.Distance", "ABC.Epsilon", "ABC.Predictor"):
        logging.getLogger(name).setLevel(logging.WARNING)

    names = list(lc.parameters)
    prior = pyabc.Distribution(**{n: pyabc.RV("uniform", 0.0, 1.0) for n in names})
    model = CalibrationModel(lc)
    distance = RangeDistance.of(lc)
    sampler, close, client = _sampler(executor, workers, scheduler)
    sampler.show_progress = show_progress
    db = f"sqlite:///{(root / ABC_DB).resolve()}"
    stopped = ""
    new = 0
    try:
        abc = pyabc.ABCSMC(model, prior, distance, population_size=a.population_size, sampler=sampler,
                           eps=pyabc.QuantileEpsilon(alpha=a.quantile), max_nr_recorded_particles=0)
        resumed = meta.get("abc_id") is not None and (root / ABC_DB).is_file()
        if resumed:
            history = abc.load(db, int(meta["abc_id"]))
        else:  # new, or the SQLite history was removed (e.g. a store copied without abc.db): start over
            (root / ABC_DB).unlink(missing_ok=True)
            meta.update(status="running", generations=[], stopped_because="")
            for name in (POSTERIOR, POPULATIONS, GENERATIONS, PREDICTIVE):
                (root / name).unlink(missing_ok=True)
            x0 = {oid: (o.low + o.high) / 2 for oid, o in lc.fit.items()}
            history = abc.new(db, x0, meta_info={"exportsim_calibration": lc.spec.name, "key": lc.key})
            meta["abc_id"] = history.id
            _write_meta(root, meta)
        done_before = history.max_t + 1
        emit({"event": "start", "resumed": resumed, "done": done_before, "of": total_gens, "store": str(root),
              "fit": list(lc.fit), "held_out": list(lc.held_out), "executor": executor, "workers": workers})
        if done_before >= total_gens:
            stopped = (meta.get("stopped_because")
                       or f"{done_before} generations stored (abc.generations = {total_gens})")
        elif meta.get("status") in ("fitted", "finished") and generations is None:
            stopped = meta.get("stopped_because", "finished earlier")  # stopped by a rule: --generations N goes on
        else:
            t = abc.initialize_components_before_run(
                minimum_epsilon=a.min_epsilon, max_nr_populations=total_gens - done_before,
                min_acceptance_rate=a.min_acceptance_rate,
                max_total_nr_simulations=a.max_simulations if a.max_simulations else np.inf,
                max_walltime=None, min_eps_diff=0.0)
            while True:
                if a.max_simulations:  # the budget binds inside a generation too (pyabc stops it at max_eval)
                    spent = sum(x["samples"] for x in _generation_rows(history))
                    left = a.max_simulations - spent
                    if left < a.population_size:
                        stopped = f"simulation budget (abc.max_simulations = {a.max_simulations}) reached"
                        break
                    abc.min_acceptance_rate = max(a.min_acceptance_rate, a.population_size / left)
                eps = abc.eps(t)
                emit({"event": "generation_start", "t": t, "of": total_gens, "epsilon": float(eps)})
                ret = abc.run_generation(t=t)
                if not ret["successful"]:
                    stopped = (f"generation {t} stopped unfinished: acceptance below {abc.min_acceptance_rate:.3g} "
                               "(abc.min_acceptance_rate, or what abc.max_simulations leaves)")
                    break
                new += 1
                rows = _generation_rows(history)
                meta["generations"] = rows
                _write_meta(root, meta)
                r = rows[-1]
                emit({"event": "generation", **r, "of": total_gens,
                      "eta_s": _eta(rows, total_gens - (t + 1)), "total_samples": sum(x["samples"] for x in rows)})
                if abc.check_terminate(t=t, acceptance_rate=ret["acceptance_rate"]):
                    nxt = abc.eps(t + 1) if t + 1 < total_gens else None
                    if t + 1 >= total_gens:
                        stopped = f"{total_gens} generations run"
                    elif ret["acceptance_rate"] < a.min_acceptance_rate:
                        stopped = f"acceptance {ret['acceptance_rate']:.3f} below {a.min_acceptance_rate}"
                    elif nxt is not None and nxt <= a.min_epsilon:
                        stopped = f"threshold {nxt:.4g} at or below min_epsilon {a.min_epsilon}"
                    else:
                        stopped = "simulation budget (abc.max_simulations) reached"
                    break
                t += 1
            history.done()
        if history.max_t < 0:
            raise CalibrationError([f"{root}: no generation finished ({stopped})"])
        rows = _generation_rows(history)
        pops = pd.concat([_population_frame(lc, history, t, with_sims=False) for t in range(history.max_t + 1)],
                         ignore_index=True)
        _atomic_parquet(pops, root / POPULATIONS)
        _atomic_parquet(_population_frame(lc, history, history.max_t, with_sims=True).drop(columns=["t"]),
                        root / POSTERIOR)
        _atomic_parquet(pd.DataFrame(rows), root / GENERATIONS)
        meta.update(generations=rows, status="fitted", stopped_because=stopped,
                    simulations=int(sum(r["samples"] for r in rows)))
        _write_meta(root, meta)
        n_pred = int(meta.get("predictive_runs", 0)) if new == 0 and (root / PREDICTIVE).is_file() else 0
        if predictive and not n_pred:
            n_pred = run_predictive(lc, root, executor, workers, client, progress=emit)
        if n_pred:
            meta.update(status="finished", predictive_runs=n_pred)
            _write_meta(root, meta)
    finally:
        close()
    return CalibrationRun(lc.spec.name, str(root), len(rows), new, int(meta.get("simulations", 0)), n_pred,
                          time.perf_counter() - t_start, executor, workers, meta["status"], stopped,
                          list(lc.fit), list(lc.held_out))


# ==================================================================================== predictive
def _predictive_task(lc: LoadedCalibration, task: tuple[str, int, int, int, dict]) -> dict:
    kind, draw, seed, particle, values = task
    row: dict[str, Any] = {"kind": kind, "draw": draw, "seed": seed, "particle": particle, **values,
                           "status": "ok", "error": None}
    try:
        sims = simulate(lc, values, [seed], lc.used)
    except Exception as e:  # noqa: BLE001 - recorded
        sims = dict.fromkeys(lc.used, math.nan)
        row.update(status="failed", error=f"{type(e).__name__}: {e}"[:300])
    row.update({f"obs:{k}": v for k, v in sims.items()})
    return row


_WORKER_LC: LoadedCalibration | None = None


def _init_predictive(lc: LoadedCalibration) -> None:
    global _WORKER_LC
    _WORKER_LC = lc


def _predictive_worker(task):
    assert _WORKER_LC is not None, "worker not initialised"
    return _predictive_task(_WORKER_LC, task)


def predictive_tasks(lc: LoadedCalibration, posterior: pd.DataFrame) -> list[tuple]:
    """Prior draw i and posterior draw i, both with predictive seed i."""
    spec = lc.spec
    n = spec.predictive_draws
    rng = np.random.default_rng(_seed_of(spec.seed, 4))
    names = list(lc.parameters)
    u_prior = rng.random((n, len(names)))
    w = posterior["weight"].to_numpy(dtype=float)
    idx = rng.choice(len(posterior), size=n, replace=True, p=w / w.sum())
    tasks = []
    for i in range(n):
        seed = predictive_seed(spec, i)
        tasks.append(("prior", i, seed, -1, lc.values(u_prior[i])))
        row = posterior.iloc[int(idx[i])]
        tasks.append(("posterior", i, seed, int(row["particle"]), {k: float(row[k]) for k in names}))
    return tasks


def run_predictive(lc: LoadedCalibration, root: Path, executor: str = "serial", workers: int = 1, client=None,
                   progress: Progress | None = None) -> int:
    """Run the prior and posterior predictive checks into ``predictive.parquet``; the number of runs."""
    posterior = pd.read_parquet(root / POSTERIOR)
    tasks = predictive_tasks(lc, posterior)
    emit = progress or (lambda ev: None)
    rows: list[dict] = []
    total = len(tasks)
    emit({"event": "predictive", "done": 0, "of": total})
    if executor == "serial" or workers <= 1 and client is None:
        for i, t in enumerate(tasks):
            rows.append(_predictive_task(lc, t))
            if (i + 1) % 20 == 0 or i + 1 == total:
                emit({"event": "predictive", "done": i + 1, "of": total})
    elif client is not None:
        from dask.distributed import as_completed

        lc_f = client.scatter(lc, broadcast=True)
        futs = [client.submit(_predictive_task, lc_f, t, pure=False) for t in tasks]
        for i, f in enumerate(as_completed(futs)):
            rows.append(f.result())
            if (i + 1) % 20 == 0 or i + 1 == total:
                emit({"event": "predictive", "done": i + 1, "of": total})
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_predictive, initargs=(lc,)) as pool:
            for i, r in enumerate(pool.map(_predictive_worker, tasks, chunksize=8)):
                rows.append(r)
                if (i + 1) % 20 == 0 or i + 1 == total:
                    emit({"event": "predictive", "done": i + 1, "of": total})
    df = pd.DataFrame(rows).sort_values(["kind", "draw"]).reset_index(drop=True)
    df["error"] = df["error"].astype("string")
    _atomic_parquet(df, root / PREDICTIVE)
    return total


# ================================================================================= synthetic truth
def synthetic_observed(lc: LoadedCalibration, truth: dict[str, Any], seed: int, rel_halfwidth: float = 0.1,
                       observables: dict[str, Observable] | None = None) -> ObservedFile:
    """Observations made by the model itself at input values *truth* (one run with *seed*).

    Each observable keeps its measure and date; its published range becomes value x (1 +/- rel_halfwidth)
    (plus/minus rel_halfwidth of the original range's width when the value is 0), central the value.
    """
    obs = observables or lc.used
    sims = simulate(lc, truth, [seed], obs)
    out = {}
    for oid, o in obs.items():
        v = sims[oid]
        if not math.isfinite(v):
            continue
        half = abs(v) * rel_halfwidth if v != 0 else (o.high - o.low) * rel_halfwidth
        out[oid] = o.model_copy(update={
            "low": v - half, "high": v + half, "central": v, "date": o.dated,
            "spread": f"synthetic: the model at known inputs, +/-{rel_halfwidth:.0%}",
            "compute": o.compute.model_copy(update={"scenario": lc.base_file.name})})
    return ObservedFile(description="synthetic observations", observables=out)
