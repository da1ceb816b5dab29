"""One handler per rule treatment kind: what the kind does wherever a rule can bite.

A rule's treatment meets the engine in four places, and every handler answers all four explicitly
(no kind is ever allowed by default):

- ``at_export``: a chip lot leaving its vendor (a SimPy sub-process: it may wait, e.g. a licence review);
  returns an :class:`ExportOutcome` that :func:`sim.engine.mechanisms.orders.ship` books.
- ``at_remote``: a tenant renting GPUs abroad, for a new rental (may wait) or a renewal (decided at once).
- ``at_component``: a die or HBM lot crossing a border to a packager (allowed or not).
- ``at_import``: the importing country's treatment of a purchase: ``(verdict, hold_days)``.

and one place where the buyer plans: ``room`` is how many units of a product the treatment would let through
for the buyer's country now (a volume cap's room left in its period; unlimited for the rest).  A buyer orders
no more than that and treats a product with no room as closed until the next period (``orders.place``): an
exporter does not apply for licences it knows exceed the year's quota.

A rule's per-lot draws (review days, approvals, certifications, notification delays) come from a stream per rule
and buyer (``licence/decision/<rule>/<buyer>`` ...), so one buyer's lots never shift another's draws (adding a
buyer keeps every other buyer's common random numbers); the rule's own rates (approval and pass probabilities)
are drawn once per run per rule.

Adding a treatment kind is one schema class (``sim.schema.rules.TREATMENTS``) and one handler class here,
registered with :func:`register`; importing this module fails if a schema kind has no handler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from sim.engine.state import cap_room, use_cap
from sim.schema.rules import TREATMENT_CLASSES


@dataclass
class ExportOutcome:
    """What a treatment decided for a chip lot at export."""

    status: str  # ship | denied | refused | recheck
    qty: int
    fee_usd: float = 0.0
    excess: int = 0  # units over a cap
    excess_action: str | None = None  # deny | queue
    shipped_as: str = "delivered"  # the shipment status of a lot that ships (delivered | licensed)


@dataclass
class ExportLot:
    """A chip lot at the moment of its export check (what a handler needs to decide)."""

    vendor: str
    buyer: str
    product: str
    qty: int
    value_usd: float
    buyer_country: str


class Handler:
    """Base of the treatment handlers (subclasses implement every method)."""

    kind: ClassVar[str]

    def at_export(self, w: Any, d: Any, lot: ExportLot):  # pragma: no cover - interface
        raise NotImplementedError
        yield  # type: ignore[unreachable]  # makes it a generator, as every handler's is

    def at_remote(self, w: Any, d: Any, buyer: str, new: bool):  # pragma: no cover - interface
        raise NotImplementedError
        yield  # type: ignore[unreachable]  # makes it a generator, as every handler's is

    def at_component(self, w: Any, d: Any) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def at_import(self, w: Any, d: Any, buyer: str, product: str) -> tuple[str, float]:  # pragma: no cover
        raise NotImplementedError

    def room(self, w: Any, d: Any, vendor: str, product: str, country: str) -> float:
        """Units of *product* from *vendor* this treatment lets through to *country* now (planning)."""
        return math.inf

    def account(self, d: Any, product: str, country: str) -> str:
        """The cap account a lot of *product* to *country* counts in (its claims and its use)."""
        return country


HANDLERS: dict[str, Handler] = {}


def register(cls: type[Handler]) -> type[Handler]:
    """Make an instance of *cls* the handler for ``cls.kind`` (called after each class, not as a decorator: a
    decorated class cannot be compiled to a native class by mypyc, see benchmarks/compiled.py)."""
    HANDLERS[cls.kind] = cls()
    return cls


def handler(kind: str) -> Handler:
    """The handler of a treatment kind (KeyError for a kind nobody registered)."""
    return HANDLERS[kind]


def _approval(w: Any, d: Any) -> float:
    return w.param(f"licence/approval/{d.rule}", d.spec.approval_probability)


def _granted(w: Any, d: Any, buyer: str) -> bool:
    """One approval draw for a licence to *buyer* (the approval probability itself is drawn once per run)."""
    return w.rng.random(f"licence/decision/{d.rule}/{buyer}") < _approval(w, d)


class DenyHandler(Handler):
    """Presumption of denial: nothing passes anywhere."""

    kind = "deny"

    def at_export(self, w, d, lot):
        return ExportOutcome("denied", lot.qty)
        yield

    def at_remote(self, w, d, buyer, new):
        return False
        yield

    def at_component(self, w, d):
        return False

    def at_import(self, w, d, buyer, product):
        return "barred", 0.0


register(DenyHandler)


class LicenseHandler(Handler):
    """A review: the lot waits ``review_days``, then is approved with ``approval_probability`` (a licence
    never granted is futile: buyers do not apply, see ``orders._closed``).  An optional volume cap limits
    licensed units per year to ``volume_cap_ratio`` x its legal base (``volume_cap_reference_units_per_month``,
    e.g. US shipments for the Jan 2026 H200 rule; else the vendor's recent supply of the product)."""

    kind = "license"

    def at_export(self, w, d, lot):
        # the application is judged against the quota of the period it was filed in, on the legal base the
        # exporter stated when filing (E15: US units shipped, stated at application)
        spec = d.spec
        filed = w.env.now
        limit = None if spec.volume_cap_ratio is None else self.limit(w, d, lot.vendor, lot.product)
        yield w.env.timeout(w.sample(f"licence/review/{d.rule}/{lot.buyer}", spec.review_days))
        approved = _granted(w, d, lot.buyer)
        account = self.account(d, lot.product, lot.buyer_country)
        if approved and limit is not None:
            approved = cap_room(w, d.rule, limit, 365.25, account, filed) >= lot.qty
        if not approved:
            return ExportOutcome("refused", lot.qty)
        if limit is not None:
            use_cap(w, d.rule, 365.25, account, lot.qty, filed)
        return ExportOutcome("ship", lot.qty, fee_usd=spec.revenue_share * lot.value_usd, shipped_as="licensed")

    def at_remote(self, w, d, buyer, new):
        if new:  # a renewal is decided at once: its review ran while the contract was live
            yield w.env.timeout(w.sample(f"licence/review/{d.rule}/{buyer}", d.spec.review_days))
        return _granted(w, d, buyer)

    def at_component(self, w, d):
        return False  # licences for dies and HBM to listed end users are not granted

    def limit(self, w, d, vendor, product):
        """Licensed units a year the volume cap allows now: the ratio x 12 x the reference per month (an
        aggregate over the rule's products), else x the vendor's recent supply of the product."""
        spec = d.spec
        if spec.volume_cap_reference_units_per_month is not None:
            base = w.series(f"{d.rule}/cap_reference", spec.volume_cap_reference_units_per_month).at(w.env.now) * 12
        else:
            base = w.supply_rate[vendor][product] * 12
        return spec.volume_cap_ratio * base

    def account(self, d, product, country):
        # a cap on a product's own supply is counted per product; one on a stated reference, for all of them
        if d.spec.volume_cap_ratio is None or d.spec.volume_cap_reference_units_per_month is not None:
            return country
        return f"{country}/{product}"

    def room(self, w, d, vendor, product, country):
        if d.spec.volume_cap_ratio is None:
            return math.inf
        return cap_room(w, d.rule, self.limit(w, d, vendor, product), 365.25, self.account(d, product, country))

    def at_import(self, w, d, buyer, product):
        if _approval(w, d) <= 0:
            return "barred", 0.0
        # a domestic review decided once per buyer, product and review period (the buyer re-applies next period)
        period = int(w.env.now // max(w.scenario.labs[buyer].strategy.review_interval_days, 1.0)) if buyer in w.scenario.labs else 0
        key = (buyer, product, d.rule)
        found = w.import_reviews.get(key)
        if found is not None and found[0] == period:
            return found[1]
        ok = w.rng.random(f"licence/import/{d.rule}/{buyer}") < _approval(w, d)
        hold = w.sample(f"licence/import_review/{d.rule}/{buyer}", d.spec.review_days) if ok else 0.0
        verdict: tuple[str, float] = ("ok" if ok else "refused", hold)
        w.import_reviews[key] = (period, verdict)
        return verdict


register(LicenseHandler)


class NotifyHandler(Handler):
    """Advance notification: the lot waits ``delay_days``, then is checked again (the rule may have changed)."""

    kind = "notify"

    def at_export(self, w, d, lot):
        yield w.env.timeout(w.sample(f"notify/{d.rule}/{lot.buyer}", d.spec.delay_days))
        return ExportOutcome("recheck", lot.qty)

    def at_remote(self, w, d, buyer, new):
        if new:
            yield w.env.timeout(w.sample(f"notify/{d.rule}/{buyer}", d.spec.delay_days))
        return True

    def at_component(self, w, d):
        return True

    def at_import(self, w, d, buyer, product):
        return "ok", w.sample(f"notify/{d.rule}/{buyer}", d.spec.delay_days)


register(NotifyHandler)


class CertifyHandler(Handler):
    """End-use certification: the lot (or rental) waits ``certification_days``; it passes with
    ``pass_probability`` (drawn once per run), else it is denied.  Dies and HBM to packagers cannot be
    certified for a chip end use and are denied."""

    kind = "certify"

    def _passes(self, w, d, buyer) -> bool:
        p = w.param(f"certify/pass/{d.rule}", d.spec.pass_probability)
        return w.rng.random(f"certify/decision/{d.rule}/{buyer}") < p

    def at_export(self, w, d, lot):
        yield w.env.timeout(w.sample(f"certify/days/{d.rule}/{lot.buyer}", d.spec.certification_days))
        return ExportOutcome("ship", lot.qty) if self._passes(w, d, lot.buyer) else ExportOutcome("denied", lot.qty)

    def at_remote(self, w, d, buyer, new):
        if new:
            yield w.env.timeout(w.sample(f"certify/days/{d.rule}/{buyer}", d.spec.certification_days))
        return self._passes(w, d, buyer)

    def at_component(self, w, d):
        return False

    def at_import(self, w, d, buyer, product):
        return ("ok", 0.0) if self._passes(w, d, buyer) else ("refused", 0.0)


register(CertifyHandler)


class FeeHandler(Handler):
    """A revenue share on the sale; rentals, components and imports are not charged (not modelled)."""

    kind = "fee"

    def at_export(self, w, d, lot):
        return ExportOutcome("ship", lot.qty, fee_usd=d.spec.revenue_share * lot.value_usd)
        yield

    def at_remote(self, w, d, buyer, new):
        return True
        yield

    def at_component(self, w, d):
        return True

    def at_import(self, w, d, buyer, product):
        return "ok", 0.0


register(FeeHandler)


class CapHandler(Handler):
    """At most ``units_per_period`` units per destination country and period; the excess is denied or held
    for the next period.  Caps count exported units: rentals pass, dies and HBM to a capped place are denied,
    imports are not capped (not modelled)."""

    kind = "cap"

    def room(self, w, d, vendor, product, country):
        if d.spec.excess != "deny":
            return math.inf  # the excess is held for the next period: the buyer may order beyond the room
        return cap_room(w, d.rule, d.spec.units_per_period, d.spec.period_days, country)

    def at_export(self, w, d, lot):
        room = cap_room(w, d.rule, d.spec.units_per_period, d.spec.period_days, lot.buyer_country)
        qty = lot.qty
        excess = 0
        if room < qty:
            excess = qty - int(max(room, 0))
            qty -= excess
        if qty > 0:
            use_cap(w, d.rule, d.spec.period_days, lot.buyer_country, qty)
        return ExportOutcome("ship", qty, excess=excess, excess_action=d.spec.excess if excess else None)
        yield

    def at_remote(self, w, d, buyer, new):
        return True
        yield

    def at_component(self, w, d):
        return False

    def at_import(self, w, d, buyer, product):
        return "ok", 0.0


register(CapHandler)


_missing = sorted(set(TREATMENT_CLASSES) - set(HANDLERS))
if _missing:  # a schema kind without a handler would otherwise be silently allowed somewhere
    raise ImportError(f"no engine handler for treatment kind(s): {', '.join(_missing)}")
