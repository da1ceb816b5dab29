"""What every ``exportsim`` command module shares: the consoles and the one-line error exit."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from sim.scenario.loader import ScenarioError, _escape, load_scenario

out = Console() if sys.stdout.isatty() else Console(width=160)  # pipes and files get full-width tables
err = Console(stderr=True, soft_wrap=True)  # a problem line is never wrapped, whatever the width

EXIT_BAD_INPUT = 2


def _fail(problems: list) -> None:
    """Print one line per problem on stderr and exit with code 2."""
    for p in problems:  # escaped: a newline in a path or name given on the command line stays in its line
        err.print(_escape(str(p)), markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _check_output_dir(path: Path, flag: str, *, shown: Path | None = None) -> None:
    """Exit 2 with one line, before any long work, if *path* (a folder to create or fill) cannot be written."""
    import os

    if shown is None and path.exists() and not path.is_dir():
        _fail([f"{path}: {flag} must be a folder, and this is a file"])
    shown = shown if shown is not None else path
    path, probe = shown, path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        _fail([f"{path}: cannot write: {probe} is a file, not a folder"])
    if not os.access(probe, os.W_OK | os.X_OK):
        _fail([f"{path}: cannot write: Permission denied ({probe})"])


def _check_output_file(path: Path, flag: str) -> None:
    """Exit 2 with one line, before any long work, if the file *path* cannot be created or replaced."""
    import os

    if path.is_dir():
        _fail([f"{path}: {flag} must be a file, and this is a folder"])
    if path.exists() and not os.access(path, os.W_OK):
        _fail([f"{path}: cannot write: Permission denied"])
    _check_output_dir(path.parent if str(path.parent) else Path("."), flag, shown=path)


def _load(path: Path):
    """Load a scenario or exit 2 with its problems."""
    try:
        return load_scenario(path)
    except ScenarioError as e:
        _fail(e.problems)


def _progress_runner(label: str):
    """A rich progress bar that appears only on a terminal (plain output stays clean for pipes)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(label), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                    console=err, transient=True, disable=not err.is_terminal)


def _fmt(v: float) -> str:
    import math

    if isinstance(v, float) and math.isnan(v):
        return "-"
    if abs(v) >= 1e6 or (abs(v) < 1 and v != 0):
        return f"{v:.3g}"
    return f"{v:,.2f}" if v != int(v) else f"{int(v):,}"
