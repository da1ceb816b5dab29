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

Readers never open ``catalogue.duckdb`` while a sweep may be writing: :class:`Store` reads the Parquet
files through DuckDB's ``read_parquet(glob)`` on an in-memory connection, so any number of processes
(the dashboard, a notebook) can read a sweep as it runs.  Files appear atomically (written under a
temporary name, then renamed).  Plain queries::

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


def read_meta(root: str | os.PathLike) -> dict | None:
    """The store's ``sweep.json``, or None if there is none."""
    p = Path(root) / META
    if not p.is_file():
        return None
    return json.loads(p.read_text())


def _glob(root: Path, sub: str) -> str | None:
    d = root / sub
    if not d.is_dir() or not any(d.glob("*.parquet")):
        return None
    return str(d / "*.parquet").replace("'", "''")


def _connect():
    import duckdb

    return duckdb.connect(":memory:")


def _results_sql(glob: str) -> str:
    """One row per run_id: the latest record (a retried failure replaced by its rerun)."""
    return (f"SELECT * EXCLUDE (_rn) FROM (SELECT *, "
            f"row_number() OVER (PARTITION BY run_id ORDER BY chunk DESC) AS _rn "
            f"FROM read_parquet('{glob}', union_by_name=true)) WHERE _rn = 1")


def stored_run_ids(root: str | os.PathLike) -> tuple[set[str], set[str]]:
    """(ids stored ok, ids whose latest record failed)."""
    glob = _glob(Path(root), RUNS)
    if glob is None:
        return set(), set()
    con = _connect()
    try:
        rows = con.execute(f"SELECT run_id, status FROM ({_results_sql(glob)})").fetchall()
    finally:
        con.close()
    ok = {r for r, s in rows if s == "ok"}
    return ok, {r for r, s in rows if s != "ok"}


def next_chunk_seq(root: str | os.PathLike) -> int:
    """1 + the highest chunk number in the store (chunk numbers order records across resumes)."""
    best = 0
    for p in (Path(root) / RUNS).glob("part-*.parquet"):
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
        return pd.read_parquet(p)

    def results(self) -> pd.DataFrame:
        """One row per stored run_id: status, error, elapsed_s, chunk, KPI columns."""
        glob = _glob(self.root, RUNS)
        if glob is None:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in RUN_COLUMNS})
        con = _connect()
        try:
            return con.execute(_results_sql(glob)).df()
        finally:
            con.close()

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
        glob = _glob(self.root, f"{TABLES}/{name}")
        if glob is None:
            raise StoreError(f"{self.root}: no table '{name}' (was the sweep run with keep: tables?)")
        committed = {p.stem for p in (self.root / RUNS).glob("part-*.parquet")}
        con = _connect()
        try:
            df = con.execute(f"SELECT *, parse_filename(filename, true) AS _part FROM read_parquet('{glob}', "
                             "union_by_name=true, filename=true)").df()
        finally:
            con.close()
        df = df[df["_part"].isin(committed)]
        return df.drop(columns=["_part", "filename"], errors="ignore").reset_index(drop=True)

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL with views ``design``, ``results`` and ``runs`` (design joined with results)."""
        con = _connect()
        try:
            self._views(con)
            return con.execute(sql).df()
        finally:
            con.close()

    def _views(self, con: Any) -> None:
        design = str(self.root / DESIGN).replace("'", "''")
        con.execute(f"CREATE VIEW design AS SELECT * FROM read_parquet('{design}')")
        glob = _glob(self.root, RUNS)
        if glob is None:
            con.execute("CREATE VIEW results AS SELECT NULL::VARCHAR AS run_id, NULL::VARCHAR AS status, "
                        "NULL::VARCHAR AS error, NULL::DOUBLE AS elapsed_s, NULL::BIGINT AS chunk WHERE false")
        else:
            con.execute(f"CREATE VIEW results AS {_results_sql(glob)}")
        params = ", ".join(_q(p) for p in self.parameters)
        sid = self.sweep_id.replace("'", "''")
        con.execute(f"CREATE VIEW runs AS SELECT '{sid}' AS sweep_id, d.run_id, d.point_id, d.policy_index, "
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


def rebuild_catalogue(root: str | os.PathLike) -> Path:
    """Materialise ``catalogue.duckdb`` from the Parquet files (written aside, then renamed into place)."""
    import duckdb

    root = Path(root)
    s = Store(root)
    final = root / CATALOGUE
    tmp = root / f".{CATALOGUE}.{uuid.uuid4().hex[:8]}.tmp"
    con = duckdb.connect(str(tmp))
    try:
        s._views(con)
        con.execute("CREATE TABLE runs_t AS SELECT * FROM runs ORDER BY policy_index, sample_index, replication")
        con.execute("CREATE TABLE design_t AS SELECT * FROM design")
        con.execute("DROP VIEW runs")
        con.execute("DROP VIEW results")
        con.execute("DROP VIEW design")
        con.execute("ALTER TABLE runs_t RENAME TO runs")
        con.execute("ALTER TABLE design_t RENAME TO design")
        meta = json.dumps(s.meta, default=str)
        con.execute("CREATE TABLE sweep AS SELECT ? AS sweep_id, ? AS meta_json", [s.sweep_id, meta])
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, final)
    wal = Path(str(tmp) + ".wal")
    if wal.exists():
        wal.unlink()
    return final
