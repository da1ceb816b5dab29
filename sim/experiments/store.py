"""The sweep run store: layout, and read-only access for analysis (EMA's (experiments, outcomes), tidy).

A store is a directory written by one driver (:func:`sim.experiments.sweep.run_sweep`)::

    sweep.json                    the spec, sweep_id, base-scenario hash, code version, model fingerprint
                                  (``sim.engine.version.model_fingerprint``: a store holds one model's runs),
                                  parameter kinds
    design.parquet                every planned run: run_id, point_id, policy_index, sample_index,
                                  replication, seed, one column per parameter (value), u:<factor> (the
                                  design's unit-hypercube coordinate, for SALib's analyzers)
    runs/part-NNNNNN-xxxx.parquet one file per completed chunk: run_id, status (ok | failed), error,
                                  elapsed_s, chunk, one float column per kept KPI
    tables/<table>/part-....parquet  with ``keep: tables``: the runs' tidy tables (``run_id`` column)
    catalogue.duckdb              table ``runs`` (sweep_id, run_id, point_id, policy_index, sample_index,
                                  replication, seed, status, error, parameters..., KPIs...), ``design``
                                  and ``sweep``; rebuilt when a sweep stops, so it may lag a running sweep

Readers never open ``catalogue.duckdb`` while a sweep may be writing: :class:`Store` lists the Parquet files
itself (store paths are literal: a store named ``h[1]`` is never a glob), reads each back whole with pyarrow
and hands the tables to an in-memory DuckDB connection, so any number of processes (the dashboard, a
notebook) can read a sweep as it runs.  Files appear atomically (written under a temporary name, then
renamed; the temporary file is removed on any failure).  A runs file that cannot be read back (truncated,
zeroed, foreign) is left out and reported in one line (:meth:`Store.damage_note`); the next resume moves it
to ``quarantine/`` and runs its runs again.  One driver writes at a time: it holds ``.lock`` (``flock``).
Plain queries::

    import duckdb
    duckdb.sql("SELECT status, count(*) FROM read_parquet('STORE/runs/*.parquet', union_by_name=true) GROUP BY 1")
    Store("STORE").query("SELECT die_yield, avg(\\"job_finish_day[bytedance/llm]\\") FROM runs GROUP BY 1")
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

STORE_FORMAT = 1
META = "sweep.json"
DESIGN = "design.parquet"
RUNS = "runs"
TABLES = "tables"
CATALOGUE = "catalogue.duckdb"
RUN_COLUMNS = ("run_id", "status", "error", "elapsed_s", "chunk")
ID_COLUMNS = ("run_id", "point_id", "policy_index", "sample_index", "replication", "seed")


class StoreError(Exception):
    """A directory is not a readable sweep store."""


QUARANTINE = "quarantine"
LOCK = ".lock"


class DamagedMeta(StoreError):
    """``sweep.json`` exists but cannot be read (truncated, zeroed, not JSON, not a mapping)."""


def read_meta(root: str | os.PathLike) -> dict | None:
    """The store's ``sweep.json``, or None if there is none; :class:`DamagedMeta` if it cannot be read."""
    p = Path(root) / META
    if not p.is_file():
        return None
    try:
        meta = json.loads(p.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise DamagedMeta(f"{p}: damaged ({_reason(e)}); resume the sweep to rewrite it") from None
    if not isinstance(meta, dict) or not {"sweep_id", "parameters", "factors", "spec"} <= set(meta):
        raise DamagedMeta(f"{p}: damaged (not a sweep description); resume the sweep to rewrite it")
    return meta


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 160 else text[:157] + "..."


# Store paths are used literally: files are listed with os.scandir and read with pyarrow, never handed to
# DuckDB as a glob (a store called h[1] must not read its sibling h1's runs).
def run_parts(root: str | os.PathLike) -> list[Path]:
    """The committed runs files (``runs/part-*.parquet``), in name order."""
    return _parquet_files(Path(root) / RUNS, prefix="part-")


def _parquet_files(d: Path, prefix: str = "") -> list[Path]:
    try:
        entries = list(os.scandir(d))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(Path(e.path) for e in entries
                  if e.name.startswith(prefix) and e.name.endswith(".parquet") and not e.name.startswith(".")
                  and e.is_file())


def read_runs(root: str | os.PathLike) -> tuple[Any, list[tuple[Path, str]]]:
    """Every readable runs file as one Arrow table (None if there are none), and the damaged ones.

    Each file is read back whole (a truncated, zeroed or foreign file fails here) and must hold the run
    columns; damaged files are left out and listed as ``(path, reason)``.
    """
    return _concat_parts([(p, *read_part(p)) for p in run_parts(root)])


def read_part(p: Path) -> tuple[Any, str | None]:
    """One runs file read back whole: (Arrow table, None), or (None, why it is damaged)."""
    import pyarrow.parquet as pq

    try:
        t = pq.read_table(p)
        missing = [c for c in ("run_id", "status", "chunk") if c not in t.column_names]
        if missing:
            raise ValueError(f"no column {', '.join(missing)}")
    except Exception as e:  # noqa: BLE001 - any unreadable file is damage, whatever pyarrow raises
        return None, _reason(e)
    return t, None


def _concat_parts(parts: list[tuple[Path, Any, str | None]]) -> tuple[Any, list[tuple[Path, str]]]:
    import pyarrow as pa

    tables = [t for _p, t, _why in parts if t is not None]
    damaged = [(p, why or "unreadable") for p, t, why in parts if t is None]
    if not tables:
        return None, damaged
    return pa.concat_tables(tables, promote_options="permissive"), damaged


def damage_note(damaged: list[tuple[Path, str]]) -> str | None:
    """One line about damaged runs files, or None."""
    if not damaged:
        return None
    first, why = damaged[0]
    more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
    return (f"{first.parent.parent}: {len(damaged)} damaged runs file(s) left out: {first.name}: {why}{more}; "
            "resuming the sweep quarantines them and runs their runs again")


def quarantine(root: str | os.PathLike, damaged: list[tuple[Path, str]]) -> list[Path]:
    """Move damaged runs files (and the kept-table files of the same chunk) to ``quarantine/``."""
    root = Path(root)
    moved = []
    for p, _ in damaged:
        dest = root / QUARANTINE
        dest.mkdir(exist_ok=True)
        target = dest / f"{p.name}.{uuid.uuid4().hex[:6]}.damaged"
        os.replace(p, target)
        moved.append(target)
        for table_dir in _subdirs(root / TABLES):
            twin = table_dir / p.name
            if twin.is_file():
                os.replace(twin, dest / f"{table_dir.name}-{p.name}.{uuid.uuid4().hex[:6]}.damaged")
    return moved


def _subdirs(d: Path) -> list[Path]:
    try:
        return sorted(Path(e.path) for e in os.scandir(d) if e.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


_DUCKDB: tuple[int, Any] | None = None  # (pid, the process's in-memory DuckDB database)


def _connect(private: bool = False):
    """A new connection (cursor) to this process's one in-memory DuckDB database; close it when done.

    Opening a DuckDB database costs 15-25 ms of CPU (it registers every built-in function); a cursor on an open
    one costs microseconds, and each keeps its own registered tables and temporary views.  A forked child (a
    sweep's worker) makes its own: the database's threads did not survive the fork.  *private*: a database of
    its own instead, closed with the connection: for a caller's SQL (:meth:`Store.query`), whose tables and
    settings must not outlive it, and for what a sweep's driver reads before it forks its workers (forking from
    a process with threads copies whatever locks they hold: the shared database's ~9 threads are left out)."""
    global _DUCKDB
    import duckdb

    if private:
        return duckdb.connect(":memory:")
    pid = os.getpid()
    if _DUCKDB is None or _DUCKDB[0] != pid:
        _DUCKDB = (pid, duckdb.connect(":memory:"))
    return _DUCKDB[1].cursor()


def _results_sql(source: str) -> str:
    """One row per run_id: the latest record (a retried failure replaced by its rerun)."""
    return (f"SELECT * EXCLUDE (_rn) FROM (SELECT *, "
            f"row_number() OVER (PARTITION BY run_id ORDER BY chunk DESC) AS _rn "
            f"FROM {source}) WHERE _rn = 1")


def stored_run_ids(root: str | os.PathLike) -> tuple[set[str], set[str]]:
    """(ids stored ok, ids whose latest record failed); damaged runs files count as not stored."""
    return run_ids(read_runs(root)[0])


def run_ids(table: Any) -> tuple[set[str], set[str]]:
    """:func:`stored_run_ids` of a runs table :func:`read_runs` gave (None: no readable runs file)."""
    if table is None:
        return set(), set()
    con = _connect(private=True)  # a driver asks before it forks its workers: no database threads left then
    try:
        con.register("_runs_raw", table.select(["run_id", "status", "chunk"]))
        rows = con.execute(f"SELECT run_id, status FROM ({_results_sql('_runs_raw')})").fetchall()
    finally:
        con.close()
    ok = {r for r, s in rows if s == "ok"}
    return ok, {r for r, s in rows if s != "ok"}


def next_chunk_seq(root: str | os.PathLike) -> int:
    """1 + the highest chunk number in the store (chunk numbers order records across resumes)."""
    best = 0
    for p in [*run_parts(root), *_parquet_files(Path(root) / QUARANTINE)]:
        m = re.match(r"part-(\d+)-", p.name)
        if m:
            best = max(best, int(m.group(1)))
    return best + 1


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Store:
    """Read-only view of a sweep store (safe while the sweep is running)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        meta = read_meta(self.root)
        if meta is None:
            raise StoreError(f"{self.root}: not a sweep store (no {META})")
        self.meta: dict = meta
        self.damaged: list[tuple[Path, str]] = []  # runs files left out by the last read (see damage_note)

    # ----------------------------------------------------------------------- descriptions
    @property
    def sweep_id(self) -> str:
        """The sweep's id (``name-<spec key>``)."""
        return self.meta["sweep_id"]

    @property
    def parameters(self) -> dict[str, dict]:
        """Parameter name -> {group: lever|uncertainty, path, kind, numeric}."""
        return self.meta["parameters"]

    @property
    def uncertainties(self) -> list[str]:
        """Names of the uncertainties, in spec order."""
        return [n for n, p in self.parameters.items() if p["group"] == "uncertainty"]

    @property
    def levers(self) -> list[str]:
        """Names of the levers, in spec order."""
        return [n for n, p in self.parameters.items() if p["group"] == "lever"]

    @property
    def factors(self) -> list[str]:
        """Parameters the design sampled (Sobol/Morris factors)."""
        return list(self.meta["factors"])

    @property
    def design_kind(self) -> str:
        """grid | lhs | sobol | morris."""
        return self.meta["spec"]["design"]["kind"]

    # --------------------------------------------------------------------------- frames
    def design(self) -> pd.DataFrame:
        """Every planned design row (a run_id may appear more than once if two rows coincide)."""
        p = self.root / DESIGN
        if not p.is_file():
            raise StoreError(f"{self.root}: no {DESIGN}")
        try:
            df = pd.read_parquet(p)
        except Exception as e:  # noqa: BLE001 - truncated, zeroed, not Parquet
            raise StoreError(f"{p}: damaged ({_reason(e)}); resume the sweep to rewrite it") from None
        if not set(ID_COLUMNS) <= set(df.columns):
            raise StoreError(f"{p}: damaged (not a design table); resume the sweep to rewrite it")
        return df

    def results(self) -> pd.DataFrame:
        """One row per stored run_id, in run_id order: status, error, elapsed_s, chunk, KPI columns (damaged files
        left out)."""
        table, self.damaged = read_runs(self.root)
        if table is None:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in RUN_COLUMNS})
        con = _connect()
        try:
            con.register("_runs_raw", table)
            return con.execute(f"{_results_sql('_runs_raw')} ORDER BY run_id").df()  # the same frame every read
        finally:
            con.close()

    def damage_note(self) -> str | None:
        """One line about runs files the last read left out (damaged), or None."""
        if not self.damaged:
            self.damaged = read_runs(self.root)[1]
        return damage_note(self.damaged)

    def kpi_names(self) -> list[str]:
        """KPI columns present in the results."""
        return [c for c in self.results().columns if c not in RUN_COLUMNS]

    def frames(self, status: str | None = "ok") -> tuple[pd.DataFrame, pd.DataFrame]:
        """(inputs, outputs) aligned row by row on ``run_id``, in design order; only *status* runs (None: all).

        inputs: run_id, point_id, policy_index, sample_index, replication, seed, status, error, then one
        column per parameter.  outputs: run_id, then one column per KPI.
        """
        design = self.design().drop_duplicates("run_id")
        res = self.results()
        merged = design.merge(res, on="run_id", how="inner", sort=False)
        if status is not None:
            merged = merged[merged["status"] == status]
        merged = merged.reset_index(drop=True)
        params = list(self.parameters)
        kpis = [c for c in res.columns if c not in RUN_COLUMNS]
        inputs = merged[[*ID_COLUMNS, "status", "error", *params]]
        outputs = merged[["run_id", *kpis]]
        return inputs, outputs

    def table(self, name: str) -> pd.DataFrame:
        """A kept table (``keep: tables``) over every stored run; only files committed by a runs file."""
        import pyarrow.parquet as pq

        files = _parquet_files(self.root / TABLES / name)
        if not files:
            raise StoreError(f"{self.root}: no table '{name}' (was the sweep run with keep: tables?)")
        committed = {p.stem for p in run_parts(self.root)} - {p.stem for p, _ in read_runs(self.root)[1]}
        frames = []
        for p in files:
            if p.stem not in committed:
                continue
            try:
                frames.append(pq.read_table(p).to_pandas())
            except Exception:  # noqa: BLE001 - a damaged table file: its chunk's runs file is the commit marker
                continue
        if not frames:
            raise StoreError(f"{self.root}: no readable part of table '{name}'")
        return pd.concat(frames, ignore_index=True)

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL with views ``design``, ``results`` and ``runs`` (design joined with results), in a database of
        its own (what the SQL creates or sets ends with it)."""
        con = _connect(private=True)
        try:
            self._views(con)
            return con.execute(sql).df()
        finally:
            con.close()

    def _views(self, con: Any) -> None:
        self._design_view(con)
        self._results_views(con)

    def _design_view(self, con: Any) -> None:
        con.register("_design_raw", self.design())
        con.execute("CREATE TEMP VIEW design AS SELECT * FROM _design_raw")

    def _results_views(self, con: Any, runs: tuple[Any, list[tuple[Path, str]]] | None = None) -> None:
        """Views ``results`` and ``runs`` (design joined with results) over a ``design`` already there; *runs* is
        what :func:`read_runs` gives (read now when not given)."""
        table, self.damaged = runs if runs is not None else read_runs(self.root)
        if table is None:
            con.execute("CREATE TEMP VIEW results AS SELECT NULL::VARCHAR AS run_id, NULL::VARCHAR AS status, "
                        "NULL::VARCHAR AS error, NULL::DOUBLE AS elapsed_s, NULL::BIGINT AS chunk WHERE false")
        else:
            con.register("_runs_raw", table)
            con.execute(f"CREATE TEMP VIEW results AS {_results_sql('_runs_raw')}")
        params = ", ".join(_q(p) for p in self.parameters)
        sid = self.sweep_id.replace("'", "''")
        con.execute(f"CREATE TEMP VIEW runs AS SELECT '{sid}' AS sweep_id, d.run_id, d.point_id, d.policy_index, "
                    f"d.sample_index, d.replication, d.seed, r.status, r.error, r.elapsed_s"
                    f"{', ' + ', '.join('d.' + _q(p) for p in self.parameters) if params else ''}, "
                    f"r.* EXCLUDE (run_id, status, error, elapsed_s, chunk) "
                    f"FROM (SELECT * FROM design QUALIFY row_number() OVER (PARTITION BY run_id "
                    f"ORDER BY policy_index, sample_index, replication) = 1) d JOIN results r USING (run_id)")


def open_store(root: str | os.PathLike) -> Store:
    """Open a sweep store read-only."""
    return Store(root)


def load(root: str | os.PathLike, status: str | None = "ok") -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(inputs, outputs)`` of a store: see :meth:`Store.frames`."""
    return Store(root).frames(status)


class Catalogue:
    """``catalogue.duckdb`` built in steps, aside under a temporary name, so that little is left to do when a
    sweep's last run ends: what the runs do not change (the design and the sweep's meta) when it is opened,
    which a driver does while its workers run; the runs files already in the store read back (:meth:`refresh`),
    and each one the driver writes taken with the table it wrote (:meth:`add`); the ``runs`` table at
    :meth:`finish`, which reads any file not yet read and renames the catalogue into place.  The result is what
    :func:`rebuild_catalogue` makes from the files.  The file is attached to the process's in-memory database
    (:func:`_connect`) under a name of its own and detached when finished or aborted."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.store = Store(self.root)
        self._parts: dict[Path, tuple[Any, str | None]] = {}
        tag = uuid.uuid4().hex[:8]
        self.tmp = self.root / f".{CATALOGUE}.{tag}.tmp"
        self.alias = f"catalogue_{tag}"  # attached to the process's database under a name of its own
        self.con = _connect()
        try:
            self.con.execute(f"ATTACH '{str(self.tmp).replace(chr(39), chr(39) * 2)}' AS {self.alias}")
        except Exception:
            self.con.close()
            _unlink_quietly(self.tmp)
            raise
        self.attached = True
        try:
            self.con.execute(f"USE {self.alias}")
            self.con.register("_design_raw", self.store.design())
            self.con.execute("CREATE TABLE design AS SELECT * FROM _design_raw")
            self.con.unregister("_design_raw")
            meta = json.dumps(self.store.meta, default=str)
            self.con.execute("CREATE TABLE sweep AS SELECT ? AS sweep_id, ? AS meta_json",
                             [self.store.sweep_id, meta])
        except BaseException:
            self.abort()
            raise

    def refresh(self) -> None:
        """Read back the runs files not read yet (each whole, as :func:`read_runs` does)."""
        for p in run_parts(self.root):
            if p not in self._parts:
                self._parts[p] = read_part(p)

    def add(self, path: Path, table: Any) -> None:
        """A runs file the driver has just written, with the Arrow table it wrote there (what reading it back
        gives), so that the file is not read again (the driver used to list every runs file so far and read the
        new one back after each chunk)."""
        self._parts[path] = (table, None)

    def finish(self) -> Path:
        """Add table ``runs`` from the runs files there now, write the file and rename it into place."""
        con = self.con
        try:
            self.refresh()
            present = run_parts(self.root)  # a file gone since it was read is left out, as a re-read would
            self.store._results_views(con, _concat_parts([(p, *self._parts[p]) for p in present]))
            con.execute("CREATE TABLE runs_t AS SELECT * FROM runs ORDER BY policy_index, sample_index, replication")
            con.execute("DROP VIEW runs")
            con.execute("DROP VIEW results")
            con.execute("ALTER TABLE runs_t RENAME TO runs")
            con.execute(f"CHECKPOINT {self.alias}")
            self._detach()
        except BaseException:
            self.abort()
            raise
        final = self.root / CATALOGUE
        try:
            os.replace(self.tmp, final)
        finally:
            self._remove_tmp()
        return final

    def abort(self) -> None:
        """Close and remove the unfinished file."""
        try:
            self._detach()
        finally:
            self._remove_tmp()

    def _detach(self) -> None:
        """Detach the file from the process's database (which writes and closes it) and close the cursor."""
        if not self.attached:
            return
        self.attached = False
        try:
            self.con.execute("USE memory")
            self.con.execute(f"DETACH {self.alias}")
        finally:
            self.con.close()

    def _remove_tmp(self) -> None:
        _unlink_quietly(self.tmp)
        _unlink_quietly(Path(str(self.tmp) + ".wal"))


def remove_stale_catalogues(root: str | os.PathLike) -> list[Path]:
    """Remove catalogue files a driver left half-built when it was killed (``.catalogue.duckdb.*.tmp`` and their
    ``.wal``); only for the driver holding the store's lock, which no other driver is writing under."""
    out: list[Path] = []
    try:
        entries = list(os.scandir(Path(root)))
    except (FileNotFoundError, NotADirectoryError):
        return out
    for e in entries:  # names compared literally (a store path is never a pattern)
        if e.name.startswith(f".{CATALOGUE}.") and e.name.endswith((".tmp", ".tmp.wal")) and e.is_file():
            _unlink_quietly(Path(e.path))
            out.append(Path(e.path))
    return out


def rebuild_catalogue(root: str | os.PathLike) -> Path:
    """Materialise ``catalogue.duckdb`` from the Parquet files (written aside, then renamed into place)."""
    return Catalogue(root).finish()


def _unlink_quietly(p: Path) -> None:
    p.unlink(missing_ok=True)
