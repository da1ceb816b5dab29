"""Synthetic scenario families for the scaling benchmark, built from a base scenario's dumped dict.

Each family doubles one dimension of the flagship (``scenarios/bytedance_ascend.yaml``) and keeps the rest:

* ``horizon``: ``end`` moved so the run covers 3, 6, 12, 24 years from ``start`` (the flagship is 6);
  every series holds its last step.
* ``labs``: every lab copied in turn with new ids (``bytedance~2``, ``alibaba~2`` ...), with copies of every
  edge into it (Huawei and Nvidia sales, grey hubs, cloud rentals), until the scenario holds 1, 2, 4, 8 times
  the base's labs (6, 12, 24, 48 for the flagship): k of each of the base's buyers, all competing for the same
  supply.  (Until December 2026 only the first lab was copied, so the mix changed along the family: 1 of 6
  labs ran a training job at the base, 7 of 12 at twice the labs, 43 of 48 at eight times; a doubling then
  measured a different market, not a larger one.  Earlier still the copies were counted as if the base had
  one lab.)
* ``market``: 1, 2, 4, 8 disjoint copies of the whole market (every node, chip, lab and cloud, with its edges),
  under one rule book extended to name the copies, its country-wide caps raised until they never bind.  Each
  copy runs exactly as it runs alone, so the activity is exactly the sum of the copies': the control for work
  that grows faster than the world (see :func:`market`).
* ``nodes``: working supply nodes added until the node count is 10, 20, 40, 80: chains of a foundry
  (a copy of SMIC's Ascend lines), an HBM maker (a copy of CXMT) and a packager (a copy of Huawei's
  lines, without the die bank) feeding Huawei, alternating with grey hubs (copies of the Singapore hub
  with a re-export edge from Nvidia and a grey edge to the lab).  Each added node runs its own process.
* ``rules``: rules added until there are 13, 26, 52, 104: copies of the Oct 2022, Oct 2023, H20 and
  H200 rules with random TPP thresholds and random effective dates in the horizon (seeded, so the same
  family every time), without overrides.

Every member is validated by :func:`sim.scenario.loader.scenario_from_dict`.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from typing import Any

from sim.scenario.loader import scenario_from_dict

FAMILIES = ("horizon", "labs", "market", "nodes", "rules", "supplied")


def _add_years(d: dt.date, years: float) -> dt.date:
    return d + dt.timedelta(days=round(365.25 * years) - 1)  # *years* of days, the first and last included


def horizon(base: dict, years: float) -> dict:
    """The base with ``end`` set *years* after ``start``."""
    d = copy.deepcopy(base)
    d["end"] = _add_years(d["start"], years)
    return d


def labs(base: dict, n: int, lab: str | None = None) -> dict:
    """The base with *n* labs in all: its own and copies, each with copies of the edges into it.

    Without *lab*, every lab is copied in turn (the base's order), so a member of k times the base's labs holds
    k of each: the same mix of buyers, k times over.  With *lab*, only that lab is copied.
    """
    d = copy.deepcopy(base)
    if n < len(d["labs"]):
        raise ValueError(f"the base already has {len(d['labs'])} labs (asked for {n})")
    order = [lab] if lab else list(base["labs"])
    copies: dict[str, int] = {}
    k = 0
    while len(d["labs"]) < n:
        src = order[k % len(order)]
        k += 1
        copies[src] = i = copies.get(src, 1) + 1
        new = f"{src}~{i}"
        d["labs"][new] = copy.deepcopy(base["labs"][src])
        d["labs"][new]["name"] = f"{base['labs'][src].get('name') or src} #{i}"
        for eid, e in base["edges"].items():
            if e["to"] == src:
                e2 = copy.deepcopy(e)
                e2["to"] = new
                d["edges"][f"{eid}~{i}"] = e2
    return d


# what a world's supply is made of: the nodes' and clouds' flows and stocks (units, wafers, stacks per month or
# in hand), and the rules' country-wide limits; everything else in a scenario is a rate, a share, a price or a day
SUPPLY_FIELDS = ("wafer_starts_per_month", "hbm_stacks_per_month", "initial_hbm_stacks", "chips_per_month",
                 "die_arrivals_per_month", "external_supply_per_month", "initial_inventory", "initial_fleet",
                 "purchases_per_month", "units_per_period", "volume_cap_reference_units_per_month")
_SCALED_DIST_FIELDS = {"constant": ("value",), "uniform": ("low", "high"), "triangular": ("low", "mode", "high")}


def supplied(base: dict, n: int) -> dict:
    """:func:`labs` with the supply scaled with the buyers: *n* labs (k = n / the base's labs of each) sharing one
    market whose every supply flow, stock and country-wide cap is k times the base's (:data:`SUPPLY_FIELDS`),
    and every cloud's tenant shares split among a tenant's k copies.  The scarcity each buyer meets stays the
    base's, so the work per buyer should too: the family for work growing with the number of buyers that share
    one market (a pro-rata allocation over every buyer, a scan of other buyers' orders), where :func:`labs`
    also changes the world (twice the buyers for the same chips: each gets fewer and slower ones)."""
    n_base = len(base["labs"])
    if n % n_base:
        raise ValueError(f"the supplied family needs a multiple of the base's {n_base} labs (asked for {n})")
    k = n // n_base
    d = labs(base, n)
    for part in ("nodes", "clouds", "rules"):
        d[part] = _scaled_supply(d[part], k)
    for cloud in d["clouds"].values():
        shares = {}
        for tenant, share in cloud["tenant_share"].items():
            split = _scaled(share, 1 / k)
            shares[tenant] = split
            copies = (f"{tenant}~{i}" for i in range(2, k + 1))
            shares.update({c: copy.deepcopy(split) for c in copies if c in d["labs"]})
        cloud["tenant_share"] = shares
    return d


def _scaled_supply(x: Any, k: float, inside: bool = False) -> Any:
    """*x* with every quantity under a :data:`SUPPLY_FIELDS` key multiplied by *k*."""
    if isinstance(x, dict):
        if inside and "dist" in x:
            return _scaled(x, k)
        return {key: _scaled_supply(v, k, inside or key in SUPPLY_FIELDS) for key, v in x.items()}
    if isinstance(x, list):
        return [_scaled_supply(v, k, inside) for v in x]
    if inside and isinstance(x, (int, float)) and not isinstance(x, bool):
        return x * k
    return x


def _scaled(dist: Any, k: float) -> Any:
    """A quantity (a number or a linear distribution) times *k*."""
    if not isinstance(dist, dict):
        return dist * k
    fields = _SCALED_DIST_FIELDS.get(dist["dist"])
    if fields is None:
        raise ValueError(f"cannot scale a {dist['dist']} distribution by {k}")
    return {**dist, **{f: dist[f] * k for f in fields}}


def nodes(base: dict, n: int, foundry: str = "smic", memory: str = "cxmt", packager: str = "huawei-pkg",
          vendor: str = "huawei", hub: str = "sg-hub", hub_source: str = "nvidia", lab: str | None = None) -> dict:
    """The base with working supply nodes added until it has *n* nodes (see the module doc)."""
    d = copy.deepcopy(base)
    lab = lab or next(iter(d["labs"]))
    if n < len(d["nodes"]):
        raise ValueError(f"the base already has {len(d['nodes'])} nodes (asked for {n})")
    chain_no = hub_no = 0

    def find_edge(a: str, b: str) -> dict:
        return copy.deepcopy(next(e for e in d["edges"].values() if e["from"] == a and e["to"] == b))

    def add_chain() -> None:
        nonlocal chain_no
        chain_no += 1
        f, m, p = f"{foundry}~{chain_no}", f"{memory}~{chain_no}", f"{packager}~{chain_no}"
        d["nodes"][p] = copy.deepcopy(base["nodes"][packager])
        d["nodes"][p]["initial_dies"] = {}  # no second die bank: only what the new foundry makes
        d["nodes"][p]["initial_hbm_stacks"] = 0.0
        d["nodes"][f] = copy.deepcopy(base["nodes"][foundry])
        for alloc in d["nodes"][f]["allocation"].values():
            alloc["packager"] = p
        d["nodes"][m] = copy.deepcopy(base["nodes"][memory])
        for name, (a, b, tmpl) in {
            f"{f}-dies": (f, p, (foundry, packager)),
            f"{m}-hbm": (m, p, (memory, packager)),
            f"{p}-chips": (p, vendor, (packager, vendor)),
        }.items():
            e = find_edge(*tmpl)
            e["from"], e["to"] = a, b
            d["edges"][name] = e
        for group in ("entity_list", "huawei_group"):  # the copies are Huawei's lines too
            if group in d.get("entity_lists", {}) and packager in d["entity_lists"][group]:
                d["entity_lists"][group].append(p)

    def add_hub() -> None:
        nonlocal hub_no
        hub_no += 1
        h = f"{hub}~{hub_no}"
        d["nodes"][h] = copy.deepcopy(base["nodes"][hub])
        e_in, e_out = find_edge(hub_source, hub), find_edge(hub, lab)
        e_in["to"], e_out["from"] = h, h
        d["edges"][f"{hub_source}-{h}"] = e_in
        d["edges"][f"{h}-{lab}"] = e_out

    turn = 0
    while len(d["nodes"]) < n:
        if turn % 2 == 0 and n - len(d["nodes"]) >= 3:
            add_chain()
        else:
            add_hub()
        turn += 1
    return d


def _renamed(x: Any, names: dict[str, str]) -> Any:
    """*x* with every id in *names* (a dict key or a string value, at any depth) replaced by its new name."""
    if isinstance(x, dict):
        return {names.get(k, k) if isinstance(k, str) else k: _renamed(v, names) for k, v in x.items()}
    if isinstance(x, list):
        return [_renamed(v, names) for v in x]
    if isinstance(x, str):
        return names.get(x, x)
    return x


def _extended(x: Any, names: dict[str, str]) -> Any:
    """*x* with every list that names an id in *names* also naming its copy (rules and entity lists cover both)."""
    if isinstance(x, dict):
        return {k: _extended(v, names) for k, v in x.items()}
    if isinstance(x, list):
        items = [v if isinstance(v, str) else _extended(v, names) for v in x]
        return items + [names[v] for v in x if isinstance(v, str) and v in names]
    if isinstance(x, str) and x in names:
        raise ValueError(f"'{x}' is named alone where a replica needs a list")
    return x


def market(base: dict, k: int) -> dict:
    """*k* disjoint copies of the base's market in one scenario (the control for growth with size).

    Every supply node, chip, lab and cloud is copied with a new id (``huawei~2``, ``h20~2`` ...), and every edge
    and rental stream with it, so copy i trades only within copy i; the rules and entity lists are not copied
    but extended to name the copies (one rule book over k markets).  A country-wide cap (a cap's units per
    period, a licence's volume cap) is one pool for every copy selling to that country, which would couple the
    copies (one copy's licensed lots use the others' room), so in this family the caps are raised until they
    never bind: the cap checks still run on every lot, and the copies stay independent.  Each copy draws from
    streams named for its own actors, so the copies behave alike but not identically, and each does exactly
    what it does alone (:func:`replica`).  A model function whose calls grow faster than the copies' own does
    work across copies: a scan over other buyers' orders, or a list that grows with the world instead of with
    one market.
    """
    if k < 1:
        raise ValueError(f"a market needs at least one copy (asked for {k})")
    d = copy.deepcopy(base)
    for i in range(2, k + 1):
        names, parts = _copy(base, i)
        for part, entries in parts.items():
            d[part].update(entries)
        for part in ("rules", "entity_lists"):
            d[part] = _extended(d[part], names)
    d["rules"] = _unbound_caps(d["rules"])
    return d


_COPIED = ("nodes", "chips", "labs", "clouds")  # the parts a copy of the market renames (its actors)
_FOLLOWING = ("edges", "rental_streams")  # the parts that follow them (their ids only get the copy's suffix)


def _copy(base: dict, i: int) -> tuple[dict[str, str], dict[str, dict]]:
    """(new name of every actor id, the copied parts) of copy *i* of the base's market (i >= 2)."""
    names = {x: f"{x}~{i}" for part in _COPIED for x in base[part]}
    parts = {part: {names[key]: _renamed(v, names) for key, v in base[part].items()} for part in _COPIED}
    for part in _FOLLOWING:
        parts[part] = {f"{key}~{i}": _renamed(v, names) for key, v in (base.get(part) or {}).items()}
    return names, parts


# the treatments' country-wide limits (treatments.py), and values at their schema's bounds that never bind
UNBOUND_CAPS = {"units_per_period": 1e15, "volume_cap_ratio": 1e6}


def _unbound_caps(x: Any) -> Any:
    """*x* with every country-wide cap raised so that it never binds (the check still runs on every lot)."""
    if isinstance(x, dict):
        return {key: (UNBOUND_CAPS[key] if key in UNBOUND_CAPS and v is not None else _unbound_caps(v))
                for key, v in x.items()}
    if isinstance(x, list):
        return [_unbound_caps(v) for v in x]
    return x


def replica(base: dict, i: int) -> dict:
    """Copy *i* of :func:`market`'s copies on its own: the base with every id renamed as that copy names it (the
    base itself for i = 1), its caps unbound as the market's are.  Its streams have the names the copy's streams
    have in the market (every per-lot draw is named for its buyer, the rules' rates for the rule alone), so it
    draws, and does, exactly what the copy does there."""
    d = copy.deepcopy(base)
    if i > 1:
        names, parts = _copy(base, i)
        d.update(parts)
        for part in ("rules", "entity_lists"):
            d[part] = _renamed(base[part], names)
    d["rules"] = _unbound_caps(d["rules"])
    return d


RULE_TEMPLATES = ("us_2022_10", "us_2023_10", "us_2025_04_h20", "us_2026_01_h200")


def rules(base: dict, n: int, seed: int = 10) -> dict:
    """The base with copies of template rules added (random thresholds and dates) until it has *n* rules."""
    d = copy.deepcopy(base)
    rng = random.Random(seed)
    templates = [t for t in RULE_TEMPLATES if t in base["rules"]]
    start, end = d["start"], d["end"]
    span = (end - start).days
    i = 0
    while len(d["rules"]) < n:
        tmpl = templates[i % len(templates)]
        i += 1
        r = copy.deepcopy(base["rules"][tmpl])
        for k in ("overrides", "rescinded", "anticipated"):
            r.pop(k, None)
        day = start + dt.timedelta(days=rng.randrange(0, max(span - 365, 1)))
        r["announced"] = r["effective"] = day
        r["name"] = f"synthetic copy {i} of {tmpl}"
        for item in r["scope"].get("items") or []:
            if item.get("tpp_min") is not None:
                hi = item.get("tpp_max")
                top = 0.8 * hi if hi is not None else 20_000.0
                item["tpp_min"] = float(round(rng.uniform(1_000.0, top), -1))
        d["rules"][f"synthetic_{i:03d}_{tmpl}"] = r
    return d


def family_sizes(base: dict, quick: bool = False) -> dict[str, list[float]]:
    """The sizes each family is measured at (the base's own size is one of them)."""
    years = ((base["end"] - base["start"]).days + 1) / 365.25  # the base's own end is kept exactly
    n_labs, n_nodes, n_rules = len(base["labs"]), len(base["nodes"]), len(base["rules"])
    full = {
        "horizon": [years / 2, years, years * 2, years * 4],
        "labs": [n_labs, n_labs * 2, n_labs * 4, n_labs * 8],
        "market": [1, 2, 4, 8],
        "nodes": [n_nodes, n_nodes * 2, n_nodes * 4, n_nodes * 8],
        "rules": [n_rules, n_rules * 2, n_rules * 4, n_rules * 8],
        "supplied": [n_labs, n_labs * 2, n_labs * 4, n_labs * 8],
    }
    return {k: v[:2] for k, v in full.items()} if quick else full


def build(base: dict, family: str, size: float) -> dict:
    """The dumped dict of one family member."""
    if family == "horizon":
        return horizon(base, size)
    if family == "labs":
        return labs(base, int(size))
    if family == "market":
        return market(base, int(size))
    if family == "nodes":
        return nodes(base, int(size))
    if family == "rules":
        return rules(base, int(size))
    if family == "supplied":
        return supplied(base, int(size))
    raise ValueError(f"unknown family '{family}' ({', '.join(FAMILIES)})")


def scenario(base: dict, family: str, size: float) -> Any:
    """The validated Scenario of one family member."""
    return scenario_from(build(base, family, size), f"{family}={size}")


def scenario_from(d: dict, label: str) -> Any:
    """The validated Scenario of a built dict (*label* names it in errors)."""
    return scenario_from_dict(d, file=f"<synthetic {label}>")
