"""A sweep spec, loaded and checked: its base scenario, every dotted path, every parameter's values."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from sim.scenario.loader import (
    LoadProblem,
    ScenarioError,
    _data_path,
    _shown,
    _where,
    load_raw,
    load_scenario,
    scenario_from_dict,
)
from sim.scenario.overrides import apply_overrides, validated_base
from sim.scenario.paths import Assignment, PathError, get_path, set_path
from sim.scenario.quantities import parameter_ppf
from sim.schema import Scenario
from sim.schema.sweep import Parameter, SweepSpec


def apply_point(base: dict | Scenario, assignments: Sequence[Assignment]) -> Scenario:
    """A validated Scenario: *base* (a Scenario, or a ``model_dump(by_alias=True)``) with *assignments* set.

    Applied to the validated base (:func:`sim.scenario.overrides.apply_overrides`: only the entries the paths
    touch are re-validated), which a test holds equal to re-loading the edited dump.
    """
    return apply_overrides(validated_base(base), assignments)


def values_from_u(p: Parameter, u: np.ndarray) -> list[Any]:
    """Map unit-interval draws *u* to the parameter's values (inverse CDF, or ``levels[floor(u k)]``)."""
    u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
    if p.levels is not None:
        k = len(p.levels)
        return [p.levels[min(int(x * k), k - 1)] for x in u]
    x = parameter_ppf(p, u)
    if p.integer:
        return [int(round(float(v))) for v in x]
    return [float(v) for v in x]


def grid_u(p: Parameter) -> np.ndarray:
    """The unit-interval points a parameter takes in a grid: its levels, or ``grid_points`` values."""
    if p.levels is not None:
        k = len(p.levels)
        return (np.arange(k) + 0.5) / k
    g = p.grid_points
    return np.linspace(0.0, 1.0, g) if p.bounded else (np.arange(g) + 0.5) / g


def is_numeric(p: Parameter) -> bool:
    """Whether the parameter's values are numbers (its store column is float64, else JSON text)."""
    if p.levels is None:
        return True
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p.levels)


@dataclass
class LoadedSpec:
    """A validated spec with its base scenario resolved."""

    spec: SweepSpec
    file: str
    base_file: Path
    base: dict  # base scenario, model_dump(by_alias=True), with `fixed` applied
    base_hash: str
    lines: dict = field(default_factory=dict, repr=False)
    #: A calibrated posterior (sim.experiments.posterior.Posterior): design sample i takes posterior draw i.
    posterior: object | None = field(default=None, repr=False)

    @property
    def factors(self) -> dict[str, Parameter]:
        """Parameters sampled by the design (uncertainties; plus levers unless they are crossed)."""
        s = self.spec
        return dict(s.uncertainties) if s.design.cross_levers else s.parameters

    @property
    def policy_levers(self) -> dict[str, Parameter]:
        """Levers enumerated as a full factorial of policies (empty when they are design factors)."""
        s = self.spec
        return dict(s.levers) if s.design.cross_levers else {}

    @property
    def spec_key(self) -> str:
        """Hash of everything that defines the sweep except its size (design.n, replications)."""
        d = self.spec.model_dump(mode="json")
        d["design"].pop("n", None)
        d.pop("replications", None)
        d.pop("chunk_size", None)
        d.pop("description", None)
        d["base_hash"] = self.base_hash
        return _hash(d)[:16]

    @property
    def sweep_id(self) -> str:
        """``name-<spec key>``: stays the same when a sweep is extended."""
        return f"{self.spec.name}-{self.spec_key[:8]}"


def _canonical_json(obj: Any) -> str:
    """The JSON that content-addressed ids hash: sorted keys, no spaces, anything else as its ``str``."""
    return json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))


def _hash(obj: Any) -> str:
    return hashlib.sha256(_canonical_json(obj).encode()).hexdigest()


def _spec_problems(err: ValidationError, data: dict, lines: dict, file: str) -> list[LoadProblem]:
    out, seen = [], set()
    for e in err.errors(include_url=False):
        path = _data_path(e["loc"], data)
        f, line = _where(path, lines, file)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"unknown key '{path[-1] if path else '?'}'"
        elif e["type"] == "missing":
            msg = "required field missing"
        elif "input" in e and not isinstance(e["input"], (dict, list)) and len(repr(e["input"])) < 60:
            msg += f" (got {e['input']!r})"
        dotted = ".".join(str(p) for p in path)
        if (f, line, dotted, msg) not in seen:
            seen.add((f, line, dotted, msg))
            out.append(LoadProblem(f, line, dotted, msg))
    return out


def load_spec(path: str | os.PathLike) -> LoadedSpec:
    """Read and check a sweep spec: schema, base scenario, every dotted path, every parameter's extremes.

    Raises :class:`ScenarioError` listing every problem as ``FILE:LINE: path: message``.
    """
    data, lines = load_raw(path)
    file = _shown(Path(path))
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(_spec_problems(e, data, lines, file)) from None

    def at(*keys: Any) -> tuple[str, int]:
        return _where(tuple(keys), lines, file)

    base_file = (Path(path).parent / spec.base) if not Path(spec.base).is_absolute() else Path(spec.base)
    if not base_file.is_file():
        f, line = at("base")
        msg = f"cannot find scenario '{spec.base}' (looked at {_shown(base_file)})"
        raise ScenarioError([LoadProblem(f, line, "base", msg)])
    scenario = load_scenario(base_file)  # its own problems, with its own file:line
    base = scenario.model_dump(by_alias=True)
    problems: list[LoadProblem] = []
    for fpath, value in spec.fixed.items():
        try:
            set_path(base, fpath, value)
        except PathError as e:
            f, line = at("fixed", fpath)
            problems.append(LoadProblem(f, line, f"fixed.{fpath}", f"'{fpath}' is not in the scenario: {e}"))
    if problems:
        raise ScenarioError(problems)
    if spec.fixed:
        try:
            base = scenario_from_dict(copy.deepcopy(base), file=file).model_dump(by_alias=True)
        except ScenarioError as e:
            f, line = at("fixed")
            raise ScenarioError([LoadProblem(f, line, "fixed", f"makes the base invalid: {p.path}: {p.message}")
                                 for p in e.problems]) from None
    for group in ("levers", "uncertainties"):
        for name, p in getattr(spec, group).items():
            try:
                current = get_path(base, p.path)
            except PathError as e:
                f, line = at(group, name, "path")
                problems.append(LoadProblem(f, line, f"{group}.{name}.path", f"'{p.path}' is not in the scenario: {e}"))
                continue
            if p.levels is None and not p.integer and isinstance(current, int) and not isinstance(current, bool):
                f, line = at(group, name)
                problems.append(LoadProblem(f, line, f"{group}.{name}", f"'{p.path}' holds a whole number ({current}); "
                                            "add integer: true (a sampled fraction would fail every run)"))
                continue
            u = grid_u(p) if p.levels is not None else np.array([0.0, 0.5, 1.0])
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # scipy's RuntimeWarnings for extreme ranges stay off stderr
                values = values_from_u(p, u)
            bad = [x for x in values if isinstance(x, float) and not math.isfinite(x)]
            if bad:
                f, line = at(group, name)
                problems.append(LoadProblem(f, line, f"{group}.{name}",
                                            f"its range gives a non-finite value ({bad[0]})"))
                continue
            for v in dict.fromkeys(json.dumps(x, default=str) for x in values):
                try:
                    apply_point(base, [(p.path, json.loads(v))])
                except ScenarioError as e:
                    f, line = at(group, name)
                    first = e.problems[0]
                    problems.append(LoadProblem(f, line, f"{group}.{name}",
                                                f"value {v} makes the scenario invalid: {first.path}: {first.message}"))
                    break
    if problems:
        raise ScenarioError(problems)
    return LoadedSpec(spec, file, base_file, base, _hash(base), lines)
