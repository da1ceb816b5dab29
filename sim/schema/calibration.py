"""CalibrationSpec: which inputs of a scenario to fit (with priors), against which published observables.

A spec file (YAML, read by :func:`sim.experiments.calibrate.load_calibration`) looks like::

    name: history
    base: ../history_2022_2026.yaml         # relative to the spec file
    observed: ../observed.yaml              # the published figures (sim/schema/observed.py)
    cutoff: 2024-12-31                       # fit on observables dated up to here, hold out the rest
    seed: 20250101
    parameters:                              # the sweep vocabulary (sim/schema/sweep.py), plus `apply`
      die_yield: {path: nodes.smic.allocation.ascend910b.die_yield, low: 0.2, high: 0.8}
      wafer_scale: {path: nodes.smic.wafer_starts_per_month, apply: scale, dist: loguniform, low: 0.5, high: 2}
      budget_scale: {path: "labs.*.budget_usd_per_year", apply: scale, low: 0.5, high: 1.5}
    abc: {population_size: 200, generations: 8}

``apply: set`` (the default, as in sweeps) puts the drawn value at the path; ``apply: scale`` multiplies
the quantity there (a number, a distribution's location and spread, every step of a time series) by the
drawn factor, so an uncertain input keeps its shape and its dates.  A ``*`` segment matches every key
(or index) at that level: one factor for every lab's budget, however many labs the model has.

The prior of each input is its sweep distribution; ABC-SMC works in the unit hypercube and maps u to the
input through the same inverse CDF as sweeps (``sim.experiments.sweep.values_from_u``).  Pure data here.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sim.schema._base import SimModel, new_dict, new_list
from sim.schema.sweep import NAME, Parameter

#: Column names of the posterior store an input may not take.
RESERVED = frozenset({"particle", "weight", "distance", "generation", "draw", "seed", "status", "error"})


class CalibrationParameter(Parameter):
    """An uncertain input: a sweep parameter with a distribution (its prior) and how the draw is applied."""

    apply: Literal["set", "scale"] = Field(
        default="set", description="set: the draw is the value at the path; scale: it multiplies the quantity there.")

    @model_validator(mode="after")
    def _prior(self) -> CalibrationParameter:
        if self.levels is not None:
            raise ValueError("a calibration input needs a prior distribution (uniform, triangular, normal, "
                             "lognormal, loguniform), not levels")
        if self.apply == "scale" and self.kind in ("uniform", "triangular", "loguniform") and self.low < 0:  # type: ignore[operator]
            raise ValueError("a scale factor cannot be negative (low < 0)")
        return self


class ABCSettings(SimModel):
    """Sequential Monte Carlo: population, stopping rules, threshold schedule."""

    population_size: int = Field(default=200, ge=5, le=100_000, description="Accepted particles per generation.")
    generations: int = Field(default=8, ge=1, le=100,
                             description="At most this many generations (in all, over resumes).")
    min_epsilon: float = Field(default=0.0, ge=0, description="Stop once the threshold is at or below this.")
    min_acceptance_rate: float = Field(default=0.02, ge=0, le=1,
                                       description="Stop after a generation accepting fewer than this share.")
    max_simulations: int | None = Field(default=None, ge=1, description="Stop after this many runs in all.")
    quantile: float = Field(default=0.5, gt=0, lt=1,
                            description="Next threshold: this quantile of the accepted distances (0.5: median).")


class DistanceSettings(SimModel):
    """How far a run is from the published figures.

    Each observable's distance is measured in units of its published range (high - low): ``interval``
    (the default) is 0 inside the range and the distance to the nearer end outside, i.e. the range is read
    as a band of equally plausible values; ``central`` is the distance to the central estimate (the
    range's midpoint if none is published).  The per-observable distances are combined by a p-norm.
    """

    kind: Literal["interval", "central"] = "interval"
    p: float = Field(default=2.0, ge=1, le=1000, description="p of the p-norm over observables (1000 ~ max).")
    missing: float = Field(default=10.0, gt=0,
                           description="Distance of an observable a run cannot compute (NaN), in ranges.")


class CalibrationSpec(SimModel):
    """A calibration: base scenario, inputs with priors, observables, time split, ABC settings."""

    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
                      description="Also the default store folder calibrations/NAME.")
    description: str = ""
    base: str = Field(description="The scenario whose inputs are fitted, relative to the spec file.")
    observed: str = Field(default="../observed.yaml", description="Observables file, relative to the spec file.")
    observables: list[str] | None = Field(
        default=None, description="Observable ids to use (default: every one computed from the base scenario).")
    exclude: list[str] = Field(default_factory=new_list,
                               description="Observable ids left out (with the reason in the file).")
    cutoff: dt.date = Field(default=dt.date(2024, 12, 31),
                            description="Fit on observables dated on or before this day; hold out the later ones.")
    seed: int = Field(default=0, ge=0, lt=2**63)
    parameters: dict[str, CalibrationParameter] = Field(min_length=1)
    fixed: dict[str, object] = Field(default_factory=new_dict, description="Dotted path -> value set in every run.")
    replications: int = Field(default=1, ge=1, le=100,
                              description="Runs per particle; the summary is their mean (1: plain ABC).")
    common_random_numbers: bool = Field(
        default=False,
        description="Every particle uses the same seeds (less noise between particles, but the posterior is then "
                    "conditional on those seeds); false draws fresh seeds per particle. The predictive checks use "
                    "common seeds either way (prior and posterior draw i share seed i).")
    abc: ABCSettings = Field(default_factory=ABCSettings)
    distance: DistanceSettings = Field(default_factory=DistanceSettings)
    predictive_draws: int = Field(default=200, ge=10, le=100_000,
                                  description="Runs of the posterior (and of the prior) predictive check.")

    @field_validator("parameters")
    @classmethod
    def _names(cls, v: dict[str, CalibrationParameter]) -> dict[str, CalibrationParameter]:
        for name in v:
            if not NAME.match(name):
                raise ValueError(f"input name '{name}' must be an identifier (letters, digits, _)")
            if name in RESERVED or re.match(r"^(u|sim|obs):", name):
                raise ValueError(f"input name '{name}' is reserved (a posterior store column)")
        return v

    @model_validator(mode="after")
    def _lists(self) -> CalibrationSpec:
        if self.observables is not None and not self.observables:
            raise ValueError("observables: give at least one id, or leave it out for all of the base scenario's")
        both = sorted(set(self.observables or []) & set(self.exclude))
        if both:
            raise ValueError(f"an observable cannot be both used and excluded: {', '.join(both)}")
        return self
