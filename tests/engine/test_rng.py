"""Named streams read in blocks give the draws numpy gives one by one.

``Streams.random`` serves a stream's standard uniforms from blocks, and ``from_uniform`` turns one into a uniform
or triangular draw with numpy's arithmetic.  Both must be bit for bit what ``Generator.random`` /
``uniform`` / ``triangular`` give, however a stream's reads by block and by generator interleave.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from sim.engine.rng import BLOCK_MAX, Streams, stream_key
from sim.scenario.quantities import _triangular, _uniform, from_uniform
from sim.schema.dist import Normal, Triangular, Uniform


def _reference(seed: int, name: str) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(stream_key(name),))))


@pytest.mark.parametrize("seed", [0, 1, 2**32 + 7, 2**63 - 1, 20240930])
def test_block_reads_interleaved_with_generator_draws_are_one_sequence(seed):
    """Random interleavings of block reads and direct generator draws (normal, binomial, random) on three streams
    equal a plain generator per stream drawing the same things in the same order, across block boundaries."""
    r = random.Random(seed % 1000)
    st = Streams(seed)
    refs: dict[str, np.random.Generator] = {}
    for _ in range(3000):
        name = f"s{r.randrange(3)}"
        ref = refs.setdefault(name, _reference(seed, name))
        k = r.random()
        if k < 0.75:
            assert st.random(name) == float(ref.random())
        elif k < 0.85:
            assert float(st(name).normal()) == float(ref.normal())
        elif k < 0.95:
            assert int(st(name).binomial(50, 0.4)) == int(ref.binomial(50, 0.4))
        else:
            assert float(st(name).random()) == float(ref.random())


def test_a_long_read_goes_past_the_largest_block_and_is_counted():
    st = Streams(5)
    ref = _reference(5, "x")
    n = 3 * BLOCK_MAX + 11
    assert [st.random("x") for _ in range(n)] == ref.random(n).tolist()
    assert st.draws_served() == n
    st("x")  # handing out the generator closes the open block; the count stays
    assert st.draws_served() == n
    assert float(st("x").random()) == float(ref.random())


def test_from_uniform_is_numpys_uniform_and_triangular():
    """Over random ranges and modes (at either end too), the draw from a uniform equals numpy's scalar draw."""
    r = random.Random(11)
    for k in range(600):
        lo = r.uniform(-1e4, 1e4)
        hi = lo + (r.uniform(1e-9, 1.0) if k % 5 == 0 else r.uniform(0.1, 1e5))
        mode = r.choice([lo, hi, r.uniform(lo, hi)])
        for d, numpy_draw in ((Uniform(dist="uniform", low=lo, high=hi), _uniform),
                              (Triangular(dist="triangular", low=lo, mode=mode, high=hi), _triangular)):
            seed = r.randrange(2**32)
            a = np.random.Generator(np.random.PCG64(seed))
            b = np.random.Generator(np.random.PCG64(seed))
            for _ in range(5):
                assert from_uniform(d, float(b.random())) == numpy_draw(d, a)


def test_from_uniform_declines_what_it_cannot_draw():
    assert from_uniform(Normal(dist="normal", mean=1.0, sd=0.5), 0.3) is None
    assert from_uniform(Uniform(dist="uniform", low=2.0, high=2.0), 0.3) is None  # draws nothing: the caller's low
    assert from_uniform(Triangular(dist="triangular", low=1.0, mode=1.0, high=1.0), 0.3) is None


def test_a_stream_is_its_seedsequences_pcg64_whether_its_seed_words_are_known_or_not(monkeypatch):
    """Stream *name* of seed s is ``Generator(PCG64(SeedSequence(s, spawn_key=(crc32(name),))))``: the first run of a
    seed in the process works the seed words out, later runs of that seed reuse them, and the draws are the same
    (uniforms read in blocks and draws from the generator alike); only the last SEEDS_KEPT seeds are kept."""
    import sim.engine.rng as rng

    monkeypatch.setattr(rng, "_WORDS", type(rng._WORDS)())
    monkeypatch.setattr(rng, "SEEDS_KEPT", 3)
    names = ["leadtime/huawei->bytedance", "param/price/h20", "failure/permanent/lab-cn/ascend910b", "é/ü"]

    def reference(seed: int, name: str) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(stream_key(name),))))

    for seed in (1, 2, 1, 3, 4, 1, 2**62 + 7, 1):
        st = Streams(seed)
        for name in names:
            want = reference(seed, name)
            assert [st.random(name) for _ in range(3)] == list(want.random(3))
            assert st(name).normal() == want.normal()
            assert st(name).binomial(1000, 0.3) == want.binomial(1000, 0.3)
        assert set(rng._WORDS[seed]) == set(names)
        assert len(rng._WORDS) <= 3
    assert list(rng._WORDS) == [4, 2**62 + 7, 1]  # the least recently used seeds were dropped
    assert all(not w.flags.writeable for words in rng._WORDS.values() for w in words.values())
