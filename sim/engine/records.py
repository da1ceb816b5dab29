"""Flat row types that processes append, and the append-only Recorder (no pandas here).

Rows are never changed once appended.  They are plain slotted dataclasses, not frozen ones: a frozen dataclass's
``__init__`` sets each field through ``object.__setattr__`` and costs about three times as much, on thousands of
rows per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ShipmentRow:
    """One lot's fate: ordered, checked, shipped (or not), delivered (or seized)."""

    lot_id: int
    product: str
    item_kind: str
    qty: float
    seller: str
    buyer: str
    channel: str
    status: str  # delivered | denied | licensed | refused | grey | seized | in_transit
    rule: str | None
    treatment: str | None
    order_day: float
    ship_day: float | None
    deliver_day: float | None
    price_usd: float
    fee_usd: float
    origin: str
    stockpile: bool
    refund_usd: float = 0.0  # paid back to the buyer for a lot that did not ship


@dataclass(slots=True)
class FleetRow:
    """Installed units of one product at one owner on one day."""

    day: float
    owner: str
    owner_kind: str
    product: str
    origin: str
    units: float
    peak_pflops: float
    reserved_inference: float
    reserved_training: float
    reserved_workloads: float = 0.0


@dataclass(slots=True)
class InventoryRow:
    """A vendor's unallocated stock and open backorders of one product on one day."""

    day: float
    vendor: str
    product: str
    units: float
    backorder_units: float


@dataclass(slots=True)
class LedgerRow:
    """Where every chip is, on one day: the conservation account of the run."""

    day: float
    produced: float
    in_inventory: float
    in_transit: float
    installed: float
    seized: float
    retired: float
    failed: float
    dies_banked: float
    hbm_stacks: float
    sold_elsewhere: float = 0.0  # chips a vendor sold outside the modelled market (unsold to its buyers)


@dataclass(slots=True)
class ProductionRow:
    """Output of one production step (dies, stacks or packaged chips)."""

    day: float
    node: str
    item_kind: str
    product: str
    qty: float
    detail: str


@dataclass(slots=True)
class EventRow:
    """A notable event (rule in force, stockpile order, job failure, ...)."""

    day: float
    kind: str
    actor: str
    detail: str
    value: float = 0.0


@dataclass(slots=True)
class JobRow:
    """One training job's outcome."""

    lab: str
    job: str
    chip: str
    chips: int
    owned_chips: int
    rented_chips: int
    origin: str
    rented_from: str
    target_flop: float
    flop_done: float
    start_day: float | None
    finish_day: float | None
    finished: bool
    failures: int
    lost_hours: float
    cost_usd: float
    rental_cost_usd: float
    owned_cost_usd: float
    effective_pflops: float
    mfu: float
    deadline_day: float | None
    grey_share: float
    first_wait_day: float | None  # the job's first job_wait event (why it could not start or resume then)
    first_wait: str | None


@dataclass(slots=True)
class RentalRow:
    """One rental contract in a cloud region."""

    tenant: str
    region: str
    chip: str
    gpus: int
    request_day: float
    start_day: float | None
    end_day: float | None
    wait_days: float | None
    cost_usd: float
    status: str  # served | refused | waiting
    rule: str | None


@dataclass(slots=True)
class InferenceRow:
    """Serving demand against reserved chips, per lab per tick."""

    day: float
    lab: str
    tokens_per_day: float
    needed_pflops: float
    served_pflops: float
    unmet_pflops: float
    reserved_units: float
    workload: str = "serving"


@dataclass
class Recorder:
    """Append-only lists of rows, one per table."""

    shipments: list[ShipmentRow] = field(default_factory=list)
    fleet: list[FleetRow] = field(default_factory=list)
    ledger: list[LedgerRow] = field(default_factory=list)
    inventory: list[InventoryRow] = field(default_factory=list)
    production: list[ProductionRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    jobs: list[JobRow] = field(default_factory=list)
    rentals: list[RentalRow] = field(default_factory=list)
    inference: list[InferenceRow] = field(default_factory=list)

    TABLES = ("shipments", "fleet", "ledger", "inventory", "production", "events", "jobs", "rentals", "inference")

    def event(self, day: float, kind: str, actor: str, detail: str, value: float = 0.0) -> None:
        """Record a notable event."""
        self.events.append(EventRow(day, kind, actor, detail, value))
