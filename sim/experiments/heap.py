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
_release = False  # whether the outermost open block unfreezes at its end
_for_good = False  # the process froze its heap for good (freeze_for_good): no block unfreezes it


def freeze_for_good() -> None:
    """Freeze what the process holds now, and keep it frozen: :func:`frozen_heap` blocks leave this freeze (and
    theirs) in place.  For a process that is about to do its work and exit (the command line) or that measures
    with its heap frozen (the benchmarks)."""
    global _for_good
    with _lock:
        _for_good = True
        gc.freeze()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze what the process holds now for the block; unfreeze at its end, unless the process froze its heap
    for good (:func:`freeze_for_good`: the command line freezes its start-up heap, :func:`sim.cli._serve`; that
    stays as it was, and what the block froze with it stays frozen too, as the command line freezes everything at
    its exit anyway).

    Blocks nest (a local sweep's executor inside the sweep): only the outermost unfreezes.  Whether something was
    frozen before is known from :func:`freeze_for_good`, not asked of the collector: ``gc.get_freeze_count()``
    walks the whole frozen heap (23 ms with pandas, pyarrow, pyabc and scikit-learn frozen), and a sweep's workers
    sat idle while the driver counted.  A plain ``gc.freeze()`` of the caller's ends with the block.

    Objects frozen here are not lost: a cycle among them that becomes garbage during the block is collected by
    the first full collection after it."""
    global _depth, _release
    with _lock:
        if _depth == 0:
            _release = not _for_good
        _depth += 1
        gc.freeze()
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _release:
                gc.unfreeze()


__all__ = ["freeze_for_good", "frozen_heap"]
