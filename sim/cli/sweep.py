"""``exportsim sweep`` and ``exportsim analyze``: thin Typer commands over sim.experiments.sweep and .analysis.

Registered on the main app by ``register(app)`` (sim/cli/main.py).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer

from sim.cli.common import _fail, err, out


def _clean(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def _num(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, float):
        if abs(v) >= 1e6 or (abs(v) < 1 and v != 0):
            return f"{v:.3g}"
        return f"{int(v):,}" if v == int(v) else f"{v:,.2f}"
    return str(v)


def sweep(
    spec: Annotated[Path, typer.Argument(help="Sweep spec file (YAML).")],
    store: Annotated[Path | None, typer.Option("--store", "--out", help="Store folder (default sweeps/NAME).")] = None,
    executor: Annotated[str, typer.Option(help="local (processes), dask or serial.")] = "local",
    workers: Annotated[int | None, typer.Option(min=1, max=4096, help="Worker processes (default: CPU count).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler, tcp://HOST:PORT (implies dask).")] = None,
    extend: Annotated[bool, typer.Option("--extend", help="Add points/replications to a finished sweep.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Accepted for clarity: re-running always resumes.")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run failed runs again.")] = False,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed run.")] = False,
    chunk_size: Annotated[int | None, typer.Option(min=1, max=10_000, help="Runs per chunk (default: auto).")] = None,
    limit: Annotated[int | None, typer.Option(min=0, help="Run at most this many new runs, then stop.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count the planned runs and stop (nothing is "
                                                            "written).")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Run a sweep of more than 100,000 planned runs.")] = False,
    run_timeout: Annotated[float, typer.Option(min=0.001, max=86_400, help="Wall-time limit per run, seconds; a "
                                                                           "run past it is stored as failed.")]
    = 600.0,
    posterior: Annotated[Path | None, typer.Option("--posterior", help="Draw the calibrated inputs from this "
                                                                       "calibration store: design sample i takes "
                                                                       "posterior draw i.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run a sweep: every design point x replication, streamed to a resumable Parquet + DuckDB store."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from sim.experiments.sweep import EXECUTORS, SweepError, load_spec, run_sweep
    from sim.experiments.sweep.driver import planned_runs
    from sim.scenario.loader import ScenarioError

    if scheduler and executor == "local":
        executor = "dask"
    if executor == "processes":
        executor = "local"
    if executor not in EXECUTORS:
        _fail([f"--executor: must be one of {', '.join(EXECUTORS)}, got '{executor}'"])
    if scheduler and executor != "dask":
        _fail([f"--scheduler: only with --executor dask (got --executor {executor})"])
    try:
        ls = load_spec(spec)
    except ScenarioError as e:
        _fail(e.problems)
    if posterior is not None:
        from sim.cli.calibrate import load_posterior, note_posterior
        from sim.experiments.posterior import expand_path, with_posterior

        post = load_posterior(posterior)
        missing = []
        for p in post.parameters.values():
            try:
                expand_path(ls.base, p.path)
            except ValueError:
                missing.append(p.path)
        ls = with_posterior(ls, post)
        note_posterior(post, missing, "calibrated inputs (design sample i takes draw i)")
    if dry_run:
        n, pol, pts, reps = planned_runs(ls)
        if as_json:
            sys.stdout.write(json.dumps({"sweep_id": ls.sweep_id, "planned_runs": n, "policies": pol,
                                         "design_points": pts, "replications": reps}, indent=2) + "\n")
        else:
            out.print(f"sweep {ls.sweep_id}: {n:,} planned runs ({pol:,} policies x {pts:,} design points x "
                      f"{reps:,} replications); nothing run", markup=False, highlight=False)
        return
    notes: list[str] = []
    bar = Progress(TextColumn(f"sweep {ls.spec.name}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]} runs/s"), TextColumn("[red]{task.fields[failed]} failed"),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                   console=err.real, transient=True, disable=not err.is_terminal)
    import time

    t0 = time.perf_counter()
    with bar:
        task = bar.add_task("sweep", total=None, failed=0, rate="-")

        def progress(done: int, total: int, failed: int) -> None:
            dt = time.perf_counter() - t0
            bar.update(task, completed=done, total=total, failed=failed, rate=f"{done / dt:.1f}" if dt > 0 else "-")

        try:
            report = run_sweep(ls, store, executor=executor, workers=workers, scheduler=scheduler, extend=extend,
                               retry_failed=retry_failed, fail_fast=fail_fast, limit=limit, chunk_size=chunk_size,
                               progress=progress, yes=yes, run_seconds=run_timeout, notes=notes)
        except SweepError as e:
            _fail(e.problems)
    for note in notes:
        err.print(f"note: {note}", markup=False, highlight=False)
    summary = {"sweep_id": report.sweep_id, "store": report.store, "runs": report.total, "done": report.done,
               "skipped": report.skipped, "failed": report.failed, "remaining": report.remaining,
               "wall_s": round(report.wall_s, 3), "runs_per_s": round(report.runs_per_s, 3)
               if math.isfinite(report.runs_per_s) else None,
               "executor": report.executor, "workers": report.workers, "chunks": report.chunks,
               "kpi_patterns_matching_nothing": report.unmatched_kpis}
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    out.print(f"sweep [bold]{report.sweep_id}[/] -> {report.store}: {report.total} runs; "
              f"{report.done} done, {report.skipped} skipped (already stored), {report.failed} failed"
              + (f", {report.remaining} not run" if report.remaining else "")
              + f"; {report.wall_s:.1f} s wall ({report.executor}, {report.workers} worker(s))", highlight=False)
    if report.failed:
        out.print(f"failed runs: SELECT run_id, error FROM runs WHERE status = 'failed' "
                  f"(in {report.store}/catalogue.duckdb)",
                  markup=False, highlight=False)
    for p in report.unmatched_kpis:
        out.print(f"[yellow]warning[/] KPI pattern '{p}' matched no KPI", highlight=False)


def analyze(
    store: Annotated[Path, typer.Argument(help="A sweep store directory.")],
    kpi: Annotated[str | None, typer.Option(help="KPI to analyse (default: the first job finish day).")] = None,
    method: Annotated[str, typer.Option(help="sobol, morris, prim or auto.")] = "auto",
    threshold: Annotated[str | None, typer.Option(help="Condition for scenario discovery, e.g. '> 1300'.")] = None,
    fill: Annotated[float | None, typer.Option(help="Value for missing/NaN KPI values in Sobol/Morris.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Analyse a sweep: KPI distribution (by lever), Sobol/Morris indices or rank correlations, PRIM boxes."""
    from sim.experiments.analysis import AnalysisError, analyze_store
    from sim.experiments.store import Store, StoreError

    try:
        s = Store(store)
        rep = analyze_store(s, kpi, method, threshold, fill)
    except StoreError as e:
        _fail([str(e) if str(e).startswith(str(store)) else f"{store}: {e}"])
    except AnalysisError as e:
        _fail([f"{store}: {e}"])
    note = s.damage_note()
    if note:
        err.print(f"warning: {note}", markup=False, highlight=False)
    if as_json:
        sys.stdout.write(json.dumps(_clean(rep), indent=2, default=str) + "\n")
        return
    from rich.table import Table
    from rich.text import Text

    r = rep["runs"]
    head = Text.assemble((rep["sweep_id"], "bold"), f" ({rep['design']} design): {r['ok']} ok of {r['planned']} "
                         f"planned runs, {r['failed']} failed;  KPI ", (rep["kpi"], "bold"))
    out.print(head, highlight=False)
    t = Table(title="distribution")
    cols = ["n", "missing", "mean", "sd", "p5", "p50", "p95"]
    lever_cols = [c for c in (rep.get("by_lever") or [{}])[0] if c not in cols]
    for c in lever_cols + cols:
        t.add_column(c, justify="right")
    for row in rep.get("by_lever") or rep["summary"]:
        t.add_row(*[_num(row.get(c)) for c in lever_cols + cols])
    out.print(t)
    if "variance" in rep:
        v = rep["variance"]
        out.print(f"replication noise: {_num(v['noise_share'])} of the variance; {_num(v['replications_needed'])} "
                  f"replications per point for a ±{v['target_rel_halfwidth']:.0%} 95 % interval", highlight=False)
    for res in rep.get("sobol", []):
        t = Table(title=Text(f"Sobol indices {res['policy'] or ''} ({res['n_points']} points)"))
        for c in ("factor", "S1", "±", "ST", "± "):
            t.add_column(c, justify="left" if c == "factor" else "right")
        for f in res["factors"]:
            t.add_row(f["factor"], _num(f["S1"]), _num(f["S1_conf"]), _num(f["ST"]), _num(f["ST_conf"]))
        out.print(t)
    for res in rep.get("morris", []):
        title = f"Morris screening {res['policy'] or ''} ({res['n_points']} points; effects per full range)"
        t = Table(title=Text(title))
        for c in ("factor", "mu*", "±", "mu", "sigma"):
            t.add_column(c, justify="left" if c == "factor" else "right")
        for f in res["factors"]:
            t.add_row(f["factor"], _num(f["mu_star"]), _num(f["mu_star_conf"]), _num(f["mu"]), _num(f["sigma"]))
        out.print(t)
    if "rank_correlation" in rep:
        t = Table(title="Spearman rank correlation with the KPI (point means)")
        for c in ("parameter", "rho", "p"):
            t.add_column(c, justify="left" if c == "parameter" else "right")
        for f in rep["rank_correlation"]:
            t.add_row(f["parameter"], _num(f["spearman"]), _num(f["p_value"]))
        out.print(t)
    if "prim" in rep:
        p = rep["prim"]
        out.print(f"scenario discovery: {p['condition']} in {p['cases']} of {p['of']} runs", markup=False,
                  highlight=False)
        if not p["boxes"]:
            out.print("  no box concentrates those runs", highlight=False)
        for i, b in enumerate(p["boxes"], 1):
            out.print(f"  box {i}: {b['text']}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``sweep`` and ``analyze`` to *app*."""
    app.command()(sweep)
    app.command()(analyze)
