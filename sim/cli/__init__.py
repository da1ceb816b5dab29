"""The ``exportsim`` command line (Typer); ``main`` is the console script.

Kept import-free: the console script imports this package, so a Ctrl-C while the rest loads (numpy, pydantic,
SimPy: the first second) is caught here and ends quietly with exit 130, like one at any later moment.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Callable

from sim.cli.interrupts import hold_interrupts_during_imports, release_held_interrupt

#: OpenBLAS's spin, as a power of two of CPU cycles (see :func:`_start`).
BLAS_SPIN = "20"


def _start() -> None:
    """What the entry points do first, before anything heavy is imported.

    * The garbage collector is switched off while the CLI loads (see :func:`_serve`).
    * OpenBLAS (numpy's BLAS) starts a worker thread per core when numpy loads, and each spins for 2^28 cycles
      (~0.1 s) waiting for work before it sleeps: ~0.1 s of CPU on another core for every command, though the
      model never calls BLAS.  A spin of 2^20 cycles (~0.4 ms) keeps the threads, and so every result (the
      thread count is unchanged), without that cost.  A value already set is kept; child processes (sweep
      workers, the dashboard) inherit it.
    """
    gc.disable()
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", BLAS_SPIN)
    hold_interrupts_during_imports()


def main() -> None:
    """Console-script entry point (see :func:`sim.cli.main.main`)."""
    _start()
    try:  # one handler from the first import to the exit: a held interrupt may surface anywhere after an import
        from sim.cli.main import main as _main

        _serve(_main)
    except KeyboardInterrupt:
        release_held_interrupt()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while we leave stays quiet too
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None


def _serve(command: Callable[[], None]) -> None:
    """Run *command* (the CLI's main, which exits) with the garbage collector set for a process that ends after it.

    The entry points switch the collector off before the CLI's modules load: start-up (imports, the schema's
    validators) makes long-lived objects only, and collecting while they pile up is wasted work.  Here, what
    start-up made is frozen (never scanned again) and collection resumes for the command itself.  At exit the
    objects still alive are frozen too: the interpreter's final collection would scan every one of them (tens of
    ms after a run) for cycles that the process's end frees anyway.  A command's own start-up (its lazy imports
    and loading) is treated the same way: see :func:`sim.cli.common.starting`.  The youngest generation is
    collected every 10,000 new objects instead of 700 (a run allocates millions; ~1-2 MB more young garbage at a
    time, far fewer collections).
    """
    try:
        from sim.cli import common
        from sim.experiments.heap import freeze_for_good

        common.serving = True
        freeze_for_good()
        gc.set_threshold(10_000, 10, 10)
        gc.enable()
        command()
    finally:
        gc.freeze()


def __getattr__(name: str):
    if name == "app":
        from sim.cli.main import app

        return app
    raise AttributeError(f"module 'sim.cli' has no attribute {name!r}")


__all__ = ["app", "main"]
