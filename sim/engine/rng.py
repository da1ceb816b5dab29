"""Named random streams: one numpy Generator per stochastic source, spawned from one seed.

Each stream's seed is derived from ``SeedSequence(seed, spawn_key=(crc32(name),))``, so a stream
depends only on the run seed and its own name: adding an actor, or drawing more from one stream,
never shifts another's draws.  A policy run and its counterfactual share every stream (common random
numbers).  No global random state is touched anywhere in the package.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream_key(name: str) -> int:
    """A stable 32-bit key for a stream name (same on every machine and Python version)."""
    return zlib.crc32(name.encode("utf-8"))


class Streams:
    """Lazily created named generators for one run."""

    def __init__(self, seed: int):
        self.seed = int(seed)
        self._gens: dict[str, np.random.Generator] = {}

    def __call__(self, name: str) -> np.random.Generator:
        """The generator for stream *name* (created on first use)."""
        gen = self._gens.get(name)
        if gen is None:
            ss = np.random.SeedSequence(self.seed, spawn_key=(stream_key(name),))
            gen = self._gens[name] = np.random.Generator(np.random.PCG64(ss))
        return gen

    @property
    def names(self) -> list[str]:
        """Streams used so far, sorted."""
        return sorted(self._gens)
