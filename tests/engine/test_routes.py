"""A buyer's routes and the products it can get (``sim/engine/routes.py``), on generated market worlds.

The routes are worked out from the buyer's neighbourhood only; these tests hold them to a scan of every product
and every hub of the world (the definition, written out here as the reference), and hold the run to the sets:
no lab ever holds a chip it could not buy or start with, and no job runs on a chip its lab could not get.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.engine.routes import Route, obtainable, purchasable, routes
from sim.engine.simulation import World
from tests.fuzz.test_market_generated import build, market_worlds

SETTINGS = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow,
                                                                           HealthCheck.filter_too_much])


def reference_routes(w: World, buyer: str) -> tuple[dict[str, Route], dict[str, Route]]:
    """Every product and every hub of the world, in the scenario's order: the routes by their definition."""
    s = w.scenario
    legal: dict[str, Route] = {}
    grey: dict[str, Route] = {}
    hubs = {nid: n for nid, n in s.nodes.items() if n.kind == "distributor"}
    for pid, chip in s.chips.items():
        found = w.edge(chip.vendor, buyer)
        if found and found[1].flow == "chips" and found[1].channel in ("direct", "reexport"):
            legal[pid] = Route("sale" if found[1].channel == "direct" else "reexport")
        for hid, hub in hubs.items():
            into, out = w.edge(chip.vendor, hid), w.edge(hid, buyer)
            if not into or not out or out[1].flow != "chips":
                continue
            if out[1].channel == "grey" and hub.grey is not None:
                grey.setdefault(pid, Route("grey", hid))
            elif out[1].channel in ("direct", "reexport") and pid not in legal:
                legal[pid] = Route("reexport", hid)
    return legal, grey


def _hub_only(world: dict, data) -> dict:
    """*world* with some of its vendors' direct edges to labs removed, so some products reach a lab only through
    a hub (re-export or grey), or not at all."""
    direct = sorted(eid for eid, e in world["edges"].items()
                    if world["nodes"].get(e["from"], {}).get("kind") == "vendor" and e["to"] in world["labs"])
    for eid in data.draw(st.lists(st.sampled_from(direct), unique=True) if direct else st.just([])):
        del world["edges"][eid]
    return world


@SETTINGS
@given(market_worlds(), st.data())
def test_routes_equal_the_scan_of_every_product_and_hub(world, data):
    w = World(build(_hub_only(world, data)), 1)
    buyers = [*w.scenario.labs, *w.scenario.clouds]
    for b in buyers:
        got, want = routes(w, b), reference_routes(w, b)
        assert [list(x.items()) for x in got] == [list(x.items()) for x in want], b  # same routes, same order
        assert purchasable(w, b) == sorted({*want[0], *want[1]})


@SETTINGS
@given(market_worlds())
def test_no_lab_holds_or_runs_on_a_chip_it_cannot_get(world):
    s = build(world)
    w = World(s, 1)
    w.run()
    for lid, lab in s.labs.items():
        held = {chip for chip, line in w.fleet[lid].items() if line.units > 0 or line.cohorts}
        assert held <= set(purchasable(w, lid)) | set(lab.initial_fleet), lid
        for jid, job in lab.jobs.items():
            st = w.job_states[(lid, jid)]
            if st.chip is not None and not job.chips:
                assert st.chip in obtainable(w, lid, job.clouds), (lid, jid, st.chip)
