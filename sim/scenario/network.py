"""Scenario -> networkx.DiGraph of the supplier network, and structural queries on it (no SimPy)."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from sim.scenario.jurisdiction import COMPONENT_FLOWS, edge_outside_rules  # noqa: F401 - re-exported
from sim.schema import Scenario
from sim.schema.network import ACCEPTS, EMITS  # noqa: F401 - the flow tables live with the schema (validate checks them)

SUPPLY_FLOWS = {"wafers", "dies", "hbm", "chips", "rental"}


def outside_jurisdiction(s: Scenario, edge_id: str) -> bool:
    """Whether the rules never see what the edge carries (a component flow inside one country); the rule itself
    is :mod:`sim.scenario.jurisdiction`, which the engine's component shipments use too."""
    return edge_outside_rules(s, edge_id)


def build_graph(s: Scenario) -> nx.DiGraph:
    """One node per supply node, lab and cloud (attribute ``kind``, ``country``); one edge per edge spec."""
    g = nx.DiGraph(name=s.name)
    for nid, node in s.nodes.items():
        g.add_node(nid, kind=node.kind, country=node.country, name=node.name or nid)
    for lid, lab in s.labs.items():
        g.add_node(lid, kind="lab", country=lab.country, name=lab.name or lid, hq=lab.hq)
    for cid, cloud in s.clouds.items():
        g.add_node(cid, kind="cloud", country=cloud.country, name=cloud.name or cid, hq=cloud.hq)
    for eid, e in s.edges.items():
        g.add_edge(e.from_, e.to, id=eid, flow=e.flow, channel=e.channel)
    return g


@dataclass(frozen=True)
class GraphIssue:
    """A structural problem: a dotted path into the scenario and what is wrong."""

    path: str
    message: str


def check_graph(s: Scenario, g: nx.DiGraph | None = None) -> list[GraphIssue]:
    """Flows make sense by kind, and every lab can be reached from some foundry or die bank."""
    g = g if g is not None else build_graph(s)
    issues: list[GraphIssue] = []
    for eid, e in s.edges.items():
        src, dst = g.nodes[e.from_]["kind"], g.nodes[e.to]["kind"]
        if e.flow not in EMITS[src]:
            issues.append(GraphIssue(f"edges.{eid}.flow", f"a {src} does not send {e.flow}"))
        if e.flow not in ACCEPTS[dst]:
            issues.append(GraphIssue(f"edges.{eid}.flow", f"a {dst} does not receive {e.flow}"))
        if e.channel == "remote" and e.flow != "rental":
            issues.append(GraphIssue(f"edges.{eid}.channel", "the remote channel carries rental access only"))
    sources = _sources(s, g)
    for lid in s.labs:
        if not any(nx.has_path(g, src, lid) for src in sources):
            issues.append(GraphIssue(f"labs.{lid}", "no chip supply reaches this lab (no path from a foundry, die bank "
                                                    "or vendor stock)"))
    return issues


def _sources(s: Scenario, g: nx.DiGraph) -> set[str]:
    """Nodes where chips originate: foundries, packagers with die banks, vendors with stock or outside supply."""
    out = {n for n, d in g.nodes(data=True) if d["kind"] == "foundry"}
    for nid, node in s.nodes.items():
        if node.kind == "packager" and node.initial_dies:
            out.add(nid)
        if node.kind == "vendor" and (node.initial_inventory or node.external_supply_per_month):
            out.add(nid)
    for cid, cloud in s.clouds.items():
        if cloud.initial_fleet:
            out.add(cid)
    return out


def chokepoints(s: Scenario, g: nx.DiGraph | None = None) -> dict[str, list[str]]:
    """For each lab, the nodes whose removal cuts it off from every chip source (single points of failure)."""
    g = g if g is not None else build_graph(s)
    sources = _sources(s, g)
    out: dict[str, list[str]] = {}
    for lid in s.labs:
        own = set(s.labs[lid].initial_fleet)  # a lab with its own fleet is never fully cut off
        reach = [src for src in sources if nx.has_path(g, src, lid)]
        if not reach or own:
            out[lid] = []
            continue
        cut: list[str] = []
        for n in g.nodes:
            if n == lid:
                continue
            h = g.subgraph([m for m in g.nodes if m != n])
            if not any(src != n and nx.has_path(h, src, lid) for src in reach):
                cut.append(n)
        out[lid] = sorted(cut)
    return out


def betweenness(g: nx.DiGraph) -> dict[str, float]:
    """Normalised betweenness centrality of every node."""
    return nx.betweenness_centrality(g, normalized=True)


def summary(s: Scenario) -> dict:
    """Nodes and edges by kind, betweenness, chokepoints per lab, and structural issues, as plain data."""
    g = build_graph(s)
    nodes_by_kind: dict[str, int] = {}
    for _, d in g.nodes(data=True):
        nodes_by_kind[d["kind"]] = nodes_by_kind.get(d["kind"], 0) + 1
    edges_by_flow: dict[str, int] = {}
    for _, _, d in g.edges(data=True):
        key = f"{d['flow']}/{d['channel']}"
        edges_by_flow[key] = edges_by_flow.get(key, 0) + 1
    bc = betweenness(g)
    return {
        "scenario": s.name,
        "nodes": g.number_of_nodes(),
        "edges": g.number_of_edges(),
        "nodes_by_kind": dict(sorted(nodes_by_kind.items())),
        "edges_by_flow_channel": dict(sorted(edges_by_flow.items())),
        "betweenness": {k: round(v, 4) for k, v in sorted(bc.items(), key=lambda kv: -kv[1])},
        "chokepoints": chokepoints(s, g),
        "issues": [f"{i.path}: {i.message}" for i in check_graph(s, g)],
    }
