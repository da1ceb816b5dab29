"""World(scenario, seed): the SimPy environment, the world's state, and the run loop.

``sim.results.simulation.Simulation`` is the public face: it runs a World and turns its records into a
RunResult, so the engine never imports the layers above it.  The world holds counts, not objects per chip: vendor inventories, packagers' die and HBM stocks,
installed fleets as cohorts ``[install_day, units]`` per owner and product, and a ledger of where every
chip is.  Processes (``sim.engine.mechanisms.*``) act on it and append rows to the :class:`Recorder`;
:mod:`sim.results.metrics` turns rows into tables and KPIs once, at the end.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import simpy

from sim.engine.compliance import Compliance
from sim.engine.mechanisms import cloud, fleet, inference, orders, supply, training
from sim.engine.records import LedgerRow, Recorder
from sim.engine.rng import Streams
from sim.engine.state import FleetLine, Ledger, Order
from sim.scenario.canonical import canonical
from sim.scenario.quantities import UNIFORM_KINDS, ResolvedSeries, draw, from_uniform
from sim.schema import Scenario, peak_flops


class World:
    """One run of one scenario with one seed.

    *scenario* is a validated :class:`Scenario`; *seed* defaults to the scenario's own.
    ``run()`` returns a :class:`~sim.results.result.RunResult`.
    """

    def __init__(self, scenario: Scenario, seed: int | None = None, *, run_id: str | None = None):
        scenario = canonical(scenario)  # results never depend on the order ids were written in
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else int(seed)
        self.run_id = run_id or f"{scenario.name}:{self.seed}"
        self.env = simpy.Environment()
        self.rng = Streams(self.seed)
        self.rec = Recorder()
        self.compliance = Compliance(scenario)
        self.ledger = Ledger()
        self.horizon_days = scenario.horizon_days
        self._ids = 0
        # state
        self.inventory: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        # units put into a vendor's stock (made, or returned by a lot that did not ship) since the last check of
        # its unsold stock, by (vendor, product): what is older and still there leaves (supply.run_unsold)
        self.stock_added: dict[tuple[str, str], int] = defaultdict(int)
        self.dies: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.hbm: dict[str, int] = defaultdict(int)
        self.dies_coming: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # dies on their way
        self.fleet: dict[str, dict[str, FleetLine]] = defaultdict(lambda: defaultdict(FleetLine))
        self.backorders: dict[str, list[Order]] = defaultdict(list)
        # a vendor's list is tidied of filled orders when it reaches this length (twice its open orders at the
        # last tidy): an fcfs vendor has no allocation round to tidy it, and kept every order it ever filled
        self.backorders_tidy_at: dict[str, int] = defaultdict(int)
        # the same orders by buyer and vendor, in arrival order (a lab's review reads its own, not every buyer's)
        self.orders_by_buyer: dict[str, dict[str, list[Order]]] = defaultdict(lambda: defaultdict(list))
        # units on open orders by vendor and product: the sum of backorders' qty, kept with every change to it
        self.backlog: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        # the same open orders by vendor and product, in arrival order (allocation reads one product's queue)
        self.queues: dict[str, dict[str, list[Order]]] = defaultdict(lambda: defaultdict(list))
        self.pipeline: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.supply_rate: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.cap_used: dict[tuple, float] = defaultdict(float)
        # units ordered within a volume cap whose export check has not concluded, by (rule, cap account)
        self.cap_claims: dict[tuple[str, str], int] = defaultdict(int)
        self.budget_usd: dict[str, float] = defaultdict(float)
        self.fleet_changed: dict[str, simpy.Event] = {}
        self.pools: dict[tuple[str, str], cloud.RentalPool] = {}
        self.params: dict[str, float] = {}
        self._series: dict[str, ResolvedSeries] = {}
        self._prices: dict[str, float] = {}  # product -> this run's list price (the param draw, looked up often)
        self._peaks: dict[tuple[str, str], float] = {}  # (product, precision) -> FLOP/s: a pure function, looked up often
        self._parties: dict[str, tuple[str, str]] = {}  # buyer -> (country, headquarters)
        self._peak_tables: dict[str, dict[str, float]] = {}  # precision -> {product: FLOP/s}
        self._lead: dict[tuple[str, str], tuple[str, object]] = {}  # (from, to) -> (stream name, lead-time dist)
        self.release_day: dict[str, float] = {c: scenario.day_of(spec.release) for c, spec in scenario.chips.items()}
        self.memo: dict[tuple, Any] = {}  # per-run values that depend on the scenario and run draws only
        self.edges_by_pair = {(e.from_, e.to): (eid, e) for eid, e in scenario.edges.items()}
        self._edges_into: dict[str, dict[str, tuple]] = defaultdict(dict)  # to -> {from: (edge id, EdgeSpec)}
        for (a, b), found in self.edges_by_pair.items():
            self._edges_into[b][a] = found
        self._chips_of: dict[str, list[str]] = defaultdict(list)  # vendor -> its products, in the scenario's order
        for c, spec in scenario.chips.items():
            self._chips_of[spec.vendor].append(c)
        self.chip_rank = {c: i for i, c in enumerate(scenario.chips)}  # product -> its place in the scenario
        self.distributors = [nid for nid, n in scenario.nodes.items() if n.kind == "distributor"]
        # bookkeeping of the processes (orders, cloud, training), declared here so the world's state is in one place
        self.routes: dict[str, tuple[dict, dict]] = {}  # buyer -> (legal routes, grey routes) by product
        self.open_lots: dict[int, tuple] = {}  # lots shipped and not yet delivered
        self.denied_open: dict[tuple, int] = {}  # (lab, reason, product) -> denied demand already counted
        self.import_noted: set[tuple] = set()  # import bars already recorded
        # (buyer, product, rule) -> (review period, verdict): only the current period's review is kept (a buyer
        # re-applies each period, so an older verdict is never read again)
        self.import_reviews: dict[tuple, tuple[int, tuple[str, float]]] = {}
        self.rental_seq = 0
        self.open_rentals: dict[int, tuple] = {}  # id(request) -> (region, chip, request)
        self.jobs_started: set[tuple[str, str]] = set()
        self.job_states: dict[tuple[str, str], training.JobState] = {}
        self._ran = False

    # ------------------------------------------------------------------ helpers used by processes
    def next_id(self) -> int:
        """A fresh integer id (lots, orders)."""
        self._ids += 1
        return self._ids

    def series(self, key: str, steps) -> ResolvedSeries:
        """The run's resolution of a series (step values drawn once per run from stream ``param/<key>``)."""
        s = self._series.get(key)
        if s is None:
            s = self._series[key] = ResolvedSeries.resolve(steps, self.scenario.start, self.rng(f"param/{key}"))
        return s

    def param(self, key: str, dist) -> float:
        """A per-run draw of an uncertain parameter (stream ``param/<key>``), cached."""
        v = self.params.get(key)
        if v is None:
            v = self.params[key] = draw(dist, self.rng(f"param/{key}"))
        return v

    def sample(self, stream: str, dist) -> float:
        """A fresh draw per event from stream *stream* (uniform and triangular ones from the stream's block of
        uniforms: the same values, see :meth:`Streams.random`)."""
        if type(dist) in UNIFORM_KINDS and dist.high > dist.low:
            return from_uniform(dist, self.rng.random(stream))  # type: ignore[return-value]
        return draw(dist, self.rng(stream))

    def unit_price(self, product: str) -> float:
        """List price of a chip for this run (drawn once)."""
        v = self._prices.get(product)
        if v is None:
            v = self._prices[product] = self.param(f"price/{product}", self.scenario.chips[product].price_usd)
        return v

    def peak(self, product: str, precision: str = "bf16") -> float:
        """Dense peak FLOP/s of one chip at *precision*."""
        v = self._peaks.get((product, precision))
        if v is None:
            v = self._peaks[(product, precision)] = peak_flops(self.scenario.chips[product], precision)
        return v

    def peaks_at(self, precision: str = "bf16") -> dict[str, float]:
        """Dense peak FLOP/s of every chip at *precision* (one dict per precision, for loops over chips)."""
        found = self._peak_tables.get(precision)
        if found is None:
            found = self._peak_tables[precision] = {c: self.peak(c, precision) for c in self.scenario.chips}
        return found

    def party(self, buyer: str) -> tuple[str, str]:
        """(country, headquarters country) of a buyer: a lab, a cloud region or a supply node."""
        found = self._parties.get(buyer)
        if found is None:
            s = self.scenario
            hq = s.labs[buyer].hq if buyer in s.labs else s.clouds[buyer].hq if buyer in s.clouds else s.country_of(buyer)
            found = self._parties[buyer] = (s.country_of(buyer), hq)
        return found

    def signal_fleet(self, owner: str) -> None:
        """Wake whatever waits for *owner*'s fleet to change (nothing is scheduled when nobody waits)."""
        ev = self.fleet_changed.get(owner)
        if ev is not None and not ev.triggered and ev.callbacks:
            ev.succeed()
            del self.fleet_changed[owner]

    def fleet_event(self, owner: str) -> simpy.Event:
        """An event that fires the next time *owner*'s fleet changes."""
        if owner not in self.fleet_changed or self.fleet_changed[owner].triggered:
            self.fleet_changed[owner] = self.env.event()
        return self.fleet_changed[owner]

    def edge(self, a: str, b: str):
        """(edge id, EdgeSpec) from *a* to *b*, or None."""
        return self.edges_by_pair.get((a, b))

    def edges_into(self, b: str) -> dict[str, tuple]:
        """{from: (edge id, EdgeSpec)} for the edges into *b* (empty when there are none)."""
        return self._edges_into.get(b, {})

    def chips_of(self, vendor: str) -> list[str]:
        """The products *vendor* sells, in the scenario's order."""
        return self._chips_of.get(vendor, [])

    def lead_time(self, a: str, b: str) -> float:
        """A lead-time draw on the edge a->b (0 when there is no edge)."""
        found = self._lead.get((a, b))
        if found is None:
            edge = self.edge(a, b)
            found = self._lead[(a, b)] = (f"leadtime/{edge[0]}", edge[1].lead_time_days) if edge else ("", None)
        stream, dist = found
        return 0.0 if dist is None else self.sample(stream, dist)

    def record_ledger(self) -> None:
        """Append a ledger row (the conservation account) for now."""
        lg = self.ledger
        self.rec.ledger.append(LedgerRow(
            self.env.now, lg.produced, lg.in_inventory, lg.in_transit, lg.installed, lg.seized, lg.retired,
            lg.failed, sum(sum(d.values()) for d in self.dies.values()), sum(self.hbm.values()), lg.sold_elsewhere,
        ))

    # ------------------------------------------------------------------ the run
    def run(self, progress=None) -> World:
        """Run to the horizon; returns the finished world (its ``rec`` holds the rows).  *progress*, if given, is
        called with (day, horizon)."""
        if self._ran:
            raise RuntimeError("a Simulation runs once; make a new one for another run")
        self._ran = True
        env = self.env
        fleet.start(self)
        supply.start(self)
        cloud.start(self)
        orders.start(self)
        inference.start(self)
        training.start(self)
        if progress is not None:
            env.process(_report_progress(env, self.horizon_days, progress))
        env.run(until=self.horizon_days)
        training.finish(self)
        cloud.finish(self)
        orders.finish(self)
        self.record_ledger()
        _release(env)
        return self

    @property
    def events_processed(self) -> int:
        """Events scheduled so far (SimPy's event counter)."""
        return next(self.env._eid) - 1 if hasattr(self.env, "_eid") else 0


def _release(env: simpy.Environment) -> None:
    """Close the processes still waiting at the horizon and empty the event queue (a World runs once).

    Every process that outlives the run (a review loop, a supply line, a job waiting on its next segment) is a
    generator suspended on a queued event, and each such pair is a reference cycle: the event's callbacks hold the
    process, the process holds the event, and the generator's frame holds the world.  Left so, a dropped World
    is freed only by the collector's oldest generation, which first scans every object of every dead world
    waiting for it: in a calibration process (default collector settings), 46 full collections took 9.2 s of
    36 s CPU.  Closed here, no cycle holds the world, and dropping the last reference frees it at once.  No engine
    process has a ``finally``, a ``with`` or an ``except`` that catches GeneratorExit, so closing one runs no model
    code (``tests/engine/test_release.py`` checks that in the source).  SimPy keeps no list of processes: the
    queued events' callbacks (and those of the conditions they feed) are where the waiting ones are found.
    """
    waiting = [event for *_key, event in env._queue]  # (time, priority, id, event)
    while waiting:
        callbacks = waiting.pop().callbacks
        if not callbacks:
            continue
        for cb in callbacks:
            owner = getattr(cb, "__self__", None)
            if isinstance(owner, simpy.Process):
                if owner.is_alive:
                    owner._generator.close()  # the process's own generator
            elif isinstance(owner, simpy.events.Condition):  # an AllOf / AnyOf a process may wait on
                waiting.append(owner)
        callbacks.clear()
    env._queue.clear()


def _report_progress(env: simpy.Environment, horizon: float, progress):
    step = max(horizon / 50, 1.0)
    while True:
        progress(env.now, horizon)
        yield env.timeout(step)


__all__ = ["World", "canonical"]
