"""Scenario input: YAML -> validated Scenario, the chip catalogue, diffs, the supplier graph, dotted paths
and distribution quantities (no SimPy)."""
