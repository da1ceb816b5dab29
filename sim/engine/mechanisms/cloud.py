"""Cloud regions: rentable fleets, tenant queues, prices, and remote-access rules.

Mechanism: each region (azure-my, oracle-us, volcano-cn, ...) rents its installed fleet of each chip
type by the GPU-hour at a price that follows a series (H100 about $8-12 in 2023 falling to $2-4 by
2025-26, facts d3).  Its fleet grows through its own purchases, which pass the same export checks as
any buyer's (see ``orders.run_cloud_purchases``).  A tenant asks for N GPUs of a type; when the pool is
short, requests wait in a queue ordered by the region's discipline (``fifo``: strict arrival order,
head-of-line blocking; ``largest_first`` / ``smallest_first``: by size, arrival order within a size).
Before a request joins the queue it is checked against remote-access rules (channel ``remote``, the
tenant's headquarters as the buyer's; e.g. the House-passed Remote Access Security Act, E19): deny ->
refused; licence -> review delay and approval draw.

Background tenants (``rental_streams``) arrive as a Poisson stream with exponential rental lengths,
which makes a region an M/M/c queue when they ask for one GPU each.

Records: ``rentals`` (tenant, region, chip, GPUs, request/start/end day, wait, cost, status, rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import simpy

from sim.engine.compliance import Lot
from sim.engine.records import RentalRow
from sim.engine.treatments import handler
from sim.units import HOURS_PER_DAY

if TYPE_CHECKING:
    from sim.engine.simulation import World as Simulation


@dataclass
class Request:
    """A tenant's request for GPUs, waiting or served."""

    seq: int
    tenant: str
    gpus: int
    request_day: float
    granted: simpy.Event
    start_day: float | None = None
    rule: str | None = None
    cancelled: bool = False


@dataclass
class RentalPool:
    """The rentable GPUs of one chip type in one region, with a waiting line."""

    region: str
    chip: str
    discipline: str
    in_use: int = 0
    queue: list[Request] = field(default_factory=list)
    by_tenant: dict[str, int] = field(default_factory=dict)  # GPUs in use per tenant

    def capacity(self, w: Simulation) -> int:
        """Units installed in the region now."""
        line = w.fleet[self.region].get(self.chip)
        return line.units if line else 0

    def tenant_cap(self, w: Simulation, tenant: str) -> int:
        """GPUs *tenant* may hold at once: its share of the region (``tenant_share``), else the whole region."""
        share = w.scenario.clouds[self.region].tenant_share.get(tenant)
        if share is None:
            return self.capacity(w)
        return int(w.param(f"tenant_share/{self.region}/{tenant}", share) * self.capacity(w))

    def available_to(self, w: Simulation, tenant: str) -> int:
        """GPUs *tenant* could be granted now: free capacity within its share."""
        free = self.capacity(w) - self.in_use
        return max(min(free, self.tenant_cap(w, tenant) - self.by_tenant.get(tenant, 0)), 0)

    def serve(self, w: Simulation) -> None:
        """Grant waiting requests that fit, in the region's queue order."""
        self.queue = [r for r in self.queue if not r.cancelled]
        if self.discipline == "fifo":
            order = self.queue
        elif self.discipline == "largest_first":
            order = sorted(self.queue, key=lambda r: (-r.gpus, r.seq))
        else:
            order = sorted(self.queue, key=lambda r: (r.gpus, r.seq))
        free = self.capacity(w) - self.in_use
        granted = []
        for r in order:
            if r.gpus <= free and self.by_tenant.get(r.tenant, 0) + r.gpus <= self.tenant_cap(w, r.tenant):
                free -= r.gpus
                self.in_use += r.gpus
                self.by_tenant[r.tenant] = self.by_tenant.get(r.tenant, 0) + r.gpus
                r.start_day = w.env.now
                granted.append(r)
                r.granted.succeed(r)
            elif self.discipline == "fifo":
                break  # strict arrival order: nobody overtakes the head of the line
        if granted:
            self.queue = [r for r in self.queue if r not in granted]
        line = w.fleet[self.region].get(self.chip)
        if line is not None:
            line.training = min(self.in_use, line.units)  # rented GPUs count as busy in snapshots

    def release(self, w: Simulation, gpus: int, tenant: str) -> None:
        """Return GPUs to the pool and serve the queue."""
        self.in_use -= gpus
        self.by_tenant[tenant] = self.by_tenant.get(tenant, 0) - gpus
        self.serve(w)


def start(w: Simulation) -> None:
    """Create a pool per region and chip; start background tenant streams."""
    s = w.scenario
    for cid, cloud in s.clouds.items():
        chips = set(cloud.initial_fleet) | set(cloud.purchases_per_month) | set(cloud.price_usd_per_gpu_hour)
        for chip in sorted(chips):
            w.pools[(cid, chip)] = RentalPool(cid, chip, cloud.queue_discipline)
    for sid in s.rental_streams:
        w.env.process(run_rental_stream(w, sid))


def grew(w: Simulation, cid: str, chip: str) -> None:
    """New GPUs installed in a region: serve its queue."""
    pool = w.pools.get((cid, chip))
    if pool is not None:
        pool.serve(w)


def price_per_gpu_hour(w: Simulation, region: str, chip: str):
    """The region's price series for *chip* (a ResolvedSeries), or None when it does not rent it."""
    steps = w.scenario.clouds[region].price_usd_per_gpu_hour.get(chip)
    return None if steps is None else w.series(f"{region}/price/{chip}", steps)


def rental_cost(w: Simulation, region: str, chip: str, gpus: int, t0: float, t1: float) -> float:
    """GPU-hours x the price in force over [t0, t1]."""
    series = price_per_gpu_hour(w, region, chip)
    return 0.0 if series is None else gpus * HOURS_PER_DAY * series.integrate(t0, t1)


def _remote_rule(w: Simulation, tenant: str, tenant_hq: str, region: str, chip: str, gpus: int):
    """The remote-access treatment for renting *gpus* of *chip* in *region* now."""
    s = w.scenario
    lot = Lot(w.compliance.item(chip), gpus, s.clouds[region].country, tenant, tenant_hq, "remote", w.env.now)
    return w.compliance.decide(lot, w.env.now)


def remote_check(w: Simulation, tenant: str, tenant_hq: str, region: str, chip: str, gpus: int):
    """Process: apply remote-access rules to a new rental; returns (allowed, rule)."""
    d = _remote_rule(w, tenant, tenant_hq, region, chip, gpus)
    if d.kind == "allow":
        return True, None
    ok = yield from handler(d.kind).at_remote(w, d, tenant, True)
    return ok, d.rule


def remote_decision(w: Simulation, tenant: str, tenant_hq: str, region: str, chip: str, gpus: int,
                    approved: str | None = None):
    """(allowed, rule) for renewing a rental now (decided at once: any review ran while the contract was live).

    A renewal under the rule that already approved the contract (*approved*) passes: the provider's review or
    certification is not repeated each block; a rule that has come into force since is applied.
    """
    d = _remote_rule(w, tenant, tenant_hq, region, chip, gpus)
    if d.kind == "allow":
        return True, None
    if approved is not None and d.rule == approved and d.kind != "deny":
        return True, d.rule
    gen = handler(d.kind).at_remote(w, d, tenant, False)
    try:
        next(gen)
    except StopIteration as stop:
        return stop.value, d.rule
    raise RuntimeError(f"the {d.kind} handler waits at a renewal")


def request(w: Simulation, tenant: str, region: str, chip: str, gpus: int) -> Request:
    """Join the region's queue for *gpus* of *chip*; ``granted`` fires when they are yours."""
    pool = w.pools[(region, chip)]
    w.rental_seq += 1
    r = Request(w.rental_seq, tenant, gpus, w.env.now, w.env.event())
    pool.queue.append(r)
    pool.serve(w)
    return r


def cancel(w: Simulation, region: str, chip: str, r: Request) -> None:
    """Leave the queue (a request not yet granted)."""
    r.cancelled = True
    w.pools[(region, chip)].serve(w)


def end(w: Simulation, region: str, chip: str, r: Request, record: bool = True) -> float:
    """Release a granted request's GPUs; records the rental and returns its cost."""
    now = w.env.now
    assert r.start_day is not None, "only a granted request ends"
    cost = rental_cost(w, region, chip, r.gpus, r.start_day, now)
    w.pools[(region, chip)].release(w, r.gpus, r.tenant)
    if record:
        w.rec.rentals.append(RentalRow(
            r.tenant, region, chip, r.gpus, r.request_day, r.start_day, now, r.start_day - r.request_day,
            cost, "served", r.rule,
        ))
    return cost


def refused(w: Simulation, tenant: str, region: str, chip: str, gpus: int, rule: str | None) -> None:
    """Record a rental refused by a remote-access rule."""
    now = w.env.now
    w.rec.rentals.append(RentalRow(tenant, region, chip, gpus, now, None, None, None, 0.0, "refused", rule))


def run_rental_stream(w: Simulation, sid: str):
    """Poisson arrivals of background tenants with exponential rental lengths."""
    st = w.scenario.rental_streams[sid]
    arrivals = w.rng(f"rental/arrivals/{sid}")
    while True:
        yield w.env.timeout(arrivals.exponential(1.0 / st.arrivals_per_day))
        w.env.process(_background_tenant(w, sid))


def _background_tenant(w: Simulation, sid: str):
    st = w.scenario.rental_streams[sid]
    duration = w.rng(f"rental/durations/{sid}").exponential(st.mean_duration_days)
    tenant = f"{sid}"
    ok, rule = yield from remote_check(w, tenant, st.tenant_hq, st.cloud, st.chip, st.gpus)
    if not ok:
        refused(w, tenant, st.cloud, st.chip, st.gpus, rule)
        return
    r = request(w, tenant, st.cloud, st.chip, st.gpus)
    r.rule = rule
    w.open_rentals[r.seq] = (st.cloud, st.chip, r)
    yield r.granted
    yield w.env.timeout(duration)
    del w.open_rentals[r.seq]
    end(w, st.cloud, st.chip, r)


def finish(w: Simulation) -> None:
    """Rentals open at the horizon: served ones are costed to the horizon; waiting ones recorded as waiting."""
    now = w.env.now
    for cloud, chip, r in list(w.open_rentals.values()):
        if r.start_day is not None:
            cost = rental_cost(w, cloud, chip, r.gpus, r.start_day, now)
            w.rec.rentals.append(RentalRow(r.tenant, cloud, chip, r.gpus, r.request_day, r.start_day, None,
                                           r.start_day - r.request_day, cost, "served", r.rule))
        else:
            w.rec.rentals.append(RentalRow(r.tenant, cloud, chip, r.gpus, r.request_day, None, None, None, 0.0,
                                           "waiting", r.rule))
