"""The options study as a table of text: the same cells in the CLI, the dashboard's Answer page and the briefing.

One row per option (and lab): what it is, the chip the job ran on, the finish date with its 95 % interval,
the mean paired difference against the baseline with its interval, the share of seeds in which it finishes
earlier, the full cost, the rules that take effect inside the job's window, and a note (identical to the
baseline by construction, job unaffected, unfinished seeds).  Numbers from
:class:`sim.experiments.options.OptionsStudy` (NaN shown as "-"); rounding: days whole, money to 2
significant figures, chips whole.
"""

from __future__ import annotations

import math

from sim.reports.formatting import sig

COLUMNS = ("option", "job", "chip (seeds)", "finish date (95 % CI)", "vs baseline, days (95 % CI)",
           "P(earlier than baseline)", "job cost, full basis (95 % CI)", "rules taking effect in the job's window",
           "note")


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _days(x) -> str:
    if _nan(x):
        return "-"
    v = round(float(x))
    return f"{v:+d}" if v else "0"


def _usd(x) -> str:
    if _nan(x):
        return "-"
    return f"${sig(float(x) / 1e6, 2)}M"


def _interval(e: dict | None, fmt) -> str:
    if not e or _nan(e.get("mean")):
        return "-"
    if _nan(e.get("ci_low")):
        return fmt(e["mean"])
    return f"{fmt(e['mean'])} [{fmt(e['ci_low'])}, {fmt(e['ci_high'])}]"


def chip_cell(counts: dict[str, int], cluster: dict | None = None) -> str:
    """``h800 18/20, h200 2/20`` (and the mean cluster size)."""
    n = sum(counts.values())
    cells = ", ".join(f"{c} {k}/{n}" for c, k in counts.items())
    if cluster and not _nan(cluster.get("mean")):
        cells += f"; {round(cluster['mean']):,} chips"
    return cells


def note_cell(row: dict, replications: int) -> str:
    """What a reader must know about a row: identical by construction, job unaffected, unfinished seeds."""
    notes = []
    if row.get("identical"):
        notes.append("identical to the baseline on every seed: cannot differ by construction")
    elif row.get("job_unchanged"):
        notes.append("the job is unaffected on every seed (other KPIs move)")
    unfinished = replications - int(row.get("finished") or 0)
    if unfinished:
        notes.append(f"unfinished by the horizon in {unfinished}/{replications} seeds (counted at the horizon)")
    d = row.get("diff_days")
    if d and not _nan(d.get("ci_low")) and d["ci_low"] < 0 < d["ci_high"]:
        notes.append("the interval spans zero")
    if row.get("kind") == "lever":
        notes.append("lever applied to the baseline")
    return "; ".join(notes)


def table(study: dict) -> list[dict[str, str]]:
    """The rows of text of an options study (its ``to_dict()``), keyed by :data:`COLUMNS`."""
    R = int(study["replications"])
    out = []
    for r in study["rows"]:
        fd = r["finish_date"] or "-"
        if r.get("finish_date_low"):
            fd = f"{r['finish_date']} [{r['finish_date_low']}, {r['finish_date_high']}]"
        p = "-" if r.get("p_earlier") is None else f"{round(r['p_earlier'] * R)}/{R}"
        rules = ", ".join(f"{k} ({v}/{R})" for k, v in r["rules_in_window"].items()) or "none"
        out.append({
            "option": r["label"] if r["kind"] in ("baseline", "counterfactual") else r["option"],
            "job": f"{r['lab']}/{r['job']}",
            "chip (seeds)": chip_cell(r["chip_counts"], r.get("cluster_chips")),
            "finish date (95 % CI)": fd,
            "vs baseline, days (95 % CI)": "-" if r["diff_days"] is None else _interval(r["diff_days"], _days),
            "P(earlier than baseline)": p,
            "job cost, full basis (95 % CI)": _interval(r["cost_usd"], _usd),
            "rules taking effect in the job's window": rules,
            "note": note_cell(r, R),
        })
    return out


def title(study: dict) -> str:
    """The table's title: the scenario and R."""
    return (f"Options for {study['scenario']} (R = {study['replications']} paired replications, seeds "
            f"{study['seeds'][0]}..{study['seeds'][-1]})")


CAPTION = ("finish: mean finish date over R seeds (at the horizon if unfinished), 95 % t interval; vs baseline: mean "
           "paired difference option - baseline in days (same seeds, common random numbers), 95 % t interval; "
           "P(earlier): seeds in which the option finishes strictly earlier; cost: the engine's full cost of the "
           "job (owned chips amortised with financing and power, plus rental bills)")

__all__ = ["CAPTION", "COLUMNS", "chip_cell", "note_cell", "table", "title"]
