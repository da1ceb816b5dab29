"""CLI commands for the scenario library: ``backtest`` (history vs published figures) and ``diff``
(what two scenarios assume differently).  ``register(app)`` adds them to the ``exportsim`` app."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer


def _clean(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e6:
        return f"{v:.3g}"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _short(v: Any, width: int = 60) -> str:
    if v is None:
        return "-"
    if isinstance(v, dict):
        name = v.get("name")
        shown = f"{{{name}}}" if isinstance(name, str) and name else json.dumps(v, default=str)
    elif isinstance(v, float):
        shown = _num(v) if abs(v) >= 100 else f"{v:g}"
    else:
        shown = json.dumps(v, default=str) if isinstance(v, (list, bool)) else str(v)
    return shown if len(shown) <= width else shown[: width - 1] + "…"


def register(app: typer.Typer) -> None:
    """Add ``backtest`` and ``diff`` to *app*."""
    from sim.cli.common import _fail, _load, _progress_runner, out

    DEFAULT_OBSERVED = Path("scenarios/observed.yaml")  # noqa: N806 - sim.experiments.backtest's default (a test holds them equal); not imported here: it loads pandas

    @app.command()
    def backtest(
        observed: Annotated[Path, typer.Option("--observed", help="Observables file.")] = DEFAULT_OBSERVED,
        replications: Annotated[int, typer.Option(
            "--replications", "-r", min=1, max=10_000, help="Runs per scenario (seeds scenario.seed + r).")] = 10,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """Run the 2022-2026 history (and reference training runs) and compare with published figures."""
        from sim.experiments.backtest import backtest as run_backtest
        from sim.experiments.backtest import load_observed
        from sim.scenario.loader import ScenarioError

        try:
            obs = load_observed(observed)
        except ScenarioError as e:
            _fail(e.problems)
        try:
            n_scen = len({o.compute.scenario for o in obs.observables.values()})
            with _progress_runner(f"backtest, {replications} replications") as bar:
                task = bar.add_task("backtest", total=n_scen * replications)
                rows = run_backtest(obs, replications, base_dir=observed.parent,
                                    progress=lambda i, n: bar.update(task, completed=i))
        except ScenarioError as e:
            _fail(e.problems)
        except KeyError as e:
            _fail([f"{observed}:1: observables: {e.args[0]}"])
        if as_json:
            payload = {"observed": str(observed), "replications": replications,
                       "inside": sum(r.inside for r in rows), "observables": len(rows),
                       "rows": [{k: _clean(v) for k, v in dataclasses.asdict(r).items()} for r in rows]}
            sys.stdout.write(json.dumps(payload, indent=2) + "\n")
            return
        from rich.table import Table
        from rich.text import Text

        t = Table(title=f"Backtest against published figures ({replications} replications per scenario)")
        for col in ("observable", "published range", "central", "simulated median", "10-90 % band", "", "source"):
            t.add_column(col, justify="left" if col in ("observable", "source", "") else "right")
        for r in rows:
            verdict = Text("inside", style="green") if r.inside else Text("OUTSIDE", style="bold red")
            t.add_row(Text(r.observable), f"{_num(r.published_low)} – {_num(r.published_high)}",
                      _num(r.published_central), _num(r.simulated_median),
                      f"{_num(r.simulated_p10)} – {_num(r.simulated_p90)}", verdict, Text(r.source))
        out.print(t)
        out.print(f"{sum(r.inside for r in rows)} of {len(rows)} observables inside the published range")

    @app.command()
    def diff(
        a: Annotated[Path, typer.Argument(help="Scenario A (the base).")],
        b: Annotated[Path, typer.Argument(help="Scenario B.")],
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """The assumptions that differ between two scenarios (after extends): path, A, B, sources."""
        from sim.scenario.diff import diff_scenarios

        sa = _load(a)
        sb = _load(b)
        rows = diff_scenarios(sa, sb)
        if as_json:
            payload = {"a": str(a), "b": str(b), "changes": [
                {"path": r.path, "old": r.old, "new": r.new, "old_source": r.old_source, "new_source": r.new_source}
                for r in rows]}
            sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
            return
        if not rows:
            out.print(f"{sa.name} and {sb.name}: no differences in assumptions")
            return
        from rich.table import Table
        from rich.text import Text

        t = Table(title=f"{sa.name} (A)  vs  {sb.name} (B): {len(rows)} changed values")
        for col in ("path", "A", "B", "source"):
            t.add_column(col)
        for r in rows:
            src = ", ".join(r.new_source) if r.new is not None else ", ".join(r.old_source)
            if r.new is not None and r.old is not None and r.old_source != r.new_source:
                src = f"{', '.join(r.old_source) or '-'} → {', '.join(r.new_source) or '-'}"
            t.add_row(Text(r.path), Text(_short(r.old)), Text(_short(r.new)), Text(src))
        out.print(t)
