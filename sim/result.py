"""RunResult: a run's tidy tables, KPIs, and what produced them; saved as Parquet or CSV."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sim import __version__


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
        from sim.metrics import day_to_date

        return day_to_date(self.start, day)

    def save(self, out_dir: str | Path, fmt: str = "parquet") -> list[Path]:
        """Write every table (and kpis.json, meta.json) into *out_dir*; returns the paths written."""
        from sim.metrics import kpis_json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, df in self.tables.items():
            p = out / f"{name}.{fmt}"
            if fmt == "parquet":
                df.to_parquet(p, index=False)
            elif fmt == "csv":
                df.to_csv(p, index=False)
            else:
                raise ValueError(f"unknown format '{fmt}' (parquet or csv)")
            written.append(p)
        (out / "kpis.json").write_text(kpis_json(self.kpis) + "\n")
        meta = {"run_id": self.run_id, "seed": self.seed, "scenario": self.scenario_name, "version": self.version,
                "start": self.start.isoformat(), "events_processed": self.events_processed}
        (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        (out / "scenario.json").write_text(self.scenario_json + "\n")
        return written + [out / "kpis.json", out / "meta.json", out / "scenario.json"]
