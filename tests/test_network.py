"""The supplier network built from the tiny scenario: graph shape, structural checks, chokepoints, CLI."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from sim.cli import app
from sim.engine.compliance import blocked_edges
from sim.scenario.loader import ScenarioError, scenario_from_dict
from sim.scenario.network import build_graph, check_graph, chokepoints, summary


def _edit(raw: tuple[dict, dict], *changes) -> object:
    """Apply (path, value) changes to tiny's mapping (value None deletes) and validate it."""
    data, lines = raw
    for path, value in changes:
        target = data
        for key in path[:-1]:
            target = target[key]
        if value is None:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return scenario_from_dict(data, lines)


def test_build_graph_counts(tiny_scenario):
    g = build_graph(tiny_scenario)
    assert (g.number_of_nodes(), g.number_of_edges()) == (6, 6)
    assert dict(g.nodes(data="kind")) == {
        "smic": "foundry", "huawei-pkg": "packager", "nvidia": "vendor", "huawei": "vendor",
        "sg-hub": "distributor", "lab-cn": "lab",
    }
    assert g.nodes["sg-hub"]["country"] == "SG"
    assert g.nodes["lab-cn"]["hq"] == "CN"
    assert g.edges["nvidia", "sg-hub"] == {"id": "nvidia-sg-hub", "flow": "chips", "channel": "reexport"}
    assert sorted(g.predecessors("lab-cn")) == ["huawei", "nvidia", "sg-hub"]


def test_tiny_has_no_structural_issues(tiny_scenario):
    assert check_graph(tiny_scenario) == []


def _rejected(raw, *changes) -> list[tuple[str, str]]:
    """Edges whose flow does not fit the node kinds are refused at load (validate), not only warned by graph."""
    with pytest.raises(ScenarioError) as info:
        _edit(raw, *changes)
    return [(p.path, p.message) for p in info.value.problems]


def test_wafers_into_a_lab_is_rejected(tiny_raw):
    problems = _rejected(tiny_raw, (("edges", "smic-lab-cn"), {"from": "smic", "to": "lab-cn", "flow": "wafers"}))
    assert problems == [("edges.smic-lab-cn.flow", "a lab does not receive wafers (a lab receives: chips, rental)")]


def test_chips_out_of_a_foundry_is_rejected(tiny_raw):
    problems = _rejected(tiny_raw, (("edges", "smic-huawei-pkg", "flow"), "chips"))
    assert problems == [("edges.smic-huawei-pkg.flow", "a foundry does not send chips (a foundry sends: dies, wafers)")]


@pytest.mark.parametrize(("edge", "path", "expect"), [
    ({"from": "lab-cn", "to": "nvidia", "flow": "chips"}, "edges.x.flow", "a lab does not send chips"),
    ({"from": "lab-cn", "to": "smic", "flow": "wafers"}, "edges.x.flow", "a lab does not send wafers"),
    ({"from": "nvidia", "to": "nvidia", "flow": "chips"}, "edges.x.to", "self-loop"),
])
def test_edges_against_the_node_kinds_are_rejected(tiny_raw, edge, path, expect):
    problems = _rejected(tiny_raw, (("edges", "x"), edge))
    assert [p for p, _ in problems] == [path]
    assert expect in problems[0][1]


def test_remote_channel_carries_rental_only(tiny_raw):
    problems = _rejected(tiny_raw, (("edges", "nvidia-lab-cn", "channel"), "remote"))
    assert [p for p, _ in problems] == ["edges.nvidia-lab-cn.channel"]


def test_lab_without_supply_is_flagged(tiny_raw):
    s = _edit(tiny_raw, (("edges", "huawei-lab-cn"), None), (("edges", "nvidia-lab-cn"), None),
              (("edges", "sg-hub-lab-cn"), None))
    assert [i.path for i in check_graph(s)] == ["labs.lab-cn"]
    assert chokepoints(s) == {"lab-cn": []}  # nothing to cut


# Sources in tiny: smic (a foundry) and nvidia (outside supply of h100). lab-cn is reached by
# smic -> huawei-pkg -> huawei -> lab-cn, nvidia -> lab-cn, and nvidia -> sg-hub -> lab-cn.
CHOKEPOINT_CASES = [
    ("tiny", [], []),  # two independent sources: no single node cuts lab-cn off
    ("no-nvidia-supply", [(("nodes", "nvidia", "external_supply_per_month"), {})], ["huawei", "huawei-pkg", "smic"]),
    ("no-smic-dies", [(("edges", "smic-huawei-pkg"), None)], ["nvidia"]),  # nvidia reaches it two ways
    ("no-direct-nvidia", [(("edges", "nvidia-lab-cn"), None)], []),
    ("grey-route-only", [(("edges", "smic-huawei-pkg"), None), (("edges", "nvidia-lab-cn"), None)],
     ["nvidia", "sg-hub"]),
    ("own-fleet", [(("nodes", "nvidia", "external_supply_per_month"), {}),
                   (("labs", "lab-cn", "initial_fleet"), {"h100": 100})], []),
]


@pytest.mark.parametrize(("changes", "expected"), [c[1:] for c in CHOKEPOINT_CASES],
                         ids=[c[0] for c in CHOKEPOINT_CASES])
def test_chokepoints(tiny_raw, changes, expected):
    assert chokepoints(_edit(tiny_raw, *changes)) == {"lab-cn": expected}


def test_summary(tiny_scenario):
    info = summary(tiny_scenario)
    assert info["nodes_by_kind"] == {"distributor": 1, "foundry": 1, "lab": 1, "packager": 1, "vendor": 2}
    assert info["edges_by_flow_channel"] == {"chips/direct": 3, "chips/grey": 1, "chips/reexport": 1, "dies/direct": 1}
    # smic -> huawei and smic -> lab-cn pass through huawei-pkg: 2 of (6-1)(6-2) = 20 ordered pairs
    assert info["betweenness"] == {"huawei-pkg": 0.1, "huawei": 0.1, "smic": 0.0, "nvidia": 0.0, "sg-hub": 0.0,
                                   "lab-cn": 0.0}
    assert info["chokepoints"] == {"lab-cn": []}
    assert info["issues"] == []


def test_graph_json_command(runner, tiny_path):
    result = runner.invoke(app, ["graph", str(tiny_path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert (info["scenario"], info["nodes"], info["edges"]) == ("tiny", 6, 6)
    assert info["chokepoints"] == {"lab-cn": []}


def test_graph_table_command(runner, tiny_path):
    result = runner.invoke(app, ["graph", str(tiny_path)])
    assert result.exit_code == 0, result.output
    assert "6 nodes, 6 edges" in result.stdout


def test_graph_command_on_bad_file(runner, tmp_path):
    result = runner.invoke(app, ["graph", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2
    assert result.stderr.strip().endswith("none.yaml:1: -: file not found")


def test_tiny_rule_blocks_the_edge_whose_every_product_it_denies(tiny_scenario):
    """us_2022_10 (TPP >= 4800 with 600 GB/s I/O) denies the H100, the only chip Nvidia sells in tiny."""
    assert blocked_edges(tiny_scenario, dt.date(2022, 10, 6)) == []
    assert blocked_edges(tiny_scenario, dt.date(2023, 1, 1)) == ["nvidia-lab-cn"]


def _blanket_us_rule(tiny_raw):
    return _edit(tiny_raw, (("rules", "us_2022_10", "scope", "items"), None))


def test_blanket_deny_closes_edges_into_cn_after_effective(tiny_raw):
    s = _blanket_us_rule(tiny_raw)
    assert blocked_edges(s, dt.date(2022, 10, 6)) == []
    closed = blocked_edges(s, dt.date(2022, 10, 7))
    assert "nvidia-lab-cn" in closed
    assert "sg-hub-lab-cn" not in closed  # the grey route exists to evade: never shown as closed
    assert "nvidia-sg-hub" not in closed  # Singapore is not a destination


def test_blanket_us_deny_leaves_domestic_cn_edges_open(tiny_raw):
    closed = blocked_edges(_blanket_us_rule(tiny_raw), dt.date(2023, 1, 1))
    assert not {"smic-huawei-pkg", "huawei-pkg-huawei", "huawei-lab-cn"} & set(closed)
