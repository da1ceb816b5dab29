"""Sweeps: a :class:`~sim.schema.sweep.SweepSpec` expanded into runs, executed, streamed to a run store.

**Runs.**  The design (SALib for LHS, Sobol/Saltelli and Morris; a full factorial for grids) is drawn
in the unit hypercube and mapped to parameter values (``sim.schema.sweep``).  Each (point,
replication) is one run whose id is content-addressed: ``run_id = sha256(model fingerprint, base scenario,
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

import contextlib
import json
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sim._version import __version__
from sim.engine.version import model_fingerprint
from sim.experiments.sweep.design import Run, assignments, expand
from sim.experiments.sweep.executors import EXECUTORS, ChunkResult, _execute, _one_line, kpi_matcher
from sim.experiments.sweep.spec import LoadedSpec, is_numeric, load_spec
from sim.scenario.loader import (
    _shown,
)

Progress = Callable[[int, int, int], None]  # (runs finished, runs to do, of which failed)


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
                for rec in res.records:
                    if rec["status"] == "ok":
                        kept_any = True
                        matched.update(k for k in rec if k not in ("run_id", "status", "error", "elapsed_s"))
                if progress is not None:
                    progress(report.done + report.failed, len(todo), report.failed)
                if fail_fast and n_failed:
                    break
    finally:
        if stream is not None:
            stream.close()  # shuts the pool/cluster down; in-flight chunks are dropped (re-run resumes them)
        with contextlib.suppress(Exception):  # the Parquet files are the truth; the catalogue is a convenience
            st.rebuild_catalogue(root)
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
             "base_hash": ls.base_hash, "version": __version__, "model": model_fingerprint(),
             "parameters": {n: {"group": "lever" if n in spec.levers else "uncertainty", "path": p.path,
                                "kind": p.kind, "numeric": is_numeric(p)} for n, p in spec.parameters.items()},
             "factors": list(ls.factors), "policy_levers": list(ls.policy_levers),
             "lhs_blocks": [spec.design.n] if spec.design.kind == "lhs" else None,
             "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if old is None:
        if any(root.glob("*")) and not (root / "runs").is_dir():
            raise SweepError([f"{root}: exists and is not a sweep store (no {st.META}); choose another --store"])
        return fresh
    if old.get("model") != fresh["model"]:
        made_by = f"model {old['model']}" if old.get("model") else "a model that did not record its fingerprint"
        raise SweepError([f"{root}: made by {made_by}, and this is model {fresh['model']} (MODEL_VERSION-source "
                          "hash): resuming would mix two models' results; use another --store"])
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
