"""What a calibration store says: marginals, prior-to-posterior shift, correlations, generations, the
predictive check of every observable (fitted and held out), coverage, identifiability and misfit.

All numbers come from the store's Parquet files (:mod:`sim.experiments.calibrate`); nothing is run here.

* **Inputs.**  The prior's moments and quantiles are exact (its inverse CDF on a fine grid of u); the
  posterior's are weighted over the last population.  ``shift`` is the move of the mean in prior standard
  deviations; ``contraction`` is 1 - posterior variance / prior variance.  ``ks`` is the largest gap
  between the posterior's weighted CDF of u and the uniform CDF of the prior; below ``ks_crit`` =
  1.36 / sqrt(ESS) (a 5 % Kolmogorov-Smirnov test at the effective sample size) the data did not move the
  input: **at prior** (or **unclear** when its contraction exceeds the sampling noise of a variance ratio,
  2 sqrt(2 / ESS), capped at 0.9: narrower, but the effective sample is too small to say it moved).
  Moved and contraction >= 0.5 is **pinned**; moved but less narrowed is **informed**.  ``edge`` flags a
  posterior median in the outer 10 % of the prior (in u): the data push the input against a prior bound.
* **Observables.**  Posterior (and prior) predictive median, 80 % (10-90) and 95 % (2.5-97.5) intervals,
  from runs with seeds no fitting run used.  An interval **covers** a published figure when it meets the
  published range; ``median_inside`` is the backtest's test (the median inside the range).  Coverage is
  the share of held-out observables covered: the out-of-sample test of the model.
* **Unreachable.**  An observable that no accepted particle (fitted) and no posterior predictive run
  lands inside: which side the runs stay on, the closest they get, whether any prior run got there, and
  the input whose value moves it most under the prior (Spearman's rho over the prior predictive runs).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.experiments.posterior import GENERATIONS, META, POPULATIONS, POSTERIOR, PREDICTIVE, PosteriorError
from sim.schema.calibration import CalibrationSpec


@dataclass
class CalibrationStore:
    """A calibration store's files, read."""

    root: Path
    meta: dict
    spec: CalibrationSpec
    generations: pd.DataFrame
    populations: pd.DataFrame | None
    posterior: pd.DataFrame
    predictive: pd.DataFrame | None

    @classmethod
    def load(cls, root: str | os.PathLike) -> CalibrationStore:
        r = Path(root)
        if not (r / META).is_file():
            raise PosteriorError(f"{r}: not a calibration store (no {META})")
        meta = json.loads((r / META).read_text())
        if not (r / POSTERIOR).is_file():
            raise PosteriorError(f"{r}: the calibration has no posterior yet (status {meta.get('status', '?')})")
        read = lambda name: pd.read_parquet(r / name) if (r / name).is_file() else None  # noqa: E731
        gens = read(GENERATIONS)
        return cls(r, meta, CalibrationSpec.model_validate(meta["spec"]),
                   gens if gens is not None else pd.DataFrame(meta.get("generations", [])),
                   read(POPULATIONS), read(POSTERIOR), read(PREDICTIVE))

    @property
    def names(self) -> list[str]:
        return list(self.spec.parameters)

    @property
    def observables(self) -> dict[str, dict]:
        """id -> {role: fit|held_out, date, low, high, central, unit, description}."""
        out = {k: {"role": "fit", **v} for k, v in self.meta.get("fit", {}).items()}
        out.update({k: {"role": "held_out", **v} for k, v in self.meta.get("held_out", {}).items()})
        return out


# ================================================================================ weighted statistics
def weighted_quantiles(x: np.ndarray, w: np.ndarray, qs: list[float]) -> list[float]:
    """Quantiles of *x* under weights *w* (midpoint rule on the weighted CDF)."""
    ok = ~np.isnan(x)
    x, w = x[ok], w[ok]
    if len(x) == 0:
        return [math.nan for _ in qs]
    order = np.argsort(x)
    x, w = x[order], w[order]
    w = w / w.sum() if w.sum() > 0 else np.full(len(x), 1.0 / len(x))
    cdf = np.cumsum(w) - 0.5 * w
    return [float(np.interp(q, cdf, x)) for q in qs]


def _wstats(x: np.ndarray, w: np.ndarray) -> dict:
    w = w / w.sum()
    m = float(np.sum(w * x))
    sd = float(math.sqrt(max(np.sum(w * (x - m) ** 2), 0.0)))
    q = weighted_quantiles(x, w, [0.05, 0.5, 0.95])
    return {"mean": m, "sd": sd, "q05": q[0], "q50": q[1], "q95": q[2]}


def _prior_stats(p) -> dict:
    from sim.experiments.sweep import values_from_u

    u = (np.arange(4001) + 0.5) / 4001
    x = np.array(values_from_u(p, u), dtype=float)
    return {"mean": float(x.mean()), "sd": float(x.std()), "q05": float(np.quantile(x, 0.05)),
            "q50": float(np.quantile(x, 0.5)), "q95": float(np.quantile(x, 0.95))}


def _ks_uniform(u: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(u)
    u, w = u[order], w[order] / w.sum()
    cdf_hi = np.cumsum(w)
    cdf_lo = cdf_hi - w
    return float(max(np.max(np.abs(cdf_hi - u)), np.max(np.abs(cdf_lo - u))))


def _interval(x: np.ndarray) -> dict:
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return dict.fromkeys(("median", "p2_5", "p10", "p90", "p97_5"), math.nan) | {"n": 0}
    q = np.percentile(x, [50, 2.5, 10, 90, 97.5])
    return {"median": float(q[0]), "p2_5": float(q[1]), "p10": float(q[2]), "p90": float(q[3]),
            "p97_5": float(q[4]), "n": int(len(x))}


def _meets(lo: float, hi: float, a: float, b: float) -> bool:
    if any(math.isnan(v) for v in (a, b)):
        return False
    tol = 1e-9 * max(abs(lo), abs(hi), 1.0)
    return a <= hi + tol and b >= lo - tol


# ============================================================================================ summary
def summarise(store: str | os.PathLike | CalibrationStore) -> dict:
    """Everything ``exportsim calibrate --report`` shows, as plain data (see the module doc)."""
    from scipy import stats

    from sim.engine.version import fingerprint_change, model_fingerprint

    cs = store if isinstance(store, CalibrationStore) else CalibrationStore.load(store)
    post = cs.posterior
    w = post["weight"].to_numpy(dtype=float)
    w = w / w.sum()
    ess = float(1.0 / np.sum(w ** 2))
    ks_crit = 1.36 / math.sqrt(max(ess, 1.0))
    noise = min(0.9, 2 * math.sqrt(2 / max(ess, 1.0)))  # ~2 sd of a variance ratio estimated from ESS draws
    inputs = []
    for n, p in cs.spec.parameters.items():
        pr = _prior_stats(p)
        po = _wstats(post[n].to_numpy(dtype=float), w)
        ks = _ks_uniform(post[f"u:{n}"].to_numpy(dtype=float), w)
        contraction = 1.0 - (po["sd"] ** 2) / (pr["sd"] ** 2) if pr["sd"] > 0 else math.nan
        shift = (po["mean"] - pr["mean"]) / pr["sd"] if pr["sd"] > 0 else math.nan
        if ks > ks_crit:
            verdict = "pinned" if contraction >= 0.5 else "informed"
        else:  # not distinguishable from the prior at this ESS: at prior unless it narrowed beyond sampling noise
            verdict = "at prior" if contraction < noise else "unclear"
        u_med = weighted_quantiles(post[f"u:{n}"].to_numpy(dtype=float), w, [0.5])[0]
        edge = "low" if u_med < 0.1 else "high" if u_med > 0.9 else None
        inputs.append({"input": n, "path": p.path, "apply": p.apply, "prior_kind": p.kind, "prior": pr,
                       "posterior": po, "shift_sd": shift, "contraction": contraction, "ks": ks, "ks_crit": ks_crit,
                       "verdict": verdict, "edge": edge, "u_median": u_med, "description": p.description})
    names = cs.names
    X = post[names].to_numpy(dtype=float)
    mu = (w[:, None] * X).sum(0)
    cov = ((X - mu) * w[:, None]).T @ (X - mu)
    sd = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    pairs: list[dict[str, Any]] = [{"a": names[i], "b": names[j], "r": float(corr[i, j])}
                                   for i in range(len(names)) for j in range(i + 1, len(names))
                                   if math.isfinite(corr[i, j])]
    pairs.sort(key=lambda d: -abs(float(d["r"])))

    pred = cs.predictive
    observables = []
    for oid, o in cs.observables.items():
        lo, hi = float(o["low"]), float(o["high"])
        row = {"observable": oid, "role": o["role"], "date": o.get("date"), "unit": o.get("unit", ""),
               "description": o.get("description", ""), "low": lo, "high": hi, "central": o.get("central")}
        col = f"obs:{oid}"
        post_runs = np.array([], dtype=float)
        prior_runs = np.array([], dtype=float)
        if pred is not None and col in pred.columns:
            post_runs = pred.loc[pred["kind"] == "posterior", col].to_numpy(dtype=float)
            prior_runs = pred.loc[pred["kind"] == "prior", col].to_numpy(dtype=float)
        po, pr = _interval(post_runs), _interval(prior_runs)
        row["posterior"], row["prior"] = po, pr
        row["median_inside"] = bool(po["n"]) and _meets(lo, hi, po["median"], po["median"])
        row["covered_80"] = bool(po["n"]) and _meets(lo, hi, po["p10"], po["p90"])
        row["covered_95"] = bool(po["n"]) and _meets(lo, hi, po["p2_5"], po["p97_5"])
        row["missing"] = int(np.isnan(post_runs).sum())
        accepted = post[f"sim:{oid}"].to_numpy(dtype=float) if f"sim:{oid}" in post.columns else np.array([])
        reach = np.concatenate([post_runs, accepted])
        reach = reach[~np.isnan(reach)]
        tol = 1e-9 * max(abs(lo), abs(hi), 1.0)
        inside = (reach >= lo - tol) & (reach <= hi + tol)
        row["share_inside"] = float(inside.mean()) if len(reach) else math.nan
        row["reached"] = bool(inside.any())
        pr_ok = prior_runs[~np.isnan(prior_runs)]
        row["prior_reached"] = bool(((pr_ok >= lo - tol) & (pr_ok <= hi + tol)).any()) if len(pr_ok) else False
        observables.append(row)

    unreachable = []
    for row in observables:
        if row["reached"] or (row["posterior"]["n"] == 0 and row["role"] == "held_out"):
            continue
        oid, lo, hi = row["observable"], row["low"], row["high"]
        col = f"obs:{oid}"
        runs = pred.loc[pred["kind"] == "posterior", col].to_numpy(dtype=float) if pred is not None else np.array([])
        if f"sim:{oid}" in post.columns:
            runs = np.concatenate([runs, post[f"sim:{oid}"].to_numpy(dtype=float)])
        runs = runs[~np.isnan(runs)]
        if len(runs) == 0:
            unreachable.append({"observable": oid, "role": row["role"], "direction": "not computed", "constant": False,
                                "closest": math.nan, "prior_reached": row["prior_reached"], "prior_closest": math.nan,
                                "lever": None, "lever_rho": math.nan})
            continue
        constant = bool(np.ptp(runs) <= 1e-9 * max(float(np.max(np.abs(runs))), 1e-300))
        below = runs < lo
        direction = "below" if below.all() else "above" if (runs > hi).all() else "both sides"
        closest = float(runs.max()) if direction == "below" else float(runs.min()) if direction == "above" else math.nan
        prior_closest, lever, rho = math.nan, None, math.nan
        if pred is not None and col in pred.columns:
            pp = pred[pred["kind"] == "prior"]
            v = pp[col].to_numpy(dtype=float)
            ok = ~np.isnan(v)
            if ok.any():
                prior_closest = float(v[ok].max() if direction == "below" else v[ok].min())
                best: tuple[str | None, float] = (None, 0.0)
                for n in names:
                    x = pp[n].to_numpy(dtype=float)[ok]
                    if np.ptp(x) > 0 and np.ptp(v[ok]) > 1e-9 * float(np.max(np.abs(v[ok]))):
                        r = float(stats.spearmanr(x, v[ok]).statistic)
                        if math.isfinite(r) and abs(r) > abs(best[1]):
                            best = (n, r)
                lever, rho = best
        unreachable.append({"observable": oid, "role": row["role"], "direction": direction, "closest": closest,
                            "constant": constant,
                            "prior_reached": row["prior_reached"], "prior_closest": prior_closest, "lever": lever,
                            "lever_rho": rho})

    def coverage(role: str) -> dict:
        rows = [r for r in observables if r["role"] == role and r["posterior"]["n"] > 0]
        n = len(rows)
        return {"n": n, "covered_80": sum(r["covered_80"] for r in rows),
                "covered_95": sum(r["covered_95"] for r in rows),
                "median_inside": sum(r["median_inside"] for r in rows)}

    gens = cs.generations.to_dict("records") if len(cs.generations) else []
    now = model_fingerprint()
    return {
        "name": cs.meta.get("name"), "store": str(cs.root), "status": cs.meta.get("status"),
        "stopped_because": cs.meta.get("stopped_because"), "cutoff": cs.meta.get("cutoff"),
        "base_file": cs.meta.get("base_file"), "observed_file": cs.meta.get("observed_file"),
        "model_fingerprint": cs.meta.get("model_fingerprint"), "model_fingerprint_now": now,
        "model_matches": cs.meta.get("model_fingerprint") == now,
        "model_change": fingerprint_change(cs.meta.get("model_fingerprint"), now), "pyabc": cs.meta.get("pyabc"),
        "particles": int(len(post)), "ess": ess, "simulations": int(sum(g["samples"] for g in gens)),
        "generations": gens, "predictive_runs": int(len(pred)) if pred is not None else 0,
        "inputs": inputs, "correlation": {"inputs": names, "matrix": [[float(v) for v in r] for r in corr]},
        "pairs": pairs, "observables": observables, "coverage": {"held_out": coverage("held_out"),
                                                                 "fit": coverage("fit")},
        "unreachable": unreachable, "skipped": cs.meta.get("skipped", {}),
        "at_prior": [i["input"] for i in inputs if i["verdict"] == "at prior"],
        "pinned": [i["input"] for i in inputs if i["verdict"] == "pinned"],
        "unclear": [i["input"] for i in inputs if i["verdict"] == "unclear"],
        "at_bound": [f"{i['input']} ({i['edge']} end)" for i in inputs if i["edge"]],
    }


def unreachable_sentence(u: dict) -> str:
    """One sentence on an observable out of reach (an entry of :func:`summarise`'s ``unreachable``)."""
    def num(v: float) -> str:
        return "-" if v is None or not math.isfinite(v) else f"{v:,.3g}" if abs(v) < 1e4 else f"{v:,.0f}"

    if u["direction"] == "not computed":
        return f"{u['observable']}: no run computes it"
    side = {"below": "below", "above": "above", "both sides": "on both sides of"}[u["direction"]]
    text = f"{u['observable']}: every accepted run lies {side} the published range"
    if math.isfinite(u.get("closest", math.nan)):
        text += f" (closest {num(u['closest'])})"
    text += ("; some prior runs reach it, so the fitted figures pull the inputs away from it" if u["prior_reached"]
             else f"; no prior run reaches it either (best {num(u['prior_closest'])}): a limit of the model "
                  "or of the priors' ranges, not of the fit")
    if u.get("constant"):
        text += ("; every posterior run gives exactly this value, whatever the inputs: the observable's measure "
                 "may not be what the figure counts (check its compute: filter, aggregate)")
    elif u.get("lever"):
        text += f"; the input that moves it most is {u['lever']} (Spearman {u['lever_rho']:+.2f} over prior runs)"
    return text + "."
