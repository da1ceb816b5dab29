"""The ``exportsim`` command line (Typer); ``main`` is the console script.

Kept import-free: the console script imports this package, so a Ctrl-C while the rest loads (numpy, pydantic,
SimPy: the first second) is caught here and ends quietly with exit 130, like one at any later moment.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point (see :func:`sim.cli.main.main`)."""
    try:
        from sim.cli.main import main as _main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    _main()


def __getattr__(name: str):
    if name == "app":
        from sim.cli.main import app

        return app
    raise AttributeError(f"module 'sim.cli' has no attribute {name!r}")


__all__ = ["app", "main"]
