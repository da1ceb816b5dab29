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
charts are missing; nothing here raises for that.  Every statistic is :mod:`sim.experiments.estimate`'s:
a level or a paired difference is the mean over R replications with its 95 % t interval (clipped to the
KPI's range), and where the document shows spread across replications, the 10th to 90th percentiles;
dates are shown as months.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from sim.reports.briefing.model import (
    AUDIENCES,
    MAX_SWING_REPS,
    POLICY_VARIANT_SUFFIXES,
    REPO,
    BriefingData,
    BriefingError,
    Progress,
    Variant,
)
from sim.scenario.loader import ScenarioError, load_scenario
from sim.schema import Scenario


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


def read_source_urls() -> dict[str, str]:
    """Source ID -> its first URL, from the reference list (``shared/reference/facts.md``: ``- ID title — URL``)."""
    for c in (REPO.parent / "shared" / "reference" / "facts.md", REPO / "shared" / "reference" / "facts.md",
              REPO / "scenarios" / "reference" / "facts.md"):
        if c.is_file():
            out: dict[str, str] = {}
            for line in c.read_text(encoding="utf-8").splitlines():
                m = re.match(r"^- ([A-Z][A-Za-z0-9-]*) .*?(https?://[^\s;,)]+)", line.strip())
                if m:
                    out.setdefault(m.group(1), m.group(2).rstrip("."))
            return out
    return {}


def _shown(p: str | Path) -> str:
    p = Path(p).resolve()
    for base in (Path.cwd(), REPO):
        with contextlib.suppress(ValueError):
            return str(p.relative_to(base))
    return str(p)


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


def _run_variant(v: Variant, seeds: list[int], keep_fleet: bool, tick: Callable[[], None],
                 inputs: list | None = None) -> None:
    """Run *v* at *seeds*; with *inputs* (one list of posterior inputs per seed), run i takes inputs[i]."""
    from sim.results.simulation import Simulation

    for i, seed in enumerate(seeds):
        scenario = v.scenario
        if inputs is not None:
            from sim.experiments.posterior import scenario_with

            scenario, _ = scenario_with(v.scenario, inputs[i])
        r = Simulation(scenario, seed).run()
        v.seeds.append(seed)
        v.run_ids.append(r.run_id)
        v.kpis.append(dict(r.kpis))
        v.jobs.append(r.tables["jobs"])
        if keep_fleet and i == 0:
            v.fleet = r.tables["fleet"]
        tick()


def default_options(scenario_file: str | Path | None, audience: str) -> list[Path]:
    """The options a briefing compares, by audience (the files that exist are used).

    lab: the scenario's strategies, ``<stem>_only/_rent/_mix/_rent_no_remote.yaml`` (own Ascend, rent abroad, a mix,
    renting abroad with remote access closed); policy: renting abroad and renting with remote access closed (the
    remote-access ban as it bites a lab that rents: the mix rents nothing abroad, so a ban cannot reach it), then
    the library's tightening and loosening lever files in the scenario's folder (``remote_access_ban``,
    ``strict_enforcement``, ``hbm_squeeze``, ``diffusion_rule_kept``, ``h200_open``: see
    :data:`sim.experiments.options.POLICY_LEVERS`) laid on the baseline.
    """
    from sim.experiments import options as study

    if scenario_file is None:
        return []
    p = Path(scenario_file)
    if audience == "lab":
        return study.default_options(p, "lab")
    variants = [p.with_name(p.stem + suf + p.suffix) for suf in POLICY_VARIANT_SUFFIXES]
    return [f for f in variants if f.is_file()] + study.default_options(p, "policy")


def collect(
    target: str | Path | Scenario,
    audience: str = "policy",
    replications: int = 10,
    seed: int | None = None,
    options: Sequence[str | Path] | None = None,
    progress: Progress | None = None,
    scenario_file: str | Path | None = None,
    backtest: bool = True,
    posterior: str | Path | None = None,
) -> BriefingData:
    """Run or read what the briefing needs; see the module docstring.

    *target*: a scenario file (``.yaml``), a :class:`Scenario` (then *scenario_file*, if given, is where
    option files and SOURCES.md are looked for), an ``exportsim compare --json`` file, or a sweep store.
    *options*: option files (default for the lab audience: the scenario's ``_only/_rent/_mix/_rent_no_remote``
    siblings).  *posterior*: a calibration store; replication r of every variant then takes posterior draw r
    (:mod:`sim.experiments.posterior`).  Raises :class:`BriefingError` / :class:`ScenarioError` with one line
    per problem.
    """
    if audience not in AUDIENCES:
        raise BriefingError([f"--audience: must be policy or lab, got '{audience}'"])
    if replications < 1:
        raise BriefingError([f"--replications: must be at least 1, got {replications}"])
    if isinstance(target, Scenario):
        return _collect_scenario(target, str(scenario_file) if scenario_file else None, audience, replications, seed,
                                 options, progress, backtest, shown=target.name, posterior=posterior)
    p = Path(target)
    if not p.exists():
        raise BriefingError([f"{target}:1: -: no such file or directory"])
    if posterior is not None and (p.is_dir() or p.suffix.lower() == ".json"):
        raise BriefingError([f"--posterior: applies to a scenario target, not to {target} (its runs are made)"])
    if p.is_dir():
        if not (p / "sweep.json").is_file():
            raise BriefingError([f"{target}:1: -: a directory but not a sweep store (no sweep.json)"])
        return _collect_sweep(p, audience)
    if p.suffix.lower() == ".json":
        return _collect_compare(p, audience)
    if p.suffix.lower() not in (".yaml", ".yml"):
        raise BriefingError([f"{target}:1: -: not a scenario (.yaml), a compare result (.json) or a sweep store"])
    s = load_scenario(p)
    return _collect_scenario(s, str(p), audience, replications, seed, options, progress, backtest, shown=str(target),
                             posterior=posterior)


def _options_study(data: BriefingData, s: Scenario, file: str | None, opt_files: list[Path], audience: str,
                   replications: int, first: int) -> dict:
    """``exportsim options`` on the briefing's seeds (the same numbers), reusing the runs the briefing made."""
    from sim.experiments import options as study

    def key(sc: Scenario) -> str:
        return json.dumps(sc.model_dump(mode="json"), sort_keys=True)

    made: dict[tuple[str, int], study._Run] = {}
    for v in data.variants.values():
        k = key(v.scenario)
        for sd, kp, jobs in zip(v.seeds, v.kpis, v.jobs, strict=False):
            made[(k, sd)] = study._Run(dict(kp), {(r["lab"], r["job"]): r for r in jobs.to_dict("records")})

    def runner(sc: Scenario, sd: int) -> study._Run:
        return made.get((key(sc), sd)) or study._run(sc, sd)

    files = opt_files or study.default_options(file, audience)
    return study.options_study(s, file, files, replications, first, audience, runner=runner).to_dict()


def _collect_scenario(s: Scenario, file: str | None, audience: str, replications: int, seed: int | None,
                      options: Sequence[str | Path] | None, progress: Progress | None, backtest: bool,
                      shown: str, posterior: str | Path | None = None) -> BriefingData:
    from sim.experiments import options as study
    from sim.experiments.compare import without_rules

    first = s.seed if seed is None else int(seed)
    seeds = list(range(first, first + replications))
    lab, job = primary_job(s)
    data = BriefingData("scenario", shown, audience, s, file, replications, first, lab=lab, job=job)
    inputs = None
    if posterior is not None:
        data.posterior, inputs = _posterior_inputs(s, posterior, replications, first)
    opt_files = [Path(o) for o in options] if options else default_options(file, audience)
    built = study.build_options(s, file, opt_files)[2:]  # variants run as they are, levers laid on the baseline
    data.option_files = [str(f) for f in opt_files]
    swing_reps = seeds[:MAX_SWING_REPS]
    done = 0
    has_job = any(lab_.jobs for lab_ in s.labs.values())
    sens_runs = _sensitivity_runs(s, len(swing_reps)) if has_job and posterior is None else 0
    planned = (2 + len(built)) * replications + sens_runs

    def tick(label: str) -> Callable[[], None]:
        def f() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, planned, label)
        return f

    base = Variant("scenario", s.name, "scenario", s, file, job_key=job)
    cf = Variant("counterfactual", "without rules", "counterfactual", without_rules(s), None, job_key=job)
    _run_variant(base, seeds, True, tick("scenario"), inputs)
    _run_variant(cf, seeds, True, tick("counterfactual"), inputs)
    data.variants = {"scenario": base, "counterfactual": cf}
    for o in built:
        key = f"option:{o.key}"
        v = Variant(key, o.key, "option", o.scenario, o.file, job_key=_job_key_for(o.scenario, lab, job))
        _run_variant(v, seeds, False, tick(o.key), inputs)
        data.variants[key] = v
        data.options.append(key)
    if posterior is None and has_job:
        data.options_study = _options_study(data, s, file, opt_files, audience, replications, first)
        offset = done

        def sens_progress(d: int, _total: int, what: str) -> None:
            if progress is not None:
                progress(min(offset + d, planned), planned, f"tipping points: {what}")

        data.sensitivity = tipping_points(s, built, len(swing_reps), first, sens_progress, file)
        done = offset + sens_runs
    if backtest and file is not None:
        _collect_backtest(data, Path(file), min(replications, 5))
    else:
        data.backtest_note = "not run for this target"
    return data


#: The structural choices swung in both worlds (the scenario's own setting vs the alternatives), by name.
STRUCTURAL = ("allowed_chips", "cluster_size", "objective", "job_size")


def _structural_settings(s: Scenario, options: list, file: str | None = None) -> list[dict]:
    """Structural choices of the main job set in both worlds: {name, label, low, high, low_text, high_text}."""
    from sim.experiments import options as study

    lab, job = next(iter(study.main_jobs(s).items()))
    j = s.labs[lab].jobs[job]
    out: list[dict] = []
    def narrows(o) -> bool:
        return (o.kind == "variant" and lab in o.scenario.labs and job in o.scenario.labs[lab].jobs
                and bool(o.scenario.labs[lab].jobs[job].chips) and set(o.scenario.labs[lab].jobs[job].chips)
                != set(j.chips))

    cands = sorted((o for o in options if narrows(o)), key=lambda o: not o.key.endswith("_only"))
    if not any(o.key.endswith("_only") for o in cands) and file is not None:  # the scenario's own-chip variant
        only = Path(file).with_name(Path(file).stem + "_only" + Path(file).suffix)
        if only.is_file():
            with contextlib.suppress(ScenarioError):
                o = study.build_options(s, file, [only])[2]
                if narrows(o):
                    cands.insert(0, o)
    narrower = cands[0] if cands else None
    if narrower is not None:
        chips = list(narrower.scenario.labs[lab].jobs[job].chips)
        names = [(s.chips[c].name or c) if c in s.chips else c for c in chips]
        out.append({"name": "allowed_chips", "label": "chips the run may use", "low": None,
                    "high": {"chips": chips}, "low_text": "as in the scenario" if not j.chips else ", ".join(j.chips),
                    "high_text": ", ".join(names) + " only", "from": narrower.key})
    cs = j.cluster_size
    if cs.min != cs.max:
        out.append({"name": "cluster_size", "label": "cluster size", "low": {"cluster_size": {"min": cs.min,
                                                                                              "max": cs.min}},
                    "high": {"cluster_size": {"min": cs.max, "max": cs.max}}, "low_value": cs.min,
                    "high_value": cs.max, "unit": "chips"})
    other = "lowest_cost" if j.objective == "earliest_finish" else "earliest_finish"
    words = {"earliest_finish": "earliest finish", "lowest_cost": "lowest full cost"}
    out.append({"name": "objective", "label": "cost basis of the chip choice", "low": None,
                "high": {"objective": other}, "low_text": words[j.objective] + " (the scenario's)",
                "high_text": words[other]})
    size = j.flop if j.flop is not None else 6 * (j.params or 0) * (j.tokens or 0)
    if size > 0:
        out.append({"name": "job_size", "label": "compute target (job size)",
                    "low": {"flop": size * 0.3, "params": None, "tokens": None},
                    "high": {"flop": size * 4, "params": None, "tokens": None}, "low_value": size * 0.3,
                    "high_value": size * 4, "unit": "FLOP"})
    return out


def _sensitivity_runs(s: Scenario, reps: int) -> int:
    from sim.experiments import options as study

    lab, job = next(iter(study.main_jobs(s).items()))
    j = s.labs[lab].jobs[job]
    n_struct = 1 + (j.cluster_size.min != j.cluster_size.max) * 2 + 2 + 2  # at most
    return (1 + 2 * 6) * 2 * reps + n_struct * 2 * reps


def tipping_points(s: Scenario, options: list, reps: int, first: int, progress: Progress | None = None,
                   file: str | None = None) -> dict:
    """What moves the headline difference (the main job's finish, baseline minus no rules): the one-at-a-time
    sensitivity of the Answer page (:func:`sim.experiments.options.sensitivity`, each uncertain input at its 10th
    and 90th percentile in both worlds) plus structural choices of the job set in both worlds (the chips it may
    use, the cluster size, the cost basis it picks chips by, the compute target), on the first *reps* seeds."""
    from dataclasses import asdict

    from sim.experiments import options as study
    from sim.scenario.loader import scenario_from_dict

    head, swings = study.sensitivity(s, replications=reps, seed=first, progress=progress)
    lab, job = next(iter(study.main_jobs(s).items()))
    structural = []
    for st in _structural_settings(s, options, file):
        res = {}
        for end in ("low", "high"):
            change = st[end]
            if change is None:
                res[end] = head
                continue
            data = s.model_dump(by_alias=True, mode="json")
            target = data["labs"][lab]["jobs"][job]
            for k, v in change.items():
                if v is None:
                    target.pop(k, None)
                else:
                    target[k] = v
            varied = scenario_from_dict(data, file=f"{s.name} ({st['name']} {end})")
            res[end], _ = study.sensitivity(varied, inputs=[], replications=reps, seed=first)
        structural.append({k: v for k, v in st.items() if k not in ("low", "high")} | {"diff_low": res["low"],
                                                                                        "diff_high": res["high"]})
    return {"head": head, "swings": [asdict(w) for w in swings], "structural": structural, "replications": reps,
            "seeds": [first, first + reps - 1], "lab": lab, "job": job}


def _posterior_inputs(s: Scenario, store: str | Path, replications: int, first: int) -> tuple[dict, list]:
    """(what the briefing says about the posterior, the inputs of replication r = posterior draw r)."""
    from sim.experiments.calibration_report import summarise
    from sim.experiments.posterior import Posterior, PosteriorError, expand_path

    try:
        post = Posterior.load(store)
        rep = summarise(store)
    except PosteriorError as e:
        raise BriefingError([f"--posterior: {e}"]) from None
    draws = post.draws(replications, first)
    inputs = [post.inputs(d) for _, d in draws.iterrows()]
    dump = s.model_dump(by_alias=True)
    missing = []
    for name, p in post.parameters.items():
        try:
            expand_path(dump, p.path)
        except ValueError:
            missing.append(name)
    info = {"store": str(store), "name": post.name, "model": post.fingerprint,
            "model_now": rep["model_fingerprint_now"], "model_change": rep["model_change"],
            "cutoff": rep["cutoff"], "pinned": rep["pinned"],
            "at_prior": rep["at_prior"], "missing": missing,
            "inputs": post.names, "particles": len(post.particles), "ess": post.ess,
            "held_out": rep["coverage"]["held_out"]}
    return info, inputs


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


def _find_scenario(name: str, near: Path) -> tuple[Scenario | None, str | None]:
    for d in (near.parent, Path.cwd() / "scenarios", REPO / "scenarios"):
        p = d / f"{name}.yaml"
        if p.is_file():
            try:
                return load_scenario(p), str(p)
            except ScenarioError:
                return None, None
    return None, None


MAX_COMPARE_BYTES = 20_000_000  # a compare result is a few kB per hundred KPIs
_COMPARE_NUMBERS = ("base_mean", "counterfactual_mean", "diff_mean", "diff_ci_low", "diff_ci_high", "diff_p10",
                    "diff_p90")
_COMPARE_COUNTS = ("n_pairs", "base_missing", "counterfactual_missing")


def check_compare_payload(payload: object) -> list[tuple[str, str]]:
    """Problems of an ``exportsim compare --json`` result against its schema, as (JSON path, message), first few.

    The schema: an object with ``base`` and ``counterfactual`` (text), ``replications`` (an integer >= 1) and
    ``kpis`` (a non-empty list of objects, each with ``kpi`` (text) and the numbers of a paired comparison:
    ``base_mean``, ``counterfactual_mean``, ``diff_mean``, ``diff_ci_low``, ``diff_ci_high`` (numbers or null;
    ``diff_p10``/``diff_p90`` too when present) and counts ``n_pairs``, ``base_missing``,
    ``counterfactual_missing`` (integers >= 0, when present)).
    """
    def number(v: object) -> bool:
        return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))

    if not isinstance(payload, dict):
        return [("-", "must be a JSON object (the output of 'exportsim compare --json'), "
                      f"got {type(payload).__name__}")]
    out: list[tuple[str, str]] = []
    for key in ("base", "counterfactual"):
        if not isinstance(payload.get(key), str) or not payload[key].strip():
            out.append((key, "required text (a scenario name)"))
    reps = payload.get("replications")
    if not (isinstance(reps, int) and not isinstance(reps, bool) and reps >= 1):
        out.append(("replications", f"must be an integer >= 1, got {json.dumps(reps)[:40]}"))
    kpis = payload.get("kpis")
    if not isinstance(kpis, list) or not kpis:
        out.append(("kpis", "must be a non-empty list of KPI comparisons"))
        return out
    for i, row in enumerate(kpis):
        if not isinstance(row, dict):
            out.append((f"kpis.{i}", "must be an object"))
        elif not isinstance(row.get("kpi"), str) or not row["kpi"]:
            out.append((f"kpis.{i}.kpi", "required text (the KPI's name)"))
        else:
            for key in _COMPARE_NUMBERS:
                if (key in row or key in _COMPARE_NUMBERS[:5]) and not number(row.get(key)):
                    out.append((f"kpis.{i}.{key}", f"must be a number or null, got {json.dumps(row.get(key))[:40]}"))
            for key in _COMPARE_COUNTS:
                v = row.get(key, 0)
                if not (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
                    out.append((f"kpis.{i}.{key}", f"must be an integer >= 0, got {json.dumps(v)[:40]}"))
        if len(out) >= 5:
            break
    return out


def _collect_compare(p: Path, audience: str) -> BriefingData:
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_COMPARE_BYTES + 1)
        if len(raw) > MAX_COMPARE_BYTES:
            raise BriefingError([f"{p}:1: -: file is over {MAX_COMPARE_BYTES:,} bytes; a compare result is smaller"])
        payload = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise BriefingError([f"{p}:1: -: not a readable compare result: JSON nested too deeply"]) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BriefingError([f"{p}:1: -: not a readable compare result: {' '.join(str(e).split())}"]) from None
    problems = check_compare_payload(payload)
    if problems:
        raise BriefingError([f"{p}:1: {where}: {msg} (not an 'exportsim compare --json' result)"
                             for where, msg in problems])
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
