"""``exportsim chokepoints``: simulated knock-outs of each node against graph centrality (sim.experiments.chokepoints).

Registered on the main app by ``register(app)`` (sim/cli.py stays the lead's).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer

from sim.cli import common as _cli


def _n(v, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    a = abs(v)
    if a >= 1e6 or (0 < a < 0.01):
        return f"{v:.3g}"
    return f"{v:,.{digits}f}"


def _ci(lo, hi, digits: int = 1) -> str:
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return "-"
    return f"[{_n(lo, digits)}, {_n(hi, digits)}]"


def chokepoints(
    file: Annotated[Path, typer.Argument(help="Scenario file.")],
    lab: Annotated[str | None, typer.Option(
        "--lab", help="Lab whose KPI is hurt (default: the first with a job).")] = None,
    kpi: Annotated[str | None, typer.Option(
        "--kpi", help="job_finish_day (default: the main job), compute_eflops_end, domestic_share, or a full KPI name."
    )] = None,
    from_: Annotated[str | None, typer.Option(
        "--from", help="Knock-out date, YYYY-MM-DD (default: the start).")] = None,
    severity: Annotated[float, typer.Option(help="Share of capacity lost: 1 = knocked out, 0.5 = halved.")] = 1.0,
    replications: Annotated[int, typer.Option(min=1, max=10_000, help="Paired replications per knock-out.")] = 5,
    executor: Annotated[str, typer.Option(help="serial, local (processes) or dask.")] = "local",
    workers: Annotated[int | None, typer.Option(min=1, max=4096, help="Worker processes (default: CPU count).")] = None,
    kind: Annotated[list[str] | None, typer.Option(
        "--kind", help="Only targets of this kind: foundry, memory, packager, vendor, distributor, cloud, edge "
                       "(repeatable, or comma-separated)."
    )] = None,
    seed: Annotated[int | None, typer.Option(min=0, max=2**63 - 1,
                                             help="First seed (default: the scenario's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Rank chokepoints: knock out each node (or channel edge) and measure the lab's KPI against the graph's view."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sim.experiments.chokepoints import ChokepointError, rank

    if not 0 <= severity <= 1 or not math.isfinite(severity):
        _cli._fail([f"--severity: must be between 0 and 1, got {severity:g}"])
    since = None
    if from_ is not None:
        try:
            since = dt.date.fromisoformat(from_.strip())
        except ValueError:
            _cli._fail([f"--from: not a date (YYYY-MM-DD): '{from_}'"])
    kinds = [k.strip() for item in (kind or []) for k in item.split(",") if k.strip()] or None
    s = _cli._load(file)
    bar = Progress(TextColumn(f"chokepoints {s.name}"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"),
                   TimeElapsedColumn(), console=_cli.err.real, transient=True, disable=not _cli.err.is_terminal)
    with bar:
        task = bar.add_task("runs", total=None)
        try:
            rep = rank(s, lab=lab, kpi=kpi, since=since, severity=severity, replications=replications,
                       executor=executor, workers=workers, kinds=kinds, seed=seed,
                       progress=lambda done, total: bar.update(task, completed=done, total=total))
        except ChokepointError as e:
            _cli._fail([str(e)])
    if as_json:
        sys.stdout.write(json.dumps(rep.to_dict(), indent=2) + "\n")
        return
    _print(rep, s)


def _print(rep, s) -> None:
    from rich.table import Table
    from rich.text import Text

    finish = rep.kpi.startswith("job_finish_day[")
    unit = " (days)" if finish else ""
    how = "knocked out" if rep.severity >= 1 else f"losing {rep.severity:.0%} of capacity"
    title = (f"{rep.scenario}: each target {how} from {rep.since}; impact on {rep.kpi}{unit}, "
             f"{rep.replications} paired replications (positive = hurts {rep.lab})")
    t = Table(title=Text(title))
    lab = rep.lab
    shown = [(k, label) for k, label in (("compute_eflops_end", "Δ compute EF"), ("domestic_share", "Δ domestic"))
             if f"{k}[{lab}]" != rep.kpi]
    cols = ["#", "target", "kind", "impact", "95% CI", *[label for _, label in shown], "betweenness", "graph #",
            "every path", "cap. share"]
    if finish:
        cols.insert(5, "unfinished")
    for c in cols:
        t.add_column(c, justify="left" if c in ("target", "kind") else "right")
    for r in rep.rows:
        sec = r.get("secondary") or {}
        gp = r.get("graph_place")
        graph = "-" if gp is None else (str(gp[0]) if gp[0] == gp[1] else f"{gp[0]}-{gp[1]}")
        path = "-" if r["on_every_path"] is None else ("yes" if r["on_every_path"] else "no")
        bc = f"{r['betweenness']:.3f}" + ("ᵉ" if r["betweenness_of"] == "edge" else "")
        share = r["capacity_share"]
        cells = [str(r["sim_rank"] or "-"), Text(r["target"]), r["kind"], _n(r["impact"]),
                 _ci(r["impact_ci_low"], r["impact_ci_high"]),
                 *[_n(sec.get(f"{k}[{lab}]", {}).get("diff_mean"), 3 if k == "domestic_share" else 1)
                   for k, _ in shown], bc, graph, path,
                 "-" if share is None or (isinstance(share, float) and math.isnan(share)) else f"{share:.0%}"]
        if finish:
            cells.insert(5, "-" if r.get("unfinished") is None else f"{r['unfinished']}/{rep.replications}")
        t.add_row(*cells)
    _cli.out.print(t)
    base = rep.base.get(rep.kpi)
    if base is not None:
        extra = f" ({s.start + dt.timedelta(days=base)})" if finish else ""
        _cli.out.print(f"base run: {rep.kpi} = {_n(base)}{extra}", highlight=False, markup=False)
    sp = rep.spearman
    rho = sp.get("rho")
    if rho is not None and not (isinstance(rho, float) and math.isnan(rho)):
        _cli.out.print(f"Spearman rank correlation, simulated impact vs betweenness: rho = {rho:+.2f} "
                  f"(p = {sp['p_value']:.2g}, {sp['n']} nodes)", highlight=False, markup=False)
    else:
        _cli.out.print(f"Spearman rank correlation: undefined ({sp.get('why_undefined', 'no data')})", highlight=False,
                  markup=False)
    for sentence in rep.disagreements:
        _cli.out.print("• " + sentence, highlight=False, markup=False, soft_wrap=True)
    for note in rep.notes:
        if not note.startswith("Spearman"):
            _cli.out.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    _cli.out.print("ᵉ edge betweenness (rental edges are not ranked by the graph)", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``chokepoints`` to *app*."""
    app.command()(chokepoints)
