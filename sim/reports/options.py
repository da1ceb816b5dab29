"""The options study as a table of text: the same cells in the CLI, the dashboard's Answer page and the briefing.

One row per option (and lab): what it is, the chip the job ran on, the finish date with its 95 % interval,
the mean paired difference against the baseline with its interval, the share of seeds in which it finishes
earlier, the full cost, the rules that take effect inside the job's window, and a note (identical to the
baseline by construction, job unaffected, unfinished seeds).  Numbers from
:class:`sim.experiments.options.OptionsStudy` (NaN shown as "-"); rounding: days whole to 2 significant
figures, money to 2 significant figures, chips whole.
"""

from __future__ import annotations

import datetime as dt
import math

from sim.reports.formatting import sig, sig_value

COLUMNS = ("option", "job", "chip (seeds)", "finish date (95 % CI)", "vs baseline, days (95 % CI)",
           "P(earlier than baseline)", "job cost, full basis (95 % CI)", "rules taking effect in the job's window",
           "note")


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _days(x) -> str:
    if _nan(x):
        return "-"
    v = int(sig_value(float(round(float(x))), 2))  # whole days, 2 significant figures
    return f"{v:+,d}" if v else "0"


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


def note_cell(row: dict, replications: int, parent: dict | None = None) -> str:
    """What a reader must know about a row: identical by construction, job unaffected, unfinished seeds (*parent*:
    the row it extends, which bounds its difference against it)."""
    notes = []
    why = f": {row['why_same']}" if row.get("why_same") else ""
    if row.get("identical"):
        notes.append("identical to the baseline on every seed: cannot differ by construction" + why)
    elif row.get("job_unchanged"):
        notes.append("the job is unaffected on every seed (other KPIs move)" + why)
    unfinished = replications - int(row.get("finished") or 0)
    if unfinished:
        notes.append(f"unfinished by the horizon in {unfinished}/{replications} seeds (counted at the horizon)")
    d = row.get("diff_days")
    if d and not _nan(d.get("ci_low")) and d["ci_low"] < 0 < d["ci_high"]:
        notes.append("the interval spans zero")
    vp = row.get("vs_parent")
    if vp and vp.get("diff_days"):
        notes.append(f"extends {vp['option']}: " + (f"the same finish and cost on every seed: {vp['why_same']}"
                                                     if vp.get("why_same") else
                                                     _bounded(f"{_interval(vp['diff_days'], _days)} days against it",
                                                              bound(row, parent, replications))))
    if waited(row):
        wt = row["wait"]
        notes.append(f"waits for a cluster in {wt['seeds']}/{replications} seeds (first: seed {wt['seed']}, "
                     f"{wt['date']}: {wt['reason']})")
    if row.get("kind") == "lever":
        notes.append("lever applied to the baseline")
    return "; ".join(notes)


def bound(row: dict, ref: dict | None, replications: int) -> str:
    """``"at least"`` when *row*'s paired difference against *ref* is a lower bound: its job is unfinished on some
    seed (counted at the horizon, so it finishes later still) while *ref*'s finished on every seed; ``"at most"``
    in the mirror case; ``""`` otherwise (both finished, or both censored: no bound either way)."""
    if ref is None:
        return ""
    late, ref_late = (replications - int(r.get("finished") or 0) for r in (row, ref))
    if late and not ref_late:
        return "at least"
    if ref_late and not late:
        return "at most"
    return ""


def _bounded(text: str, word: str) -> str:
    return f"{word} {text}" if word and text != "-" else text


def waited(row: dict, parent: dict | None = None) -> bool:
    """Whether a row's job could not start when ready on some seed (the engine's ``job_wait``), and - given the row
    it extends - waited differently from it (the same wait is said once, on the parent)."""
    wt = row.get("wait")
    if not wt:
        return False
    pw = (parent or {}).get("wait") or {}
    return (pw.get("seeds"), pw.get("reason")) != (wt["seeds"], wt["reason"])


def table(study: dict) -> list[dict[str, str]]:
    """The rows of text of an options study (its ``to_dict()``), keyed by :data:`COLUMNS`."""
    R = int(study["replications"])
    groups: list[dict[str, dict]] = []  # the rows of each baseline job, by option (rows come grouped, baseline first)
    for r in study["rows"]:
        if r["kind"] == "baseline" or not groups:
            groups.append({})
        groups[-1][r["option"]] = r
    out = []
    for group in groups:
        out += [_cells(r, group, R) for r in group.values()]
    return out


def _cells(r: dict, group: dict[str, dict], R: int) -> dict[str, str]:
    """One row of text; *group*: the rows of its baseline job by option (its baseline and the row it extends)."""
    parent = group.get((r.get("vs_parent") or {}).get("option") or "")
    fd = r["finish_date"] or "-"
    if r.get("finish_date_low"):
        fd = f"{r['finish_date']} [{r['finish_date_low']}, {r['finish_date_high']}]"
    p = "-" if r.get("p_earlier") is None else f"{round(r['p_earlier'] * R)}/{R}"
    rules = ", ".join(f"{k} ({v}/{R})" for k, v in r["rules_in_window"].items()) or "none"
    return {
        "option": r["label"] if r["kind"] in ("baseline", "counterfactual") else r["option"],
        "job": f"{r['lab']}/{r['job']}",
        "chip (seeds)": chip_cell(r["chip_counts"], r.get("cluster_chips")),
        "finish date (95 % CI)": fd,
        "vs baseline, days (95 % CI)": "-" if r["diff_days"] is None else _bounded(
            _interval(r["diff_days"], _days), bound(r, group.get("baseline"), R)),
        "P(earlier than baseline)": p,
        "job cost, full basis (95 % CI)": _interval(r["cost_usd"], _usd),
        "rules taking effect in the job's window": rules,
        "note": note_cell(r, R, parent),
    }


def title(study: dict) -> str:
    """The table's title: the scenario and R."""
    return (f"Options for {study['scenario']} (R = {study['replications']} paired replications, seeds "
            f"{study['seeds'][0]}..{study['seeds'][-1]})")


CAPTION = ("finish: mean finish date over R seeds (at the horizon if unfinished), 95 % t interval; vs baseline: mean "
           "paired difference option - baseline in days (same seeds, common random numbers), 95 % t interval; "
           "P(earlier): seeds in which the option finishes strictly earlier; cost: the engine's full cost of the "
           "job (owned chips amortised with financing and power, plus rental bills)")

def _to_date(start: dt.date, day) -> dt.date | None:
    return None if _nan(day) else start + dt.timedelta(days=float(day))


def finish_chart(study: dict, height: int | None = None):
    """One annotated chart: each option's finish date per seed (dots), its mean with the 95 % interval (bar),
    the baseline's and the no-rules world's means as lines, and each option's difference written beside it."""
    import plotly.graph_objects as go

    start = dt.date.fromisoformat(study["start"])
    R = int(study["replications"])
    rows = study["rows"]
    labels = [r["label"] if r["kind"] in ("baseline", "counterfactual") else r["option"] for r in rows]
    fig = go.Figure()
    for r, y in zip(rows, labels, strict=True):
        dates = [_to_date(start, d) for d in r["finish_days"]]
        fig.add_trace(go.Scatter(x=dates, y=[y] * len(dates), mode="markers", showlegend=False,
                                 marker={"size": 7, "opacity": 0.35, "color": "#4C78A8"},
                                 hovertemplate="%{x|%Y-%m-%d}<extra>" + y + " (one seed)</extra>"))
        e = r["finish_day"]
        lo, hi = _to_date(start, e.get("ci_low")), _to_date(start, e.get("ci_high"))
        if lo and hi:
            fig.add_trace(go.Scatter(x=[lo, hi], y=[y, y], mode="lines", showlegend=False,
                                     line={"color": "#E45756", "width": 4}, hoverinfo="skip"))
        m = _to_date(start, e.get("mean"))
        if m:
            d = r.get("diff_days")
            txt = "" if d is None else f"{_interval(d, _days)} d"
            fig.add_trace(go.Scatter(x=[m], y=[y], mode="markers+text", showlegend=False, text=[txt],
                                     textposition="top center", marker={"size": 12, "color": "#E45756",
                                                                        "symbol": "diamond"},
                                     hovertemplate="mean %{x|%Y-%m-%d}<extra>" + y + "</extra>"))
    for r, dash, name in ((rows[0], "dash", "baseline"), (rows[1] if len(rows) > 1 else None, "dot", "no rules")):
        if r is None:
            continue
        m = _to_date(start, r["finish_day"].get("mean"))
        if m:
            fig.add_shape(type="line", x0=m, x1=m, y0=0, y1=1, yref="paper", line={"dash": dash, "color": "#555"})
            fig.add_annotation(x=m, y=1.0, yref="paper", text=f"{name}: {m.isoformat()}", showarrow=False,
                               xanchor="left" if name == "baseline" else "right", yshift=12, font={"size": 11})
    fig.update_layout(
        title=f"When the main job finishes, by option (R = {R} seeds; dots: one seed each; diamond and bar: mean and "
              f"95 % CI; label: mean paired difference vs baseline)",
        xaxis={"title": "finish date", "type": "date", "tickformat": "%b %Y"},
        yaxis={"autorange": "reversed", "automargin": True},
        height=height or 120 + 55 * len(rows), margin={"l": 10, "r": 20, "t": 90, "b": 40}, template="plotly_white",
    )
    return fig


__all__ = ["CAPTION", "COLUMNS", "bound", "chip_cell", "finish_chart", "note_cell", "table", "title"]
