"""Sweep analysis: (inputs, outputs) frames -> sensitivity indices and scenario discovery.

Everything here takes tidy frames (:meth:`sim.experiments.store.Store.frames`,
:meth:`~sim.experiments.store.Store.design`) or plain arrays and knows nothing about SimPy.

* :func:`sobol_from_design` / :func:`morris_from_design`: SALib's analyzers over a Saltelli or Morris
  design, on the design's unit-hypercube coordinates (``u:<factor>`` columns), with the KPI averaged
  over replications at each design point; one result per policy (lever combination).
* :func:`rank_correlations`, :func:`main_effects`: the fallback for grid and LHS designs (Spearman
  correlation of each parameter with the KPI; the KPI's mean by parameter level or quartile).
* :func:`variance_split`: for stochastic outputs, how much of the KPI's variance is replication noise,
  and how many replications a target confidence-interval width needs.
* :func:`prim`: the Patient Rule Induction Method (Friedman and Fisher 1999), peeling then pasting, for
  scenario discovery: boxes in parameter space where a condition on the KPI (``> 180``) mostly holds,
  each with coverage (share of all cases of interest inside), density (share of the box's cases that
  are of interest), mass, and the restricted dimensions only.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


class AnalysisError(Exception):
    """The store or design does not allow the requested analysis (one line)."""


# ======================================================================== helpers
def point_means(design: pd.DataFrame, outputs: pd.DataFrame, kpi: str) -> pd.DataFrame:
    """KPI mean, sd and count over replications per design row (policy_index, sample_index)."""
    if kpi not in outputs.columns:
        raise AnalysisError(f"no KPI '{kpi}' in the store")
    df = design.merge(outputs[["run_id", kpi]], on="run_id", how="left")
    g = df.groupby(["policy_index", "sample_index"], sort=True)[kpi]
    return pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1), "n": g.count()}).reset_index()


def _y_by_policy(design: pd.DataFrame, outputs: pd.DataFrame, kpi: str, fill: float | None, what: str):
    pm = point_means(design, outputs, kpi)
    for pi, grp in pm.groupby("policy_index", sort=True):
        y = grp.sort_values("sample_index")["mean"].to_numpy(dtype=float)
        bad = ~np.isfinite(y)
        if bad.any():
            if fill is None:
                raise AnalysisError(f"{what}: {int(bad.sum())} of {len(y)} design points have no value for '{kpi}' "
                                    "(failed, not run yet, or NaN such as a job that never finished); finish the "
                                    "sweep or give a fill value (--fill)")
            y = np.where(bad, fill, y)
        yield int(pi), y


def _u_matrix(design: pd.DataFrame, factors: list[str], policy_index: int) -> np.ndarray:
    d = design[design["policy_index"] == policy_index].drop_duplicates("sample_index").sort_values("sample_index")
    return d[[f"u:{f}" for f in factors]].to_numpy(dtype=float)


def _policy_values(design: pd.DataFrame, levers: list[str]) -> dict[int, dict[str, Any]]:
    if not levers:
        return {int(p): {} for p in design["policy_index"].unique()}
    first = design.drop_duplicates("policy_index").set_index("policy_index")
    return {int(p): {lv: _plain(first.loc[p, lv]) for lv in levers} for p in first.index}


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


# ======================================================================== Sobol / Morris
@dataclass
class Indices:
    """Sensitivity indices of one KPI for one policy: a frame with one row per factor."""

    method: str
    kpi: str
    policy: dict[str, Any]
    table: pd.DataFrame  # sobol: factor, S1, S1_conf, ST, ST_conf; morris: factor, mu, mu_star, mu_star_conf, sigma
    n_points: int
    second_order: pd.DataFrame | None = None

    def to_dict(self) -> dict:
        """JSON-ready (NaN -> None)."""
        out = {"method": self.method, "kpi": self.kpi, "policy": self.policy, "n_points": self.n_points,
               "factors": _records(self.table)}
        if self.second_order is not None:
            out["second_order"] = _records(self.second_order)
        return out


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else _plain(v)) for k, v in r.items()}
            for r in df.to_dict("records")]


def sobol_analyze(factors: list[str], y: np.ndarray, second_order: bool = False, num_resamples: int = 200,
                  conf_level: float = 0.95, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """SALib Sobol indices for outputs *y* of a Saltelli design over *factors* (rows in SALib's order)."""
    from SALib.analyze import sobol

    d = len(factors)
    per = 2 * d + 2 if second_order else d + 2
    if len(y) % per:
        raise AnalysisError(f"sobol: {len(y)} outputs is not a multiple of {per} (D={d}, "
                            f"second order {'on' if second_order else 'off'}); is the design complete?")
    if np.nanstd(y) == 0:
        raise AnalysisError("sobol: the KPI does not vary over the design; indices are undefined")
    problem = {"num_vars": d, "names": factors, "bounds": [[0.0, 1.0]] * d}
    si = sobol.analyze(problem, np.asarray(y, dtype=float), calc_second_order=second_order,
                       num_resamples=num_resamples, conf_level=conf_level, seed=seed or 1)  # SALib ignores a seed of 0
    table = pd.DataFrame({"factor": factors, "S1": si["S1"], "S1_conf": si["S1_conf"], "ST": si["ST"],
                          "ST_conf": si["ST_conf"]})
    s2 = None
    if second_order:
        rows = [{"factor_a": factors[i], "factor_b": factors[j], "S2": si["S2"][i, j], "S2_conf": si["S2_conf"][i, j]}
                for i in range(d) for j in range(i + 1, d)]
        s2 = pd.DataFrame(rows)
    return table, s2


def sobol_from_design(design: pd.DataFrame, outputs: pd.DataFrame, kpi: str, factors: list[str],
                      levers: list[str] | None = None, second_order: bool = False, fill: float | None = None,
                      **kw: Any) -> list[Indices]:
    """Sobol indices of *kpi* per policy from a stored Saltelli design (replications averaged)."""
    pol = _policy_values(design, levers or [])
    out = []
    for pi, y in _y_by_policy(design, outputs, kpi, fill, "sobol"):
        table, s2 = sobol_analyze(factors, y, second_order, **kw)
        out.append(Indices("sobol", kpi, pol[pi], table, len(y), s2))
    return out


def morris_analyze(factors: list[str], x: np.ndarray, y: np.ndarray, num_levels: int = 4,
                   num_resamples: int = 200, conf_level: float = 0.95, seed: int = 1) -> pd.DataFrame:
    """SALib Morris elementary effects (unit-hypercube coordinates *x*: effects per full range)."""
    from SALib.analyze import morris

    d = len(factors)
    if len(y) % (d + 1):
        raise AnalysisError(f"morris: {len(y)} outputs is not a multiple of D+1={d + 1}; is the design complete?")
    problem = {"num_vars": d, "names": factors, "bounds": [[0.0, 1.0]] * d}
    si = morris.analyze(problem, np.asarray(x, dtype=float), np.asarray(y, dtype=float), num_resamples=num_resamples,
                        conf_level=conf_level, num_levels=num_levels, seed=seed or 1)  # SALib ignores a seed of 0
    return pd.DataFrame({"factor": factors, "mu": si["mu"], "mu_star": si["mu_star"],
                         "mu_star_conf": si["mu_star_conf"], "sigma": si["sigma"]})


def morris_from_design(design: pd.DataFrame, outputs: pd.DataFrame, kpi: str, factors: list[str],
                       levers: list[str] | None = None, num_levels: int = 4, fill: float | None = None,
                       **kw: Any) -> list[Indices]:
    """Morris screening of *kpi* per policy from a stored Morris design (replications averaged)."""
    pol = _policy_values(design, levers or [])
    out = []
    for pi, y in _y_by_policy(design, outputs, kpi, fill, "morris"):
        x = _u_matrix(design, factors, pi)
        table = morris_analyze(factors, x, y, num_levels, **kw).sort_values("mu_star", ascending=False)
        out.append(Indices("morris", kpi, pol[pi], table.reset_index(drop=True), len(y)))
    return out


# ======================================================================== fallbacks
def _numeric(col: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(col):
        return col.astype(float)
    return pd.Series(pd.factorize(col, sort=True)[0], index=col.index, dtype=float)


def rank_correlations(inputs: pd.DataFrame, outputs: pd.DataFrame, kpi: str, params: list[str]) -> pd.DataFrame:
    """Spearman rank correlation of each parameter with *kpi* over point means, strongest first."""
    from scipy import stats

    df = inputs[["point_id", *params]].assign(y=outputs[kpi].to_numpy())
    pm = df.groupby("point_id", sort=False).agg({**dict.fromkeys(params, "first"), "y": "mean"})
    pm = pm[np.isfinite(pm["y"])]
    rows = []
    for p in params:
        x = _numeric(pm[p])
        if x.nunique() < 2 or pm["y"].nunique() < 2:
            rho, pv = math.nan, math.nan
        else:
            rho, pv = stats.spearmanr(x, pm["y"])
        rows.append({"parameter": p, "spearman": float(rho), "p_value": float(pv), "n_points": len(pm)})
    t = pd.DataFrame(rows)
    return t.reindex(t["spearman"].abs().sort_values(ascending=False, na_position="last").index).reset_index(drop=True)


def main_effects(inputs: pd.DataFrame, outputs: pd.DataFrame, kpi: str, params: list[str],
                 bins: int = 4) -> pd.DataFrame:
    """One-at-a-time view: mean *kpi* by level of each parameter (quantile bins for continuous ones)."""
    y = outputs[kpi].to_numpy(dtype=float)
    rows = []
    for p in params:
        col = inputs[p]
        if pd.api.types.is_numeric_dtype(col) and col.nunique() > bins:
            groups = pd.qcut(col, bins, duplicates="drop")
            labels = groups.astype(str)
        else:
            labels = col.astype(str)
            groups = col
        g = pd.DataFrame({"level": labels, "key": groups, "y": y}).groupby("key", observed=True, sort=True)
        for _, grp in g:
            rows.append({"parameter": p, "level": grp["level"].iloc[0], "mean": float(np.nanmean(grp["y"]))
                         if np.isfinite(grp["y"]).any() else math.nan, "n": int(np.isfinite(grp["y"]).sum())})
    t = pd.DataFrame(rows)
    if t.empty:
        return t
    spread = t.groupby("parameter")["mean"].agg(lambda s: s.max() - s.min())
    t["effect_range"] = t["parameter"].map(spread)
    return t


def summarize(inputs: pd.DataFrame, outputs: pd.DataFrame, kpi: str, by: list[str] | None = None) -> pd.DataFrame:
    """Distribution of *kpi* (n, missing, mean, sd, p5, p50, p95), overall or by lever values."""
    df = inputs[list(by or [])].assign(y=outputs[kpi].to_numpy(dtype=float))

    def stats_of(s: pd.Series) -> pd.Series:
        v = s[np.isfinite(s)]
        q = v.quantile([0.05, 0.5, 0.95]) if len(v) else pd.Series([math.nan] * 3, index=[0.05, 0.5, 0.95])
        return pd.Series({"n": len(s), "missing": int(len(s) - len(v)), "mean": v.mean(), "sd": v.std(ddof=1),
                          "p5": q[0.05], "p50": q[0.5], "p95": q[0.95]})

    if not by:
        return stats_of(df["y"]).to_frame().T
    return df.groupby(by, sort=True)["y"].apply(stats_of).unstack().reset_index()


def variance_split(inputs: pd.DataFrame, outputs: pd.DataFrame, kpi: str, rel_halfwidth: float = 0.05,
                   confidence: float = 0.95) -> dict[str, float]:
    """Share of *kpi*'s variance that is replication noise, and replications for a target CI half-width.

    ``noise_share`` = mean within-point variance / total variance.  ``replications_needed``: n such that a
    point's mean has a *confidence* half-width of *rel_halfwidth* x |overall mean| (z sd / sqrt n).
    """
    from scipy import stats

    df = pd.DataFrame({"point": inputs["point_id"].to_numpy(), "y": outputs[kpi].to_numpy(dtype=float)})
    df = df[np.isfinite(df["y"])]
    g = df.groupby("point")["y"]
    reps = g.count()
    within = g.var(ddof=1)[reps > 1]
    total = float(df["y"].var(ddof=1)) if len(df) > 1 else math.nan
    noise = float(within.mean()) if len(within) else math.nan
    mean = float(df["y"].mean()) if len(df) else math.nan
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    target = rel_halfwidth * abs(mean)
    need = math.ceil((z * math.sqrt(noise) / target) ** 2) if noise == noise and target > 0 else math.nan
    return {"total_variance": total, "noise_variance": noise,
            "noise_share": noise / total if total and total == total and noise == noise else math.nan,
            "replications_per_point": float(reps.median()) if len(reps) else math.nan,
            "replications_needed": float(max(need, 1)) if need == need else math.nan,
            "target_rel_halfwidth": rel_halfwidth}


# ======================================================================== PRIM
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne}


def parse_condition(text: str) -> tuple[str, float]:
    """``"> 180"`` / ``"<=0.5"`` / ``"180"`` (meaning ``> 180``) -> (operator, value)."""
    m = re.fullmatch(r"\s*(>=|<=|==|!=|>|<)?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*", text)
    if not m:
        raise AnalysisError(f"threshold '{text}': expected a number, optionally after > >= < <= == !=")
    return m.group(1) or ">", float(m.group(2))


def condition_mask(y: np.ndarray, op: str, value: float) -> np.ndarray:
    """Cases of interest: ``y op value`` (NaN is never of interest)."""
    y = np.asarray(y, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(y) & _OPS[op](y, value)


@dataclass
class PrimBox:
    """A box of parameter space: limits on the restricted dimensions, and how good it is."""

    limits: dict[str, tuple[float, float]]  # restricted dimension -> (low, high), inclusive
    coverage: float  # cases of interest inside / all cases of interest
    density: float  # cases of interest inside / cases inside
    mass: float  # cases inside / all cases
    n: int
    base_density: float
    trajectory: list[dict] = field(default_factory=list, repr=False)
    data_range: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)  # (min, max) per dimension

    def describe(self, what: str = "the condition holds", full: dict[str, tuple[float, float]] | None = None) -> str:
        """``"<what> when die_yield <= 0.35 and grey <= 0.05 (coverage 0.81, density 0.93)"``."""
        parts = []
        for dim, (lo, hi) in self.limits.items():
            flo, fhi = (full or self.data_range).get(dim, (-math.inf, math.inf))
            if lo > flo and hi < fhi:
                parts.append(f"{_g(lo)} <= {dim} <= {_g(hi)}")
            elif lo > flo:
                parts.append(f"{dim} >= {_g(lo)}")
            else:
                parts.append(f"{dim} <= {_g(hi)}")
        cond = " and ".join(parts) or "anywhere"
        return f"{what} when {cond} (coverage {self.coverage:.2f}, density {self.density:.2f}, mass {self.mass:.2f})"

    def to_dict(self) -> dict:
        """JSON-ready."""
        return {"limits": {k: [float(a), float(b)] for k, (a, b) in self.limits.items()}, "coverage": self.coverage,
                "density": self.density, "mass": self.mass, "n": self.n, "base_density": self.base_density}


def _g(x: float) -> str:
    return f"{x:.3g}"


def _inside(X: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.all((lo <= X) & (hi >= X), axis=1)


def _peel(X, y, lo, hi, alpha, min_n):
    inside = _inside(X, lo, hi)
    best = None
    for j in range(X.shape[1]):
        v = X[inside, j]
        uniq = np.unique(v)
        if len(uniq) < 2:
            continue
        for side in (0, 1):
            if side == 0:
                cut = np.quantile(v, alpha, method="higher")
                if cut <= uniq[0]:
                    cut = uniq[1]
                keep = inside & (X[:, j] >= cut)
            else:
                cut = np.quantile(v, 1 - alpha, method="lower")
                if cut >= uniq[-1]:
                    cut = uniq[-2]
                keep = inside & (X[:, j] <= cut)
            n = int(keep.sum())
            if n < min_n or n == int(inside.sum()):
                continue
            dens = float(y[keep].mean())
            score = (dens, n)
            if best is None or score > best[0]:
                best = (score, j, side, cut)
    if best is None:
        return None
    _, j, side, cut = best
    lo, hi = lo.copy(), hi.copy()
    if side == 0:
        lo[j] = cut
    else:
        hi[j] = cut
    return lo, hi


def _paste(X, y, lo, hi, full_lo, full_hi, alpha):
    improved = True
    while improved:
        improved = False
        inside = _inside(X, lo, hi)
        dens = float(y[inside].mean()) if inside.any() else 0.0
        best = None
        for j in range(X.shape[1]):
            for side in (0, 1):
                if (side == 0 and lo[j] <= full_lo[j]) or (side == 1 and hi[j] >= full_hi[j]):
                    continue
                others = np.ones(len(X), bool)
                for k in range(X.shape[1]):
                    if k != j:
                        others &= (X[:, k] >= lo[k]) & (X[:, k] <= hi[k])
                if side == 0:
                    cand = np.sort(X[others & (X[:, j] < lo[j]), j])[::-1]
                else:
                    cand = np.sort(X[others & (X[:, j] > hi[j]), j])
                if len(cand) == 0:
                    continue
                step = max(1, int(math.ceil(alpha * inside.sum())))
                new = cand[min(step, len(cand)) - 1]
                nlo, nhi = lo.copy(), hi.copy()
                if side == 0:
                    nlo[j] = new
                else:
                    nhi[j] = new
                m = _inside(X, nlo, nhi)
                nd = float(y[m].mean())
                if nd > dens + 1e-12 and (best is None or nd > best[0]):
                    best = (nd, nlo, nhi)
        if best is not None:
            _, lo, hi = best
            improved = True
    return lo, hi


def _drop_restrictions(X, y, lo, hi, full_lo, full_hi, tol):
    changed = True
    while changed:
        changed = False
        dens = float(y[_inside(X, lo, hi)].mean())
        for j in range(X.shape[1]):
            if lo[j] <= full_lo[j] and hi[j] >= full_hi[j]:
                continue
            nlo, nhi = lo.copy(), hi.copy()
            nlo[j], nhi[j] = full_lo[j], full_hi[j]
            nd = float(y[_inside(X, nlo, nhi)].mean())
            if nd >= dens - tol:
                lo, hi, changed = nlo, nhi, True
                break
    return lo, hi


def prim(X: pd.DataFrame, y: np.ndarray, alpha: float = 0.05, mass_min: float = 0.05, max_boxes: int = 3,
         drop_tolerance: float = 0.01, paste: bool = True) -> list[PrimBox]:
    """PRIM boxes for the cases where boolean *y* is true, in parameter frame *X* (numeric columns).

    Peel *alpha* of the remaining cases at a time from the side of one dimension that raises the
    density most, down to *mass_min*; on that trajectory pick the box with the best balance of coverage
    and density (their harmonic mean); paste back where density rises; drop restrictions that do not
    change density by more than *drop_tolerance*.  Repeat (covering) on the cases outside the boxes,
    while a box beats the remaining base density.  Non-numeric columns are used as ordinal codes.
    """
    names = list(X.columns)
    A = np.column_stack([_numeric(X[c]).to_numpy() for c in names]) if names else np.zeros((len(y), 0))
    y = np.asarray(y, dtype=bool)
    total_pos = int(y.sum())
    n_all = len(y)
    if n_all == 0 or total_pos == 0:
        return []
    full_lo, full_hi = A.min(axis=0), A.max(axis=0)
    remaining = np.ones(n_all, bool)
    boxes: list[PrimBox] = []
    for _ in range(max_boxes):
        Xr, yr = A[remaining], y[remaining].astype(float)
        if yr.sum() == 0:
            break
        base = float(yr.mean())
        min_n = max(1, int(math.ceil(mass_min * n_all)))
        lo, hi = Xr.min(axis=0).astype(float), Xr.max(axis=0).astype(float)
        traj = []
        cur: tuple | None = (lo, hi)
        while cur is not None:
            m = _inside(Xr, *cur)
            dens = float(yr[m].mean())
            cov = float(yr[m].sum() / total_pos)
            traj.append({"lo": cur[0], "hi": cur[1], "density": dens, "coverage": cov, "mass": float(m.sum() / n_all)})
            cur = _peel(Xr, yr, cur[0], cur[1], alpha, min_n)
        best = max(traj, key=lambda t: (2 * t["density"] * t["coverage"] / (t["density"] + t["coverage"])
                                        if t["density"] + t["coverage"] > 0 else 0.0))
        lo, hi = best["lo"], best["hi"]
        if paste:
            lo, hi = _paste(Xr, yr, lo, hi, full_lo, full_hi, alpha)
        lo, hi = _drop_restrictions(Xr, yr, lo, hi, full_lo, full_hi, drop_tolerance)
        m_r = _inside(Xr, lo, hi)
        dens = float(yr[m_r].mean())
        if dens <= base or not m_r.any():
            break
        limits = {names[j]: (float(lo[j]), float(hi[j])) for j in range(len(names))
                  if lo[j] > full_lo[j] or hi[j] < full_hi[j]}
        if not limits:
            break
        idx = np.flatnonzero(remaining)[m_r]
        boxes.append(PrimBox(limits, float(yr[m_r].sum() / total_pos), dens, float(m_r.sum() / n_all), int(m_r.sum()),
                             base, [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in t.items()}
                                    for t in traj],
                             {names[j]: (float(full_lo[j]), float(full_hi[j])) for j in range(len(names))}))
        remaining[idx] = False
    return boxes


# ======================================================================== one call for the CLI
# ============================================================================ the sweep explorer
def fisher_interval(rho: float, n: int) -> tuple[float, float]:
    """95 % interval of a Spearman correlation (Fisher z with Bonett and Wright's variance 1.06 / (n - 3))."""
    if not math.isfinite(rho) or n <= 4:
        return math.nan, math.nan
    z, se = math.atanh(max(min(rho, 0.999999), -0.999999)), math.sqrt(1.06 / (n - 3))
    return math.tanh(z - 1.96 * se), math.tanh(z + 1.96 * se)


def sensitivity(store: Any, kpi: str) -> dict:
    """Sensitivity of *kpi* to each parameter, what the dashboard's sweep explorer shows.

    Sobol (S1 and ST, with SALib's 95 % intervals) or Morris (mu* with its interval, sigma) per policy when
    the design is one of those; otherwise, or when the design cannot give them (an unfinished sweep, a
    KPI with missing values), Spearman rank correlations with a 95 % interval (:func:`fisher_interval`).
    Returns ``method``, ``design``, ``note`` (why a fallback was used), ``table`` (policy, factor, index,
    value, low, high, n_points), ``wide`` (one row per policy and factor, a column per index and interval
    end), ``ranking`` (factors, most influential first) and ``variance`` (replication noise, or None).
    """
    from sim.experiments.store import Store

    s = store if isinstance(store, Store) else Store(store)
    inputs, outputs = s.frames()
    if kpi not in outputs.columns:
        raise AnalysisError(f"no KPI '{kpi}' in the store")
    kind = s.design_kind
    spec = s.meta["spec"]
    note = None
    rows: list[dict] = []
    method = None
    if kind in ("sobol", "morris"):
        try:
            if kind == "sobol":
                res = sobol_from_design(s.design(), outputs, kpi, s.factors, s.meta["policy_levers"],
                                                 spec["design"]["second_order"])
            else:
                res = morris_from_design(s.design(), outputs, kpi, s.factors, s.meta["policy_levers"],
                                                  spec["design"]["levels"])
        except AnalysisError as e:
            note = (f"{kind.capitalize()} indices are not available for this KPI: {e}. "
                    "Showing rank correlations instead.")
        else:
            method = kind
            for r in res:
                policy = ", ".join(f"{k}={_short_value(v)}" for k, v in r.policy.items()) or "all runs"
                for _, f in r.table.iterrows():
                    pairs = ((("S1", "S1_conf"), ("ST", "ST_conf")) if kind == "sobol"
                             else (("mu*", "mu_star_conf"), ("sigma", None)))
                    for index, conf in pairs:
                        value = float(f["mu_star" if index == "mu*" else index])
                        c = float(f[conf]) if conf is not None else math.nan
                        rows.append({"policy": policy, "factor": f["factor"], "index": index, "value": value,
                                     "low": value - c if math.isfinite(c) else math.nan,
                                     "high": value + c if math.isfinite(c) else math.nan,
                                     "n_points": r.n_points})
    if method is None:
        method = "spearman"
        rc = rank_correlations(inputs, outputs, kpi, list(s.parameters))
        for _, f in rc.iterrows():
            lo, hi = fisher_interval(float(f["spearman"]), int(f["n_points"]))
            rows.append({"policy": "all runs", "factor": f["parameter"], "index": "Spearman ρ",
                         "value": float(f["spearman"]), "low": lo, "high": hi, "n_points": int(f["n_points"]),
                         "p_value": float(f["p_value"])})
    table = pd.DataFrame(rows, columns=["policy", "factor", "index", "value", "low", "high", "n_points"]
                         + (["p_value"] if method == "spearman" else []))
    lead = {"sobol": "ST", "morris": "mu*", "spearman": "Spearman ρ"}[method]
    ranking = (table[table["index"] == lead].assign(a=lambda t: t["value"].abs()).groupby("factor")["a"].mean()
               .sort_values(ascending=False).index.tolist()) if len(table) else []
    wide_rows = []
    for policy in dict.fromkeys(table["policy"]):
        for factor in ranking:
            part = table[(table["policy"] == policy) & (table["factor"] == factor)]
            row: dict = {"policy": policy, "factor": factor}
            for _, r in part.iterrows():
                row[r["index"]] = r["value"]
                if math.isfinite(r["low"]):
                    row[f"{r['index']} 95 % low"], row[f"{r['index']} 95 % high"] = r["low"], r["high"]
                if "p_value" in r:
                    row["p-value"] = r["p_value"]
            wide_rows.append(row)
    wide = pd.DataFrame(wide_rows)
    if len(wide) and wide["policy"].nunique() == 1:
        wide = wide.drop(columns="policy")
    variance = None
    if len(inputs) and inputs["replication"].nunique() > 1:
        variance = variance_split(inputs, outputs, kpi)
    return {"method": method, "design": kind, "note": note, "table": table, "wide": wide, "ranking": ranking,
            "variance": variance}


def prim_report(store: Any, kpi: str, condition: str) -> dict:
    """PRIM scenario discovery for ``kpi <condition>`` (e.g. ``"> 1250"``), what the sweep explorer shows.

    Returns ``condition``, ``cases`` / ``of`` (runs where it holds / all ok runs), ``base_density``, ``boxes``
    (box, coverage, density, mass, runs, description), ``limits`` (box, parameter, low, high, the sweep's
    range, positions in that range), ``points`` (run_id, parameters, outcome label, KPI) and ``labels``.
    Text parameters are decoded from PRIM's ordinal codes for display.
    """
    from sim.experiments.store import Store

    op, value = parse_condition(condition)
    s = store if isinstance(store, Store) else Store(store)
    inputs, outputs = s.frames()
    params = list(s.parameters)
    y = condition_mask(outputs[kpi].to_numpy(), op, value)
    X = inputs[params]
    boxes = prim(X, y)
    what = f"{kpi} {op} {value:g}"
    full = {}
    decode = {}
    for c in params:  # PRIM reads text columns as ordinal codes of their sorted values: decode them for display
        if pd.api.types.is_numeric_dtype(X[c]):
            codes = X[c].astype(float)
        else:
            codes_arr, uniques = pd.factorize(X[c], sort=True)
            codes, decode[c] = pd.Series(codes_arr, dtype=float), list(uniques)
        full[c] = (float(codes.min()), float(codes.max())) if len(codes) else (math.nan, math.nan)
    box_rows, limit_rows = [], []
    for i, b in enumerate(boxes, 1):
        box_rows.append({"box": i, "coverage": b.coverage, "density": b.density, "mass": b.mass, "runs": b.n,
                         "description": b.describe(what, full)})
        for dim, (lo, hi) in b.limits.items():
            flo, fhi = full[dim]
            span = (fhi - flo) or 1.0
            if dim in decode:
                levels = decode[dim][int(round(lo)):int(round(hi)) + 1]
                lo_text, hi_text = str(levels[0]), str(levels[-1])
            else:
                lo_text, hi_text = f"{lo:.4g}", f"{hi:.4g}"
            limit_rows.append({"box": i, "parameter": dim, "low": lo_text, "high": hi_text,
                               "sweep_min": f"{flo:.4g}" if dim not in decode else str(decode[dim][0]),
                               "sweep_max": f"{fhi:.4g}" if dim not in decode else str(decode[dim][-1]),
                               "pos_low": (lo - flo) / span, "pos_high": (hi - flo) / span,
                               "low_value": lo if dim not in decode else math.nan,
                               "high_value": hi if dim not in decode else math.nan})
    holds_label, other_label = f"{kpi} {op} {value:g}", "otherwise"
    points = inputs[["run_id", *params]].assign(
        outcome=[holds_label if h else other_label for h in y], kpi=outputs[kpi].to_numpy())
    return {"condition": what, "cases": int(y.sum()), "of": int(len(y)),
            "base_density": float(y.mean()) if len(y) else math.nan,
            "boxes": pd.DataFrame(box_rows, columns=["box", "coverage", "density", "mass", "runs", "description"]),
            "limits": pd.DataFrame(limit_rows, columns=["box", "parameter", "low", "high", "sweep_min", "sweep_max",
                                                        "pos_low", "pos_high", "low_value", "high_value"]),
            "points": points, "labels": (holds_label, other_label)}


def default_condition(values: Any) -> str:
    """A starting condition for scenario discovery: the KPI above its 75th percentile (``"> 0"`` with no data)."""
    v = pd.Series(values, dtype=float).dropna()
    if v.empty:
        return "> 0"
    return f"> {float(v.quantile(0.75)):.4g}"


def _short_value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def default_kpi(kpis: list[str]) -> str:
    """The KPI analysed when none is named: the first job finish day, else the first KPI."""
    if not kpis:
        raise AnalysisError("the store holds no KPI values yet (no run finished ok)")
    for k in kpis:
        if k.startswith("job_finish_day["):
            return k
    return kpis[0]


def analyze_store(store: Any, kpi: str | None = None, method: str = "auto", threshold: str | None = None,
                  fill: float | None = None) -> dict:
    """Everything ``exportsim analyze`` shows, as a JSON-ready dict.

    *method*: ``sobol`` / ``morris`` (need that design), ``prim`` (needs *threshold*), ``auto`` (the
    design's own indices, or rank correlations and main effects for grid/LHS; PRIM too if *threshold*).
    """
    from sim.experiments.store import Store

    s = store if isinstance(store, Store) else Store(store)
    inputs, outputs = s.frames()
    kpis = [c for c in outputs.columns if c != "run_id"]
    kpi = kpi or default_kpi(kpis)
    if kpi not in kpis:
        close = [k for k in kpis if kpi.lower() in k.lower()]
        more = " ..." if len(kpis) > 8 else ""
        hint = f"; did you mean {', '.join(close[:3])}?" if close else f" (kept: {', '.join(kpis[:8])}{more})"
        raise AnalysisError(f"--kpi: no KPI '{kpi}' in the store{hint}")
    if method not in ("auto", "sobol", "morris", "prim"):
        raise AnalysisError(f"--method: must be sobol, morris, prim or auto, got '{method}'")
    kind = s.design_kind
    params = list(s.parameters)
    all_in, _ = s.frames(status=None)
    report: dict[str, Any] = {
        "store": str(s.root), "sweep_id": s.sweep_id, "design": kind, "kpi": kpi,
        "runs": {"planned": int(s.design()["run_id"].nunique()), "ok": int(len(inputs)),
                 "failed": int((all_in["status"] != "ok").sum())},
        "summary": _records(summarize(inputs, outputs, kpi)),
    }
    if s.levers:
        report["by_lever"] = _records(summarize(inputs, outputs, kpi, s.levers))
    if inputs["replication"].nunique() > 1:
        report["variance"] = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                              for k, v in variance_split(inputs, outputs, kpi).items()}
    if method in ("sobol", "morris") and method != kind:
        raise AnalysisError(f"--method {method}: needs a {method} design; this sweep's design is {kind}")
    if method == "prim" and threshold is None:
        raise AnalysisError("--method prim: give the condition with --threshold (e.g. '> 180')")
    if method in ("auto", "sobol", "morris"):
        design = s.design()
        spec = s.meta["spec"]
        if kind == "sobol" and method in ("auto", "sobol"):
            res = sobol_from_design(design, outputs, kpi, s.factors, s.meta["policy_levers"],
                                    spec["design"]["second_order"], fill)
            report["sobol"] = [r.to_dict() for r in res]
        elif kind == "morris" and method in ("auto", "morris"):
            res = morris_from_design(design, outputs, kpi, s.factors, s.meta["policy_levers"],
                                     spec["design"]["levels"], fill)
            report["morris"] = [r.to_dict() for r in res]
        else:
            report["rank_correlation"] = _records(rank_correlations(inputs, outputs, kpi, params))
            report["main_effects"] = _records(main_effects(inputs, outputs, kpi, params))
    if threshold is not None and method in ("auto", "prim"):
        op, value = parse_condition(threshold)
        y = condition_mask(outputs[kpi].to_numpy(), op, value)
        X = inputs[params]
        boxes = prim(X, y)
        full = {c: (float(_numeric(X[c]).min()), float(_numeric(X[c]).max())) for c in params}
        what = f"{kpi} {op} {_g(value)}"
        report["prim"] = {"condition": what, "cases": int(y.sum()), "of": int(len(y)),
                          "boxes": [dict(b.to_dict(), text=b.describe(what, full)) for b in boxes]}
    return report
