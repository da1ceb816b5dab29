"""``exportsim brief``: a decision document from a scenario, a comparison or a sweep store.

Registered on the main app by ``register(app)`` (sim/cli/main.py); helpers from sim.cli.common.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.cli.common import _check_output_file, _fail, err, out


def brief(
    target: Annotated[Path, typer.Argument(help="A scenario file, an 'exportsim compare --json' result, or a sweep "
                                                "store folder.")],
    fmt: Annotated[str | None, typer.Option("--format", help="html (interactive charts, opens offline), pdf or md "
                                                             "(PNG charts beside it); default: from --out, else html.")]
    = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Output file (default: <target>_brief.<format> "
                                                                "in the current folder).")] = None,
    audience: Annotated[str, typer.Option(help="policy (tightening and loosening levers: the remote-access ban on "
                                               "renting abroad, the library's lever files) or lab (strategies: "
                                               "own Ascend, rent abroad, mix).")] = "policy",
    replications: Annotated[int, typer.Option(min=1, max=1000, help="Paired replications per world.")] = 10,
    seed: Annotated[int | None, typer.Option(min=0, max=2**63 - 1,
                                             help="First seed (default: the scenario's).")] = None,
    option: Annotated[list[Path] | None, typer.Option("--option", help="An option to compare (a scenario file; "
                                                                       "repeatable; a file that does not extend it "
                                                                       "is a lever laid on it). Lab default: the "
                                                                       "scenario's _only/_rent/_mix/_rent_no_remote "
                                                                       "siblings; policy: _rent, _rent_no_remote "
                                                                       "and the lever files beside it.")] = None,
    posterior: Annotated[Path | None, typer.Option("--posterior", help="Draw the calibrated inputs from this "
                                                                       "calibration store (replication r takes "
                                                                       "posterior draw r in every world).")] = None,
) -> None:
    """Write a decision briefing: a finding for a title, a three-bullet bottom line, the options study, the
    mechanism, tipping points, confidence, signposts, assumptions with sources; an appendix with the method, the
    command that reproduces it and every number's provenance (95 % intervals of means over R seeds)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sim.reports.briefing import FORMATS, BriefingError, build, collect
    from sim.reports.briefing.render import reproduce_command
    from sim.scenario.loader import ScenarioError

    if fmt is None:
        suffix = out_file.suffix.lstrip(".").lower() if out_file is not None else ""
        fmt = suffix if suffix in FORMATS else "html"
    if fmt not in FORMATS:
        _fail([f"--format: must be html, pdf or md, got '{fmt}'"])
    if audience not in ("policy", "lab"):
        _fail([f"--audience: must be policy or lab, got '{audience}'"])
    if out_file is None:
        out_file = Path(f"{target.stem if target.suffix else target.name}_brief.{fmt}")
    _check_output_file(out_file, "--out")  # before the runs, not after them
    bar = Progress(TextColumn("briefing {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=err.real, transient=True, disable=not err.is_terminal)
    try:
        with bar:
            task = bar.add_task(str(target), total=None)
            data = collect(target, audience, replications, seed, option,
                           progress=lambda done, total, label: bar.update(task, completed=done, total=total,
                                                                          description=label),
                           posterior=posterior)
            bar.update(task, description="rendering")
            command = reproduce_command(data) + f" --format {fmt} --out {out_file}"
            b = build(data, command)
            files = b.render(fmt, out_file.stem)
    except ScenarioError as e:
        _fail(e.problems)
    except BriefingError as e:
        _fail(e.problems)
    from sim.reports.briefing import write

    try:
        written = write(files, out_file, fmt)
    except OSError as e:
        _fail([f"{out_file}: cannot write: {e.strerror or e}"])
    _, why = b.static_charts() if fmt != "html" else ({}, None)
    extra = len(written) - 1
    beside = f" (+ {extra} file{'s' if extra > 1 else ''} in {out_file.stem}_files/)" if extra else ""
    out.print(f"wrote {out_file}{beside}", markup=False, highlight=False)
    store = (getattr(data, "sweep", None) or {}).get("store")
    note = store.damage_note() if store is not None and hasattr(store, "damage_note") else None
    if note:
        err.print(f"warning: {note}", markup=False, highlight=False)
    if why:
        err.print(f"note: {why}", markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``brief`` to the ``exportsim`` app."""
    app.command("brief")(brief)
