"""Uncertain quantities: distributions, constants and piecewise-constant time series.

A bare number in YAML means a constant.  A mapping with ``dist:`` names a distribution; a mapping
with only ``value:`` (and ``source:``) is a sourced constant.  A list of ``{since: DATE, value: Q}``
steps is a :data:`Series`: the value in force from each date until the next one.

Sampling lives in :mod:`sim.scenario.quantities`; these classes are data only.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from sim.schema._base import Sourced

#: The largest magnitude any distribution parameter may have.  Every quantity in the library is below 1e15
#: (tokens served per day, ~2e14, is the largest); products of two such numbers stay far from float overflow
#: (1e308), so no draw, product or integer conversion in the engine can overflow.
MAX_MAGNITUDE = 1e18
#: The largest log-normal sigma: a factor of e^4 (55x) per standard deviation, so even a 10-sigma draw
#: (e^40, 2e17) times the largest median stays finite.
MAX_LOG_SIGMA = 4.0
#: Beta shape parameters (and PERT's lamb, a concentration): below 1e-3 numpy's sampler returns 0/1/NaN.
MIN_SHAPE, MAX_SHAPE = 1e-3, 1e6

Bounded = Annotated[float, Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]
BoundedOptional = Annotated[float | None, Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]


class Constant(Sourced):
    """A fixed value."""

    dist: Literal["constant"] = "constant"
    value: Bounded


class Uniform(Sourced):
    """Uniform on [low, high]."""

    dist: Literal["uniform"]
    low: Bounded
    high: Bounded

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        return self


class Triangular(Sourced):
    """Triangular with lower limit, mode and upper limit."""

    dist: Literal["triangular"]
    low: Bounded
    mode: Bounded
    high: Bounded

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not self.low <= self.mode <= self.high:
            raise ValueError(f"needs low <= mode <= high, got {self.low}, {self.mode}, {self.high}")
        return self


class Normal(Sourced):
    """Normal, optionally truncated to [low, high] (resampled, not clipped)."""

    dist: Literal["normal"]
    mean: Bounded
    sd: float = Field(ge=0, le=MAX_MAGNITUDE)
    low: BoundedOptional = None
    high: BoundedOptional = None

    @model_validator(mode="after")
    def _bounds(self) -> Normal:
        if self.low is not None and self.high is not None and self.high <= self.low:
            raise ValueError(f"high ({self.high}) must exceed low ({self.low})")
        return self


class LogNormal(Sourced):
    """Log-normal given its median and the standard deviation of log(x)."""

    dist: Literal["lognormal"]
    median: float = Field(gt=0, le=MAX_MAGNITUDE)
    sigma: float = Field(ge=0, le=MAX_LOG_SIGMA, description="At most 4 (a factor of 55 per standard deviation).")


class Beta(Sourced):
    """Beta(a, b) scaled onto [low, high] (default [0, 1]); or give mean and concentration a+b."""

    dist: Literal["beta"]
    a: float | None = Field(default=None, ge=MIN_SHAPE, le=MAX_SHAPE)
    b: float | None = Field(default=None, ge=MIN_SHAPE, le=MAX_SHAPE)
    mean: BoundedOptional = None
    concentration: float | None = Field(default=None, ge=MIN_SHAPE, le=MAX_SHAPE)
    low: Bounded = 0.0
    high: Bounded = 1.0

    @model_validator(mode="after")
    def _params(self) -> Beta:
        by_shape = self.a is not None and self.b is not None
        by_mean = self.mean is not None and self.concentration is not None
        if by_shape == by_mean:
            raise ValueError("give either a and b, or mean and concentration")
        if by_mean and not self.low < self.mean < self.high:  # type: ignore[operator]
            raise ValueError(f"mean {self.mean} must lie strictly inside [{self.low}, {self.high}]")
        if self.high <= self.low:
            raise ValueError(f"high ({self.high}) must exceed low ({self.low})")
        return self

    def shape(self) -> tuple[float, float]:
        """The (a, b) shape parameters."""
        if self.a is not None and self.b is not None:
            return self.a, self.b
        m = (self.mean - self.low) / (self.high - self.low)  # type: ignore[operator]
        return m * self.concentration, (1 - m) * self.concentration  # type: ignore[operator]


class Pert(Sourced):
    """PERT: a beta on [low, high] with the given mode; ``lamb`` weights the mode (4 is classic)."""

    dist: Literal["pert"]
    low: Bounded
    mode: Bounded
    high: Bounded
    lamb: float = Field(default=4.0, gt=0, le=MAX_SHAPE)

    @model_validator(mode="after")
    def _ordered(self) -> Pert:
        if not self.low <= self.mode <= self.high or self.low == self.high:
            raise ValueError(f"needs low <= mode <= high and low < high, got {self.low}, {self.mode}, {self.high}")
        return self


Dist = Annotated[
    Union[Constant, Uniform, Triangular, Normal, LogNormal, Beta, Pert],  # noqa: UP007
    Field(discriminator="dist"),
]


def _coerce_quantity(value: object) -> object:
    """A bare number is a constant; ``{value: x, source: s}`` is a sourced constant."""
    if isinstance(value, bool):
        return value  # let pydantic reject it with a type error
    if isinstance(value, (int, float)):
        return {"dist": "constant", "value": float(value)}
    if isinstance(value, dict) and "dist" not in value and "value" in value:
        return {"dist": "constant", **value}
    return value


def support(d: Dist) -> tuple[float, float]:
    """The smallest interval that holds every value *d* can take."""
    inf = float("inf")
    if isinstance(d, Constant):
        return d.value, d.value
    if isinstance(d, (Uniform, Triangular, Pert, Beta)):
        return d.low, d.high
    if isinstance(d, Normal):
        return (d.low if d.low is not None else -inf), (d.high if d.high is not None else inf)
    return 0.0, inf  # LogNormal


def _within(lo: float, hi: float, what: str, *, lo_open: bool = False):
    def check(d: Dist) -> Dist:
        s_lo, s_hi = support(d)
        open_support = isinstance(d, (Beta, LogNormal))  # draws never touch the ends of a beta or a log-normal
        if s_lo < lo or s_hi > hi or (lo_open and s_lo <= lo and not open_support):
            shown = f"{s_lo:g}" if s_lo == s_hi else f"[{s_lo:g}, {s_hi:g}]"
            raise ValueError(f"must be {what}, got {shown}")
        return d

    return check


#: A number or a distribution.
_AS_WRITTEN = Union[float, Dist]  # noqa: UP007 - what a file may hold: a bare number or a distribution
_coerce = BeforeValidator(_coerce_quantity, json_schema_input_type=_AS_WRITTEN)
Quantity = Annotated[Dist, _coerce]
#: A quantity that can never be negative (capacities, lead times, prices).
NonNegQuantity = Annotated[Dist, _coerce, AfterValidator(_within(0, float("inf"), ">= 0"))]
#: A quantity between 0 and 1 (yields, shares, probabilities, MFU).
UnitQuantity = Annotated[Dist, _coerce, AfterValidator(_within(0, 1, "between 0 and 1"))]
#: A share that must be above zero (MFU: a chip doing no useful work would hold its cluster forever).
PositiveUnitQuantity = Annotated[Dist, _coerce, AfterValidator(_within(0, 1, "above 0 and at most 1", lo_open=True))]


def at_least(lo: float, what: str):
    """A non-negative quantity whose every value is at least *lo* (say why in *what*)."""
    return Annotated[Dist, _coerce, AfterValidator(_within(lo, float("inf"), f">= {lo:g} ({what})"))]


class Step(Sourced):
    """One step of a piecewise-constant series: *value* holds from *since* until the next step."""

    since: dt.date
    value: NonNegQuantity


def _coerce_series(value: object) -> object:
    if isinstance(value, list):
        return value
    return [{"since": dt.date(1900, 1, 1), "value": value}]


def _check_steps(steps: list[Step]) -> list[Step]:
    if not steps:
        raise ValueError("a series needs at least one step")
    dates = [s.since for s in steps]
    if dates != sorted(dates) or len(set(dates)) != len(dates):
        raise ValueError("steps must have strictly increasing 'since' dates")
    return steps


#: A non-negative quantity that may change over time: one quantity, or a list of dated steps.
Series = Annotated[
    list[Step],
    BeforeValidator(_coerce_series, json_schema_input_type=Union[float, Dist, list[Step]]),  # noqa: UP007
    AfterValidator(_check_steps),
]
#: A probability or share in [0, 1].
Share = Annotated[float, Field(ge=0, le=1)]
