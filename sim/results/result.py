"""RunResult: a run's KPIs, its tidy tables (built on first use) and what produced them; saved as Parquet or CSV."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from sim.engine.records import Recorder


class RunResult:
    """Everything one run gives back.

    ``kpis`` are computed from the run's rows without pandas, and ``tables`` (one DataFrame per record type) are
    built from them, each the first time it is read: a caller that wants KPIs only (sweeps, options) never pays for
    tables, and one that measures observables from the rows (calibration) for neither.  ``scenario_json`` is
    likewise made on first use.
    """

    def __init__(self, run_id: str, seed: int, scenario_name: str, start: dt.date,
                 kpis: dict[str, float] | Callable[[], dict[str, float]], *,
                 records: Recorder | None = None, tables: dict[str, pd.DataFrame] | None = None,
                 scenario: Any = None, scenario_json: str | None = None, events_processed: int = 0,
                 streams: list[str] | None = None, version: str | None = None):
        self.run_id = run_id
        self.seed = seed
        self.scenario_name = scenario_name
        self.start = start
        self._kpis = kpis  # or the function that computes them, called on first use
        self.events_processed = events_processed
        self.streams = list(streams or [])
        self._version = version
        self._records = records
        self._tables = tables
        self._scenario = scenario
        self._scenario_json = scenario_json

    @property
    def kpis(self) -> dict[str, float]:
        """The run's flat KPIs (computed from its rows the first time they are read: a caller that measures
        observables from the rows, as calibration does, never computes them)."""
        if callable(self._kpis):
            self._kpis = self._kpis()
        return self._kpis

    @property
    def version(self) -> str:
        """The package version that made the run."""
        if self._version is None:
            from sim._version import package_version

            self._version = package_version()
        return self._version

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """One tidy DataFrame per record type (built once, on first use)."""
        if self._tables is None:
            from sim.results.metrics import tables  # pandas is imported only by those who read tables

            self._tables = tables(self._records, self.run_id) if self._records is not None else {}
        return self._tables

    def records_of(self, table: str) -> list | None:
        """The run's rows of *table*, as recorded (None for a result without its rows, e.g. one built from
        tables read back from disk)."""
        if self._records is None:
            return None
        return getattr(self._records, table, None)

    @property
    def scenario_json(self) -> str:
        """The canonical scenario the run used, as JSON."""
        if self._scenario_json is None:
            self._scenario_json = self._scenario.model_dump_json(by_alias=True) if self._scenario is not None else "{}"
        return self._scenario_json

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name.startswith("_"):
            raise AttributeError(name)
        tables = self.tables
        if name in tables:
            return tables[name]
        raise AttributeError(name)

    def __getstate__(self) -> dict:
        self.kpis  # noqa: B018 - computed now: the function that computes them is not picklable
        return self.__dict__

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def date_of(self, day: float) -> dt.date | None:
        """Calendar date of a simulation day."""
        from sim.units import day_to_date

        return day_to_date(self.start, day)

    def save(self, out_dir: str | Path, fmt: str = "parquet") -> list[Path]:
        """Write every table (and kpis.json, meta.json) into *out_dir*; returns the paths written."""
        if fmt not in ("parquet", "csv"):
            raise ValueError(f"unknown format '{fmt}' (parquet or csv)")
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"{out} is not a directory")
        out.parent.mkdir(parents=True, exist_ok=True)
        # everything goes into a temporary sibling first, then moves into place: a failure leaves nothing behind
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            names = []
            for name, df in self.tables.items():
                p = stage / f"{name}.{fmt}"
                if fmt == "parquet":
                    df.to_parquet(p, index=False)
                else:
                    df.to_csv(p, index=False)
                names.append(p.name)
            (stage / "kpis.json").write_text(kpis_json(self.kpis) + "\n")
            meta = {"run_id": self.run_id, "seed": self.seed, "scenario": self.scenario_name, "version": self.version,
                    "start": self.start.isoformat(), "events_processed": self.events_processed}
            (stage / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
            (stage / "scenario.json").write_text(self.scenario_json + "\n")
            names += ["kpis.json", "meta.json", "scenario.json"]
            out.mkdir(exist_ok=True)
            for n in names:  # check every target first, then move: all or nothing
                if (out / n).is_dir():
                    raise IsADirectoryError(f"{out / n} is a directory")
            for n in names:
                os.replace(stage / n, out / n)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return [out / n for n in names]


def kpis_json(k: dict) -> str:
    """KPIs as JSON with NaN written as null."""
    return json.dumps({key: (None if isinstance(v, float) and math.isnan(v) else v) for key, v in k.items()},
                      indent=2, sort_keys=True)
