"""The engine's running indexes agree with what they index, on generated worlds and the flagship.

``World.backlog[vendor][product]`` is kept with every change to an open order (queued, filled, cancelled) so
supply estimates and snapshots need not scan the order lists; it must equal the sum over the lists at any time.
``World.queues[vendor][product]`` holds the same open orders per product, in arrival order, for allocation, and
``World.orders_by_buyer[buyer][vendor]`` per buyer, for the buyer's review of its stale orders.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings

from sim import load_scenario, scenario_from_dict
from sim.engine.mechanisms import fleet
from sim.engine.simulation import World
from tests.fuzz.conftest import scenarios

ROOT = Path(__file__).resolve().parents[2]


def _check(w: World) -> None:
    for vendor in set(w.backorders) | set(w.backlog):
        scanned: dict[str, int] = {}
        for o in w.backorders[vendor]:
            scanned[o.product] = scanned.get(o.product, 0) + o.qty
        kept = {p: q for p, q in w.backlog[vendor].items() if q}
        assert kept == {p: q for p, q in scanned.items() if q}, vendor
        for product, queue in w.queues[vendor].items():  # each product's queue: its open orders, in order
            assert [o for o in queue if o.qty > 0] == [o for o in w.backorders[vendor]
                                                      if o.product == product and o.qty > 0], (vendor, product)
        buyers = {o.buyer for o in w.backorders[vendor]} | {b for b, by in w.orders_by_buyer.items() if vendor in by}
        for buyer in buyers:  # each buyer's orders at the vendor: its open orders, in order
            assert [o for o in w.orders_by_buyer[buyer][vendor] if o.qty > 0] == [
                o for o in w.backorders[vendor] if o.buyer == buyer and o.qty > 0], (vendor, buyer)


def _run_checked(s, seed, monkeypatch) -> World:
    real = fleet.snapshot

    def checked(w):
        _check(w)
        real(w)

    monkeypatch.setattr(fleet, "snapshot", checked)
    w = World(s, seed).run()
    _check(w)
    return w


def test_backlog_index_on_the_flagship(monkeypatch):
    _run_checked(load_scenario(ROOT / "scenarios/bytedance_ascend.yaml"), 3, monkeypatch)


@settings(deadline=None, max_examples=60)
@given(scenarios())
def test_backlog_index_on_generated_worlds(world):
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        _run_checked(scenario_from_dict(world), 1, mp)


def test_an_allocation_leaves_no_cancelled_order_in_its_queue(monkeypatch):
    """After every allocation, served or not, the product's queue holds open orders only: a product without stock
    once kept every order ever cancelled against it (Huawei's 910B queue: 1,186 entries, 17 open, after a 30-year
    run), and each round scanned them all, a cost per round growing with the run's length."""
    from sim.engine.mechanisms import orders, supply

    real = orders.allocate
    calls = [0]

    def checked(w, vendor, product, round_=False):
        real(w, vendor, product, round_)
        node = w.scenario.nodes[vendor]
        if node.allocation_policy == "fcfs" or round_:
            calls[0] += 1
            assert all(o.qty > 0 for o in w.queues[vendor][product]), (vendor, product, w.env.now)

    monkeypatch.setattr(orders, "allocate", checked)
    monkeypatch.setattr(supply, "allocate", checked)  # stock arriving allocates too (supply imports it by name)
    World(load_scenario(ROOT / "scenarios/bytedance_ascend.yaml"), 3).run()
    assert calls[0] > 100
