"""Supplier-network nodes (a union discriminated on ``kind``) and edges.

Labs and clouds are nodes of the graph too, but they carry behaviour (strategy, jobs, fleets), so
they live in their own top-level sections (:mod:`sim.schema.actors`); ids share one namespace.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from sim.schema._base import Sourced, new_dict, new_list
from sim.schema.dist import NonNegQuantity, Series, UnitQuantity


class DieAllocation(Sourced):
    """What share of a foundry's wafer starts goes to one chip design, and how good the dies are."""

    share: float = Field(ge=0, le=1, description="Share of wafer starts for this design.")
    die_yield: UnitQuantity = Field(description="Share of gross dies that are good (drawn per lot).")
    gross_dies_per_wafer: float | None = Field(
        default=None, gt=0, le=1_000_000,
        description="Candidate dies per 300 mm wafer; derived from die area when omitted."
    )
    packager: str = Field(description="Id of the packager node the good dies go to.")


class Foundry(Sourced):
    """A wafer fab (TSMC, SMIC, Samsung): wafer starts per month allocated among chip designs."""

    kind: Literal["foundry"]
    name: str = ""
    country: str
    wafer_starts_per_month: Series = Field(description="Wafers per month available to the modelled designs.")
    cycle_time_days: NonNegQuantity = Field(default=90.0, description="Wafer start to finished die.")
    allocation: dict[str, DieAllocation] = Field(default_factory=new_dict, description="By chip id.")


class Memory(Sourced):
    """An HBM maker (SK hynix, Samsung, Micron, CXMT)."""

    kind: Literal["memory"]
    name: str = ""
    country: str
    hbm_stacks_per_month: Series = Field(description="Stacks per month available to the modelled packagers.")


class Packager(Sourced):
    """Advanced packaging (CoWoS; domestic lines): joins dies and HBM stacks into chips."""

    kind: Literal["packager"]
    name: str = ""
    country: str
    chips_per_month: Series = Field(description="Packages assembled per month.")
    packaging_yield: UnitQuantity = Field(default=1.0, description="Share of assembled packages that work.")
    initial_dies: dict[str, NonNegQuantity] = Field(
        default_factory=new_dict, description="Die bank at the start: good dies on hand, by chip id."
    )
    initial_hbm_stacks: NonNegQuantity = Field(default=0.0, description="HBM stacks on hand at the start.")
    die_arrivals_per_month: dict[str, Series] = Field(
        default_factory=new_dict,
        description=(
            "Good dies per month by chip id reaching the packager from outside the modelled foundries and rules "
            "(e.g. TSMC-made dies obtained through front companies in 2023-24), added to its die bank."
        ),
    )


class BuyerPriority(Sourced):
    """A buyer the vendor serves first, up to a share of each allocation round."""

    buyer: str
    share: UnitQuantity


class Vendor(Sourced):
    """A chip vendor (Nvidia, AMD, Huawei, Cambricon): holds inventory, takes and allocates orders."""

    kind: Literal["vendor"]
    name: str = ""
    country: str
    initial_inventory: dict[str, NonNegQuantity] = Field(default_factory=new_dict, description="Units by chip id.")
    external_supply_per_month: dict[str, Series] = Field(
        default_factory=new_dict,
        description=(
            "Units per month by chip id made outside the modelled foundries and offered to the modelled "
            "buyers (e.g. the share of Nvidia's output that China-bound buyers can get)."
        ),
    )
    priority: list[BuyerPriority] = Field(default_factory=new_list, description="Buyers served first, in order.")
    fungible_supply: list[list[str]] = Field(
        default_factory=new_list,
        description=(
            "Groups of chip ids made from one die (e.g. GH100: H100, H800, H20, H200): external supply of one "
            "that its own open orders do not take is made as another of the group that buyers have ordered."
        ),
    )
    unsold_leaves_after_days: dict[str, Annotated[float, Field(ge=1, le=3650)]] = Field(
        default_factory=new_dict,
        description=(
            "Per chip id: the stock is checked every this many days, and units that were already in it at the "
            "last check and are still there (no modelled buyer took them; stock is taken oldest first) are sold "
            "outside the modelled market and leave the model, so a unit leaves one to two periods after it "
            "arrived. For a world-market part of which the modelled buyers are offered a slice; leave out parts "
            "only they can use, which stay in stock."
        ),
    )
    allocation_policy: Literal["fcfs", "pro_rata"] = Field(
        default="fcfs",
        description=(
            "After priority buyers: 'fcfs' serves orders as they arrive; 'pro_rata' allocates the stock each "
            "allocation round in proportion to the open orders of each buyer."
        ),
    )
    allocation_interval_days: float = Field(
        default=7.0, ge=1, le=3650,
        description="Days between pro-rata rounds, at least 1 (one allocation round per simulated day per vendor "
                    "at most, so the event count stays proportional to the horizon).")


class GreyChannel(Sourced):
    """How a transshipment hub carries denied demand around the rules."""

    share_of_denied: Series = Field(description="Share of denied units that find a grey route (0..1).")
    markup: NonNegQuantity = Field(default=0.5, description="Price premium over list, as a fraction.")
    extra_delay_days: NonNegQuantity = Field(default=45.0)
    seizure_probability: Series = Field(default=0.05, description="Chance a grey lot is seized (0..1).")


class Distributor(Sourced):
    """A re-export / transshipment hub (Singapore, Malaysia...), the grey channel's route."""

    kind: Literal["distributor"]
    name: str = ""
    country: str
    grey: GreyChannel | None = None


NodeSpec = Annotated[Union[Foundry, Memory, Packager, Vendor, Distributor], Field(discriminator="kind")]  # noqa: UP007

Flow = Literal["wafers", "dies", "hbm", "chips", "rental"]

#: Which flows may enter a node of each kind (what makes sense physically); labs and clouds included.
ACCEPTS: dict[str, frozenset[str]] = {
    "foundry": frozenset(),
    "memory": frozenset(),
    "packager": frozenset({"dies", "hbm", "wafers"}),
    "vendor": frozenset({"chips", "dies"}),
    "distributor": frozenset({"chips"}),
    "cloud": frozenset({"chips"}),
    "lab": frozenset({"chips", "rental"}),
}
#: Which flows may leave a node of each kind.
EMITS: dict[str, frozenset[str]] = {
    "foundry": frozenset({"wafers", "dies"}),
    "memory": frozenset({"hbm"}),
    "packager": frozenset({"chips"}),
    "vendor": frozenset({"chips"}),
    "distributor": frozenset({"chips"}),
    "cloud": frozenset({"rental"}),
    "lab": frozenset(),
}
Channel = Literal["direct", "reexport", "grey", "remote"]


class EdgeSpec(Sourced):
    """A supply relation: what flows from one node to another, how long it takes, through which channel."""

    from_: str = Field(alias="from")
    to: str
    flow: Flow
    channel: Channel = "direct"
    lead_time_days: NonNegQuantity = 0.0
    capacity_per_month: float | None = Field(default=None, ge=0, le=1e15,
                                             description="Units per month; none = unlimited.")
    markup: float = Field(default=0.0, ge=0, le=1000, description="Price premium over list, as a fraction.")
