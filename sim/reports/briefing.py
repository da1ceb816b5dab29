"""Strategy briefings: decision documents generated from runs, comparisons and sweeps.

A briefing answers the scenario's question in two sentences with uncertainty, then shows the key
figures, what drives the result, the options compared, the assumptions with their sources, caveats
and how to reproduce it.  It is built in three steps:

1. :func:`collect` runs what the target needs (a scenario with its no-rules counterfactual, option
   files or rule variants, and cheap one-at-a-time swings of its key uncertain inputs, all with
   common random numbers), or reads a ``exportsim compare --json`` result or a sweep store;
2. :func:`build` turns that into a :class:`Ledger` of facts: every number or scenario text the
   document prints, each produced by one formatting helper from one statistic of named runs (KPI,
   variant, seeds, statistic), so the document can be checked against the runs (:meth:`Briefing.recompute`);
3. :meth:`Briefing.render` fills the Jinja2 templates in ``sim/templates/briefing/`` (Markdown, HTML
   with interactive plotly charts and plotly.js inline, PDF through weasyprint from the HTML with
   static PNG charts made by kaleido in one batched call).

Without a browser for kaleido the HTML keeps its interactive charts, the Markdown and PDF say that
charts are missing; nothing here raises for that.  Intervals across replications are 80 % intervals
(10th to 90th percentile); dates are shown as months.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import __version__
from sim.scenario.loader import ScenarioError, load_scenario
from sim.schema import Scenario
from sim.units import MONTH_DAYS

AUDIENCES = ("policy", "lab")
FORMATS = ("html", "pdf", "md")
INTERVAL = (10.0, 90.0)  # percentiles of the interval across replications
INTERVAL_PCT = 80
DAYS_PER_MONTH = MONTH_DAYS  # kept for the sections module
MAX_SWINGS = 8  # one-at-a-time inputs swung (two variants each)
MAX_SWING_REPS = 5  # replications per swing variant (the first seeds of the scenario's)
MAX_RULE_VARIANTS = 4  # policy audience: rules dropped one at a time (largest deniers first)
LAB_OPTION_SUFFIXES = ("_only", "_rent", "_mix", "_no_remote")
REPO = Path(__file__).resolve().parents[2]
Progress = Callable[[int, int, str], None]


class BriefingError(Exception):
    """The target cannot be briefed; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


# ===================================================================================== formatting
def _sig(x: float, n: int = 3) -> str:
    """*x* rounded to *n* significant digits, with thousands separators and no trailing zeros."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    digits = n - 1 - int(math.floor(math.log10(abs(x))))
    r = round(x, digits)
    if digits <= 0:
        return f"{int(r):,}"
    return f"{r:,.{digits}f}".rstrip("0").rstrip(".")


def _human(x: float) -> str:
    """A scenario input as people write it: 0.38, 3,000, 1.5 billion, 1e25."""
    a = abs(x)
    if a >= 1e15:
        m, e = f"{x:.2e}".split("e")
        return f"{m.rstrip('0').rstrip('.')}e{int(e)}"
    if a >= 1e9:
        return f"{x / 1e9:,.4g} billion"
    if a >= 1e6:
        return f"{x / 1e6:,.4g} million"
    if a >= 1000:
        return _sig(x, 4)
    if x == int(x):
        return f"{int(x):,}"
    return f"{x:.3g}"


def _sign(x: float, body: str) -> str:
    return ("+" if x > 0 else "\u2212" if x < 0 else "") + body


def _month(start: dt.date, day: float) -> str:
    d = start + dt.timedelta(days=float(day))
    return d.strftime("%B %Y")


def format_value(fmt: str, value: Any, ctx: dict) -> str:
    """The text of a fact: one helper per kind of quantity (a trailing ``+`` means signed)."""
    if fmt == "text":
        return str(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    signed = fmt.endswith("+")
    base = fmt.rstrip("+")
    x = float(value)
    a = abs(x) if signed else x
    if base == "month":  # a simulation day -> "March 2026"; at or past the horizon: not finished
        if x >= ctx["horizon_days"] - 1e-9:
            return f"after {_month(ctx['start'], ctx['horizon_days'])}"
        return _month(ctx["start"], x)
    if base == "months":  # days -> months, one decimal (unsigned: a duration)
        body = f"{abs(x) / DAYS_PER_MONTH:.1f}"
        return _sign(round(x / DAYS_PER_MONTH, 1), body) if signed else body
    if base == "usd":
        body = (f"${_sig(a / 1e9)} billion" if abs(a) >= 1e9 else f"${_sig(a / 1e6)} million" if abs(a) >= 1e6
                else f"${_sig(a)}")
    elif base == "count":
        body = f"{_sig(a / 1e6)} million" if abs(a) >= 1e6 else _sig(a)
    elif base == "eflops":
        body = f"{_sig(a)} EFLOP/s"
    elif base == "share":
        body = f"{a * 100:.1f} %" if 0 < abs(a) < 0.01 else f"{a * 100:.0f} %"
    elif base == "pp":
        body = f"{a * 100:.0f} pp"
    elif base == "int":
        body = str(int(round(a)))
    elif base == "number":
        body = _sig(a)
    elif base == "index":
        body = f"{a:.2f}"
    elif base == "flop":
        body = _human(a)
    else:
        raise ValueError(f"unknown format '{fmt}'")
    return _sign(x, body) if signed and fmt != "months+" else body


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
        rows: list[dict] = []
        groups: dict[tuple, dict] = {}
        for f in self.facts.values():
            if f.kind in ("label", "scenario", "sources"):
                continue
            if f.kind in ("run", "paired"):
                p = f.prov
                key = (f.kind, p["variant"], p.get("minus"), p["kpi"], p.get("minus_kpi"), p.get("censor"))
                if key in groups:
                    groups[key]["shown"].append((p["stat"], f))
                    continue
                row = {"name": f.name.rsplit(".", 1)[0], "shown": [(p["stat"], f)], "fact": f, "grouped": True}
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


# ===================================================================================== statistics
def _stat(values: Sequence[float], how: str) -> float:
    v = np.asarray(values, dtype=float)
    if how == "nan_count":
        return float(np.isnan(v).sum())
    if how == "n":
        return float(len(v))
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return math.nan
    if how == "median":
        return float(np.percentile(v, 50))
    if how == "p10":
        return float(np.percentile(v, INTERVAL[0]))
    if how == "p90":
        return float(np.percentile(v, INTERVAL[1]))
    if how == "mean":
        return float(np.mean(v))
    if how == "max":
        return float(np.max(v))
    if how == "min":
        return float(np.min(v))
    raise ValueError(how)


# ===================================================================================== sources
def read_sources(scenario_file: str | Path | None) -> tuple[dict[str, str], str | None]:
    """Source ID -> short title from the SOURCES.md beside (or above) the scenario, else the library's."""
    candidates = []
    if scenario_file is not None:
        p = Path(scenario_file).resolve().parent
        candidates += [d / "SOURCES.md" for d in (p, *p.parents)][:4]
    candidates.append(REPO / "scenarios" / "SOURCES.md")
    for c in candidates:
        if c.is_file():
            out: dict[str, str] = {}
            for line in c.read_text(encoding="utf-8").splitlines():
                cells = [x.strip() for x in line.strip().strip("|").split("|")]
                if len(cells) >= 2 and re.fullmatch(r"[A-Z][A-Za-z0-9-]*", cells[0]) and cells[0] != "ID":
                    title = cells[-1] if cells[0].startswith("ASSUMPTION-") and len(cells) >= 3 else cells[1]
                    out.setdefault(cells[0], title.replace("`", ""))
            return out, _shown(c)
    return {}, None


def _shown(p: str | Path) -> str:
    p = Path(p).resolve()
    for base in (Path.cwd(), REPO):
        with contextlib.suppress(ValueError):
            return str(p.relative_to(base))
    return str(p)


# ===================================================================================== distributions
def iter_distributions(data: Any, path: tuple = ()) -> list[tuple[str, dict]]:
    """(dotted path, distribution mapping) of every non-constant distribution in a scenario dump."""
    out: list[tuple[str, dict]] = []
    if isinstance(data, dict):
        if data.get("dist") and data.get("dist") != "constant":
            return [(".".join(str(p) for p in path), data)]
        for k, v in data.items():
            out += iter_distributions(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += iter_distributions(v, path + (i,))
    return out


def quantile(d: dict, q: float) -> float:
    """The *q* quantile of a distribution mapping (as in the scenario dump)."""
    from scipy import stats

    kind = d["dist"]
    if kind == "constant":
        return float(d["value"])
    if kind == "uniform":
        return d["low"] + q * (d["high"] - d["low"])
    if kind == "triangular":
        w = d["high"] - d["low"]
        return d["low"] if w == 0 else float(stats.triang.ppf(q, (d["mode"] - d["low"]) / w, loc=d["low"], scale=w))
    if kind == "normal":
        if d["sd"] == 0:
            return d["mean"]
        lo = -np.inf if d.get("low") is None else (d["low"] - d["mean"]) / d["sd"]
        hi = np.inf if d.get("high") is None else (d["high"] - d["mean"]) / d["sd"]
        return float(stats.truncnorm.ppf(q, lo, hi, loc=d["mean"], scale=d["sd"]))
    if kind == "lognormal":
        return float(d["median"] * math.exp(d["sigma"] * stats.norm.ppf(q)))
    if kind == "beta":
        if d.get("a") is not None and d.get("b") is not None:
            a, b = d["a"], d["b"]
        else:
            m = (d["mean"] - d["low"]) / (d["high"] - d["low"])
            a, b = m * d["concentration"], (1 - m) * d["concentration"]
        return d["low"] + (d["high"] - d["low"]) * float(stats.beta.ppf(q, a, b))
    if kind == "pert":
        span = d["high"] - d["low"]
        lamb = d.get("lamb") or 4.0
        a = 1 + lamb * (d["mode"] - d["low"]) / span
        b = 1 + lamb * (d["high"] - d["mode"]) / span
        return d["low"] + span * float(stats.beta.ppf(q, a, b))
    raise ValueError(kind)


def describe_distribution(d: Any) -> str:
    """``uniform 0.38 to 0.55``, ``beta mean 0.36, concentration 8 on 0.1 to 0.55``, ``4,992``."""
    if not isinstance(d, dict):
        return _human(float(d)) if isinstance(d, (int, float)) and not isinstance(d, bool) else str(d)
    h = _human
    kind = d.get("dist")
    if kind == "constant":
        return h(d["value"])
    if kind == "uniform":
        return f"uniform {h(d['low'])} to {h(d['high'])}"
    if kind == "triangular":
        return f"triangular {h(d['low'])} / {h(d['mode'])} / {h(d['high'])} (low / mode / high)"
    if kind == "pert":
        return f"PERT {h(d['low'])} / {h(d['mode'])} / {h(d['high'])} (low / mode / high)"
    if kind == "normal":
        t = f"normal mean {h(d['mean'])}, sd {h(d['sd'])}"
        if d.get("low") is not None or d.get("high") is not None:
            lo = h(d["low"]) if d.get("low") is not None else "-inf"
            hi = h(d["high"]) if d.get("high") is not None else "inf"
            t += f", truncated to {lo} to {hi}"
        return t
    if kind == "lognormal":
        return f"lognormal median {h(d['median'])}, sigma {h(d['sigma'])}"
    if kind == "beta":
        if d.get("a") is not None:
            t = f"beta a {h(d['a'])}, b {h(d['b'])}"
        else:
            t = f"beta mean {h(d['mean'])}, concentration {h(d['concentration'])}"
        return t + f" on {h(d['low'])} to {h(d['high'])}"
    if "since" in d:
        return f"{describe_distribution(d.get('value'))} from {d['since']}"
    return "a block"


# ===================================================================================== runs
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


def primary_job(s: Scenario) -> tuple[str | None, str | None]:
    """(lab, job) the briefing is about: the largest training job of the first lab with jobs."""
    for lid, lab in s.labs.items():
        if lab.jobs:
            def size(j):
                return j.flop if j.flop is not None else 6 * (j.params or 0) * (j.tokens or 0)
            job = max(lab.jobs, key=lambda k: size(lab.jobs[k]))
            return lid, job
    return (next(iter(s.labs)) if s.labs else None), None


def _job_key_for(s: Scenario, lab: str | None, job: str | None) -> str | None:
    if lab is None or lab not in s.labs or not s.labs[lab].jobs:
        return None
    if job in s.labs[lab].jobs:
        return job
    return primary_job(s.model_copy(update={"labs": {lab: s.labs[lab]}}))[1]


def _run_variant(v: Variant, seeds: list[int], keep_fleet: bool, tick: Callable[[], None]) -> None:
    from sim.engine.simulation import Simulation

    for i, seed in enumerate(seeds):
        r = Simulation(v.scenario, seed).run()
        v.seeds.append(seed)
        v.run_ids.append(r.run_id)
        v.kpis.append(dict(r.kpis))
        v.jobs.append(r.tables["jobs"])
        if keep_fleet and i == 0:
            v.fleet = r.tables["fleet"]
        tick()


def default_options(scenario_file: str | Path | None, audience: str) -> list[Path]:
    """Option files beside a scenario (lab audience): ``<stem>_only/_rent/_mix/_no_remote.yaml``."""
    if scenario_file is None or audience != "lab":
        return []
    p = Path(scenario_file)
    return [p.with_name(p.stem + suf + p.suffix) for suf in LAB_OPTION_SUFFIXES
            if p.with_name(p.stem + suf + p.suffix).is_file()]


def _swing_candidates(s: Scenario, lab: str | None, job: str | None, chip: str | None) -> list[Swing]:
    """Uncertain inputs ranked by how directly they touch the briefed job (cheap, no runs)."""
    dump = s.model_dump(by_alias=True, mode="json")
    groups: dict[str, list[tuple[str, dict]]] = {}
    for path, d in iter_distributions(dump):
        if not path.startswith(("chips.", "nodes.", "edges.", "rules.", "labs.", "clouds.")):
            continue
        key = re.sub(r"\.\d+\.value$", "", path)
        groups.setdefault(key, []).append((path, d))
    supply_nodes: set[str] = set()
    if chip:
        for nid, node in dump.get("nodes", {}).items():
            if re.search(rf'"{re.escape(chip)}"', json.dumps(node)):
                supply_nodes.add(nid)
                alloc = (node.get("allocation") or {}).get(chip) or {}
                if alloc.get("packager"):
                    supply_nodes.add(alloc["packager"])
    chip_ids = set(dump.get("chips", {}))

    def score(key: str) -> int:
        segs = key.split(".")
        if lab and job and key.startswith(f"labs.{lab}.jobs.{job}."):
            other_chip = [x for x in segs[5:] if x in chip_ids and x != chip]
            return 0 if other_chip else 3
        if chip and chip in segs and segs[0] in ("chips", "nodes"):
            return 2
        if segs[0] == "nodes" and segs[1] in supply_nodes:
            return 1
        if lab and key.startswith(f"labs.{lab}.budget"):
            return 1
        return 0

    ranked = sorted(groups, key=lambda k: -score(k))  # stable: file order within a score
    chosen = [k for k in ranked if score(k) > 0][:MAX_SWINGS] or ranked[:MAX_SWINGS]
    out = []
    from sim.scenario.diff import nearest_source

    for key in chosen:
        members = groups[key]
        src: list[str] = []
        for path, _ in members:
            segs = tuple(int(x) if x.isdigit() else x for x in path.split("."))
            for x in nearest_source(dump, segs):
                if x not in src:
                    src.append(x)
        out.append(Swing(key, [m[0] for m in members], [m[1] for m in members], src,
                         f"swing:{key}:low", f"swing:{key}:high"))
    return out


def _set_quantile(s: Scenario, swing: Swing, q: float) -> Scenario:
    from sim.experiments.sweep import get_path, set_path
    from sim.scenario.loader import scenario_from_dict

    data = s.model_dump(by_alias=True, mode="json")
    for path in swing.members:
        d = get_path(data, path)
        set_path(data, path, {"dist": "constant", "value": quantile(d, q), "source": d.get("source") or []})
    return scenario_from_dict(data, file=f"{s.name} ({swing.path} at q{int(q * 100)})")


def collect(
    target: str | Path | Scenario,
    audience: str = "policy",
    replications: int = 10,
    seed: int | None = None,
    options: Sequence[str | Path] | None = None,
    progress: Progress | None = None,
    scenario_file: str | Path | None = None,
    backtest: bool = True,
) -> BriefingData:
    """Run or read what the briefing needs; see the module docstring.

    *target*: a scenario file (``.yaml``), a :class:`Scenario` (then *scenario_file*, if given, is where
    option files and SOURCES.md are looked for), an ``exportsim compare --json`` file, or a sweep store.
    *options*: option files (default for the lab audience: the scenario's ``_only/_rent/_mix/_no_remote``
    siblings).  Raises :class:`BriefingError` / :class:`ScenarioError` with one line per problem.
    """
    if audience not in AUDIENCES:
        raise BriefingError([f"--audience: must be policy or lab, got '{audience}'"])
    if replications < 1:
        raise BriefingError([f"--replications: must be at least 1, got {replications}"])
    if isinstance(target, Scenario):
        return _collect_scenario(target, str(scenario_file) if scenario_file else None, audience, replications, seed,
                                 options, progress, backtest, shown=target.name)
    p = Path(target)
    if not p.exists():
        raise BriefingError([f"{target}:1: -: no such file or directory"])
    if p.is_dir():
        if not (p / "sweep.json").is_file():
            raise BriefingError([f"{target}:1: -: a directory but not a sweep store (no sweep.json)"])
        return _collect_sweep(p, audience)
    if p.suffix.lower() == ".json":
        return _collect_compare(p, audience)
    if p.suffix.lower() not in (".yaml", ".yml"):
        raise BriefingError([f"{target}:1: -: not a scenario (.yaml), a compare result (.json) or a sweep store"])
    s = load_scenario(p)
    return _collect_scenario(s, str(p), audience, replications, seed, options, progress, backtest, shown=str(target))


def _collect_scenario(s: Scenario, file: str | None, audience: str, replications: int, seed: int | None,
                      options: Sequence[str | Path] | None, progress: Progress | None, backtest: bool,
                      shown: str) -> BriefingData:
    from sim.experiments.compare import without_rules

    first = s.seed if seed is None else int(seed)
    seeds = list(range(first, first + replications))
    lab, job = primary_job(s)
    data = BriefingData("scenario", shown, audience, s, file, replications, first, lab=lab, job=job)
    opt_files = [Path(o) for o in options] if options else default_options(file, audience)
    opt_scenarios = []
    for f in opt_files:
        o = load_scenario(f)
        opt_scenarios.append((f, o))
        data.option_files.append(str(f))
    swing_reps = seeds[:MAX_SWING_REPS]
    done = 0
    planned = 2 * replications + len(opt_scenarios) * replications  # swings and rule variants added later

    def tick(label: str) -> Callable[[], None]:
        def f() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, planned, label)
        return f

    base = Variant("scenario", s.name, "scenario", s, file, job_key=job)
    cf = Variant("counterfactual", "without rules", "counterfactual", without_rules(s), None, job_key=job)
    _run_variant(base, seeds, True, tick("scenario"))
    _run_variant(cf, seeds, True, tick("counterfactual"))
    data.variants = {"scenario": base, "counterfactual": cf}
    for f, o in opt_scenarios:
        key = f"option:{o.name}"
        v = Variant(key, o.name, "option", o, str(f), job_key=_job_key_for(o, lab, job))
        _run_variant(v, seeds, False, tick(o.name))
        data.variants[key] = v
        data.options.append(key)
    rule_variants = []
    if audience == "policy" and s.rules:
        denied = {rid: _stat(base.values(f"denied_units[{rid}]"), "mean") for rid in s.rules}
        top = [r for r, q in sorted(denied.items(), key=lambda kv: -(kv[1] if kv[1] == kv[1] else 0)) if q > 0]
        rule_variants = top[:MAX_RULE_VARIANTS]
    chip = _modal_chip(base)
    swings = _swing_candidates(s, lab, job, chip)
    planned += len(rule_variants) * replications + 2 * len(swings) * len(swing_reps)
    for rid in rule_variants:
        key = f"without:{rid}"
        v = Variant(key, f"without {rid}", "rule_variant", without_rules(s, [rid]), None, job_key=job)
        _run_variant(v, seeds, False, tick(key))
        data.variants[key] = v
        data.options.append(key)
    for sw in swings:
        for q, key in ((INTERVAL[0] / 100, sw.low_key), (INTERVAL[1] / 100, sw.high_key)):
            v = Variant(key, sw.path, "swing", _set_quantile(s, sw, q), None, job_key=job)
            _run_variant(v, swing_reps, False, tick(key))
            data.variants[key] = v
    data.swings = swings
    if backtest and file is not None:
        _collect_backtest(data, Path(file), min(replications, 5))
    else:
        data.backtest_note = "not run for this target"
    return data


def _collect_backtest(data: BriefingData, scenario_file: Path, reps: int) -> None:
    """The library's backtest, when the scenario sits beside ``observed.yaml`` (cheap: a few runs)."""
    observed = scenario_file.resolve().parent / "observed.yaml"
    if not observed.is_file():
        data.backtest_note = "no observed.yaml beside the scenario"
        return
    from sim.experiments.backtest import backtest

    try:
        data.backtest = backtest(observed, replications=reps)
    except Exception as e:  # noqa: BLE001 - a caveat section must not sink the briefing
        data.backtest_note = f"backtest failed: {type(e).__name__}: {e}"


def _modal_chip(v: Variant) -> str | None:
    chips = []
    for jobs in v.jobs:
        if v.job_key is None or jobs.empty:
            continue
        row = jobs[jobs["job"] == v.job_key]
        if len(row) and isinstance(row["chip"].iloc[0], str) and row["chip"].iloc[0]:
            chips.append(row["chip"].iloc[0])
    return Counter(chips).most_common(1)[0][0] if chips else None


def _find_scenario(name: str, near: Path) -> tuple[Scenario | None, str | None]:
    for d in (near.parent, Path.cwd() / "scenarios", REPO / "scenarios"):
        p = d / f"{name}.yaml"
        if p.is_file():
            try:
                return load_scenario(p), str(p)
            except ScenarioError:
                return None, None
    return None, None


def _collect_compare(p: Path, audience: str) -> BriefingData:
    try:
        payload = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BriefingError([f"{p}:1: -: not a readable compare result: {e}"]) from None
    if not isinstance(payload, dict) or not {"base", "counterfactual", "kpis"} <= set(payload) \
            or not isinstance(payload["kpis"], list):
        raise BriefingError([f"{p}:1: -: not an 'exportsim compare --json' result (needs base, counterfactual, kpis)"])
    s, file = _find_scenario(str(payload["base"]), p)
    data = BriefingData("compare", str(p), audience, s, file, int(payload.get("replications") or 0))
    data.compare_payload = payload
    if s is not None:
        data.lab, data.job = primary_job(s)
        data.seed = s.seed
    return data


def _collect_sweep(p: Path, audience: str) -> BriefingData:
    from sim.experiments.analysis import AnalysisError, analyze_store, default_kpi
    from sim.experiments.store import Store, StoreError

    try:
        store = Store(p)
        inputs, outputs = store.frames()
    except (StoreError, OSError, ValueError) as e:
        raise BriefingError([f"{p}:1: -: {e}"]) from None
    kpis = [c for c in outputs.columns if c != "run_id"]
    if not kpis or outputs.empty:
        raise BriefingError([f"{p}:1: -: the sweep store holds no finished run yet"])
    kpi = default_kpi(kpis)
    y = outputs[kpi].to_numpy(dtype=float)
    finite = y[np.isfinite(y)]
    threshold = float(np.percentile(finite, 75)) if len(finite) else None
    report: dict = {}
    notes = []
    try:
        report = analyze_store(store, kpi, "auto", f"> {threshold!r}" if threshold is not None else None)
    except AnalysisError as e:
        notes.append(str(e))
        with contextlib.suppress(AnalysisError):
            report = analyze_store(store, kpi, "auto", None)
    base_file = store.meta.get("base_file")
    s, file = None, None
    for cand in ([Path(base_file), p / base_file, p.parent / base_file,
                  Path(store.meta.get("spec_file") or ".").parent / base_file] if base_file else []):
        if cand.is_file():
            with contextlib.suppress(ScenarioError):
                s, file = load_scenario(cand), str(cand)
                break
    data = BriefingData("sweep", str(p), audience, s, file, int(store.meta["spec"].get("replications") or 1))
    data.sweep = {"store": store, "inputs": inputs, "outputs": outputs, "kpi": kpi, "report": report,
                  "threshold": threshold, "notes": notes}
    if s is not None:
        data.lab, data.job = primary_job(s)
    data.seed = store.meta["spec"].get("seed")
    return data


# ===================================================================================== building
@dataclass
class Chart:
    """A figure, its caption (facts only) and its static size."""

    name: str
    title: str
    figure: Any
    width: int = 900
    height: int = 420


@dataclass
class Briefing:
    """A built briefing: its data, ledger, template context and charts; render with :meth:`render`."""

    data: BriefingData
    ledger: Ledger
    context: dict
    charts: list[Chart]
    _png: dict[str, bytes] | None = None
    _png_error: str | None = None

    @property
    def facts(self) -> dict[str, Fact]:
        """Name -> :class:`Fact`."""
        return self.ledger.facts

    # ---------------------------------------------------------------- provenance check
    def recompute(self, fact: Fact) -> Any:
        """The fact's value recomputed from the runs (or store, comparison, backtest) it names."""
        p, d = fact.prov, self.data
        if fact.kind == "run":
            return _stat(d.variants[p["variant"]].values(p["kpi"], p.get("censor")), p["stat"])
        if fact.kind == "paired":
            a = np.array(d.variants[p["variant"]].values(p["kpi"], p.get("censor")))
            b = np.array(d.variants[p["minus"]].values(p["minus_kpi"], p.get("censor"))[: len(a)])
            return _stat(a - b, p["stat"])
        if fact.kind == "runtext":
            return _modal_chip(d.variants[p["variant"]])
        if fact.kind == "swing":
            hi, lo = self.recompute(self.facts[p["high"]]), self.recompute(self.facts[p["low"]])
            return abs(hi - lo) if math.isfinite(hi) and math.isfinite(lo) else math.nan
        if fact.kind == "compare":
            row = next(r for r in d.compare_payload["kpis"] if r["kpi"] == p["kpi"])
            v = row[p["field"]]
            return math.nan if v is None else v
        if fact.kind == "backtest":
            row = next(r for r in d.backtest if r.observable == p["observable"])
            return getattr(row, p["field"])
        if fact.kind == "sweep" and "stat" in p:
            outputs = d.sweep["outputs"]
            inputs = d.sweep["inputs"]
            if p.get("where"):
                mask = np.ones(len(inputs), bool)
                for col, val in p["where"].items():
                    mask &= inputs[col].astype(str).to_numpy() == str(val)
                return _stat(outputs[p["kpi"]].to_numpy(dtype=float)[mask], p["stat"])
            return _stat(outputs[p["kpi"]].to_numpy(dtype=float), p["stat"])
        return fact.value

    def ledger_json(self) -> dict:
        """The ledger, JSON-ready: ``facts`` (value, text, provenance) and the ``variants`` they name, each with
        its scenario name, seeds and run ids (a run statistic over *n* runs uses the first *n*)."""
        variants = {k: {"label": v.label, "role": v.role, "scenario": v.scenario.name, "file": v.file,
                        "seeds": v.seeds, "run_ids": v.run_ids} for k, v in self.data.variants.items()}
        return {"target": self.data.target, "kind": self.data.kind, "variants": variants,
                "facts": self.ledger.to_json()}

    # ---------------------------------------------------------------- charts
    def static_charts(self) -> tuple[dict[str, bytes], str | None]:
        """PNG bytes per chart, all in one batched kaleido call (cached); ({}, reason) when unavailable."""
        if self._png is None:
            self._png, self._png_error = render_pngs(self.charts)
        return self._png, self._png_error

    # ---------------------------------------------------------------- output
    def render(self, fmt: str, stem: str = "briefing") -> dict[str, bytes]:
        """The document as files, name -> bytes: ``stem.md`` (+ ``stem_files/*.png``), ``stem.html``, ``stem.pdf``."""
        if fmt not in FORMATS:
            raise BriefingError([f"--format: must be html, pdf or md, got '{fmt}'"])
        if fmt == "md":
            pngs, why = self.static_charts()
            files_dir = f"{stem}_files"
            charts = {c.name: {"name": c.name, "title": c.title, "src": f"{files_dir}/{c.name}.png"}
                      for c in self.charts if c.name in pngs}
            text = _template("briefing.md.j2").render(**self.context, charts_by_name=charts,
                                                      charts_missing=self._missing(why), F=_md_fact,
                                                      facts_file=f"{files_dir}/facts.json")
            out = {f"{stem}.md": text.encode()}
            for c in self.charts:
                if c.name in pngs:
                    out[f"{files_dir}/{c.name}.png"] = pngs[c.name]
            out[f"{files_dir}/facts.json"] = json.dumps(self.ledger_json(), indent=1).encode()
            return out
        if fmt == "html":
            return {f"{stem}.html": self.html(static=False).encode()}
        return {f"{stem}.pdf": self.pdf()}

    def markdown(self) -> str:
        """The Markdown text alone (chart links point at ``briefing_files/``)."""
        return self.render("md")["briefing.md"].decode()

    def html(self, static: bool = False) -> str:
        """Self-contained HTML: interactive charts with plotly.js inline, or static PNGs (*static*, for PDF)."""
        charts, why, plotlyjs = [], None, None
        if static:
            pngs, why = self.static_charts()
            for c in self.charts:
                if c.name in pngs:
                    charts.append({"name": c.name, "title": c.title,
                                   "img": "data:image/png;base64," + base64.b64encode(pngs[c.name]).decode()})
        else:
            import plotly.io as pio
            from plotly.offline import get_plotlyjs

            plotlyjs = get_plotlyjs()
            for c in self.charts:
                div = pio.to_html(c.figure, full_html=False, include_plotlyjs=False, div_id=f"chart-{c.name}",
                                  config={"displaylogo": False, "responsive": True})
                charts.append({"name": c.name, "title": c.title, "div": div})
        from markupsafe import Markup

        missing = self._missing(why)
        facts_json = json.dumps(self.ledger_json()).replace("</", "<\\/")
        by_name = {c["name"]: dict(c, div=Markup(c["div"])) if "div" in c else c for c in charts}
        return _template("briefing.html.j2").render(
            **self.context, charts_by_name=by_name, charts_missing=missing, static=static,
            plotlyjs=Markup(plotlyjs) if plotlyjs else None, facts_json=Markup(facts_json), F=_html_fact)

    def _missing(self, why: str | None) -> Fact | None:
        if not why:
            return None
        return self.ledger.text("charts.missing", why, "setting", what="why the static charts are missing")

    def pdf(self) -> bytes:
        """PDF through weasyprint from the static HTML (charts as PNG; a note instead when unavailable)."""
        try:
            import weasyprint
        except (ImportError, OSError) as e:
            raise BriefingError([f"--format pdf: needs weasyprint ({type(e).__name__}: {e}); "
                                 "pip install weasyprint, or use --format html"]) from None
        import logging

        logging.getLogger("weasyprint").setLevel(logging.ERROR)
        logging.getLogger("fontTools").setLevel(logging.ERROR)
        return weasyprint.HTML(string=self.html(static=True), base_url=str(REPO)).write_pdf()


def _md_fact(f: Fact | str) -> str:
    return f.text if isinstance(f, Fact) else str(f)


def _html_fact(f: Fact | str):
    from markupsafe import Markup, escape

    if not isinstance(f, Fact):
        return escape(str(f))
    if f.kind == "label":  # dotted paths and ids: let the browser break long ones after . _ /
        return Markup('<span data-fact="{}">{}</span>').format(f.name, Markup("\u200b").join(
            escape(x) for x in re.split(r"(?<=[._/])", f.text)))
    if f.kind in ("scenario", "sources", "setting") and f.fmt == "text":
        return Markup('<span data-fact="{}">{}</span>').format(f.name, f.text)
    return Markup('<span class="fact" data-fact="{}" title="{}">{}</span>').format(f.name, f.describe(), f.text)


_ENV = None


def _template(name: str):
    global _ENV
    if _ENV is None:
        from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

        _ENV = Environment(loader=PackageLoader("sim", "templates/briefing"),
                           autoescape=select_autoescape(enabled_extensions=("html", "html.j2"),
                                                        default_for_string=False),
                           undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                           keep_trailing_newline=True)
    return _ENV.get_template(name)


def render_pngs(charts: list[Chart]) -> tuple[dict[str, bytes], str | None]:
    """Every chart as PNG in one batched kaleido call; ({}, one-line reason) when that cannot work."""
    if not charts:
        return {}, None
    if os.environ.get("EXPORTSIM_NO_STATIC_CHARTS"):
        return {}, "static charts are switched off (EXPORTSIM_NO_STATIC_CHARTS)"
    try:
        import plotly.io as pio

        with tempfile.TemporaryDirectory(prefix="exportsim-charts-") as tmp:
            paths = [Path(tmp) / f"{c.name}.png" for c in charts]
            pio.write_images([c.figure for c in charts], paths, width=[c.width for c in charts],
                             height=[c.height for c in charts], scale=2)
            return {c.name: p.read_bytes() for c, p in zip(charts, paths, strict=True)}, None
    except Exception as e:  # noqa: BLE001 - no browser, no kaleido, a kaleido bug: charts are optional
        msg = " ".join(str(e).split()).split(". ")[0].rstrip(".")
        return {}, f"static charts unavailable ({type(e).__name__}: {msg[:160]})"


def _code_version() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=5)
        if rev.returncode != 0:
            return __version__
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return f"{__version__} (git {rev.stdout.strip()}{', with uncommitted changes' if dirty else ''})"
    except (OSError, subprocess.SubprocessError):
        return __version__


def scenario_hash(s: Scenario) -> str:
    """First 16 hex digits of the SHA-256 of the validated scenario's canonical JSON."""
    canon = json.dumps(s.model_dump(by_alias=True, mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def build(data: BriefingData, command: str | None = None) -> Briefing:
    """Facts, template context and charts for *data*."""
    from sim.reports.briefing_sections import build_compare, build_scenario, build_sweep

    s = data.scenario
    ctx = {"start": s.start if s else dt.date(2000, 1, 1), "horizon_days": s.horizon_days if s else math.inf}
    ledger = Ledger(ctx)
    builder = {"scenario": build_scenario, "compare": build_compare, "sweep": build_sweep}[data.kind]
    context, charts = builder(data, ledger)
    L = ledger
    repro = {
        "command": L.text("repro.command", command or _default_command(data), "setting", what="the command line"),
        "version": L.text("repro.version", _code_version(), "setting", what="sim.__version__ and git HEAD"),
        "hash": L.text("repro.hash", scenario_hash(s), "setting", what="sha256 of the scenario as canonical JSON")
        if s is not None else None,
    }
    repro.update(seeds=None, runs=None)
    if data.kind == "scenario":
        seeds = sorted({s for v in data.variants.values() for s in v.seeds})
        repro["seeds"] = [L.add("repro.seed_first", seeds[0], "int", "setting", what="first seed"),
                          L.add("repro.seed_last", seeds[-1], "int", "setting", what="last seed")] if seeds else None
        repro["runs"] = L.add("repro.runs", sum(len(v.kpis) for v in data.variants.values()), "int", "setting",
                              what="simulation runs behind this briefing") if data.variants else None
    context.update(repro=repro, audience=data.audience, kind=data.kind)
    context["ledger"] = ledger
    return Briefing(data, ledger, context, charts)


def _default_command(data: BriefingData) -> str:
    parts = ["exportsim", "brief", data.target, "--audience", data.audience]
    if data.kind == "scenario":
        parts += ["--replications", str(data.replications), "--seed", str(data.seed)]
        for f in data.option_files:
            parts += ["--option", _shown(f)]
    return " ".join(parts)


# ===================================================================================== one call
def brief(
    target: str | Path | Scenario,
    fmt: str = "html",
    audience: str = "policy",
    replications: int = 10,
    seed: int | None = None,
    out: str | Path | None = None,
    options: Sequence[str | Path] | None = None,
    progress: Progress | None = None,
    scenario_file: str | Path | None = None,
) -> dict[Path, bytes] | Briefing:
    """Build a briefing and write it: returns {path written: bytes}; with *out* None, the :class:`Briefing`."""
    if fmt not in FORMATS:
        raise BriefingError([f"--format: must be html, pdf or md, got '{fmt}'"])
    data = collect(target, audience, replications, seed, options, progress, scenario_file)
    cmd = _default_command(data) + f" --format {fmt}" + (f" --out {out}" if out is not None else "")
    b = build(data, cmd)
    if out is None:
        return b
    out = Path(out)
    files = b.render(fmt, out.stem)
    return dict(zip(write(files, out, fmt), files.values(), strict=True))


def write(files: dict[str, bytes], out: Path, fmt: str) -> list[Path]:
    """Write :meth:`Briefing.render` output: the document at *out*, companions (charts, ledger) beside it."""
    out = Path(out)
    written = []
    for name, blob in files.items():
        p = out if name == f"{out.stem}.{fmt}" else out.parent / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(blob)
        written.append(p)
    return written
