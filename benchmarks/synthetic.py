"""Synthetic scenario families for the scaling benchmark, built from a base scenario's dumped dict.

Each family doubles one dimension of the flagship (``scenarios/bytedance_ascend.yaml``) and keeps the rest:

* ``horizon``: ``end`` moved so the run covers 3, 6, 12, 24 years from ``start`` (the flagship is 6);
  every series holds its last step.
* ``labs``: the first lab copied with new ids (``bytedance~2`` ...), with copies of every edge into it
  (Huawei and Nvidia sales, grey hubs, cloud rentals), until the scenario holds 1, 2, 4, 8 times the base's
  labs (6, 12, 24, 48 for the flagship), all competing for the same supply.  (Until December 2026 the copies
  were counted as if the base had one lab, so the members held 11, 17, 29 and 53 labs.)
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

FAMILIES = ("horizon", "labs", "nodes", "rules")


def _add_years(d: dt.date, years: float) -> dt.date:
    return d + dt.timedelta(days=round(365.25 * years) - 1)  # *years* of days, the first and last included


def horizon(base: dict, years: float) -> dict:
    """The base with ``end`` set *years* after ``start``."""
    d = copy.deepcopy(base)
    d["end"] = _add_years(d["start"], years)
    return d


def labs(base: dict, n: int, lab: str | None = None) -> dict:
    """The base with *n* labs in all: its own and copies of the first, each with copies of the edges into it."""
    d = copy.deepcopy(base)
    if n < len(d["labs"]):
        raise ValueError(f"the base already has {len(d['labs'])} labs (asked for {n})")
    lab = lab or next(iter(d["labs"]))
    into = {eid: e for eid, e in d["edges"].items() if e["to"] == lab}
    for i in range(2, n - len(base["labs"]) + 2):
        new = f"{lab}~{i}"
        d["labs"][new] = copy.deepcopy(d["labs"][lab])
        d["labs"][new]["name"] = f"{d['labs'][lab].get('name') or lab} #{i}"
        for eid, e in into.items():
            e2 = copy.deepcopy(e)
            e2["to"] = new
            d["edges"][f"{eid}~{i}"] = e2
    return d


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
        "nodes": [n_nodes, n_nodes * 2, n_nodes * 4, n_nodes * 8],
        "rules": [n_rules, n_rules * 2, n_rules * 4, n_rules * 8],
    }
    return {k: v[:2] for k, v in full.items()} if quick else full


def build(base: dict, family: str, size: float) -> dict:
    """The dumped dict of one family member."""
    if family == "horizon":
        return horizon(base, size)
    if family == "labs":
        return labs(base, int(size))
    if family == "nodes":
        return nodes(base, int(size))
    if family == "rules":
        return rules(base, int(size))
    raise ValueError(f"unknown family '{family}' ({', '.join(FAMILIES)})")


def scenario(base: dict, family: str, size: float) -> Any:
    """The validated Scenario of one family member."""
    return scenario_from_dict(build(base, family, size), file=f"<synthetic {family}={size}>")
