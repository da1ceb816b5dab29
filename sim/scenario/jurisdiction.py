"""Which flows the export rules see: the one statement of the model's jurisdiction assumption.

A component lot (wafers, dies, HBM) between two nodes of one country ships without a compliance decision: the
modelled rules are a foreign government's export controls, so a domestic transfer (SMIC dies to Huawei's
packager, CXMT HBM to Huawei) is outside them.  Finished chips are decided lot by lot, whoever sells them, and a
flow across a border is always decided.  The engine (component shipments) and the network view (blocked edges)
both ask this module, so the two cannot drift apart.
"""

from __future__ import annotations

from sim.schema import Scenario

#: Flows of components (not finished chips): checked against the rules only across a border.
COMPONENT_FLOWS = frozenset({"wafers", "dies", "hbm"})
#: The flow that carries each component item kind.
FLOW_OF_ITEM = {"wafer": "wafers", "die": "dies", "hbm": "hbm"}


def outside_rules(s: Scenario, src: str, dst: str, flow: str) -> bool:
    """Whether a *flow* from node *src* to node *dst* ships without a compliance decision."""
    return flow in COMPONENT_FLOWS and s.country_of(src) == s.country_of(dst)


def edge_outside_rules(s: Scenario, edge_id: str) -> bool:
    """:func:`outside_rules` for an edge of the scenario."""
    e = s.edges[edge_id]
    return outside_rules(s, e.from_, e.to, e.flow)


__all__ = ["COMPONENT_FLOWS", "FLOW_OF_ITEM", "edge_outside_rules", "outside_rules"]
