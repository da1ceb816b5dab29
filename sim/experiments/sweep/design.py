"""The design: unit-hypercube points (SALib LHS, Sobol/Saltelli, Morris; grids), seeds, content-addressed runs."""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.engine.version import model_fingerprint
from sim.experiments.sweep.spec import LoadedSpec, _canonical_json, grid_u, values_from_u
from sim.scenario.paths import Assignment
from sim.schema.sweep import SweepSpec


@dataclass(frozen=True)
class Run:
    """One planned run: a design row (policy, sample) and a replication."""

    run_id: str
    point_id: str
    policy_index: int
    sample_index: int
    replication: int
    seed: int
    values: dict[str, Any]
    u: tuple[float, ...]


def design_matrix(ls: LoadedSpec, lhs_blocks: Sequence[int] | None = None) -> np.ndarray:
    """The design in the unit hypercube: one row per sample, one column per factor (``ls.factors``)."""
    spec, names = ls.spec, list(ls.factors)
    d, n = len(names), spec.design.n
    problem = {"num_vars": d, "names": names, "bounds": [[0.0, 1.0]] * d}
    seed = int(np.random.SeedSequence(spec.seed).generate_state(1)[0])
    kind = spec.design.kind
    if d == 0:
        return np.zeros((1, 0))
    if kind == "grid":
        axes = [grid_u(p) for p in ls.factors.values()]
        return np.array(list(itertools.product(*axes)), dtype=float)
    if kind == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, n, calc_second_order=spec.design.second_order, seed=seed)
    if kind == "morris":
        from SALib.sample import morris

        return morris.sample(problem, n, num_levels=spec.design.levels, seed=seed)
    from SALib.sample import latin

    blocks = list(lhs_blocks or [n])
    parts = []
    for b, size in enumerate(blocks):
        bseed = int(np.random.SeedSequence(spec.seed, spawn_key=(b,)).generate_state(1)[0])
        parts.append(latin.sample(problem, size, seed=bseed))
    return np.vstack(parts)


def design_size(spec: SweepSpec) -> int:
    """Number of samples (rows of the design matrix) before policies and replications."""
    d = len(spec.uncertainties) if spec.design.cross_levers else len(spec.parameters)
    k = spec.design
    if k.kind == "sobol":
        return k.n * (2 * d + 2 if k.second_order else d + 2)
    if k.kind == "morris":
        return k.n * (d + 1)
    if k.kind == "lhs":
        return k.n
    factors = spec.uncertainties if k.cross_levers else spec.parameters
    return math.prod(len(grid_u(p)) for p in factors.values())


def replication_seeds(spec: SweepSpec) -> list[int]:
    """Seed of each replication: ``SeedSequence(spec.seed).spawn(R)``, 63 bits of each child."""
    children = np.random.SeedSequence(spec.seed).spawn(spec.replications)
    return [int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children]


def expand(ls: LoadedSpec, lhs_blocks: Sequence[int] | None = None) -> list[Run]:
    """Every run of the sweep, in design order: policy, then sample, then replication."""
    spec = ls.spec
    U = design_matrix(ls, lhs_blocks)
    factor_values = {name: values_from_u(p, U[:, j]) for j, (name, p) in enumerate(ls.factors.items())}
    levers = ls.policy_levers
    policies = list(itertools.product(*[values_from_u(p, grid_u(p)) for p in levers.values()])) or [()]
    crn_seeds = replication_seeds(spec)
    post = ls.posterior
    draws = post.draws(U.shape[0], spec.seed) if post is not None else None  # type: ignore[attr-defined]
    model = model_fingerprint()  # a changed engine gives new run ids: results of two models never share one
    prefix = f"{_canonical_json(model)},{_canonical_json(ls.base_hash)}"
    runs = []
    for pi, policy in enumerate(policies):
        for si in range(U.shape[0]):
            values = dict(zip(levers, policy, strict=True))
            values.update({name: vals[si] for name, vals in factor_values.items()})
            values = {name: values[name] for name in spec.parameters}  # file order
            if draws is not None:  # the posterior's inputs (names with a dot: no spec parameter has one)
                values.update({f"posterior.{n}": float(draws.iloc[si][n]) for n in post.names})  # type: ignore[attr-defined]
            values_json = _canonical_json(values)  # once per point: its replications differ only in the seed
            point_key = hashlib.sha256(values_json.encode()).hexdigest()  # = _hash(values)
            point_id = point_key[:12]
            for r in range(spec.replications):
                if spec.common_random_numbers:
                    seed = crn_seeds[r]
                else:
                    ss = np.random.SeedSequence(spec.seed, spawn_key=(r, int(point_key[:15], 16)))
                    seed = int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))
                # = _hash([model, ls.base_hash, values, seed]): the list's JSON is its items' JSON joined by ","
                run_id = hashlib.sha256(f"[{prefix},{values_json},{seed}]".encode()).hexdigest()[:16]
                runs.append(Run(run_id, point_id, pi, si, r, seed, values, tuple(float(x) for x in U[si])))
    return runs


def assignments(ls: LoadedSpec, run: Run) -> list[Assignment]:
    """The (dotted path, value) pairs that turn the base into *run*'s scenario."""
    params = ls.spec.parameters
    out = [(params[name].path, v) for name, v in run.values.items() if not name.startswith("posterior.")]
    if ls.posterior is not None:
        from sim.experiments.posterior import posterior_assignments

        drawn = {n.removeprefix("posterior."): v for n, v in run.values.items() if n.startswith("posterior.")}
        out = posterior_assignments(ls.base, ls.posterior, drawn) + out  # type: ignore[arg-type]  # sweep's own win
    return out
