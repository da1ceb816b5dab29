"""Procurement, vendor allocation, the export check, shipping, and the grey channel.

Mechanism.  Every ``review_interval_days`` a lab adds its budget for the period and works out its
need: chips for training jobs that start within a year (own-sourced), chips to serve the inference
demand expected in three months, and any extra fleet growth; fleet and pipeline already held count
against need.  For each need it ranks the products it can reach (a chips edge from the vendor, direct
or through a re-export hub) by dense BF16 FLOP/s per dollar, times ``domestic_preference`` for chips
designed in its home country.  It knows the rules in force: a product a deny rule covers is *denied
demand* (recorded with the rule), of which ``share_of_denied`` goes to the grey channel (a hub with a
grey route, at a markup, if the lab's strategy allows it) and the rest is re-routed to the next product
(``other_product``) or to domestic chips only (``domestic``).  Serving needs rank by memory bandwidth
per dollar instead (decode is memory-bound).  Products barred by an importing-country
rule are skipped.  When a rule that would cover a product is announced but not yet in force, the order is
multiplied by ``stockpile_factor``.  Orders are capped by budget and by what the vendor is expected to
supply (smoothed recent supply), except for the last candidate, which takes the remainder as a backorder.

Vendors allocate inventory as it arrives: buyers named in ``priority`` first, each up to its share of
the round, then first come, first served; partial fills leave backorders.  Each allocated lot is
checked at export against the rules in force (``sim.engine.compliance``): deny -> back to inventory, denied;
licence -> review time, then approved (ships, with any revenue share) or refused (back to inventory);
notify -> delay; fee -> revenue share; cap -> units per period per destination country, the excess
denied or queued to the next period.  Shipping takes the edge lead times; a delivered lot is installed
after the buyer's installation delay.  Grey lots go through the hub with extra delay and are seized
with the hub's probability.

Simplifications: a lab re-plans at each review instead of tracking individual orders' fates; denied
demand is counted once while it stays open; cloud regions buy fixed monthly quantities.

Records: ``shipments`` (one row per lot and per denied demand), ``events`` (stockpiles, import bars).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

from sim.engine.compliance import Lot
from sim.engine.mechanisms import fleet as fleet_mod
from sim.engine.mechanisms import inference, training, workloads
from sim.engine.plans import WholeUnits, pro_rata
from sim.engine.records import ShipmentRow
from sim.engine.routes import purchasable, routes
from sim.engine.state import LOOKAHEAD_JOB_DAYS, MAX_UNITS, Order, cap_period, ceil_units, vendor_estimate
from sim.engine.treatments import ExportLot, handler
from sim.units import MONTH_DAYS

if TYPE_CHECKING:
    from sim.engine.routes import Route
    from sim.engine.simulation import World as Simulation
    from sim.schema.network import Distributor, GreyChannel, Vendor

LOOKAHEAD_INFERENCE_DAYS = 180.0  # serving capacity is planned two quarters ahead (lead times of 3-6 months)


def start(w: Simulation) -> None:
    """Start every lab's procurement review, every cloud's purchases and the pro-rata vendors' rounds."""
    for lid in w.scenario.labs:
        w.env.process(run_procurement(w, lid))
    for nid, node in w.scenario.nodes.items():
        if node.kind == "vendor" and node.allocation_policy == "pro_rata":
            w.env.process(run_allocation_rounds(w, nid))
    for cid, cloud in w.scenario.clouds.items():
        for chip, steps in cloud.purchases_per_month.items():
            w.env.process(run_cloud_purchases(w, cid, chip, steps))


def _decide(w: Simulation, product: str, buyer: str, channel: str, order_day: float,
            applies_at: str = "export"):
    """The rules' decision now on a lot of *product* for *buyer* ordered on *order_day*."""
    country, hq = w.party(buyer)
    now = w.env.now
    if order_day == now:
        return w.compliance.decide_chip_span(product, country, buyer, hq, channel, now, applies_at)[2]
    return w.compliance.decide_chip(product, country, buyer, hq, channel, now, order_day, applies_at)


def import_check(w: Simulation, buyer: str, product: str) -> tuple[str, float]:
    """The importing country's treatment of *buyer* buying *product* now: ('ok' | 'barred' | 'refused', hold days).

    A deny bars the purchase; a licence with approval probability 0 is futile and bars it too (the buyer
    knows it will not pass); any other licence is a domestic review, decided once per buyer, product
    and review period: refused -> not ordered this period, approved -> ordered, shipped after the review.
    Every import treatment is one handler in :mod:`sim.engine.treatments`.
    """
    d = _decide(w, product, buyer, "sale", w.env.now, applies_at="import")
    if d.kind == "allow":
        return "ok", 0.0
    verdict, hold = handler(d.kind).at_import(w, d, buyer, product)
    if verdict != "ok":
        key = (buyer, product, d.rule, verdict)
        if key not in w.import_noted:
            w.import_noted.add(key)
            w.rec.event(w.env.now, "import_barred" if verdict == "barred" else "import_refused", buyer,
                        f"{product} by {d.rule}")
    return verdict, hold


# ------------------------------------------------------------------------------------ procurement
def run_procurement(w: Simulation, lid: str):
    """The lab's periodic procurement review."""
    lab = w.scenario.labs[lid]
    interval = lab.strategy.review_interval_days
    budget = w.series(f"{lid}/budget", lab.budget_usd_per_year)
    while True:
        per_year = budget.at(w.env.now)
        w.budget_usd[lid] = min(w.budget_usd[lid] + per_year * interval / 365.25, max(per_year, 0.0))
        review(w, lid)
        yield w.env.timeout(interval)


def needs(w: Simulation, lid: str) -> list[tuple[str, list[str], int]]:
    """(reason, acceptable products, units) the lab wants to order now."""
    s = w.scenario
    lab = s.labs[lid]
    now = w.env.now
    # units held (not training) plus units on order, by chip (a chip with neither counts as absent: zero)
    pool: dict[str, int] = dict(w.pipeline[lid])
    for chip, line in w.fleet[lid].items():
        pool[chip] = max(line.units - line.training, 0) + pool.get(chip, 0)
    out: list[tuple[str, list[str], int]] = []
    inf = lab.inference
    if inf is not None:  # serving first, then the workloads, then training gets what is left (as at run time)
        need = inference.needed_flops(w, lid, now + LOOKAHEAD_INFERENCE_DAYS)
        need = _cover(w, pool, inf.chips, inf.precision, need)
        peaks = w.peaks_at(inf.precision)
        usable = [c for c in inf.chips if peaks[c] > 0]
        if need > 0 and usable:
            units = ceil_units(need / w.peak(usable[0], inf.precision))
            out.append(("inference", usable, units))
    for wid in sorted(lab.workloads):
        wl = lab.workloads[wid]
        order = workloads.chip_order(w, lid, wid)
        need = _cover(w, pool, order, wl.precision, workloads.needed_flops(w, lid, wid, now + LOOKAHEAD_INFERENCE_DAYS))
        peaks = w.peaks_at(wl.precision)
        products = [p for p in (wl.chips or lab.strategy.products or purchasable(w, lid)) if peaks[p] > 0]
        if need > 0 and products:
            best = max(products, key=lambda p: (score(w, lid, p), p))  # units counted at the best value's peak
            out.append((f"workload:{wid}", products, ceil_units(need / w.peak(best, wl.precision))))
    for jid, job in lab.jobs.items():
        if job.sourcing == "rent" or (lid, jid) in w.jobs_started:
            continue
        if s.day_of(job.earliest_start) - now > LOOKAHEAD_JOB_DAYS:
            continue
        plan = training.procurement_plan(w, lid, jid, pool, lambda p: _orderable_now(w, lid, p))
        if plan is not None:
            products, units = plan
            out.append((f"job:{jid}", products, units))
    extra = w.series(f"{lid}/extra_demand", lab.strategy.extra_demand_units_per_month).at(now)
    if extra > 0:
        units = int(round(extra * lab.strategy.review_interval_days / MONTH_DAYS))
        if units > 0:
            products = lab.strategy.products or purchasable(w, lid)  # what an order may name (place() filters so)
            out.append(("growth", products, units))
    return out


def _cover(w: Simulation, pool: dict[str, int], chips: list[str], precision: str, need: float) -> float:
    """Take chips from *pool* (in *chips* order) to cover *need* FLOP/s; returns the need left."""
    peaks = w.peaks_at(precision)
    for chip in chips:
        if need <= 0:
            break  # covered: the chips after take nothing
        peak = peaks[chip]
        if peak <= 0 or chip not in pool:
            continue
        used = min(pool[chip] * peak, need)
        pool[chip] -= ceil_units(used / peak)
        need -= used
    return need


def _orderable_now(w: Simulation, lid: str, product: str) -> bool:
    """Whether *lid* can order *product* now: a legal route, released, not closed by a rule (export or import)."""
    s = w.scenario
    legal, _grey = routes(w, lid)
    if product not in legal or w.release_day[product] > w.env.now:
        return False
    strat = s.labs[lid].strategy
    if strat.products and product not in strat.products:
        return False
    now = w.env.now
    d = _decide(w, product, lid, legal[product].channel, now)
    if _closed(w, d) or _room(w, d, s.chips[product].vendor, product, s.country_of(lid)) < 1:
        return False
    return not _closed(w, _decide(w, product, lid, "sale", now, applies_at="import"))


STALE_ORDER_REVIEWS = 3  # an order unfilled for this many reviews (and 90 days at least) is cancelled


def cancel_stale_orders(w: Simulation, lid: str, review_interval_days: float | None = None) -> None:
    """Cancel the buyer's backorders that have waited too long, so it can re-plan with other suppliers.

    Every buyer keeps the same rule: a lab at its reviews, a cloud region at its monthly purchases
    (*review_interval_days*).  A buyer that never cancelled would pile up years of unfilled orders against a
    vendor short of supply (a cloud's monthly plan above Huawei's output did: 23-year-old orders in a 30-year
    run), and under a ``pro_rata`` vendor that pile would claim a growing share of every month's output.  A lab's
    money for a cancelled order comes back; a cloud's purchases are not paid from a budget here.
    """
    mine = w.orders_by_buyer.get(lid)
    if not mine:
        return
    now = w.env.now
    lab = w.scenario.labs.get(lid)
    if review_interval_days is None:
        review_interval_days = lab.strategy.review_interval_days if lab else MONTH_DAYS
    limit = max(90.0, STALE_ORDER_REVIEWS * review_interval_days)
    for vendor in w.backorders:  # the vendors in the order they first had orders (the events' order)
        orders = mine.get(vendor)
        if not orders:
            continue
        cancelled = False
        for o in orders:
            if o.qty > 0 and now - o.order_day >= limit:
                _cancel(w, vendor, o, f"{o.product} from {vendor}")
                cancelled = True
        mine[vendor] = [o for o in orders if o.qty > 0]
        if cancelled:
            w.backorders[vendor] = [o for o in w.backorders[vendor] if o.qty > 0]


def _cancel(w: Simulation, vendor: str, o: Order, detail: str) -> None:
    """Cancel what is left of *o*: out of the buyer's pipeline, the vendor's backlog and the cap's claims; a lab's
    money comes back (nothing was delivered); the order leaves the vendor's queues when they are next tidied."""
    w.pipeline[o.buyer][o.product] -= o.qty
    if o.buyer in w.scenario.labs:
        w.budget_usd[o.buyer] += o.qty * o.unit_price_usd
    w.rec.event(w.env.now, "order_cancelled", o.buyer, detail, o.qty)
    w.backlog[vendor][o.product] -= o.qty
    _release(w, o, o.qty)
    o.qty = 0


def review(w: Simulation, lid: str) -> None:
    """Turn needs into orders, denied demand and grey orders."""
    cancel_stale_orders(w, lid)
    for reason, products, units in needs(w, lid):
        place(w, lid, reason, products, units)
    lab = w.scenario.labs[lid]
    if lab.strategy.spend_budget and w.budget_usd[lid] > 0:
        spend_budget(w, lid)


def spend_budget(w: Simulation, lid: str) -> None:
    """Turn the period's unspent budget into growth orders (the capex figure is spent, not saved)."""
    s = w.scenario
    lab = s.labs[lid]
    period = w.series(f"{lid}/budget", lab.budget_usd_per_year).at(w.env.now) * lab.strategy.review_interval_days / 365.25
    money = min(w.budget_usd[lid], period)
    products = [p for p in (lab.strategy.products or purchasable(w, lid)) if w.release_day[p] <= w.env.now]
    prices = sorted(w.unit_price(p) for p in products if w.unit_price(p) > 0)
    if not prices or money <= 0:
        return
    units = int(money // prices[len(prices) // 2])  # at the median price; place() caps each product by money left
    if units > 0:
        place(w, lid, "budget", products, units)


def score(w: Simulation, lid: str, product: str, purpose: str = "training") -> float:
    """Value per dollar, times the domestic preference for home-designed chips.

    Training and growth buy dense BF16 FLOP/s per dollar; serving buys memory bandwidth per dollar
    (token generation is bound by memory bandwidth, which is why the H20 sold: 4 TB/s at a low price).
    """
    key = ("score", lid, product, purpose)
    found = w.memo.get(key)
    if found is not None:
        return found
    lab = w.scenario.labs[lid]
    spec = w.scenario.chips[product]
    worth = spec.hbm_tb_s * 1e12 if purpose == "inference" and spec.hbm_tb_s > 0 else w.peak(product)
    value = worth / max(w.unit_price(product), 1e-9)
    if w.scenario.chips[product].designer_country == lab.hq:
        value *= lab.strategy.domestic_preference
    w.memo[key] = value  # prices are drawn once per run, so a product's value is fixed for the run
    return value


def _decisions_now(w: Simulation, lid: str, ranked: list[str], legal: dict) -> dict:
    """The export decision now on each of *ranked* for *lid* (by its legal channel, else as a sale), remembered
    with the span of days every one of them holds for (reviews ask again every period; the answer changes only at
    the covering rules' dates)."""
    now = w.env.now
    key = ("decisions", lid, *ranked)
    hit = w.memo.get(key)
    if hit is not None and hit[0] <= now < hit[1]:
        return hit[2]
    country, hq = w.party(lid)
    span = w.compliance.decide_chip_span
    lo, hi, out = -math.inf, math.inf, {}
    for p in ranked:
        a, b, out[p] = span(p, country, lid, hq, legal[p].channel if p in legal else "sale", now)
        lo, hi = max(lo, a), min(hi, b)
    w.memo[key] = (lo, hi, out)
    return out


def _ranked(w: Simulation, lid: str, candidates: list[str], purpose: str) -> list[str]:
    """*candidates* best value first (scores are fixed for the run, so each ranking is worked out once)."""
    key = ("ranked", lid, purpose, *candidates)
    found = w.memo.get(key)
    if found is None:
        found = w.memo[key] = sorted(candidates, key=lambda p: (-score(w, lid, p, purpose), p))
    return list(found)


def place(w: Simulation, lid: str, reason: str, products: list[str], units: int) -> None:
    """Order *units* of the best acceptable products, re-routing denied demand by the strategy."""
    s = w.scenario
    lab = s.labs[lid]
    strat = lab.strategy
    now = w.env.now
    legal, grey = routes(w, lid)
    country, hq = w.party(lid)
    candidates = [p for p in products if (p in legal or p in grey) and w.release_day[p] <= now]
    if strat.products:
        candidates = [p for p in candidates if p in strat.products]
    purpose = "inference" if reason == "inference" else "training"  # growth and budget buy FLOP/s
    # a job's products come ranked by its expected finish (training.procurement_plan); the rest by value
    ranked = candidates if reason.startswith("job:") else _ranked(w, lid, candidates, purpose)
    remaining = units
    denied_once = False
    domestic_only = False
    # the export decision for each product now (a lot's size does not change it): worked out once, used twice
    decisions = _decisions_now(w, lid, ranked, legal)

    def room_now(p: str) -> float:  # units the rules let through now: 0 without a route or when closed
        if p not in legal or _closed(w, decisions[p]):
            return 0.0
        return _room(w, decisions[p], s.chips[p].vendor, p, country)

    # the last product it may buy takes the remainder as a backorder: found from the end, so the rooms of products
    # the order never reaches are not worked out
    rooms: dict[str, float] = {}
    last_orderable = None
    for p in reversed(ranked):
        rooms[p] = room_now(p)
        if rooms[p] >= 1:
            last_orderable = p
            break
    claimed = False  # whether a product of this order has claimed a cap's room yet (rooms above are then stale)
    for p in ranked:
        if remaining <= 0:
            break
        chip = s.chips[p]
        if domestic_only and chip.designer_country != lab.hq:
            continue
        verdict, hold_days = import_check(w, lid, p)
        if verdict != "ok":
            continue
        route = legal.get(p)
        decision = decisions[p]
        room = rooms.get(p)
        if room is None:
            room = room_now(p)  # worked out now, after what this order's earlier products claimed
        elif claimed and 1 <= room < math.inf:  # an earlier product of this order may have claimed the same cap's room
            room = room_now(p)
        if room < 1:  # no route, closed by a rule, or a cap with no room left this period
            key = (lid, reason, p)
            if not denied_once:
                new = remaining - w.denied_open.get(key, 0)
                if new > 0:
                    status = "denied" if route is None or decision.kind == "deny" else (
                        "futile" if _closed(w, decision) else "capped")
                    _record_denied_demand(w, lid, p, new, decision.rule, status, decision.kind)
                w.denied_open[key] = remaining
                denied_once = True
                if "grey" in strat.reroute and p in grey:
                    remaining -= _order_grey(w, lid, p, remaining, cast(str, grey[p].hub))  # a grey route's hub
            if "other_product" in strat.reroute:
                continue
            if "domestic" in strat.reroute:
                domestic_only = True
                continue
            break
        w.denied_open.pop((lid, reason, p), None)
        route = cast("Route", route)  # room >= 1: a legal route
        last = p == last_orderable
        qty = remaining if last else min(remaining, max(vendor_estimate(w, chip.vendor, p, strat.review_interval_days), 0))
        price = w.unit_price(p)
        qty = min(qty, affordable(w.budget_usd[lid], price), int(min(room, MAX_UNITS)))
        if qty <= 0:
            continue
        stockpile = False
        pending = w.compliance.pending_chip(p, country, lid, hq, route.channel, now)
        extra = 0
        if pending and strat.stockpile_factor > 1:
            extra = min(int(qty * (strat.stockpile_factor - 1)), affordable(w.budget_usd[lid] - qty * price, price),
                        int(min(room - qty, MAX_UNITS)))  # a stockpile is applied for within a cap's room too
            if extra > 0:
                stockpile = True
                for rid in pending:
                    w.rec.event(now, "stockpile", lid, f"{p} ahead of {rid}", extra)
        total = qty + max(extra, 0)
        w.budget_usd[lid] -= total * price
        order = Order(w.next_id(), lid, p, total, now, stockpile, route.channel, route.hub, price)
        submit(w, _claim(w, order, decision, country, room), hold_days)
        claimed = claimed or order.cap_key is not None
        remaining -= qty


def _room(w: Simulation, d, vendor: str, product: str, country: str) -> float:
    """Units the rule deciding *d* lets through to *country* now and not yet claimed: a cap's room left in its
    period less the units already ordered within it whose export check is still to come (the exporter knows
    its pending applications); unlimited without a cap."""
    if d.kind == "allow":
        return math.inf
    h = handler(d.kind)
    room = h.room(w, d, vendor, product, country)
    return room if room == math.inf else room - w.cap_claims[(d.rule, h.account(d, product, country))]


def _claim(w: Simulation, order: Order, d, country: str, room: float) -> Order:
    """Count *order* against the cap that limited it (when one did)."""
    if room != math.inf and d.rule is not None:
        order.cap_key = (d.rule, handler(d.kind).account(d, order.product, country))
        w.cap_claims[order.cap_key] += order.qty
    return order


def _release(w: Simulation, order: Order, qty: int) -> None:
    """*qty* of *order* has left the cap's claims (its export check concluded, or it was cancelled)."""
    if order.cap_key is not None:
        w.cap_claims[order.cap_key] -= qty


def _closed(w: Simulation, d) -> bool:
    """Whether a buyer treats a product as closed to it: denied, or a licence it cannot get (probability 0)."""
    if d.kind == "deny":
        return True
    return d.kind == "license" and w.param(f"licence/approval/{d.rule}", d.spec.approval_probability) <= 0


def affordable(budget_usd: float, price_usd: float) -> int:
    """Whole units a budget buys (unbounded for a free product)."""
    if price_usd <= 0:
        return MAX_UNITS
    units = budget_usd / price_usd
    return MAX_UNITS if not units < MAX_UNITS else max(int(units), 0)


def _record_denied_demand(w: Simulation, lid: str, product: str, qty: int, rule: str | None,
                          status: str = "denied", kind: str = "license") -> None:
    """Demand the rules turned away before any order (counted once while it stays open).

    ``status``: ``denied`` (a deny rule, or no route), ``futile`` (a licence that is never granted, so the buyer
    does not apply) or ``capped`` (a volume cap with no room left this period, so the buyer does not apply);
    ``kind``: the treatment that turned a futile or capped demand away.
    """
    chip = w.scenario.chips[product]
    treatment = ("deny" if rule else "no_route") if status == "denied" else kind
    w.rec.shipments.append(ShipmentRow(
        w.next_id(), product, "chip", float(qty), chip.vendor, lid, "sale", status, rule,
        treatment, w.env.now, None, None, w.unit_price(product), 0.0, chip.designer_country, False,
    ))


def _order_grey(w: Simulation, lid: str, product: str, denied: int, hub: str) -> int:
    """Send a share of denied demand through a hub's grey route; returns units ordered."""
    grey = _grey(w, hub)
    share = min(max(w.series(f"{hub}/grey_share", grey.share_of_denied).at(w.env.now), 0.0), 1.0)
    markup = w.param(f"grey/markup/{hub}", grey.markup)
    if markup > w.scenario.labs[lid].strategy.max_grey_premium:
        return 0
    price = w.unit_price(product) * (1 + markup)
    vendor = w.scenario.chips[product].vendor
    supply = max(vendor_estimate(w, vendor, product, w.scenario.labs[lid].strategy.review_interval_days), 0)
    qty = min(int(denied * share), supply)  # smugglers can only divert what the vendor makes
    qty = min(qty, affordable(w.budget_usd[lid], price))
    if qty <= 0:
        return 0
    w.budget_usd[lid] -= qty * price
    submit(w, Order(w.next_id(), lid, product, qty, w.env.now, False, "grey", hub, price))
    return qty


def run_cloud_purchases(w: Simulation, cid: str, chip: str, steps):
    """A cloud region's monthly purchase of one chip type (through the same rules)."""
    series = w.series(f"{cid}/purchases/{chip}", steps)
    whole = WholeUnits()
    release_day = w.release_day[chip]
    # the region's first chip's process cancels for all its chips (they wake together, in this order)
    cancels = chip == next(iter(w.scenario.clouds[cid].purchases_per_month))
    while True:
        if cancels:
            cancel_stale_orders(w, cid, MONTH_DAYS)
        qty = whole.take(series.at(w.env.now) if w.env.now >= release_day else 0.0)
        if qty > 0:
            d = _decide(w, chip, cid, "sale", w.env.now)
            if _closed(w, d):
                _record_denied_demand(w, cid, chip, qty, d.rule, "denied" if d.kind == "deny" else "futile")
            else:
                country = w.scenario.country_of(cid)
                room = _room(w, d, w.scenario.chips[chip].vendor, chip, country)
                take = int(min(max(room, 0), qty))
                if take < qty:  # a volume cap's room left this period: the rest is not applied for
                    _record_denied_demand(w, cid, chip, qty - take, d.rule, "capped", d.kind)
                if take > 0:
                    order = Order(w.next_id(), cid, chip, take, w.env.now, False, "sale", None, w.unit_price(chip))
                    submit(w, _claim(w, order, d, country, room))  # claimed only under a finite room
        yield w.env.timeout(MONTH_DAYS)


# ------------------------------------------------------------------------------------ allocation
def submit(w: Simulation, order: Order, hold_days: float = 0.0) -> None:
    """Hand an order to the vendor (after *hold_days*, e.g. a domestic import review); fcfs vendors serve at once."""
    w.pipeline[order.buyer][order.product] += order.qty
    if hold_days > 0:
        w.env.process(_submit_later(w, order, hold_days))
        return
    _queue(w, order)


def _submit_later(w: Simulation, order: Order, hold_days: float):
    yield w.env.timeout(hold_days)
    _queue(w, order)


def _queue(w: Simulation, order: Order) -> None:
    vendor = w.scenario.chips[order.product].vendor
    listed = w.backorders[vendor]
    listed.append(order)
    if len(listed) >= w.backorders_tidy_at[vendor]:  # filled orders leave (amortised: once per doubling)
        listed[:] = [o for o in listed if o.qty > 0]
        w.backorders_tidy_at[vendor] = 2 * len(listed) + 16
    w.orders_by_buyer[order.buyer][vendor].append(order)
    w.queues[vendor][order.product].append(order)
    w.backlog[vendor][order.product] += order.qty
    if _vendor(w, vendor).allocation_policy == "fcfs":
        allocate(w, vendor, order.product)


def run_allocation_rounds(w: Simulation, vendor: str):
    """A pro-rata vendor allocates its stock of every product each ``allocation_interval_days``."""
    interval = _vendor(w, vendor).allocation_interval_days
    while True:
        w.backorders[vendor] = open_orders = [o for o in w.backorders[vendor] if o.qty > 0]  # filled ones leave
        for product in sorted({o.product for o in open_orders}):
            allocate(w, vendor, product, round_=True)
        yield w.env.timeout(interval)


def allocate(w: Simulation, vendor: str, product: str, round_: bool = False) -> None:
    """Serve waiting orders for *product* from inventory: priority buyers first (each up to its share of
    the stock), then by the vendor's policy: first come first served (``fcfs``, at once) or in proportion
    to each buyer's open orders (``pro_rata``, at allocation rounds only)."""
    node = _vendor(w, vendor)
    if node.allocation_policy == "pro_rata" and not round_:
        return
    stock = w.inventory[vendor][product]
    queue = w.queues[vendor][product]
    orders = [o for o in queue if o.qty > 0]
    if len(orders) < len(queue):  # cancelled orders leave now, also when there is nothing to serve: a product
        queue[:] = orders  # without stock would otherwise keep every order ever cancelled, and scan it each round
    if stock <= 0 or not orders:
        return
    round_total = stock
    for pr in node.priority:
        quota = int(w.param(f"priority/{vendor}/{pr.buyer}", pr.share) * round_total)
        for o in orders:
            if quota <= 0 or w.inventory[vendor][product] <= 0:
                break
            if o.buyer == pr.buyer and o.qty > 0:
                k = min(o.qty, quota, w.inventory[vendor][product])
                quota -= k
                _fill(w, vendor, o, k)
    if node.allocation_policy == "pro_rata":
        wants: dict[str, int] = {}
        for o in orders:
            if o.qty > 0:
                wants[o.buyer] = wants.get(o.buyer, 0) + o.qty
        shares = pro_rata(w.inventory[vendor][product], wants)
        for o in orders:  # each buyer's share fills its oldest orders first
            k = min(o.qty, shares.get(o.buyer, 0))
            if k > 0:
                shares[o.buyer] -= k
                _fill(w, vendor, o, k)
    else:
        for o in orders:
            if w.inventory[vendor][product] <= 0:
                break
            if o.qty > 0:
                _fill(w, vendor, o, min(o.qty, w.inventory[vendor][product]))
    queue[:] = [o for o in queue if o.qty > 0]  # filled orders leave (the vendor's list is tidied at reviews)


def _fill(w: Simulation, vendor: str, order: Order, qty: int) -> None:
    if qty <= 0:
        return
    w.inventory[vendor][order.product] -= qty  # allocated: still in the vendor's warehouse until it ships
    order.qty -= qty
    w.backlog[vendor][order.product] -= qty
    w.env.process(ship(w, vendor, order, qty))


def _return_to_stock(w: Simulation, vendor: str, order: Order, qty: int) -> float:
    """A lot that may not ship goes back to the vendor's stock and the buyer is refunded (it pays on
    shipment, stated assumption); returns the refund."""
    w.pipeline[order.buyer][order.product] -= qty
    w.inventory[vendor][order.product] += qty
    w.stock_added[(vendor, order.product)] += qty
    refund = qty * order.unit_price_usd
    w.budget_usd[order.buyer] += refund
    allocate(w, vendor, order.product)
    return refund


def _refused(w: Simulation, vendor: str, order: Order, qty: int, status: str, rule: str | None) -> float:
    """A lot of *order* that an export check refused (denied, a licence refused, a cap's excess denied, stopped in
    transit): the refusal answers the whole order, so what is left of it is cancelled first, then the lot goes back
    to stock; returns the lot's refund.  The buyer re-plans at its next review.  (Left open, the order was
    allocated the returned stock again at the same instant and refused again, one lot at a time: a zero-time loop
    as long as the order, ``tests/data/fuzz_denied_order_reallocated.yaml``.)"""
    if order.qty > 0:
        _cancel(w, vendor, order, f"{order.product} from {vendor}: {status} by {rule}")
    return _return_to_stock(w, vendor, order, qty)


def _vendor(w: Simulation, vendor: str) -> Vendor:
    return cast("Vendor", w.scenario.nodes[vendor])  # orders are placed with vendor nodes only


def _grey(w: Simulation, hub: str) -> GreyChannel:
    return cast("Distributor", w.scenario.nodes[hub]).grey  # type: ignore[return-value]  # a hub on a grey route


# ---------------------------------------------------------------------------------------- shipping
def ship(w: Simulation, vendor: str, order: Order, qty: int, order_day: float | None = None, claimed: bool = True):
    """Export check, then shipping, then installation, for one allocated lot (*claimed*: the lot still counts
    against its order's cap claim until its export check concludes; a lot held for a next period does not)."""
    env = w.env
    s = w.scenario
    buyer = order.buyer
    p = order.product
    fee = 0.0
    status = "delivered"
    rule = None
    treatment = None
    value = order.unit_price_usd * qty
    order_day = order.order_day if order_day is None else order_day
    if order.route == "grey":
        hub = cast(str, order.hub)  # a grey order names its hub
        hub_lot = Lot(w.compliance.item(p), qty, s.country_of(hub), hub, s.country_of(hub), "reexport", order_day)
        d = w.compliance.decide(hub_lot, env.now)
        if d.kind == "deny":
            refund = _refused(w, vendor, order, qty, "denied", d.rule)
            _row(w, vendor, order, qty, "denied", d.rule, d.kind, None, None, 0.0, order_day, refund=refund)
            return
        status = "grey"
    else:
        comp = w.compliance
        country, hq = w.party(buyer)
        d = comp.decide_chip(p, country, buyer, hq, order.route, env.now, order_day)
        rechecked: set[str] = set()
        passed: set[str] = set()  # rules whose check this lot has passed (each is met at most once)
        entered = qty if claimed else 0
        while True:
            rule, treatment = d.rule, d.kind
            if d.kind == "allow":
                break
            checked_at = env.now
            out = yield from handler(d.kind).at_export(
                w, d, ExportLot(vendor, buyer, p, qty, value, s.country_of(buyer)))
            if out.status == "recheck":  # waited (notification): check again at the real export
                rechecked.add(cast(str, d.rule))  # a treatment other than allow names its rule
                d = comp.decide_chip(p, country, buyer, hq, order.route, env.now, order_day)
                if d.kind == "notify" and d.rule in rechecked:
                    break
                continue
            if out.status in ("denied", "refused"):
                _release(w, order, entered)
                refund = _refused(w, vendor, order, qty, out.status, rule)
                _row(w, vendor, order, qty, out.status, rule, treatment, None, None, 0.0, order_day, refund=refund)
                return
            if out.excess:
                if out.excess_action == "deny":
                    refund = _refused(w, vendor, order, out.excess, "denied", rule)
                    _row(w, vendor, order, out.excess, "denied", rule, treatment, None, None, 0.0, order_day, refund=refund)
                else:  # held in the vendor's warehouse for the next period
                    env.process(_requeue(w, vendor, order, out.excess, cast(str, rule), d.spec.period_days,
                                         order_day))
            qty = out.qty
            value = order.unit_price_usd * qty
            if qty <= 0:
                _release(w, order, entered)
                return
            fee += out.fee_usd
            if out.shipped_as != "delivered":
                status = out.shipped_as
            if env.now > checked_at:  # the check took time (a licence or certification review): a rule that came
                # into force meanwhile applies to the lot too, as it would to any lot not yet exported
                passed.add(cast(str, d.rule))
                later = comp.decide_chip(p, country, buyer, hq, order.route, env.now, order_day)
                if later.kind != "allow" and later.rule not in passed and later.rule not in rechecked:
                    d = later
                    continue
            break
        _release(w, order, entered)  # the export check concluded: the lot ships
    ship_day = env.now
    w.ledger.in_inventory -= qty
    w.ledger.in_transit += qty
    lot_id = w.next_id()
    w.open_lots[lot_id] = (vendor, order, qty, rule, treatment, ship_day, fee, order_day)
    via = order.hub
    if via:  # a grey order or a re-export through a hub
        grey = _grey(w, via) if order.route == "grey" else None
        lead = w.lead_time(vendor, via) + w.lead_time(via, buyer)
        if grey is not None:
            lead += w.param(f"grey/delay/{via}", grey.extra_delay_days)
    else:
        lead = w.lead_time(vendor, buyer)
    yield env.timeout(lead)
    if order.route == "grey":
        via = cast(str, via)  # a grey order names its hub
        p_seize = w.series(f"{via}/seizure", _grey(w, via).seizure_probability).at(env.now)
        if w.rng.random(f"grey/seizure/{via}") < p_seize:
            del w.open_lots[lot_id]
            w.ledger.in_transit -= qty
            w.ledger.seized += qty
            w.pipeline[buyer][p] -= qty
            _row(w, vendor, order, qty, "seized", None, None, ship_day, None, 0.0, order_day, lot_id)
            return
    if order.route != "grey":
        stopper = _stopped_in_transit(w, p, buyer, order.route, order_day, ship_day)
        if stopper is not None:  # a rule without the in-transit exemption came into force while the lot travelled
            del w.open_lots[lot_id]
            w.ledger.in_transit -= qty
            w.ledger.in_inventory += qty
            refund = _refused(w, vendor, order, qty, "denied", stopper)
            _row(w, vendor, order, qty, "denied", stopper, "deny", ship_day, None, 0.0, order_day, lot_id, refund=refund)
            w.rec.event(env.now, "stopped_in_transit", buyer, f"{p} by {stopper}", qty)
            return
    del w.open_lots[lot_id]
    deliver_day = env.now
    w.pipeline[buyer][p] -= qty
    _row(w, vendor, order, qty, status, rule, treatment, ship_day, deliver_day, fee, order_day, lot_id)
    owner = s.labs.get(buyer) or s.clouds[buyer]
    yield env.timeout(w.sample(f"install/{buyer}", owner.install_delay_days))
    w.ledger.in_transit -= qty
    fleet_mod.install(w, buyer, p, qty, grey=status == "grey")


def _stopped_in_transit(w: Simulation, product: str, buyer: str, channel: str, order_day: float,
                        ship_day: float) -> str | None:
    """The deny rule that stops a lot at arrival: in force now, not yet when it shipped, and without the
    ``exemptions.in_transit`` clause (lots already shipped arrive under rules that have it)."""
    d = _decide(w, product, buyer, channel, order_day)
    if d.kind != "deny":
        return None
    rule = w.scenario.rules[d.rule]
    if rule.exemptions.in_transit or w.compliance.rule_in_force(d.rule, ship_day):
        return None
    return d.rule


def _requeue(w: Simulation, vendor: str, order: Order, qty: int, rule: str, period_days: float, order_day: float):
    """A cap's excess held for the next period: it tries again when that period has begun.  The wake time is
    the first instant the cap counts as the next period (``cap_period``): the boundary worked out in floating point
    can fall a hair inside the current one, and the lot then woke at once, in the same period, and was held again,
    for ever (a 1-day period from day 16: a generated world found by the fuzz tests, hypothesis seed 107)."""
    now = w.env.now
    start = w.compliance.enforced_from(rule)
    current = cap_period(w, rule, period_days, now)
    wake = max(start + (current + 1) * period_days, now)
    while cap_period(w, rule, period_days, now + (wake - now)) <= current:  # now + (wake - now): the clock SimPy shows
        wake = math.nextafter(wake, math.inf)  # a few steps of one ulp at most
    yield w.env.timeout(wake - now)
    yield from ship(w, vendor, order, qty, order_day, claimed=False)


def _row(w, vendor, order, qty, status, rule, treatment, ship_day, deliver_day, fee, order_day, lot_id=None,
         refund=0.0):
    origin = w.scenario.chips[order.product].designer_country
    w.rec.shipments.append(ShipmentRow(
        lot_id or w.next_id(), order.product, "chip", float(qty), vendor, order.buyer, order.route, status, rule,
        treatment, order_day, ship_day, deliver_day, order.unit_price_usd, fee, origin, order.stockpile, refund,
    ))


def finish(w: Simulation) -> None:
    """Lots still moving at the horizon are recorded as in transit."""
    for lot_id, (vendor, order, qty, rule, treatment, ship_day, fee, order_day) in sorted(w.open_lots.items()):
        _row(w, vendor, order, qty, "in_transit", rule, treatment, ship_day, None, fee, order_day, lot_id)
