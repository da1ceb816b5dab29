"""The one estimator (sim.experiments.estimate): mean, clipped 95 % t interval, 10/90 % spread, R."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim.experiments import estimate
from sim.experiments.compare import summarise


@pytest.mark.parametrize(("kpi", "expected"), [
    ("domestic_share[bytedance]", (0.0, 1.0)),
    ("job_finished[bytedance/llm]", (0.0, 1.0)),
    ("job_finish_day[bytedance/llm]", (0.0, math.inf)),
    ("delivered_units[bytedance/US]", (0.0, math.inf)),
    ("vendor_revenue_lost_usd", (0.0, math.inf)),
    ("first_day_job_flop_ge_1e+25[bytedance]", (0.0, math.inf)),
    ("job_delay_vs_deadline_days[bytedance/llm]", (-math.inf, math.inf)),
    ("something_new", (-math.inf, math.inf)),
    (None, (-math.inf, math.inf)),
])
def test_kpi_range_from_the_name(kpi, expected):
    assert estimate.kpi_range(kpi) == expected


def test_level_is_mean_with_t_interval_and_percentile_spread():
    x = [1.0, 2.0, 3.0, 4.0, 10.0]
    e = estimate.level(x, "job_failures[a/b]")
    half = stats.t.ppf(0.975, 4) * np.std(x, ddof=1) / math.sqrt(5)
    assert e.mean == pytest.approx(4.0)
    assert (e.ci_low, e.ci_high) == pytest.approx((max(4.0 - half, 0.0), 4.0 + half))
    assert (e.p10, e.p90) == pytest.approx(tuple(np.percentile(x, [10, 90])))
    assert (e.n, e.missing, e.confidence) == (5, 0, 0.95)


def test_interval_is_clipped_to_the_kpi_range():
    shares = [0.0, 0.0, 0.0, 0.9]
    e = estimate.level(shares, "domestic_share[lab]")
    lo, hi = estimate.t_interval(shares)[1:]
    assert lo < 0 and e.ci_low == 0.0 and e.ci_high == pytest.approx(min(hi, 1.0))
    counts = estimate.level([0.0, 0.0, 100.0], "grey_units")
    assert counts.ci_low == 0.0
    d = estimate.paired([1.0, 1.0, 0.0], [0.0, 0.0, 1.0], "job_finished[a/b]")
    assert -1.0 <= d.ci_low <= d.ci_high <= 1.0


def test_paired_difference_drops_incomplete_pairs_and_counts_them():
    a = [10.0, 12.0, math.nan, 15.0]
    b = [9.0, 10.0, 11.0, math.nan]
    d = estimate.paired(a, b, "job_finish_day[x/y]")
    assert (d.mean, d.n, d.missing) == (1.5, 2, 2)
    assert math.isfinite(d.ci_low) and d.ci_low < 1.5 < d.ci_high


def test_one_replication_has_no_interval_and_none_has_no_estimate():
    one = estimate.level([3.0])
    assert one.mean == 3.0 and math.isnan(one.ci_low) and math.isnan(one.ci_high) and one.n == 1
    none = estimate.level([math.nan, math.nan])
    assert math.isnan(none.mean) and (none.n, none.missing) == (0, 2)
    assert none.to_dict()["mean"] is None


def test_statistic_names_recompute_the_estimate():
    x = [0.1, 0.5, 0.2, 0.9, 0.3]
    e = estimate.level(x, "domestic_share[a]")
    for how in ("mean", "ci_low", "ci_high", "p10", "p90"):
        assert estimate.statistic(x, how, "domestic_share[a]") == getattr(e, how)
    diffs = [0.9, 0.95, 1.0]
    assert estimate.statistic(diffs, "ci_high", "domestic_share[a]", paired_diff=True) <= 1.0
    assert estimate.statistic([1.0, math.nan], "nan_count") == 1.0
    with pytest.raises(ValueError, match="unknown statistic"):
        estimate.statistic(x, "median")


def test_compare_reports_the_estimator():
    base = [{"k_units": v} for v in (5.0, 7.0, 9.0)]
    cf = [{"k_units": v} for v in (4.0, 4.0, 8.0)]
    (row,) = summarise(base, cf)
    d = estimate.paired([5.0, 7.0, 9.0], [4.0, 4.0, 8.0], "k_units")
    assert (row.diff_mean, row.diff_ci_low, row.diff_ci_high, row.diff_p10, row.diff_p90, row.n_pairs) == (
        d.mean, d.ci_low, d.ci_high, d.p10, d.p90, d.n)
    assert row.base_mean == 7.0 and row.counterfactual_mean == pytest.approx(16 / 3)
