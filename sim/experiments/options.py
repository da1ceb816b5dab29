"""The options study: the core result of a scenario, one table every surface shows.

For a scenario (the baseline) it runs, on the same R seeds (common random numbers):

- the **baseline** itself;
- the **counterfactual without rules** (:func:`sim.experiments.compare.without_rules`);
- each **option**.  An option is a scenario file of one of two kinds:

  * a **variant** - a file that ``extends`` the baseline's file (directly or through other files), run as it
    is: ``bytedance_ascend_only/_rent/_mix/_rent_no_remote`` for the lab audience (own Ascend, rent abroad, mix,
    renting with remote access closed);
  * a **lever** - any other library file (``remote_access_ban``, ``strict_enforcement``, ``hbm_squeeze``,
    ``diffusion_rule_kept``, ``h200_open``): its own ``rules``, ``nodes``, ``edges``, ``clouds``,
    ``rental_streams`` and ``costs`` sections (with their includes, without its ``extends`` and its labs)
    are laid on top of the baseline, so the policy audience sees each tightening or loosening lever applied
    to this question's world.

Each lab's **main job** is paired across files whatever its name: the job of the same name if the option
has it, else the option's largest job of that lab (``llm`` in the baseline, ``llm_rent`` in the rent
variant).  For every option and lab the study reports, all from :mod:`sim.experiments.estimate`:

- the finish date (mean of the finish day, counted at the horizon when the job does not finish, with its
  95 % interval) as calendar dates;
- the mean paired difference against the baseline with its 95 % interval, and the share of seeds in
  which the option finishes strictly earlier (and the ties);
- the job's cost on the engine's full-cost basis (``job_cost_usd``: owned chips at price x (1 +
  networking share) / service life + financing + power for the hours used, plus rental bills);
- the chip the job ran on (the mode, and how many seeds ran on each chip) and the cluster size;
- the rules that take effect (or are rescinded) inside the job's window, in how many seeds;
- ``identical``: the option's KPIs equal the baseline's on every seed - it cannot differ by construction.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml

from sim.experiments import estimate, reach
from sim.experiments.compare import without_rules
from sim.scenario.loader import LoadProblem, ScenarioError, load_raw, load_scenario, scenario_from_dict
from sim.scenario.overrides import apply_overrides
from sim.scenario.paths import Assignment
from sim.schema import Scenario
from sim.units import day_to_date

#: Variant files beside a scenario offered to the lab audience: ``<stem><suffix>.yaml``.
LAB_SUFFIXES = ("_only", "_rent", "_mix", "_rent_no_remote")
#: Lever files in the scenario's folder offered to the policy audience (those that exist are used).
POLICY_LEVERS = ("remote_access_ban", "strict_enforcement", "hbm_squeeze", "diffusion_rule_kept", "h200_open")
#: Sections of a lever file laid on top of the baseline.
LEVER_SECTIONS = ("rules", "nodes", "edges", "clouds", "rental_streams", "costs", "country_groups", "entity_lists")
ESTIMATOR = ("mean over R replications with common random numbers (replication r of every world uses seed + r); "
             "95 % Student-t interval of the mean, clipped to the KPI's range; difference = mean of the paired "
             "differences option - baseline (sim.experiments.estimate); finish counted at the horizon when a job "
             "does not finish; cost = the engine's full cost (owned chips' amortised capex, financing and power, "
             "plus rental bills)")

Progress = Callable[[int, int, str], None]  # (runs done, runs planned, what is running)


@dataclass
class Option:
    """One world of the study: its key, label, kind (baseline | counterfactual | variant | lever), scenario."""

    key: str
    label: str
    kind: str
    scenario: Scenario
    file: str | None = None
    note: str = ""
    parent: str | None = None  # the key of the option (or "baseline") this variant's file extends, if compared


@dataclass
class OptionRow:
    """One option x lab: the main job's finish, difference, cost, chip and rules, over R seeds."""

    option: str
    label: str
    kind: str
    file: str | None
    note: str
    lab: str
    job: str | None
    finish_day: dict  # estimate.Estimate.to_dict() of the finish (or horizon) day
    finish_date: str | None  # the mean finish day as a date
    finish_date_low: str | None  # its 95 % interval as dates
    finish_date_high: str | None
    finished: int  # seeds in which the job finished before the horizon
    diff_days: dict | None  # paired difference option - baseline (days); None for the baseline itself
    p_earlier: float | None  # share of seeds in which the option finishes strictly earlier than the baseline
    p_tie: float | None  # share of seeds with the same finish day
    cost_usd: dict  # estimate of the job's full cost
    diff_cost_usd: dict | None
    chip_mode: str | None
    chip_counts: dict[str, int]
    cluster_chips: dict  # estimate of the cluster size (chips)
    rented_share: dict  # estimate of the share of the job's chip-hours rented
    rules_in_window: dict[str, int]  # "rule_id takes effect" / "rule_id rescinded" -> seeds
    vs_parent: dict | None  # a variant extending another option: {"option": its key, "diff_days": estimate}
    identical: bool  # every KPI equal to the baseline's on every seed: it cannot differ by construction
    job_unchanged: bool  # the main job's finish day and cost equal the baseline's on every seed
    why_same: str | None = None  # with job_unchanged: why the option's change cannot reach the run (reach.py)
    wait: dict | None = None  # the job could not start when ready: {"seeds", "seed", "day", "date", "reason"}
    finish_days: list[float] = field(default_factory=list)  # per seed (horizon when unfinished)


@dataclass
class OptionsStudy:
    """The result: the baseline's question, R, the seeds, and one row per option and lab."""

    scenario: str
    question: str
    file: str | None
    start: str
    horizon_day: float
    replications: int
    seeds: list[int]
    audience: str
    estimator: str
    rows: list[OptionRow]

    def to_dict(self) -> dict:
        """JSON-ready (NaN as None)."""
        return _clean(asdict(self))

    def row(self, option: str, lab: str | None = None) -> OptionRow:
        """The row of *option* (and *lab*; the first lab when None)."""
        for r in self.rows:
            if r.option == option and (lab is None or r.lab == lab):
                return r
        raise KeyError(option)


def _clean(x):
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


# ------------------------------------------------------------------------------------------ options
def _extends_chain(path: Path) -> list[Path]:
    """The files *path* extends, nearest first (resolved paths)."""
    out: list[Path] = []
    cur = path.resolve()
    for _ in range(32):
        try:
            data = yaml.safe_load(cur.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            break
        parent = data.get("extends") if isinstance(data, dict) else None
        if not isinstance(parent, str):
            break
        cur = (cur.parent / parent).resolve()
        if cur in out:
            break
        out.append(cur)
    return out


def is_variant_of(option_file: str | Path, scenario_file: str | Path | None) -> bool:
    """Whether *option_file* extends *scenario_file* (directly or through other files)."""
    if scenario_file is None:
        return False
    return Path(scenario_file).resolve() in _extends_chain(Path(option_file))


def default_options(scenario_file: str | Path | None, audience: str = "lab") -> list[Path]:
    """Option files for *audience*: lab - the ``_only/_rent/_mix/_rent_no_remote`` siblings; policy - the library's
    lever files in the same folder; all - both."""
    if scenario_file is None:
        return []
    p = Path(scenario_file)
    out: list[Path] = []
    if audience in ("lab", "all"):
        out += [p.with_name(p.stem + s + p.suffix) for s in LAB_SUFFIXES]
    if audience in ("policy", "all"):
        out += [p.with_name(n + p.suffix) for n in POLICY_LEVERS]
    return [f for f in out if f.is_file() and f.resolve() != p.resolve()]


def _replace_whole(v) -> bool:
    """A quantity (a distribution or a sourced constant) replaces, it does not merge field by field."""
    return isinstance(v, dict) and ("dist" in v or "value" in v)


def _overlay(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict) and not _replace_whole(v):
            out[k] = _overlay(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def lever_sections(path: str | Path) -> dict:
    """What a lever file changes: its own sections (:data:`LEVER_SECTIONS`) with its includes, not its extends."""
    p = Path(path)
    try:
        own = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise ScenarioError([LoadProblem(str(p), 1, "", f"cannot read: {e.strerror or e}")]) from None
    merged: dict = {}
    inc = own.get("include") or []
    for f in [inc] if isinstance(inc, str) else inc:
        data, _ = load_raw(p.parent / f)
        merged = _overlay(merged, {k: v for k, v in data.items() if k in LEVER_SECTIONS})
    return _overlay(merged, {k: v for k, v in own.items() if k in LEVER_SECTIONS})


def apply_lever(s: Scenario, path: str | Path) -> Scenario:
    """The baseline *s* with a lever file's sections laid on top (see the module docstring)."""
    data = s.model_dump(by_alias=True, mode="json")
    data = _overlay(data, _jsonable(lever_sections(path)))
    data["name"] = f"{s.name} + {Path(path).stem}"
    return scenario_from_dict(data, file=f"{s.name} + {path}")


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_jsonable(v) for v in x]
    if isinstance(x, dt.date):
        return x.isoformat()
    return x


def build_options(base: Scenario, scenario_file: str | Path | None, option_files: Sequence[str | Path]) -> list[Option]:
    """Baseline, counterfactual without rules, and one :class:`Option` per file (variant or lever)."""
    shown = str(scenario_file) if scenario_file else None
    opts = [Option("baseline", f"baseline ({base.name})", "baseline", base, shown),
            Option("no_rules", "counterfactual: no rules", "counterfactual", without_rules(base))]
    seen = {"baseline", "no_rules"}
    for f in option_files:
        p = Path(f)
        key = p.stem
        while key in seen:
            key += "'"
        seen.add(key)
        if is_variant_of(p, scenario_file):
            o = load_scenario(p)
            chain = _extends_chain(p)
            opts.append(Option(key, o.name, "variant", o, str(p), _first_sentence(o.question),
                               parent=str(chain[0]) if chain else None))
        else:
            o = apply_lever(base, p)
            try:
                q = load_scenario(p).question
            except ScenarioError:
                q = ""
            opts.append(Option(key, p.stem, "lever", o, str(p),
                               "lever on the baseline: " + ", ".join(sorted(lever_sections(p))) + " from " + p.name
                               + (f" ({_first_sentence(q)})" if q else "")))
    by_file = {Path(x.file).resolve(): x.key for x in opts if x.file}
    for x in opts:
        if x.parent is not None:
            parent = by_file.get(Path(x.parent).resolve())
            x.parent = None if parent == "baseline" else parent
    return opts


def _first_sentence(text: str) -> str:
    text = " ".join((text or "").split())
    return text.split("? ")[0].split(". ")[0][:200]


# ------------------------------------------------------------------------------------------- jobs
def _job_size(j) -> float:
    return j.flop if j.flop is not None else 6 * (j.params or 0) * (j.tokens or 0)


def main_jobs(s: Scenario) -> dict[str, str]:
    """{lab: its main job} for every lab with jobs: the largest by compute (first in file order on a tie)."""
    return {lid: max(lab.jobs, key=lambda k: _job_size(lab.jobs[k])) for lid, lab in s.labs.items() if lab.jobs}


def paired_job(s: Scenario, lab: str, job: str) -> str | None:
    """The job of *s* paired with the baseline's *lab*/*job*: the same name, else the lab's main job."""
    if lab not in s.labs or not s.labs[lab].jobs:
        return None
    return job if job in s.labs[lab].jobs else main_jobs(s)[lab]


@dataclass
class _Run:
    kpis: dict
    jobs: dict  # (lab, job) -> jobs-table record


def _run(s: Scenario, seed: int) -> _Run:
    from sim.results.simulation import Simulation

    r = Simulation(s, seed).run()
    jobs = {(rec["lab"], rec["job"]): rec for rec in r.tables["jobs"].to_dict("records")}
    return _Run(dict(r.kpis), jobs)


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k, x in a.items():
        y = b[k]
        if not (x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))):
            return False
    return True


def _job_figures(rs: Sequence[_Run], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: the job's finish day (the horizon when unfinished) and its full cost."""
    return (np.array([r.kpis.get(f"job_finish_or_horizon_day[{key}]", math.nan) for r in rs]),
            np.array([r.kpis.get(f"job_cost_usd[{key}]", math.nan) for r in rs]))


def _first_wait(base: Scenario, recs: list, seeds: list[int]) -> dict | None:
    """In how many seeds the job recorded a ``job_wait`` (it could not start or resume when ready), and the first
    such seed's first reason and date (the engine's words: ``training.assemble``) and whether it was *blocked*
    (nothing could start the job, rather than a choice to wait for chips on order); None when it never waited."""
    waited = [(sd, rec) for sd, rec in zip(seeds, recs, strict=True)
              if rec and isinstance(rec.get("first_wait"), str) and rec["first_wait"]]  # a missing one reads NaN
    if not waited:
        return None
    from sim.engine.mechanisms.training import NO_OPTION

    sd, rec = waited[0]
    day = float(rec["first_wait_day"])
    reason = str(rec["first_wait"])
    return {"seeds": len(waited), "seed": sd, "day": day, "date": _date(base, day), "reason": reason,
            "blocked": reason.startswith(NO_OPTION)}


def _why_same(ref: Option, o: Option, ref_runs: Sequence[_Run], lab: str, job: str | None, fin, cost,
              ref_fin, ref_cost) -> str | None:
    """Why *o* equals *ref* for the job on every seed (:func:`reach.why_same`); None when it does not, or when
    the reason cannot be named."""
    if job is None or not (np.array_equal(fin, ref_fin, equal_nan=True)
                           and np.array_equal(cost, ref_cost, equal_nan=True)):
        return None
    key = f"{lab}/{job}"
    rented = [r.kpis.get(f"job_rented_share[{key}]", math.nan) for r in ref_runs]
    name = "the baseline" if ref.key == "baseline" else "that option"
    return reach.why_same(ref.scenario, o.scenario, name, rented, [float(x) for x in ref_fin])


def _rules_in_window(s: Scenario, start: float, end: float) -> list[str]:
    out = []
    for rid, rule in s.rules.items():
        eff = s.day_of(rule.effective) + rule.exemptions.grace_days
        if rule.rescinded is not None and rule.rescinded <= rule.effective:
            continue  # withdrawn before it bit
        if start <= eff <= end:
            out.append(f"{rid} takes effect")
        if rule.rescinded is not None and start <= s.day_of(rule.rescinded) <= end:
            out.append(f"{rid} rescinded")
    return out


def _date(s: Scenario, day: float) -> str | None:
    d = day_to_date(s.start, day)
    return d.isoformat() if d is not None else None


# ------------------------------------------------------------------------------------------ study
def options_study(
    scenario: Scenario,
    scenario_file: str | Path | None = None,
    option_files: Sequence[str | Path] | None = None,
    replications: int = 10,
    seed: int | None = None,
    audience: str = "lab",
    progress: Progress | None = None,
    runner: Callable[[Scenario, int], _Run] | None = None,
) -> OptionsStudy:
    """Run the study (see the module docstring).  *option_files* None: :func:`default_options` for *audience*."""
    files = list(option_files) if option_files is not None else default_options(scenario_file, audience)
    opts = build_options(scenario, scenario_file, files)
    first = scenario.seed if seed is None else int(seed)
    seeds = [first + r for r in range(int(replications))]
    run = runner or _run
    runs: dict[str, list[_Run]] = {}
    total, done = len(opts) * len(seeds), 0
    for o in opts:
        runs[o.key] = []
        for sd in seeds:
            runs[o.key].append(run(o.scenario, sd))
            done += 1
            if progress is not None:
                progress(done, total, o.label)
    base = opts[0].scenario
    horizon = float(base.horizon_days)
    rows: list[OptionRow] = []
    for lab, job in main_jobs(base).items():
        base_key = f"{lab}/{job}"
        b_finish, b_cost = _job_figures(runs["baseline"], base_key)
        for o in opts:
            ojob = paired_job(o.scenario, lab, job)
            if ojob is None:
                continue
            k = f"{lab}/{ojob}"
            rs = runs[o.key]
            fin, cost = _job_figures(rs, k)
            finished = int(sum(r.kpis.get(f"job_finished[{k}]", 0) == 1 for r in rs))
            lvl = estimate.level(fin, "job_finish_or_horizon_day")
            recs = [r.jobs.get((lab, ojob)) for r in rs]
            ran = [rec if rec and rec.get("chip") and (rec.get("chips") or 0) > 0 else None for rec in recs]
            chips = Counter(str(rec["chip"]) if rec else "none" for rec in ran)  # a job that never got chips: none
            windows: Counter = Counter()
            for rec, f in zip(recs, fin, strict=True):
                if rec and rec.get("start_day") == rec.get("start_day") and rec.get("start_day") is not None:
                    windows.update(_rules_in_window(o.scenario, float(rec["start_day"]), float(f)))
            is_base = o.key == "baseline"
            d = None if is_base else estimate.paired(fin, b_finish, "job_finish_or_horizon_day")
            dc = None if is_base else estimate.paired(cost, b_cost, "job_cost_usd")
            vs_parent = None
            if o.parent is not None:
                parent = next(x for x in opts if x.key == o.parent)
                pj = paired_job(parent.scenario, lab, job)
                p_fin, p_cost = _job_figures(runs[o.parent], f"{lab}/{pj}")
                vs_parent = {"option": o.parent,
                             "diff_days": estimate.paired(fin, p_fin, "job_finish_or_horizon_day").to_dict(),
                             "why_same": _why_same(parent, o, runs[o.parent], lab, pj, fin, cost, p_fin, p_cost)}
            valid = ~(np.isnan(fin) | np.isnan(b_finish))
            n = int(valid.sum())
            rows.append(OptionRow(
                option=o.key, label=o.label, kind=o.kind, file=o.file, note=o.note, lab=lab, job=ojob,
                finish_day=lvl.to_dict(), finish_date=_date(base, lvl.mean), finish_date_low=_date(base, lvl.ci_low),
                finish_date_high=_date(base, lvl.ci_high), finished=finished,
                diff_days=None if d is None else d.to_dict(),
                p_earlier=None if is_base or n == 0 else float((fin[valid] < b_finish[valid]).sum() / n),
                p_tie=None if is_base or n == 0 else float((fin[valid] == b_finish[valid]).sum() / n),
                cost_usd=estimate.level(cost, "job_cost_usd").to_dict(),
                diff_cost_usd=None if dc is None else dc.to_dict(),
                chip_mode=chips.most_common(1)[0][0] if chips else None,
                chip_counts=dict(chips.most_common()),
                cluster_chips=estimate.level([float(rec["chips"]) if rec else math.nan for rec in ran],
                                             "chips_units").to_dict(),
                rented_share=estimate.level([r.kpis.get(f"job_rented_share[{k}]", math.nan) for r in rs],
                                            "job_rented_share").to_dict(),
                rules_in_window=dict(sorted(windows.items(), key=lambda kv: (-kv[1], kv[0]))),
                vs_parent=vs_parent,
                identical=(not is_base)
                and all(_same(a.kpis, b.kpis) for a, b in zip(rs, runs["baseline"], strict=True)),
                job_unchanged=(not is_base) and bool(np.array_equal(fin, b_finish, equal_nan=True)
                                                     and np.array_equal(cost, b_cost, equal_nan=True)),
                why_same=None if is_base else _why_same(opts[0], o, runs["baseline"], lab, job, fin, cost,
                                                        b_finish, b_cost),
                wait=_first_wait(base, recs, seeds),
                finish_days=[float(x) for x in fin],
            ))
    return OptionsStudy(scenario.name, scenario.question, str(scenario_file) if scenario_file else None,
                        scenario.start.isoformat(), horizon, int(replications), seeds, audience, ESTIMATOR, rows)


__all__ = ["ESTIMATOR", "LAB_SUFFIXES", "POLICY_LEVERS", "Option", "OptionRow", "OptionsStudy", "Swing", "apply_lever",
           "build_options", "default_options", "is_variant_of", "lever_sections", "main_jobs", "options_study",
           "paired_job", "sensitivity", "swing_inputs"]


# ------------------------------------------------------------------------------------ sensitivity
@dataclass
class Swing:
    """One uncertain input set to a low and a high quantile in both worlds: the headline difference at each."""

    path: str  # the input, as a dotted path without series indices
    members: list[str]  # every dotted path set (all steps of a series)
    low_q: float
    high_q: float
    low_value: float  # the input at the low quantile (the first member)
    high_value: float
    diff_low: dict  # estimate of the paired difference baseline - counterfactual at the low quantile
    diff_high: dict
    flips: bool  # the mean difference changes sign at either end


def swing_inputs(s: Scenario, lab: str, job: str, chips: Sequence[str] = (),
                 limit: int = 6) -> list[tuple[str, list[str]]]:
    """The uncertain inputs nearest the job: its own settings for *chips* (the chips it runs on in each world),
    then those chips' figures and supply, the grey channel, the lab's budget (a series' steps grouped), at most
    *limit*, alternating between the chips so each world's chip gets its inputs."""
    from sim.scenario.quantities import iter_distributions

    dump = s.model_dump(by_alias=True, mode="json")
    groups: dict[str, list[str]] = {}
    for path, _ in iter_distributions(dump):
        key = ".".join(x for x in path.split(".") if not x.isdigit()).removesuffix(".value")
        groups.setdefault(key, []).append(path)

    def score(key: str) -> int:
        segs = key.split(".")
        if key.startswith(f"labs.{lab}.jobs.{job}."):
            return 4 if not chips or set(chips) & set(segs) or not (set(segs) & set(dump.get("chips", {}))) else 0
        if segs[0] == "nodes" and "grey" in segs:
            return 2
        if set(chips) & set(segs) and segs[0] in ("chips", "nodes"):
            return 3
        if key.startswith(f"labs.{lab}.budget"):
            return 1
        return 0

    ranked = [k for k in sorted(groups, key=lambda k: -score(k)) if score(k) > 0]
    return [(k, groups[k]) for k in ranked[:limit]]


def sensitivity(base: Scenario, counterfactual: Scenario | None = None,
                inputs: list[tuple[str, list[str]]] | None = None,
                replications: int = 5, seed: int | None = None, quantiles: tuple[float, float] = (0.1, 0.9),
                progress: Progress | None = None) -> tuple[dict, list[Swing]]:
    """One at a time: each input at its low and high quantile in both worlds (baseline and, by default, the world
    without rules), the headline difference in the main job's finish day (baseline - counterfactual) at each.

    Returns (the headline difference at the scenario's own distributions, the swings, largest first).
    """
    from sim.scenario.paths import get_path
    from sim.scenario.quantities import ppf

    cf_of = (lambda s: without_rules(s)) if counterfactual is None else (lambda s: counterfactual)
    lab, job = next(iter(main_jobs(base).items()))
    first = base.seed if seed is None else int(seed)
    seeds = [first + r for r in range(int(replications))]
    kpi = f"job_finish_or_horizon_day[{lab}/{job}]"

    def diff(s: Scenario, c: Scenario) -> estimate.Estimate:
        a = [_run(s, sd).kpis.get(kpi, math.nan) for sd in seeds]
        b = [_run(c, sd).kpis.get(f"job_finish_or_horizon_day[{lab}/{paired_job(c, lab, job)}]", math.nan)
             for sd in seeds]
        return estimate.paired(a, b, "job_finish_or_horizon_day")

    if inputs is None:
        cf0 = cf_of(base)
        used = [str(_run(base, seeds[0]).jobs.get((lab, job), {}).get("chip")),
                str(_run(cf0, seeds[0]).jobs.get((lab, paired_job(cf0, lab, job)), {}).get("chip"))]
        inputs = swing_inputs(base, lab, job, list(dict.fromkeys(used)))
    total = (1 + 2 * len(inputs)) * 2 * len(seeds)
    done = 0

    def tick(what: str) -> None:
        nonlocal done
        done += 2 * len(seeds)
        if progress is not None:
            progress(done, total, what)

    head = diff(base, cf_of(base))
    tick("headline")
    data0 = base.model_dump(by_alias=True, mode="json")
    out: list[Swing] = []
    for key, members in inputs:
        res, vals = [], []
        for q in quantiles:
            first_value = math.nan
            assigns = []
            for path in members:
                d = get_path(data0, path)
                v = ppf(d, q)
                first_value = v if math.isnan(first_value) else first_value
                assigns.append((path, {"dist": "constant", "value": v, "source": d.get("source") or []}))
            s_q = apply_overrides(base, assigns)  # only the touched entries re-validated
            res.append(diff(s_q, cf_of(s_q) if counterfactual is None else _with(counterfactual, assigns)))
            vals.append(first_value)
            tick(key)
        sign = math.copysign(1, head.mean) if head.mean else 0
        flips = any(e.mean == e.mean and sign and math.copysign(1, e.mean) != sign for e in res)
        out.append(Swing(key, members, quantiles[0], quantiles[1], vals[0], vals[1], res[0].to_dict(), res[1].to_dict(),
                         flips))
    out.sort(key=lambda w: -abs((w.diff_high["mean"] or 0) - (w.diff_low["mean"] or 0)))
    return head.to_dict(), out


def _with(c: Scenario, assigns: list[Assignment]) -> Scenario:
    """*c* with the inputs of *assigns* set where *c* has them (the same quantile in both worlds)."""
    from sim.scenario.paths import has_path

    cd = c.model_dump(by_alias=True, mode="json")
    return apply_overrides(c, [(path, v) for path, v in assigns if has_path(cd, path)])
