"""Draws from the schema's distributions, and values of piecewise-constant series at a date."""

from __future__ import annotations

import bisect
import datetime as dt
import math

import numpy as np

from sim.schema.dist import Beta, Constant, Dist, LogNormal, Normal, Pert, Step, Triangular, Uniform

_MAX_RESAMPLE = 1000


def draw(d: Dist, rng: np.random.Generator) -> float:
    """One draw from *d*.  Constants consume no randomness."""
    if isinstance(d, Constant):
        return d.value
    if isinstance(d, Uniform):
        return float(rng.uniform(d.low, d.high)) if d.high > d.low else d.low
    if isinstance(d, Triangular):
        return float(rng.triangular(d.low, d.mode, d.high)) if d.high > d.low else d.low
    if isinstance(d, Normal):
        if d.sd == 0:
            return d.mean
        lo = -math.inf if d.low is None else d.low
        hi = math.inf if d.high is None else d.high
        for _ in range(_MAX_RESAMPLE):
            x = float(rng.normal(d.mean, d.sd))
            if lo <= x <= hi:
                return x
        return min(max(d.mean, lo), hi)  # truncation window far in a tail: fall back to the clipped mean
    if isinstance(d, LogNormal):
        return float(d.median * math.exp(rng.normal(0.0, d.sigma))) if d.sigma > 0 else d.median
    if isinstance(d, Beta):
        a, b = d.shape()
        return d.low + (d.high - d.low) * float(rng.beta(a, b))
    if isinstance(d, Pert):
        span = d.high - d.low
        a = 1 + d.lamb * (d.mode - d.low) / span
        b = 1 + d.lamb * (d.high - d.mode) / span
        return d.low + span * float(rng.beta(a, b))
    raise TypeError(f"unknown distribution {d!r}")


def mean(d: Dist) -> float:
    """The expected value of *d* (for planning, displays and deterministic what-ifs)."""
    if isinstance(d, Constant):
        return d.value
    if isinstance(d, Uniform):
        return (d.low + d.high) / 2
    if isinstance(d, Triangular):
        return (d.low + d.mode + d.high) / 3
    if isinstance(d, Normal):
        if d.low is None and d.high is None:
            return d.mean
        rng = np.random.Generator(np.random.PCG64(12345))  # a fixed private stream: deterministic estimate
        return float(np.mean([draw(d, rng) for _ in range(4000)]))
    if isinstance(d, LogNormal):
        return d.median * math.exp(d.sigma**2 / 2)
    if isinstance(d, Beta):
        a, b = d.shape()
        return d.low + (d.high - d.low) * a / (a + b)
    if isinstance(d, Pert):
        return (d.low + d.lamb * d.mode + d.high) / (d.lamb + 2)
    raise TypeError(f"unknown distribution {d!r}")


class ResolvedSeries:
    """A series whose step values were drawn once for a run: value at any day, by bisection."""

    __slots__ = ("days", "values")

    def __init__(self, days: list[float], values: list[float]):
        self.days = days
        self.values = values

    @classmethod
    def resolve(cls, steps: list[Step], start: dt.date, rng: np.random.Generator | None) -> ResolvedSeries:
        """Draw each step's value once (or take its mean when *rng* is None)."""
        days = [float((s.since - start).days) for s in steps]
        values = [draw(s.value, rng) if rng is not None else mean(s.value) for s in steps]
        return cls(days, values)

    def at(self, day: float) -> float:
        """The value in force on *day*; zero before the first step's date (nothing before it starts)."""
        i = bisect.bisect_right(self.days, day) - 1
        return self.values[i] if i >= 0 else 0.0

    def integrate(self, t0: float, t1: float) -> float:
        """Integral of the step function over [t0, t1] (value x days)."""
        if t1 <= t0:
            return 0.0
        total = 0.0
        t = max(t0, self.days[0])  # zero before the first step
        i = max(bisect.bisect_right(self.days, t) - 1, 0)
        while t < t1:
            nxt = self.days[i + 1] if i + 1 < len(self.days) else math.inf
            seg_end = min(nxt, t1)
            total += self.values[i] * (seg_end - t)
            t = seg_end
            i += 1
        return total
