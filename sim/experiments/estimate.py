"""One estimator for one question: a KPI's level in one world, or its paired difference between two.

Every surface that reports replications (``exportsim compare`` and its JSON, the briefing, the
dashboard's Compare page, the chokepoint ranking) asks this module, so the same KPI gets the same
number and the same interval everywhere:

- **the estimate** is the mean over the R replications (for a difference, over the R pairs that share a
  seed: common random numbers);
- **its interval** is the 95 % Student-t interval of that mean, clipped to the range the KPI can take
  (:func:`kpi_range`: a share stays in [0, 1], a count, a cost or a day at or above 0; a difference of a
  KPI with range [lo, hi] within [lo - hi, hi - lo]).  With one replication there is no interval (NaN);
- **the spread** across replications, where a surface shows it (table cells, the "by world" chart, a
  sweep's distribution), is the 10th and 90th percentiles (linear interpolation), labelled as such.

Why t and not a bootstrap: R is small here (5 to 40; the briefing's default is 10).  A percentile
bootstrap of the mean is too narrow at that size (it ignores the t correction, ~15 % narrower at R = 10),
its end points move with the resampling seed, and with common random numbers the paired differences are
close to symmetric, where t is accurate.  The one thing t gets wrong, an interval reaching impossible
values (a negative count, a share above 1), is what the clipping removes.  NaN replications (a job that
never finished) are left out and counted (``missing``); callers that want them counted at the horizon
pass the censored values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
SPREAD = (10.0, 90.0)  # percentiles shown as the spread across replications
UNBOUNDED = (-math.inf, math.inf)

#: KPIs (the part of the name before ``[``) that can be negative although their name says "days".
_SIGNED = {"job_delay_vs_deadline_days"}
#: Name endings of KPIs that are never negative: counts, money, days, compute, failures.
_NONNEG_SUFFIXES = ("_units", "_usd", "_day", "_days", "_eflops", "_eflops_end", "_pflops", "_failures", "_denied",
                    "_refused")


@dataclass(frozen=True)
class Estimate:
    """A level or a paired difference: the mean, its clipped t interval, the 10/90 % spread, R and missing."""

    mean: float
    ci_low: float
    ci_high: float
    p10: float
    p90: float
    n: int  # replications (or pairs) with a value: the R the interval rests on
    missing: int  # replications (or pairs) without one (NaN), left out
    confidence: float = CONFIDENCE

    def to_dict(self) -> dict:
        """The fields, NaN as None (JSON-ready)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def kpi_range(kpi: str | None) -> tuple[float, float]:
    """The values a KPI can take, from its name: shares in [0, 1]; counts, costs, days >= 0; else unbounded."""
    if not kpi:
        return UNBOUNDED
    base = kpi.split("[", 1)[0]
    if base in _SIGNED:
        return UNBOUNDED
    if base.endswith("_share") or base == "job_finished":
        return 0.0, 1.0
    if base.endswith(_NONNEG_SUFFIXES) or base.startswith("first_day_"):
        return 0.0, math.inf
    return UNBOUNDED


def difference_range(bounds: tuple[float, float]) -> tuple[float, float]:
    """The range of a difference of two values that each lie in *bounds*."""
    lo, hi = bounds
    width = hi - lo
    return -width, width


def t_interval(x: Sequence[float] | np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(mean, low, high) of the Student-t interval for the mean of the finite values of *x* (unclipped)."""
    v = np.asarray(x, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return math.nan, math.nan, math.nan
    m = float(np.mean(v))
    if n == 1:
        return m, math.nan, math.nan
    sd = float(np.std(v, ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return m, m - half, m + half


def _clip(x: float, bounds: tuple[float, float]) -> float:
    return x if math.isnan(x) else min(max(x, bounds[0]), bounds[1])


def _estimate(v: np.ndarray, bounds: tuple[float, float], confidence: float) -> Estimate:
    finite = v[~np.isnan(v)]
    missing = int(len(v) - len(finite))
    if len(finite) == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, math.nan, 0, missing, confidence)
    m, lo, hi = t_interval(finite, confidence)
    p10, p90 = (float(x) for x in np.percentile(finite, SPREAD))
    return Estimate(m, _clip(lo, bounds), _clip(hi, bounds), p10, p90, len(finite), missing, confidence)


def level(values: Sequence[float] | np.ndarray, kpi: str | None = None, *, bounds: tuple[float, float] | None = None,
          confidence: float = CONFIDENCE) -> Estimate:
    """A KPI's level over replications: mean, 95 % t interval clipped to the KPI's range, 10/90 % spread."""
    return _estimate(np.asarray(values, dtype=float), bounds or kpi_range(kpi), confidence)


def paired(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, kpi: str | None = None, *,
           bounds: tuple[float, float] | None = None, confidence: float = CONFIDENCE) -> Estimate:
    """The paired difference a - b (replication r of both used the same seed), over the pairs where both exist.

    Mean difference, its 95 % t interval clipped to the range a difference of this KPI can take, and the
    10/90 % spread of the differences.  *a* and *b* are aligned by replication (the shorter one sets R).
    """
    n = min(len(a), len(b))
    x = np.asarray(a, dtype=float)[:n] - np.asarray(b, dtype=float)[:n]
    return _estimate(x, difference_range(bounds or kpi_range(kpi)), confidence)


#: What a statistic's name means in a fact's provenance (the briefing's ledger recomputes with these).
STATISTICS = ("mean", "ci_low", "ci_high", "p10", "p90", "n", "nan_count", "min", "max")


def statistic(values: Sequence[float] | np.ndarray, how: str, kpi: str | None = None, *, paired_diff: bool = False,
              confidence: float = CONFIDENCE) -> float:
    """One named statistic of *values* (see :data:`STATISTICS`); ``ci_*`` are clipped to the KPI's range (or, with
    *paired_diff*, the range of its difference)."""
    v = np.asarray(values, dtype=float)
    if how == "nan_count":
        return float(np.isnan(v).sum())
    if how == "n":
        return float(len(v))
    finite = v[~np.isnan(v)]
    if how in ("min", "max"):
        return float(getattr(np, how)(finite)) if len(finite) else math.nan
    bounds = kpi_range(kpi)
    e = _estimate(v, difference_range(bounds) if paired_diff else bounds, confidence)
    if how in ("mean", "ci_low", "ci_high", "p10", "p90"):
        return float(getattr(e, how))
    raise ValueError(f"unknown statistic '{how}' (one of {', '.join(STATISTICS)})")


__all__ = ["CONFIDENCE", "SPREAD", "STATISTICS", "Estimate", "difference_range", "kpi_range", "level", "paired",
           "statistic", "t_interval"]
