"""Counterfactual comparison with common random numbers: paired KPI differences with intervals.

Replication r of the base and of the counterfactual use the same seed, hence the same named random
streams (``sim.engine.rng``): differences reflect the change, not sampling noise.  Every statistic comes
from :mod:`sim.experiments.estimate`: mean paired difference, its 95 % t interval clipped to the range a
difference of the KPI can take, and the 10/90 % spread of the differences.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.experiments import estimate
from sim.results.simulation import Simulation
from sim.schema import Scenario


def without_rules(s: Scenario, rule_ids: list[str] | None = None) -> Scenario:
    """A copy of *s* with the named rules removed (all rules when *rule_ids* is None), and with the references to
    them removed too: a remaining rule that ``overrides`` a removed one keeps overriding only the others (there is
    nothing left to replace), so the copy validates as a scenario (the dashboard re-validates it)."""
    if rule_ids is None:
        rules = {}
        name = f"{s.name} (no rules)"
    else:
        unknown = [r for r in rule_ids if r not in s.rules]
        if unknown:
            raise KeyError(f"unknown rule(s): {', '.join(unknown)}; known: {', '.join(sorted(s.rules))}")
        rules = {k: v for k, v in s.rules.items() if k not in rule_ids}
        rules = {k: (v.model_copy(update={"overrides": [o for o in v.overrides if o in rules]})
                     if any(o not in rules for o in v.overrides) else v) for k, v in rules.items()}
        name = f"{s.name} (without {', '.join(rule_ids)})"
    return s.model_copy(update={"rules": rules, "name": name})


@dataclass
class KpiComparison:
    """One KPI: base and counterfactual means, the paired difference with its interval and spread, R."""

    kpi: str
    base_mean: float
    counterfactual_mean: float
    diff_mean: float
    diff_ci_low: float  # 95 % t interval of the mean difference, clipped to the KPI's range
    diff_ci_high: float
    diff_p10: float  # spread of the paired differences across replications
    diff_p90: float
    n_pairs: int  # R: replications where both worlds have the KPI
    base_missing: int
    counterfactual_missing: int


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
    """Paired comparison of two lists of KPI dicts (same replication order), through :mod:`sim.experiments.estimate`."""
    keys = sorted(set().union(*base_k, *cf_k))
    out = []
    for key in keys:
        b = np.array([k.get(key, math.nan) for k in base_k], dtype=float)
        c = np.array([k.get(key, math.nan) for k in cf_k], dtype=float)
        d = estimate.paired(b, c, key, confidence=confidence)
        out.append(KpiComparison(
            key, estimate.level(b, key).mean, estimate.level(c, key).mean, d.mean, d.ci_low, d.ci_high, d.p10, d.p90,
            d.n, int(np.isnan(b).sum()), int(np.isnan(c).sum()),
        ))
    return out
