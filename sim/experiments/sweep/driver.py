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
validated scenario); without a given chunk size, parallel executors use chunks that shrink toward the end
(:func:`guided_chunk_sizes`), so the workers finish together, made as the executor asks for them and raised
for cheap runs once their time is measured (:func:`guided_chunks`: a chunk holds at least 50 ms of work, so
the driver is not writing a runs file per 2 ms run).  Executors: ``serial``, ``local`` (a
``ProcessPoolExecutor``, the default) and ``dask`` (``distributed.Client`` on ``--scheduler tcp://...`` or a
loopback ``LocalCluster``).  At most
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
import itertools
import json
import math
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim._version import __version__
from sim.engine.version import model_fingerprint
from sim.experiments.heap import frozen_heap
from sim.experiments.sweep.design import Run, assignments, design_size, expand
from sim.experiments.sweep.executors import (
    EXECUTORS,
    RUN_SECONDS,
    SCHEDULER_TIMEOUT_S,
    ChunkResult,
    _execute,
    _one_line,
    kpi_matcher,
)
from sim.experiments.sweep.spec import LoadedSpec, grid_u, is_numeric, load_spec
from sim.scenario.loader import (
    _shown,
)

Progress = Callable[[int, int, int], None]  # (runs finished, runs to do, of which failed)

#: Above this many planned runs a sweep needs ``--yes`` (``--dry-run`` counts them first).
CONFIRM_RUNS = 100_000
#: No sweep plans more runs than this: every run of the design is held in memory while it is expanded.
MAX_RUNS = 2_000_000


def planned_runs(ls: LoadedSpec) -> tuple[int, int, int, int]:
    """(runs, policies, samples, replications) the spec plans, counted without building the design (so a grid
    of 101^5 points is refused before anything is allocated).  Runs that coincide are counted once each."""
    policies = math.prod(len(grid_u(p)) for p in ls.policy_levers.values()) if ls.policy_levers else 1
    samples = design_size(ls.spec)
    reps = ls.spec.replications
    return policies * samples * reps, policies, samples, reps


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


def guided_chunk_sizes(n_runs: int, workers: int) -> list[int]:
    """Chunk sizes that shrink toward the end (guided scheduling): each chunk is a quarter of an equal share of
    what is left (capped at 64 runs), so the last chunks are single runs and no worker sits idle long while the
    other finishes a large one.  Used for parallel executors when no chunk size is given."""
    sizes, left = [], n_runs
    while left > 0:
        k = max(1, min(64, math.ceil(left / max(4 * workers, 1))))
        sizes.append(k)
        left -= k
    return sizes


MIN_CHUNK_S = 0.05  # once run times are known, a chunk holds at least this much work (each chunk costs the driver a
# runs-file write of ~5 ms and a round trip: with 2 ms runs, single-run chunks would make the driver the bottleneck)


def guided_chunks(tasks: list, workers: int, mean_run_s) -> Iterator[list]:
    """*tasks* in chunks, made as the executor asks for them: :func:`guided_chunk_sizes`' sizes, raised so a chunk
    holds at least :data:`MIN_CHUNK_S` of work once ``mean_run_s()`` (the mean run time measured so far, or None)
    is known, but never above an equal share of what is left, so the workers still finish together."""
    i, n = 0, len(tasks)
    while i < n:
        left = n - i
        k = max(1, min(64, math.ceil(left / max(4 * workers, 1))))
        m = mean_run_s()
        if m:
            k = max(k, min(math.ceil(MIN_CHUNK_S / m), math.ceil(left / max(workers, 1))))
        yield tasks[i:i + k]
        i += k


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
    yes: bool = False,
    run_seconds: float | None = RUN_SECONDS,
    notes: list[str] | None = None,
) -> SweepReport:
    """Run (or resume, or extend) a sweep into *store* (default ``sweeps/<name>``); see the module doc.

    *progress* is called as ``progress(finished, to_do, failed)`` after every chunk.  *limit* stops after
    that many new runs (the store is left resumable, as after Ctrl-C).  Above :data:`CONFIRM_RUNS` planned
    runs *yes* must be true; above :data:`MAX_RUNS` the spec is refused.  *run_seconds* is each run's
    wall-time limit (None: none).  Only one driver writes a store at a time (an advisory lock, ``.lock``);
    damaged runs files are moved to ``quarantine/`` and their runs run again.  *notes* collects one-line
    remarks for the user (files quarantined, a description rewritten).  What the process holds when the sweep
    starts is left out of the collector's scans while it runs (:func:`sim.experiments.heap.frozen_heap`).
    """

    t0 = time.perf_counter()
    notes = notes if notes is not None else []
    ls = spec if isinstance(spec, LoadedSpec) else load_spec(spec)
    if executor == "processes":
        executor = "local"
    if executor not in EXECUTORS:
        raise SweepError([f"--executor: must be one of {', '.join(EXECUTORS)}, got '{executor}'"])
    if run_seconds is not None and not run_seconds > 0:
        raise SweepError([f"--run-timeout: must be above 0 seconds, got {run_seconds:g}"])
    n_runs, n_policies, n_samples, n_reps = planned_runs(ls)
    shape = f"{n_policies:,} policies x {n_samples:,} design points x {n_reps:,} replications"
    if n_runs > MAX_RUNS:
        raise SweepError([f"{ls.file}: plans {n_runs:,} runs ({shape}); one sweep holds at most {MAX_RUNS:,}: "
                          "split it, or use fewer grid points, levels or replications"])
    if n_runs > CONFIRM_RUNS and not yes:
        raise SweepError([f"{ls.file}: plans {n_runs:,} runs ({shape}), more than {CONFIRM_RUNS:,}: pass --yes to "
                          "run them (--dry-run counts them without running)"])
    workers = workers or os.cpu_count() or 1
    root = Path(store) if store is not None else Path("sweeps") / ls.spec.name
    client = _connect_scheduler(scheduler) if executor == "dask" and scheduler else None  # before any store exists
    try:
        with frozen_heap():  # what the caller's process holds stays out of the collector's scans while it runs
            return _run_locked(ls, root, executor, workers, scheduler, client, extend, retry_failed, fail_fast,
                               limit, chunk_size, progress, run_seconds, notes, t0)
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def _connect_scheduler(address: str):
    """A Dask client on *address*, or a one-line :class:`SweepError` (checked before the store is made)."""
    import re as _re

    if not _re.fullmatch(r"(tcp|tls|ucx|inproc|ws|wss)://[^\s/]+(:\d+)?/?", address):
        raise SweepError([f"--scheduler: must be an address like tcp://HOST:PORT, got '{address}'"])
    try:
        from dask.distributed import Client
    except ImportError:
        raise SweepError(["--scheduler: Dask's distributed package is not installed"]) from None
    try:
        return Client(address, timeout=SCHEDULER_TIMEOUT_S)
    except Exception as e:  # noqa: BLE001 - OSError, TimeoutError, CommClosedError...
        raise SweepError([f"--scheduler: cannot reach {address} within {SCHEDULER_TIMEOUT_S} s "
                          f"({type(e).__name__}); nothing was written"]) from None


def _run_locked(ls, root, executor, workers, scheduler, client, extend, retry_failed, fail_fast, limit, chunk_size,
                progress, run_seconds, notes, t0) -> SweepReport:
    from sim.experiments import store as st

    try:
        _prepare_store(root, ls, extend, notes, dry=True)  # refuse a foreign or mismatched store before touching it
    except Exception:
        if not _locked_by_another(root):
            raise
        # another driver is making or writing this store now, so what the check read may be half-made (its design
        # written, its sweep.json not yet): the check made under the lock, once that driver is done, decides
    with _store_lock(root):
        return _run_unlocked(ls, root, executor, workers, scheduler, client, extend, retry_failed, fail_fast,
                             limit, chunk_size, progress, run_seconds, notes, t0, st)


def _locked_by_another(root: Path) -> bool:
    """Whether another driver holds *root*'s lock right now (never creates the lock file)."""
    import fcntl

    try:
        fd = os.open(root / ".lock", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken here
    return False


@contextlib.contextmanager
def _store_lock(root: Path):
    """Hold the store's advisory lock (``root/.lock``, ``fcntl.flock``) or refuse with one line."""
    import fcntl

    created = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise SweepError([f"{root}: cannot write: {e.strerror or e}"]) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            with contextlib.suppress(OSError, ValueError, IndexError):  # empty while the holder is writing it
                holder = f" (pid {int(os.pread(fd, 32, 0).decode().split()[0])})"
            raise SweepError([f"{root}: another sweep is writing this store{holder}; wait for it to finish or "
                              "use another --store"]) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        ok = False
        try:
            yield
            ok = True
        finally:
            if created and not ok and not any(p.name != ".lock" for p in root.iterdir()):
                with contextlib.suppress(OSError):  # nothing but the lock: leave no folder behind
                    (root / ".lock").unlink()
                    root.rmdir()
    finally:
        os.close(fd)


def _run_unlocked(ls, root, executor, workers, scheduler, client, extend, retry_failed, fail_fast, limit, chunk_size,
                  progress, run_seconds, notes, t0, st) -> SweepReport:
    meta = _prepare_store(root, ls, extend, notes)
    if root.is_dir():
        st.remove_stale_catalogues(root)  # a killed driver's half-built catalogue (this driver holds the lock)
    runs = expand(ls, meta.get("lhs_blocks"))
    try:
        _write_design(root, ls, runs)
        _write_meta(root, meta)
    except OSError as e:
        raise SweepError([f"{root}: cannot write: {e.strerror or e}"]) from None
    stored, damaged = st.read_runs(root)
    if damaged:
        st.quarantine(root, damaged)
        notes.append(f"{root}: {len(damaged)} damaged runs file(s) moved to {st.QUARANTINE}/ "
                     f"({damaged[0][0].name}: {damaged[0][1]}); their runs run again")

    done_ids, failed_ids = st.run_ids(stored)
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
    fixed = chunk_size or ls.spec.chunk_size
    tasks = [(r.run_id, r.seed, assignments(ls, r)) for r in todo]
    timed = [0.0, 0]  # run seconds and runs of the chunks finished so far (guided chunk sizes read their mean)
    chunks: Iterator[list]
    if fixed or workers_used == 1:
        size = fixed or default_chunk_size(len(todo), workers_used)
        chunks = iter([tasks[i:i + size] for i in range(0, len(tasks), size)])
    else:
        chunks = guided_chunks(tasks, workers_used, lambda: timed[0] / timed[1] if timed[1] else None)
    report = SweepReport(ls.sweep_id, str(root), total, skipped, 0, 0, len(todo), 0.0, executor, workers_used, 0)

    def counted(it: Iterator[list]) -> Iterator[list]:
        for c in it:
            report.chunks += 1
            yield c

    chunk_iter = counted(chunks)
    if progress is not None:
        progress(0, len(todo), 0)
    seq = st.next_chunk_seq(root)
    matched: set[str] = set()
    kept_any = False
    stream = None
    catalogue = None
    try:
        if tasks:
            stream = _execute(executor, workers_used, scheduler, ls.base, chunk_iter, ls.spec.keep == "tables",
                              ls.spec.kpis, run_seconds, client)
            for chunk, res in stream:
                if catalogue is None and executor != "serial":
                    # the catalogue's design half is built while the workers run (not after the last run);
                    # should that fail, the whole catalogue is built at the end and any error reported there
                    with contextlib.suppress(Exception):
                        catalogue = st.Catalogue(root)
                        catalogue.refresh()  # the runs files of earlier sweeps into this store
                if isinstance(res, BaseException):
                    res = ChunkResult([{"run_id": t[0], "status": "failed", "error": _one_line(res), "elapsed_s": 0.0}
                                       for t in chunk])
                written = _write_chunk(root, seq, ls, res)
                seq += 1
                if catalogue is not None:
                    with contextlib.suppress(Exception):  # read again at finish() if it fails now
                        catalogue.add(*written)
                n_failed = sum(r["status"] != "ok" for r in res.records)
                ran = [r["elapsed_s"] for r in res.records if r["elapsed_s"] > 0]  # not a chunk lost with its worker
                timed[0] += sum(ran)
                timed[1] += len(ran)
                report.done += len(res.records) - n_failed
                report.failed += n_failed
                report.remaining -= len(res.records)
                ok_keys = [rec.keys() for rec in res.records if rec["status"] == "ok"]
                if ok_keys:
                    kept_any = True
                    matched.update(*ok_keys)  # the KPI names kept (and the record's own fields, set aside below)
                if progress is not None:
                    progress(report.done + report.failed, len(todo), report.failed)
                if fail_fast and n_failed:
                    break
                if report.remaining <= 0:
                    break  # every run is in: the catalogue is finished while the workers exit
    finally:
        every_run_in = report.remaining <= 0
        if stream is not None and not every_run_in:
            stream.close()  # shuts the pool/cluster down; in-flight chunks are dropped (re-run resumes them)
        catalogue_error = None
        try:
            if catalogue is not None:
                catalogue.finish()
            else:
                st.rebuild_catalogue(root)
        except Exception as e:  # noqa: BLE001 - reported below: the runs are stored, the catalogue is not
            catalogue_error = e
        finally:
            if stream is not None and every_run_in:
                stream.close()  # waits for the workers, told to stop when the last chunk was handed out
    if catalogue_error is not None:
        raise SweepError([f"{root}: the runs are stored, but the catalogue ({st.CATALOGUE}) could not be built: "
                          f"{_one_line(catalogue_error)}"])
    if kept_any:
        matched.difference_update(_RUN_FIELDS)
        report.unmatched_kpis = [p for p in ls.spec.kpis if not any(kpi_matcher([p]).match(k) for k in matched)]
    report.wall_s = time.perf_counter() - t0
    return report


def _prepare_store(root: Path, ls: LoadedSpec, extend: bool, notes: list[str] | None = None,
                   dry: bool = False) -> dict:
    """The store's new ``sweep.json`` contents, or a :class:`SweepError` if *root* cannot take this sweep.

    A damaged ``sweep.json`` in a folder that holds ``runs/`` is set aside (``quarantine/``) and rewritten from
    the spec, unless *dry* (the check made before the lock is taken)."""
    from sim.experiments import store as st

    try:
        old = st.read_meta(root)
    except st.DamagedMeta as e:
        if not (root / st.RUNS).is_dir():
            raise SweepError([str(e)]) from None
        old = None
        if not dry:
            (root / st.QUARANTINE).mkdir(exist_ok=True)
            os.replace(root / st.META, root / st.QUARANTINE / f"{st.META}.{uuid.uuid4().hex[:6]}.damaged")
            if notes is not None:
                notes.append(f"{root / st.META}: damaged; set aside in {st.QUARANTINE}/ and rewritten from the spec")
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
        if root.is_dir() and any(p.name != ".lock" for p in root.iterdir()) and not (root / "runs").is_dir():
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
    _atomic_write(lambda tmp: df.to_parquet(tmp, index=False), path)


def _atomic_write(write: Callable[[Path], None], path: Path) -> None:
    """``write(tmp)`` to a temporary name beside *path*, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:  # a full disk, Ctrl-C: no temporary file stays behind
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _write_meta(root: Path, meta: dict) -> None:
    from sim.experiments import store as st

    root.mkdir(parents=True, exist_ok=True)
    (root / "runs").mkdir(exist_ok=True)
    meta = dict(meta, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
    tmp = root / f".{st.META}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n")
        os.replace(tmp, root / st.META)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


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


_RUN_FIELDS = ("run_id", "status", "error", "elapsed_s", "chunk")


def _runs_table(records: list[dict], seq: int):
    """A chunk's runs file as one Arrow table, built column by column with its final types (the driver writes one
    per chunk, so this is on the sweep's critical path): run_id, status and error as text, elapsed_s, the chunk
    number, then each KPI as float64 (NaN where a run has none), KPIs in the order they first appear."""
    import pyarrow as pa

    names = dict.fromkeys(itertools.chain.from_iterable(records))  # every key, in the order it first appears
    for f in _RUN_FIELDS:
        names.pop(f, None)
    kpis = list(names)
    nan = math.nan
    cols = {
        "run_id": pa.array([r.get("run_id") for r in records], type=pa.string()),
        "status": pa.array([r.get("status") for r in records], type=pa.string()),
        "error": pa.array([r.get("error") for r in records], type=pa.string()),
        "elapsed_s": pa.array([r.get("elapsed_s") for r in records], type=pa.float64()),
        "chunk": pa.array([seq] * len(records), type=pa.int64()),
    }
    for k in kpis:
        cols[k] = pa.array([r.get(k, nan) for r in records], type=pa.float64())
    return pa.table(cols)


def _write_chunk(root: Path, seq: int, ls: LoadedSpec, res: ChunkResult) -> tuple[Path, Any]:
    """Write a chunk's kept tables, then its runs file (the commit marker); the runs file's path and the Arrow
    table written there (what reading the file back gives: the catalogue takes it instead of a re-read)."""
    import pyarrow.parquet as pq

    from sim.experiments import store as st

    tag = f"part-{seq:06d}-{uuid.uuid4().hex[:8]}"
    if res.tables:  # tables first: a runs file is the commit marker that makes them visible
        for name, df in res.tables.items():
            _atomic_parquet(df, root / st.TABLES / name / f"{tag}.parquet")
    table = _runs_table(res.records, seq)
    path = root / st.RUNS / f"{tag}.parquet"
    _atomic_write(lambda tmp: pq.write_table(table, tmp), path)
    return path, table
