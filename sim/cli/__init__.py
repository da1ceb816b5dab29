"""The ``exportsim`` command line (Typer); ``main`` is the console script.

Kept import-free: the console script imports this package, so a Ctrl-C while the rest loads (numpy, pydantic,
SimPy: the first second) is caught here and ends quietly with exit 130, like one at any later moment.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable


def main() -> None:
    """Console-script entry point (see :func:`sim.cli.main.main`)."""
    gc.disable()  # see _serve
    try:
        from sim.cli.main import main as _main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    _serve(_main)


def _serve(command: Callable[[], None]) -> None:
    """Run *command* (the CLI's main, which exits) with the garbage collector set for a process that ends after it.

    The entry points switch the collector off before the CLI's modules load: start-up (imports, the schema's
    validators) makes long-lived objects only, and collecting while they pile up is wasted work.  Here, what
    start-up made is frozen (never scanned again) and collection resumes for the command itself.  At exit the
    objects still alive are frozen too: the interpreter's final collection would scan every one of them (tens of
    ms after a run) for cycles that the process's end frees anyway.  A command's own start-up (its lazy imports
    and loading) is treated the same way: see :func:`sim.cli.common.starting`.
    """
    from sim.cli import common

    common.serving = True
    gc.freeze()
    gc.enable()
    try:
        command()
    finally:
        gc.freeze()


def __getattr__(name: str):
    if name == "app":
        from sim.cli.main import app

        return app
    raise AttributeError(f"module 'sim.cli' has no attribute {name!r}")


__all__ = ["app", "main"]
