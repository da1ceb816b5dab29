"""A calibrated posterior, and the one helper that applies a draw of it to a scenario.

A calibration (:mod:`sim.experiments.calibrate`) ends with a weighted population of particles: values of
the inputs its spec names, each at a dotted path of the base scenario, applied by ``set`` (the value goes
there) or ``scale`` (the quantity there is multiplied by it).  :class:`Posterior` reads that population
from a calibration store; :func:`apply_inputs` / :func:`apply_draw` put one draw into any scenario that
has those paths (``run``, ``compare``, ``sweep``, ``brief`` and the dashboard all go through here), and
say which inputs the scenario does not have.

Paths may hold ``*`` segments: every key (or list index) at that level matches, so one factor scales every
lab's budget however many labs the model has.  ``scale`` multiplies every number under the path that is a
quantity: a constant, a distribution's location and spread (uniform/triangular/PERT bounds and mode,
normal mean, sd and bounds, log-normal median, beta bounds and mean; shape parameters are kept), each
step of a time series (its ``since`` date is kept), each entry of a mapping of quantities.  Integers stay
integers (rounded).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.scenario.overrides import SECTIONS, apply_overrides, validated_base
from sim.scenario.paths import Assignment, PathError, get_path, set_path
from sim.schema import Scenario
from sim.schema.calibration import CalibrationParameter, CalibrationSpec

META = "calibration.json"
POSTERIOR = "posterior.parquet"
POPULATIONS = "populations.parquet"
GENERATIONS = "generations.parquet"
PREDICTIVE = "predictive.parquet"
ABC_DB = "abc.db"

#: (dotted path, "set" | "scale", value)
Input = tuple[str, str, Any]


class PosteriorError(Exception):
    """A folder is not a finished calibration store, or a draw cannot be applied."""


# ================================================================================ paths and scaling
def expand_path(data: Any, path: str) -> list[str]:
    """The concrete dotted paths *path* (with ``*`` segments) matches in *data*; :class:`PathError` if none."""
    segs = path.split(".")
    found: list[str] = []

    def walk(cur: Any, i: int, done: list[str]) -> None:
        if i == len(segs):
            found.append(".".join(done))
            return
        seg = segs[i]
        if seg == "*":
            keys = list(cur) if isinstance(cur, dict) else list(range(len(cur))) if isinstance(cur, list) else []
            for k in keys:
                nxt = cur[k]
                if nxt is None:
                    continue
                walk(nxt, i + 1, [*done, str(k)])
            return
        if isinstance(cur, dict):  # a wildcard branch without this key is skipped (asked directly: no error built)
            if seg not in cur:
                return
            nxt = cur[seg]
        else:
            try:
                nxt = get_path(cur, seg)
            except PathError:
                return
        walk(nxt, i + 1, [*done, seg])

    if "*" not in path:
        get_path(data, path)
        return [path]
    walk(data, 0, [])
    if not found:
        raise PathError(f"'{path}' matches nothing in the scenario")
    return found


_SCALED = {
    "constant": ("value",), "uniform": ("low", "high"), "triangular": ("low", "mode", "high"),
    "normal": ("mean", "sd", "low", "high"), "lognormal": ("median",), "beta": ("low", "high", "mean"),
    "pert": ("low", "mode", "high"),
}
_KEPT = {"source", "since", "dist", "name", "description", "kind", "id"}


def _num(x: Any, f: float) -> Any:
    if isinstance(x, bool) or x is None:
        return x
    if isinstance(x, int):
        return int(round(x * f))
    if isinstance(x, float):
        return x * f
    return x


def scale_quantity(q: Any, factor: float) -> Any:
    """A copy of the dumped quantity *q* multiplied by *factor* (see the module doc for what is scaled)."""
    if isinstance(q, bool) or q is None or isinstance(q, str):
        return q
    if isinstance(q, (int, float)):
        return _num(q, factor)
    if isinstance(q, list):
        return [scale_quantity(v, factor) for v in q]
    if isinstance(q, dict):
        out = dict(q)
        if "dist" in q and isinstance(q["dist"], str):
            for k in _SCALED.get(q["dist"], ()):
                if k in out:
                    out[k] = _num(out[k], factor)
            return out
        for k, v in q.items():
            if k in _KEPT or hasattr(v, "isoformat"):
                continue
            out[k] = scale_quantity(v, factor)
        return out
    return q


def _replaced(obj: Any, segs: list[str], value: Any) -> Any:
    """A copy of *obj* with *segs* set to *value*: only the mappings and lists along the path are new, the rest
    is shared with *obj* (which is not changed)."""
    if not segs:
        return value
    seg, rest = segs[0], segs[1:]
    child = get_path(obj, seg)  # the path's own error when a segment is wrong
    if isinstance(obj, list):
        out_list = list(obj)
        out_list[int(seg)] = _replaced(child, rest, value)
        return out_list
    out = dict(obj)
    out[seg] = _replaced(child, rest, value)
    return out


def input_assignments(data: dict, inputs: Sequence[Input], strict: bool = True) -> tuple[list[Assignment], list[str]]:
    """What *inputs* do to the dumped scenario *data*, as whole-entry assignments (``nodes.smic`` -> its new
    mapping), applied one after another as listed; and the input paths *data* does not have.  *data* is not
    changed: each touched entry is a copy along the paths that changed, sharing the rest with *data* (so a
    caller must not change an assigned value in place).  With *strict*, a missing path raises
    :class:`PathError` instead.
    """
    missing: list[str] = []
    touched: dict[str, Any] = {}  # entry path ("nodes.smic", or a top-level field) -> its edited copy

    def entry_of(t: str) -> tuple[str, str]:
        segs = t.split(".")
        n = 2 if len(segs) > 2 and segs[0] in SECTIONS else 1  # an entry of a section, else a top-level field
        return ".".join(segs[:n]), ".".join(segs[n:])

    for path, how, value in inputs:
        try:
            targets = expand_path(data, path)
        except PathError:
            if strict:
                raise
            missing.append(path)
            continue
        for t in targets:
            entry, rest = entry_of(t)
            if entry not in touched:
                touched[entry] = get_path(data, entry)
            if not rest:
                touched[entry] = scale_quantity(touched[entry], float(value)) if how == "scale" else value
                continue
            new = scale_quantity(get_path(touched[entry], rest), float(value)) if how == "scale" else value
            touched[entry] = _replaced(touched[entry], rest.split("."), new)
    return list(touched.items()), missing


def apply_inputs(data: dict, inputs: Sequence[Input], strict: bool = True) -> list[str]:
    """Apply *inputs* to the scenario mapping *data* in place; return the paths it does not have.

    With *strict*, a missing path raises :class:`PathError` instead.
    """
    assigns, missing = input_assignments(data, inputs, strict)
    for path, value in assigns:
        set_path(data, path, value)
    return missing


def scenario_with(scenario: Scenario | dict, inputs: Sequence[Input], strict: bool = False,
                  name_suffix: str | None = None) -> tuple[Scenario, list[str]]:
    """A validated copy of *scenario* with *inputs* applied, and the input paths it does not have."""
    base = validated_base(scenario)
    data = scenario if isinstance(scenario, dict) else base.model_dump(by_alias=True)
    assigns, missing = input_assignments(data, inputs, strict=strict)
    if name_suffix:
        assigns.append(("name", f"{data.get('name', 'scenario')}{name_suffix}"))
    return apply_overrides(base, assigns), missing


# ========================================================================================= posterior
@dataclass
class Posterior:
    """The last population of a calibration: particles, normalised weights, the inputs' specs."""

    root: Path
    meta: dict
    particles: pd.DataFrame  # particle, weight, distance, u:<name>, <name>, sim:<observable>
    parameters: dict[str, CalibrationParameter]

    @classmethod
    def load(cls, root: str | os.PathLike) -> Posterior:
        """Read a calibration store; :class:`PosteriorError` if it has no finished posterior."""
        r = Path(root)
        meta_file = r / META
        if not meta_file.is_file():
            raise PosteriorError(f"{r}: not a calibration store (no {META})")
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, ValueError) as e:
            raise PosteriorError(f"{r}: unreadable {META}: {e}") from None
        if not (r / POSTERIOR).is_file():
            raise PosteriorError(f"{r}: the calibration has no posterior yet (run 'exportsim calibrate' to finish it)")
        particles = pd.read_parquet(r / POSTERIOR)
        spec = CalibrationSpec.model_validate(meta["spec"])
        w = particles["weight"].to_numpy(dtype=float)
        particles["weight"] = w / w.sum()
        return cls(r, meta, particles, dict(spec.parameters))

    @property
    def names(self) -> list[str]:
        """The calibrated inputs, in spec order."""
        return list(self.parameters)

    @property
    def name(self) -> str:
        """The calibration's name."""
        return str(self.meta.get("name", self.root.name))

    @property
    def fingerprint(self) -> str:
        """The model fingerprint the posterior was fitted under."""
        return str(self.meta.get("model_fingerprint", "?"))

    @property
    def ess(self) -> float:
        """Effective sample size of the weights (Kish)."""
        w = self.particles["weight"].to_numpy(dtype=float)
        return float(1.0 / np.sum(w ** 2)) if len(w) else math.nan

    def label(self) -> str:
        """One line naming the posterior: calibration, store, particles, model fingerprint."""
        return (f"posterior of calibration '{self.name}' ({self.root}; {len(self.particles)} particles, "
                f"ESS {self.ess:.0f}; model {self.fingerprint})")

    def model_warning(self) -> str | None:
        """Why the posterior may not fit the current model (None when the fingerprints agree)."""
        from sim.engine.version import fingerprint_change, model_fingerprint

        now = model_fingerprint()
        change = fingerprint_change(self.fingerprint, now)
        if change == "source":
            return (f"posterior '{self.name}' was fitted under model {self.fingerprint}; the engine's source has "
                    f"changed since ({now}) but not its MODEL_VERSION (the golden runs are unchanged), so the fit "
                    "is expected to hold")
        if change == "version":
            return (f"posterior '{self.name}' was fitted under model {self.fingerprint}; the model is now {now}, "
                    "whose outputs differ (recalibrate before relying on it)")
        return None

    def draws(self, n: int, seed: int = 0) -> pd.DataFrame:
        """*n* draws (rows: particle, then one column per input), resampled by weight, the same for a seed."""
        rng = np.random.default_rng(np.random.SeedSequence([int(seed) & (2**63 - 1), 0xCA1B]))
        idx = rng.choice(len(self.particles), size=int(n), replace=True, p=self.particles["weight"].to_numpy())
        cols = ["particle", *self.names]
        return self.particles.iloc[idx][cols].reset_index(drop=True)

    def inputs(self, draw: pd.Series | dict) -> list[Input]:
        """The (path, set|scale, value) triples of one draw."""
        return [(p.path, p.apply, _plain(draw[n])) for n, p in self.parameters.items()]


def _plain(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v


def apply_draw(scenario: Scenario, posterior: Posterior, index: int = 0, seed: int = 0,
               strict: bool = False) -> tuple[Scenario, dict[str, Any], list[str]]:
    """*scenario* with draw *index* of *posterior* (the draws of *seed*) applied.

    Returns (scenario, {input: value}, input paths the scenario does not have).  The one way every command
    turns a posterior into runs: replication r of a run, comparison, sweep point or briefing uses draw r.
    """
    d = posterior.draws(index + 1, seed).iloc[index]
    s, missing = scenario_with(scenario, posterior.inputs(d), strict=strict)
    return s, {n: _plain(d[n]) for n in posterior.names}, missing


def posterior_scenarios(scenario: Scenario, posterior: Posterior, n: int, seed: int = 0,
                        strict: bool = False) -> tuple[list[Scenario], pd.DataFrame, list[str]]:
    """*n* copies of *scenario*, copy r with posterior draw r; the draws; the input paths it lacks."""
    draws = posterior.draws(n, seed)
    base = scenario.model_dump(by_alias=True)
    out, missing = [], []
    for _, d in draws.iterrows():
        s, miss = scenario_with(base, posterior.inputs(d), strict=strict)
        out.append(s)
        missing = miss
    return out, draws, missing


def posterior_assignments(base: dict, posterior: Posterior, draw: dict) -> list[tuple[str, Any]]:
    """A draw as plain ``(concrete path, value)`` assignments against *base* (wildcards expanded, ``scale``
    turned into the scaled quantity): what a sweep run applies with its own parameters.  Paths *base* lacks
    are left out."""
    out: list[tuple[str, Any]] = []
    for n, p in posterior.parameters.items():
        try:
            targets = expand_path(base, p.path)
        except PathError:
            continue
        for t in targets:
            v = scale_quantity(get_path(base, t), float(draw[n])) if p.apply == "scale" else _plain(draw[n])
            out.append((t, v))
    return out


def with_posterior(ls, posterior: Posterior):
    """A sweep's LoadedSpec whose design sample i takes posterior draw i (policies and replications of a
    sample share it); its store key changes with the posterior, so the two never share a store."""
    import dataclasses
    import hashlib

    key = hashlib.sha256(f"{ls.base_hash}|{posterior.root.resolve()}|{posterior.fingerprint}|"
                         f"{len(posterior.particles)}".encode()).hexdigest()
    return dataclasses.replace(ls, posterior=posterior, base_hash=key)


def compare_on_posterior(base: Scenario, counterfactual: Scenario, posterior: Posterior, replications: int = 10,
                         seed: int | None = None, confidence: float = 0.95, progress=None):
    """:func:`sim.experiments.compare.compare` with inputs from the posterior: replication r applies posterior
    draw r to both worlds and runs them with the same seed (paired in the inputs and in the noise).

    Returns (rows, draws, input paths a world does not have).
    """
    from sim.experiments.compare import summarise
    from sim.results.simulation import Simulation

    first = base.seed if seed is None else seed
    bases, draws, missing = posterior_scenarios(base, posterior, replications, first)
    cfs, _, missing_cf = posterior_scenarios(counterfactual, posterior, replications, first)
    base_k, cf_k = [], []
    for r in range(replications):
        base_k.append(Simulation(bases[r], first + r).run().kpis)
        cf_k.append(Simulation(cfs[r], first + r).run().kpis)
        if progress is not None:
            progress(r + 1, replications)
    return summarise(base_k, cf_k, confidence), draws, sorted(set(missing) | set(missing_cf))


__all__ = [
    "Input", "Posterior", "PosteriorError", "apply_draw", "apply_inputs", "compare_on_posterior", "expand_path",
    "posterior_assignments", "posterior_scenarios", "with_posterior",
    "scale_quantity", "scenario_with",
]
