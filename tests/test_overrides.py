"""Design points applied to a validated base equal a full re-load of the edited scenario.

``apply_overrides`` validates only the section entries a path touches; it must give exactly what dumping the
base, setting the paths and validating everything gives (same content, same mapping order, same canonical
register), and the same one-line error when the variant is invalid.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from sim import load_scenario
from sim.scenario.canonical import canonical, is_canonical, sorted_data
from sim.scenario.loader import ScenarioError, scenario_from_dict
from sim.scenario.overrides import SECTIONS, apply_overrides
from sim.scenario.paths import PathError, with_assignments
from sim.schema import Scenario

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "scenarios" / "bytedance_ascend.yaml"


def _leaves(x, path=()):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _leaves(v, (*path, str(k)))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _leaves(v, (*path, str(i)))
    else:
        yield ".".join(path), x


def _reference(base: Scenario, assigns):
    """The long way, and the old canonical form: dump, set, validate, dump again, sort, validate."""
    s = scenario_from_dict(with_assignments(base.model_dump(by_alias=True), assigns))
    return Scenario.model_validate(sorted_data(s.model_dump(by_alias=True)), context={"skip_cross_check": True})


def _same(a: Scenario, b: Scenario) -> None:
    assert json.dumps(a.model_dump(mode="json", by_alias=True)) == json.dumps(b.model_dump(mode="json", by_alias=True))


@pytest.fixture(scope="module")
def base():
    return load_scenario(FLAGSHIP)


def _numeric_points(base: Scenario, n: int, seed: int):
    data = base.model_dump(by_alias=True)
    leaves = [(p, v) for p, v in _leaves(data) if p.split(".")[0] in SECTIONS
              and isinstance(v, (int, float)) and not isinstance(v, bool)]
    rng = random.Random(seed)
    for path, v in rng.sample(leaves, n):
        factor = rng.choice([0.5, 0.9, 1.1, 2.0, -1.0, 0.0])
        yield path, (type(v)(v * factor) if isinstance(v, int) else v * factor)


def test_canonical_reorders_without_revalidating_and_equals_the_old_form():
    """canonical() re-orders the validated models; the old way (dump, sort, validate) gives the same scenario.
    A file as loaded keeps its own order (for display)."""
    for p in sorted((ROOT / "scenarios").glob("*.yaml")):
        if p.name == "observed.yaml":
            continue
        s = load_scenario(p)
        c = canonical(s)
        assert is_canonical(c) and canonical(c) is c
        old = Scenario.model_validate(sorted_data(s.model_dump(by_alias=True)), context={"skip_cross_check": True})
        _same(c, old)
        if list(s.rules) != sorted(s.rules):
            assert not is_canonical(s)


def test_a_copy_is_not_taken_for_canonical(base):
    copy = base.model_copy(update={"name": "x"})
    assert not is_canonical(copy)
    assert is_canonical(canonical(copy))


@pytest.mark.parametrize("seed", range(6))
def test_overrides_equal_a_full_reload(base, seed):
    """Random numeric paths in every section, some of them made invalid (negative, zero): same scenario, or
    the same error."""
    points = list(_numeric_points(base, 40, seed))
    for i in range(0, len(points), 2):
        assigns = points[i:i + 2]
        want, error = _outcome(_reference, base, assigns)
        got, got_error = _outcome(apply_overrides, base, assigns)
        assert got_error == error
        if error is None:
            _same(got, want)
            assert is_canonical(got)


def test_sweep_paths_and_whole_values(base):
    """The benchmark's and the dashboard's kind of paths, a distribution replaced whole, and a top-level field."""
    cases = [
        [("nodes.smic.allocation.ascend910b.die_yield.mean", 0.55)],
        [("nodes.sg-hub.grey.share_of_denied", 0.1)],
        [("rules.us_2023_10.scope.items.0.tpp_min", 2400.0), ("nodes.smic.allocation.ascend910b.die_yield.mean", 0.4)],
        [("labs.bytedance.jobs.llm.target_flop", 2e25)],
        [("end", "2028-12-31")],
    ]
    data = base.model_dump(by_alias=True)
    cases = [c for c in cases if all(_has(data, p) for p, _v in c)]
    assert len(cases) >= 3
    for assigns in cases:
        _same(apply_overrides(base, assigns), _reference(base, assigns))


def test_a_wrong_path_is_the_path_error(base):
    with pytest.raises(PathError, match="did you mean 'smic'"):
        apply_overrides(base, [("nodes.smicc.allocation", 1)])
    with pytest.raises(PathError):
        apply_overrides(base, [("nodes.smic.no_such_field", 1)])


def test_a_broken_reference_is_the_loaders_error(base):
    rule = next(iter(base.rules))
    assigns = [(f"rules.{rule}.overrides", ["no_such_rule"])]
    with pytest.raises(ScenarioError) as want:
        _reference(base, assigns)
    with pytest.raises(ScenarioError) as got:
        apply_overrides(base, assigns)
    assert str(got.value) == str(want.value)


def _outcome(f, *args):
    """(result, None) or (None, the ScenarioError's text)."""
    try:
        return f(*args), None
    except ScenarioError as e:
        return None, str(e)


def _has(data, path):
    from sim.scenario.paths import has_path

    return has_path(data, path)


def test_parse_cache_follows_the_bytes(tmp_path):
    """A file is parsed once per process for the same bytes; an edit is seen at once, and errors keep their
    exact lines on a cached parse."""
    from sim.scenario import loader

    src = (ROOT / "tests/data/tiny.yaml").read_text()
    p = tmp_path / "t.yaml"
    p.write_text(src)
    first = load_scenario(p)
    hits = len(loader._PARSED)
    again = load_scenario(p)
    assert len(loader._PARSED) == hits  # no new entry: the cached parse was used
    _same(first, again)
    assert again is not first
    p.write_text(src.replace(f"name: {first.name}", "name: edited", 1))
    assert load_scenario(p).name == "edited"
    bad = src + "\nseed: -3\n"
    p.write_text(bad)
    line = bad.count("\n")
    for _ in range(2):  # parsed, then cached: the same message and line
        with pytest.raises(ScenarioError, match=rf"t.yaml:{line}: seed"):
            load_scenario(p)
