"""Export-control checks as a pure function: (lot, rules, day) -> Decision.

A rule is in force from ``effective + grace_days`` until ``rescinded``.  It matches a lot when the
item, origin, destination (or buyer headquarters), end user and channel all fall inside its scope.
Among matching rules, those named in another matching rule's ``overrides`` drop out; of the rest the
most restrictive treatment wins (deny > cap > license > notify > fee).  Stateful parts of a
treatment (cap counters, licence draws) belong to the engine, not here.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, cast

from sim.scenario.jurisdiction import edge_outside_rules
from sim.schema import RESTRICTIVENESS, Rule, Scenario, memory_bandwidth_gb_s, performance_density, tpp
from sim.schema.rules import ItemClause


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """What rules test about an item."""

    product: str
    item_kind: str
    tpp: float
    pd: float
    interconnect_gb_s: float
    memory_bw_gb_s: float
    designer_country: str
    made_with_us_tools: bool
    datacenter: bool


@dataclass(slots=True)
class Lot:
    """A consignment at the moment of export (never changed after it is made; not frozen, for speed: one per
    check, thousands per run)."""

    item: ItemFacts
    qty: float
    dest_country: str
    buyer: str
    buyer_hq: str
    channel: str  # sale | reexport | grey | remote
    order_day: float


@dataclass(frozen=True, slots=True)
class Decision:
    """The treatment that applies to a lot: ``allow`` when no rule matches."""

    kind: str  # allow | deny | license | notify | fee | cap
    rule: str | None = None
    spec: Any = None  # the rule's treatment (one of schema.rules.TREATMENTS); None when allowed
    matched: tuple[str, ...] = ()

    @property
    def allowed_outright(self) -> bool:
        """True when the lot ships with no check at all."""
        return self.kind == "allow"


ALLOW = Decision("allow")


class Compliance:
    """Rules of one scenario with their dates as day numbers and their groups expanded."""

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        groups = scenario.country_groups
        lists = scenario.entity_lists
        self._rules: list[tuple[str, Rule, float, float, float, frozenset, frozenset, frozenset]] = []
        self._expected: dict[str, float] = {}
        for rid, r in scenario.rules.items():
            start = scenario.day_of(r.effective) + r.exemptions.grace_days
            end = scenario.day_of(r.rescinded) if r.rescinded else float("inf")
            announced = scenario.day_of(r.announced)
            expected = scenario.day_of(r.anticipated) if r.anticipated else announced
            dests = frozenset(_expand(r.scope.destinations, groups))
            hqs = frozenset(_expand(r.scope.buyer_hq, groups))
            users = frozenset(_expand(r.scope.end_users, lists))
            self._rules.append((rid, r, announced, start, end, dests, hqs, users))
            self._expected[rid] = expected
        self._in_force = {rid: (start, end) for rid, _r, _a, start, end, *_ in self._rules}
        # decisions only change at the dates of the rules that cover a lot: cached per (kind of lot, interval)
        self._cache: dict[tuple, Decision] = {}
        self._now: dict[tuple, tuple[float, float, Decision]] = {}  # see decide_chip_span
        self._pending_now: dict[tuple, tuple[float, float, list[str]]] = {}  # see pending_chip
        self._pending: dict[tuple, list[str]] = {}
        self._by_item: dict[tuple, list] = {}  # (product, kind, designer country) -> rules whose item scope covers it
        self._scopes: dict[tuple, tuple[list[tuple], list[float]]] = {}  # kind of lot -> (rules covering it, dates)
        # a treatment is one of schema.rules.TREATMENTS (a union built from a tuple, which mypy cannot read)
        self._rank = {rid: (-RESTRICTIVENESS[cast(Any, r.treatment).kind], rid) for rid, r in scenario.rules.items()}
        self.items: dict[str, ItemFacts] = {}
        for cid, c in scenario.chips.items():
            self.items[cid] = ItemFacts(
                cid, "chip", tpp(c), performance_density(c), c.interconnect_gb_s, memory_bandwidth_gb_s(c),
                c.designer_country, c.made_with_us_tools, c.datacenter,
            )

    def item(self, product: str, item_kind: str = "chip", origin_country: str | None = None) -> ItemFacts:
        """Facts for a chip (or its dies); HBM and wafers get facts from their maker's country."""
        if item_kind in ("chip", "die") and product in self.items:
            f = self.items[product]
            return f if item_kind == "chip" else ItemFacts(**{**_asdict(f), "item_kind": "die"})
        return ItemFacts(product, item_kind, 0.0, 0.0, 0.0, 0.0, origin_country or "", True, True)

    def enforced_from(self, rid: str) -> float:
        """The day rule *rid* is enforced from (``effective`` + ``grace_days``): where its cap periods count from."""
        return self._in_force[rid][0]

    def rule_in_force(self, rid: str, day: float) -> bool:
        """Whether rule *rid* is enforced on *day*."""
        start, end = self._in_force[rid]
        return start <= day < end

    def matching(self, lot: Lot, day: float, *, pending: bool = False, applies_at: str = "export") -> list[str]:
        """Ids of rules whose scope covers *lot* and that are in force on *day*.

        With ``pending=True``: rules announced (or anticipated) on or before *day* but not yet in force
        (what a buyer who reads the news stockpiles ahead of).
        """
        candidates, _bounds = self._scope(lot, applies_at)
        expected = self._expected
        out = []
        for rid, r, announced, start, end in candidates:
            if pending:
                if not (expected[rid] <= day < start and day < end):
                    continue
            elif not (start <= day < end):
                continue
            if not pending and r.exemptions.orders_before_announcement and lot.order_day < announced:
                continue
            out.append(rid)
        return out

    def _scope(self, lot: Lot, applies_at: str) -> tuple[list[tuple], list[float]]:
        """The rules whose scope covers everything about *lot* but its dates (checked once per kind of lot), and
        the days on which their verdicts can change (announcement, anticipation, start, end)."""
        it = lot.item
        key = _kind_of_lot(it, lot.dest_country, lot.buyer, lot.buyer_hq, lot.channel, applies_at)
        found = self._scopes.get(key)
        if found is None:
            by_item = self._by_item.get(ikey := (it.product, it.item_kind, it.designer_country))
            if by_item is None:  # the rules whose item scope covers this item (the rest can never match it)
                by_item = self._by_item[ikey] = [rule for rule in self._rules if _item_covered(rule[1], it)]
            cands = [(rid, r, announced, start, end) for rid, r, announced, start, end, dests, hqs, users in by_item
                     if r.applies_at == applies_at and _lot_covered(r, lot, dests, hqs, users)]
            bounds = sorted({b for rid, _r, a, st, en in cands for b in (a, st, en, self._expected[rid])
                             if b != float("inf")})
            found = self._scopes[key] = (cands, bounds)
        return found

    def decide(self, lot: Lot, day: float, applies_at: str = "export") -> Decision:
        """The treatment for *lot* on *day*: the most restrictive of the matching rules."""
        cands, bounds = self._scope(lot, applies_at)
        if not cands:
            return ALLOW
        # the verdict only changes at the candidate rules' own dates: cached per interval of the day and of the
        # order day between them (the key :func:`_interval` gives, built inline on this hot path)
        key = (id(cands), bisect.bisect_right(bounds, day), bisect.bisect_right(bounds, lot.order_day))
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._decide(lot, day, applies_at)
        return found

    def decide_chip(self, product: str, dest_country: str, buyer: str, buyer_hq: str, channel: str, day: float,
                    order_day: float, applies_at: str = "export") -> Decision:
        """:meth:`decide` for a lot of chips given by its parts (no Lot is built unless the answer is new)."""
        it = self.items[product]
        # the key of _kind_of_lot for a chip, inline
        scope = self._scopes.get((product, "chip", it.designer_country, dest_country, buyer, buyer_hq, channel,
                                  applies_at))
        if scope is not None:
            cands, bounds = scope
            if not cands:
                return ALLOW
            found = self._cache.get((id(cands), bisect.bisect_right(bounds, day), bisect.bisect_right(bounds, order_day)))
            if found is not None:
                return found
        return self.decide(Lot(it, 0, dest_country, buyer, buyer_hq, channel, order_day), day, applies_at)

    def decide_chip_span(self, product: str, dest_country: str, buyer: str, buyer_hq: str, channel: str, day: float,
                         applies_at: str = "export") -> tuple[float, float, Decision]:
        """(first day, end day, decision): :meth:`decide_chip` for a lot ordered on *day* (order day = day), the
        question procurement asks of every product at every review, with the span of days the answer holds for
        (between the covering rules' dates), remembered per (product, buyer, channel, check); *dest_country* and
        *buyer_hq* are the buyer's own."""
        key = (product, buyer, channel, applies_at)
        hit = self._now.get(key)
        if hit is not None and hit[0] <= day < hit[1]:
            return hit
        d = self.decide_chip(product, dest_country, buyer, buyer_hq, channel, day, day, applies_at)
        _cands, bounds = self._scopes[_kind_of_lot(self.items[product], dest_country, buyer, buyer_hq, channel,
                                                   applies_at)]
        hit = self._now[key] = (*_span(bounds, day), d)
        return hit

    def pending(self, lot: Lot, day: float) -> list[str]:
        """``matching(lot, day, pending=True)``, cached like :meth:`decide` (the answer only changes at a rule's
        announcement, anticipation, start or end)."""
        scope = self._scope(lot, "export")
        if not scope[0]:
            return []
        key = _interval(scope, day)
        found = self._pending.get(key)
        if found is None:
            found = self._pending[key] = self.matching(lot, day, pending=True)
        return found

    def pending_chip(self, product: str, dest_country: str, buyer: str, buyer_hq: str, channel: str,
                     day: float) -> list[str]:
        """:meth:`pending` for a lot of chips given by its parts, remembered per (product, buyer, channel) with the
        span of days between the covering rules' dates it holds for."""
        key = (product, buyer, channel)
        hit = self._pending_now.get(key)
        if hit is not None and hit[0] <= day < hit[1]:
            return hit[2]
        it = self.items[product]
        lot = Lot(it, 0, dest_country, buyer, buyer_hq, channel, day)
        found = self.pending(lot, day)
        self._pending_now[key] = (*_span(self._scope(lot, "export")[1], day), found)
        return found

    def _decide(self, lot: Lot, day: float, applies_at: str) -> Decision:
        ids = self.matching(lot, day, applies_at=applies_at)
        if not ids:
            return ALLOW
        rules = self.scenario.rules
        overridden = {o for rid in ids for o in rules[rid].overrides}
        live = [rid for rid in ids if rid not in overridden] or ids
        # most restrictive wins; among equals, the rule id decides (never the order rules were written in)
        best = min(live, key=self._rank.__getitem__)
        t: Any = rules[best].treatment
        return Decision(t.kind, best, t, tuple(ids))


def _kind_of_lot(it: ItemFacts, dest_country: str, buyer: str, buyer_hq: str, channel: str, applies_at: str) -> tuple:
    """What rules read of a lot apart from its dates: an item's facts are a function of (product, kind, designer
    country), then where, to whom, how and where it is checked."""
    return it.product, it.item_kind, it.designer_country, dest_country, buyer, buyer_hq, channel, applies_at


def _interval(scope: tuple[list[tuple], list[float]], *days: float) -> tuple:
    """The cache key of a kind of lot on *days* (the day, and the order day): which of its rules' dates they
    fall between."""
    cands, bounds = scope
    return (id(cands), *(bisect.bisect_right(bounds, d) for d in days))


def _span(bounds: list[float], day: float) -> tuple[float, float]:
    """The days [first, end) between a kind of lot's rule dates that hold *day* (its verdicts cannot change inside)."""
    i = bisect.bisect_right(bounds, day)
    return (bounds[i - 1] if i else -math.inf), (bounds[i] if i < len(bounds) else math.inf)


def _asdict(f: ItemFacts) -> dict:
    return {k: getattr(f, k) for k in f.__slots__}


def _expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    out: set[str] = set()
    for n in names:
        out.add(n)
        out.update(groups.get(n, []))
    return out


def _item_covered(r: Rule, item: ItemFacts) -> bool:
    """Whether rule *r*'s scope covers *item* (a lot is covered when this and :func:`_lot_covered` hold).

    The item half of the scope: kind, origin (designer country or US tools) and the item clauses."""
    s = r.scope
    if item.item_kind not in s.item_kinds:
        return False
    if s.origin.designer_countries:
        by_design = item.designer_country in s.origin.designer_countries
        by_fdp = s.origin.foreign_direct_product and item.made_with_us_tools
        if not (by_design or by_fdp):
            return False
    elif s.origin.foreign_direct_product and not item.made_with_us_tools:
        return False
    return not s.items or any(_clause(c, item) for c in s.items)


def _lot_covered(r: Rule, lot: Lot, dests: frozenset, hqs: frozenset, users: frozenset) -> bool:
    """The shipment half of the scope: channel, destination or buyer headquarters, end user."""
    s = r.scope
    if lot.channel not in s.channels:
        return False
    if (dests or hqs) and not (lot.dest_country in dests or lot.buyer_hq in hqs):
        return False
    return not users or lot.buyer in users


def _clause(c: ItemClause, f: ItemFacts) -> bool:
    if c.products and f.product not in c.products:
        return False
    if c.datacenter_only and not f.datacenter:
        return False
    checks = (
        (c.tpp_min, f.tpp, True), (c.tpp_max, f.tpp, False), (c.pd_min, f.pd, True), (c.pd_max, f.pd, False),
        (c.interconnect_gb_s_min, f.interconnect_gb_s, True),
        (c.memory_bw_gb_s_min, f.memory_bw_gb_s, True), (c.memory_bw_gb_s_max, f.memory_bw_gb_s, False),
    )
    for bound, value, is_min in checks:
        if bound is None:
            continue
        if is_min and value < bound:
            return False
        if not is_min and value >= bound:
            return False
    return True


def blocked_edges(s: Scenario, date: dt.date) -> list[str]:
    """Edge ids closed on *date*: every item that can flow on the edge is denied by a rule in force.

    Items on an edge: for chips, the products its source sells (a vendor's own designs; any chip through
    a hub or from a cloud); for dies, wafers and HBM, the source's output.  Grey edges are never
    "blocked" (they exist to evade), remote edges are checked as rentals.  A structural reading for the
    network view; the engine decides lot by lot.
    """
    comp = Compliance(s)
    day = s.day_of(date)
    channel_of = {"direct": "sale", "reexport": "reexport", "remote": "remote"}
    out = []
    for eid, e in s.edges.items():
        if e.channel == "grey" or edge_outside_rules(s, eid):  # domestic component flows: outside the rules
            continue
        src = s.nodes.get(e.from_)
        if e.flow in ("chips", "rental"):
            kinds = ("chip",)
            products = [c for c, spec in s.chips.items() if spec.vendor == e.from_] if src is not None and \
                src.kind == "vendor" else list(s.chips)
        elif e.flow == "hbm":
            kinds, products = ("hbm",), ["hbm"]
        else:
            kinds = ("die",)
            products = list(src.allocation) if src is not None and src.kind == "foundry" else list(s.chips)
        if not products:
            continue
        buyer = e.to
        actor = s.labs.get(buyer) or s.clouds.get(buyer)
        hq = actor.hq if actor is not None else s.country_of(buyer)
        lots = [Lot(comp.item(p, kinds[0], s.country_of(e.from_)), 1, s.country_of(buyer), buyer, hq,
                    channel_of[e.channel], day) for p in products]
        if all(comp.decide(lot, day).kind == "deny" for lot in lots):
            out.append(eid)
    return out
