"""Counterfactual comparison with common random numbers: paired KPI differences with intervals.

Replication r of the base and of the counterfactual use the same seed, hence the same named random
streams (``sim.engine.rng``): differences reflect the change, not sampling noise.  Intervals are Student-t
intervals of the paired differences.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from sim.engine.simulation import Simulation
from sim.schema import Scenario


def without_rules(s: Scenario, rule_ids: list[str] | None = None) -> Scenario:
    """A copy of *s* with the named rules removed (all rules when *rule_ids* is None)."""
    if rule_ids is None:
        rules = {}
        name = f"{s.name} (no rules)"
    else:
        unknown = [r for r in rule_ids if r not in s.rules]
        if unknown:
            raise KeyError(f"unknown rule(s): {', '.join(unknown)}; known: {', '.join(sorted(s.rules))}")
        rules = {k: v for k, v in s.rules.items() if k not in rule_ids}
        name = f"{s.name} (without {', '.join(rule_ids)})"
    return s.model_copy(update={"rules": rules, "name": name})


@dataclass
class KpiComparison:
    """One KPI: base, counterfactual, paired difference with a confidence interval."""

    kpi: str
    base_mean: float
    counterfactual_mean: float
    diff_mean: float
    diff_ci_low: float
    diff_ci_high: float
    n_pairs: int
    base_missing: int
    counterfactual_missing: int


def paired_interval(diffs: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of a Student-t interval for the mean of *diffs*."""
    n = len(diffs)
    if n == 0:
        return math.nan, math.nan, math.nan
    m = float(np.mean(diffs))
    if n == 1:
        return m, math.nan, math.nan
    sd = float(np.std(diffs, ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return m, m - half, m + half


def compare(
    base: Scenario,
    counterfactual: Scenario,
    replications: int = 10,
    seed: int | None = None,
    confidence: float = 0.95,
    progress: Callable[[int, int], None] | None = None,
) -> list[KpiComparison]:
    """Run both scenarios *replications* times with shared seeds; compare every KPI."""
    first = base.seed if seed is None else seed
    base_k, cf_k = [], []
    for r in range(replications):
        base_k.append(Simulation(base, first + r).run().kpis)
        cf_k.append(Simulation(counterfactual, first + r).run().kpis)
        if progress is not None:
            progress(r + 1, replications)
    return summarise(base_k, cf_k, confidence)


def summarise(base_k: list[dict], cf_k: list[dict], confidence: float = 0.95) -> list[KpiComparison]:
    """Paired comparison of two lists of KPI dicts (same replication order)."""
    keys = sorted(set().union(*base_k, *cf_k))
    out = []
    for key in keys:
        b = np.array([k.get(key, math.nan) for k in base_k], dtype=float)
        c = np.array([k.get(key, math.nan) for k in cf_k], dtype=float)
        both = ~np.isnan(b) & ~np.isnan(c)
        m, lo, hi = paired_interval(b[both] - c[both], confidence)
        out.append(KpiComparison(
            key, float(np.nanmean(b)) if (~np.isnan(b)).any() else math.nan,
            float(np.nanmean(c)) if (~np.isnan(c)).any() else math.nan, m, lo, hi, int(both.sum()),
            int(np.isnan(b).sum()), int(np.isnan(c).sum()),
        ))
    return out
