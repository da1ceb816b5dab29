"""``exportsim options``: the options study (baseline, no-rules counterfactual, each option) as a table or JSON.

Registered on the main app by ``register(app)`` (sim/cli/main.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from sim.cli.common import _fail, _load, err, out


def options(
    file: Annotated[Path, typer.Argument(help="Scenario file (the baseline).")],
    option: Annotated[list[Path] | None, typer.Option(
        "--option", help="An option (repeatable): a file that extends the scenario runs as it is (a variant); any "
                         "other file is a lever whose rules/nodes/edges/clouds are laid on the baseline. Default: "
                         "the scenario's _only/_rent/_mix/_rent_no_remote siblings (lab) or the library's levers "
                         "(policy).")] = None,
    audience: Annotated[str, typer.Option(help="Default options: lab (strategies), policy (tightening and loosening "
                                               "levers) or all.")] = "lab",
    replications: Annotated[int, typer.Option(min=1, max=10_000, help="Replications per world (same seeds).")] = 10,
    seed: Annotated[int | None, typer.Option(min=0, help="First seed (default: the scenario's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Options study: each option's finish date, difference vs baseline, P(earlier), cost, chip and rules (R seeds)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from sim.experiments.options import options_study
    from sim.reports import options as fmt
    from sim.scenario.loader import ScenarioError

    if audience not in ("lab", "policy", "all"):
        _fail([f"--audience: must be lab, policy or all, got '{audience}'"])
    for f in option or []:
        if not f.is_file():
            _fail([f"{f}:1: -: no such option file"])
    base = _load(file)
    from sim.cli.common import _progress_runner

    try:
        with _progress_runner("options") as bar:
            task = bar.add_task("options", total=1)
            study = options_study(base, file, option, replications, seed, audience,
                                  progress=lambda i, n, what: bar.update(task, completed=i, total=n))
    except ScenarioError as e:
        _fail(e.problems)
    data = study.to_dict()
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    out.print(f"[bold]Question[/]: {study.question}", highlight=False)
    main = fmt.COLUMNS[:7]
    short = {"vs baseline, days (95 % CI)": "vs baseline, days", "P(earlier than baseline)": "P(earlier)",
             "job cost, full basis (95 % CI)": "job cost, full basis", "finish date (95 % CI)": "finish date"}
    t = Table(title=fmt.title(data), caption=fmt.CAPTION + ". Brackets: 95 % CI.")
    for c in main:
        t.add_column(short.get(c, c), overflow="fold", no_wrap=c in short,
                     justify="left" if c in ("option", "job", "chip (seeds)") else "right")
    rows = fmt.table(data)
    for row in rows:
        t.add_row(*(Text(row[c]) for c in main))
    wide = out if out.is_terminal else Console(width=220)
    wide.print(t)
    for row in rows:
        out.print(Text(f"{row['option']}: rules taking effect in the job's window: "
                       f"{row[fmt.COLUMNS[7]]}" + (f"; {row['note']}" if row["note"] else "")))
    if not study.rows:
        err.print("no lab in the scenario has a training job: nothing to compare", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``options`` to *app*."""
    app.command(name="options")(options)
