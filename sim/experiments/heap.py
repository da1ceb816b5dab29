"""The collector policy of long many-run work: what the process holds when the work starts is left out of its scans.

A sweep or a calibration makes and drops thousands of worlds while the modules, the validated base and the
sampler's state live on.  Python's cyclic collector scans every tracked object in each full collection: in a
process with pandas, pyarrow, pyabc and scikit-learn imported (a notebook, the benchmark) that long-lived heap,
not the runs' garbage, was 20 % of a calibration's CPU.  :func:`frozen_heap` moves what exists at its start into
the permanent generation (``gc.freeze``) for the length of the work, so collections scan only what the work
made; forked workers (the sweep's pool, pyabc's multicore sampler) inherit the frozen heap, and their first
collection no longer scans, and copies on write, every page the parent had.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0  # frozen_heap blocks open now, in any thread
_release = False  # whether the outermost open block unfreezes at its end (nothing was frozen before it)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze what the process holds now for the block; unfreeze at its end, unless something was frozen before
    (the command line freezes its start-up heap for good, :func:`sim.cli._serve`: that stays as it was, and what
    the block froze with it stays frozen too, as the command line freezes everything at its exit anyway).

    Blocks nest (a local sweep's executor inside the sweep): only the outermost asks whether anything was frozen
    before it, because ``gc.get_freeze_count()`` walks the whole frozen heap (11 ms with pandas, pyarrow and
    pyabc frozen), and only the outermost unfreezes.

    Objects frozen here are not lost: a cycle among them that becomes garbage during the block is collected by
    the first full collection after it."""
    global _depth, _release
    with _lock:
        if _depth == 0:
            _release = gc.get_freeze_count() == 0
        _depth += 1
        gc.freeze()
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _release:
                gc.unfreeze()


__all__ = ["frozen_heap"]
