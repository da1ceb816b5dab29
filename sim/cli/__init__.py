"""The ``exportsim`` command line (Typer); ``main`` is the console script."""

from sim.cli.main import app, main

__all__ = ["app", "main"]
