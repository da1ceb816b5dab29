"""What every ``exportsim`` command module shares: the consoles and the one-line error exit."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from sim.scenario.loader import ScenarioError, load_scenario

out = Console() if sys.stdout.isatty() else Console(width=160)  # pipes and files get full-width tables
err = Console(stderr=True)

EXIT_BAD_INPUT = 2


def _fail(problems: list) -> None:
    """Print one line per problem on stderr and exit with code 2."""
    for p in problems:
        err.print(str(p), markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _load(path: Path):
    """Load a scenario or exit 2 with its problems."""
    try:
        return load_scenario(path)
    except ScenarioError as e:
        _fail(e.problems)
