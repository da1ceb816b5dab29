"""Export-control (and import) rules: dates, scope, treatment, exemptions.

A rule matches a lot when every part of its scope matches: the item (any one of the ``items``
clauses, each an AND of thresholds, or a named product), the origin, the destination or the
buyer's headquarters, the end user, and the channel.  Treatments are a union on ``kind``; when several
rules match, the most restrictive wins (deny > cap > license > notify > fee), and ``overrides``
lets a later rule replace an earlier one for the items both match (e.g. the Jan 2026 case-by-case
review replacing the presumption of denial for H200-class chips).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, ClassVar, Literal, Union, get_args

from pydantic import Field, model_validator

from sim.schema._base import SimModel, Sourced, new_list
from sim.schema.dist import NonNegQuantity, Series, UnitQuantity

ItemKind = Literal["chip", "die", "hbm", "wafer"]
RuleChannel = Literal["sale", "reexport", "grey", "remote"]


class ItemClause(SimModel):
    """One AND-clause of item criteria; an item matches the rule's items if it matches any clause."""

    products: list[str] = Field(default_factory=new_list, description="Chip ids matched by name.")
    tpp_min: float | None = Field(default=None, ge=0)
    tpp_max: float | None = Field(default=None, ge=0, description="Exclusive upper bound.")
    pd_min: float | None = Field(default=None, ge=0)
    pd_max: float | None = Field(default=None, ge=0, description="Exclusive upper bound.")
    interconnect_gb_s_min: float | None = Field(default=None, ge=0)
    memory_bw_gb_s_min: float | None = Field(default=None, ge=0)
    memory_bw_gb_s_max: float | None = Field(default=None, ge=0, description="Exclusive upper bound.")
    datacenter_only: bool = Field(default=False, description="Match only data-centre parts.")


class Origin(SimModel):
    """Which items are subject to the rule's jurisdiction."""

    designer_countries: list[str] = Field(default_factory=new_list, description="e.g. [US]; empty = any designer.")
    foreign_direct_product: bool = Field(
        default=False, description="Also catch items made abroad with US tools (FDPR)."
    )


class Scope(SimModel):
    """What a rule covers."""

    item_kinds: list[ItemKind] = Field(default_factory=lambda: ["chip"])
    items: list[ItemClause] = Field(default_factory=new_list, description="Empty = every item of item_kinds.")
    origin: Origin = Field(default_factory=Origin)
    destinations: list[str] = Field(
        default_factory=new_list, description="Countries or group names; empty = everywhere."
    )
    buyer_hq: list[str] = Field(
        default_factory=new_list,
        description="Countries or groups: also match buyers headquartered there, wherever the item goes.",
    )
    end_users: list[str] = Field(
        default_factory=new_list, description="Entity-list names or actor ids; empty = any end user."
    )
    channels: list[RuleChannel] = Field(default_factory=lambda: ["sale", "reexport"])


class Deny(SimModel):
    """Export not allowed (presumption of denial)."""

    restrictiveness: ClassVar[int] = 6
    kind: Literal["deny"]


class License(SimModel):
    """A licence review: approved lots ship after the review, refused lots are denied."""

    restrictiveness: ClassVar[int] = 4
    kind: Literal["license"]
    approval_probability: UnitQuantity
    review_days: NonNegQuantity = Field(default=38.0)
    revenue_share: float = Field(default=0.0, ge=0, le=1, description="Share of sale price paid to the government.")
    volume_cap_ratio: float | None = Field(
        default=None, gt=0, le=1e6, description="Licensed units per year at most this ratio of the reference volume."
    )
    volume_cap_reference_units_per_month: Series | None = Field(
        default=None,
        description=(
            "The cap's legal base in units per month (e.g. US shipments of the capped products for the Jan 2026 "
            "H200 rule); absent = the vendor's recent supply of the product."
        ),
    )


class Notify(SimModel):
    """Advance notification: the lot waits, then ships."""

    restrictiveness: ClassVar[int] = 2
    kind: Literal["notify"]
    delay_days: NonNegQuantity = Field(default=25.0)


class Certify(SimModel):
    """End-use certification: the buyer certifies the end use (and screens its own customers); lots wait for the
    certification, and those that fail it are denied."""

    restrictiveness: ClassVar[int] = 3
    kind: Literal["certify"]
    pass_probability: UnitQuantity = Field(description="Share of certifications accepted (drawn once per run).")
    certification_days: NonNegQuantity = Field(default=14.0, description="Time to certify before the lot ships.")


class Fee(SimModel):
    """A revenue share to the exporting government; the lot ships."""

    restrictiveness: ClassVar[int] = 1
    kind: Literal["fee"]
    revenue_share: float = Field(ge=0, le=1)


class Cap(SimModel):
    """At most *units_per_period* units per destination country per period; the excess is queued or denied."""

    restrictiveness: ClassVar[int] = 5
    kind: Literal["cap"]
    units_per_period: float = Field(ge=0, le=1e15)
    period_days: float = Field(
        default=365.0, ge=1, le=36_500,
        description="Days per cap period, at least 1 (queued excess is re-offered each period: shorter periods "
                    "multiply the event count without meaning anything for a yearly or quarterly legal cap).")
    excess: Literal["queue", "deny"] = "deny"


TREATMENTS = (Deny, License, Notify, Certify, Fee, Cap)  # a new kind: one class here, one handler in the engine
Treatment = Annotated[Union[TREATMENTS], Field(discriminator="kind")]  # noqa: UP007

#: Treatment kind -> its class.
TREATMENT_CLASSES: dict[str, type[SimModel]] = {get_args(c.model_fields["kind"].annotation)[0]: c for c in TREATMENTS}
#: Order of restrictiveness: higher wins.
RESTRICTIVENESS: dict[str, int] = {k: c.restrictiveness for k, c in TREATMENT_CLASSES.items()}


class Exemptions(SimModel):
    """Who a rule spares when it starts."""

    orders_before_announcement: bool = Field(
        default=False, description="Lots ordered before the announcement ship under the old regime."
    )
    in_transit: bool = Field(default=True, description="Lots already shipped when it takes effect arrive.")
    grace_days: float = Field(default=0.0, ge=0, le=36_500, description="Days after 'effective' before enforcement.")


class Rule(Sourced):
    """One export-control or import measure."""

    name: str = ""
    authority: str = Field(default="US", description="Country whose rule this is (US, CN, ...).")
    applies_at: Literal["export", "import"] = Field(
        default="export",
        description="'export': checked when a lot leaves; 'import': acts on the buyer's choice of product.",
    )
    announced: dt.date
    anticipated: dt.date | None = Field(
        default=None,
        description="When buyers came to expect the rule (press reports), if before 'announced'; stockpiling "
                    "starts here.",
    )
    effective: dt.date
    rescinded: dt.date | None = Field(
        default=None, description="End of the rule; may precede 'effective' (a rule withdrawn before it bit)."
    )
    scope: Scope = Field(default_factory=Scope)
    treatment: Treatment
    exemptions: Exemptions = Field(default_factory=Exemptions)
    overrides: list[str] = Field(default_factory=new_list, description="Rule ids this rule replaces where both match.")

    @model_validator(mode="after")
    def _dates(self) -> Rule:
        if self.anticipated is not None and self.anticipated > self.announced:
            raise ValueError(f"anticipated ({self.anticipated}) is after announced ({self.announced})")
        if self.effective < self.announced:
            raise ValueError(f"effective ({self.effective}) is before announced ({self.announced})")
        if self.rescinded is not None and self.rescinded < self.announced:
            raise ValueError(f"rescinded ({self.rescinded}) is before announced ({self.announced})")
        return self
