"""RunResult: a run's tidy tables, KPIs, and what produced them; saved as Parquet or CSV."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sim._version import __version__


@dataclass
class RunResult:
    """Everything one run gives back."""

    run_id: str
    seed: int
    scenario_name: str
    scenario_json: str
    start: dt.date
    tables: dict[str, pd.DataFrame]
    kpis: dict[str, float]
    events_processed: int = 0
    streams: list[str] = field(default_factory=list)
    version: str = __version__

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)

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
