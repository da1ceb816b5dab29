"""SweepSpec: a batch of runs over one base scenario: parameters by dotted path, a design, replications.

A spec file (YAML, read by :func:`sim.experiments.sweep.load_spec`) looks like::

    name: flagship_levers
    base: ../bytedance_ascend.yaml          # relative to the spec file
    seed: 20251128
    design: {kind: sobol, n: 16}            # grid | lhs | sobol (Saltelli) | morris
    replications: 2
    levers:                                  # policy choices: crossed with the uncertainty sample
      tpp_threshold: {path: rules.us_2023_10.scope.items.0.tpp_min, levels: [2400, 4800]}
    uncertainties:                           # states of the world: sampled by the design
      die_yield: {path: nodes.smic.allocation.ascend910b.die_yield, low: 0.2, high: 0.6}
      mfu: {path: labs.bytedance.jobs.llm.mfu.ascend910b, dist: triangular, low: 0.2, mode: 0.36, high: 0.5}
    kpis: ["job_*[bytedance/llm]", blocked_units]
    keep: kpis                               # or: tables (every run's tidy tables too)

Every design works in the unit hypercube; a parameter maps u in [0, 1) to its value through its
distribution's inverse CDF (or picks ``levels[floor(u * k)]``), so Sobol and Morris indices computed on
u are the indices of the parameters themselves.  Pure data: no YAML, no SALib, no pandas here.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sim.schema._base import SimModel, new_dict

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Column names of the run store that a parameter may not take.
RESERVED = frozenset({"sweep_id", "run_id", "point_id", "sample_index", "policy_index", "replication", "seed",
                      "status", "error", "elapsed_s", "chunk"})


class Parameter(SimModel):
    """One input of the sweep: where it goes in the scenario and the values it may take.

    Give either ``levels`` (a list of values, any type: numbers, strings, lists) or a distribution:
    ``uniform`` (low, high; the default when only low/high are given), ``triangular`` (low, mode, high),
    ``normal`` (mean, sd, optional low/high truncation), ``lognormal`` (mean and sd of log),
    ``loguniform`` (low, high > 0).  ``integer: true`` rounds sampled values.
    """

    path: str = Field(description="Dotted path into the scenario, e.g. nodes.smic.allocation.ascend910b.die_yield")
    levels: list[Any] | None = Field(default=None, min_length=1)
    dist: Literal["uniform", "triangular", "normal", "lognormal", "loguniform"] | None = None
    low: float | None = Field(default=None, ge=-1e300, le=1e300)
    high: float | None = Field(default=None, ge=-1e300, le=1e300)
    mode: float | None = Field(default=None, ge=-1e300, le=1e300)
    mean: float | None = Field(default=None, ge=-1e300, le=1e300)
    sd: float | None = Field(default=None, gt=0, le=1e300)
    integer: bool = False
    grid_points: int = Field(default=3, ge=2, le=101, description="Values taken by a ranged parameter in a grid.")
    description: str = ""

    @field_validator("path")
    @classmethod
    def _path_shape(cls, v: str) -> str:
        if not v or any(not seg for seg in v.split(".")):
            raise ValueError("must be a dotted path like nodes.smic.allocation.ascend910b.die_yield")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> Parameter:
        ranged = [k for k in ("dist", "low", "high", "mode", "mean", "sd") if getattr(self, k) is not None]
        if self.levels is not None:
            if ranged:
                raise ValueError(f"give either levels or a distribution, not both (also has {', '.join(ranged)})")
            return self
        dist = self.dist or "uniform"
        need = {"uniform": ("low", "high"), "loguniform": ("low", "high"), "triangular": ("low", "mode", "high"),
                "normal": ("mean", "sd"), "lognormal": ("mean", "sd")}[dist]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a {dist} parameter needs {', '.join(need)} (missing {', '.join(missing)}); "
                             "or give levels: [...]")
        lo, hi = self.low, self.high
        if lo is not None and hi is not None and not lo < hi:
            raise ValueError(f"low must be below high (got low={lo}, high={hi})")
        if dist == "loguniform" and lo is not None and lo <= 0:
            raise ValueError("a loguniform parameter needs low > 0")
        if dist == "triangular" and not (lo <= self.mode <= hi):  # type: ignore[operator]
            raise ValueError("triangular needs low <= mode <= high")
        return self

    @property
    def kind(self) -> str:
        """``levels`` or the distribution's name."""
        return "levels" if self.levels is not None else (self.dist or "uniform")

    @property
    def bounded(self) -> bool:
        """Whether the parameter's values lie between two finite limits (grid points span them)."""
        return self.kind in ("levels", "uniform", "triangular", "loguniform") or (
            self.low is not None and self.high is not None)


class Design(SimModel):
    """How points are chosen.

    ``grid``: every combination of levels (ranged parameters take ``grid_points`` values); ``n`` unused.
    ``lhs``: ``n`` Latin-hypercube points.  ``sobol``: Saltelli's scheme, ``n`` base samples (a power of
    2), giving n(2D+2) points with second-order indices or n(D+2) without.  ``morris``: ``n``
    trajectories of D+1 points on a ``levels``-level grid.
    """

    kind: Literal["grid", "lhs", "sobol", "morris"] = "lhs"
    n: int = Field(default=16, ge=1, le=1_000_000)
    second_order: bool = False
    levels: int = Field(default=4, ge=2, le=100, description="Morris grid levels (even numbers are best).")
    cross_levers: bool = Field(
        default=True,
        description="Levers form a full factorial of policies, each run on the same uncertainty sample (EMA's "
                    "scenarios x policies); false puts levers into the design as ordinary factors.")

    @model_validator(mode="after")
    def _power_of_two(self) -> Design:
        if self.kind == "sobol" and self.n & (self.n - 1):
            raise ValueError(f"sobol needs n to be a power of 2 for Sobol' balance (got {self.n})")
        return self


class SweepSpec(SimModel):
    """A sweep: base scenario, parameters (levers and uncertainties), design, replications, what to keep."""

    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
                      description="Also the default store folder sweeps/NAME: letters, digits, _ . -; not dots alone.")
    description: str = ""
    base: str = Field(description="Base scenario file, relative to the spec file.")
    seed: int = Field(default=0, ge=0, lt=2**63)
    design: Design = Field(default_factory=Design)
    replications: int = Field(default=1, ge=1, le=100_000)
    levers: dict[str, Parameter] = Field(default_factory=new_dict)
    uncertainties: dict[str, Parameter] = Field(default_factory=new_dict)
    fixed: dict[str, Any] = Field(default_factory=new_dict, description="Dotted path -> value set in every run.")
    kpis: list[str] = Field(default_factory=lambda: ["*"], min_length=1,
                            description="KPI names or glob patterns (* and ? only; [ ] are literal).")
    keep: Literal["kpis", "tables"] = "kpis"
    common_random_numbers: bool = Field(
        default=True, description="Replication r uses the same seed at every point (differences are not noise).")
    chunk_size: int | None = Field(default=None, ge=1, le=10_000)

    @field_validator("levers", "uncertainties")
    @classmethod
    def _names(cls, v: dict[str, Parameter]) -> dict[str, Parameter]:
        for name in v:
            if not NAME.match(name):
                raise ValueError(f"parameter name '{name}' must be an identifier (letters, digits, _)")
            if name in RESERVED:
                raise ValueError(f"parameter name '{name}' is reserved (a store column)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        both = sorted(set(self.levers) & set(self.uncertainties))
        if both:
            raise ValueError(f"a parameter cannot be both a lever and an uncertainty: {', '.join(both)}")
        if not self.levers and not self.uncertainties:
            raise ValueError("a sweep needs at least one lever or uncertainty")
        if self.design.kind in ("sobol", "morris"):
            factors = self.uncertainties if self.design.cross_levers else {**self.levers, **self.uncertainties}
            if not factors:
                raise ValueError(f"a {self.design.kind} design needs at least one uncertainty to sample")
        return self

    @property
    def parameters(self) -> dict[str, Parameter]:
        """Levers then uncertainties, in file order."""
        return {**self.levers, **self.uncertainties}
