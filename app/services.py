"""The dashboard's only bridge to ``sim``: load, validate, run, compare and draw, cached.

Pages never import ``sim``; they call these functions with plain data (scenario dicts, canonical JSON
strings, seeds) and get back RunResults, frames and plotly figures.  Runs are cached with
``st.cache_data`` keyed on the scenario's canonical JSON + seed (+ replications), which works whatever
Streamlit's ability to hash pydantic models.  Nothing here re-implements model logic: KPIs, rule removal,
blocked edges and chokepoints all come from ``sim``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st
import yaml

import sim
from sim import compare as sim_compare
from sim import network as sim_network
from sim import plots  # noqa: F401  (re-exported: pages draw with services.plots.*)
from sim.loader import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_DIR = ROOT / "scenarios"
#: The scenario the app opens with (``EXPORTSIM_SCENARIO`` overrides; tests point it at tests/data).
DEFAULT_SCENARIO = os.environ.get("EXPORTSIM_SCENARIO", str(SCENARIO_DIR / "bytedance_ascend.yaml"))
UPLOAD_LIMIT_BYTES = 1_000_000  # 1 MB: scenario files are a few kB


@dataclass(frozen=True)
class Loaded:
    """A scenario read from a file or an upload: its dumped dict, or the problems found (one line each)."""

    name: str
    data: dict | None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the scenario is valid."""
        return self.data is not None


# -------------------------------------------------------------------------------------- scenarios

def scenario_files() -> list[str]:
    """Scenario files offered by the picker: the default first, then scenarios/*.yaml (not fragments)."""
    files = [str(p) for p in sorted(SCENARIO_DIR.glob("*.yaml")) if not p.name.startswith((".", "_"))]
    default = str(Path(DEFAULT_SCENARIO))
    return [default] + [f for f in files if f != default]


def short_name(path: str) -> str:
    """The picker label of a file: relative to the repository when inside it."""
    p = Path(path).resolve()
    for base in (SCENARIO_DIR, ROOT):
        if p.is_relative_to(base):
            return str(p.relative_to(base))
    return p.name


def _dump(s: sim.Scenario) -> dict:
    return s.model_dump(by_alias=True, mode="json")


@st.cache_data(show_spinner=False, max_entries=64)
def _load_file_cached(path: str, mtime: float) -> Loaded:
    try:
        return Loaded(short_name(path), _dump(sim.load_scenario(path)))
    except ScenarioError as e:
        return Loaded(short_name(path), None, tuple(str(p) for p in e.problems))


def load_file(path: str) -> Loaded:
    """Load and validate a scenario file (cached until the file changes)."""
    try:
        mtime = Path(path).stat().st_mtime
    except OSError:
        mtime = 0.0
    return _load_file_cached(str(path), mtime)


def load_upload(filename: str, content: bytes) -> Loaded:
    """Validate an uploaded scenario with the CLI's one-line errors; ``include:`` resolves against scenarios/."""
    if len(content) > UPLOAD_LIMIT_BYTES:
        return Loaded(filename, None, (f"{filename}:1: -: file is {len(content):,} bytes; the limit is "
                                       f"{UPLOAD_LIMIT_BYTES:,}",))
    # Written beside the library so `include: [_catalog/...]` and `extends:` work as for a local file.
    with tempfile.NamedTemporaryFile(dir=SCENARIO_DIR, prefix=".upload-", suffix=".yaml") as tmp:
        tmp.write(content)
        tmp.flush()
        try:
            scenario = sim.load_scenario(tmp.name)
        except ScenarioError as e:
            shown = Path(tmp.name).name
            lines = tuple(str(p).replace(short_name(tmp.name), filename).replace(shown, filename) for p in e.problems)
            return Loaded(filename, None, lines)
    return Loaded(filename, _dump(scenario))


def validate(data: dict, name: str = "edited scenario") -> tuple[str | None, list[str]]:
    """Re-validate an edited dict: (canonical JSON, []) or (None, one line per problem)."""
    try:
        scenario = sim.scenario_from_dict(json.loads(json.dumps(data)), file=name)
    except ScenarioError as e:
        return None, [str(p) for p in e.problems]
    return canonical_json(_dump(scenario)), []


def canonical_json(data: dict) -> str:
    """The cache key of a scenario: its dumped dict as sorted, compact JSON."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _scenario(scenario_json: str) -> sim.Scenario:
    return sim.scenario_from_dict(json.loads(scenario_json))


def to_yaml(data: dict) -> str:
    """The scenario as a self-contained YAML file (catalogue merged in; defaults left out where that round-trips)."""
    scenario = sim.scenario_from_dict(json.loads(json.dumps(data)))
    slim = scenario.model_dump(by_alias=True, mode="json", exclude_defaults=True)
    try:
        if _dump(sim.scenario_from_dict(json.loads(json.dumps(slim)))) != _dump(scenario):
            slim = _dump(scenario)
    except ScenarioError:
        slim = _dump(scenario)
    return yaml.safe_dump(slim, sort_keys=False, allow_unicode=True, width=110)


# ------------------------------------------------------------------------------------------- runs

@st.cache_data(show_spinner=False, max_entries=32)
def run(scenario_json: str, seed: int) -> sim.RunResult:
    """One run of the scenario (cached on its canonical JSON and the seed)."""
    return sim.Simulation(_scenario(scenario_json), seed=int(seed)).run()


@st.cache_data(show_spinner=False, max_entries=32)
def run_without_rules(scenario_json: str, seed: int) -> sim.RunResult:
    """The same run in a world without any rule (same seed: common random numbers)."""
    return sim.Simulation(sim_compare.without_rules(_scenario(scenario_json)), seed=int(seed)).run()


def counterfactual_json(scenario_json: str, without: list[str] | None) -> str:
    """The scenario without the named rules (all of them when *without* is None), as canonical JSON."""
    return canonical_json(_dump(sim_compare.without_rules(_scenario(scenario_json), without)))


@st.cache_data(show_spinner=False, max_entries=512)
def kpis(scenario_json: str, seed: int) -> dict[str, float]:
    """The KPIs of one run (cached apart from the tables: compare needs only these)."""
    return sim.Simulation(_scenario(scenario_json), seed=int(seed)).run().kpis


def compare(base_json: str, counterfactual_json: str, replications: int, seed: int,
            progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Paired KPI differences (scenario − counterfactual) over seeds *seed* .. *seed* + R − 1.

    The same pairing as ``sim.compare.compare`` (replication r of both runs uses seed + r: common random
    numbers) and its own ``summarise``; each run is cached, so a larger R reuses the earlier ones.
    """
    base_k, cf_k = [], []
    for r in range(int(replications)):
        base_k.append(kpis(base_json, int(seed) + r))
        cf_k.append(kpis(counterfactual_json, int(seed) + r))
        if progress is not None:
            progress(r + 1, int(replications))
    return pd.DataFrame([dataclasses.asdict(row) for row in sim_compare.summarise(base_k, cf_k)])


def scenario_meta(scenario_json: str) -> dict:
    """Name, question, dates, seed, rules, labs and jobs of a scenario, for page headers and pickers."""
    s = _scenario(scenario_json)
    return {
        "name": s.name, "question": s.question, "description": s.description, "start": s.start, "end": s.end,
        "seed": s.seed, "horizon_days": s.horizon_days, "rules": {rid: r.name or rid for rid, r in s.rules.items()},
        "labs": list(s.labs), "jobs": [f"{lid}/{jid}" for lid, lab in s.labs.items() for jid in lab.jobs],
    }


# ------------------------------------------------------------------------------------- KPI reading

def _nan(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def job_summary(result: sim.RunResult, counterfactual: sim.RunResult | None = None) -> list[dict]:
    """Per job: finish date, delay vs deadline and vs the counterfactual, cost per PFLOP (from the KPIs)."""
    out = []
    for key in sorted(k[len("job_finish_day["):-1] for k in result.kpis if k.startswith("job_finish_day[")):
        finish = result.kpis.get(f"job_finish_day[{key}]")
        cf = counterfactual.kpis.get(f"job_finish_day[{key}]") if counterfactual is not None else None
        out.append({
            "job": key,
            "finished": bool(result.kpis.get(f"job_finished[{key}]", 0.0)),
            "finish_date": None if _nan(finish) else result.date_of(finish),
            "delay_vs_deadline_days": result.kpis.get(f"job_delay_vs_deadline_days[{key}]"),
            "delay_vs_counterfactual_days": None if _nan(finish) or _nan(cf) else finish - cf,
            "cost_per_pflop_usd": result.kpis.get(f"job_cost_per_pflop_usd[{key}]"),
            "cost_usd": result.kpis.get(f"job_cost_usd[{key}]"),
            "rented_share": result.kpis.get(f"job_rented_share[{key}]"),
            "failures": result.kpis.get(f"job_failures[{key}]"),
        })
    return out


def compute_by_origin(result: sim.RunResult, lab: str) -> dict[str, float]:
    """The lab's installed peak PFLOP/s on the last day, by chip origin country."""
    fleet = result.tables["fleet"]
    if fleet.empty:
        return {}
    last = fleet[(fleet["day"] == fleet["day"].max()) & (fleet["owner"] == lab)]
    return {k: float(v) for k, v in last.groupby("origin")["peak_pflops"].sum().sort_values(ascending=False).items()}


def kpi_value(result: sim.RunResult, name: str) -> float | None:
    """One KPI (None when the run has no such KPI)."""
    v = result.kpis.get(name)
    return None if _nan(v) else v


def kpi_frame(result: sim.RunResult) -> pd.DataFrame:
    """Every KPI of a run as a two-column frame."""
    return pd.DataFrame({"kpi": list(result.kpis), "value": list(result.kpis.values())})


def table_bytes(df: pd.DataFrame, fmt: str) -> bytes:
    """A table as CSV or Parquet bytes for a download button."""
    if fmt == "csv":
        return df.to_csv(index=False).encode()
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------- network

@st.cache_data(show_spinner=False, max_entries=64)
def network(scenario_json: str, on: dt.date) -> dict:
    """Nodes, edges (with ``blocked`` on *on*), chokepoints per lab and summary counts, as frames."""
    s = _scenario(scenario_json)
    g = sim_network.build_graph(s)
    summary = sim_network.summary(s)
    blocked = set(sim_network.blocked_edges(s, on))
    nodes = pd.DataFrame([{"id": n, "kind": d["kind"], "country": d["country"], "name": d["name"]}
                          for n, d in g.nodes(data=True)])
    edges = pd.DataFrame([{"id": eid, "from": e.from_, "to": e.to, "flow": e.flow, "channel": e.channel,
                           "blocked": eid in blocked} for eid, e in s.edges.items()],
                         columns=["id", "from", "to", "flow", "channel", "blocked"])
    kinds = dict(zip(nodes["id"], nodes["kind"], strict=True)) if len(nodes) else {}
    choke = pd.DataFrame([{"lab": lab, "node": n, "kind": kinds.get(n, "?"),
                           "betweenness": summary["betweenness"].get(n, 0.0)}
                          for lab, cut in summary["chokepoints"].items() for n in cut],
                         columns=["lab", "node", "kind", "betweenness"])
    choke = choke.sort_values(["lab", "betweenness"], ascending=[True, False]).reset_index(drop=True)
    rules_in_force = [rid for rid, r in s.rules.items()
                      if r.effective <= on and (r.rescinded is None or on < r.rescinded)]
    return {"nodes": nodes, "edges": edges, "chokepoints": choke, "issues": summary["issues"],
            "rules_in_force": rules_in_force, "start": s.start, "end": s.end}


def store_available() -> bool:
    """Whether the sweep store (sim.store) exists yet; the sweep page waits for it."""
    import importlib.util

    return importlib.util.find_spec("sim.store") is not None
