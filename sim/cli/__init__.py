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
IMPORT_RECHECK_S = 0.05
_IMPORT_MACHINERY = "<frozen importlib._bootstrap"
#: While an interrupt is held: the SIGALRM handler to put back once it is raised (None: nothing held).
_held: list = []


def _hold_interrupts_during_imports() -> None:
    """Ctrl-C is raised where it lands, except inside an import: there it waits until the import has finished.

    A KeyboardInterrupt raised while a compiled extension initialises is turned into
    ``ImportError: initialization failed`` by pybind11 (scipy's, matplotlib's modules), and a library that
    imports something optionally (``try: import x / except ImportError``) then carries on without it: the
    command ran to its end as if no Ctrl-C had come, or stopped with an "internal error" (both seen in CI).
    Here an interrupt that lands while a frame of the import machinery is on the stack is held: a real-time
    timer (SIGALRM, taken over only while something is held) asks again every 50 ms, and the first check with
    no import on the stack raises it, so the code after the outermost import sees an ordinary
    KeyboardInterrupt (exit 130, ``interrupted``).  A second Ctrl-C while one is held raises at once (an
    import that hangs can still be stopped); :func:`release_held_interrupt` hands a held one to a process
    about to exit.  Without ``setitimer`` (Windows) Python's own handler stays.
    """
    if not hasattr(signal, "setitimer") or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return  # no timer, or a caller chose its own handling (SIG_IGN in a pool worker, a test harness)
    signal.signal(signal.SIGINT, _on_interrupt)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_held.clear)  # a forked child inherits no timer, so nothing is held


def _in_import(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith(_IMPORT_MACHINERY):
            return True
        frame = frame.f_back
    return False


def _on_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGINT: raise now, or hold while an import is on the stack (a second one raises at once)."""
    if _held or not _in_import(frame):
        release_held_interrupt()
        raise KeyboardInterrupt
    _held.append(signal.signal(signal.SIGALRM, _on_recheck))
    signal.setitimer(signal.ITIMER_REAL, IMPORT_RECHECK_S)


def _on_recheck(signum: int, frame: FrameType | None) -> None:
    """SIGALRM while an interrupt is held: raise it once no import is on the stack, else ask again later."""
    if not _held:
        return  # a stray alarm after the hold was released
    if _in_import(frame):
        signal.setitimer(signal.ITIMER_REAL, IMPORT_RECHECK_S)
        return
    release_held_interrupt()
    raise KeyboardInterrupt


def release_held_interrupt() -> bool:
    """End a hold: the timer stopped and SIGALRM's own handler back.  True if an interrupt was being held (a
    process about to exit then owes its user the interrupt: exit 130)."""
    if not _held:
        return False
    signal.setitimer(signal.ITIMER_REAL, 0)
    previous = _held.pop()
    signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
    _held.clear()
    return True


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

        common.serving = True
        gc.freeze()
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
