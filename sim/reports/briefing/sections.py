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
    DAYS_PER_MONTH,
    SPREAD_PCT,
    BriefingData,
    Chart,
    Fact,
    Ledger,
    Variant,
    _modal_chip,
    _stat,
)
from sim.reports.formatting import human
from sim.scenario.quantities import describe, ppf

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


def _job_kpi(data: BriefingData, v: Variant, name: str = "job_finish_day") -> str | None:
    if data.lab is None or v.job_key is None:
        return None
    return f"{name}[{data.lab}/{v.job_key}]"


def _chip_fact(L: Ledger, name: str, data: BriefingData, v: Variant) -> Fact | None:
    chip = _modal_chip(v)
    if chip is None:
        return None
    f = L.add(name, chip, "text", "runtext", variant=v.key, table="jobs", column="chip", stat="most common")
    label = v.scenario.chips[chip].name if chip in v.scenario.chips and v.scenario.chips[chip].name else chip
    f.text = " ".join(label.split())
    return f


def _primary(data: BriefingData) -> dict:
    """The headline quantity: the job's finish day, else the lab's compute at the end, else denied chips."""
    s = data.world
    if data.lab is not None and data.job is not None:
        return {"kind": "job", "kpi": lambda v: _job_kpi(data, v), "fmt": "month", "diff": "months+",
                "censor": s.horizon_days, "unit": " months"}
    if data.lab is not None:
        return {"kind": "compute", "kpi": lambda v: f"compute_eflops_end[{data.lab}]", "fmt": "eflops",
                "diff": "eflops+", "censor": None, "unit": ""}
    return {"kind": "blocked", "kpi": lambda v: "blocked_units", "fmt": "count", "diff": "count+", "censor": None,
            "unit": ""}


def _direction(x: float, later: str, earlier: str, same: str, tol: float) -> str:
    if not math.isfinite(x) or abs(x) < tol:
        return same
    return later if x > 0 else earlier


# ===================================================================================== scenario target
def build_scenario(data: BriefingData, L: Ledger) -> tuple[dict, list[Chart]]:
    from sim.reports import plots

    s = data.world
    base, cf = data.variants["scenario"], data.variants["counterfactual"]
    prim = _primary(data)
    H = s.horizon_days
    R = L.add("setting.replications", data.replications, "int", "setting", what="replications per variant")
    seed0 = L.add("setting.seed_first", base.seeds[0], "int", "setting", what="first seed")
    seed1 = L.add("setting.seed_last", base.seeds[-1], "int", "setting", what="last seed")
    title = L.text("scenario.name", s.name, scenario=s.name, path="name")
    question = L.text("scenario.question", s.question, scenario=s.name, path="question")
    lab_name = L.text("scenario.lab", (s.labs[data.lab].name or data.lab) if data.lab else "", scenario=s.name,
                      path=f"labs.{data.lab}.name")
    end = L.add("scenario.end", H, "month", "scenario", scenario=s.name, path="end")
    sections = [section("question", [para(question)])]

    # ------------------------------------------------------------------ the answer
    answer: list[dict] = []
    kpi = prim["kpi"](base)
    level = Stats(L, "answer.level", base, kpi, prim["fmt"], prim["censor"])
    delta = Paired(L, "answer.delta", base, cf, kpi, prim["kpi"](cf), prim["diff"], prim["censor"],
                   abs_fmt="months" if prim["kind"] == "job" else prim["diff"].rstrip("+"))
    if prim["kind"] == "job":
        assert data.lab is not None and data.job is not None
        job = s.labs[data.lab].jobs[data.job]
        flop = job.flop if job.flop is not None else 6 * (job.params or 0) * (job.tokens or 0)
        flop_f = L.add("scenario.job_flop", flop, "flop", "scenario", scenario=s.name,
                       path=f"labs.{data.lab}.jobs.{data.job}.flop")
        chip = _chip_fact(L, "answer.chip", data, base)
        cf_chip = _chip_fact(L, "answer.cf_chip", data, cf)
        unfinished = L.add("answer.unfinished", _stat(base.values(kpi), "nan_count"), "int", "run", variant="scenario",
                           kpi=kpi, stat="nan_count", seeds=_seed_range(base), runs=len(base.kpis))
        word = _direction(delta.value, "later than", "earlier than", "at about the same time as", 0.05 * DAYS_PER_MONTH)
        s1 = ["With the rules in force, ", lab_name, "'s ", flop_f, "-FLOP training run finishes in ", level.mean]
        if chip is not None:
            s1 += [" on ", chip]
        s1 += level.interval(L) + [", "]
        if word.startswith("at about"):
            s1 += [word, " the same run without the rules"]
        else:
            s1 += [delta.abs, " months ", word, " the same run without the rules"]
        if cf_chip is not None:
            s1 += [", which would train on ", cf_chip]
        s1 += delta.spread(L, " months")
        s1 += ["."]
        if unfinished.value:
            s1 += [" In ", unfinished, " of ", R, " runs it does not finish by ", end, "."]
        answer.append(para(*s1))
    elif prim["kind"] == "compute":
        word = _direction(delta.value, "more than", "less than", "about as much as", 1e-9)
        answer.append(para("With the rules in force, ", lab_name, " ends the horizon (", end, ") with ", level.mean,
                           " of installed compute", *level.interval(L), ", ", delta.abs, " ", word,
                           " without the rules", *delta.spread(L), "."))
    else:
        answer.append(para("With the rules in force, ", level.mean, " chips are denied", *level.interval(L), "."))
    opt_sentence = (_lab_sentence(data, L, prim) if data.audience == "lab" else _policy_sentence(data, L, prim))
    if opt_sentence:
        answer.append(para(*opt_sentence))
    lo_pct, hi_pct = _spread(L)
    answer.append(para("Figures are means over ", R, " replications with common random numbers (seeds ", seed0, " to ",
                       seed1, "); intervals are ", _interval(L), " % intervals of the mean, and differences are paired "
                       "by seed; spreads are the ", lo_pct, "th to ", hi_pct, "th percentiles across replications."))
    if data.posterior is not None:
        answer.append(para(*_posterior_sentence(data, L)))
    sections.append(section("answer", answer))
    if data.options_study is not None:
        sections.append(section("options_study", _options_study_blocks(data, L)))

    # ------------------------------------------------------------------ key figures
    key_rows, delta_kpis = _key_rows(data, L)
    sections.append(section("key_figures", [
        table(["", "with the rules", "without the rules", "difference"], key_rows,
              ["Mean (", _interval(L), " % interval of the mean) across ", R,
               " replications; the difference is paired by seed."]),
        chart("finish"), chart("fleet"), chart("deltas"),
    ]))

    # ------------------------------------------------------------------ drivers
    swing_rows = _swings(data, L, prim)
    drivers: list[dict] = []
    if swing_rows:
        top = swing_rows[0]
        drivers.append(para(
            "One input at a time set to its ", L.add("setting.q_low", 10, "int", "setting", what="low percentile"),
            "th and ", L.add("setting.q_high", 90, "int", "setting", what="high percentile"),
            "th percentile, the rest drawn as usual (", top["reps"], " replications each, paired by seed with the "
            "scenario). The largest swing comes from ", top["label"], ": the headline moves by ", *top["range"],
            " between the two settings."))
        drivers.append(table(["input", "low setting: headline change", "high setting: headline change", "swing"],
                             [[r["label"], [r["low_value"], ": ", *r["low_delta"]],
                               [r["high_value"], ": ", *r["high_delta"]], r["range"]] for r in swing_rows],
                             ["Headline changes are mean paired differences against the scenario over the same "
                              "seeds; the distributions are listed under assumptions."]))
        drivers.append(chart("tornado"))
    else:
        drivers.append(para("The scenario has no uncertain input (every number is a constant), so there is no "
                            "one-at-a-time swing to report; a sweep (exportsim sweep) explores levers."))
    sections.append(section("drivers", drivers))

    # ------------------------------------------------------------------ options
    sections.append(section("options", _options_blocks(data, L, prim)))

    # ------------------------------------------------------------------ assumptions, caveats
    sources_used: list[str] = []
    sections.append(section("assumptions", _assumption_blocks(data, L, swing_rows, sources_used)))
    sections.append(section("caveats", _caveat_blocks(data, L, swing_rows, prim)))
    sections.append(section("reproduce", []))  # filled by the template from context["repro"]

    charts = _scenario_charts(data, L, prim, swing_rows, delta_kpis, plots)
    subtitle = ["Briefing for a ", "lab strategy" if data.audience == "lab" else "policy", " audience, generated "
                "by exportsim from ", R, " paired replications of each world."]
    return {"title": title, "subtitle": subtitle, "sections": sections}, charts


def _options_study_blocks(data: BriefingData, L: Ledger) -> list[dict]:
    """The options study as ``exportsim options`` prints it: the same cells (sim.reports.options), each a fact."""
    from sim.reports import options as fmt

    study = data.options_study or {}

    def t(name: str, text: str) -> Fact:
        return L.text(f"study.{name}", text, "label", what="options study (exportsim options)")

    cols = list(fmt.COLUMNS[:7])  # the CLI's table; the rules in the window and the notes as a list below it
    cells = fmt.table(study)
    rows = [[t(f"{i}.{c}", row[c]) for c in cols] for i, row in enumerate(cells)]
    rules_col, notes = fmt.COLUMNS[7], []
    for i, row in enumerate(cells):
        item = [t(f"{i}.option.again", row["option"]), ": rules taking effect in the job's window: ",
                t(f"{i}.{rules_col}", row[rules_col])]
        if row["note"]:
            item += ["; ", t(f"{i}.note", row["note"])]
        notes.append(item)
    return [para(t("title", fmt.title(study))),
            table([t(f"header.{c}", c) for c in cols], rows, [t("caption", fmt.CAPTION + ".")]),
            bullets(notes)]


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


def _lab_sentence(data: BriefingData, L: Ledger, prim: dict) -> list | None:
    opts = [data.variants[k] for k in data.options if data.variants[k].role == "option"]
    if not opts or prim["kind"] != "job":
        if not opts:
            return ["No option files were given (pass --option FILE) so no alternative strategy is compared."]
        return None
    base = data.variants["scenario"]
    H = data.world.horizon_days
    meds = {v.key: _stat(v.values(prim["kpi"](v), H), "mean") if prim["kpi"](v) else math.inf for v in opts}
    best = min(opts, key=lambda v: meds[v.key])
    worst = max(opts, key=lambda v: meds[v.key])
    name_best = L.text(f"option.{best.key}.name", best.label, scenario=best.label, path="name")
    bs = Stats(L, f"answer.best.{best.key}", best, prim["kpi"](best), "month", H)
    gain = Paired(L, f"answer.best_gain.{best.key}", best, base, prim["kpi"](best), prim["kpi"](base), "months+", H,
                  abs_fmt="months")
    word = _direction(gain.value, "later than", "earlier than", "at about the same time as", 0.05 * DAYS_PER_MONTH)
    base_med = _stat(base.values(prim["kpi"](base), H), "mean")
    if meds[best.key] >= base_med - 0.05 * DAYS_PER_MONTH:
        out = ["None of the options compared finishes earlier than the scenario; the earliest, ", name_best,
               ", finishes in ", bs.mean]
    else:
        out = ["Of the options compared, ", name_best, " finishes first, in ", bs.mean, *bs.interval(L),
               ", ", gain.abs, " months ", word, " the scenario"]
        cost_kpi = _job_kpi(data, best, "job_cost_usd")
        if cost_kpi:
            c = Stats(L, f"answer.best_cost.{best.key}", best, cost_kpi, "usd", stats=("mean",))
            c0 = Stats(L, "answer.base_cost", base, _job_kpi(data, base, "job_cost_usd"), "usd", stats=("mean",))
            out += [", at a cost of ", c.mean, " against ", c0.mean]
    if worst.key != best.key and meds[worst.key] > base_med + 0.05 * DAYS_PER_MONTH:
        name_worst = L.text(f"option.{worst.key}.name", worst.label, scenario=worst.label, path="name")
        ws = Stats(L, f"answer.worst.{worst.key}", worst, prim["kpi"](worst), "month", H, stats=("mean",))
        out += ["; ", name_worst, " finishes last, in ", ws.mean]
    return out + ["."]


def _policy_sentence(data: BriefingData, L: Ledger, prim: dict) -> list:
    base = data.variants["scenario"]
    blocked = Stats(L, "answer.blocked", base, "blocked_units", "count")
    if not blocked.mean.value:
        return ["In these runs the rules deny no shipment: they act, if at all, through what the lab chooses not to "
                "order."]
    revenue = Stats(L, "answer.revenue", base, "vendor_revenue_lost_usd", "usd", stats=("mean",))
    grey = Stats(L, "answer.grey", base, "grey_units", "count", stats=("mean",))
    out = ["The rules deny ", blocked.mean, " chips", *blocked.interval(L, " (", short=True), " worth ",
           revenue.mean, " in vendor revenue, while ", grey.mean, " chips reach buyers through the grey channel"]
    variants = [data.variants[k] for k in data.options if data.variants[k].role == "rule_variant"]
    if variants and prim["kind"] == "job":
        H = data.world.horizon_days
        effects = []
        for v in variants:
            d = np.array(v.values(prim["kpi"](v), H)) - np.array(base.values(prim["kpi"](base), H))
            effects.append((_stat(d, "mean"), v))
        eff, v = min(effects, key=lambda t: t[0])
        rid = v.key.split(":", 1)[1]
        rule = L.text(f"rule.{rid}.name", data.world.rules[rid].name or rid, scenario=data.world.name,
                      path=f"rules.{rid}.name")
        if eff < -0.05 * DAYS_PER_MONTH:
            p = Paired(L, f"answer.rule_effect.{rid}", v, base, prim["kpi"](v), prim["kpi"](base), "months+", H,
                       stats=("mean",), abs_fmt="months")
            out += ["; dropping ", rule, " alone would let the run finish ", p.abs, " months earlier"]
        else:
            out += ["; no single rule, dropped alone, brings the run forward by a month or more"]
    return out + ["."]


KEY_KPIS_JOB = ["job_finish_day", "job_start_day", "job_cost_usd", "job_failures", "job_rented_share"]
KEY_KPIS_LAB = ["compute_eflops_end", "domestic_share", "fleet_units_end"]
KEY_KPIS_WORLD = ["blocked_units", "grey_units", "seized_units", "vendor_revenue_lost_usd", "fees_paid_usd"]


def _key_rows(data: BriefingData, L: Ledger) -> tuple[list[list], list[str]]:
    base, cf = data.variants["scenario"], data.variants["counterfactual"]
    H = data.world.horizon_days
    kpis: list[str] = []
    if data.lab and data.job:
        kpis += [f"{k}[{data.lab}/{data.job}]" for k in KEY_KPIS_JOB]
    if data.lab:
        kpis += [f"{k}[{data.lab}]" for k in KEY_KPIS_LAB]
    kpis += KEY_KPIS_WORLD
    rows: list[Any] = []
    shown: list[str] = []
    chip_b = _chip_fact(L, "key.chip.scenario", data, base)
    chip_c = _chip_fact(L, "key.chip.counterfactual", data, cf)
    for kpi in kpis:
        vb, vc = base.values(kpi), cf.values(kpi)
        if all(math.isnan(x) for x in vb + vc):
            continue
        if all((x == 0 or math.isnan(x)) for x in vb + vc):
            continue
        lvl, dif, cens = kpi_formats(kpi)
        censor = H if cens else None
        sb = Stats(L, f"key.{kpi}.scenario", base, kpi, lvl, censor)
        sc = Stats(L, f"key.{kpi}.counterfactual", cf, kpi, lvl, censor)
        d = Paired(L, f"key.{kpi}.diff", base, cf, kpi, kpi, dif, censor)
        d_cell = d.cell(" months" if dif == "months+" else "")
        rows.append([kpi_label(L, kpi), sb.cell(), sc.cell(), d_cell])
        shown.append(kpi)
        if kpi.startswith("job_finish_day[") and (chip_b or chip_c):
            rows.append([L.text("label.chip", "Chip the run trains on", "label", what="label"),
                         chip_b or "–", chip_c or "–", ""])
    return rows, shown


def _swings(data: BriefingData, L: Ledger, prim: dict) -> list[dict]:
    base = data.variants["scenario"]
    rows: list[Any] = []
    for sw in data.swings:
        lo, hi = data.variants[sw.low_key], data.variants[sw.high_key]
        n = len(lo.kpis)
        ref = Variant(base.key, base.label, base.role, base.scenario, base.file, base.seeds[:n], base.run_ids[:n],
                      base.kpis[:n], base.jobs[:n], None, base.job_key)
        kpi = prim["kpi"](base)
        dl = Paired(L, f"swing.{sw.path}.low", lo, ref, kpi, kpi, prim["diff"], prim["censor"], stats=("mean",))
        dh = Paired(L, f"swing.{sw.path}.high", hi, ref, kpi, kpi, prim["diff"], prim["censor"], stats=("mean",))
        rng_val = abs(dh.value - dl.value) if math.isfinite(dh.value) and math.isfinite(dl.value) else math.nan
        rng = L.add(f"swing.{sw.path}.range", rng_val, prim["diff"].rstrip("+"), "swing", low=dl.mean.name,
                    high=dh.mean.name, what="absolute difference of the mean paired differences at the two settings")
        label = L.text(f"swing.{sw.path}.label", sw.path, "label", what="dotted path of the input")
        series = len(sw.members) > 1
        dist_text = "; ".join(describe(d, human) for d in sw.dists[:3]) + (" …" if len(sw.dists) > 3 else "")
        if series:
            dist_text = f"a series of {len(sw.dists)} steps: " + dist_text
        dist = L.text(f"swing.{sw.path}.dist", dist_text, scenario=data.world.name, path=sw.path)
        if series:
            lv = L.text(f"swing.{sw.path}.low_value", "each step at its low percentile", "label", what="label")
            hv = L.text(f"swing.{sw.path}.high_value", "each step at its high percentile", "label", what="label")
        else:
            lv = L.add(f"swing.{sw.path}.low_value", ppf(sw.dists[0], 0.1), "flop", "scenario",
                       scenario=data.world.name, path=sw.path, quantile=0.1)
            hv = L.add(f"swing.{sw.path}.high_value", ppf(sw.dists[0], 0.9), "flop", "scenario",
                       scenario=data.world.name, path=sw.path, quantile=0.9)
        reps = L.add("setting.swing_replications", n, "int", "setting", what="replications per swing setting")
        rows.append({"path": sw.path, "label": label, "dist": dist, "low_value": lv, "high_value": hv,
                     "low_delta": [dl.mean, prim["unit"]], "high_delta": [dh.mean, prim["unit"]],
                     "range": [rng, prim["unit"]], "range_value": rng_val,
                     "source": sw.source, "reps": reps, "dl": dl.value, "dh": dh.value})
    rows.sort(key=lambda r: -(r["range_value"] if math.isfinite(r["range_value"]) else -1))
    return rows


def _options_blocks(data: BriefingData, L: Ledger, prim: dict) -> list[dict]:
    base, cf = data.variants["scenario"], data.variants["counterfactual"]
    H = data.world.horizon_days
    R = L.facts["setting.replications"]
    if data.audience == "lab":
        opts = [base] + [data.variants[k] for k in data.options if data.variants[k].role == "option"]
        if len(opts) == 1:
            return [para("No option files were given. Pass one or more with --option FILE (a scenario that "
                         "extends this one and changes the strategy) to compare them here.")]
        rows: list[Any] = []
        for v in opts:
            kpi = prim["kpi"](v)
            name: Any = L.text(f"option.{v.key}.name", v.label, scenario=v.label, path="name")
            chip = _chip_fact(L, f"option.{v.key}.chip", data, v) if kpi else None
            if kpi is None or prim["kind"] != "job":
                rows.append([name, chip, None, None, None, None, None])
                continue
            st = Stats(L, f"option.{v.key}.finish", v, kpi, "month", H)
            vs = Paired(L, f"option.{v.key}.vs_scenario", v, base, kpi, prim["kpi"](base), "months+", H,
                        stats=("mean",)) if v is not base else None
            cost = Stats(L, f"option.{v.key}.cost", v, _job_kpi(data, v, "job_cost_usd"), "usd", stats=("mean",))
            unf = L.add(f"option.{v.key}.unfinished", _stat(v.values(kpi), "nan_count"), "int", "run", variant=v.key,
                        kpi=kpi, stat="nan_count", seeds=_seed_range(v), runs=len(v.kpis))
            rented = Stats(L, f"option.{v.key}.rented", v, _job_kpi(data, v, "job_rented_share"), "share",
                           stats=("mean",))
            rows.append([name, chip, st.cell(), [vs.mean, " months"] if vs else "–", cost.mean,
                         [unf, " of ", R], rented.mean])
        return [
            para("Each option is a scenario file run with the same seeds. Risk is shown two ways: runs that do not "
                 "finish by the end of the horizon, and the share of the cluster rented abroad (exposed to rules "
                 "on remote access)."),
            table(["option", "chip", "finishes", "vs the scenario", "cost", "unfinished", "rented share"], rows,
                  ["Mean (", _interval(L), " % interval of the mean) of the finish; mean cost; mean rented share; ",
                   R, " replications each."]),
        ]
    variants = [base, cf] + [data.variants[k] for k in data.options]
    rows = []
    for v in variants:
        if v.role == "rule_variant":
            rid = v.key.split(":", 1)[1]
            name = [L.text(f"variant.{v.key}.name", f"without {rid}", "label", what="variant label")]
        elif v.role == "counterfactual":
            name = [L.text("variant.counterfactual.name", "no rules at all", "label", what="variant label")]
        else:
            name = [L.text(f"option.{v.key}.name", v.label, scenario=v.label, path="name")]
        cells = [name]
        for kpi, fmt in (("blocked_units", "count"), ("grey_units", "count"), ("vendor_revenue_lost_usd", "usd")):
            cells.append(Stats(L, f"variant.{v.key}.{kpi}", v, kpi, fmt, stats=("mean",)).mean)
        if data.lab:
            cells.append(Stats(L, f"variant.{v.key}.compute", v, f"compute_eflops_end[{data.lab}]", "eflops",
                               stats=("mean",)).mean)
        if prim["kind"] == "job" and prim["kpi"](v):
            cells.append(Stats(L, f"variant.{v.key}.finish", v, prim["kpi"](v), "month", H, stats=("mean",)).mean)
        rows.append(cells)
    header = ["rule variant", "chips denied", "grey-channel leakage", "vendor revenue lost"]
    if data.lab:
        header.append("lab compute at the end")
    if prim["kind"] == "job":
        header.append("run finishes")
    blocks = [para("The rules as in the scenario, none at all, and each of the rules that deny the most chips "
                   "dropped alone (same seeds). Leakage counts chips that reach buyers through the grey channel.")]
    if not [k for k in data.options if data.variants[k].role == "rule_variant"]:
        blocks.append(para("No single rule denies a shipment in these runs, so no rule is dropped alone."))
    blocks.append(table(header, rows, ["Means across ", R, " replications."]))
    return blocks


def _assumption_blocks(data: BriefingData, L: Ledger, swing_rows: list[dict], sources_used: list[str]) -> list[dict]:
    from sim.scenario.diff import diff_scenarios

    s = data.world
    _base, cf = data.variants["scenario"], data.variants["counterfactual"]
    titles, sources_file = read_sources(data.scenario_file)
    blocks: list[dict] = []

    def cite(ids: list[str]) -> list:
        out: list = []
        for i, sid in enumerate(ids):
            if sid not in sources_used:
                sources_used.append(sid)
            out += ([", "] if i else []) + [L.text(f"source.{sid}.id", sid, "sources", id=sid, file=sources_file)]
        return out or ["–"]

    if swing_rows:
        blocks.append(para("The uncertain inputs swung above, with the distribution the scenario gives each:"))
        blocks.append(table(["input", "value or distribution", "sources"],
                            [[r["label"], r["dist"], cite(r["source"])] for r in swing_rows]))
    rows: list[Any] = []
    for d in diff_scenarios(s, cf.scenario):
        label = L.text(f"diff.{d.path}.path", d.path, "label", what="dotted path")
        old = L.text(f"diff.{d.path}.old", _short(d.old, s, d.path), scenario=s.name, path=d.path)
        new = L.text(f"diff.{d.path}.new", _short(d.new, cf.scenario, d.path), scenario=cf.scenario.name, path=d.path)
        rows.append([label, old, new, cite(d.source)])
    if rows:
        blocks.append(para("What the scenario assumes differently from its counterfactual (exportsim diff):"))
        blocks.append(table(["path", "scenario", "counterfactual", "sources"], rows))
    if s.source:
        blocks.append(para("The scenario as a whole cites ", *cite(list(s.source)), "."))
    files = [data.variants[k] for k in data.options if data.variants[k].role == "option" and data.variants[k].file]
    if files:
        parts: list = ["The options are the files "]
        for i, v in enumerate(files):
            parts += ([", "] if i else []) + [L.text(f"option.{v.key}.file", _file(v.file), "label", what="file")]
        blocks.append(para(*parts, "; each extends the scenario and changes the strategy (exportsim diff shows how)."))
    if sources_used:
        items = []
        for sid in sources_used:
            t = titles.get(sid)
            items.append([L.facts[f"source.{sid}.id"], ": ",
                          L.text(f"source.{sid}.title", t, "sources", id=sid, file=sources_file) if t
                          else "not listed in SOURCES.md"])
        blocks.append(para("Sources (titles from ", L.text("sources.file", sources_file or "no SOURCES.md", "label",
                                                           what="file"), "; references in facts.md):"))
        blocks.append(bullets(items, "sources"))
    else:
        blocks.append(para("The scenario cites no source IDs."))
    return blocks


def _file(p: str | None) -> str:
    return _shown(p) if p is not None else "–"


def _short(v: Any, s, path: str) -> str:
    """A diff value in a few words: a removed rule by its name, a distribution by its parameters."""
    if v is None:
        return "absent"
    segs = path.split(".")
    if segs[0] == "rules" and len(segs) == 2 and isinstance(v, dict):
        rule = s.rules.get(segs[1])
        return f"in force: {rule.name}" if rule is not None and rule.name else "in force"
    if isinstance(v, dict):
        return describe(v, human)
    if isinstance(v, list):
        return ", ".join(str(x) for x in v) if all(not isinstance(x, (dict, list)) for x in v) else "a list"
    return describe(v, human) if isinstance(v, (int, float)) else str(v)


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
    if pst.get("model") != pst.get("model_now"):
        out += [" The posterior was fitted under model ", L.text("posterior.model", str(pst.get("model")), "posterior",
                                                                 what="model", store=pst.get("store")),
                ", not the current one: recalibrate before relying on it."]
    return out


def _caveat_blocks(data: BriefingData, L: Ledger, swing_rows: list[dict], prim: dict) -> list[dict]:
    s = data.world
    blocks: list[dict] = []
    items: list[list] = []
    for r in swing_rows[:2]:
        if not math.isfinite(r["range_value"]) or r["range_value"] == 0:
            continue
        items.append(["If ", r["label"], " sits at its low setting (", r["low_value"], ") the headline moves by ",
                      *r["low_delta"], "; at its high setting (", r["high_value"], ") by ", *r["high_delta"], "."])
    if data.replications < 10:
        items.append(["With only ", L.facts["setting.replications"], " replications the interval ends are rough; "
                      "use ten or more for a decision."])
    items.append(["The counterfactual removes every rule at once; it is the world without controls, not the "
                  "world before them."])
    blocks.append(bullets(items))
    if data.backtest is not None:
        misses = [r for r in data.backtest if not r.inside]
        n_in = L.add("backtest.inside", float(len(data.backtest) - len(misses)), "int", "backtest_count",
                     what="observables inside their published range")
        n_all = L.add("backtest.total", float(len(data.backtest)), "int", "backtest_count", what="observables")
        reps = L.add("backtest.replications", data.backtest[0].replications if data.backtest else 0, "int", "setting",
                     what="backtest replications")
        blocks.append(para("Calibration: the library's backtest (exportsim backtest, ", reps, " replications) puts ",
                           n_in, " of ", n_all, " published observables inside their range. The misses:"))
        rows: list[Any] = []
        for r in misses:
            fmt = "count" if max(abs(r.published_high), abs(r.simulated_median or 0)) >= 1000 else "number"
            oid = r.observable
            unit = L.text(f"backtest.{oid}.unit", r.unit, "backtest_text", what="unit", observable=oid)
            rows.append([L.text(f"backtest.{oid}.what", r.description, "backtest_text", what="description",
                                observable=oid),
                         [L.add(f"backtest.{oid}.low", r.published_low, fmt, "backtest", observable=oid,
                                field="published_low"), " to ",
                          L.add(f"backtest.{r.observable}.high", r.published_high, fmt, "backtest",
                                observable=r.observable, field="published_high"), " ", unit],
                         [L.add(f"backtest.{r.observable}.sim", r.simulated_median, fmt, "backtest",
                                observable=r.observable, field="simulated_median"), " ", unit]])
        if rows:
            blocks.append(table(["observable", "published", "simulated median"], rows))
    else:
        blocks.append(para("Calibration: not checked here (", L.text("backtest.note", data.backtest_note or "", "label",
                                                                     what="why"), "); run exportsim backtest."))
    if s.description:
        blocks.append(para("Model boundary, as the scenario states it: ",
                           L.text("scenario.description", s.description, scenario=s.name, path="description")))
    return blocks


def _scenario_charts(data: BriefingData, L: Ledger, prim: dict, swing_rows: list[dict], delta_kpis: list[str],
                     plots) -> list[Chart]:
    from sim.experiments.compare import summarise

    s = data.world
    H = s.horizon_days
    base, cf = data.variants["scenario"], data.variants["counterfactual"]
    charts = []
    shown = [base, cf] + [data.variants[k] for k in data.options]
    rows: list[Any] = []
    for v in shown:
        kpi = prim["kpi"](v)
        if kpi is None:
            continue
        vals = v.values(kpi, prim["censor"])
        label = "no rules" if v.role == "counterfactual" else v.label
        rows.append({"label": label, "mean": _stat(vals, "mean", kpi), "low": _stat(vals, "p10", kpi),
                     "high": _stat(vals, "p90", kpi)})
    df = pd.DataFrame(rows)
    if prim["kind"] == "job":
        title = "When the training run finishes, by world (mean, and 10–90 % of replications)"
        charts.append(Chart("finish", title, plots.interval_dots(df, title, "finish date", start=s.start,
                                                                 horizon_days=H), 900, 170 + 48 * len(df)))
    else:
        title = "The headline quantity by world (mean, and 10–90 % of replications)"
        charts.append(Chart("finish", title, plots.interval_dots(df, title, prim["fmt"]), 900, 170 + 48 * len(df)))
    if base.fleet is not None and data.lab:
        title = "Installed fleet of the lab by chip and origin, first replication with the rules"
        fig = plots.fleet_area(base.fleet, s.start, owner=data.lab)
        fig.update_layout(title=title, legend={"orientation": "v", "font": {"size": 10}})
        charts.append(Chart("fleet", title, fig, 900, 440))
    comp = pd.DataFrame([vars(r) for r in summarise(base.kpis, cf.kpis)])
    comp = comp[comp["kpi"].isin(delta_kpis)]
    title = "Scenario minus counterfactual, mean paired difference as a share of the counterfactual"
    fig = plots.kpi_differences(comp, title)
    charts.append(Chart("deltas", title, fig, 900, max(260, 90 + 32 * len(comp))))
    if swing_rows:
        unit = "months" if prim["kind"] == "job" else prim["fmt"]
        scale = DAYS_PER_MONTH if prim["kind"] == "job" else 1.0
        tdf = pd.DataFrame([{"input": r["path"], "low": r["dl"] / scale, "high": r["dh"] / scale} for r in swing_rows])
        title = "One input at a time: change in the headline at the low and high setting"
        charts.append(Chart("tornado", title, plots.tornado(tdf, title, f"change in the headline ({unit})"), 900,
                            120 + 40 * len(tdf)))
    return charts


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
    index_rows, tornado_rows, method = _sweep_indices(report, L, src, kpi)
    if index_rows:
        top = index_rows[0]
        what = {"sobol": "total Sobol index", "morris": "mean absolute elementary effect",
                "rank correlation": "absolute rank correlation"}[method]
        answer.append(para("The input that moves it most is ", top[0], " (", what, " ", top[-1] if method != "morris"
                           else top[1], ")."))
    drivers: list[dict] = []
    if index_rows:
        header = {"sobol": ["input", "first-order index", "total index"],
                  "morris": ["input", "mean absolute elementary effect", "spread (sigma)"],
                  "rank correlation": ["input", "Spearman correlation", "absolute value"]}[method]
        drivers.append(table(header, index_rows, ["From exportsim analyze on the store (", kpi_f, ")."]))
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


def _sweep_indices(report: dict, L: Ledger, src: str, kpi: str) -> tuple[list, list, str]:
    rows, bars = [], []
    if report.get("sobol"):
        res = report["sobol"][0]
        for r in sorted(res["factors"], key=lambda r: -(r.get("ST") or 0)):
            f = r["factor"]
            s1 = L.add(f"sweep.sobol.{f}.S1", r.get("S1"), "index", "sweep_index", store=src, kpi=kpi, index="S1",
                       factor=f)
            stt = L.add(f"sweep.sobol.{f}.ST", r.get("ST"), "index", "sweep_index", store=src, kpi=kpi, index="ST",
                        factor=f)
            rows.append([L.text(f"sweep.factor.{f}", f, "label", what="factor"), s1, stt])
            bars.append({"input": f, "value": r.get("ST") or 0.0, "index": "total"})
        return rows, bars, "sobol"
    if report.get("morris"):
        res = report["morris"][0]
        for r in res["factors"]:
            f = r["factor"]
            mu = L.add(f"sweep.morris.{f}.mu_star", r.get("mu_star"), "number", "sweep_index", store=src, kpi=kpi,
                       index="mu_star", factor=f)
            sd = L.add(f"sweep.morris.{f}.sigma", r.get("sigma"), "number", "sweep_index", store=src, kpi=kpi,
                       index="sigma", factor=f)
            rows.append([L.text(f"sweep.factor.{f}", f, "label", what="factor"), mu, sd])
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
            rows.append([L.text(f"sweep.factor.{f}", f, "label", what="factor"), c, a])
            bars.append({"input": f, "value": v or 0.0, "index": "spearman"})
        return rows, bars, "rank correlation"
    return rows, bars, ""
