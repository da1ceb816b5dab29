"""The network view's blocked edges agree with what the engine does: domestic component flows are never decided."""

import datetime as dt
from pathlib import Path

from app import services
from sim import Simulation, load_scenario
from sim.engine import compliance
from sim.scenario import network

ROOT = Path(__file__).resolve().parents[2]


def test_domestic_component_edges_are_outside_the_rules_in_the_engine_and_in_the_view():
    s = load_scenario(ROOT / "scenarios" / "bytedance_ascend.yaml")
    domestic = {eid for eid in s.edges if network.outside_jurisdiction(s, eid)}
    assert domestic == {"smic-dies-huawei", "cxmt-hbm-huawei"}
    ships = Simulation(s, seed=1).run().tables["shipments"]
    denied = ships[ships["item_kind"].isin(["die", "hbm"]) & (ships["status"] == "denied")]
    pairs = set(zip(denied["seller"], denied["buyer"], strict=True))
    assert {("samsung-hbm", "huawei-pkg"), ("skhynix", "huawei-pkg")} <= pairs  # foreign HBM: decided and denied
    assert not pairs & {(s.edges[e].from_, s.edges[e].to) for e in domestic}  # domestic: never decided
    on = dt.date(2025, 6, 1)
    assert not domestic & set(compliance.blocked_edges(s, on))  # compliance asks the same jurisdiction rule...
    view = services.network(services.canonical_json(services._dump(s)), on)["edges"].set_index("id")
    assert not view.loc[sorted(domestic), "blocked"].any()  # ...and so does the view
    assert view.loc[["samsung-hbm-huawei", "skhynix-hbm-huawei"], "blocked"].all()
    assert view.loc[sorted(domestic), "domestic"].all()
