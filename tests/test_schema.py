"""The scenario schema: JSON Schema export, dump/load round trip, strictness, quantities, immutability."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from sim.cli import app
from sim.scenario.loader import load_scenario
from sim.schema import ChipSpec, Scenario
from sim.schema.dist import Constant, Uniform
from sim.schema.network import EdgeSpec


def test_json_schema_builds_and_is_valid():
    schema = Scenario.model_json_schema(by_alias=True)
    assert schema["type"] == "object"
    assert {"name", "question", "start", "end"} <= set(schema["required"])
    assert {"chips", "nodes", "edges", "rules", "labs", "clouds", "rental_streams"} <= set(schema["properties"])
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validators.validator_for(schema).check_schema(schema)


def test_json_schema_accepts_dumped_tiny(tiny_scenario):
    """The exported schema accepts the canonical (dumped) form of a valid scenario."""
    jsonschema = pytest.importorskip("jsonschema")
    dumped = tiny_scenario.model_dump(by_alias=True, mode="json")
    jsonschema.validate(dumped, Scenario.model_json_schema(by_alias=True))


def test_json_schema_accepts_tiny_as_written(tiny_raw):
    """The exported schema agrees with the models on a valid file as written (dates as ISO strings)."""
    jsonschema = pytest.importorskip("jsonschema")
    data, _ = tiny_raw
    as_json = json.loads(json.dumps(data, default=str))
    jsonschema.validate(as_json, Scenario.model_json_schema(by_alias=True))


def test_json_schema_uses_edge_alias():
    edge = Scenario.model_json_schema(by_alias=True)["$defs"]["EdgeSpec"]
    assert "from" in edge["properties"]
    assert "from_" not in edge["properties"]
    assert edge["additionalProperties"] is False


def test_schema_command_prints_json(runner):
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema == json.loads(json.dumps(Scenario.model_json_schema(by_alias=True)))


@pytest.mark.parametrize("mode", ["python", "json"])
def test_dump_load_round_trip(tiny_scenario, mode):
    dumped = tiny_scenario.model_dump(by_alias=True, mode=mode)
    again = Scenario.model_validate(dumped)
    assert again == tiny_scenario
    assert again.model_dump(by_alias=True, mode=mode) == dumped


def test_json_string_round_trip(tiny_scenario):
    assert Scenario.model_validate_json(tiny_scenario.model_dump_json(by_alias=True)) == tiny_scenario


def test_tiny_as_written(tiny_scenario):
    s = tiny_scenario
    assert (s.start.isoformat(), s.end.isoformat(), s.horizon_days) == ("2022-01-01", "2023-12-31", 729.0)
    assert set(s.chips) == {"h100", "ascend910b"}
    assert {k: n.kind for k, n in s.nodes.items()} == {
        "smic": "foundry", "huawei-pkg": "packager", "nvidia": "vendor", "huawei": "vendor", "sg-hub": "distributor",
    }
    assert s.edges["nvidia-sg-hub"].from_ == "nvidia"
    assert s.edges["sg-hub-lab-cn"].channel == "grey"
    assert s.rules["us_2022_10"].treatment.kind == "deny"
    assert s.labs["lab-cn"].jobs["job1"].target_flop() == 1e23
    assert s.day_of(s.rules["us_2022_10"].effective) == 279.0


@pytest.mark.parametrize(
    ("where", "extra"),
    [
        ((), {"colour": "red"}),
        (("chips", "h100"), {"tpp": 1}),
        (("nodes", "smic"), {"wafers": 1}),
        (("rules", "us_2022_10", "treatment"), {"until": "2030-01-01"}),
        (("labs", "lab-cn", "jobs", "job1"), {"gpus": 100}),
    ],
)
def test_unknown_keys_fail(tiny_raw, where, extra):
    data, _ = tiny_raw
    target = data
    for key in where:
        target = target[key]
    target.update(extra)
    with pytest.raises(ValidationError) as info:
        Scenario.model_validate(data)
    (err,) = info.value.errors()
    assert err["type"] == "extra_forbidden"
    assert err["loc"][-1] == next(iter(extra))


def _edge(**lead_time) -> EdgeSpec:
    return EdgeSpec.model_validate({"from": "a", "to": "b", "flow": "chips", **lead_time})


def test_bare_number_becomes_constant():
    q = _edge(lead_time_days=12).lead_time_days
    assert q == Constant(value=12.0)
    assert q.source == []


def test_value_with_source_keeps_source():
    q = _edge(lead_time_days={"value": 3, "source": "S13"}).lead_time_days
    assert isinstance(q, Constant)
    assert (q.value, q.source) == (3.0, ["S13"])


def test_distribution_by_name():
    q = _edge(lead_time_days={"dist": "uniform", "low": 10, "high": 20, "source": ["S1", "S2"]}).lead_time_days
    assert q == Uniform(dist="uniform", low=10, high=20, source=["S1", "S2"])


def test_default_quantity_is_constant():
    assert _edge().lead_time_days == Constant(value=0.0)


def test_series_from_bare_number_and_steps(tiny_scenario):
    (step,) = tiny_scenario.nodes["smic"].wafer_starts_per_month
    assert step.value == Constant(value=1000.0)
    lab = tiny_scenario.labs["lab-cn"].model_dump()
    lab["budget_usd_per_year"] = [{"since": "2022-01-01", "value": 1}, {"since": "2023-01-01", "value": 2}]
    steps = type(tiny_scenario.labs["lab-cn"]).model_validate(lab).budget_usd_per_year
    assert [s.value.value for s in steps] == [1.0, 2.0]
    lab["budget_usd_per_year"] = [{"since": "2023-01-01", "value": 1}, {"since": "2022-01-01", "value": 2}]
    with pytest.raises(ValidationError, match="strictly increasing"):
        type(tiny_scenario.labs["lab-cn"]).model_validate(lab)


@pytest.mark.parametrize(
    ("obj", "field", "value"),
    [
        (lambda s: s, "name", "other"),
        (lambda s: s.chips["h100"], "price_usd", 1.0),
        (lambda s: s.nodes["smic"], "country", "TW"),
        (lambda s: s.edges["nvidia-lab-cn"], "to", "sg-hub"),
        (lambda s: s.rules["us_2022_10"].treatment, "kind", "fee"),
        (lambda s: s.chips["h100"].price_usd, "value", 1.0),
    ],
)
def test_frozen(tiny_scenario, obj, field, value):
    with pytest.raises(ValidationError, match="frozen"):
        setattr(obj(tiny_scenario), field, value)


def test_chip_needs_compute():
    base = {"name": "x", "vendor": "v", "designer_country": "US", "release": "2024-01-01", "die_area_mm2": 100,
            "price_usd": 1}
    with pytest.raises(ValidationError, match="at least one precision"):
        ChipSpec.model_validate({**base, "dense_tflops": {}})
    with pytest.raises(ValidationError, match="above 0"):
        ChipSpec.model_validate({**base, "dense_tflops": {"bf16": -1}})
    with pytest.raises(ValidationError, match="fp6"):
        ChipSpec.model_validate({**base, "dense_tflops": {"fp6": 1}})


NOT_SCENARIOS = {"observed.yaml"}  # published observables for the backtest, not a world to simulate
SCENARIOS = sorted(p for p in (Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml")
                   if p.name not in NOT_SCENARIOS)


@pytest.mark.skipif(not SCENARIOS, reason="no scenarios written yet")
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_shipped_scenario_validates(path):
    load_scenario(path)
