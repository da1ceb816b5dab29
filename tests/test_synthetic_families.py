"""The benchmark's synthetic families (``benchmarks/synthetic.py``) and the linear-growth property they test.

The ``market`` family is the control of the call-growth benchmark: k disjoint copies of the flagship's market.
These tests hold it to that: the copies are disjoint (no edge crosses copies), each copy on its own is
``replica``, the labs family keeps the mix of buyers, and the engine's per-buyer work reads the buyer's own
market only (its routes in a 3-copy market are its copy's routes on their own, renamed).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from sim.engine.mechanisms import orders
from sim.engine.simulation import World
from sim.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import synthetic  # noqa: E402


@pytest.fixture(scope="module")
def base() -> dict:
    return load_scenario(ROOT / "scenarios" / "bytedance_ascend.yaml").model_dump(by_alias=True)


def _copy_of(x: str) -> str:
    return x.rsplit("~", 1)[1] if "~" in x else "1"


def test_market_copies_are_disjoint_and_complete(base) -> None:
    d = synthetic.market(base, 3)
    for part in ("nodes", "chips", "labs", "clouds", "edges"):
        assert len(d[part]) == 3 * len(base[part]), part
    for eid, e in d["edges"].items():  # every edge stays inside its copy
        assert _copy_of(e["from"]) == _copy_of(e["to"]) == _copy_of(eid), eid
    for cid, c in d["chips"].items():
        assert _copy_of(c["vendor"]) == _copy_of(cid)
    for lst, members in d["entity_lists"].items():  # one rule book: the lists name every copy's members
        assert Counter(_copy_of(m) for m in members) == {str(i): len(base["entity_lists"][lst]) for i in (1, 2, 3)}
    assert set(d["rules"]) == set(base["rules"])
    sc = synthetic.scenario(base, "market", 3)  # valid, as every member of every family
    assert len(sc.labs) == 18


def test_replica_is_its_copy_of_the_market(base) -> None:
    d, r = synthetic.market(base, 3), synthetic.replica(base, 2)
    for part in ("nodes", "chips", "labs", "clouds", "edges"):
        assert r[part] == {k: v for k, v in d[part].items() if _copy_of(k) == "2"}, part
    one = synthetic.replica(base, 1)  # the base itself, with its caps unbound as the market's are
    assert {k: v for k, v in one.items() if k != "rules"} == {k: v for k, v in base.items() if k != "rules"}
    caps = [(rid, r["treatment"]) for rid, r in one["rules"].items()
            if r["treatment"].get("kind") in ("cap", "license")]
    assert any(t.get("volume_cap_ratio") == synthetic.UNBOUND_CAPS["volume_cap_ratio"] for _r, t in caps)
    assert all(t.get("units_per_period", 1e15) == 1e15 for _r, t in caps)
    assert one["rules"] == synthetic.market(base, 1)["rules"]
    with pytest.raises(ValueError, match="at least one copy"):
        synthetic.market(base, 0)


def test_labs_family_keeps_the_mix_of_buyers(base) -> None:
    d = synthetic.labs(base, 4 * len(base["labs"]))
    kinds = Counter(lid.split("~")[0] for lid in d["labs"])
    assert kinds == dict.fromkeys(base["labs"], 4)
    one = synthetic.labs(base, len(base["labs"]) + 3, lab="bytedance")  # the old family: copies of one lab
    assert Counter(lid.split("~")[0] for lid in one["labs"])["bytedance"] == 4
    for eid, e in d["edges"].items():
        if "~" in e["to"] and e["to"] in d["labs"]:
            assert eid.endswith("~" + e["to"].rsplit("~", 1)[1])


def test_routes_read_the_buyers_own_market(base) -> None:
    """A buyer's routes in a 3-copy market are its copy's routes alone, renamed, in the same order (the routes
    are worked out from the buyer's neighbourhood, not from every product and hub of the world)."""
    big = World(synthetic.scenario(base, "market", 3), 1)
    alone = World(synthetic.scenario_from(synthetic.replica(base, 3), "replica 3"), 1)
    n = 0
    for lid in alone.scenario.labs:
        got = orders.routes(big, lid)
        want = orders.routes(alone, lid)
        assert [list(g.items()) for g in got] == [list(x.items()) for x in want], lid
        n += sum(len(g) for g in got)
    assert n > 0
    legal, grey = orders.routes(big, "bytedance~3")
    assert all(p.endswith("~3") for p in [*legal, *grey])
    assert all(r.hub is None or r.hub.endswith("~3") for r in [*legal.values(), *grey.values()])


_COPY = re.compile(r"[A-Za-z0-9]~(\d+)")  # an id of copy k ("huawei~2"), not a "~27 d" in an event's text
_IDS = {"lot_id", "order_id"}  # numbered by one counter per run: the copies' ids interleave in the market


def _rows_by_copy(w: World) -> dict[str, Counter]:
    """Every row of the run (ids aside) by the copy it belongs to, as a multiset per table."""
    out: dict[str, Counter] = {}
    for table in w.rec.TABLES:
        if table == "ledger":  # one world-wide account, not a copy's
            continue
        for row in getattr(w.rec, table):
            values = [(f.name, getattr(row, f.name)) for f in dataclasses.fields(row) if f.name not in _IDS]
            copy = next((m.group(1) for _n, v in values if isinstance(v, str) and (m := _COPY.search(v))), "1")
            out.setdefault(copy, Counter())[(table, repr(values))] += 1
    return out


@pytest.mark.parametrize("seed", [1, 7])
def test_disjoint_markets_run_together_as_apart(base, seed) -> None:
    """Two markets that share no node run together exactly as each runs alone: every row of each (ids aside) is
    its row alone.  Nothing leaks between buyers that do not trade: no shared random stream (a rule's per-lot
    draws are per buyer), no world-wide list one of them walks, no pool they share (caps unbound in the family)."""
    together = World(synthetic.scenario(base, "market", 2), seed)
    together.run()
    by_copy = _rows_by_copy(together)
    assert set(by_copy) == {"1", "2"}
    for i in ("1", "2"):
        alone = World(synthetic.scenario_from(synthetic.replica(base, int(i)), f"replica {i}"), seed)
        alone.run()
        own = _rows_by_copy(alone)
        assert set(own) == {"1"} if i == "1" else {"2"}
        assert by_copy[i] == own[i], f"copy {i}: {sum((by_copy[i] - own[i]).values())} rows only together, " \
                                     f"{sum((own[i] - by_copy[i]).values())} only alone"
    assert sum(by_copy["1"].values()) > 1000  # a real market: shipments, fleets, inventories, events


def test_supplied_family_scales_every_supply_flow_and_splits_tenant_shares(base) -> None:
    d = synthetic.supplied(base, 2 * len(base["labs"]))
    assert Counter(_copy_of(x) for x in d["labs"]) == {"1": len(base["labs"]), "2": len(base["labs"])}
    smic, smic2 = base["nodes"]["smic"], d["nodes"]["smic"]
    checked = 0
    for step, step2 in zip(smic["wafer_starts_per_month"], smic2["wafer_starts_per_month"], strict=True):
        v, v2 = step["value"], step2["value"]
        for f in ("value", "low", "high", "mode"):
            if isinstance(v.get(f), float):
                assert v2[f] == 2 * v[f], f
                checked += 1
    assert checked >= 2
    assert smic2["cycle_time_days"] == smic["cycle_time_days"]  # a day is not a quantity of supply
    assert d["rules"]["us_2025_01_diffusion"]["treatment"]["units_per_period"] == (
        2 * base["rules"]["us_2025_01_diffusion"]["treatment"]["units_per_period"])
    for cid, cloud in base["clouds"].items():
        shares = d["clouds"][cid]["tenant_share"]
        for tenant, share in cloud["tenant_share"].items():
            assert shares[tenant]["high"] == pytest.approx(share["high"] / 2)
            assert shares[f"{tenant}~2"] == shares[tenant]
    synthetic.scenario_from(d, "supplied=12")  # it validates
    with pytest.raises(ValueError, match="multiple"):
        synthetic.supplied(base, len(base["labs"]) + 1)
