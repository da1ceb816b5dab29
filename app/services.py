"""The dashboard's only bridge to ``sim``: load, validate, run, compare and draw, cached.

Pages never import ``sim``; they call these functions with plain data (scenario dicts, canonical JSON
strings, seeds) and get back RunResults, frames and plotly figures.  Runs are cached with
``st.cache_data`` keyed on the scenario's canonical JSON + seed (+ replications), which works whatever
Streamlit's ability to hash pydantic models.  Nothing here re-implements model logic: KPIs, rule removal,
blocked edges and chokepoints all come from ``sim``.
"""

from __future__ import annotations

import contextlib
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
from sim.engine import compliance as sim_compliance
from sim.experiments import compare as sim_compare
from sim.reports import plots  # noqa: F401  (re-exported: pages draw with services.plots.*)
from sim.scenario import network as sim_network
from sim.scenario.loader import ScenarioError

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

@st.cache_data(show_spinner=False, max_entries=256)
def _is_scenario_file(path: str, mtime: float) -> bool:
    """Whether a library file is a scenario (a top-level ``question``), not published observables or a fragment."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return True  # let the picker show it and the page list its problems
    return not (isinstance(data, dict) and "observables" in data and "question" not in data)


def scenario_files() -> list[str]:
    """Scenario files offered by the picker: the default first, then scenarios/*.yaml (not fragments, not the
    published observables that ``exportsim backtest`` reads)."""
    files = [str(p) for p in sorted(SCENARIO_DIR.glob("*.yaml")) if not p.name.startswith((".", "_"))
             and _is_scenario_file(str(p), p.stat().st_mtime)]
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
    """Validate an uploaded scenario with the CLI's one-line errors; ``extends:``/``include:`` resolve only inside
    scenarios/ (a reference elsewhere on disk is a problem, and that file is never read)."""
    if len(content) > UPLOAD_LIMIT_BYTES:
        return Loaded(filename, None, (f"{filename}:1: -: file is {len(content):,} bytes; the limit is "
                                       f"{UPLOAD_LIMIT_BYTES:,}",))
    # Written beside the library so `include: [_catalog/...]` and `extends:` work as for a local file.
    try:
        tmp = tempfile.NamedTemporaryFile(dir=SCENARIO_DIR, prefix=".upload-", suffix=".yaml")  # noqa: SIM115 - entered just below
    except OSError as e:
        return Loaded(filename, None, (f"{filename}:1: -: cannot be checked here: the scenario library "
                                       f"is not writable ({e.strerror or e})",))
    with tmp:
        tmp.write(content)
        tmp.flush()
        try:
            scenario = sim.load_scenario(tmp.name, within=SCENARIO_DIR)  # extends/include: the library only
        except ScenarioError as e:
            temp_name = Path(tmp.name).name
            lines = tuple(
                str(dataclasses.replace(p, file=filename) if Path(p.file).name == temp_name else p)
                for p in e.problems
            )
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
def run(scenario_json: str, seed: int, run_id: str | None = None) -> sim.RunResult:
    """One run of the scenario (cached on its canonical JSON, the seed and the run id; None: the engine's
    ``name:seed``)."""
    return sim.Simulation(_scenario(scenario_json), seed=int(seed), run_id=run_id).run()


def is_edited(scenario_json: str, file_data: dict | None) -> bool:
    """Whether the scenario differs from its file as loaded (levers moved or YAML changed)."""
    return file_data is None or canonical_json(file_data) != scenario_json


def run_id_for(scenario_json: str, file_data: dict | None, seed: int) -> str | None:
    """The run id of the open scenario: None (the engine's ``name:seed``) for the file as written; for an edited
    scenario ``name@<hash>:seed``, the hash being the SHA-256 of the canonical scenario
    (``sim.scenario.canonical.scenario_hash``, which the briefing prints too), so two different edits never share
    an id and the same edit always gets the same one."""
    if not is_edited(scenario_json, file_data):
        return None
    from sim.scenario.canonical import scenario_hash

    s = _scenario(scenario_json)
    return f"{s.name}@{scenario_hash(s)}:{int(seed)}"


@st.cache_data(show_spinner=False, max_entries=32)
def run_without_rules(scenario_json: str, seed: int) -> sim.RunResult:
    """The same run in a world without any rule (same seed: common random numbers)."""
    return sim.Simulation(sim_compare.without_rules(_scenario(scenario_json)), seed=int(seed)).run()


def counterfactual_json(scenario_json: str, without: list[str] | None) -> str:
    """The scenario without the named rules (all of them when *without* is None), as canonical JSON; the rules'
    references to the removed ones go with them (sim.experiments.compare.without_rules)."""
    return canonical_json(_dump(sim_compare.without_rules(_scenario(scenario_json), without)))


def counterfactual(scenario_json: str, without: list[str] | None) -> tuple[str | None, str | None]:
    """(:func:`counterfactual_json`, None), or (None, one line saying why it cannot be built)."""
    try:
        return counterfactual_json(scenario_json, without), None
    except ScenarioError as e:
        return None, "; ".join(str(p) for p in e.problems[:3])
    except (KeyError, ValueError) as e:
        return None, _one_line_error(e)


def date_text(start: dt.date, day: float | None) -> str:
    """A day number (days from *start*) as an ISO date; an em dash when missing."""
    from sim.units import day_to_date

    return "—" if _nan(day) else str(day_to_date(start, float(day)))


def days_text(x: float | None) -> str:
    """A difference in days, signed and rounded (``+2 d``, ``0 d``, never ``-0``)."""
    if _nan(x):
        return "—"
    v = round(float(x))  # type: ignore[arg-type]
    return "0 d" if v == 0 else f"{v:+,.0f} d"


def is_day_kpi(kpi: str) -> bool:
    """Whether a KPI is a day (shown as a date)."""
    return _is_day(kpi)


def _is_day(kpi: str) -> bool:
    base = kpi.split("[", 1)[0]
    return base.endswith("_day") or base.startswith("first_day_")


def compare_display(table: pd.DataFrame, start: dt.date) -> pd.DataFrame:
    """The Compare table as people read it: day KPIs as dates (levels) and days (differences), other KPIs with
    3 significant figures; R last."""
    from sim.reports.formatting import sig
    from sim.results import kpi_catalog

    def num(x: float) -> str:
        return "—" if _nan(x) else sig(float(x), 3)

    def date(x: float) -> str:
        return "—" if _nan(x) else (start + dt.timedelta(days=float(x))).isoformat()

    def days(x: float) -> str:
        return days_text(x)

    rows = []
    for r in table.to_dict("records"):
        if int(r["n_pairs"]) == 0 and _nan(r["base_mean"]) and _nan(r["counterfactual_mean"]):
            continue  # no value in either world (a threshold never reached): nothing to read
        lvl, dif = (date, days) if _is_day(r["kpi"]) else (num, num)
        rows.append({"KPI": r["kpi"], "unit": kpi_catalog.unit(r["kpi"]), "scenario": lvl(r["base_mean"]),
                     "counterfactual": lvl(r["counterfactual_mean"]),
                     "difference (mean)": dif(r["diff_mean"]),
                     "95 % CI": "—" if _nan(r["diff_ci_low"])
                     else f"{dif(r['diff_ci_low'])} to {dif(r['diff_ci_high'])}",
                     "10–90 % of pairs": "—" if _nan(r["diff_p10"])
                     else f"{dif(r['diff_p10'])} to {dif(r['diff_p90'])}",
                     "R": int(r["n_pairs"])})
    return pd.DataFrame(rows)


@st.cache_data(show_spinner=False, max_entries=512)
def kpis(scenario_json: str, seed: int) -> dict[str, float]:
    """The KPIs of one run (cached apart from the tables: compare needs only these)."""
    return sim.Simulation(_scenario(scenario_json), seed=int(seed)).run().kpis


def compare(base_json: str, counterfactual_json: str, replications: int, seed: int,
            progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Paired KPI differences (scenario − counterfactual) over seeds *seed* .. *seed* + R − 1.

    The same pairing as ``sim.experiments.compare.compare`` (replication r of both runs uses seed + r: common random
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
        # pickers offer the labs with a training job first (the question is about them)
        "lab_order": [lid for lid, lab in s.labs.items() if lab.jobs] + [lid for lid, lab in s.labs.items()
                                                                         if not lab.jobs],
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
    """Every KPI of a run: name, value (day KPIs as dates), unit and definition (sim.results.kpi_catalog)."""
    from sim.results import kpi_catalog
    from sim.units import day_to_date

    rows = []
    for k, v in result.kpis.items():
        d = kpi_catalog.lookup(k)
        if _is_day(k):
            shown = "—" if _nan(v) else str(day_to_date(result.start, float(v)))
        else:
            shown = "—" if _nan(v) else f"{float(v):,.4g}"
        rows.append({"kpi": k, "value": shown, "unit": d.unit if d else "",
                     "definition": d.definition if d else ""})
    return pd.DataFrame(rows, columns=["kpi", "value", "unit", "definition"])


def kpi_help(kpi: str) -> str:
    """The KPI's unit and definition for a tooltip (sim.results.kpi_catalog)."""
    from sim.results import kpi_catalog

    return kpi_catalog.help_text(kpi)


def kpi_definitions() -> pd.DataFrame:
    """Every catalogued KPI: name, label, unit, definition."""
    from sim.results import kpi_catalog

    return pd.DataFrame(kpi_catalog.frame_rows())


def kpi_sum(result: sim.RunResult, base: str) -> float:
    """The sum of a keyed KPI over its keys (``denied_units[*]``); 0 when the run has none."""
    return float(sum(v for k, v in result.kpis.items() if k.split("[", 1)[0] == base and not _nan(v)))


def _day_column(name: str) -> bool:
    return name == "day" or name.endswith("_day")


def dated(frame: pd.DataFrame, start: dt.date) -> pd.DataFrame:
    """A table as people read it: every day column (``day``, ``ship_day``, ``finish_day``...) as a date
    (sim.units.day_to_date; missing stays missing); other columns unchanged."""
    from sim.units import day_to_date

    out = frame.copy()
    for col in [c for c in out.columns if _day_column(str(c))]:
        out[col] = [None if _nan(v) or v is None else day_to_date(start, float(v)) for v in out[col]]
    return out


def what_binds(scenario_json: str, seed: int, lab: str, run_id: str | None = None) -> list[str]:
    """What limits the run, in sentences (sim.experiments.binding.explain_run)."""
    from sim.experiments import binding

    return binding.explain_run(run(scenario_json, seed, run_id), _scenario(scenario_json), lab)


def no_effect(file_json: str, scenario_json: str, seed: int, lab: str, changed: list[tuple[str, str]],
              run_id: str | None = None) -> list[str]:
    """For changed levers ``(label, dotted path)`` that leave the main job's finish where the file has it: one
    sentence each saying which constraint binds (sim.experiments.binding.explain_no_effect); [] otherwise."""
    from sim.experiments import binding

    if not changed or file_json == scenario_json:
        return []
    return binding.explain_no_effect(run(file_json, seed), run(scenario_json, seed, run_id), _scenario(scenario_json),
                                     lab, changed)


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
    # the rules' verdict on each edge (compliance), less the edges outside their jurisdiction (domestic components)
    blocked = set(sim_compliance.blocked_edges(s, on))  # domestic component flows are outside the rules there too
    nodes = pd.DataFrame([{"id": n, "kind": d["kind"], "country": d["country"], "name": d["name"]}
                          for n, d in g.nodes(data=True)])
    edges = pd.DataFrame([{"id": eid, "from": e.from_, "to": e.to, "flow": e.flow, "channel": e.channel,
                           "blocked": eid in blocked, "domestic": sim_network.outside_jurisdiction(s, eid)}
                          for eid, e in s.edges.items()],
                         columns=["id", "from", "to", "flow", "channel", "blocked", "domestic"])
    kinds = dict(zip(nodes["id"], nodes["kind"], strict=True)) if len(nodes) else {}
    choke = pd.DataFrame([{"lab": lab, "node": n, "kind": kinds.get(n, "?"),
                           "betweenness": summary["betweenness"].get(n, 0.0)}
                          for lab, cut in summary["chokepoints"].items() for n in cut],
                         columns=["lab", "node", "kind", "betweenness"])
    choke = choke.sort_values(["lab", "betweenness"], ascending=[True, False]).reset_index(drop=True)
    comp = sim_compliance.Compliance(s)  # in force from effective + grace days until rescinded, as the engine has it
    rules_in_force = [rid for rid in s.rules if comp.rule_in_force(rid, s.day_of(on))]
    return {"nodes": nodes, "edges": edges, "chokepoints": choke, "issues": summary["issues"],
            "rules_in_force": rules_in_force, "start": s.start, "end": s.end}


def network_figure(nodes: pd.DataFrame, edges: pd.DataFrame, title: str):
    """``sim.reports.plots.network_figure`` with its node labels readable: each label on a white box just above its
    node, drawn over the edges instead of under them (a presentation change only; positions are the plot's)."""
    fig = plots.network_figure(nodes, edges, title)
    for trace in fig.data:
        if getattr(trace, "mode", None) == "markers+text" and trace.text is not None:
            for x, y, text in zip(trace.x, trace.y, trace.text, strict=True):
                fig.add_annotation(x=x, y=y, text=str(text), showarrow=False, yshift=17, font={"size": 11},
                                   bgcolor="rgba(255,255,255,0.88)", borderpad=1)
            trace.mode = "markers"
    return fig


@st.cache_data(show_spinner=False, max_entries=8)
def chokepoints(scenario_json: str, lab: str, replications: int, since: dt.date,
                _progress: Callable[[int, int], None] | None = None) -> dict:
    """Simulated knock-outs of every node and channel for *lab* (sim.experiments.chokepoints): data and a frame,
    ``no_impact`` (a sentence when nothing moves the KPI, with what binds in the base run, else None) and
    ``spearman_text`` (rho, or why it is undefined).  *_progress(done, total)* is called as runs finish (not part
    of the cache key: a cached ranking returns at once)."""
    from sim.experiments import binding
    from sim.experiments import chokepoints as sim_chokepoints

    s = _scenario(scenario_json)
    try:
        report = sim_chokepoints.rank(s, lab=lab, since=since, replications=replications, executor="serial",
                                      progress=_progress)
    except ValueError as e:  # ChokepointError: a bad date, lab or KPI, as one line
        return {"error": str(e)}
    why = None
    if sim_chokepoints.no_impact(report) is not None:
        js = binding.job_start(run(scenario_json, s.seed), s, lab)
        why = binding.job_sentence(s, js).rstrip(".") if js is not None else None
    return {"frame": report.frame(), "kpi": report.kpi, "spearman": report.spearman,
            "spearman_text": sim_chokepoints.spearman_text(report), "no_impact": sim_chokepoints.no_impact(report, why),
            "disagreements": list(report.disagreements), "notes": list(report.notes)}


# --------------------------------------------------------------------------------------- briefing

@dataclass(frozen=True)
class BriefingFiles:
    """A briefing ready to download: the answer (Markdown), and each format as (file name, bytes, MIME type)."""

    answer: str
    files: dict[str, tuple[str, bytes, str]]
    problems: dict[str, str]  # format -> why it is missing (e.g. no weasyprint for the PDF)
    charts_note: str | None = None


_BRIEFINGS: dict[tuple, BriefingFiles] = {}  # the last few built (st.cache_data cannot replay a progress bar)


def briefing(scenario_json: str, seed: int, replications: int, audience: str, source: str | None,
             progress: Callable[[int, int, str], None] | None = None, edited: bool = False) -> BriefingFiles:
    """The briefing of the open scenario (``sim.reports.briefing``, as ``exportsim brief`` writes it) in md/html/pdf.

    *source* is the scenario's file when it came from one: the lab audience compares the option files beside
    it (``<name>_only/_rent/_mix/_rent_no_remote.yaml``).  The Markdown comes as a zip with its PNG charts and ledger.
    *edited*: the scenario differs from its file; the document's reproduce line then names the saved edit
    (:func:`edited_file_name`, which the page offers for download), so it runs as printed.
    The last few briefings are kept in memory, keyed on all the arguments but *progress*.
    """
    key = (scenario_json, int(seed), int(replications), audience, source, bool(edited))
    if key not in _BRIEFINGS:
        built = _build_briefing(*key[:5], progress=progress, edited=bool(edited))
        while len(_BRIEFINGS) >= 4:
            _BRIEFINGS.pop(next(iter(_BRIEFINGS)))
        _BRIEFINGS[key] = built
    return _BRIEFINGS[key]


def edited_file_name(scenario_json: str) -> str:
    """The file name the Briefing page offers an edited scenario under; its reproduce line runs that file."""
    return f"{_scenario(scenario_json).name}_edited.yaml"


def _build_briefing(scenario_json: str, seed: int, replications: int, audience: str, source: str | None,
                    progress: Callable[[int, int, str], None] | None = None, edited: bool = False) -> BriefingFiles:
    import zipfile

    from sim.reports import briefing as sim_briefing

    scenario = _scenario(scenario_json)
    data = sim_briefing.collect(scenario, audience, int(replications), int(seed), progress=progress,
                                scenario_file=source)
    saved = edited_file_name(scenario_json) if edited or not source else short_name(source)
    b = sim_briefing.build(data, sim_briefing.reproduce_command(data, target=saved))
    stem = f"{scenario.name}_brief"
    files: dict[str, tuple[str, bytes, str]] = {}
    problems: dict[str, str] = {}
    md = b.render("md", stem)
    if len(md) > 1:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, blob in md.items():
                z.writestr(name, blob)
        files["md"] = (f"{stem}.zip", buf.getvalue(), "application/zip")
    files["html"] = (f"{stem}.html", b.render("html", stem)[f"{stem}.html"], "text/html")
    try:
        files["pdf"] = (f"{stem}.pdf", b.pdf(), "application/pdf")
    except sim_briefing.BriefingError as e:
        problems["pdf"] = e.problems[0]
    text = md[f"{stem}.md"].decode()
    answer = text.split("## The answer", 1)[-1].split("\n## ", 1)[0].strip()
    return BriefingFiles(answer, files, problems, b.static_charts()[1])


def store_available() -> bool:
    """Whether the sweep store (sim.experiments.store) exists yet; the sweep page waits for it."""
    import importlib.util

    return importlib.util.find_spec("sim.experiments.store") is not None


# ---------------------------------------------------------------------------------- sweep stores

#: Folders searched for sweep stores (``EXPORTSIM_SWEEPS``, os.pathsep-separated, overrides): ./sweeps and
#: ./out of the working directory and of the repository.
SWEEP_DIRS = ([Path(p) for p in os.environ["EXPORTSIM_SWEEPS"].split(os.pathsep) if p]
              if os.environ.get("EXPORTSIM_SWEEPS")
              else list(dict.fromkeys([Path.cwd() / "sweeps", Path.cwd() / "out", ROOT / "sweeps", ROOT / "out"])))
#: At most this many runs are drawn in the scatter and parallel-coordinate charts (a seeded sample beyond).
SWEEP_PLOT_LIMIT = 5000


def _store_stamp(path: str) -> float:
    """The store's modification time: the newest of its spec, design, runs folder and runs files (0 if none)."""
    root = Path(path)
    stamp = 0.0
    try:
        candidates = [root, root / "sweep.json", root / "design.parquet", root / "runs"]
        if (root / "runs").is_dir():
            candidates += list((root / "runs").glob("*.parquet"))
        for p in candidates:
            with contextlib.suppress(OSError):
                stamp = max(stamp, p.stat().st_mtime)
    except OSError:
        pass
    return stamp


def sweep_stores() -> list[str]:
    """Sweep stores (folders with a sweep.json) under :data:`SWEEP_DIRS`, one or two levels down, newest first."""
    found: dict[str, float] = {}
    for base in SWEEP_DIRS:
        try:
            metas = list(Path(base).glob("*/sweep.json")) + list(Path(base).glob("*/*/sweep.json"))
        except OSError:
            continue
        for meta in metas:
            root = str(meta.parent.resolve())
            found.setdefault(root, _store_stamp(root))
    return sorted(found, key=lambda p: (-found[p], p))


def store_label(path: str) -> str:
    """A store's picker label: relative to the working directory or the repository when inside one."""
    p = Path(path).resolve()
    for base in (Path.cwd(), ROOT):
        if p.is_relative_to(base):
            return str(p.relative_to(base))
    return str(p)


@dataclass(frozen=True)
class SweepData:
    """A sweep store as read for the explorer, or the one-line reason it cannot be read (``error``)."""

    path: str
    error: str | None = None
    sweep_id: str = ""
    meta: dict = dataclasses.field(default_factory=dict)  # name, description, design, n, replications, files...
    parameters: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)  # name, group, path, values
    levers: tuple[str, ...] = ()
    numeric: dict = dataclasses.field(default_factory=dict)  # parameter -> whether its values are numbers
    log_scale: tuple[str, ...] = ()  # parameters drawn on a log axis (loguniform, lognormal)
    kpis: tuple[str, ...] = ()
    default_kpi: str | None = None
    counts: dict = dataclasses.field(default_factory=dict)  # planned, ok, failed, not_run
    points: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)  # ok runs: ids, policy, params, KPIs
    failures: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)  # run_id, seed, error
    warning: str | None = None  # one line about damaged runs files left out (re-run on the next resume)

    @property
    def ok(self) -> bool:
        """Whether the store was read."""
        return self.error is None


def error_lines(e: BaseException) -> list[str]:
    """An exception as the one-line problems the panel lists: a scenario's ``FILE:LINE: path: message`` lines, else
    ``Type: message`` on one line."""
    if isinstance(e, ScenarioError):
        return [str(p) for p in e.problems] or [_one_line_error(e)]
    return [f"{type(e).__name__}: {_one_line_error(e)}"]


def _one_line_error(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _policy_label(row: pd.Series, levers: list[str]) -> str:
    return ", ".join(f"{lv}={_short(row[lv])}" for lv in levers) if levers else "all runs"


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


@st.cache_data(show_spinner=False, max_entries=16)
def _open_sweep_cached(path: str, stamp: float) -> SweepData:
    from sim.experiments.analysis import default_kpi
    from sim.experiments.store import Store, StoreError
    from sim.scenario.quantities import describe_parameter

    root = Path(path)
    if not str(path).strip():
        return SweepData(path, "no store folder given")
    if not root.exists():
        return SweepData(path, f"{path}: no such folder")
    if not root.is_dir():
        return SweepData(path, f"{path}: is a file, not a sweep store folder")
    try:
        s = Store(root)
        spec = s.meta["spec"]
        design = s.design()
        all_in, all_out = s.frames(status=None)
    except StoreError as e:  # no sweep.json or no design: the message names the folder
        return SweepData(path, _one_line_error(e))
    except Exception as e:  # noqa: BLE001 - a corrupt store is reported, never raised into the page
        return SweepData(path, f"{path}: cannot read the sweep store ({type(e).__name__}: {_one_line_error(e)})")
    params = list(s.parameters)
    damage = s.damage_note()
    spec_params = {**spec.get("levers", {}), **spec.get("uncertainties", {})}
    table = pd.DataFrame([{"parameter": n, "group": p["group"], "values": describe_parameter(spec_params.get(n, {})),
                           "path": p["path"]} for n, p in s.parameters.items()],
                         columns=["parameter", "group", "values", "path"])
    ok = (all_in["status"] == "ok").to_numpy()
    kpis = [c for c in all_out.columns if c != "run_id" and all_out.loc[ok, c].notna().any()]
    points = pd.concat([all_in.loc[ok].reset_index(drop=True),
                        all_out.loc[ok, kpis].reset_index(drop=True)], axis=1)
    levers = list(s.levers)
    points.insert(1, "policy", points.apply(_policy_label, axis=1, levers=levers) if len(points) else [])
    points = points.drop(columns=["status", "error"])
    failures = all_in.loc[~ok, ["run_id", "seed", "error"]].reset_index(drop=True)
    planned = int(design["run_id"].nunique())
    d = spec["design"]
    meta = {"name": s.meta.get("name", spec.get("name")), "description": spec.get("description", ""),
            "design": d["kind"], "n": d.get("n"), "second_order": d.get("second_order", False),
            "levels": d.get("levels"), "cross_levers": d.get("cross_levers", True),
            "replications": spec.get("replications", 1), "base_file": s.meta.get("base_file", spec.get("base")),
            "spec_file": s.meta.get("spec_file"), "created": s.meta.get("created"), "updated": s.meta.get("updated"),
            "version": s.meta.get("version"), "factors": list(s.factors),
            "policy_levers": list(s.meta.get("policy_levers", [])), "keep": spec.get("keep", "kpis"),
            "common_random_numbers": spec.get("common_random_numbers", True),
            "start": _base_start(s.meta.get("base_file", spec.get("base")))}
    return SweepData(
        path=path, sweep_id=s.sweep_id, meta=meta, parameters=table, levers=tuple(levers),
        numeric={n: bool(p.get("numeric", True)) for n, p in s.parameters.items()},
        log_scale=tuple(n for n in params if spec_params.get(n, {}).get("dist") in ("loguniform", "lognormal")),
        kpis=tuple(kpis), default_kpi=default_kpi(kpis) if kpis else None,
        counts={"planned": planned, "ok": int(ok.sum()), "failed": int((~ok).sum()),
                "not_run": max(planned - len(all_in), 0)},
        points=points, failures=failures, warning=damage)


def _base_start(base_file: str | None) -> str | None:
    """The start date of a sweep's base scenario (ISO), for showing day KPIs as dates; None when it cannot be
    read (the base moved), and the explorer then shows days."""
    if not base_file:
        return None
    try:
        return sim.load_scenario(base_file).start.isoformat()
    except Exception:  # noqa: BLE001 - optional: days are shown instead
        return None


def sweep_dated(data: SweepData, frame: pd.DataFrame, kpi: str, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """*frame* with the day KPI *kpi* (its *columns*, default the KPI's own column) as calendar dates, when the
    sweep's start is known; other KPIs and frames without a start come back as they are."""
    start = data.meta.get("start")
    if not start or not is_day_kpi(kpi):
        return frame
    import datetime as dt

    origin = pd.Timestamp(dt.date.fromisoformat(start))
    out = frame.copy()
    for c in columns or (kpi,):
        if c in out:
            out[c] = origin + pd.to_timedelta(pd.to_numeric(out[c], errors="coerce"), unit="D")
    return out


def open_sweep(path: str) -> SweepData:
    """Read a sweep store for the explorer (cached on the path and the store's modification time).

    Never raises: a missing, empty or corrupt store comes back with a one-line ``error``.  Reading goes
    through :class:`sim.experiments.store.Store` (Parquet via DuckDB, read-only), so a running sweep can be opened.
    """
    path = str(path).strip()
    return _open_sweep_cached(path, _store_stamp(path) if path else 0.0)


def sweep_plot_points(data: SweepData) -> pd.DataFrame:
    """The runs drawn in scatter and parallel-coordinate charts: all of them, or a seeded sample of
    :data:`SWEEP_PLOT_LIMIT`."""
    pts = data.points
    return pts if len(pts) <= SWEEP_PLOT_LIMIT else pts.sample(SWEEP_PLOT_LIMIT, random_state=0)


@st.cache_data(show_spinner=False, max_entries=64)
def _sweep_distribution_cached(path: str, stamp: float, kpi: str) -> pd.DataFrame:
    from sim.experiments import analysis
    from sim.experiments.store import Store

    s = Store(path)
    inputs, outputs = s.frames()
    return analysis.summarize(inputs, outputs, kpi, list(s.levers) or None)


def sweep_distribution(path: str, kpi: str) -> pd.DataFrame:
    """The KPI's distribution (n, missing, mean, sd, p5, p50, p95), per lever setting when there are levers."""
    return _sweep_distribution_cached(str(path), _store_stamp(str(path)), kpi)


def _fisher_interval(rho: float, n: int) -> tuple[float, float]:
    """95 % interval of a Spearman correlation (Fisher z with Bonett and Wright's variance 1.06 / (n - 3))."""
    if not math.isfinite(rho) or n <= 4:
        return math.nan, math.nan
    z, se = math.atanh(max(min(rho, 0.999999), -0.999999)), math.sqrt(1.06 / (n - 3))
    return math.tanh(z - 1.96 * se), math.tanh(z + 1.96 * se)


@st.cache_data(show_spinner=False, max_entries=64)
def _sweep_sensitivity_cached(path: str, stamp: float, kpi: str) -> dict:
    from sim.experiments import analysis

    return analysis.sensitivity(path, kpi)


def sweep_sensitivity(path: str, kpi: str) -> dict:
    """Sensitivity of *kpi* to each parameter, through :mod:`sim.experiments.analysis`.

    Sobol (S1 and ST, with SALib's 95 % intervals) or Morris (mu* with its interval, sigma) per policy when
    the design is one of those; otherwise, or when the design cannot give them (an unfinished sweep, a
    KPI with missing values), Spearman rank correlations with a 95 % interval.  Returns ``method``,
    ``note`` (why a fallback was used), ``table`` (policy, factor, index, value, low, high, n_points),
    ``wide`` (one row per policy and factor, a column per index and interval end), ``ranking`` (factors,
    most influential first), ``variance`` (replication noise, or None), or
    ``error`` (one line) when nothing can be computed.
    """
    try:
        return _sweep_sensitivity_cached(str(path), _store_stamp(str(path)), kpi)
    except Exception as e:  # noqa: BLE001 - shown as a one-line error on the page
        return {"error": f"sensitivity of {kpi}: {_one_line_error(e)}"}


def sweep_default_condition(data: SweepData, kpi: str) -> str:
    """A starting condition for scenario discovery: the KPI above its 75th percentile."""
    from sim.experiments import analysis

    return analysis.default_condition(data.points.get(kpi, []))


@st.cache_data(show_spinner=False, max_entries=64)
def _sweep_prim_cached(path: str, stamp: float, kpi: str, condition: str) -> dict:
    from sim.experiments import analysis

    return analysis.prim_report(path, kpi, condition)


def sweep_prim(path: str, kpi: str, condition: str) -> dict:
    """PRIM scenario discovery (:func:`sim.experiments.analysis.prim`) for ``kpi <condition>``, e.g. ``"> 1250"``.

    Returns ``condition``, ``cases`` / ``of`` (runs where it holds / all ok runs), ``boxes`` (box, coverage,
    density, mass, runs, description), ``limits`` (box, parameter, low, high, the sweep's range, positions
    in that range), ``points`` (run_id, parameters, outcome label, KPI) and ``labels``; or ``error``.
    """
    try:
        return _sweep_prim_cached(str(path), _store_stamp(str(path)), kpi, condition.strip())
    except Exception as e:  # noqa: BLE001 - a bad condition or store is one line on the page
        return {"error": _one_line_error(e)}


@st.cache_data(show_spinner=False, max_entries=64)
def _sweep_run_scenario_cached(path: str, stamp: float, run_id: str) -> dict:
    from sim.experiments import sweep as sim_sweep
    from sim.experiments.store import Store

    s = Store(path)
    design = s.design()
    rows = design[design["run_id"] == run_id]
    if rows.empty:
        raise ValueError(f"no run '{run_id}' in the store")
    row = rows.iloc[0]
    spec_file = s.meta.get("spec_file")
    candidates = [Path(spec_file), ROOT / spec_file, Path(path).parent / spec_file] if spec_file else []
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise ValueError(f"the sweep's spec file '{spec_file}' is not found, so the run cannot be rebuilt")
    ls = sim_sweep.load_spec(found)
    if ls.base_hash != s.meta.get("base_hash"):
        raise ValueError(f"the base scenario ({s.meta.get('base_file')}) or the spec's fixed settings changed "
                         "since the sweep ran, so the run cannot be rebuilt exactly")
    spec_params = {**s.meta["spec"].get("levers", {}), **s.meta["spec"].get("uncertainties", {})}
    assigns = []
    for name, p in s.parameters.items():
        v = row[name]
        if not p.get("numeric", True):
            v = json.loads(v)
        elif spec_params.get(name, {}).get("integer") or (
                spec_params.get(name, {}).get("levels") is not None and float(v).is_integer()
                and all(isinstance(x, int) for x in spec_params[name]["levels"])):
            v = int(round(float(v)))
        else:
            v = float(v)
        assigns.append((p["path"], v))
    scenario = sim_sweep.apply_point(ls.base, assigns)
    data = _dump(scenario)
    data["seed"] = int(row["seed"])  # the run's own seed: the downloaded file reproduces it with `exportsim run`
    return {"scenario_json": canonical_json(data), "seed": int(row["seed"]), "data": data}


@st.cache_data(show_spinner=False, max_entries=16)
def _sweep_rerun_cached(path: str, stamp: float, run_id: str) -> sim.RunResult:
    rebuilt = _sweep_run_scenario_cached(path, stamp, run_id)
    # Not through canonical_json: its sorted keys reorder the scenario's mappings (rules, nodes), and
    # the engine's results depend on that order; the sweep ran the scenario in file order.
    scenario = sim.scenario_from_dict(json.loads(json.dumps(rebuilt["data"])))
    return sim.Simulation(scenario, seed=rebuilt["seed"], run_id=run_id).run()


def sweep_rerun(path: str, run_id: str) -> sim.RunResult | None:
    """Run a stored run again, exactly as the sweep ran it (cached); None when it cannot be rebuilt."""
    rebuilt = sweep_run_scenario(path, run_id)
    if "error" in rebuilt:
        return None
    return _sweep_rerun_cached(str(path), _store_stamp(str(path)), run_id)


def sweep_run_scenario(path: str, run_id: str) -> dict:
    """One stored run rebuilt as a scenario (the base with the run's parameter values, the run's seed).

    Returns ``scenario_json``, ``seed`` and ``data`` (the scenario dict, for a YAML download), or ``error``
    when the spec or base scenario is gone or changed since the sweep ran.
    """
    try:
        return _sweep_run_scenario_cached(str(path), _store_stamp(str(path)), run_id)
    except ScenarioError as e:
        return {"error": "the sweep's spec no longer loads: " + "; ".join(str(p) for p in e.problems[:3])}
    except Exception as e:  # noqa: BLE001 - one line on the page
        return {"error": _one_line_error(e)}


# ------------------------------------------------------------------------------------- calibration
#: Where the dashboard looks for calibration stores (``exportsim calibrate ... --store calibrations/NAME``).
CALIBRATION_DIRS = [Path(p) for p in os.environ.get("EXPORTSIM_CALIBRATIONS", "").split(os.pathsep) if p] or [
    ROOT / "calibrations"]


def calibration_stores() -> list[str]:
    """Finished calibration stores (a posterior.parquet beside calibration.json) under CALIBRATION_DIRS."""
    found = []
    for d in CALIBRATION_DIRS:
        if (d / "calibration.json").is_file():
            found.append(d)
        elif d.is_dir():
            found += [p for p in sorted(d.iterdir()) if (p / "calibration.json").is_file()]
    return [str(p) for p in found if (p / "posterior.parquet").is_file()]


def _calibration_stamp(path: str) -> float:
    p = Path(path)
    return max((f.stat().st_mtime for f in p.glob("*.parquet")), default=0.0) + (p / "calibration.json").stat().st_mtime


@st.cache_data(show_spinner=False, max_entries=8)
def _calibration_cached(path: str, stamp: float, model: str) -> dict:
    from sim.experiments.calibration_report import summarise

    return summarise(path)


def calibration_summary(path: str) -> dict:
    """Everything ``exportsim calibrate --report`` shows, as plain data (cached until the store or the model
    changes: the report says whether the posterior was fitted by the model now running)."""
    from sim.engine.version import model_fingerprint

    return _calibration_cached(str(path), _calibration_stamp(str(path)), model_fingerprint())


def calibration_label(path: str) -> str:
    """``name (N particles, model X)`` for a picker."""
    from sim.experiments.calibrate import read_meta

    meta = read_meta(path) or {}
    return f"{meta.get('name', Path(path).name)} · {Path(path).name} · model {meta.get('model_fingerprint', '?')}"


def calibration_figures(path: str) -> dict:
    """The Calibration page's charts: overview, inputs, generations, correlation, one check per observable."""
    from sim.experiments.calibration_report import CalibrationStore
    from sim.reports import calibration as charts

    rep = calibration_summary(path)
    cs = CalibrationStore.load(path)
    return {"overview": charts.predictive_overview(rep), "inputs": charts.prior_posterior(cs, rep),
            "generations": charts.generations_chart(rep), "correlation": charts.correlation_heatmap(rep),
            "checks": {r["observable"]: charts.predictive_check(cs, r["observable"], rep) for r in rep["observables"]}}


def unreachable_sentences(path: str) -> list[str]:
    """One sentence per observable no accepted run reaches."""
    from sim.experiments.calibration_report import unreachable_sentence

    return [unreachable_sentence(u) for u in calibration_summary(path)["unreachable"]]


@st.cache_data(show_spinner=False, max_entries=64)
def calibrated_json(scenario_json: str, store: str, draw: int, seed: int) -> tuple[str, dict, list[str], str]:
    """The scenario with posterior draw *draw* (of the draws for *seed*) of a calibration store applied.

    Returns (canonical JSON, {input: value}, input paths the scenario lacks, the posterior's label).
    """
    from sim.experiments.posterior import Posterior, apply_draw

    post = Posterior.load(store)
    s, values, missing = apply_draw(_scenario(scenario_json), post, int(draw), int(seed))
    return canonical_json(_dump(s)), values, missing, post.label()


def compare_calibrated(base_json: str, counterfactual_json: str, replications: int, seed: int, store: str,
                       progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """:func:`compare` on the posterior: replication r applies posterior draw r to both worlds (same seed)."""
    base_k, cf_k = [], []
    for r in range(int(replications)):
        b, _, _, _ = calibrated_json(base_json, store, r, int(seed))
        c, _, _, _ = calibrated_json(counterfactual_json, store, r, int(seed))
        base_k.append(kpis(b, int(seed) + r))
        cf_k.append(kpis(c, int(seed) + r))
        if progress is not None:
            progress(r + 1, int(replications))
    return pd.DataFrame([dataclasses.asdict(row) for row in sim_compare.summarise(base_k, cf_k)])


# ---------------------------------------------------------------------------------------- options

def option_files(source: str | None, audience: str = "lab") -> list[str]:
    """The default option files of a scenario file for *audience* (as ``exportsim options`` picks them)."""
    from sim.experiments import options as sim_options

    return [str(p) for p in sim_options.default_options(source, audience)] if source else []


_STUDIES: dict[tuple, dict] = {}  # a small LRU by hand: st.cache_data cannot replay a progress bar's updates


def _remember(cache: dict, key: tuple, make: Callable[[], dict], keep: int = 16) -> dict:
    if key in cache:
        cache[key] = cache.pop(key)  # most recent last
        return cache[key]
    value = make()
    cache[key] = value
    while len(cache) > keep:
        cache.pop(next(iter(cache)))
    return value


def options_study(scenario_json: str, source: str | None, files: tuple[str, ...], replications: int, seed: int,
                  audience: str = "lab", _progress: Callable[[int, int, str], None] | None = None) -> dict:
    """The options study of ``exportsim options`` (same API, same numbers): its ``to_dict()``, remembered.

    *source* is the scenario's file (variants are the files that extend it); *files* the option files.
    """
    from sim.experiments import options as sim_options

    def make() -> dict:
        study = sim_options.options_study(_scenario(scenario_json), source, list(files), int(replications),
                                          int(seed), audience, progress=_progress)
        return json.loads(json.dumps(study.to_dict()))

    key = (scenario_json, source, tuple(files), int(replications), int(seed), audience)
    return _remember(_STUDIES, key, make)


def options_table(study: dict) -> pd.DataFrame:
    """The options study as the CLI's table of text (sim.reports.options)."""
    from sim.reports import options as fmt

    return pd.DataFrame(fmt.table(study), columns=list(fmt.COLUMNS))


def options_title(study: dict) -> tuple[str, str]:
    """(title, caption) of the options table, as the CLI prints them."""
    from sim.reports import options as fmt

    return fmt.title(study), fmt.CAPTION


def options_chart(study: dict):
    """The annotated finish-date chart of an options study."""
    from sim.reports import options as fmt

    return fmt.finish_chart(study)


_SENSITIVITY: dict[tuple, dict] = {}


def sensitivity(scenario_json: str, replications: int, seed: int,
                _progress: Callable[[int, int, str], None] | None = None) -> dict:
    """One-at-a-time sensitivity of the headline difference (baseline - no rules, the main job's finish day)."""
    from sim.experiments import options as sim_options

    def make() -> dict:
        head, swings = sim_options.sensitivity(_scenario(scenario_json), replications=int(replications),
                                               seed=int(seed), progress=_progress)
        return json.loads(json.dumps({"headline": head, "swings": [dataclasses.asdict(w) for w in swings]},
                                     default=lambda x: None))

    return _remember(_SENSITIVITY, (scenario_json, int(replications), int(seed)), make, keep=8)
