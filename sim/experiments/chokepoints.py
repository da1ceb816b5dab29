"""Chokepoint ranking: simulated knock-outs of each node (and channel edge) against graph centrality.

**Knock-outs.**  For every supply node, cloud region and channel edge, a counterfactual in which it loses
``severity`` of its capacity from a date (1 = knocked out, 0.5 = halved).  Each is a pure transformation
of the scenario mapping (``scenario.model_dump(by_alias=True)`` -> modified copy -> validated again), so
the engine is untouched:

=================  ==========================================================================================
target             what is scaled by (1 - severity) from the date
=================  ==========================================================================================
foundry            ``wafer_starts_per_month``
memory             ``hbm_stacks_per_month``
packager           ``chips_per_month``.  Its die bank and HBM stock are left alone: they are dies and stacks
                   on hand, not capacity, and a packager without capacity cannot assemble them anyway.
vendor             ``external_supply_per_month`` (every chip), and the capacity of each *dedicated* packager
                   (one whose every chip is this vendor's): the vendor's supply is what it is sold from.
                   A packager shared with another vendor is not cut (its own row covers it).
distributor        the grey channel's ``share_of_denied`` (a hub's grey route; legal re-export routes through
                   a hub cannot be singled out by the engine's rules, which see the buyer's country only).
cloud region       ``purchases_per_month`` (every chip).
grey edge          the hub's ``share_of_denied`` (the engine does not check grey lots against rules), which is
                   the hub's own knock-out: the two are shown as one row.
rental edge        access, not capacity: a rule on the ``remote`` channel for that lab in the cloud's country,
                   ``deny`` at severity 1, else a licence approved with probability 1 - severity at each
                   request and each contract renewal.  Rules see the cloud's country, not the cloud, so every
                   region in that country closes together: such edges are shown as one row.
=================  ==========================================================================================

Stocks held at the start (a vendor's ``initial_inventory``, a cloud's ``initial_fleet``) are scaled only
when the date is on or before the scenario's start: the engine cannot take stock away in mid-run, so a
later knock-out leaves stock on hand in place (which is also what happens to a real warehouse).

Series are piecewise constant (``{since, value}`` steps): the step in force on the date is split there and
every value from the date on is scaled; a distribution is scaled through its parameters
(:func:`scale_quantity`), which scales each draw exactly (same random numbers, times the factor).
Targets whose transformations coincide (a hub and its grey edge; a vendor and its dedicated packager when
the vendor has no supply of its own; rental edges in one country) are run once and shown as one row.

**Impact.**  Each counterfactual runs ``replications`` times with the seeds of the base runs (common
random numbers, as :mod:`sim.experiments.compare`); the impact on the lab's KPI is the paired mean difference with a
t interval (:func:`sim.experiments.estimate.paired`), signed so that positive means *hurt*: later
finish (an unfinished job counts as finishing at the horizon, i.e. right-censored), less compute.  A KPI
without a direction (``domestic_share``) is ranked by the size of the change.  Runs go through the sweep
executors (:func:`sim.experiments.sweep.run_chunk` on serial / local processes / Dask).

**Structure.**  Next to each row: normalised betweenness (edge betweenness for a rental edge), whether
the node is on every supply path to the lab (:func:`sim.scenario.network.chokepoints`), the share of its kind's
capacity it carries over the window, and whether any of its output is a chip the job can use.  The two
rankings are compared by Spearman's rho over node rows, and the nodes whose ranks differ most are
described in sentences built from these numbers only.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sim.experiments import estimate
from sim.scenario.paths import diff_assignments
from sim.scenario.quantities import ResolvedSeries, scale_quantity, scale_series
from sim.scenario.quantities import mean as dist_mean
from sim.schema import Scenario
from sim.units import MONTH_DAYS

#: Kinds of target a run can be restricted to (``--kind``).
KINDS = ("foundry", "memory", "packager", "vendor", "distributor", "cloud", "edge")
#: Which way a KPI hurts: +1 higher is worse, -1 lower is worse, 0 no direction (ranked by size).
DIRECTION = {
    "job_finish_day": 1, "job_finish_or_horizon_day": 1, "job_start_day": 1, "job_cost_usd": 1,
    "job_failures": 1, "job_delay_vs_deadline_days": 1, "inference_unmet_share": 1,
    "compute_eflops_end": -1, "fleet_units_end": -1, "job_effective_pflops": -1, "job_finished": -1,
    "domestic_share": 0,
}
SECONDARY = ("compute_eflops_end", "domestic_share")
Progress = Callable[[int, int], None]


class ChokepointError(ValueError):
    """Bad settings (unknown lab, KPI, kind; date outside the horizon; severity outside [0, 1])."""


# ======================================================================= quantities and series
def _window_units(series: Any, start: dt.date, t0: float, t1: float) -> float:
    """Expected units of a monthly series over days [t0, t1] (means of distributions)."""
    if not series:
        return 0.0
    rs = ResolvedSeries.resolve(series, start, None)
    return rs.integrate(t0, t1) / MONTH_DAYS


def _window_mean(series, start: dt.date, t0: float, t1: float) -> float:
    rs = ResolvedSeries.resolve(series, start, None)
    return rs.integrate(t0, t1) / (t1 - t0) if t1 > t0 else rs.at(t0)


# ============================================================================ targets
@dataclass(frozen=True)
class Target:
    """Something to knock out: a node (supply node or cloud region) or a channel edge."""

    id: str
    kind: str  # foundry | memory | packager | vendor | distributor | cloud | edge
    node: str | None = None  # the graph node (None for a rental edge)
    edge: str | None = None  # the edge id, for edges
    channel: str | None = None  # grey | rental


def targets(s: Scenario, kinds: Iterable[str] | None = None) -> list[Target]:
    """Every knock-out target of *s* (supply nodes, cloud regions, grey and rental edges), in file order."""
    wanted = set(kinds) if kinds else set(KINDS)
    bad = wanted - set(KINDS)
    if bad:
        raise ChokepointError(f"--kind: unknown kind(s) {', '.join(sorted(bad))} (one of {', '.join(KINDS)})")
    out = [Target(nid, n.kind, node=nid) for nid, n in s.nodes.items() if n.kind in wanted]
    if "cloud" in wanted:
        out += [Target(cid, "cloud", node=cid) for cid in s.clouds]
    if "edge" in wanted:
        for eid, e in s.edges.items():
            src = s.nodes.get(e.from_)
            if e.channel == "grey" and src is not None and src.kind == "distributor" and src.grey is not None:
                out.append(Target(eid, "edge", node=None, edge=eid, channel="grey"))
            elif e.flow == "rental" and e.from_ in s.clouds and e.to in s.labs:
                out.append(Target(eid, "edge", node=None, edge=eid, channel="rental"))
    return out


def _packager_chips(s: Scenario) -> dict[str, set[str]]:
    """Chip ids each packager assembles: foundry allocations sent to it, and its die bank."""
    out: dict[str, set[str]] = {nid: set(n.initial_dies) for nid, n in s.nodes.items() if n.kind == "packager"}
    for n in s.nodes.values():
        if n.kind == "foundry":
            for chip, alloc in n.allocation.items():
                out.setdefault(alloc.packager, set()).add(chip)
    return out


def dedicated_packagers(s: Scenario, vendor: str) -> list[str]:
    """Packagers whose every chip is sold by *vendor* (so its supply is theirs)."""
    out = []
    for pid, chips in _packager_chips(s).items():
        if chips and all(s.chips[c].vendor == vendor for c in chips):
            out.append(pid)
    return sorted(out)


def knock_out(data: dict, s: Scenario, target: Target, severity: float, since: dt.date) -> dict:
    """A modified deep copy of *data* (``s.model_dump(by_alias=True)``): *target* loses *severity* from *since*.

    Pure: *data* is not touched.  Severity 0 returns an unchanged copy.  See the module doc for what each
    kind of target loses.
    """
    if not 0 <= severity <= 1:
        raise ChokepointError(f"--severity: must be between 0 and 1, got {severity}")
    d = copy.deepcopy(data)
    if severity == 0:
        return d
    f = 1.0 - severity
    since = max(since, s.start)
    stocks_too = since <= s.start
    nodes = d["nodes"]

    def scale_node_series(nid: str, key: str) -> None:
        nodes[nid][key] = scale_series(nodes[nid][key], f, since)

    def grey(hub: str) -> None:
        g = nodes[hub].get("grey")
        if g is not None:
            g["share_of_denied"] = scale_series(g["share_of_denied"], f, since)

    kind = target.kind
    if kind == "foundry":
        scale_node_series(target.node, "wafer_starts_per_month")
    elif kind == "memory":
        scale_node_series(target.node, "hbm_stacks_per_month")
    elif kind == "packager":
        scale_node_series(target.node, "chips_per_month")
    elif kind == "vendor":
        v = nodes[target.node]
        v["external_supply_per_month"] = {c: scale_series(ser, f, since)
                                          for c, ser in v["external_supply_per_month"].items()}
        if stocks_too:
            v["initial_inventory"] = {c: scale_quantity(q, f) for c, q in v["initial_inventory"].items()}
        for pid in dedicated_packagers(s, target.node):
            scale_node_series(pid, "chips_per_month")
    elif kind == "distributor":
        grey(target.node)
    elif kind == "cloud":
        c = d["clouds"][target.node]
        c["purchases_per_month"] = {chip: scale_series(ser, f, since) for chip, ser in c["purchases_per_month"].items()}
        if stocks_too:
            c["initial_fleet"] = {chip: scale_quantity(q, f) for chip, q in c["initial_fleet"].items()}
    elif kind == "edge" and target.channel == "grey":
        grey(s.edges[target.edge].from_)
    elif kind == "edge" and target.channel == "rental":
        e = s.edges[target.edge]
        country = s.clouds[e.from_].country
        rid = f"chokepoint_remote_{country}_{e.to}"
        treatment = {"kind": "deny"} if severity >= 1 else {
            "kind": "license", "approval_probability": f, "review_days": 0.0}
        d["rules"][rid] = {
            "name": f"knock-out: remote access from {e.to} to clouds in {country}",
            "authority": country, "announced": since, "effective": since,
            "scope": {"item_kinds": ["chip"], "destinations": [country], "end_users": [e.to],
                      "channels": ["remote"]},
            "treatment": treatment,
        }
    else:
        raise ChokepointError(f"cannot knock out {target.kind} '{target.id}'")
    return d


def counterfactual(s: Scenario, target: Target | str, severity: float = 1.0, since: dt.date | None = None) -> Scenario:
    """The validated scenario in which *target* (a Target or an id) loses *severity* from *since* (default: start)."""
    from sim.scenario.loader import scenario_from_dict

    t = _find_target(s, target) if isinstance(target, str) else target
    data = knock_out(s.model_dump(by_alias=True), s, t, severity, since or s.start)
    return scenario_from_dict(data)


def _find_target(s: Scenario, tid: str) -> Target:
    for t in targets(s):
        if t.id == tid:
            return t
    raise ChokepointError(f"unknown target '{tid}' (nodes, cloud regions, grey and rental edges)")


# ========================================================================== structure
def main_job(s: Scenario, lab: str) -> str | None:
    """The lab's main training job: the largest compute target (the first one on a tie)."""
    jobs = s.labs[lab].jobs
    if not jobs:
        return None
    return max(jobs, key=lambda j: (jobs[j].target_flop(), -list(jobs).index(j)))


def target_products(s: Scenario, t: Target) -> set[str]:
    """Chip ids that flow out of (or through) the target."""
    pk = _packager_chips(s)
    if t.kind == "edge":
        e = s.edges[t.edge]
        if t.channel == "rental":
            return target_products(s, Target(e.from_, "cloud", node=e.from_))
        return target_products(s, Target(e.from_, "distributor", node=e.from_))
    n = s.nodes.get(t.node) if t.node else None
    if t.kind == "foundry":
        return set(n.allocation)
    if t.kind == "packager":
        return set(pk.get(t.node, set()))
    if t.kind == "memory":
        into = {e.to for e in s.edges.values() if e.from_ == t.node and e.flow == "hbm"}
        return {c for p in into for c in pk.get(p, set()) if s.chips[c].hbm_stacks > 0}
    if t.kind == "vendor":
        return {c for c, spec in s.chips.items() if spec.vendor == t.node}
    if t.kind == "distributor":
        vendors = {e.from_ for e in s.edges.values() if e.to == t.node and e.flow == "chips"}
        return {c for c, spec in s.chips.items() if spec.vendor in vendors}
    if t.kind == "cloud":
        c = s.clouds[t.node]
        return set(c.initial_fleet) | set(c.purchases_per_month)
    return set()


def capacity(s: Scenario, t: Target, since: dt.date) -> float:
    """What the target carries over [since, end], in its kind's unit (expected values).

    Foundry: wafers; memory: HBM stacks; packager: chips; vendor: outside supply + stock on hand at the start
    + dedicated packagers' chips; distributor (and grey edge): mean grey share of denied demand; cloud (and
    rental edge): rentable units at the start + purchases.
    """
    t0, t1 = max(s.day_of(since), 0.0), s.horizon_days
    if t.kind == "edge":
        e = s.edges[t.edge]
        inner = Target(e.from_, "cloud" if t.channel == "rental" else "distributor", node=e.from_)
        return capacity(s, inner, since)
    n = s.nodes.get(t.node)
    if t.kind == "foundry":
        return _window_units(n.wafer_starts_per_month, s.start, t0, t1)
    if t.kind == "memory":
        return _window_units(n.hbm_stacks_per_month, s.start, t0, t1)
    if t.kind == "packager":
        return _window_units(n.chips_per_month, s.start, t0, t1)
    if t.kind == "vendor":
        total = sum(_window_units(ser, s.start, t0, t1) for ser in n.external_supply_per_month.values())
        total += sum(dist_mean(q) for q in n.initial_inventory.values())
        for pid in dedicated_packagers(s, t.node):
            total += _window_units(s.nodes[pid].chips_per_month, s.start, t0, t1)
        return total
    if t.kind == "distributor":
        return _window_mean(n.grey.share_of_denied, s.start, t0, t1) if n.grey is not None else 0.0
    if t.kind == "cloud":
        c = s.clouds[t.node]
        total = sum(dist_mean(q) for q in c.initial_fleet.values())
        return total + sum(_window_units(ser, s.start, t0, t1) for ser in c.purchases_per_month.values())
    return 0.0


def structure(s: Scenario, lab: str, since: dt.date, tlist: list[Target] | None = None) -> dict[str, dict]:
    """Structural measures of each target: betweenness, on every supply path to *lab*, capacity share."""
    import networkx as nx

    from sim.scenario.network import betweenness, build_graph, chokepoints

    g = build_graph(s)
    bc = betweenness(g)
    ebc = nx.edge_betweenness_centrality(g, normalized=True)
    cut = set(chokepoints(s, g).get(lab, []))
    tlist = tlist if tlist is not None else targets(s)
    everything = targets(s)  # capacity shares are among all targets of a kind, whatever is run
    caps = {t.id: capacity(s, t, since) for t in everything}
    out: dict[str, dict] = {}
    for t in tlist:
        if t.kind == "edge":
            e = s.edges[t.edge]
            peers = [u for u in everything if u.kind == "edge" and u.channel == t.channel]
            b = float(ebc.get((e.from_, e.to), 0.0))
            of = "edge"
            on_path = None
            in_degree = 1
        else:
            peers = [u for u in everything if u.kind == t.kind]
            b = float(bc.get(t.node, 0.0))
            of = "node"
            on_path = t.node in cut
            in_degree = g.in_degree(t.node)
        total = sum(caps[u.id] for u in peers)
        out[t.id] = {"betweenness": b, "betweenness_of": of, "on_every_path": on_path,
                     "capacity": caps[t.id], "capacity_share": caps[t.id] / total if total > 0 else math.nan,
                     "peers": len(peers), "in_degree": in_degree,
                     "lab_has_own_fleet": bool(s.labs[lab].initial_fleet)}
    return out


# ========================================================================== the ranking
def resolve_kpi(s: Scenario, lab: str, kpi: str | None) -> tuple[str, str | None]:
    """(full KPI name, job id or None) from a short name (``job_finish_day``, ``compute_eflops_end``) or a full one."""
    job = main_job(s, lab)
    if kpi is None:
        kpi = "job_finish_day" if job is not None else "compute_eflops_end"
    if "[" in kpi:
        name, key = kpi.split("[", 1)
        key = key.rstrip("]")
        if "/" in key:
            klab, kjob = key.split("/", 1)
            if klab not in s.labs or kjob not in s.labs[klab].jobs:
                raise ChokepointError(f"--kpi: no job '{key}' in the scenario")
            return kpi, kjob
        return kpi, None
    if kpi.startswith(("job_", "first_day_")):
        if kpi.startswith("first_day_"):
            return f"{kpi}[{lab}]", job
        if job is None:
            raise ChokepointError(f"--kpi: lab '{lab}' has no training job for '{kpi}'")
        return f"{kpi}[{lab}/{job}]", job
    return f"{kpi}[{lab}]", job


def kpi_direction(kpi: str) -> int:
    """+1 when a higher value hurts, -1 when a lower one does, 0 when neither (ranked by size)."""
    return DIRECTION.get(kpi.split("[", 1)[0], 0)


def _is_finish(kpi: str) -> bool:
    return kpi.startswith("job_finish_day[")


@dataclass
class ChokepointReport:
    """Rows (one per distinct counterfactual), the rank correlation, and the disagreement sentences."""

    scenario: str
    lab: str
    kpi: str
    job: str | None
    since: dt.date
    severity: float
    replications: int
    executor: str
    base: dict[str, float]
    rows: list[dict]
    spearman: dict[str, float | int | None]
    disagreements: list[str]
    notes: list[str] = field(default_factory=list)

    def frame(self):
        """The rows as a DataFrame, ranked (what :func:`sim.reports.plots.chokepoint_bars` takes)."""
        import pandas as pd

        return pd.DataFrame(self.rows)

    def to_dict(self) -> dict:
        """Plain data, NaN as None (for JSON)."""
        return _clean(asdict(self))


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (dt.date,)):
        return obj.isoformat()
    if isinstance(obj, np.generic):
        return _clean(obj.item())
    return obj


#: KPIs the metrics leave out when no owner has any fleet at the horizon; their value then is 0.
_ZERO_WHEN_ABSENT = ("compute_eflops_end[", "fleet_units_end[", "domestic_share[")


def _values(recs: list[dict], kpi: str, horizon: float) -> np.ndarray:
    absent = 0.0 if kpi.startswith(_ZERO_WHEN_ABSENT) else math.nan
    x = np.array([r.get(kpi, absent) for r in recs], dtype=float)
    if _is_finish(kpi):
        x = np.where(np.isnan(x), horizon, x)  # unfinished: censored at the horizon
    return x


def _paired(base: np.ndarray, cf: np.ndarray, confidence: float,
            kpi: str | None = None) -> tuple[float, float, float, int]:
    """Mean impact cf - base with its interval and R (:func:`sim.experiments.estimate.paired`)."""
    e = estimate.paired(cf, base, kpi, confidence=confidence)
    return e.mean, e.ci_low, e.ci_high, e.n


def rank(
    s: Scenario,
    lab: str | None = None,
    kpi: str | None = None,
    since: dt.date | None = None,
    severity: float = 1.0,
    replications: int = 5,
    executor: str = "serial",
    workers: int | None = None,
    kinds: Iterable[str] | None = None,
    seed: int | None = None,
    confidence: float = 0.95,
    progress: Progress | None = None,
) -> ChokepointReport:
    """Knock out every target (or those of *kinds*), run each with common random numbers, rank by impact.

    *progress* is called as ``progress(runs done, runs in all)``.
    """
    from sim.experiments.sweep.executors import EXECUTORS, _execute, run_chunk

    if lab is None:
        with_jobs = [lid for lid, lb in s.labs.items() if lb.jobs]
        lab = with_jobs[0] if with_jobs else next(iter(s.labs), None)
        if lab is None:
            raise ChokepointError("the scenario has no lab whose KPIs could be hurt")
    if lab not in s.labs:
        raise ChokepointError(f"--lab: unknown lab '{lab}' (labs: {', '.join(s.labs) or 'none'})")
    since = since or s.start
    if not s.start <= since < s.end:
        raise ChokepointError(f"--from: {since} is outside the horizon {s.start}..{s.end}")
    if not 0 <= severity <= 1:
        raise ChokepointError(f"--severity: must be between 0 and 1, got {severity}")
    if replications < 1:
        raise ChokepointError(f"--replications: must be at least 1, got {replications}")
    if executor == "processes":
        executor = "local"
    if executor not in EXECUTORS:
        raise ChokepointError(f"--executor: must be one of {', '.join(EXECUTORS)}, got '{executor}'")
    kpi_name, job = resolve_kpi(s, lab, kpi)
    tlist = targets(s, kinds)
    if not tlist:
        raise ChokepointError("nothing to knock out (no node or channel edge of the chosen kind)")

    base_data = s.model_dump(by_alias=True)
    first = s.seed if seed is None else seed
    seeds = [first + r for r in range(replications)]
    secondary = [f"{k}[{lab}]" for k in SECONDARY if f"{k}[{lab}]" != kpi_name]
    if job is not None and _is_finish(kpi_name):
        secondary.append(f"job_start_day[{lab}/{job}]")
    finished_key = f"job_finished[{lab}/{job}]" if job is not None and _is_finish(kpi_name) else None
    wanted = [kpi_name, *secondary] + ([finished_key] if finished_key else [])

    # distinct counterfactuals: targets whose transformations coincide share one
    groups: dict[str, dict] = {}
    for t in tlist:
        mod = knock_out(base_data, s, t, severity, since)
        assigns = diff_assignments(base_data, mod)
        key = json.dumps(assigns, sort_keys=True, default=str)
        grp = groups.setdefault(key, {"targets": [], "assignments": assigns})
        grp["targets"].append(t)
    todo = [(k, g) for k, g in groups.items() if g["assignments"]]
    total = replications * (1 + len(todo))

    # the base runs, in process (all KPIs, to check the KPI exists)
    base_chunk = [(f"base:{r}", sd, []) for r, sd in enumerate(seeds)]
    base_res = run_chunk(base_data, base_chunk, False, ["*"])
    failed = [r for r in base_res.records if r["status"] != "ok"]
    if failed:
        raise ChokepointError(f"the base run fails: {failed[0]['error']}")
    base_recs = base_res.records
    if not any(kpi_name in r for r in base_recs):
        known = sorted({k for r in base_recs for k in r if "[" in k and lab in k})
        raise ChokepointError(f"--kpi: the runs give no KPI '{kpi_name}' (for {lab}: {', '.join(known[:12])})")
    done = replications
    if progress is not None:
        progress(done, total)

    results: dict[str, list[dict]] = {}
    errors: dict[str, str] = {}
    if todo:
        index = {str(i): key for i, (key, _) in enumerate(todo)}
        chunks = [[(f"{i}:{r}", sd, g["assignments"]) for r, sd in enumerate(seeds)] for i, (_, g) in enumerate(todo)]
        n_workers = 1 if executor == "serial" else (workers or os.cpu_count() or 1)
        stream = _execute(executor, n_workers, None, base_data, iter(chunks), False, wanted)
        try:
            for chunk, res in stream:
                key = index[chunk[0][0].split(":")[0]]
                if isinstance(res, BaseException):
                    errors[key] = f"{type(res).__name__}: {res}"
                    recs = []
                else:
                    recs = sorted(res.records, key=lambda r: int(r["run_id"].split(":")[1]))
                    bad = [r for r in recs if r["status"] != "ok"]
                    if bad:
                        errors[key] = bad[0]["error"]
                results[key] = recs
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        finally:
            stream.close()

    horizon = s.horizon_days
    direction = kpi_direction(kpi_name)
    b_main = _values(base_recs, kpi_name, horizon)
    structural = structure(s, lab, since, tlist)
    job_chips = set(s.labs[lab].jobs[job].chips) if job is not None else set()
    rows: list[dict] = []
    for key, g in groups.items():
        ts: list[Target] = g["targets"]
        head = next((t for t in ts if t.kind != "edge"), ts[0])
        row: dict[str, Any] = {
            "target": " + ".join(t.id for t in ts), "targets": [t.id for t in ts], "kind": head.kind,
            "kinds": sorted({t.kind for t in ts}), "node": head.node,
            "changes": [p for p, _ in g["assignments"]], "noop": not g["assignments"],
            "kpi": kpi_name, "base_mean": float(np.nanmean(b_main)) if (~np.isnan(b_main)).any() else math.nan,
        }
        if key in errors and not results.get(key):
            recs = None
        elif not g["assignments"]:
            recs = base_recs
        else:
            recs = [r for r in results.get(key, []) if r["status"] == "ok"] if key not in errors else None
        row["error"] = errors.get(key)
        if recs is None or len(recs) != replications:
            row.update(cf_mean=math.nan, diff_mean=math.nan, diff_ci_low=math.nan, diff_ci_high=math.nan,
                       impact=math.nan, impact_ci_low=math.nan, impact_ci_high=math.nan, n=0, unfinished=None,
                       secondary={})
            if row["error"] is None:
                row["error"] = "some replications failed"
        else:
            c_main = _values(recs, kpi_name, horizon)
            m, lo, hi, n = _paired(b_main, c_main, confidence, kpi_name)
            sign = direction if direction != 0 else 1
            ilo, ihi = sorted((sign * lo + 0.0, sign * hi + 0.0)) if not math.isnan(lo) else (math.nan, math.nan)
            row.update(cf_mean=float(np.nanmean(c_main)) if (~np.isnan(c_main)).any() else math.nan,
                       diff_mean=m, diff_ci_low=lo, diff_ci_high=hi, impact=sign * m + 0.0, impact_ci_low=ilo,
                       impact_ci_high=ihi, n=n)
            row["unfinished"] = (int(sum(1 for r in recs if r.get(finished_key, 1.0) < 1)) if finished_key else None)
            sec = {}
            for k in secondary:
                bm, cm = _values(base_recs, k, horizon), _values(recs, k, horizon)
                sm, slo, shi, sn = _paired(bm, cm, confidence, k)
                sec[k] = {"base_mean": float(np.nanmean(bm)) if (~np.isnan(bm)).any() else math.nan,
                          "diff_mean": sm, "diff_ci_low": slo, "diff_ci_high": shi, "n": sn}
            row["secondary"] = sec
        # several targets in one row: the graph's view of its most central member (nodes before edges)
        members = [t for t in ts if t.kind != "edge"] or ts
        top = max(members, key=lambda t: (structural[t.id]["betweenness"], -members.index(t)))
        st = dict(structural[head.id], betweenness=structural[top.id]["betweenness"],
                  in_degree=structural[top.id]["in_degree"], on_every_path=any(
                      structural[t.id]["on_every_path"] for t in members) if head.kind != "edge" else None)
        row["central_member"] = top.id
        row.update({k: st[k] for k in ("betweenness", "betweenness_of", "on_every_path", "capacity",
                                       "capacity_share", "in_degree")})
        row["peers"] = st["peers"]
        prods = set().union(*(target_products(s, t) for t in ts))
        row["products"] = sorted(prods)
        row["feeds_job"] = bool(prods & job_chips) if job is not None else None
        rows.append(row)

    _rank_rows(rows, direction)
    base_means = {k: float(np.nanmean(_values(base_recs, k, horizon))) for k in wanted
                  if (~np.isnan(_values(base_recs, k, horizon))).any()}
    if finished_key:
        base_means["unfinished_replications"] = float(sum(1 for r in base_recs if r.get(finished_key, 1.0) < 1))
    rep = ChokepointReport(s.name, lab, kpi_name, job, since, severity, replications, executor, base_means, rows,
                           {}, [])
    rep.spearman = _spearman(rows)
    rep.disagreements = disagreements(rep, s)
    rep.notes = _notes(rep, s)
    return rep


def _rank_rows(rows: list[dict], direction: int) -> None:
    """Sort by harm (largest first; direction 0: by size) and rank.

    ``sim_rank``: 1 + the number of rows that hurt more (ties share the best place).  Among node rows
    only (what the graph ranks): ``sim_place`` and ``graph_place`` as ``[best, worst]`` places of the tie
    group, and ``sim_rank_avg`` / ``graph_rank_avg`` (average ranks, as Spearman's rho uses).
    """
    def harm(r: dict) -> float:
        v = r["impact"]
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return math.nan
        return abs(v) if direction == 0 else v

    for r in rows:
        r["harm"] = harm(r)
    key = lambda r: (-r["harm"] if not math.isnan(r["harm"]) else math.inf, r["target"])  # noqa: E731
    rows.sort(key=key)
    ok = [r for r in rows if not math.isnan(r["harm"])]
    for r in rows:
        r["sim_rank"] = None if math.isnan(r["harm"]) else 1 + sum(1 for o in ok if _above(o["harm"], r["harm"]))
    nodes = [r for r in rows if r["betweenness_of"] == "node"]
    ok_nodes = [r for r in nodes if not math.isnan(r["harm"])]
    for r in rows:
        for k in ("sim_place", "graph_place", "sim_rank_avg", "graph_rank_avg"):
            r[k] = None
    for r in nodes:
        r["graph_place"] = _place(r["betweenness"], [o["betweenness"] for o in nodes])
        r["graph_rank_avg"] = sum(r["graph_place"]) / 2
        if not math.isnan(r["harm"]):
            r["sim_place"] = _place(r["harm"], [o["harm"] for o in ok_nodes])
            r["sim_rank_avg"] = sum(r["sim_place"]) / 2


def _above(a: float, b: float) -> bool:
    return a > b + 1e-9 * max(1.0, abs(b))


def _place(v: float, values: list[float]) -> list[int]:
    """[best, worst] place of *v* among *values*, largest first (a tie group shares the range)."""
    better = sum(1 for x in values if _above(x, v))
    tied = sum(1 for x in values if not _above(x, v) and not _above(v, x))
    return [better + 1, better + tied]


def _spearman(rows: list[dict]) -> dict:
    """Spearman's rho between simulated harm and betweenness, over node rows with a result."""
    from scipy import stats

    pts = [(r["harm"], r["betweenness"]) for r in rows if r["betweenness_of"] == "node"
           and not math.isnan(r["harm"])]
    out: dict[str, Any] = {"rho": math.nan, "p_value": math.nan, "n": len(pts), "over": "node rows",
                           "zero_impact": sum(1 for h, _ in pts if h == 0),
                           "zero_betweenness": sum(1 for _, b in pts if b == 0)}
    if len(pts) >= 3:
        x, y = np.array(pts, dtype=float).T
        if np.ptp(x) > 0 and np.ptp(y) > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = stats.spearmanr(x, y)
            out["rho"], out["p_value"] = float(res.statistic), float(res.pvalue)
        else:
            out["why_undefined"] = "one of the two rankings is constant"
    else:
        out["why_undefined"] = "fewer than 3 node rows"
    return out


# ====================================================================== words from numbers
def _ord(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _g(v: float, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    a = abs(v)
    text = f"{v:,.0f}" if a >= 100 else f"{v:,.1f}" if a >= 1 else f"{v:.3g}"
    return text + unit


def _kpi_words(rep: ChokepointReport) -> tuple[str, str]:
    """(what the KPI is, unit) for sentences."""
    name = rep.kpi.split("[", 1)[0]
    key = rep.kpi.split("[", 1)[1].rstrip("]") if "[" in rep.kpi else ""
    if name in ("job_finish_day", "job_finish_or_horizon_day"):
        return f"the finish of {key}", " days"
    if name == "compute_eflops_end":
        return f"{key}'s compute at the horizon", " EFLOP/s"
    if name == "domestic_share":
        return f"{key}'s domestic share of compute", ""
    return rep.kpi, ""


def effect_phrase(rep: ChokepointReport, row: dict) -> str:
    """'delays the finish of bytedance/llm by 120 days (95 % CI 80 to 160)' and the like."""
    what, unit = _kpi_words(rep)
    m, lo, hi = row["impact"], row["impact_ci_low"], row["impact_ci_high"]
    if m is None or math.isnan(m):
        return f"gives no usable result ({row.get('error') or 'failed'})"
    ci = "" if lo is None or math.isnan(lo) else f" (95 % CI {_g(lo)} to {_g(hi)})"
    zero_in = lo is not None and not math.isnan(lo) and lo <= 0 <= hi
    name = rep.kpi.split("[", 1)[0]
    if m == 0 and (lo is None or math.isnan(lo) or lo == hi == 0):
        return f"leaves {what} exactly as in the base run"
    if name in ("job_finish_day", "job_finish_or_horizon_day"):
        verb = f"delays {what} by {_g(m, unit)}" if m > 0 else f"brings {what} forward by {_g(-m, unit)}"
    elif kpi_direction(rep.kpi) == -1:
        verb = f"cuts {what} by {_g(m, unit)}" if m > 0 else f"raises {what} by {_g(-m, unit)}"
    else:
        verb = f"changes {what} by {row['diff_mean']:+.3g}{unit}"
    return verb + ci + (", an interval that includes zero" if zero_in and m != 0 else "")


def _because_low(rep: ChokepointReport, row: dict, s: Scenario) -> list[str]:
    """Reasons, read off the numbers, why a central node matters little in the simulation."""
    out: list[str] = []
    if row["noop"]:
        out.append("it has no capacity in the window to lose (its supply series are zero or absent)")
        return out
    if row["impact"] < 0:
        dom = row.get("secondary", {}).get(f"domestic_share[{rep.lab}]") or {}
        d = dom.get("diff_mean")
        hi = row["impact_ci_high"]
        lead = "removing it helps" if hi is not None and not math.isnan(hi) and hi < 0 else \
            "on the point estimate removing it even helps"
        if d is not None and not math.isnan(d) and abs(d) >= 0.01:
            out.append(f"{lead} {rep.lab} on this measure: its domestic share moves by {d:+.2f}, so its "
                       "demand (and budget) shifts to other suppliers")
        else:
            out.append(f"{lead} {rep.lab} on this measure")
    if row.get("feeds_job") is False and rep.job is not None:
        chips = ", ".join(s.labs[rep.lab].jobs[rep.job].chips)
        prods = ", ".join(row["products"]) or "nothing"
        out.append(f"none of what it supplies ({prods}) is a chip {rep.lab}/{rep.job} runs on ({chips})")
    base_finish = rep.base.get(rep.kpi) if _is_finish(rep.kpi) else None
    if base_finish is not None and base_finish < s.day_of(rep.since):
        out.append(f"the base run finishes the job around {s.start + dt.timedelta(days=base_finish)}, "
                   f"before the knock-out date {rep.since}")
    start_key = f"job_start_day[{rep.lab}/{rep.job}]" if rep.job is not None else None
    b_start = rep.base.get(start_key) if start_key else None
    c_start = row.get("secondary", {}).get(start_key) if start_key else None
    if (b_start is not None and c_start and c_start.get("diff_mean") == 0 and row["impact"] == 0
            and row.get("feeds_job") is not False):
        earliest = s.labs[rep.lab].jobs[rep.job].earliest_start
        on_time = abs(b_start - s.day_of(earliest)) < 1e-9
        day = s.start + dt.timedelta(days=b_start)
        out.append(f"the job starts on {day} in both runs" + (" (its earliest start)" if on_time else "")
                   + f": the chips {rep.lab} holds by then cover it")
    share = row.get("capacity_share")
    if share is not None and not math.isnan(share) and share < 0.5 and row["peers"] > 1:
        others = row["peers"] - 1
        out.append(f"it carries only {share:.0%} of the {row['kind']} capacity over the window; the other "
                   + (f"{row['kind']} carries" if others == 1 else f"{others} {row['kind']}s carry") + " the rest")
    if rep.since > s.start and row["kind"] in ("vendor", "cloud") and row["capacity"] > 0:
        out.append(f"stock it holds at the start is kept (the knock-out comes on {rep.since}, after the start)")
    comp = row.get("secondary", {}).get(f"compute_eflops_end[{rep.lab}]")
    if comp and comp.get("base_mean") and not math.isnan(comp["diff_mean"]) and comp["base_mean"] > 0:
        rel = comp["diff_mean"] / comp["base_mean"]
        if rel == 0:
            out.append(f"{rep.lab}'s compute at the horizon does not change at all")
        elif abs(rel) < 0.1:
            out.append(f"{rep.lab}'s compute at the horizon moves by only {rel:+.1%}: its fleet and other suppliers "
                       "absorb the loss")
    if not out and row["betweenness"] > 0:
        out.append("betweenness counts shortest paths through a node, whatever volume they carry")
    return out[:2]


def _because_high(rep: ChokepointReport, row: dict, s: Scenario) -> list[str]:
    """Reasons, read off the numbers, why a peripheral node matters a lot in the simulation."""
    out: list[str] = []
    if row["betweenness"] == 0 and row.get("in_degree", 1) == 0:
        source = row.get("central_member") or row["node"]
        out.append(f"betweenness counts paths *through* a node, and supply starts at {source} (no edge comes in), "
                   "so it scores 0 however much it supplies")
    share = row.get("capacity_share")
    if share is not None and not math.isnan(share) and share >= 0.5:
        out.append(f"it carries {share:.0%} of the {row['kind']} capacity over the window")
    if row.get("unfinished"):
        out.append(f"the job does not finish by the horizon in {row['unfinished']} of {rep.replications} replications")
    if not out:
        out.append("volumes and timing, which the graph does not see, make it binding")
    return out[:2]


def _placed(place: list[int], n: int) -> str:
    lo, hi = place
    return f"{_ord(lo)} of {n}" if lo == hi else f"joint {_ord(lo)}-{_ord(hi)} of {n} ({hi - lo + 1} tied)"


def disagreements(rep: ChokepointReport, s: Scenario, top: int = 3, min_gap: float = 2.0) -> list[str]:
    """Sentences on the node rows whose simulated and structural ranks differ most.

    Ranks are average ranks among node rows (ties share the mean of their places, as in Spearman's rho);
    a node is called out when they differ by at least *min_gap* places, the *top* largest first.
    """
    nodes = [r for r in rep.rows if r["betweenness_of"] == "node" and r.get("sim_rank_avg") is not None]
    n = len(nodes)
    gaps = sorted(nodes, key=lambda r: (-abs(r["sim_rank_avg"] - r["graph_rank_avg"]), r["target"]))
    out = []
    when = f"from {rep.since}" if rep.since > s.start else "from the start"
    how = "knocking it out" if rep.severity >= 1 else f"cutting {rep.severity:.0%} of its capacity"
    for r in gaps[:top]:
        gap = r["sim_rank_avg"] - r["graph_rank_avg"]
        if abs(gap) < min_gap:
            break
        name = r["target"]
        path = f", on every supply path to {rep.lab}" if r["on_every_path"] else ""
        graph = f"{_placed(r['graph_place'], n)} by betweenness ({r['betweenness']:.3f}{path})"
        sim = f"the simulation ranks it {_placed(r['sim_place'], n)}: {how} {when} {effect_phrase(rep, r)}"
        why = _because_low(rep, r, s) if gap > 0 else _because_high(rep, r, s)
        lead = "The graph ranks" if gap > 0 else "The graph ranks only" if r["betweenness"] == 0 else "The graph ranks"
        out.append(f"{lead} {name} {graph}; {sim}" + (f", because {'; and '.join(why)}." if why else "."))
    return out


def _notes(rep: ChokepointReport, s: Scenario) -> list[str]:
    notes = []
    if _is_finish(rep.kpi):
        notes.append("an unfinished job counts as finishing at the horizon "
                     f"(day {s.horizon_days:g}, {s.end}): a delay is censored there")
    if s.labs[rep.lab].initial_fleet:
        notes.append(f"{rep.lab} owns a fleet at the start, so the graph's 'on every supply path' test finds no "
                     "single node that cuts it off")
    merged = [r["target"] for r in rep.rows if len(r["targets"]) > 1]
    if merged:
        notes.append("rows with several targets are one counterfactual (their knock-outs coincide): "
                     + "; ".join(merged))
    noop = [r["target"] for r in rep.rows if r["noop"]]
    if noop:
        notes.append("nothing to lose in the window (impact 0 by construction): " + ", ".join(noop))
    if rep.since > s.start:
        notes.append(f"stock on hand at the start (vendor inventory, cloud fleets) is kept: the knock-out starts on "
                     f"{rep.since}; packagers' die banks and HBM stock are never removed")
    if 0 < rep.severity < 1:
        notes.append("at partial severity a step drawn from a distribution is split at the date and the part after "
                     "it drawn afresh, so common random numbers hold only approximately for that series")
    rho = rep.spearman.get("rho")
    if rho is not None and not (isinstance(rho, float) and math.isnan(rho)):
        sp = rep.spearman
        notes.append(f"Spearman's rho between simulated impact and betweenness: {rho:+.2f} "
                     f"(p = {sp['p_value']:.2g}, {sp['n']} nodes)")
        if max(sp["zero_impact"], sp["zero_betweenness"]) > sp["n"] / 2:
            notes.append(f"{sp['zero_impact']} of {sp['n']} nodes have exactly zero simulated impact and "
                         f"{sp['zero_betweenness']} zero betweenness: rho is carried by the few untied nodes, "
                         "read it with care")
    return notes


# ====================================================================== summaries for a page
def no_impact(rep: ChokepointReport, why: str | None = None) -> str | None:
    """``no impact: ...`` in words when no knock-out moves the KPI (every impact exactly 0), ``no detectable
    impact: ...`` when every 95 % interval includes 0; None when some knock-out matters.  *why* (a reason
    found elsewhere, e.g. the job starts on chips already held) is appended."""
    rows = [r for r in rep.rows if r.get("impact") is not None and not math.isnan(r["impact"])]
    if not rows:
        return None
    what, _unit = _kpi_words(rep)
    tail = f": {why}" if why else ""
    if all(r["impact"] == 0 for r in rows):
        return (f"no impact: none of the {len(rows)} knock-outs from {rep.since} moves {what} (every impact is "
                f"exactly 0 at R = {rep.replications})" + tail)

    def spans_zero(r: dict) -> bool:
        lo, hi = r.get("impact_ci_low"), r.get("impact_ci_high")
        return lo is not None and hi is not None and not math.isnan(lo) and lo <= 0 <= hi

    if all(spans_zero(r) for r in rows):
        return (f"no detectable impact: every 95 % interval of the {len(rows)} knock-outs from {rep.since} "
                f"includes 0 at R = {rep.replications} (more replications may separate them)" + tail)
    return None


def spearman_text(rep: ChokepointReport) -> str:
    """Spearman's rho between simulated impact and betweenness as text, or why it is undefined (never ``nan``)."""
    sp = rep.spearman
    rho = sp.get("rho")
    if rho is not None and not (isinstance(rho, float) and math.isnan(rho)):
        return f"{rho:+.2f} (p = {sp.get('p_value', math.nan):.2g}, {sp.get('n', 0)} nodes)"
    n = int(sp.get("n") or 0)
    if n < 3:
        return f"undefined: {n} node row(s) with a result, at least 3 are needed"
    if sp.get("zero_impact") == n:
        return f"undefined: every one of the {n} nodes has the same simulated impact (0), so there is no ranking to " \
               "correlate"
    if sp.get("zero_betweenness") == n:
        return f"undefined: every one of the {n} nodes has betweenness 0, so there is no ranking to correlate"
    return f"undefined: {sp.get('why_undefined') or 'one of the two rankings is constant'}"
