"""A buyer's routes to the products of the network, and the products it can get at all.

A product reaches a buyer by a sale or re-export edge from its vendor (or from a hub the vendor sells to), or
by a hub's grey channel; a lab can also rent it in a cloud region it may rent from, or hold it from the start.
The sets are fixed for a run (the network does not change), so each is worked out once per buyer from the
buyer's own neighbourhood: reading them costs nothing that grows with the rest of the world.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.engine.simulation import World as Simulation


@dataclass
class Route:
    """How a product reaches a buyer."""

    channel: str  # sale | reexport | grey
    hub: str | None = None


def routes(w: Simulation, buyer: str) -> tuple[dict[str, Route], dict[str, Route]]:
    """(legal routes, grey routes) by product for *buyer*, from the edges of the network.

    Only the edges into *buyer* and into the hubs that sell to it are read (the buyer's own neighbourhood), so
    working out every buyer's routes grows with the network, not with its cube; products and hubs are visited
    in the scenario's order, as a scan of every product and hub would."""
    if buyer in w.routes:
        return w.routes[buyer]
    s = w.scenario
    legal: dict[str, Route] = {}
    grey: dict[str, Route] = {}
    into_buyer = w.edges_into(buyer)
    # the hubs with an edge to the buyer, and whether each runs a grey channel
    hubs = [(hid, getattr(s.nodes[hid], "grey", None) is not None) for hid in w.distributors if hid in into_buyer]
    vendors = set(into_buyer)
    for hid, _grey in hubs:
        vendors.update(w.edges_into(hid))
    order = w.chip_rank
    for pid in sorted((c for v in vendors for c in w.chips_of(v)), key=order.__getitem__):
        v = s.chips[pid].vendor
        found = into_buyer.get(v)
        if found and found[1].flow == "chips" and found[1].channel in ("direct", "reexport"):
            legal[pid] = Route("sale" if found[1].channel == "direct" else "reexport")
        for hid, has_grey in hubs:
            into = w.edge(v, hid)
            out = into_buyer[hid]
            if not into or out[1].flow != "chips":
                continue
            if out[1].channel == "grey" and has_grey:
                grey.setdefault(pid, Route("grey", hid))
            elif out[1].channel in ("direct", "reexport") and pid not in legal:
                legal[pid] = Route("reexport", hid)
    w.routes[buyer] = (legal, grey)
    return legal, grey


def purchasable(w: Simulation, buyer: str) -> list[str]:
    """The products *buyer* has a route to (legal or grey), sorted by id: what any order of it can name."""
    key = ("purchasable", buyer)
    found = w.memo.get(key)
    if found is None:
        legal, grey = routes(w, buyer)
        found = w.memo[key] = sorted({*legal, *grey})
    return found


def holdable(w: Simulation, lid: str) -> set[str]:
    """The products lab *lid* can have in its fleet: bought (legal or grey) or held from the start."""
    key = ("holdable", lid)
    found = w.memo.get(key)
    if found is None:
        found = w.memo[key] = set(purchasable(w, lid)) | set(w.scenario.labs[lid].initial_fleet)
    return found


def obtainable(w: Simulation, lid: str, regions: list[str]) -> set[str]:
    """The products lab *lid* can get at all: bought (legal or grey), held from the start, or rented in a cloud
    region it may rent from (*regions* if given, else the regions with a rental edge to it)."""
    key = ("obtainable", lid, *regions)
    found = w.memo.get(key)
    if found is None:
        found = set(holdable(w, lid))
        by_region = _pool_chips(w)
        if not regions:
            regions = [r for r, e in w.edges_into(lid).items() if e[1].flow == "rental"]
        for region in regions:
            found.update(by_region.get(region, ()))
        w.memo[key] = found
    return found


def _pool_chips(w: Simulation) -> dict[str, list[str]]:
    """Cloud region -> the chips it rents out (its rental pools)."""
    found = w.memo.get(("pool_chips",))
    if found is None:
        by_region: dict[str, list[str]] = {}
        for region, chip in w.pools:
            by_region.setdefault(region, []).append(chip)
        found = w.memo[("pool_chips",)] = by_region
    return found
