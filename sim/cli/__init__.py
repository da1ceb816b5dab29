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
from types import FrameType

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
    _hold_interrupts_during_imports()


#: How often (s) an interrupt that arrived during an import asks again whether the import has finished.
IMPORT_RECHECK_S = 0.02
_IMPORT_MACHINERY = "<frozen importlib._bootstrap"


def _hold_interrupts_during_imports() -> None:
    """Ctrl-C is raised where it lands, except inside an import: there it waits until the import has finished.

    A KeyboardInterrupt raised while a compiled extension initialises is turned into
    ``ImportError: initialization failed`` by pybind11 (scipy's, matplotlib's modules), and a library that
    imports something optionally (``try: import x / except ImportError``) then carries on without it: the
    command ran to its end as if no Ctrl-C had come, or stopped with an "internal error" (both seen in CI).
    Here the interrupt is held while any frame of the import machinery is on the stack and re-checked every
    20 ms (a real-time timer); the first check outside an import raises it, so every later line sees an
    ordinary KeyboardInterrupt (exit 130, ``interrupted``).  Without ``setitimer`` (not Linux/macOS) Python's
    own handler stays.
    """
    if not hasattr(signal, "setitimer") or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return  # no timer, or a caller chose its own handling (SIG_IGN in a pool worker, a test harness)
    signal.signal(signal.SIGINT, _on_interrupt)
    signal.signal(signal.SIGALRM, _on_interrupt)


def _on_interrupt(signum: int, frame: FrameType | None) -> None:
    f = frame
    while f is not None:
        if f.f_code.co_filename.startswith(_IMPORT_MACHINERY):
            signal.setitimer(signal.ITIMER_REAL, IMPORT_RECHECK_S)  # ask again once this import has moved on
            return
        f = f.f_back
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point (see :func:`sim.cli.main.main`)."""
    _start()
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
    and loading) is treated the same way: see :func:`sim.cli.common.starting`.  The youngest generation is
    collected every 10,000 new objects instead of 700 (a run allocates millions; ~1-2 MB more young garbage at a
    time, far fewer collections).
    """
    from sim.cli import common

    common.serving = True
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
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
