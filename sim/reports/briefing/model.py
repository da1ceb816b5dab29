"""What a briefing is made of: the runs behind it (variants, swings), the facts it prints (ledger), its charts."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.experiments.estimate import CONFIDENCE, SPREAD, statistic
from sim.reports.formatting import format_value
from sim.schema import Scenario
from sim.units import MONTH_DAYS

AUDIENCES = ("policy", "lab")


FORMATS = ("html", "pdf", "md")


SWING_QUANTILES = (0.1, 0.9)  # an uncertain input swung to these quantiles, one at a time


CONFIDENCE_PCT = round(100 * CONFIDENCE)  # the interval of a mean (sim.experiments.estimate)
SPREAD_PCT = tuple(int(p) for p in SPREAD)  # percentiles shown as the spread across replications


DAYS_PER_MONTH = MONTH_DAYS


MAX_SWINGS = 8  # one-at-a-time inputs swung (two variants each)


MAX_SWING_REPS = 5  # replications per swing variant (the first seeds of the scenario's)


#: Policy audience: the strategies beside the scenario through which a tightening lever bites (then the levers).
POLICY_VARIANT_SUFFIXES = ("_rent", "_rent_no_remote")


REPO = Path(__file__).resolve().parents[3]


Progress = Callable[[int, int, str], None]


class BriefingError(Exception):
    """The target cannot be briefed; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Fact:
    """One printed figure or scenario text: its value, its text, and where it came from."""

    name: str
    value: Any
    text: str
    fmt: str
    kind: str  # run | paired | runtext | scenario | sources | setting | backtest | compare | sweep
    prov: dict = field(default_factory=dict)

    def describe(self, code: bool = False, stat: bool = True) -> str:
        """One line of provenance (identifiers in backticks with *code*, for Markdown; without the statistic)."""
        p = self.prov

        def c(x: Any) -> str:
            return f"`{x}`" if code else str(x)

        if self.kind in ("run", "paired"):
            lead = f"{p['stat']} of " if stat else ""
            what = f"{lead}{c(p['kpi'])} over the runs of {c(p['variant'])}"
            if self.kind == "paired":
                what = (f"{lead}the paired difference {c(p['variant'])} minus {c(p['minus'])} "
                        f"in {c(p['kpi'])}")
            return what + (" (unfinished runs counted at the horizon)" if p.get("censor") else "")
        if self.kind == "runtext":
            return f"most common {c(p['table'] + '.' + p['column'])} over the runs of {c(p['variant'])}"
        if self.kind == "swing":
            return f"absolute difference of {c(p['high'])} and {c(p['low'])}"
        if self.kind == "sweep":
            return f"{p['stat']} of {c(p['kpi'])} over the runs in the sweep store" + (
                " where " + ", ".join(c(k) for k in p["where"]) + " take the row's values" if p.get("where") else "")
        if self.kind == "sweep_index":
            return f"{c(p['index'])} of {c(p['kpi'])} from the sweep's analysis"
        if self.kind == "compare":
            return f"{c(p['field'])} of {c(p['kpi'])} in the compare result"
        if self.kind == "backtest":
            return f"{c(p['field'])} of observable {c(p['observable'])} (backtest)"
        if self.kind == "scenario":
            return f"scenario {c(p.get('scenario', ''))} at {c(p.get('path', ''))}"
        if self.kind == "study":
            scale = f" times {p['times']:g}" if p.get("times") is not None else ""
            whole = ", rounded" if p.get("whole") else ""
            return (f"{c(p['field'])}{scale}{whole} of option {c(p['option'])} ({c(p['lab'])}) in the options study "
                    "(exportsim options on the same seeds)")
        if self.kind == "tipping":
            where = p["group"] if p["group"] == "head" else f"{p['group']}[{p['index']}]"
            return f"{c(p['field'])} of {c(where)} in the tipping points (sensitivity of the headline difference)"
        if self.kind == "sources":
            return f"source list, {c(p.get('id', ''))}"
        return str(p.get("what", self.kind))


class Ledger:
    """The facts a briefing prints, by name; :meth:`add` formats and records in one step."""

    def __init__(self, ctx: dict):
        self.ctx = ctx
        self.facts: dict[str, Fact] = {}
        self._same: dict[str, Fact] = {}

    def add(self, name: str, value: Any, fmt: str, kind: str, **prov: Any) -> Fact:
        """Record a fact (the same statistic asked for twice is one fact, under its first name)."""
        if isinstance(value, np.generic):
            value = value.item()
        key = json.dumps([kind, fmt, value if fmt == "text" else None, prov], sort_keys=True, default=str)
        if key in self._same and kind in ("run", "paired", "runtext"):  # provenance names the statistic fully
            return self._same[key]
        f = Fact(name, value, format_value(fmt, value, self.ctx), fmt, kind, prov)
        self.facts[name] = f
        self._same.setdefault(key, f)
        return f

    def text(self, name: str, text: str, kind: str = "scenario", **prov: Any) -> Fact:
        return self.add(name, " ".join(str(text).split()), "text", kind, **prov)

    def appendix(self) -> list[dict]:
        """Ledger rows for the document: the statistics of one KPI over one variant grouped on one row."""
        rows: list[dict[str, Any]] = []
        groups: dict[tuple, dict[str, Any]] = {}
        for f in self.facts.values():
            if f.kind in ("label", "scenario", "sources"):
                continue
            if f.kind in ("run", "paired"):
                p = f.prov
                key = (f.kind, p["variant"], p.get("minus"), p["kpi"], p.get("minus_kpi"), p.get("censor"))
                if key in groups:
                    groups[key]["shown"].append((p["stat"], f))
                    continue
                row: dict[str, Any] = {"name": f.name.rsplit(".", 1)[0], "shown": [(p["stat"], f)], "fact": f,
                                       "grouped": True}
                groups[key] = row
            else:
                row = {"name": f.name, "shown": [("", f)], "fact": f, "grouped": False}
            rows.append(row)
        for row in rows:
            if row["grouped"] and len(row["shown"]) == 1:
                row.update(name=row["fact"].name, shown=[("", row["fact"])], grouped=False)
        return rows

    def to_json(self) -> list[dict]:
        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, (dt.date, Path)):
                return str(v)
            return v

        return [{"name": f.name, "text": f.text, "value": clean(f.value), "format": f.fmt, "kind": f.kind,
                 "provenance": {k: clean(v) for k, v in f.prov.items()}, "how": f.describe()}
                for f in self.facts.values()]


def _stat(values: Sequence[float], how: str, kpi: str | None = None, paired: bool = False) -> float:
    """One named statistic of a fact (:func:`sim.experiments.estimate.statistic`; intervals clipped to the KPI)."""
    return statistic(values, how, kpi, paired_diff=paired)


@dataclass
class Variant:
    """One world run R times with seeds shared across variants (common random numbers)."""

    key: str
    label: str
    role: str  # scenario | counterfactual | option | rule_variant | swing
    scenario: Scenario
    file: str | None = None
    seeds: list[int] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    kpis: list[dict] = field(default_factory=list)
    jobs: list[pd.DataFrame] = field(default_factory=list)
    fleet: pd.DataFrame | None = None  # the first run's fleet table (charts)
    job_key: str | None = None  # this variant's name for the briefed job (option files may rename it)

    def values(self, kpi: str, censor: float | None = None) -> list[float]:
        out = []
        for k in self.kpis:
            v = float(k.get(kpi, math.nan))
            if censor is not None and math.isnan(v):
                v = censor
            out.append(v)
        return out


@dataclass
class Swing:
    """One uncertain input (a distribution, or every step of a series) set to its 10th / 90th percentile."""

    path: str
    members: list[str]
    dists: list[dict]
    source: list[str]
    low_key: str
    high_key: str


@dataclass
class BriefingData:
    """Everything a briefing is made from (runs, comparison or sweep), before any formatting."""

    kind: str  # scenario | compare | sweep
    target: str
    audience: str
    scenario: Scenario | None = None
    scenario_file: str | None = None
    replications: int = 0
    seed: int | None = None
    variants: dict[str, Variant] = field(default_factory=dict)
    swings: list[Swing] = field(default_factory=list)
    lab: str | None = None
    job: str | None = None
    options: list[str] = field(default_factory=list)
    backtest: list | None = None
    backtest_note: str | None = None
    compare_payload: dict | None = None
    sweep: dict | None = None
    option_files: list[str] = field(default_factory=list)
    #: When the inputs come from a calibrated posterior: store, name, model, cutoff, pinned, at_prior, missing.
    posterior: dict | None = None
    #: The options study (sim.experiments.options, as ``exportsim options`` prints it) on the briefing's seeds.
    options_study: dict | None = None
    #: What moves the headline difference (collect.tipping_points): head, swings, structural choices.
    sensitivity: dict | None = None

    @property
    def world(self) -> Scenario:
        """The scenario briefed (always there for a scenario target; compare and sweep targets may lack one)."""
        if self.scenario is None:
            raise BriefingError([f"{self.target}: no scenario to brief"])
        return self.scenario


def _modal_chip(v: Variant) -> str | None:
    chips = []
    for jobs in v.jobs:
        if v.job_key is None or jobs.empty:
            continue
        row = jobs[jobs["job"] == v.job_key]
        if len(row) and isinstance(row["chip"].iloc[0], str) and row["chip"].iloc[0]:
            chips.append(row["chip"].iloc[0])
    return Counter(chips).most_common(1)[0][0] if chips else None


@dataclass
class Chart:
    """A figure, its caption (facts only) and its static size."""

    name: str
    title: str
    figure: Any
    width: int = 900
    height: int = 420
