"""The decision briefing of a scenario: a finding for a title, a three-bullet bottom line, the options table,
the mechanism with one annotated chart, tipping points on the headline difference, confidence against the
backtest, signposts, assumptions with sources; an appendix with the method, the reproduce line and the ledger.

Every number is a :class:`~sim.reports.briefing.model.Fact`.  The options facts read the options study
(``exportsim options``, kind ``study``), the tipping points read :func:`collect.tipping_points` (kind
``tipping``); both recompute from the data they name (:meth:`Briefing.recompute`).  Days are rounded to two
significant figures, money to two, chips to whole units (two significant figures), dates are dates.
"""

from __future__ import annotations

import contextlib
import math
import re
from typing import Any

from sim.reports.briefing.collect import read_source_urls, read_sources
from sim.reports.briefing.model import BriefingData, Chart, Fact, Ledger
from sim.reports.briefing.sections import _interval, bullets, chart, para, table
from sim.reports.options import bound, waited

#: Plain names of the library's options, by the end of the file's stem.
OPTION_NAMES = {
    "baseline": "Baseline: the rules in force, the scenario's strategy",
    "no_rules": "No export rules at all (counterfactual)",
    "_only": "Own Ascend 910B only",
    "_rent": "Rent Nvidia abroad",
    "_mix": "Mix: own Ascend or rent abroad, cheaper first",
    "_no_remote": "Mix with remote access closed at the run's start",
    "_rent_no_remote": "Rent Nvidia abroad with remote access closed at the run's start",
    "_diffusion": "AI diffusion rule kept",
    "remote_access_ban": "Remote-access ban (Nvidia in clouds abroad closed)",
    "strict_enforcement": "Strict enforcement of the grey channel",
    "hbm_squeeze": "HBM squeeze (tighter memory controls)",
    "diffusion_rule_kept": "AI diffusion rule kept, not rescinded",
    "h200_open": "H200 sales to China opened",
}
#: What a variant changes in the option it builds on, as a lever (the policy title names the lever, not the strategy).
LEVER_CHANGES = {"_no_remote": "closing remote access at the run's start",
                 "_rent_no_remote": "closing remote access at the run's start"}
#: How a lever moves the rules (policy audience): tightening or loosening.
LEVER_DIRECTION = {"_no_remote": "tightening", "_rent_no_remote": "tightening", "remote_access_ban": "tightening",
                   "strict_enforcement": "tightening", "hbm_squeeze": "tightening", "diffusion_rule_kept": "tightening",
                   "_diffusion": "tightening", "h200_open": "loosening"}

BODY_TITLES = {
    "answer": "The answer",
    "options": "The options, on the same seeds",
    "mechanism": "How it happens",
    "tipping": "Tipping points: what would change the delay",
    "confidence": "How far to trust it",
    "signposts": "Signposts to watch",
    "assumptions": "Assumptions and sources",
    "method": "Appendix A: method",
    "reproduce": "Appendix B: reproduce",
}


def _section(sid: str, blocks: list[dict], appendix: bool = False) -> dict:
    return {"id": sid, "title": BODY_TITLES[sid], "blocks": [b for b in blocks if b], "appendix": appendix}


def _suffix_key(key: str, scenario_name: str) -> str:
    if key in OPTION_NAMES:
        return key
    if key.startswith(scenario_name):
        return key[len(scenario_name):]
    return key


def option_name(key: str, row: dict, scenario_name: str) -> str:
    """A plain name for an option row: the library's name, else the file stem in words."""
    k = _suffix_key(key, scenario_name)
    if k in OPTION_NAMES:
        return OPTION_NAMES[k]
    return (k.strip("_") or key).replace("_", " ")


def _get(row: dict, field: str) -> Any:
    v: Any = row
    for part in field.split("."):
        v = None if v is None else v.get(part) if isinstance(v, dict) else None
    return v


def study_value(study: dict, prov: dict) -> Any:
    """The value a ``study`` fact names: a field of an options-study row, scaled (``times``), rounded (``whole``)."""
    row = next(r for r in study["rows"] if r["option"] == prov["option"] and r["lab"] == prov["lab"])
    v = _get(row, prov["field"])
    if v is None:
        return math.nan
    if prov.get("times") is not None:
        v = v * prov["times"]
    if prov.get("whole"):
        v = float(round(v))
    return v


def tipping_value(sens: dict, prov: dict) -> Any:
    """The value a ``tipping`` fact names in the tipping points (head, a swing or a structural choice)."""
    item = {"diff": sens["head"]} if prov["group"] == "head" else sens[prov["group"]][prov["index"]]
    v = _get(item, prov["field"])
    return math.nan if v is None else v


class Study:
    """Facts from the options study: ``S.f(option, field, fmt)``; rows by key."""

    def __init__(self, L: Ledger, data: BriefingData):
        self.L, self.data = L, data
        self.study = data.options_study or {"rows": []}
        self.lab: str = str(self.study["rows"][0]["lab"]) if self.study["rows"] else ""
        self.rows = {r["option"]: r for r in self.study["rows"] if r["lab"] == self.lab}
        self.R = int(self.study.get("replications") or data.replications)

    def f(self, option: str, field: str, fmt: str, times: float | None = None, whole: bool = False,
          name: str | None = None) -> Fact:
        prov: dict[str, Any] = {"option": option, "lab": self.lab, "field": field}
        if times is not None:
            prov["times"] = times
        if whole:
            prov["whole"] = True
        name = name or f"options.{option}.{field}" + (f".x{times:g}" if times is not None else "")
        if name in self.L.facts and self.L.facts[name].fmt != fmt:  # the same figure printed another way
            name += f".{fmt.replace('+', '_signed')}"
        return self.L.add(name, study_value(self.study, prov), fmt, "study", **prov)

    def name(self, option: str) -> Fact:
        s = self.data.world
        return self.L.text(f"options.{option}.name", option_name(option, self.rows[option], s.name), "label",
                           what="plain name of the option (file: " + str(self.rows[option].get("file")) + ")")

    def change(self, option: str) -> Fact | None:
        """What a variant changes in the option it builds on, in plain words (:data:`LEVER_CHANGES`), if known."""
        words = LEVER_CHANGES.get(_suffix_key(option, self.data.world.name))
        if words is None:
            return None
        return self.L.text(f"options.{option}.change", words, "label",
                           what="what the option changes in the one it builds on (file: "
                                + str(self.rows[option].get("file")) + ")")

    def lever(self, option: str) -> Fact:
        """An option as a lever: what it changes, when it builds on another option and the change has plain words
        (closing remote access, on the renting strategy), else its plain name."""
        change = self.change(option) if (self.rows[option].get("vs_parent") or {}).get("option") else None
        return change if change is not None else self.name(option)

    def chip(self, option: str) -> Fact | None:
        row = self.rows[option]
        mode = row.get("chip_mode")
        if not mode or mode == "none":
            return None
        f = self.f(option, "chip_mode", "text")
        s = self.data.world
        f.text = " ".join(((s.chips[mode].name or mode) if mode in s.chips else mode).split())
        return f

    def chip_seeds(self, option: str) -> Fact:
        mode = self.rows[option].get("chip_mode")
        return self.f(option, f"chip_counts.{mode}", "int")

    def finish_cell(self, option: str) -> list:
        out: list = [self.f(option, "finish_day.mean", "date")]
        lo, hi = self.f(option, "finish_day.ci_low", "date"), self.f(option, "finish_day.ci_high", "date")
        if lo.text != hi.text:
            if lo.text[-4:] == hi.text[-4:] and not lo.text.startswith("after"):
                lo = self.f(option, "finish_day.ci_low", "daymonth", name=f"options.{option}.finish_day.ci_low.dm")
            out += [" (", lo, " to ", hi, ")"]
        return out

    def diff_cell(self, option: str, times: float | None = None) -> list:
        if self.rows[option].get("diff_days") is None:
            return ["–"]
        m = self.f(option, "diff_days.mean", "days+", times)
        lo, hi = ("diff_days.ci_high", "diff_days.ci_low") if times is not None and times < 0 else \
            ("diff_days.ci_low", "diff_days.ci_high")
        a, b = self.f(option, lo, "days+", times), self.f(option, hi, "days+", times)
        if a.text == b.text == m.text:
            return [m]
        return [m, " (", a, " to ", b, ")"]

    def cost_cell(self, option: str) -> list:
        m = self.f(option, "cost_usd.mean", "usdM", name=f"options.{option}.cost_usd.mean.short")
        a = self.f(option, "cost_usd.ci_low", "usdM", name=f"options.{option}.cost_usd.ci_low.short")
        b = self.f(option, "cost_usd.ci_high", "usdM", name=f"options.{option}.cost_usd.ci_high.short")
        return [m] if a.text == b.text else [m, " (", a, " to ", b, ")"]

    def p_earlier(self, option: str) -> Fact | None:
        if self.rows[option].get("p_earlier") is None:
            return None
        return self.f(option, "p_earlier", "int", times=self.R, whole=True)


def lever_effect(S: Study, k: str) -> tuple[dict | None, str | None, str]:
    """What a lever does: (its paired difference, the option it is measured against, the field of the estimate).

    A lever file is laid on the baseline, so it is measured against the baseline; a variant that builds on
    another option (the mix with remote access closed builds on the mix) is measured against that option."""
    vp = S.rows[k].get("vs_parent")
    if vp and vp.get("diff_days") and vp.get("option") in S.rows:
        return vp["diff_days"], vp["option"], "vs_parent.diff_days"
    return S.rows[k].get("diff_days"), None, "diff_days"


def _effect_cell(S: Study, k: str) -> list:
    d, against, field = lever_effect(S, k)
    if d is None:
        return ["–"]
    m = S.f(k, f"{field}.mean", "days+")
    a, b = S.f(k, f"{field}.ci_low", "days+"), S.f(k, f"{field}.ci_high", "days+")
    out: list = [m] if a.text == b.text == m.text else [m, " (", a, " to ", b, ")"]
    return _at_least(S, k, against) + out + ([" days against ", S.name(against)] if against else [" days"])


def _at_least(S: Study, k: str, against: str | None) -> list:
    """["at least "] when *k*'s difference is a lower bound (:func:`sim.reports.options.bound`, the CLI's rule): its
    job is unfinished on some seed (counted at the horizon, so it finishes later still) while the run it is
    measured against finished on every seed."""
    return ["at least "] if bound(S.rows[k], S.rows.get(against or "baseline"), S.R) == "at least" else []


def _days_value(row: dict | None, field: str = "mean") -> float:
    d = (row or {}).get("diff_days") or {}
    v = d.get(field)
    return math.nan if v is None else float(v)


def _excludes_zero(d: dict | None) -> bool:
    if not d or d.get("ci_low") is None or d.get("ci_high") is None:
        return False
    return d["ci_low"] > 0 or d["ci_high"] < 0


# ============================================================================================ the builder
def build_decision(data: BriefingData, L: Ledger) -> tuple[dict, list[Chart]]:
    s = data.world
    S = Study(L, data)
    R = L.add("setting.replications", data.replications, "int", "setting", what="replications per world")
    if "baseline" not in S.rows or "no_rules" not in S.rows:
        return _no_job(data, L, R)
    lab_name = L.text("scenario.lab", (s.labs[S.lab].name or S.lab) if S.lab else "", scenario=s.name,
                      path=f"labs.{S.lab}.name")
    job = s.labs[S.lab].jobs[S.rows["baseline"]["job"]]
    flop = job.flop if job.flop is not None else 6 * (job.params or 0) * (job.tokens or 0)
    flop_f = L.add("scenario.job_flop", flop, "flop", "scenario", scenario=s.name,
                   path=f"labs.{S.lab}.jobs.{S.rows['baseline']['job']}.flop")
    nr = S.rows["no_rules"]
    delay_v = -_days_value(nr)
    delay = S.f("no_rules", "diff_days.mean", "days", times=-1, name="headline.delay.abs")
    delay_cell = S.diff_cell("no_rules", times=-1)
    opts = [k for k in S.rows if k not in ("baseline", "no_rules")]
    narrower = next((st for st in (data.sensitivity or {}).get("structural", []) if st["name"] == "allowed_chips"),
                    None)

    # ------------------------------------------------------------------ title
    if not math.isfinite(delay_v) or abs(delay_v) < 0.5:
        title: list = ["The rules do not delay ", lab_name, "'s ", flop_f, "-FLOP run"]
    elif delay_v > 0:
        title = ["The rules delay ", lab_name, "'s ", flop_f, "-FLOP run by about ", delay, " days"]
    else:
        title = ["The rules bring ", lab_name, "'s ", flop_f, "-FLOP run forward by about ", delay, " days"]
    title += _title_clause(data, S, opts, narrower)

    # ------------------------------------------------------------------ bottom line
    answer = _answer_bullet(data, L, S, lab_name, flop_f, delay_v, delay_cell, opts)
    conf_level, conf_items = _confidence_summary(data, L, S)
    action = _action_bullet(data, L, S, opts)
    bottom = bullets([["Answer. ", *answer], ["Confidence: ", conf_level, ". ", *conf_items],
                      ["Recommended action. ", *action]], "bottom")
    sections = [_section("answer", [bottom])]
    sections.append(_section("options", _options_blocks(data, L, S, opts)))
    sections.append(_section("mechanism", _mechanism_blocks(data, L, S, lab_name, flop_f, delay_v)))
    sections.append(_section("tipping", _tipping_blocks(data, L)))
    sections.append(_section("confidence", _confidence_blocks(data, L, S)))
    sections.append(_section("signposts", _signpost_blocks(data, L, S, opts)))
    sections.append(_section("assumptions", _assumption_blocks(data, L)))
    sections.append(_section("method", _method_blocks(data, L, S), appendix=True))
    sections.append(_section("reproduce", [], appendix=True))
    charts = _charts(data, S, delay_v)
    subtitle = ["Decision briefing for a ", "lab strategy" if data.audience == "lab" else "policy",
                " audience: ", L.text("scenario.name", s.name, scenario=s.name, path="name"), ", ", R,
                " paired replications of each world, generated by exportsim."]
    question = L.text("scenario.question", s.question, scenario=s.name, path="question")
    return {"title": title, "subtitle": subtitle, "question": question, "sections": sections}, charts


def _no_job(data: BriefingData, L: Ledger, R: Fact) -> tuple[dict, list[Chart]]:
    s = data.world
    name = L.text("scenario.name", s.name, scenario=s.name, path="name")
    question = L.text("scenario.question", s.question, scenario=s.name, path="question")
    why = ("its inputs come from a calibrated posterior (the options study runs on the priors; run exportsim "
           "options for it)" if data.posterior is not None else "it has no training job to time")
    blocks = [para("The scenario ", name, " is not briefed as a decision: ", why, ".")]
    if data.posterior is not None:
        from sim.reports.briefing.sections import _posterior_sentence

        blocks.append(para(*_posterior_sentence(data, L)))
    return {"title": [name], "subtitle": ["Briefing generated by exportsim from ", R, " replications."],
            "question": question, "sections": [_section("answer", blocks),
                                               _section("method", _method_blocks(data, L, None), appendix=True),
                                               _section("reproduce", [], appendix=True)]}, []


def _title_clause(data: BriefingData, S: Study, opts: list[str], narrower: dict | None) -> list:
    if data.audience == "lab":
        only = narrower["from"] if narrower and narrower.get("from") in S.rows else None
        if only is not None and S.rows[only].get("diff_days"):
            d = _days_value(S.rows[only])
            word = "longer" if d > 0 else "less"
            return ["; on ", *_chip_only_words(S, only), " it takes ",
                    S.f(only, "diff_days.mean", "days", name=f"title.{only}.days"), " days ", word, " and costs ",
                    S.f(only, "cost_usd.mean", "usd"), " instead of ", S.f("baseline", "cost_usd.mean", "usd")]
        best = _best(S, opts)
        if best is None:
            return []
        if _days_value(S.rows[best]) < 0 and _excludes_zero(S.rows[best]["diff_days"]):
            return ["; ", S.name(best), " finishes ", S.f(best, "diff_days.mean", "days"), " days earlier"]
        return ["; no alternative strategy compared finishes earlier"]
    biting = _biting_levers(data, S, opts)
    if biting:
        top = biting[0]
        _, against, field = lever_effect(S, top)
        if against is not None and S.change(top) is not None:  # a strategy variant: its lever, on its parent
            return ["; of the tightening levers, ", S.lever(top), " delays it most, by ", *_at_least(S, top, against),
                    S.f(top, f"{field}.mean", "days", name=f"title.{top}.effect"), " days on ", S.name(against)]
        return ["; of the tightening levers, ", S.name(top), " delays it most, by ", *_at_least(S, top, against),
                S.f(top, f"{field}.mean", "days", name=f"title.{top}.effect"), " days",
                *([" against ", S.name(against)] if against else [])]
    return ["; no tightening lever compared delays it further beyond the seed-to-seed noise"]


def _biting_levers(data: BriefingData, S: Study, opts: list[str]) -> list[str]:
    """Tightening levers whose effect (:func:`lever_effect`) is a delay with an interval above zero, largest first."""
    out = []
    for k in opts:
        if LEVER_DIRECTION.get(_suffix_key(k, data.world.name)) != "tightening":
            continue
        d = lever_effect(S, k)[0]
        if d and d.get("mean") is not None and d["mean"] > 0 and _excludes_zero(d):
            out.append(k)
    return sorted(out, key=lambda k: -(lever_effect(S, k)[0] or {}).get("mean", 0))


def _chip_only_words(S: Study, option: str) -> list:
    chip = S.chip(option)
    return [chip, " alone"] if chip is not None else ["the narrower chip set"]


def _best(S: Study, opts: list[str]) -> str | None:
    cands = [k for k in opts if S.rows[k].get("kind") == "variant" and math.isfinite(_days_value(S.rows[k]))]
    return min(cands, key=lambda k: _days_value(S.rows[k])) if cands else None


def _flatten(parts: list) -> list:
    out: list = []
    for p in parts:
        if isinstance(p, list):
            out += _flatten(p)
        elif p is not None and p != "":
            out.append(p)
    return out


def _answer_bullet(data: BriefingData, L: Ledger, S: Study, lab_name: Fact, flop_f: Fact, delay_v: float,
                   delay_cell: list, opts: list[str]) -> list:
    R = L.facts["setting.replications"]
    out: list = ["With the rules in force, ", lab_name, "'s ", flop_f, "-FLOP training run finishes on ",
                 *S.finish_cell("baseline")]
    chip = S.chip("baseline")
    if chip is not None:
        out += [", mostly on ", chip]
    if math.isfinite(delay_v) and abs(delay_v) >= 0.5:
        out += ["; that is ", *_delay_words(S, delay_v)]
    else:
        out += ["; about when it would without the rules (", *delay_cell, " days)"]
    p = S.p_earlier("no_rules")
    if p is not None:
        out += [", and without them it finishes earlier in ", p, " of ", R, " seeds"]
    out.append(".")
    shown = [k for k in opts if S.rows[k].get("diff_days")]
    if shown and data.audience == "lab":
        out.append(" Against the baseline (mean of paired differences, days): ")
        for i, k in enumerate(shown):
            out += (["; "] if i else []) + [S.name(k), " ", *_at_least(S, k, None), S.f(k, "diff_days.mean", "days+")]
            if S.rows[k].get("identical"):
                out.append(" (identical by construction)")
        out.append(".")
    elif shown:
        levers = [k for k in shown if LEVER_DIRECTION.get(_suffix_key(k, data.world.name))]
        if levers:
            out.append(" What each lever does to the run (mean of paired differences): ")
        for i, k in enumerate(levers):
            out += (["; "] if i else []) + [S.lever(k), " ", *_effect_cell(S, k)]
            if S.rows[k].get("identical"):
                out.append(" (identical by construction)")
        out.append(".")
    return out


def _delay_words(S: Study, delay_v: float) -> list:
    """``5 days later than without the rules (95 % CI −5 to +14 days)``."""
    out: list = [S.f("no_rules", "diff_days.mean", "days", times=-1, name="headline.delay.abs"), " days ",
                 "later" if delay_v > 0 else "earlier", " than without the rules"]
    lo = S.f("no_rules", "diff_days.ci_high", "days+", times=-1)
    hi = S.f("no_rules", "diff_days.ci_low", "days+", times=-1)
    if lo.text != hi.text:
        out += [" (", _interval(S.L), " % CI ", lo, " to ", hi, " days)"]
    return out


def _confidence_summary(data: BriefingData, L: Ledger, S: Study) -> tuple[str, list]:
    nr = S.rows["no_rules"]
    excl = _excludes_zero(nr.get("diff_days"))
    sens = data.sensitivity or {}
    flips = [w for w in sens.get("swings", []) if w.get("flips")]
    level = "high" if excl and not flips else "low" if not excl and flips else "medium"
    nr = S.rows["no_rules"]
    d = nr.get("diff_days") or {}
    just = excl and any(d.get(k) is not None and round(d[k]) == 0 for k in ("ci_low", "ci_high"))
    out: list = ["The delay's interval ", "only just excludes" if just else "excludes" if excl else "includes",
                 " zero at ", L.facts["setting.replications"], " seeds"]
    if sens:
        out += ["; ", "no uncertain input swung to its 10th or 90th percentile reverses its sign" if not flips else
                [_plain_fact(L, data, flips[0]["path"]), " at one end of its range reverses its sign"]]
    misses = _backtest_bearing(data)
    if data.backtest is not None:
        n_bear = L.add("backtest.bearing_misses", float(len([m for m in misses if not m[0].inside])), "int",
                       "backtest_count", what="published figures outside their range that bear on this run")
        out += ["; ", n_bear, " published figures that bear on this run lie outside the model's backtest range "
                "(see How far to trust it)"]
    out.append(".")
    return level, _flatten(out)


def _action_bullet(data: BriefingData, L: Ledger, S: Study, opts: list[str]) -> list:
    if data.audience == "lab":
        best = _best(S, opts)
        if best is None:
            return ["No alternative strategy was compared; pass option files (--option FILE)."]
        row = S.rows[best]
        if _days_value(row) < 0 and _excludes_zero(row["diff_days"]):
            return ["Switch to ", S.name(best), ": it finishes ", S.f(best, "diff_days.mean", "days"),
                    " days earlier (earlier in ", S.p_earlier(best), " of ", L.facts["setting.replications"],
                    " seeds) at a full cost of ", S.f(best, "cost_usd.mean", "usd"), " against ",
                    S.f("baseline", "cost_usd.mean", "usd"), "."]
        out = ["Keep the baseline strategy (buy what the rules still allow, the scenario's own plan): no alternative "
               "finishes earlier; the closest, ", S.name(best), ", is ", *S.diff_cell(best), " days against it"]
        rent = next((k for k in opts if _suffix_key(k, data.world.name) == "_rent"), None)
        if rent is not None and rent != best:
            out += [", and renting abroad does not close the gap (", S.f(rent, "diff_days.mean", "days+"), " days)"]
        return out + ["."]
    biting = _biting_levers(data, S, opts)
    if biting:
        top = biting[0]
        _, against, _f = lever_effect(S, top)
        out = ["If the aim is to delay this run, ", S.lever(top), " is the lever that bites most (",
               *_effect_cell(S, top), ")"]
        if against:
            out += [" — but only if ", data.world.labs[S.lab].name or S.lab, " follows ", S.name(against),
                    "; on the baseline strategy the run does not rent, and a remote-access ban leaves it unchanged"
                    if any(S.rows[k].get("identical") and "remote" in k for k in opts) else
                    "; on the baseline strategy it may not bite"]
        return out + ["; the other levers compared do not move the run beyond the noise, so judge them on other "
                      "outcomes (chips denied, leakage) or on later runs."]
    levers = [k for k in opts if LEVER_DIRECTION.get(_suffix_key(k, data.world.name)) == "tightening"
              and lever_effect(S, k)[0]]
    if not levers:
        return ["No tightening lever was compared; pass lever files (--option FILE) to compare them."]
    same = [k for k in levers if S.rows[k].get("identical")]
    moving = [k for k in levers if k not in same]
    out = ["Do not count on the levers compared to delay this run: none moves it beyond the seed-to-seed noise"]
    if moving:
        top = max(moving, key=lambda k: (lever_effect(S, k)[0] or {}).get("mean") or -1e18)
        out += [" (the largest, ", S.lever(top), ", ", *_effect_cell(S, top), ")"]
    if same:
        out += ["; ", *_names(S, same), " cannot change it by construction"]
    chip = S.chip("baseline")
    if chip is not None:
        out += [". What the run trains on is what a lever must reach: ", chip, " in ", S.chip_seeds("baseline"),
                " of ", L.facts["setting.replications"], " seeds; the signposts below say which rules reach it, "
                "and when"]
    return out + ["."]


def _names(S: Study, keys: list[str]) -> list:
    out: list = []
    for i, k in enumerate(keys):
        out += ([", " if i < len(keys) - 1 else " and "] if i else []) + [S.name(k)]
    return out


# ============================================================================================ options
def _options_blocks(data: BriefingData, L: Ledger, S: Study, opts: list[str]) -> list[dict]:
    R = L.facts["setting.replications"]
    rows: list[list] = []
    for k in ["baseline", "no_rules", *opts]:
        r = S.rows[k]
        name: list = [S.name(k)]
        tag = (LEVER_DIRECTION.get(_suffix_key(k, data.world.name)) or
               ("a strategy" if S.rows[k].get("kind") == "variant" else None)) if data.audience == "policy" else None
        if tag:
            name += [" (", tag, ")"]
        if r.get("identical"):
            name.append(" [identical by construction]")
        p = S.p_earlier(k)
        chip = S.chip(k)
        chip_cell: list = ["–"] if chip is None else [chip, " (", S.chip_seeds(k), " of ", R, " seeds), ",
                                                     S.f(k, "cluster_chips.mean", "count"), " chips"]
        rows.append([name, S.finish_cell(k), S.diff_cell(k), [p, " of ", R] if p is not None else "–",
                     S.cost_cell(k), chip_cell])
    notes: list[list] = []
    groups: dict[str, list[str]] = {"identical": [], "unchanged": [], "explained": [], "spans": []}
    for k in opts:
        r = S.rows[k]
        d = r.get("diff_days") or {}
        if (r.get("identical") or r.get("job_unchanged")) and r.get("why_same"):
            groups["explained"].append(k)  # the same run as the baseline's, with its reason (reach.py)
        elif r.get("identical"):
            groups["identical"].append(k)
        elif r.get("job_unchanged"):
            groups["unchanged"].append(k)
        elif d.get("ci_low") is not None and d["ci_low"] < 0 < d["ci_high"]:
            groups["spans"].append(k)

    def names(keys: list[str]) -> list:
        out: list = []
        for i, k in enumerate(keys):
            out += ([", " if i < len(keys) - 1 else " and "] if i else []) + [S.name(k)]
        return out

    one = {True: ("is", "its"), False: ("are", "their")}
    if groups["identical"]:
        ks = groups["identical"]
        notes.append([*names(ks), f" {one[len(ks) == 1][0]} identical to the baseline on every seed: "
                      "they cannot differ by construction (what they change does not touch this run, e.g. a rule on "
                      "something the run does not use)." if len(ks) > 1 else " is identical to the baseline on every "
                      "seed: it cannot differ by construction (what it changes does not touch this run, e.g. a rule "
                      "on something the run does not use)."])
    if groups["unchanged"]:
        ks = groups["unchanged"]
        notes.append([*names(ks), ": the run's finish and cost are the same as the baseline's on every seed (other "
                      "figures, such as chips denied, move)."])
    for k in groups["explained"]:
        notes.append([S.name(k), " equals the baseline on every seed: ", S.f(k, "why_same", "text"), "."])
    if groups["spans"]:
        ks = groups["spans"]
        notes.append([*names(ks), f": {one[len(ks) == 1][1]} difference's interval spans zero; at ", R,
                      " seeds it cannot be told from the baseline."])
    for k in opts:
        r = S.rows[k]
        vp = r.get("vs_parent")
        if vp and vp.get("diff_days") and vp["option"] in S.rows:
            if vp.get("why_same"):  # the same run on every seed: say why, not "it moves 0 days"
                notes.append([S.name(k), " equals ", S.name(vp["option"]), " on every seed: ",
                              S.f(k, "vs_parent.why_same", "text"), "."])
            else:
                notes.append([S.name(k), " builds on ", S.name(vp["option"]), "; against it the run moves ",
                              *_effect_cell(S, k)[:-2], " days: that is what this change does."])
        if waited(r, S.rows.get(vp["option"]) if vp else None) and r["wait"].get("blocked"):
            # what kept the job from starting, in the engine's words (a choice to wait for chips on order is not)
            notes.append([S.name(k), " waits for a cluster in ", S.f(k, "wait.seeds", "int"), " of ", R,
                          " seeds; in the first of them, on ", S.f(k, "wait.day", "date"), ": ",
                          S.f(k, "wait.reason", "text"), "."])
        unfinished = S.R - int(r.get("finished") or 0)
        if unfinished:
            notes.append([S.name(k), ": unfinished by the horizon in ",
                          L.add(f"options.{k}.unfinished", float(unfinished), "int", "study_count", option=k),
                          " of ", R, " seeds (counted at the horizon, so its date is a lower bound)."])
    caption = ["Finishes: mean finish date over ", R, " seeds with its ", _interval(L), " % t interval. Vs "
               "baseline: the mean of the paired differences option minus baseline on the same seeds (common random "
               "numbers), in days, with its ", _interval(L), " % t interval; it is not the difference of the two "
               "dates' intervals. Earlier in: seeds in which the option finishes strictly earlier. Full cost: the "
               "engine's full cost of the run (owned chips amortised with financing and power, plus rental bills). "
               "Chip: the chip most seeds train on and the mean cluster. Two significant figures; the same numbers "
               "as exportsim options for these seeds and R."]
    blocks = [table(["option", "finishes", "vs baseline, days", "earlier in", "full cost", "chip, cluster"], rows,
                    caption)]
    if notes:
        blocks.append(bullets(notes))
    return blocks


# ============================================================================================ mechanism
def _mechanism_blocks(data: BriefingData, L: Ledger, S: Study, lab_name: Fact, flop_f: Fact,
                      delay_v: float) -> list[dict]:
    R = L.facts["setting.replications"]
    base = data.variants["scenario"]
    s1: list = ["Without the rules, ", lab_name]
    c_nr, c_b = S.chip("no_rules"), S.chip("baseline")
    if c_nr is not None:
        s1 += [" trains on ", c_nr, " (", S.chip_seeds("no_rules"), " of ", R, " seeds), about ",
               S.f("no_rules", "cluster_chips.mean", "count"), " chips"]
    else:
        s1 += [" runs the job"]
    s1 += [", and finishes on ", S.f("no_rules", "finish_day.mean", "date"), "."]
    s2: list = [" With them, it trains on "]
    s2 += [c_b, " (", S.chip_seeds("baseline"), " of ", R, " seeds)"] if c_b is not None else ["what it can get"]
    s2 += [", about ", S.f("baseline", "cluster_chips.mean", "count"), " chips"]
    denied = {rid: _mean(base.values(f"denied_units[{rid}]")) for rid in data.world.rules}
    top = max(denied, key=lambda r: denied[r] if math.isfinite(denied[r]) else -1) if denied else None
    if top is not None and denied[top] > 0:
        from sim.reports.briefing.sections import Stats

        blocked = Stats(L, "mechanism.blocked", base, "blocked_units", "count", stats=("mean",))
        by_top = Stats(L, f"mechanism.denied.{top}", base, f"denied_units[{top}]", "count", stats=("mean",))
        s2 += ["; over the whole horizon the rules deny about ", blocked.mean, " chips to the buyers modelled, ",
               by_top.mean,
               " of them under ", _rule_name(L, data, top)]
    s2.append(".")
    dc = S.rows["no_rules"].get("diff_cost_usd") or {}
    s3: list = [" So the same ", flop_f, " FLOP finish ", *_delay_words(S, delay_v), ", at a full cost of ",
                S.f("baseline", "cost_usd.mean", "usd"), " against ", S.f("no_rules", "cost_usd.mean", "usd"),
                " without them"]
    if dc.get("mean") is not None:
        s3 += [" (", S.f("no_rules", "diff_cost_usd.mean", "usd+", times=-1), " paired)"]
    if not _excludes_zero(S.rows["no_rules"].get("diff_days")):
        s3.append("; the seeds cannot tell the delay from zero")
    s3.append(".")
    return [para(*s1, *s2, *s3), chart("finish")]


def _mean(values: list[float]) -> float:
    xs = [v for v in values if v == v]
    return sum(xs) / len(xs) if xs else math.nan


def _rule_name(L: Ledger, data: BriefingData, rid: str) -> Fact:
    s = data.world
    return L.text(f"rule.{rid}.name", s.rules[rid].name or rid, scenario=s.name, path=f"rules.{rid}.name")


# ============================================================================================ tipping points
CHIP_FIELD_WORDS = {"training_mfu": "training MFU", "price_usd": "price", "mfu": "MFU",
                    "mtbf_hours_per_chip": "hours between failures per chip", "restart_hours": "restart time (hours)",
                    "external_supply_per_month": "supply offered per month", "yield": "yield",
                    "wafer_starts_per_month": "wafer starts per month", "budget_usd": "budget"}


def plain_name(s, path: str) -> str:
    """A dotted path in words: ``chips.h800.training_mfu`` -> ``H800 SXM: training MFU``."""
    segs = [x for x in path.split(".") if not x.isdigit() and x != "value"]

    def chip(c: str) -> str:
        return " ".join(((s.chips[c].name or c) if c in s.chips else c).split())

    def words(fields: list[str]) -> str:
        out = []
        for f in fields:
            out.append(chip(f) if f in s.chips else CHIP_FIELD_WORDS.get(f, f.replace("_", " ")))
        return ", ".join(out)

    if not segs:
        return path
    if segs[0] == "chips" and len(segs) >= 3:
        return f"{chip(segs[1])}: {words(segs[2:])}"
    if segs[0] == "nodes" and len(segs) >= 3:
        node = s.nodes.get(segs[1]) if hasattr(s, "nodes") else None
        name = getattr(node, "name", None) or segs[1]
        rest = segs[2:]
        if rest and rest[0] in CHIP_FIELD_WORDS and len(rest) >= 2 and rest[1] in s.chips:
            return f"{name}: {chip(rest[1])} {CHIP_FIELD_WORDS[rest[0]]}"
        return f"{name}: {words(rest)}"
    if segs[0] == "labs" and len(segs) >= 3:
        lab = s.labs.get(segs[1])
        lname = (lab.name if lab is not None and lab.name else segs[1])
        if len(segs) >= 5 and segs[2] == "jobs":
            rest = segs[4:]
            if len(rest) >= 2 and rest[1] in s.chips:
                return f"{lname}'s run: {CHIP_FIELD_WORDS.get(rest[0], rest[0].replace('_', ' '))} on {chip(rest[1])}"
            return f"{lname}'s run: {words(rest)}"
        return f"{lname}: {words(segs[2:])}"
    return words(segs)


def value_format(path: str) -> tuple[str, str]:
    """(format, unit text) of an input's value, from its dotted path (units are in field names)."""
    last = [x for x in path.split(".") if not x.isdigit() and x != "value"]
    field = next((x for x in reversed(last) if "_" in x or x in ("mfu", "yield")), last[-1] if last else "")
    if field.endswith("_usd") or "_usd_" in field:
        return "usd", ""
    if "mfu" in field or field.endswith(("_share", "yield")) or field == "yield":
        return "share", ""
    if field.endswith("_hours") or "_hours_" in field:
        return "number", " hours"
    if field.endswith("_days"):
        return "number", " days"
    if field.endswith("_per_month"):
        return "count", " a month"
    return "number", ""


def _plain_fact(L: Ledger, data: BriefingData, path: str) -> Fact:
    return L.text(f"plain.{path}", plain_name(data.world, path), "label", what=f"plain name of {path}")


def _tipping_rows(data: BriefingData, L: Ledger) -> list[dict]:
    sens = data.sensitivity or {}
    out = []

    def tf(group: str, index: int | None, field: str, fmt: str, name: str) -> Fact:
        prov: dict = {"group": group, "field": field}
        if index is not None:
            prov["index"] = index
        return L.add(name, tipping_value(sens, prov), fmt, "tipping", **prov)

    for i, w in enumerate(sens.get("swings", [])):
        label = _plain_fact(L, data, w["path"])
        vfmt, unit = value_format(w["path"])
        lo_v = tf("swings", i, "low_value", vfmt, f"tipping.{w['path']}.low_value")
        hi_v = tf("swings", i, "high_value", vfmt, f"tipping.{w['path']}.high_value")
        out.append({"label": [label], "kind": "uncertain", "low_text": [lo_v, unit], "high_text": [hi_v, unit],
                    "low": tf("swings", i, "diff_low.mean", "days+", f"tipping.{w['path']}.diff_low"),
                    "high": tf("swings", i, "diff_high.mean", "days+", f"tipping.{w['path']}.diff_high"),
                    "flips": bool(w.get("flips")), "path": w["path"], "chart_label": plain_name(data.world,
                                                                                                w["path"])})
    for i, st in enumerate(sens.get("structural", [])):
        label = L.text(f"tipping.structural.{st['name']}.label", st["label"], "label", what="structural choice")
        texts = []
        for end in ("low", "high"):
            if f"{end}_value" in st:
                texts.append([tf("structural", i, f"{end}_value", "count" if st.get("unit") == "chips" else "flop",
                                 f"tipping.structural.{st['name']}.{end}_value"), " ", st.get("unit", "")])
            else:
                texts.append([L.text(f"tipping.structural.{st['name']}.{end}_text", st[f"{end}_text"], "label",
                                     what="structural setting")])
        lo = tf("structural", i, "diff_low.mean", "days+", f"tipping.structural.{st['name']}.diff_low")
        hi = tf("structural", i, "diff_high.mean", "days+", f"tipping.structural.{st['name']}.diff_high")
        head = (sens.get("head") or {}).get("mean")
        vals = [v for v in (lo.value, hi.value) if v == v]
        flips = head is not None and head != 0 and any(
            math.copysign(1, v) != math.copysign(1, float(head)) and abs(v) >= 0.5 for v in vals)
        out.append({"label": [label], "kind": "structural", "low_text": texts[0], "high_text": texts[1],
                    "low": lo, "high": hi, "flips": flips, "path": st["name"], "chart_label": st["label"]})
    out.sort(key=lambda r: -abs((r["high"].value if r["high"].value == r["high"].value else 0)
                                - (r["low"].value if r["low"].value == r["low"].value else 0)))
    return out


def _tipping_blocks(data: BriefingData, L: Ledger) -> list[dict]:
    sens = data.sensitivity
    if not sens:
        return [para("Not run for this target.")]
    reps = L.add("setting.tipping_replications", sens["replications"], "int", "setting",
                 what="replications per tipping-point setting")
    head = L.add("tipping.head", tipping_value(sens, {"group": "head", "field": "diff.mean"}), "days+", "tipping",
                 group="head", field="diff.mean")
    rows = _tipping_rows(data, L)
    out = [para("The delay itself (baseline minus no rules, mean of paired differences) with one thing changed at a "
                "time in both worlds, on the first ", reps, " seeds, where the delay is ", head, " days: each "
                "uncertain input near the run at its ", L.add("setting.q_low", 10, "int", "setting",
                                                              what="low percentile"),
                "th and ", L.add("setting.q_high", 90, "int", "setting", what="high percentile"),
                "th percentile (the Answer page's sensitivity), and the run's structural choices: the chips it may "
                "use, its cluster size, the cost basis it picks chips by, its compute target.")]
    trows = []
    for r in rows:
        trows.append([r["label"] + [" [", r["kind"], "]"], [*r["low_text"], ": ", r["low"]],
                      [*r["high_text"], ": ", r["high"]], "reverses the sign" if r["flips"] else "–"])
    out.append(table(["what changes", "one end: delay, days", "other end: delay, days", "tips?"], trows,
                     ["Delays are means of paired differences over ", reps, " seeds (a smaller R than the options "
                      "table, so rougher); largest swing first."]))
    out.append(chart("tornado"))
    return out


# ============================================================================================ confidence
def _chip_tokens(s, chips: set[str]) -> set[str]:
    out = set()
    for c in chips:
        if c in ("none", ""):
            continue
        out.add(re.sub(r"^(ascend|nvidia)", "", c.lower()))
        name = (s.chips[c].name if c in s.chips and s.chips[c].name else c).lower()
        out.add(name.split()[0] if name.split() else name)
    return {t for t in out if len(t) >= 3}


def _backtest_bearing(data: BriefingData) -> list[tuple[Any, str, str]]:
    """(backtest row, what it bears on, direction for the headline) for the rows that bear on this run."""
    if data.backtest is None or data.options_study is None:
        return []
    s = data.world
    rows = {r["option"]: r for r in data.options_study["rows"]}
    base_chips = set((rows.get("baseline") or {}).get("chip_counts", {}))
    opt_chips = {k: set(r.get("chip_counts", {})) for k, r in rows.items() if k not in ("baseline", "no_rules")}
    bt = _chip_tokens(s, base_chips)
    lab_shown = (s.labs[data.lab].name or data.lab) if data.lab else ""
    lab = lab_shown.lower()
    out = []
    for r in data.backtest:
        desc = f"{r.observable} {r.description}".lower()
        low = r.simulated_median < r.published_low
        high = r.simulated_median > r.published_high
        if "reference/" in str(r.scenario).replace("\\", "/"):
            what = "the training-time model (both worlds alike)"
            if r.inside:
                how = "inside its range"
            else:
                slower = ("hours" in desc and high) or ("effective" in desc and low)
                faster = ("hours" in desc and low) or ("effective" in desc and high)
                how = ("the model's runs take longer than the reference run did: dates are likely late in both "
                       "worlds; the delay, a difference, less so") if slower else (
                    "the model's runs take less time than the reference run did: dates are likely early in both "
                    "worlds; the delay, a difference, less so") if faster else \
                    "the model's failure process differs from the reference run: dates in both worlds shift alike"
            out.append((r, what, how))
            continue
        hits_base = any(t in desc for t in bt)
        hits_opt = [k for k, cs in opt_chips.items() if any(t in desc for t in _chip_tokens(s, cs - base_chips))]
        if hits_base:
            what = "the chips the baseline run trains on" + (f", bought by {lab_shown}" if lab and lab in desc else "")
            out.append((r, what, _supply_miss(r, low, "the baseline is likely later than reality, so the delay is, "
                                                      "if anything, overstated",
                                              "the baseline is likely too early, so the delay is, if anything, "
                                              "understated")))
        elif hits_opt:
            out.append((r, "the options that train on these chips",
                        _supply_miss(r, low, "those options are likely too late (their penalty overstated)",
                                     "those options are likely too early (their penalty understated)")))
    return out


def _supply_miss(r, low: bool, if_fewer: str, if_more: str) -> str:
    """How a backtest row bears on the answer: inside its range, or which way the model's supply misses."""
    if r.inside:
        return "inside its range"
    return (f"the model supplies fewer than reported: {if_fewer}" if low
            else f"the model supplies more than reported: {if_more}")


def _confidence_blocks(data: BriefingData, L: Ledger, S: Study) -> list[dict]:
    R = L.facts["setting.replications"]
    out: list[dict] = []
    p = S.p_earlier("no_rules")
    out.append(para("The delay is ", *S.diff_cell("no_rules", times=-1), " days (mean of ", R, " paired seeds, ",
                    _interval(L), " % t interval)", *([", and without the rules the run finishes earlier in ", p,
                                                       " of ", R, " seeds"] if p is not None else []),
                    ". More seeds narrow the interval; they do not fix a model that is wrong, which is what the "
                    "backtest below checks."))
    if data.backtest is None:
        out.append(para("Backtest: not run here (", L.text("backtest.note", data.backtest_note or "", "label",
                                                           what="why"), "); run exportsim backtest."))
        return out
    n_in = L.add("backtest.inside", float(sum(r.inside for r in data.backtest)), "int", "backtest_count",
                 what="observables inside their published range")
    n_all = L.add("backtest.total", float(len(data.backtest)), "int", "backtest_count", what="observables")
    reps = L.add("backtest.replications", data.backtest[0].replications if data.backtest else 0, "int", "setting",
                 what="backtest replications")
    bearing = _backtest_bearing(data)
    out.append(para("The backtest (exportsim backtest, ", reps, " replications of the history scenario and the "
                    "reference training runs) puts ", n_in, " of ", n_all, " published figures inside their range. "
                    "Those that bear on this run, and which way a miss would move the answer:"))
    rows: list[list] = []
    for r, what, how in bearing:
        oid = r.observable
        fmt = "count" if max(abs(r.published_high), abs(r.simulated_median or 0)) >= 1000 else "number"
        unit = L.text(f"backtest.{oid}.unit", r.unit, "backtest_text", what="unit", observable=oid)
        rows.append([L.text(f"backtest.{oid}.what", r.description, "backtest_text", what="description",
                            observable=oid),
                     [L.add(f"backtest.{oid}.low", r.published_low, fmt, "backtest", observable=oid,
                            field="published_low"), " to ",
                      L.add(f"backtest.{oid}.high", r.published_high, fmt, "backtest", observable=oid,
                            field="published_high"), " ", unit],
                     [L.add(f"backtest.{oid}.sim", r.simulated_median, fmt, "backtest", observable=oid,
                            field="simulated_median"), " ", unit],
                     [what, ": ", how]])
    if rows:
        out.append(table(["published figure", "published", "model (median)", "bears on, and which way"], rows))
    else:
        out.append(para("None of the published figures names the chips or the lab of this run."))
    return out


# ============================================================================================ signposts
def _signpost_blocks(data: BriefingData, L: Ledger, S: Study, opts: list[str]) -> list[dict]:
    s = data.world
    R = L.facts["setting.replications"]
    items: list[list] = []
    seen: set[str] = set()
    shown_sets: set[frozenset] = set()

    def in_force(rid: str) -> float:
        rule = s.rules[rid]
        return s.day_of(rule.effective) + rule.exemptions.grace_days

    def when(rid: str) -> Fact:
        return L.add(f"signpost.{rid}.date", in_force(rid), "date", "scenario", scenario=s.name,
                     path=f"rules.{rid}.effective (+ grace days)")

    for k in ["baseline", *opts]:
        window = {w: n for w, n in (S.rows[k].get("rules_in_window") or {}).items()
                  if w.endswith(" takes effect") and w.split(" ")[0] in s.rules}
        if not window or frozenset(window) in shown_sets or len(shown_sets) >= 3:
            continue
        shown_sets.add(frozenset(window))
        parts: list = ["During the run of ", S.name(k), ": "]
        for i, (w, _n) in enumerate(sorted(window.items(), key=lambda kv: in_force(kv[0].split(" ")[0]))[:3]):
            rid = w.split(" ")[0]
            seen.add(rid)
            parts += (["; "] if i else []) + [_rule_name(L, data, rid), " takes effect on ", when(rid), " (",
                                              S.f(k, f"rules_in_window.{w}", "int"), " of ", R, " seeds)"]
        parts.append(". If these rules came earlier or later, or were enforced differently, this option's date "
                     "would move.")
        items.append(parts)
    fin = S.rows["baseline"]["finish_day"].get("ci_high") or 0
    later = sorted((rid for rid, r in s.rules.items() if rid not in seen and fin < in_force(rid) < s.horizon_days
                    and (r.rescinded is None or r.rescinded > r.effective)), key=in_force)[:3]
    if later:
        parts = ["After the baseline run ends (they matter if it slips, and for the next run): "]
        for i, rid in enumerate(later):
            parts += (["; "] if i else []) + [_rule_name(L, data, rid), " on ", when(rid)]
        items.append(parts + ["."])
    job = s.labs[S.lab].jobs[S.rows["baseline"]["job"]]
    items.append(["The run may start from ", L.add("signpost.earliest_start", s.day_of(job.earliest_start), "date",
                                                   "scenario", scenario=s.name,
                                                   path=f"labs.{S.lab}.jobs.{S.rows['baseline']['job']}"
                                                        ".earliest_start"),
                  " (the scenario's assumption): a later start meets more of these rules."])
    return [para("Dated rules and events in the scenario that would change the answer:"), bullets(items)]


# ============================================================================================ assumptions
def _assumption_blocks(data: BriefingData, L: Ledger) -> list[dict]:
    s = data.world
    titles, sources_file = read_sources(data.scenario_file)
    urls = read_source_urls()
    used: list[str] = []
    sens = data.sensitivity or {}
    dump = s.model_dump(by_alias=True, mode="json")
    from sim.reports.formatting import human
    from sim.scenario.diff import nearest_source
    from sim.scenario.paths import get_path
    from sim.scenario.quantities import describe

    rows: list[list] = []
    for w in sens.get("swings", []):
        src: list[str] = []
        dists = []
        for path in w["members"]:
            segs = tuple(int(x) if x.isdigit() else x for x in path.split("."))
            for x in nearest_source(dump, segs):
                if x not in src:
                    src.append(x)
            with contextlib.suppress(Exception):  # a description is optional
                dists.append(get_path(dump, path))
        text = "; ".join(describe(d, human) for d in dists[:2]) + (" …" if len(dists) > 2 else "")
        if len(dists) > 1:
            text = f"a series of {len(dists)} steps: " + text
        for x in src:
            if x not in used:
                used.append(x)
        rows.append([_plain_fact(L, data, w["path"]), L.text(f"assume.{w['path']}.dist", text, scenario=s.name,
                                                             path=w["path"]),
                     _cite(L, src, sources_file)])
    blocks: list[dict] = []
    if rows:
        blocks.append(para("The uncertain inputs the tipping points swing, as the scenario gives them:"))
        blocks.append(table(["input", "value or distribution", "sources"], rows))
    for x in s.source:
        if x not in used:
            used.append(x)
    if used:
        items = []
        for sid in used:
            t = titles.get(sid)
            item: list = [L.text(f"source.{sid}.id", sid, "sources", id=sid, file=sources_file), ": ",
                          L.text(f"source.{sid}.title", t, "sources", id=sid, file=sources_file) if t
                          else "not listed in SOURCES.md"]
            if sid in urls:
                item += [", ", L.text(f"source.{sid}.url", urls[sid], "sources", id=sid, file="facts.md")]
            elif sid.startswith("ASSUMPTION-"):
                item += [" (an assumption, argued in SOURCES.md)"]
            items.append(item)
        blocks.append(para("Sources (titles from ", L.text("sources.file", sources_file or "no SOURCES.md", "label",
                                                           what="file"), ", addresses from the reference list):"))
        blocks.append(bullets(items, "sources"))
    return blocks


def _cite(L: Ledger, ids: list[str], sources_file: str | None) -> list:
    out: list = []
    for i, sid in enumerate(ids):
        out += ([", "] if i else []) + [L.text(f"source.{sid}.id", sid, "sources", id=sid, file=sources_file)]
    return out or ["–"]


# ============================================================================================ method
def _method_blocks(data: BriefingData, L: Ledger, S: Study | None) -> list[dict]:
    R = L.facts["setting.replications"]
    seeds = data.variants["scenario"].seeds if "scenario" in data.variants else []
    s0 = L.add("setting.seed_first", seeds[0] if seeds else 0, "int", "setting", what="first seed")
    s1 = L.add("setting.seed_last", seeds[-1] if seeds else 0, "int", "setting", what="last seed")
    out = [para("Every world (the baseline, the world without rules, each option) is run ", R, " times on seeds ", s0,
                " to ", s1, ": replication r of every world uses the same seed, so the worlds share their random "
                "draws (common random numbers) and differ only in what they assume. A level is the mean over the ",
                R, " replications with its ", _interval(L), " % Student-t interval, clipped to the range the "
                "quantity can take (dates at or before the horizon, costs and counts at or above zero); a "
                "difference is the mean of the ", R, " paired differences (option minus baseline, seed by seed) "
                "with its t interval. A run that does not finish is counted at the horizon. The estimator is "
                "sim.experiments.estimate's, the one every surface uses (exportsim options, compare, the "
                "dashboard).")]
    if data.scenario is not None:
        s = data.world
        blocks: list[dict] = []
        names = [(s.rules[r].name or r) for r in s.rules]
        if names:
            blocks.append(para("The counterfactual removes every rule at once (rules: ",
                               L.add("assume.rules", float(len(names)), "int", "scenario", scenario=s.name,
                                     path="rules"),
                               "): ", L.text("assume.rule_names", "; ".join(" ".join(n.split()) for n in names),
                                                   scenario=s.name, path="rules.*.name"),
                               ". It is the world without controls, not the world before them."))
        out += blocks
    if data.scenario is not None and data.world.description:
        s = data.world
        out.append(para("Model boundary, as the scenario states it: ",
                        L.text("scenario.description", s.description, scenario=s.name, path="description")))
    if data.sensitivity:
        out.append(para("Tipping points: the one-at-a-time sensitivity of sim.experiments.options (each input at "
                        "its 10th and 90th percentile in both worlds) and the structural choices, each on the first ",
                        L.facts.get("setting.tipping_replications") or "few", " seeds."))
    if data.posterior is not None:
        from sim.reports.briefing.sections import _posterior_sentence

        out.append(para(*_posterior_sentence(data, L)))
    return out


# ============================================================================================ charts
def _finish(fig, height: int) -> Any:
    """Margins that keep axis labels inside the image (HTML and PNG alike)."""
    fig.update_layout(margin={"l": 20, "r": 30, "t": 60, "b": 60, "autoexpand": True}, height=height,
                      template="plotly_white", font={"size": 12})
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def _charts(data: BriefingData, S: Study, delay_v: float) -> list[Chart]:
    from sim.reports import options as ofmt
    from sim.reports import plots

    study = dict(data.options_study or {})
    rows = [r for r in study.get("rows", []) if r["lab"] == S.lab]
    named = [dict(r, label=option_name(r["option"], r, data.world.name),
                  option=option_name(r["option"], r, data.world.name)) for r in rows]
    fig = ofmt.finish_chart(dict(study, rows=named))
    title = "When the run finishes, by option"
    fig.update_layout(title={"text": title, "x": 0, "xanchor": "left"})
    base, nr = rows[0]["finish_day"].get("mean"), rows[1]["finish_day"].get("mean")
    if base is not None and nr is not None:
        import datetime as dt

        start = dt.date.fromisoformat(study["start"])
        a, b = start + dt.timedelta(days=float(nr)), start + dt.timedelta(days=float(base))
        fig.add_annotation(x=b, y=named[0]["label"], ax=a, ay=named[1]["label"], xref="x", yref="y", axref="x",
                           ayref="y", showarrow=True, arrowhead=3, arrowwidth=2, arrowcolor="#d62728", text="")
        fig.add_annotation(x=max(a, b), y=named[0]["label"], xref="x", yref="y", showarrow=False, xanchor="left",
                           xshift=14, yshift=-14, text=f"<b>the rules: {ofmt._days(delay_v)} days</b> (baseline minus "
                           "no rules, mean of paired differences)", font={"color": "#d62728", "size": 12},
                           bgcolor="rgba(255,255,255,0.85)")
    height = 130 + 40 * len(rows)
    charts = [Chart("finish", "Each option's finish date: dots one seed each, diamond and bar the mean and its 95 % "
                    "interval, labels the mean paired difference against the baseline in days; the arrow is the "
                    "delay the rules cause", _finish(fig, height), 900, height)]
    trs = _tipping_rows(data, Ledger(dict(data_ctx(data)))) if data.sensitivity else []
    if trs:
        import pandas as pd

        head = (data.sensitivity or {}).get("head", {}).get("mean")
        df = pd.DataFrame([{"input": r["chart_label"] + (" *" if r["kind"] == "structural" else ""),
                            "low": r["low"].value, "high": r["high"].value} for r in trs])
        fig = plots.delay_tornado(df, head, "What moves the delay (baseline minus no rules)",
                                  "delay, days (mean of paired differences)")
        h = 130 + 32 * len(df)
        charts.append(Chart("tornado", "The delay at each end of each input (bars from the delay at the scenario's "
                            "own inputs, the line); * a structural choice", _finish(fig, h), 900, h))
    return charts


def data_ctx(data: BriefingData) -> dict:
    s = data.world
    return {"start": s.start, "horizon_days": s.horizon_days}
