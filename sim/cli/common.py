"""What every ``exportsim`` command module shares: the consoles and the one-line error exit."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from sim.scenario.loader import ScenarioError, _escape, load_scenario

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """A rich :class:`~rich.console.Console` made on first use, standing in for it (attributes pass through).

    Importing rich's console costs ~20 ms, and a command that prints nothing through it (``run --json``, a
    ``schema`` dump) never needs one.  ``real`` is the console itself, for the APIs that take one
    (``Progress(console=...)``).
    """

    def __init__(self, **options: Any):
        self._options = options
        self._console: Console | None = None

    @property
    def real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


# pipes and files get full-width tables (decided when the CLI starts, as the console's own detection would be)
out = _LazyConsole() if sys.stdout.isatty() else _LazyConsole(width=160)
err = _LazyConsole(stderr=True, soft_wrap=True)  # a problem line is never wrapped, whatever the width

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


#: Whether this process is the command line (set by its entry points, :func:`sim.cli._serve`; not under a test's
#: CliRunner).
serving = False


@contextmanager
def starting() -> Iterator[None]:
    """A command's start-up, before its long work: lazy imports (numpy, SimPy, the engine) and loading make
    long-lived objects, so in the CLI's process the collector pauses for it and freezes what it made (as the
    entry points do for the CLI's own imports, :func:`sim.cli._serve`).  Elsewhere (a test's CliRunner, a
    caller's process) nothing changes."""
    if not (serving and gc.isenabled()):
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _progress_runner(label: str):
    """A rich progress bar that appears only on a terminal (plain output stays clean for pipes)."""
    if _surely_not_a_terminal(sys.stderr):
        return _NoProgress()  # what a disabled bar does (nothing), without importing rich for it
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(label), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                    console=err.real, transient=True, disable=not err.is_terminal)


def _surely_not_a_terminal(stream: Any) -> bool:
    """Whether rich would call *stream* no terminal, decided without rich: no ``TTY_COMPATIBLE=1`` or
    ``FORCE_COLOR`` (which make rich say terminal) and no true ``isatty()``, or ``TTY_COMPATIBLE=0`` (rich 13-15's
    ``Console.is_terminal``).  False means "ask rich" (it may still say no: Jupyter, IDLE)."""
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible == "0":
        return True
    if tty_compatible == "1" or os.environ.get("FORCE_COLOR") is not None:
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return isatty is None or not isatty()
    except ValueError:
        return False


class _NoProgress:
    """A progress bar that shows nothing: the one :func:`_progress_runner` gives when there is no terminal."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, **fields: Any) -> int:
        return 0

    def update(self, task: int, **fields: Any) -> None:
        return None


def _fmt(v: float) -> str:
    import math

    if isinstance(v, float) and math.isnan(v):
        return "-"
    if abs(v) >= 1e6 or (abs(v) < 1 and v != 0):
        return f"{v:.3g}"
    return f"{v:,.2f}" if v != int(v) else f"{int(v):,}"
