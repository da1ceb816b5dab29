"""Distribution quantities: the one place that knows the maths of each distribution kind.

Draws (:func:`draw`), means (:func:`mean`), quantiles (:func:`ppf`), one-line descriptions
(:func:`describe`), scaling of a quantity or a series (:func:`scale_quantity`, :func:`scale_series`),
the distributions inside a scenario dump (:func:`iter_distributions`), values of piecewise-constant
series at a date (:class:`ResolvedSeries`), and the inverse CDF of a sweep parameter
(:func:`parameter_ppf`).  Functions take a schema model (:data:`~sim.schema.dist.Dist`) or, where they
say so, the same thing dumped to a mapping (``{"dist": "lognormal", "median": 2, "sigma": 0.3}``) or a
bare number, so the CLI, the briefing and the dashboard all read a distribution the same way.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import math
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from sim.schema.dist import Beta, Constant, Dist, LogNormal, Normal, Pert, Quantity, Step, Triangular, Uniform

if TYPE_CHECKING:
    from pydantic import TypeAdapter

    from sim.schema.sweep import Parameter

_MAX_RESAMPLE = 1000


def _constant(d: Constant, rng: np.random.Generator) -> float:
    return d.value


def _uniform(d: Uniform, rng: np.random.Generator) -> float:
    return float(rng.uniform(d.low, d.high)) if d.high > d.low else d.low


def _triangular(d: Triangular, rng: np.random.Generator) -> float:
    return float(rng.triangular(d.low, d.mode, d.high)) if d.high > d.low else d.low


def from_uniform(d: Dist, u: float) -> float | None:
    """The draw numpy's ``Generator.uniform`` / ``triangular`` makes of *d* from the standard uniform *u* it reads
    (one ``random()`` per draw), with numpy's arithmetic (``low + range * u``; the two-sided inverse CDF with a
    square root), so a stream read in blocks of uniforms gives these draws bit for bit; None for a kind that reads
    its generator otherwise (normal, beta, ...) or reads nothing (a constant, a zero-width range)."""
    t = type(d)
    if t is Uniform:
        uni = cast(Uniform, d)
        return uni.low + (uni.high - uni.low) * u if uni.high > uni.low else None
    if t is Triangular:
        tri = cast(Triangular, d)
        left, mode, right = tri.low, tri.mode, tri.high
        if not right > left:
            return None
        base = right - left
        leftbase = mode - left
        if u <= leftbase / base:
            return left + math.sqrt(u * (leftbase * base))
        return right - math.sqrt((1.0 - u) * ((right - mode) * base))
    return None


UNIFORM_KINDS = (Uniform, Triangular)  # kinds :func:`from_uniform` draws (when their range is not empty)


def _normal(d: Normal, rng: np.random.Generator) -> float:
    if d.sd == 0:
        return d.mean
    lo = -math.inf if d.low is None else d.low
    hi = math.inf if d.high is None else d.high
    for _ in range(_MAX_RESAMPLE):
        x = float(rng.normal(d.mean, d.sd))
        if lo <= x <= hi:
            return x
    return min(max(d.mean, lo), hi)  # truncation window far in a tail: fall back to the clipped mean


def _lognormal(d: LogNormal, rng: np.random.Generator) -> float:
    return float(d.median * math.exp(rng.normal(0.0, d.sigma))) if d.sigma > 0 else d.median


def _beta(d: Beta, rng: np.random.Generator) -> float:
    a, b = d.shape()
    return d.low + (d.high - d.low) * float(rng.beta(a, b))


def _pert(d: Pert, rng: np.random.Generator) -> float:
    span = d.high - d.low
    a = 1 + d.lamb * (d.mode - d.low) / span
    b = 1 + d.lamb * (d.high - d.mode) / span
    return d.low + span * float(rng.beta(a, b))


_DRAW: dict[type, Any] = {Constant: _constant, Uniform: _uniform, Triangular: _triangular, Normal: _normal,
                          LogNormal: _lognormal, Beta: _beta, Pert: _pert}


def draw(d: Dist, rng: np.random.Generator) -> float:
    """One draw from *d*.  Constants consume no randomness."""
    f = _DRAW.get(type(d))
    if f is None:
        for kind, g in _DRAW.items():  # a subclass of a distribution model
            if isinstance(d, kind):
                return g(d, rng)
        raise TypeError(f"unknown distribution {d!r}")
    return f(d, rng)


@cache
def _quantity_adapter() -> TypeAdapter:
    """The validator of a quantity as written, built on first use (a run whose quantities are all models never
    needs it)."""
    from pydantic import TypeAdapter

    return TypeAdapter(Quantity)


def as_dist(q: Any) -> Dist:
    """*q* as a schema distribution: a Dist model as is, a bare number or a dumped mapping validated."""
    if isinstance(q, (Constant, Uniform, Triangular, Normal, LogNormal, Beta, Pert)):
        return q
    return _quantity_adapter().validate_python(q)


def mean(d: Dist | dict | float) -> float:
    """The expected value of *d* (for planning, displays and deterministic what-ifs); a mapping or number too."""
    d = as_dist(d)
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


def ppf(d: Dist | dict | float, q: float) -> float:
    """The *q* quantile of *d* (truncated normals are truncated; a constant is itself); a mapping or number too."""
    from scipy import stats

    d = as_dist(d)
    if isinstance(d, Constant):
        return d.value
    if isinstance(d, Uniform):
        return d.low + q * (d.high - d.low)
    if isinstance(d, Triangular):
        w = d.high - d.low
        return d.low if w == 0 else float(stats.triang.ppf(q, (d.mode - d.low) / w, loc=d.low, scale=w))
    if isinstance(d, Normal):
        if d.sd == 0:
            return d.mean
        lo = -np.inf if d.low is None else (d.low - d.mean) / d.sd
        hi = np.inf if d.high is None else (d.high - d.mean) / d.sd
        return float(stats.truncnorm.ppf(q, lo, hi, loc=d.mean, scale=d.sd))
    if isinstance(d, LogNormal):
        return float(d.median * math.exp(d.sigma * stats.norm.ppf(q)))
    if isinstance(d, Beta):
        a, b = d.shape()
        return d.low + (d.high - d.low) * float(stats.beta.ppf(q, a, b))
    if isinstance(d, Pert):
        span = d.high - d.low
        a = 1 + d.lamb * (d.mode - d.low) / span
        b = 1 + d.lamb * (d.high - d.mode) / span
        return d.low + span * float(stats.beta.ppf(q, a, b))
    raise TypeError(f"unknown distribution {d!r}")


def _plain(x: float) -> str:
    return f"{x:g}"


def describe(d: Any, num: Callable[[float], str] = _plain) -> str:
    """``uniform 0.38 to 0.55``, ``beta mean 0.36, concentration 8 on 0.1 to 0.55``, ``4992``.

    *d* is a dumped quantity (a mapping, a series step ``{since, value}``, a list of steps, or a number) or
    a schema model; *num* formats each number (the reports pass their human formatter).
    """
    if hasattr(d, "model_dump"):
        d = d.model_dump(mode="json")
    if isinstance(d, list):
        return "; ".join(describe(x, num) for x in d)
    if not isinstance(d, dict):
        return num(float(d)) if isinstance(d, (int, float)) and not isinstance(d, bool) else str(d)
    h = num
    kind = d.get("dist")
    if kind == "constant" or (kind is None and "value" in d and "since" not in d):
        return h(d["value"])
    if kind == "uniform":
        return f"uniform {h(d['low'])} to {h(d['high'])}"
    if kind == "triangular":
        return f"triangular {h(d['low'])} / {h(d['mode'])} / {h(d['high'])} (low / mode / high)"
    if kind == "pert":
        return f"PERT {h(d['low'])} / {h(d['mode'])} / {h(d['high'])} (low / mode / high)"
    if kind == "normal":
        t = f"normal mean {h(d['mean'])}, sd {h(d['sd'])}"
        if d.get("low") is not None or d.get("high") is not None:
            lo = h(d["low"]) if d.get("low") is not None else "-inf"
            hi = h(d["high"]) if d.get("high") is not None else "inf"
            t += f", truncated to {lo} to {hi}"
        return t
    if kind == "lognormal":
        return f"lognormal median {h(d['median'])}, sigma {h(d['sigma'])}"
    if kind == "beta":
        if d.get("a") is not None:
            t = f"beta a {h(d['a'])}, b {h(d['b'])}"
        else:
            t = f"beta mean {h(d['mean'])}, concentration {h(d['concentration'])}"
        return t + f" on {h(d.get('low', 0.0))} to {h(d.get('high', 1.0))}"
    if "since" in d:
        return f"{describe(d.get('value'), num)} from {d['since']}"
    return "a block"


def iter_distributions(data: Any, path: tuple = ()) -> list[tuple[str, dict]]:
    """(dotted path, distribution mapping) of every non-constant distribution in a scenario dump."""
    out: list[tuple[str, dict]] = []
    if isinstance(data, dict):
        if data.get("dist") and data.get("dist") != "constant":
            return [(".".join(str(p) for p in path), data)]
        for k, v in data.items():
            out += iter_distributions(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += iter_distributions(v, (*path, i))
    return out


# ================================================================================ scaling
#: Parameters scaled with a distribution, by kind: every draw becomes the original draw times the factor.
_SCALED = {"constant": ("value",), "uniform": ("low", "high"), "triangular": ("low", "mode", "high"),
           "pert": ("low", "mode", "high"), "normal": ("mean", "sd", "low", "high"), "lognormal": ("median",),
           "beta": ("low", "high", "mean")}


def scale_quantity(q: Any, factor: float, cap: float | None = None) -> Any:
    """A quantity (a bare number, a dumped distribution mapping, or a list of series steps) scaled by *factor*.

    The distribution's parameters are scaled so that every draw is the original draw times *factor*
    (same random numbers): constant ``value``; uniform ``low, high``; triangular and PERT ``low, mode,
    high`` (PERT's ``lamb`` is a shape); normal ``mean, sd`` and its truncation bounds; lognormal
    ``median`` (``sigma`` is on the log scale); beta ``low, high`` (and ``mean`` when given by mean and
    concentration).  A factor of 0 gives the constant 0 (which draws no random numbers); 1 returns an
    unchanged copy.  ``source`` is kept.  *cap*, if given, bounds every scaled location (not ``sd``): a
    probability scaled past 1 stays 1.  A list is a series: each step's value is scaled.
    """
    if isinstance(q, list):
        return [{**step, "value": scale_quantity(step["value"], factor, cap)} for step in q]
    if factor < 0 or not math.isfinite(factor):
        raise ValueError(f"scale factor must be a finite number >= 0, got {factor}")
    if isinstance(q, bool):
        raise TypeError("a quantity is a number or a distribution mapping, not a boolean")
    if isinstance(q, (int, float)):
        v = float(q) * factor
        return min(v, cap) if cap is not None else v
    if not isinstance(q, dict):
        raise TypeError(f"not a quantity: {q!r}")
    out = copy.deepcopy(q)
    kind = out.get("dist", "constant")
    if factor == 1 or (kind == "constant" and float(out.get("value", 0.0)) == 0):
        return out  # unchanged (a constant 0 stays as written, so nothing-to-lose is an exact no-op)
    if factor == 0:
        zero: dict[str, Any] = {"dist": "constant", "value": 0.0}
        if out.get("source"):
            zero["source"] = out["source"]
        return zero
    if kind not in _SCALED:
        raise ValueError(f"unknown distribution '{kind}'")
    for k in _SCALED[kind]:
        if out.get(k) is not None:
            v = float(out[k]) * factor
            out[k] = min(v, cap) if cap is not None and k != "sd" else v
    return out


def _as_steps(series: Any) -> list[dict]:
    """A dumped series (list of steps) or a bare quantity as a list of ``{since, value}`` steps."""
    if isinstance(series, list):
        return copy.deepcopy(series)
    return [{"since": dt.date(1900, 1, 1), "value": copy.deepcopy(series)}]


def _date(x: Any) -> dt.date:
    return x if isinstance(x, dt.date) else dt.date.fromisoformat(str(x))


def scale_series(series: Any, factor: float, since: dt.date) -> list[dict]:
    """A series with every value in force on or after *since* scaled by *factor*.

    The step in force on *since* is split there (a new step ``{since, value: scaled}``); steps before are
    unchanged, later ones scaled.  Before the first step a series is zero, and stays so.  A factor of 1
    returns the series unchanged (no split), so severity 0 is an exact no-op.
    """
    steps = _as_steps(series)
    if factor == 1:
        return steps
    out: list[dict] = []
    in_force: dict | None = None
    inserted = False

    def split(step: dict | None) -> None:  # a new step on the date, unless it would change nothing
        if step is not None:
            scaled = scale_quantity(step["value"], factor)
            if scaled != step["value"]:
                out.append({"since": since, "value": scaled})

    for st in steps:
        when = _date(st["since"])
        if when < since:
            out.append(st)
            in_force = st
            continue
        if not inserted and when > since:
            split(in_force)
        inserted = True
        out.append({**st, "value": scale_quantity(st["value"], factor)})
    if not inserted:
        split(in_force)
    return out


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


def describe_parameter(p: dict) -> str:
    """A sweep parameter (as dumped in a spec) in a few words: ``levels 1000, 4800`` or ``uniform 0.3 – 0.7``.

    Sweep parameters have their own family (``loguniform``; ``normal``/``lognormal`` by ``mean, sd``, the
    latter on the log scale); "" when *p* is not a readable parameter.
    """
    import json

    try:
        if p.get("levels") is not None:
            return "levels " + ", ".join(json.dumps(v) for v in p["levels"])
        dist = p.get("dist") or "uniform"
        if dist in ("normal", "lognormal"):
            text = f"{dist} mean {p.get('mean'):g}, sd {p.get('sd'):g}"
            if p.get("low") is not None or p.get("high") is not None:
                text += f" in [{p.get('low')}, {p.get('high')}]"
            return text
        mid = f", mode {p['mode']:g}" if dist == "triangular" else ""
        return f"{dist} {p.get('low'):g} – {p.get('high'):g}{mid}" + (" (integers)" if p.get("integer") else "")
    except (TypeError, ValueError, KeyError):
        return ""


# ============================================================================ sweep parameters
def parameter_ppf(p: Parameter, u: np.ndarray) -> np.ndarray:
    """Inverse CDF of a sweep parameter's distribution at unit-interval points *u* (vectorised)."""
    from scipy import stats

    kind = p.kind
    if kind == "uniform":
        return p.low + u * (p.high - p.low)  # type: ignore[operator]
    if kind == "loguniform":
        lo, hi = math.log(p.low), math.log(p.high)  # type: ignore[arg-type]
        return np.exp(lo + u * (hi - lo))
    if kind == "triangular":
        width = p.high - p.low  # type: ignore[operator]
        return stats.triang.ppf(u, (p.mode - p.low) / width, loc=p.low, scale=width)  # type: ignore[operator]
    # unbounded: keep Morris' u = 0 and 1 finite (0.1 % and 99.9 % quantiles)
    uu = 0.001 + 0.998 * u
    if kind == "normal":
        lo = -np.inf if p.low is None else (p.low - p.mean) / p.sd  # type: ignore[operator]
        hi = np.inf if p.high is None else (p.high - p.mean) / p.sd  # type: ignore[operator]
        return stats.truncnorm.ppf(uu, lo, hi, loc=p.mean, scale=p.sd)
    if kind == "lognormal":
        x = np.exp(stats.norm.ppf(uu, loc=p.mean, scale=p.sd))
        if p.low is not None or p.high is not None:
            x = np.clip(x, p.low if p.low is not None else -np.inf, p.high if p.high is not None else np.inf)
        return x
    raise ValueError(kind)
