"""The collector policy of many-run work (``sim.experiments.heap.frozen_heap``): what a process holds when a
calibration or a parallel sweep starts is frozen for its length and given back after it, unless the caller had
frozen something itself (the command line), which stays as it was."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import numpy as np
import pytest

from sim.experiments.heap import freeze_for_good, frozen_heap

DATA = Path(__file__).parent / "data"


@pytest.fixture
def unfrozen(monkeypatch):
    """A process with nothing frozen, and not frozen for good (pytest's own heap given back at the end as it was)."""
    import sim.experiments.heap as heap

    monkeypatch.setattr(heap, "_for_good", False)
    before = gc.get_freeze_count()
    gc.unfreeze()
    yield
    if before:
        gc.freeze()


def _sweep_spec(tmp_path: Path, n: int) -> Path:
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: s\nbase: {DATA / 'tiny.yaml'}\nseed: 3\ndesign: {{kind: lhs, n: {n}}}\n"
                    "uncertainties:\n  y: {path: nodes.smic.allocation.ascend910b.die_yield, low: 0.2, high: 0.8}\n"
                    "kpis: [\"job_*\"]\n")
    return spec


def test_the_heap_is_frozen_for_the_block_and_given_back(unfrozen):
    keep = [object() for _ in range(10)]
    with frozen_heap():
        inside = gc.get_freeze_count()
        made = [[] for _ in range(10)]  # made inside: collected as usual, not frozen
        assert gc.get_freeze_count() == inside
    assert inside >= len(keep)
    assert gc.get_freeze_count() == 0
    del made


def test_the_heap_is_given_back_when_the_block_raises(unfrozen):
    seen = []

    def fail():
        with frozen_heap():
            seen.append(gc.get_freeze_count())
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fail()
    assert seen[0] > 0
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_for_good_stays_frozen(unfrozen):
    freeze_for_good()
    before = gc.get_freeze_count()
    with frozen_heap():
        pass
    assert gc.get_freeze_count() >= before > 0


def test_a_plain_freeze_of_the_callers_ends_with_the_block(unfrozen):
    """Only freeze_for_good says a freeze is to stay: asking the collector would walk the whole frozen heap."""
    gc.freeze()
    assert gc.get_freeze_count() > 0
    with frozen_heap():
        pass
    assert gc.get_freeze_count() == 0


def test_a_calibration_runs_in_the_frozen_heap_and_gives_it_back(unfrozen, tmp_path):
    """In a library caller's process (nothing frozen): frozen while pyabc samples, not after."""
    from sim.experiments.calibrate import load_calibration, run_calibration

    data = tmp_path / "data"
    (data / "calibration").mkdir(parents=True)
    shutil.copy(DATA / "tiny.yaml", data / "tiny.yaml")
    shutil.copy(DATA / "calibration" / "observed_tiny.yaml", data / "calibration" / "observed_tiny.yaml")
    spec = data / "calibration" / "spec.yaml"
    spec.write_text((DATA / "calibration" / "tiny.yaml").read_text().replace(
        "abc: {population_size: 30, generations: 3, min_acceptance_rate: 0.05}",
        "abc: {population_size: 10, generations: 1, min_acceptance_rate: 0.05}"))
    seen: list[int] = []
    np.random.seed(3)
    run_calibration(load_calibration(spec), tmp_path / "store", executor="serial", predictive=False,
                    progress=lambda ev: seen.append(gc.get_freeze_count()))
    assert seen and min(seen) > 0
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_a_sweep_runs_in_the_frozen_heap_and_gives_it_back(unfrozen, tmp_path, executor):
    from sim.experiments.sweep import run_sweep

    spec = _sweep_spec(tmp_path, 4)
    seen: list[int] = []
    run_sweep(spec, tmp_path / "store", executor=executor, workers=2,
              progress=lambda done, todo, failed: seen.append(gc.get_freeze_count()))
    assert len(seen) > 1 and min(seen) > 0  # every report (the first before any chunk) comes while it runs
    assert gc.get_freeze_count() == 0


def test_a_local_sweep_leaves_the_callers_frozen_heap_frozen(unfrozen, tmp_path):
    """The command line freezes its start-up heap for good; a sweep it runs no longer unfreezes it at the end."""
    from sim.experiments.sweep import run_sweep

    spec = _sweep_spec(tmp_path, 2)
    freeze_for_good()
    before = gc.get_freeze_count()
    run_sweep(spec, tmp_path / "store", executor="local", workers=2)
    assert gc.get_freeze_count() >= before > 0


def test_nested_blocks_never_count_the_frozen_heap_and_only_the_outermost_unfreezes(unfrozen, monkeypatch):
    """gc.get_freeze_count() walks the whole frozen heap (23 ms in a process with pandas and pyabc, the sweep's
    workers idle meanwhile): no block asks it, and a sweep's executor block inside the sweep's leaves the heap
    frozen for the outer block, which gives it back."""
    import sim.experiments.heap as heap

    asked = []
    real = gc.get_freeze_count
    monkeypatch.setattr(heap.gc, "get_freeze_count", lambda: asked.append(1) or real())
    with frozen_heap():
        with frozen_heap():
            pass
        assert real() > 0  # the inner block left the outer one's freeze alone
    assert asked == []
    assert real() == 0
