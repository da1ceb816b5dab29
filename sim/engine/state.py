"""The world's entities and the small helpers several mechanisms read them with.

Orders, the conservation ledger and installed fleet lines are plain dataclasses; ``vendor_estimate`` (what a
buyer expects a vendor to deliver) and the cap counters are read by procurement, training and the treatment
handlers alike, so they live here rather than in any one mechanism (no mechanism imports another's internals
for them, and none imports the Simulation at run time).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sim.units import MONTH_DAYS

if TYPE_CHECKING:
    from sim.engine.simulation import World as Simulation

LOOKAHEAD_JOB_DAYS = 365.0  # jobs starting within this horizon drive procurement


@dataclass
class Order:
    """Units a buyer asked a vendor for, not yet allocated."""

    order_id: int
    buyer: str
    product: str
    qty: int
    order_day: float
    stockpile: bool = False
    route: str = "sale"  # sale | reexport | grey
    hub: str | None = None
    unit_price_usd: float = 0.0
    cap_key: tuple[str, str] | None = None  # (rule, account) of the volume cap the order was placed within


@dataclass
class Ledger:
    """Counts of chips by where they are (the conservation account)."""

    produced: int = 0
    in_inventory: int = 0
    in_transit: int = 0
    installed: int = 0
    seized: int = 0
    retired: int = 0
    failed: int = 0
    sold_elsewhere: int = 0  # left a vendor's stock unsold to the modelled buyers (``unsold_leaves_after_days``)


@dataclass
class FleetLine:
    """Installed units of one product at one owner, as cohorts, with what holds them."""

    cohorts: deque = field(default_factory=deque)  # [install_day, units]
    units: int = 0
    grey_units: int = 0
    training: int = 0
    inference: int = 0
    workloads: int = 0  # held by non-LLM workloads (recommendation, ads, cloud customers)

    @property
    def free(self) -> int:
        """Units neither training, serving nor held by a workload."""
        return max(self.units - self.training - self.inference - self.workloads, 0)


MAX_UNITS = 10**12  # no order or reservation is larger (guards absurd inputs such as a chip of 1e-300 FLOP/s)


def ceil_units(x: float) -> int:
    """Whole units needed to cover *x* (tolerant of float noise), capped at MAX_UNITS."""
    if not x < MAX_UNITS:  # also catches inf and NaN
        return MAX_UNITS
    return max(int(math.ceil(x - 1e-9)), 0)



def vendor_estimate(w: Simulation, vendor: str, product: str, days: float) -> int:
    """Units a buyer can expect from a vendor soon: stock + smoothed supply - backorders.

    For a product in a ``fungible_supply`` group (one die, several products) the whole group's supply and
    backlog count: the vendor can make any of them from the same wafers.
    """
    key = ("supply_group", vendor, product)
    group = w.memo.get(key)
    if group is None:
        node = w.scenario.nodes[vendor]
        group = w.memo[key] = next((list(g) for g in getattr(node, "fungible_supply", []) if product in g),
                                   [product])
    open_units, stock, rate = w.backlog[vendor], w.inventory[vendor], w.supply_rate[vendor]
    expected = 0.0
    backlog = 0
    for p in group:
        expected += stock[p] + rate[p] * days / MONTH_DAYS  # the same sums, in the same order, as before
        backlog += open_units[p]
    return int(expected - backlog)


def cap_period(w: Simulation, rule: str, period_days: float, day: float | None = None) -> int:
    """The index of the cap period holding *day* (default: now), counted from the rule's enforcement."""
    start = w.compliance.enforced_from(rule)
    return int(math.floor(((w.env.now if day is None else day) - start) / period_days))


def cap_room(w: Simulation, rule: str, limit: float, period_days: float, account: str,
             day: float | None = None) -> float:
    """Units left under a cap of *limit* per period in *account* (a destination country, or a country and
    product) in the period holding *day* (default: now)."""
    return limit - w.cap_used[(rule, account, cap_period(w, rule, period_days, day))]


def use_cap(w: Simulation, rule: str, period_days: float, account: str, qty: int, day: float | None = None) -> None:
    w.cap_used[(rule, account, cap_period(w, rule, period_days, day))] += qty


