"""Named random streams: one numpy Generator per stochastic source, spawned from one seed.

Each stream's seed is derived from ``SeedSequence(seed, spawn_key=(crc32(name),))``, so a stream
depends only on the run seed and its own name: adding an actor, or drawing more from one stream,
never shifts another's draws.  A policy run and its counterfactual share every stream (common random
numbers).  No global random state is touched anywhere in the package.

A stream's seed words (what ``PCG64`` reads of its ``SeedSequence``) are worked out once per process and seed,
and kept for the last :data:`SEEDS_KEPT` seeds: a later run of the same seed seeds each stream's ``PCG64`` from
them directly, with the same draws (~1 µs a stream instead of ~20 µs).
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict

import numpy as np
from numpy.random.bit_generator import ISeedSequence


def stream_key(name: str) -> int:
    """A stable 32-bit key for a stream name (same on every machine and Python version)."""
    return zlib.crc32(name.encode("utf-8"))


class _Seeded(ISeedSequence):
    """A seed sequence whose words are already known: what ``PCG64`` reads of ``SeedSequence(seed,
    spawn_key=(key,))``, its ``generate_state(4, uint64)``, worked out once per process (below)."""

    __slots__ = ("words",)

    def __init__(self, words: np.ndarray):
        self.words = words

    def generate_state(self, n_words, dtype=np.uint32):
        if n_words != 4 or dtype is not np.uint64:  # PCG64 asks for nothing else
            raise ValueError(f"a stream's seed words are 4 x uint64, not {n_words} x {dtype}")
        return self.words


#: run seed -> {stream name: the stream's seed words}, the last SEEDS_KEPT seeds: making a SeedSequence and
#: seeding PCG64 from it costs ~20 µs, a quarter of a flagship run's draws time over its ~270 streams, and runs of
#: one seed recur in a process (a sweep's common random numbers, the dashboard, the options table's replications)
_WORDS: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
_WORDS_LOCK = threading.Lock()
SEEDS_KEPT = 32  # ~70 kB a seed for the flagship's streams


def _words_of(seed: int) -> dict[str, np.ndarray]:
    with _WORDS_LOCK:
        found = _WORDS.get(seed)
        if found is None:
            found = _WORDS[seed] = {}
            while len(_WORDS) > SEEDS_KEPT:
                _WORDS.popitem(last=False)
        else:
            _WORDS.move_to_end(seed)
        return found


BLOCK_MIN, BLOCK_MAX = 8, 512  # uniforms read per block: doubling from the first to the last size


class Streams:
    """Lazily created named generators for one run.

    :meth:`random` reads a stream's standard uniforms in blocks (one numpy call per block instead of one per
    draw: a scalar draw costs ~1 µs of call overhead, a fifth of a flagship run's draws time).  The values are
    the ones ``gen.random()`` would give one by one; a stream read both ways stays one sequence, because asking
    for its generator puts the generator back where the uniforms served so far leave it (PCG64 makes one step per
    uniform: the state before the block, advanced by the number served).
    """

    def __init__(self, seed: int):
        self.seed = int(seed)
        self._gens: dict[str, np.random.Generator] = {}
        self._words = _words_of(self.seed)  # this seed's streams' seed words, shared by its runs in the process
        # name -> [block of uniforms, how many served, the generator's state before the block]
        self._blocks: dict[str, list] = {}
        self.served = 0  # uniforms served from finished blocks (what a counter of draws adds to the open ones)
        self.blocks = 0  # blocks read (each one numpy call)

    def __call__(self, name: str) -> np.random.Generator:
        """The generator for stream *name* (created on first use), where the stream's draws so far leave it."""
        gen = self._gens.get(name)
        if gen is None:
            words = self._words.get(name)
            if words is None:
                words = np.random.SeedSequence(self.seed, spawn_key=(stream_key(name),)).generate_state(4, np.uint64)
                words.flags.writeable = False
                self._words[name] = words
            # numpy accepts any ISeedSequence here; its stubs name SeedSequence only
            gen = self._gens[name] = np.random.Generator(np.random.PCG64(_Seeded(words)))  # type: ignore[arg-type]
        elif name in self._blocks:
            vals, i, state = self._blocks.pop(name)
            self.served += i
            gen.bit_generator.state = state
            gen.bit_generator.advance(i)  # type: ignore[attr-defined]  # PCG64's, made above
        return gen

    def random(self, name: str) -> float:
        """The next standard uniform of stream *name*: ``self(name).random()``, read in blocks."""
        b = self._blocks.get(name)
        if b is not None:
            i = b[1]
            if i < len(b[0]):
                b[1] = i + 1
                return b[0][i]
        return self._refill(name, b)

    def _refill(self, name: str, b: list | None) -> float:
        if b is None:
            gen, size = self(name), BLOCK_MIN
        else:  # a block used up: the generator stands right after it
            gen, size = self._gens[name], min(2 * len(b[0]), BLOCK_MAX)
            self.served += b[1]
        state = gen.bit_generator.state
        self.blocks += 1
        vals = gen.random(size).tolist()
        self._blocks[name] = [vals, 1, state]
        return vals[0]

    def draws_served(self) -> int:
        """Uniforms served by :meth:`random` so far."""
        return self.served + sum(b[1] for b in self._blocks.values())

    @property
    def names(self) -> list[str]:
        """Streams used so far, sorted."""
        return sorted(self._gens)
