"""Published observables for the backtest (``scenarios/observed.yaml``): a range, its sources, and how
to compute the same quantity from a run.

An observable names one scenario file (relative to the observed file) and either a KPI or a table
measurement: rows of a result table, filtered by column values (``where``), kept when a day column
falls in a date window, turned into one number per row (``value``: a column or an arithmetic
expression over columns) and aggregated (``aggregate``), times ``scale``.  ``date`` says which period the
figure describes, for the calibration's time split (fit up to a cut-off, predict the rest).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sim.schema._base import SimModel, Sourced, new_dict

TableName = Literal["shipments", "fleet", "ledger", "production", "events", "jobs", "rentals", "inference"]
Aggregate = Literal["sum", "count", "mean", "median", "max", "min", "last"]
_ID = re.compile(r"^[A-Za-z0-9_-]+$")


class Window(SimModel):
    """Rows whose day column lies in [start, end) (either end open when omitted)."""

    start: dt.date | None = None
    end: dt.date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class Measure(SimModel):
    """How to compute an observable from runs of one scenario."""

    scenario: str = Field(description="Scenario file, relative to the observed file.")
    kpi: str | None = Field(default=None, description="A KPI name (e.g. 'job_failures[meta/llama3]').")
    table: TableName | None = Field(default=None, description="A result table to measure.")
    where: dict[str, list[str | float | bool]] = Field(
        default_factory=new_dict, description="Keep rows whose column value is one of these."
    )
    day_column: str = Field(default="day", description="The column the window applies to.")
    window: Window | None = None
    value: str = Field(default="qty", description="A column, or an arithmetic expression over columns.")
    aggregate: Aggregate = "sum"
    scale: float = Field(default=1.0, description="Unit conversion applied after aggregation.")

    @model_validator(mode="after")
    def _one_source(self) -> Measure:
        if (self.kpi is None) == (self.table is None):
            raise ValueError("give exactly one of kpi or table")
        if self.kpi is not None and (self.where or self.window is not None):
            raise ValueError("where and window apply to a table, not to a kpi")
        return self


class Observable(Sourced):
    """A published figure with its range, and how the model computes it."""

    description: str
    unit: str = ""
    low: float = Field(description="Low end of the published range.")
    high: float = Field(description="High end of the published range.")
    central: float | None = Field(default=None, description="Central published estimate, if one is given.")
    spread: str = Field(default="", description="Why the range is this wide (sources disagreeing, estimate error).")
    date: dt.date | None = Field(
        default=None,
        description="The last day of the period the figure measures (calibration fits on figures dated up to a "
                    "cut-off and holds out the later ones); default: the day before the window's end.")
    compute: Measure

    @model_validator(mode="after")
    def _range(self) -> Observable:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        if self.central is not None and not self.low <= self.central <= self.high:
            raise ValueError(f"central ({self.central}) lies outside [{self.low}, {self.high}]")
        if not self.source:
            raise ValueError("an observable needs a source")
        return self

    @property
    def dated(self) -> dt.date | None:
        """``date``, else the last day of the compute window (None when neither is known)."""
        if self.date is not None:
            return self.date
        w = self.compute.window
        if w is not None and w.end is not None:
            return w.end - dt.timedelta(days=1)
        return None


class ObservedFile(SimModel):
    """The observables file: published figures the history must reproduce."""

    description: str = ""
    observables: dict[str, Observable] = Field(min_length=1)

    @field_validator("observables")
    @classmethod
    def _ids(cls, v: dict[str, Observable]) -> dict[str, Observable]:
        bad = [k for k in v if not _ID.match(k)]
        if bad:
            raise ValueError(f"observable ids may use letters, digits, '_' and '-' only: {', '.join(bad)}")
        return v
