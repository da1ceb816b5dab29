"""Labs (budget, procurement strategy, training jobs, inference demand) and cloud regions."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from sim.schema._base import SimModel, Sourced, new_dict, new_list
from sim.schema.chips import Precision
from sim.schema.dist import Dist, NonNegQuantity, PositiveUnitQuantity, Series, UnitQuantity, at_least

#: An MTBF: every value at least one hour per chip.
if TYPE_CHECKING:  # a type built by a call is opaque to mypy, which then reads a chip's MTBF as None and the
    MtbfHours = Dist  # engine's `mtbf is not None` branches as unreachable (a compiler would drop them)
else:
    MtbfHours = at_least(1.0, "hours per chip; 0 would mean a failure every instant")

RerouteOption = Literal["other_product", "domestic", "grey", "cloud"]
Sourcing = Literal["own", "rent", "own_then_rent", "cheapest"]
Objective = Literal["earliest_finish", "lowest_cost"]


class Strategy(Sourced):
    """How a lab turns need, budget and rules into orders at each procurement review."""

    review_interval_days: float = Field(
        default=30.0, ge=1, le=3650,
        description="Days between procurement reviews, 1 to 3,650 (at most one review per simulated day per lab: "
                    "each review can place an order per product, so shorter periods multiply the event count).")
    domestic_preference: float = Field(
        default=1.0, gt=0, le=1e6, description="Multiplier on domestic products' compute-per-dollar score."
    )
    stockpile_factor: float = Field(
        default=1.0, ge=1, le=1000,
        description="Order multiplier for a product covered by an announced, not yet effective rule."
    )
    reroute: list[RerouteOption] = Field(
        default_factory=lambda: ["other_product", "domestic", "grey"],
        description="What denied demand turns to, in order.",
    )
    extra_demand_units_per_month: Series = Field(
        default=0.0, description="Units per month wanted beyond jobs and inference (fleet growth)."
    )
    products: list[str] = Field(default_factory=new_list,
                                description="Chip ids the lab will buy; empty = any it can reach.")
    spend_budget: bool = Field(
        default=False,
        description=(
            "After jobs, inference and extra demand, spend what is left of the period's budget on fleet growth "
            "(for labs whose budget is a published capex figure for accelerators)."
        ),
    )
    max_grey_premium: float = Field(default=1.0, ge=0, le=1000,
                                    description="Largest grey markup it will pay, as a fraction.")


class ClusterSize(SimModel):
    """How many accelerators a job uses."""

    min: int = Field(ge=1, le=100_000_000)
    max: int = Field(ge=1, le=100_000_000)

    @model_validator(mode="after")
    def _ordered(self) -> ClusterSize:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class TrainingJob(Sourced):
    """A training run: a compute target on one chip type, with failures and checkpoints."""

    flop: float | None = Field(default=None, gt=0, le=1e35, description="Compute target (at most 1e35); or give "
                                                                       "params and tokens.")
    params: float | None = Field(default=None, gt=0, le=1e16, description="Active parameters N (C = 6 N D).")
    tokens: float | None = Field(default=None, gt=0, le=1e18, description="Training tokens D.")
    chips: list[str] = Field(
        default_factory=new_list,
        description=(
            "Chip types the job may run on; empty = any chip with a training MFU (the job's or the catalogue's) "
            "that the lab owns or can rent. The job picks among them by its objective, not by list order."
        ),
    )
    objective: Objective = Field(
        default="earliest_finish",
        description="How the job chooses its chip and cluster: earliest expected finish, or lowest full cost.",
    )
    wait_for_better_chip: bool = Field(
        default=True,
        description="Wait for chips on order when finishing on them is expected earlier than starting now.",
    )
    multi_region: bool = Field(
        default=False, description="May a rented cluster span several cloud regions (default: one region)."
    )
    cluster_size: ClusterSize
    precision: str = "bf16"
    earliest_start: dt.date
    deadline: dt.date | None = None
    sourcing: Sourcing = "own_then_rent"
    clouds: list[str] = Field(default_factory=new_list, description="Cloud regions it may rent from; empty = any.")
    mfu: dict[str, PositiveUnitQuantity] = Field(
        default_factory=new_dict,
        description="Model FLOP utilisation by chip at the reference cluster size, above 0 and at most 1; absent = "
                    "the chip's training_mfu.",
    )
    mfu_reference_chips: int = Field(default=1024, ge=1, le=100_000_000)
    mfu_loss_per_doubling: float = Field(
        default=0.0, ge=0, lt=1, description="Relative MFU loss per doubling of cluster size above the reference."
    )
    mtbf_hours_per_chip: dict[str, MtbfHours] = Field(
        default_factory=new_dict,
        description="Hours between job-interrupting failures per chip, at least 1 (0 would mean a failure every "
                    "instant; a cluster of n chips fails every MTBF/n hours); absent = no failures.",
    )
    checkpoint_interval_hours: float = Field(default=1.0, gt=0, le=100_000)
    restart_hours: NonNegQuantity = Field(default=0.5)
    rental_days_block: float = Field(
        default=30.0, ge=1, le=3650,
        description="Rental contracts are renewed in blocks of this many days, at least 1 (one renewal per "
                    "simulated day per job at most).")

    @model_validator(mode="after")
    def _target(self) -> TrainingJob:
        if self.flop is None and (self.params is None or self.tokens is None):
            raise ValueError("give flop, or both params and tokens")
        if self.precision not in {"fp8", "int8", "fp16", "bf16", "tf32", "fp32", "fp4"}:
            raise ValueError(f"unknown precision '{self.precision}'")
        return self

    def target_flop(self) -> float:
        """The compute target in FLOP (6 N D when given as params and tokens)."""
        if self.flop is not None:
            return self.flop
        return 6.0 * self.params * self.tokens  # type: ignore[operator]


class InferenceDemand(Sourced):
    """Serving demand that reserves chips from the lab's own fleet."""

    tokens_per_day: Series = Field(description="Tokens served per day over time.")
    active_params: NonNegQuantity = Field(description="Active parameters per token (FLOP per token = 2 N).")
    utilisation: UnitQuantity = Field(default=0.4, description="Average utilisation of serving chips.")
    chips: list[str] = Field(min_length=1, description="Chip types used for serving, in preference order.")
    precision: Precision = "int8"


class Workload(Sourced):
    """Compute a lab keeps busy outside LLM training and serving (recommendation, ads, search, cloud customers).

    Reserved monthly from the lab's own fleet (after serving, never pre-empting a running training job),
    so a training job gets only the chips no workload holds; procurement buys to cover it.
    """

    compute_pflop_s: Series = Field(description="Dense PFLOP/s at *precision* held by this workload over time.")
    chips: list[str] = Field(default_factory=new_list,
                             description="Chip types it runs on, in order; empty = any owned.")
    precision: Precision = "bf16"


class Lab(Sourced):
    """A firm that buys chips, rents cloud, trains and serves models."""

    name: str = ""
    country: str = Field(description="Where its own data centres are.")
    hq_country: str | None = Field(default=None, description="Headquarters; defaults to country.")
    budget_usd_per_year: Series = Field(description="Spending on accelerators per year.")
    initial_fleet: dict[str, NonNegQuantity] = Field(default_factory=new_dict, description="Units installed at start.")
    install_delay_days: NonNegQuantity = Field(default=14.0, description="Delivery to use.")
    strategy: Strategy = Field(default_factory=Strategy)
    jobs: dict[str, TrainingJob] = Field(default_factory=new_dict)
    inference: InferenceDemand | None = None
    workloads: dict[str, Workload] = Field(default_factory=new_dict, description="Non-LLM compute that holds chips.")

    @property
    def hq(self) -> str:
        """Headquarters country (the country tested by HQ-based and remote-access rules)."""
        return self.hq_country or self.country


class Cloud(Sourced):
    """A cloud region renting accelerators by the GPU-hour (e.g. azure-my, oracle-us, volcano-cn)."""

    name: str = ""
    operator: str = ""
    country: str
    hq_country: str | None = None
    initial_fleet: dict[str, NonNegQuantity] = Field(default_factory=new_dict, description="Rentable units at start.")
    purchases_per_month: dict[str, Series] = Field(
        default_factory=new_dict, description="Units it orders per month by chip id (through the same rules)."
    )
    price_usd_per_gpu_hour: dict[str, Series] = Field(default_factory=new_dict, description="By chip id.")
    queue_discipline: Literal["fifo", "largest_first", "smallest_first"] = "fifo"
    install_delay_days: NonNegQuantity = Field(default=14.0)
    tenant_share: dict[str, UnitQuantity] = Field(
        default_factory=new_dict,
        description=(
            "Share of the region's capacity each named tenant (lab id) can rent; the rest serves other tenants. "
            "A tenant not named can rent all of it."
        ),
    )

    @property
    def hq(self) -> str:
        """Headquarters country of the operator."""
        return self.hq_country or self.country


class RentalStream(Sourced):
    """Background tenants of a cloud region: Poisson arrivals of rental requests (for queueing studies)."""

    cloud: str
    chip: str
    arrivals_per_day: float = Field(gt=0, le=100_000, description="Poisson arrivals per day, at most 100,000 (each "
                                                                   "arrival is two events; see the run budget).")
    gpus: int = Field(default=1, ge=1, le=100_000_000)
    mean_duration_days: float = Field(gt=0, le=100_000)
    tenant_hq: str = "US"
