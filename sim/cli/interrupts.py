"""Ctrl-C in the CLI's process: raised where it lands, except inside an import (see
:func:`hold_interrupts_during_imports`).  Import-free beyond the standard library: the entry points install it
before anything heavy loads."""

from __future__ import annotations

import os
import signal
from types import FrameType

#: How often (s) an interrupt that arrived during an import asks again whether the import has finished.
IMPORT_RECHECK_S = 0.05
_IMPORT_MACHINERY = "<frozen importlib._bootstrap"
#: While an interrupt is held, one item: the SIGALRM handler to put back once it is raised (empty: nothing held).
_held: list = []


def hold_interrupts_during_imports() -> None:
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
    return True
