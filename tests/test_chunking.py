"""Guided chunk sizes for parallel sweeps: shrinking toward the end, and raised for cheap runs once their time is
measured, never above an equal share of what is left; every task once, in order."""

from __future__ import annotations

import math

import pytest

from sim.experiments.sweep.driver import MIN_CHUNK_S, guided_chunk_sizes, guided_chunks


@pytest.mark.parametrize(("n", "workers"), [(1, 2), (7, 2), (48, 2), (128, 2), (1000, 4), (5, 8)])
def test_without_run_times_the_chunks_are_the_guided_sizes(n, workers):
    tasks = list(range(n))
    chunks = list(guided_chunks(tasks, workers, lambda: None))
    assert [len(c) for c in chunks] == guided_chunk_sizes(n, workers)
    assert [t for c in chunks for t in c] == tasks
    sizes = [len(c) for c in chunks]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 1  # shrinking, down to single runs


@pytest.mark.parametrize("mean_s", [0.0005, 0.002, 0.02])
def test_cheap_runs_get_chunks_of_at_least_the_minimum_work(mean_s):
    n, workers = 400, 2
    tasks = list(range(n))
    chunks = list(guided_chunks(tasks, workers, lambda: mean_s))
    assert [t for c in chunks for t in c] == tasks
    left = n
    for c in chunks:
        share = math.ceil(left / workers)
        assert len(c) <= max(share, 1)  # never more than an equal share of what is left
        assert len(c) >= min(math.ceil(MIN_CHUNK_S / mean_s), share)  # at least the minimum work, or the share
        left -= len(c)
    assert len(chunks) < len(guided_chunk_sizes(n, workers))  # fewer runs files for the driver to write


def test_slow_runs_keep_the_guided_sizes():
    """Runs longer than the minimum chunk work: the sizes are the guided ones (single runs at the end)."""
    tasks = list(range(48))
    assert [len(c) for c in guided_chunks(tasks, 2, lambda: 0.2)] == guided_chunk_sizes(48, 2)


def test_sizes_follow_the_measurements_as_they_come():
    """The generator reads the mean each time it makes a chunk: chunks made before any run finished are guided."""
    seen: list[float | None] = [None]
    gen = guided_chunks(list(range(200)), 2, lambda: seen[0])
    first = next(gen)
    assert len(first) == guided_chunk_sizes(200, 2)[0]
    seen[0] = 0.001
    assert len(next(gen)) == min(math.ceil(MIN_CHUNK_S / 0.001), math.ceil((200 - len(first)) / 2))
