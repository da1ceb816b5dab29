"""What a briefing says: its sections as blocks of text parts and facts, for each kind of target.

Each ``build_*`` function takes :class:`~sim.reports.briefing.model.BriefingData` and a
:class:`~sim.reports.briefing.model.Ledger` and returns ``(context, charts)``. The context holds ``title``,
``subtitle`` and ``sections``: a list of ``{"id", "title", "blocks"}``; a block is a dict with ``type``
``para`` (``parts``), ``list`` (``items``: lists of parts), ``table`` (``header``, ``rows`` of cells, each a
list of parts, ``note``), ``chart`` (``name``) or ``code`` (``fact``). A part is a plain string (template
text: it never holds a digit) or a :class:`~sim.reports.briefing.model.Fact` (every number and every text
taken from a scenario or source list). The templates only lay these out, so Markdown, HTML and PDF say the
same thing."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from sim.reports.briefing.collect import _shown, read_sources
from sim.reports.briefing.model import (
    CONFIDENCE_PCT,
    SPREAD_PCT,
    BriefingData,
    Chart,
    Fact,
    Ledger,
    Variant,
    _stat,
)

SECTION_TITLES = {
    "question": "The question",
    "answer": "The answer",
    "key_figures": "Key figures",
    "drivers": "What drives the result",
    "options": "Options compared",
    "assumptions": "Assumptions and sources",
    "caveats": "Caveats and what would change the conclusion",
    "reproduce": "Reproduce",
}

#: Sections only a scenario target with a training job has.
OPTIONAL_TITLES = {"options_study": "Options on the same seeds"}


# ===================================================================================== blocks
def para(*parts: Any) -> dict:
    return {"type": "para", "parts": [p for p in parts if p is not None and p != ""]}


def bullets(items: list[list], style: str = "") -> dict:
    return {"type": "list", "items": [[p for p in it if p is not None and p != ""] for it in items], "style": style}


def table(header: list, rows: list[list], note: list | None = None) -> dict:
    return {"type": "table", "header": [_cell(h) for h in header], "rows": [[_cell(c) for c in r] for r in rows],
            "note": note or []}


def chart(name: str) -> dict:
    return {"type": "chart", "name": name}


def code(fact: Fact) -> dict:
    return {"type": "code", "fact": fact}


def _cell(c: Any) -> list:
    if c is None:
        return ["–"]
    return c if isinstance(c, list) else [c]


def section(sid: str, blocks: list[dict]) -> dict:
    return {"id": sid, "title": SECTION_TITLES.get(sid) or OPTIONAL_TITLES[sid], "blocks": [b for b in blocks if b]}


# ===================================================================================== KPI formats
def kpi_formats(kpi: str) -> tuple[str, str, bool]:
    """(level format, difference format, censor unfinished at the horizon) for a KPI name."""
    if "_day[" in kpi or kpi.startswith("first_day_"):
        return "month", "months+", kpi.startswith("job_finish_day")
    if "_usd" in kpi:
        return "usd", "usd+", False
    if "share[" in kpi or kpi.startswith("job_finished["):
        return "share", "pp+", False
    if "eflops" in kpi:
        return "eflops", "eflops+", False
    if "units" in kpi or "failures" in kpi or "denied" in kpi or kpi.startswith("rentals_refused"):
        return "count", "count+", False
    return "number", "number+", False


KPI_LABELS = {
    "job_finish_day": "Training run finishes",
    "job_start_day": "Training run starts",
    "job_cost_usd": "Cost of the training run",
    "job_failures": "Failures during the run",
    "job_rented_share": "Share of the cluster rented",
    "compute_eflops_end": "Installed compute at the end",
    "domestic_share": "Domestic share of compute",
    "fleet_units_end": "Accelerators installed at the end",
    "blocked_units": "Chips denied by the rules",
    "grey_units": "Chips through the grey channel",
    "seized_units": "Grey chips seized",
    "vendor_revenue_lost_usd": "Vendor revenue lost to denials",
    "fees_paid_usd": "Export fees paid",
    "hbm_denied": "HBM stacks denied",
    "stockpiled_units": "Chips stockpiled ahead of rules",
}


def kpi_label(L: Ledger, kpi: str) -> Fact:
    base, _, key = kpi.partition("[")
    text = KPI_LABELS.get(base, base.replace("_", " "))
    if key:
        text += f" ({key.rstrip(']')})"
    return L.text(f"label.{kpi}", text, "label", what="KPI label")


# ===================================================================================== helpers
LEVEL = ("mean", "ci_low", "ci_high", "p10", "p90")  # the estimate, its 95 % interval, the 10/90 % spread


class Stats:
    """A KPI's level over one variant's runs, as facts: the mean, its 95 % interval, the 10/90 % spread.

    The statistics are :mod:`sim.experiments.estimate`'s (the interval is clipped to the KPI's range); *stats*
    picks which become facts (a sentence that prints only the mean asks for ``("mean",)``).
    """

    mean: Fact
    ci_low: Fact
    ci_high: Fact
    p10: Fact
    p90: Fact

    def __init__(self, L: Ledger, name: str, v: Variant, kpi: str | None, fmt: str, censor: float | None = None,
                 stats=LEVEL):
        self.kpi = kpi
        for st in stats:
            setattr(self, st, L.add(f"{name}.{st}", _stat(v.values(kpi or "", censor), st, kpi), fmt, "run",
                                    variant=v.key, kpi=kpi, stat=st, censor=censor, seeds=_seed_range(v),
                                    runs=len(v.kpis)))

    def cell(self) -> list:
        """``mean (low to high)``: the mean and its 95 % interval (the mean alone when they print the same)."""
        return _cell_with_interval(self)

    def interval(self, L: Ledger, lead: str = " (", short: bool = False) -> list:
        """`` (95 % interval A to B)``, or `` (the same in every replication)``; *short*: `` (A to B)`` or nothing."""
        if self.p10.text == self.p90.text:
            return [] if short else [lead, "the same in every replication)"]
        if _no_interval(self):
            return []
        if short:
            return [lead, self.ci_low, " to ", self.ci_high, ")"]
        return [lead, _interval(L), " % interval ", self.ci_low, " to ", self.ci_high, ")"]


class Paired:
    """The paired (same seed) difference a − b of a KPI, as facts: mean, its 95 % interval, the 10/90 % spread."""

    mean: Fact
    ci_low: Fact
    ci_high: Fact
    p10: Fact
    p90: Fact
    abs: Fact

    def __init__(self, L: Ledger, name: str, a: Variant, b: Variant, kpi_a: str, kpi_b: str, fmt: str,
                 censor: float | None = None, stats=LEVEL, abs_fmt: str | None = None):
        n = min(len(a.kpis), len(b.kpis))
        diffs = np.array(a.values(kpi_a, censor)[:n]) - np.array(b.values(kpi_b, censor)[:n])
        for st in stats:
            setattr(self, st, L.add(f"{name}.{st}", _stat(diffs, st, kpi_a, paired=True), fmt, "paired", variant=a.key,
                                    minus=b.key, kpi=kpi_a, minus_kpi=kpi_b, stat=st, censor=censor,
                                    seeds=_seed_range(a), runs=n))
        self.value = _stat(diffs, "mean")
        if abs_fmt is not None:
            self.abs = L.add(f"{name}.mean_abs", self.value, abs_fmt, "paired", variant=a.key, minus=b.key,
                             kpi=kpi_a, minus_kpi=kpi_b, stat="mean", censor=censor, seeds=_seed_range(a), runs=n)

    def cell(self, unit: str = "") -> list:
        """``mean unit (low to high)``: the mean difference and its 95 % interval."""
        return _cell_with_interval(self, unit)

    def spread(self, L: Ledger, unit: str = "") -> list:
        """`` (10–90 % of paired replications: A to B unit)``, or nothing when every pair gives the same."""
        if self.p10.text == self.p90.text:
            return []
        lo, hi = _spread(L)
        return [" (", lo, "–", hi, " % of paired replications: ", self.p10, " to ", self.p90, unit, ")"]


def _no_interval(st: Stats | Paired) -> bool:
    return not hasattr(st, "ci_low") or not math.isfinite(st.ci_low.value if st.ci_low.value is not None else math.nan)


def _cell_with_interval(st: Stats | Paired, unit: str = "") -> list:
    if _no_interval(st) or st.ci_low.text == st.ci_high.text == st.mean.text:
        return [st.mean, unit] if unit else [st.mean]
    return [st.mean, unit, " (", st.ci_low, " to ", st.ci_high, ")"] if unit else \
        [st.mean, " (", st.ci_low, " to ", st.ci_high, ")"]


def _seed_range(v: Variant) -> list[int]:
    return [v.seeds[0], v.seeds[-1]] if v.seeds else []



# ===================================================================================== scenario target


def _interval(L: Ledger) -> Fact:
    """The confidence level of every interval of a mean, % (a fact)."""
    if "setting.interval" not in L.facts:
        L.add("setting.interval", CONFIDENCE_PCT, "int", "setting", what="confidence level of intervals of a mean, %")
    return L.facts["setting.interval"]


def _spread(L: Ledger) -> tuple[Fact, Fact]:
    """The percentiles shown as spread across replications (facts)."""
    if "setting.spread_low" not in L.facts:
        L.add("setting.spread_low", SPREAD_PCT[0], "int", "setting", what="low percentile of the spread")
        L.add("setting.spread_high", SPREAD_PCT[1], "int", "setting", what="high percentile of the spread")
    return L.facts["setting.spread_low"], L.facts["setting.spread_high"]




KEY_KPIS_JOB = ["job_finish_day", "job_start_day", "job_cost_usd", "job_failures", "job_rented_share"]
KEY_KPIS_LAB = ["compute_eflops_end", "domestic_share", "fleet_units_end"]
KEY_KPIS_WORLD = ["blocked_units", "grey_units", "seized_units", "vendor_revenue_lost_usd", "fees_paid_usd"]






def _file(p: str | None) -> str:
    return _shown(p) if p is not None else "–"



def _posterior_sentence(data: BriefingData, L: Ledger) -> list:
    """The answer's note that its inputs come from a calibrated posterior, and what the data pinned."""
    pst = data.posterior or {}

    def names(key: str, items: list[str]) -> Any:
        return L.text(f"posterior.{key}", ", ".join(items) if items else "none", "posterior", what=key,
                      store=pst.get("store"))

    out: list = ["On the calibrated posterior: the inputs ", names("inputs", pst.get("inputs", [])),
                 " are drawn from the posterior of calibration ", L.text("posterior.name", pst.get("name", ""),
                                                                          "posterior", what="calibration",
                                                                          store=pst.get("store")),
                 " (fitted to published figures up to ", L.text("posterior.cutoff", str(pst.get("cutoff")), "posterior",
                                                                what="cut-off", store=pst.get("store")),
                 "; replication r takes posterior draw r in every world). Pinned down by the data: ",
                 names("pinned", pst.get("pinned", [])), "; still at the prior (the data say nothing about them): ",
                 names("at_prior", pst.get("at_prior", [])), "."]
    held = pst.get("held_out") or {}
    if held.get("n"):
        out += [" Out of sample, its 80 % predictive intervals meet ",
                L.add("posterior.held_out_80", float(held["covered_80"]), "int", "posterior", what="held-out covered",
                      store=pst.get("store")), " of ",
                L.add("posterior.held_out_n", float(held["n"]), "int", "posterior", what="held-out observables",
                      store=pst.get("store")), " held-out published figures."]
    if pst.get("missing"):
        out += [" Not in this scenario, so not applied: ", names("missing", pst["missing"]), "."]
    change = pst.get("model_change", None if pst.get("model") == pst.get("model_now") else "version")
    if change is not None:
        fitted = L.text("posterior.model", str(pst.get("model")), "posterior", what="model", store=pst.get("store"))
        out += [" The posterior was fitted under model ", fitted,
                (": the engine's source has changed since, not its model version (the golden runs are unchanged), "
                 "so the fit is expected to hold." if change == "source"
                 else ", not the current one: recalibrate before relying on it.")]
    return out




# ===================================================================================== compare result
def build_compare(data: BriefingData, L: Ledger) -> tuple[dict, list[Chart]]:
    from sim.reports import plots

    p = data.compare_payload
    assert p is not None, "a compare briefing holds its payload"
    s = data.scenario
    rows_all = p["kpis"]
    R = L.add("setting.replications", float(p.get("replications") or 0), "int", "compare_meta",
              what="replications in the compare result")
    src = data.target
    doc_title = L.text("compare.title", f"{p['base']} against {p['counterfactual']}", "compare_text", file=src,
                       what="base and counterfactual names")
    if s is not None:
        question = L.text("scenario.question", s.question, scenario=s.name, path="question")
    else:
        question = L.text("compare.question", f"What does {p['base']} change against {p['counterfactual']}?",
                          "compare_text", file=src, what="names")

    def facts_for(row: dict) -> dict:
        kpi = row["kpi"]
        lvl, dif, _ = kpi_formats(kpi)
        if s is None and lvl == "month":
            lvl, dif = "number", "number+"
        unit = " months" if dif == "months+" else " days" if "_day" in kpi and s is None else ""
        out: dict[str, Any] = {"unit": unit}
        for fld, fmt in (("base_mean", lvl), ("counterfactual_mean", lvl), ("diff_mean", dif), ("diff_ci_low", dif),
                         ("diff_ci_high", dif), ("diff_p10", dif), ("diff_p90", dif)):
            if fld not in row:  # a result saved before the spread was reported
                continue
            v = row.get(fld)
            out[fld] = L.add(f"compare.{kpi}.{fld}", math.nan if v is None else float(v), fmt, "compare", file=src,
                             kpi=kpi, field=fld)
        return out

    order = [*KEY_KPIS_JOB, *KEY_KPIS_LAB, *KEY_KPIS_WORLD]
    changed = sorted((r for r in rows_all if r.get("diff_mean") not in (None, 0, 0.0)),
                     key=lambda r: order.index(r["kpi"].split("[")[0]) if r["kpi"].split("[")[0] in order else 99)
    head = next((r for r in rows_all if r["kpi"].startswith("job_finish_day[") and r.get("n_pairs")), None) \
        or (changed[0] if changed else (rows_all[0] if rows_all else None))
    answer = []
    if head is not None:
        f = facts_for(head)
        answer.append(para(kpi_label(L, head["kpi"]), ": ", f["base_mean"], " in ", L.text("compare.base", p["base"],
                           "compare_text", file=src, what="base name"), " against ", f["counterfactual_mean"], " in ",
                           L.text("compare.cf", p["counterfactual"], "compare_text", file=src, what="name"),
                           "; the mean paired difference is ", f["diff_mean"], f["unit"], " (", _ci(L),
                           " % interval ", f["diff_ci_low"], " to ", f["diff_ci_high"], ", ", R,
                           " replications)", *([" and ", *_spread(L)[:1], "–", _spread(L)[1],
                                                " % of paired replications lie between ", f["diff_p10"], " and ",
                                                f["diff_p90"], f["unit"]] if "diff_p10" in f else []), "."))
        answer.append(para("A compare result keeps the means, their intervals and the spread of the paired "
                           "differences; brief the scenario file itself for drivers and options."))
    else:
        answer.append(para("The compare result holds no KPI."))
    table_rows = []
    for r in changed[:20]:
        f = facts_for(r)
        table_rows.append([kpi_label(L, r["kpi"]), f["base_mean"], f["counterfactual_mean"],
                           [f["diff_mean"], f["unit"], " (", f["diff_ci_low"], " to ", f["diff_ci_high"], ")"]])
    sections = [
        section("question", [para(question)]),
        section("answer", answer),
        section("key_figures", [table(["", "scenario (mean)", "counterfactual (mean)", "difference (interval)"],
                                      table_rows, ["Means over ", R, " paired replications; ", _ci(L),
                                                   " % intervals of the mean difference."]),
                                chart("deltas"), chart("days")]),
        section("drivers", [para("Not available from a comparison result: brief the scenario (one-at-a-time "
                                 "swings) or a sweep store (sensitivity indices).")]),
        section("options", [para("A comparison holds one pair of worlds; see the table above.")]),
        section("assumptions", _compare_assumptions(data, L)),
        section("caveats", [bullets([["Means of few replications can hide a skewed spread; look at the spread of the "
                                      "paired differences, and the scenario's own briefing."]])]),
        section("reproduce", []),
    ]
    comp = pd.DataFrame(changed)
    charts = []
    if len(comp):
        title = "Scenario minus counterfactual, mean paired difference as a share of the counterfactual"
        charts.append(Chart("deltas", title, plots.kpi_differences(comp, title), 900, max(260, 90 + 32 * len(comp))))
        days = comp[comp["kpi"].str.contains("_day[", regex=False)]
        if len(days):
            title = "Differences in days (mean and confidence interval)"
            charts.append(Chart("days", title, plots.kpi_differences(days, title, relative=False), 900,
                                max(240, 90 + 32 * len(days))))
    subtitle = ["Briefing generated by exportsim from a saved comparison."]
    return {"title": doc_title, "subtitle": subtitle, "sections": sections}, charts


def _ci(L: Ledger) -> Fact:
    return _interval(L)


def _compare_assumptions(data: BriefingData, L: Ledger) -> list[dict]:
    s = data.scenario
    if s is None:
        return [para("The scenario behind the comparison was not found, so its assumptions are not listed; run "
                     "exportsim diff on the two files.")]
    titles, sources_file = read_sources(data.scenario_file)
    items = []
    for sid in s.source:
        items.append([L.text(f"source.{sid}.id", sid, "sources", id=sid, file=sources_file), ": ",
                      L.text(f"source.{sid}.title", titles[sid], "sources", id=sid, file=sources_file)
                      if sid in titles else "not listed in SOURCES.md"])
    blocks = [para("Scenario file: ", L.text("scenario.file", _file(data.scenario_file), "label", what="file"), ".")]
    if items:
        blocks += [para("Sources the scenario cites:"), bullets(items, "sources")]
    return blocks


# ===================================================================================== sweep store
def build_sweep(data: BriefingData, L: Ledger) -> tuple[dict, list[Chart]]:
    from sim.reports import plots

    sw = data.sweep
    assert sw is not None, "a sweep briefing holds its store"
    store, inputs, outputs, kpi, report = sw["store"], sw["inputs"], sw["outputs"], sw["kpi"], sw["report"]
    s = data.scenario
    lvl, dif, _ = kpi_formats(kpi)
    if s is None and lvl == "month":
        lvl, _dif = "number", "number+"
    src = str(store.root)
    name = L.text("sweep.name", store.meta.get("name", store.sweep_id), "sweep_text", store=src, what="sweep name")
    n = L.add("sweep.runs", float(len(outputs)), "int", "sweep_count", store=src, what="runs stored ok")
    y = outputs[kpi].to_numpy(dtype=float)

    def st(fact_name: str, values_where: dict | None, stat: str, fmt: str = lvl) -> Fact:
        vals = y
        if values_where:
            mask = np.ones(len(inputs), bool)
            for col, val in values_where.items():
                mask &= inputs[col].astype(str).to_numpy() == str(val)
            vals = y[mask]
        return L.add(fact_name, _stat(vals, stat, kpi), fmt, "sweep", store=src, kpi=kpi, stat=stat, where=values_where)

    med, p10, p90 = st("sweep.mean", None, "mean"), st("sweep.p10", None, "p10"), st("sweep.p90", None, "p90")
    lo_pct, hi_pct = _spread(L)
    question = (L.text("scenario.question", s.question, scenario=s.name, path="question") if s is not None else
                L.text("sweep.description", store.meta["spec"].get("description") or store.sweep_id, "sweep_text",
                       store=src, what="spec description"))
    kpi_f = L.text("sweep.kpi", kpi, "label", what="KPI analysed")
    answer = [para("Across the ", n, " runs of sweep ", name, ", ", kpi_label(L, kpi), " has a mean of ", med, " (",
                   lo_pct, "–", hi_pct, " % of runs: ", p10, " to ", p90, ").")]
    paths = {p: m["path"] for p, m in store.parameters.items()}
    index_rows, tornado_rows, method = _sweep_indices(report, L, src, kpi, paths)
    factors = [r[0] for r in index_rows]
    drivers_only = [r for r, f in zip(index_rows, factors, strict=True) if "(the job's size" not in f.text]
    if drivers_only:
        top = drivers_only[0]
        what = {"sobol": "total Sobol index", "morris": "mean absolute elementary effect",
                "rank correlation": "absolute rank correlation"}[method]
        besides = " besides the job's size" if len(drivers_only) < len(index_rows) else ""
        answer.append(para("The uncertain input that moves it most", besides, " is ", top[0], " (", what, " ",
                           *(top[-1] if isinstance(top[-1], list) else [top[-1]]) if method != "morris" else [top[1]],
                           ")."))
    drivers: list[dict] = []
    if index_rows:
        header = {"sobol": ["input", "first-order index (interval)", "total index (interval)"],
                  "morris": ["input", "mean absolute elementary effect", "spread (sigma)"],
                  "rank correlation": ["input", "Spearman correlation", "absolute value"]}[method]
        idx_note: list = ["From exportsim analyze on the store (", kpi_f, ")."]
        if method == "sobol":
            idx_note += [" Intervals are the estimator's bootstrap confidence half-widths (SALib), indices clipped to "
                     "[0, 1]. In theory the total index is at least the first-order one; where the estimate says "
                     "otherwise, the gap is sampling noise of a small design, and both read as the larger value at "
                     "most."]
        if any("(the job's size" in f.text for f in factors):
            idx_note += [" The job's size (its compute target) is a choice of the study, swept to show its effect; it "
                     "is not an uncertainty that drives the result."]
        drivers.append(table(header, index_rows, idx_note))
        drivers.append(chart("indices"))
    prim = report.get("prim")
    if prim:
        cond = L.text("sweep.prim.condition", prim["condition"], "sweep_text", store=src, what="PRIM condition")
        unit = " (days since the scenario start)" if "_day[" in kpi else ""
        drivers.append(para("Scenario discovery (PRIM) for the quarter of runs with the highest values, ", cond, unit,
                            ":"))
        items = [[L.text(f"sweep.prim.box{i}", b["text"], "sweep_text", store=src, what="PRIM box")]
                 for i, b in enumerate(prim["boxes"])]
        drivers.append(bullets(items) if items else para("No box beats the base rate."))
    for i, note in enumerate(sw["notes"]):
        drivers.append(para(L.text(f"sweep.note{i}", note, "sweep_text", store=src, what="analysis note")))
    options: list[dict] = []
    if store.levers:
        rows: list[Any] = []
        pol = inputs[store.levers].astype(str).drop_duplicates()
        for i, (_, row) in enumerate(pol.iterrows()):
            where = {lv: row[lv] for lv in store.levers}
            label = L.text(f"sweep.policy{i}", ", ".join(f"{k} = {v}" for k, v in where.items()), "sweep_text",
                           store=src, what="lever values")
            rows.append([label, [st(f"sweep.policy{i}.mean", where, "mean"), " (",
                                 st(f"sweep.policy{i}.p10", where, "p10"), " to ",
                                 st(f"sweep.policy{i}.p90", where, "p90"), ")"]])
        options = [table(["levers", kpi_label(L, kpi)], rows, ["Mean (", lo_pct, "–", hi_pct, " % of the runs) at each "
                                                                 "lever setting."])]
    else:
        options = [para("The sweep has no levers, so there is no option to compare.")]
    params = []
    for pname, meta in store.parameters.items():
        spec = store.meta["spec"]["levers" if meta["group"] == "lever" else "uncertainties"][pname]
        rng = spec.get("levels") or [spec.get("low"), spec.get("high")]
        params.append([L.text(f"sweep.param.{pname}", pname, "label", what="parameter"),
                       L.text(f"sweep.param.{pname}.path", meta["path"], "label", what="path"),
                       L.text(f"sweep.param.{pname}.range", ", ".join(str(x) for x in rng if x is not None),
                              "sweep_text", store=src, what="range or levels")])
    assumptions = [table(["parameter", "path", "range or levels"], params)]
    if s is not None:
        assumptions += _compare_assumptions(data, L)
    failed = L.add("sweep.failed", float(report.get("runs", {}).get("failed", 0)), "int", "sweep_count", store=src,
                   what="failed runs")
    caveats = [bullets([["Runs that failed are left out (", failed, " in this store)."],
                        ["Sensitivity indices from few design points have wide confidence intervals; extend the "
                         "sweep with --extend for tighter ones."]])]
    key_rows = []
    for i, k in enumerate([c for c in outputs.columns if c != "run_id"][:10]):
        klvl = kpi_formats(k)[0]
        if s is None and klvl == "month":
            klvl = "number"
        vals = outputs[k].to_numpy(dtype=float)
        if not np.isfinite(vals).any():
            continue
        fs = [L.add(f"sweep.kpi{i}.{stt}", _stat(vals, stt, k), klvl, "sweep", store=src, kpi=k, stat=stt, where=None)
              for stt in ("mean", "p10", "p90")]
        key_rows.append([kpi_label(L, k), [fs[0], " (", fs[1], " to ", fs[2], ")"]])
    sections = [
        section("question", [para(question)]),
        section("answer", answer),
        section("key_figures", [table(["KPI", "mean (spread) across the sweep"], key_rows,
                                      ["Mean (", lo_pct, "–", hi_pct, " % of runs) over every stored run."]),
                                chart("distribution")]),
        section("drivers", drivers or [para("No sensitivity analysis was possible for this store.")]),
        section("options", options),
        section("assumptions", assumptions),
        section("caveats", caveats),
        section("reproduce", []),
    ]
    charts = []
    dist_df = pd.DataFrame({"value": y})
    if store.levers:
        dist_df["policy"] = inputs[store.levers].astype(str).agg(", ".join, axis=1).to_numpy()
    title = "Distribution of the analysed KPI across the sweep's runs"
    charts.append(Chart("distribution", title, plots.histogram(dist_df, title, kpi), 900, 380))
    if tornado_rows:
        title = "Sensitivity indices of the analysed KPI"
        charts.append(Chart("indices", title, plots.index_bars(pd.DataFrame(tornado_rows), title), 900,
                            120 + 40 * len(tornado_rows)))
    return {"title": name, "subtitle": ["Briefing generated by exportsim from a sweep store."],
            "sections": sections}, charts


JOB_SIZE_FIELDS = ("flop", "params", "tokens")


def is_job_size(path: str) -> bool:
    """Whether a dotted path is a training job's size (its compute target): a choice, not an uncertainty."""
    segs = path.split(".")
    return len(segs) >= 5 and segs[0] == "labs" and segs[2] == "jobs" and segs[4] in JOB_SIZE_FIELDS


def _sweep_indices(report: dict, L: Ledger, src: str, kpi: str,
                   paths: dict[str, str] | None = None) -> tuple[list, list, str]:
    paths = paths or {}
    rows, bars = [], []

    def factor_label(f: str) -> Fact:
        text = f + (" (the job's size: a fixed choice of the study, not a driver)" if is_job_size(paths.get(f, ""))
                    else "")
        return L.text(f"sweep.factor.{f}", text, "label", what="factor")

    if report.get("sobol"):
        res = report["sobol"][0]
        for r in sorted(res["factors"], key=lambda r: -(r.get("ST") or 0)):
            f = r["factor"]
            cells = []
            for idx in ("S1", "ST"):
                v, conf = r.get(idx), r.get(f"{idx}_conf")
                shown = None if v is None else min(max(v, 0.0), 1.0)  # an index lies in [0, 1]
                cell: list = [L.add(f"sweep.sobol.{f}.{idx}", shown, "index", "sweep_index", store=src, kpi=kpi,
                                    index=idx, factor=f, clipped_from=v)]
                if v is not None and conf is not None:
                    cell += [" (", L.add(f"sweep.sobol.{f}.{idx}.low", max(v - conf, 0.0), "index", "sweep_index",
                                         store=src, kpi=kpi, index=f"{idx} - {idx}_conf", factor=f), " to ",
                             L.add(f"sweep.sobol.{f}.{idx}.high", min(v + conf, 1.0), "index", "sweep_index",
                                   store=src, kpi=kpi, index=f"{idx} + {idx}_conf", factor=f), ")"]
                cells.append(cell)
            s1, st = r.get("S1"), r.get("ST")
            if s1 is not None and st is not None and st < s1:
                cells[1].append(" [below the first-order index: sampling noise, see the note]")
            rows.append([factor_label(f), *cells])
            bars.append({"input": f, "value": min(max(r.get("ST") or 0.0, 0.0), 1.0), "index": "total"})
        return rows, bars, "sobol"
    if report.get("morris"):
        res = report["morris"][0]
        for r in res["factors"]:
            f = r["factor"]
            mu = L.add(f"sweep.morris.{f}.mu_star", r.get("mu_star"), "number", "sweep_index", store=src, kpi=kpi,
                       index="mu_star", factor=f)
            sd = L.add(f"sweep.morris.{f}.sigma", r.get("sigma"), "number", "sweep_index", store=src, kpi=kpi,
                       index="sigma", factor=f)
            rows.append([factor_label(f), mu, sd])
            bars.append({"input": f, "value": r.get("mu_star") or 0.0, "index": "mu*"})
        return rows, bars, "morris"
    if report.get("rank_correlation"):
        rc = sorted(report["rank_correlation"], key=lambda r: -abs(r.get("spearman") or 0))
        for r in rc:
            f = r.get("parameter") or r.get("factor")
            v = r.get("spearman")
            c = L.add(f"sweep.rank.{f}", v, "index", "sweep_index", store=src, kpi=kpi, index="spearman", factor=f)
            a = L.add(f"sweep.rank.{f}.abs", abs(v) if v is not None else None, "index", "sweep_index", store=src,
                      kpi=kpi, index="abs spearman", factor=f)
            rows.append([factor_label(f), c, a])
            bars.append({"input": f, "value": v or 0.0, "index": "spearman"})
        return rows, bars, "rank correlation"
    return rows, bars, ""
