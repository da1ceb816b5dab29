"""``exportsim calibrate``: fit a scenario's uncertain inputs to published figures (ABC-SMC), or report on a fit.

Registered on the main app by ``register(app)``; the work is in sim.experiments.calibrate and
sim.experiments.calibration_report, the charts in sim.reports.calibration.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from sim.cli.common import _fail, err, out


def _num(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, float):
        if abs(v) >= 1e6 or (abs(v) < 1 and v != 0):
            return f"{v:.3g}"
        return f"{v:,.0f}" if abs(v) >= 1000 or v == int(v) else f"{v:,.2f}"
    return str(v)


def _clean(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def _duration(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "?"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def _progress_printer(quiet: bool):
    t0 = time.perf_counter()

    def show(ev: dict) -> None:
        if quiet:
            return
        kind = ev.get("event")
        if kind == "start":
            how = f"resuming after {ev['done']} stored generation(s)" if ev["resumed"] else "new"
            err.print(f"calibrate -> {ev['store']} ({how}; {ev['executor']}, {ev['workers']} worker(s)); "
                      f"fitting {len(ev['fit'])} observable(s), holding out {len(ev['held_out'])}",
                      markup=False, highlight=False)
        elif kind == "generation_start":
            err.print(f"generation {ev['t'] + 1}/{ev['of']}: threshold {ev['epsilon']:.4g} ...", markup=False,
                      highlight=False)
        elif kind == "generation":
            err.print(f"generation {ev['t'] + 1}/{ev['of']} done: {ev['accepted']} accepted of {ev['samples']} runs "
                      f"({ev['acceptance_rate']:.1%}), ESS {ev['ess']:.0f}, {_duration(ev['wall_s'])}; "
                      f"{ev['total_samples']} runs in all, {_duration(time.perf_counter() - t0)} elapsed; "
                      f"eta {_duration(ev.get('eta_s'))}", markup=False, highlight=False)
        elif kind == "predictive" and (ev["done"] in (0, ev["of"]) or ev["done"] % 100 == 0):
            err.print(f"predictive checks: {ev['done']}/{ev['of']} runs", markup=False, highlight=False)

    return show


def print_report(rep: dict) -> None:
    """The calibration report as terminal tables."""
    from rich.table import Table
    from rich.text import Text

    from sim.experiments.calibration_report import unreachable_sentence

    change = rep.get("model_change")
    match = ("" if change is None else
             f" [yellow](the source is now {rep['model_fingerprint_now']}, the same MODEL_VERSION)[/]"
             if change == "source" else f" [red](the model is now {rep['model_fingerprint_now']}: recalibrate)[/]")
    out.print(Text.assemble(("calibration ", ""), (str(rep["name"]), "bold"), f" ({rep['store']}): {rep['status']}; "
                            f"{rep.get('stopped_because') or ''}"), highlight=False)
    out.print(f"model {rep['model_fingerprint']}{match}; cut-off {rep['cutoff']}; {len(rep['generations'])} "
              f"generations, {rep['simulations']} fitting runs, {rep['predictive_runs']} predictive runs; "
              f"{rep['particles']} particles, ESS {rep['ess']:.0f}", highlight=False)
    t = Table(title="Generations")
    for c in ("t", "threshold", "runs", "accepted", "acceptance", "ESS", "wall"):
        t.add_column(c, justify="right")
    for g in rep["generations"]:
        t.add_row(str(g["t"]), f"{g['epsilon']:.4g}", str(g["samples"]), str(g["accepted"]),
                  f"{g['acceptance_rate']:.1%}", f"{g['ess']:.0f}", _duration(g["wall_s"]))
    out.print(t)
    t = Table(title="Inputs: prior -> posterior (5-95 %)")
    for c in ("input", "how", "prior 5-95 %", "posterior median", "posterior 5-95 %", "shift (prior sd)",
              "contraction", "KS / 5 % crit", "verdict"):
        t.add_column(c, justify="left" if c in ("input", "how", "verdict") else "right")
    for i in rep["inputs"]:
        pr, po = i["prior"], i["posterior"]
        style = {"pinned": "green", "at prior": "yellow"}.get(i["verdict"], "")
        t.add_row(i["input"], i["apply"], f"{_num(pr['q05'])} - {_num(pr['q95'])}", _num(po["q50"]),
                  f"{_num(po['q05'])} - {_num(po['q95'])}", f"{i['shift_sd']:+.2f}", f"{i['contraction']:.2f}",
                  f"{i['ks']:.2f} / {i['ks_crit']:.2f}", Text(i["verdict"], style=style))
    out.print(t)
    strong = [p for p in rep["pairs"] if abs(p["r"]) >= 0.3]
    if strong:
        out.print("posterior correlations |r| >= 0.3: " + "; ".join(f"{p['a']} ~ {p['b']} {p['r']:+.2f}"
                                                               for p in strong), highlight=False)
    for role, title in (("fit", "In sample (fitted)"), ("held_out", "Held out (predicted, not fitted)")):
        rows = [r for r in rep["observables"] if r["role"] == role]
        if not rows:
            continue
        t = Table(title=f"{title}: published vs posterior predictive")
        for c in ("observable", "date", "published", "median", "80 % interval", "95 % interval", "80 %", "95 %",
                  "median in range"):
            t.add_column(c, justify="left" if c == "observable" else "right")
        for r in rows:
            p = r["posterior"]
            pub = f"{_num(r['low'])} - {_num(r['high'])}"
            yes = lambda b: Text("inside", style="green") if b else Text("OUTSIDE", style="red")  # noqa: E731
            t.add_row(r["observable"], str(r["date"]), pub, _num(p["median"]), f"{_num(p['p10'])} - {_num(p['p90'])}",
                      f"{_num(p['p2_5'])} - {_num(p['p97_5'])}", yes(r["covered_80"]), yes(r["covered_95"]),
                      "yes" if r["median_inside"] else "no")
        out.print(t)
    for role, label in (("held_out", "held-out"), ("fit", "in-sample")):
        c = rep["coverage"][role]
        if c["n"]:
            out.print(f"{label} coverage: the 80 % interval meets {c['covered_80']}/{c['n']} published ranges, the "
                      f"95 % interval {c['covered_95']}/{c['n']}; median inside {c['median_inside']}/{c['n']}",
                      highlight=False)
    out.print(f"pinned by the data: {', '.join(rep['pinned']) or 'none'}; at their priors: "
              f"{', '.join(rep['at_prior']) or 'none'}; unclear at ESS {rep['ess']:.0f}: "
              f"{', '.join(rep['unclear']) or 'none'}", highlight=False)
    if rep["at_bound"]:
        out.print(f"[yellow]against a prior bound[/]: {', '.join(rep['at_bound'])} (the data want values outside "
                  "the prior: widen it, or the model lacks a mechanism)", highlight=False)
    for u in rep["unreachable"]:
        out.print("[yellow]unreachable[/] " + unreachable_sentence(u), highlight=False)
    for oid, why in rep["skipped"].items():
        out.print(f"not used: {oid} ({why})", markup=False, highlight=False)


def write_html(store, rep: dict, path: Path) -> None:
    """Every calibration chart in one offline HTML file."""
    from sim.experiments.calibration_report import CalibrationStore
    from sim.reports import calibration as charts

    cs = CalibrationStore.load(store)
    figs = [charts.predictive_overview(rep), charts.prior_posterior(cs, rep), charts.generations_chart(rep),
            charts.correlation_heatmap(rep)]
    figs += [charts.predictive_check(cs, r["observable"], rep) for r in rep["observables"]]
    parts = [f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figs)]
    html = ("<!doctype html><html><head><meta charset='utf-8'><title>calibration "
            f"{rep['name']}</title></head><body>" + "\n".join(parts) + "</body></html>")
    path.write_text(html)


def calibrate(
    spec: Annotated[Path | None, typer.Argument(help="Calibration spec (YAML); omit with --report.")] = None,
    store: Annotated[Path | None, typer.Option("--store", help="Store folder (default calibrations/NAME).")] = None,
    executor: Annotated[str, typer.Option(help="local (processes), dask or serial.")] = "local",
    workers: Annotated[int | None, typer.Option(min=1, max=4096, help="Worker processes (default: CPU count).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler, tcp://HOST:PORT (implies dask).")] = None,
    generations: Annotated[int | None, typer.Option(min=1, max=100, help="Generations in all (default: the spec's); "
                                                                           "more than stored goes on.")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Report on a calibration store instead.")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="With --report (or after a fit): write every chart "
                                                              "(predictive checks, prior vs posterior) to this file.")]
    = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress lines.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Fit a scenario's uncertain inputs to published figures dated up to a cut-off (ABC-SMC), predict the
    later ones; the posterior is a store that run/compare/sweep/brief accept as --posterior."""
    from sim.experiments.calibrate import EXECUTORS, CalibrationError, load_calibration, run_calibration
    from sim.experiments.calibration_report import summarise
    from sim.experiments.posterior import PosteriorError
    from sim.scenario.loader import ScenarioError

    if (spec is None) == (report is None):
        _fail(["calibrate: give a SPEC to fit, or --report STORE (not both)"])
    if report is None:
        assert spec is not None
        if scheduler and executor == "local":
            executor = "dask"
        if executor not in EXECUTORS:
            _fail([f"--executor: must be one of {', '.join(EXECUTORS)}, got '{executor}'"])
        if scheduler and executor != "dask":
            _fail([f"--scheduler: only with --executor dask (got --executor {executor})"])
        try:
            lc = load_calibration(spec)
        except ScenarioError as e:
            _fail(e.problems)
        try:
            res = run_calibration(lc, store, executor=executor, workers=workers, scheduler=scheduler,
                                  generations=generations, progress=_progress_printer(quiet or as_json),
                                  show_progress=err.is_terminal and not (quiet or as_json))
        except CalibrationError as e:
            _fail(e.problems)
        report = Path(res.store)
        if not as_json:
            out.print(f"calibration [bold]{res.name}[/] -> {res.store}: {res.generations} generations "
                      f"({res.new_generations} new), {res.simulations} fitting runs, {res.predictive_runs} predictive "
                      f"runs, {res.wall_s:.0f} s wall ({res.executor}, {res.workers} worker(s)); {res.stopped_because}",
                      highlight=False)
    try:
        rep = summarise(report)
    except PosteriorError as e:
        _fail([str(e)])
    if html is not None:
        try:
            write_html(report, rep, html)
        except OSError as e:
            _fail([f"{html}: cannot write: {e.strerror or e}"])
    if as_json:
        sys.stdout.write(json.dumps(_clean(rep), indent=2, default=str) + "\n")
        return
    print_report(rep)
    if html is not None:
        out.print(f"charts written to {html}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``calibrate`` to the ``exportsim`` app."""
    app.command("calibrate")(calibrate)


# ------------------------------------------------------------------ --posterior for the other commands
def load_posterior(path: Path):
    """The posterior of a calibration store, or exit 2 with one line; warns when the model has changed since."""
    from sim.experiments.posterior import Posterior, PosteriorError

    try:
        post = Posterior.load(path)
    except PosteriorError as e:
        _fail([str(e)])
    warn = post.model_warning()
    if warn:
        err.print(f"warning: {warn}", markup=False, highlight=False, soft_wrap=True)
    return post


def note_posterior(post, missing: list[str], what: str = "inputs") -> None:
    """Say on stderr that the inputs come from the posterior, and which of them the scenario lacks."""
    err.print(f"{what} from the {post.label()}", markup=False, highlight=False, soft_wrap=True)
    if missing:
        err.print(f"warning: this scenario has no {', '.join(missing)}: those calibrated inputs were not applied",
                  markup=False, highlight=False, soft_wrap=True)
