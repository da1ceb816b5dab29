"""``extends:`` and ``include:``: deep merge, null deletes, lists replaced whole, paths relative to the file
that names them, and problems reported in the file (and at the line) where the offending key was written."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sim.scenario.loader import ScenarioError, load_raw, load_scenario

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"


def write(root: Path, name: str, text: str) -> Path:
    f = root / name
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(textwrap.dedent(text).lstrip("\n"))
    return f


def test_variant_changes_one_value_and_deletes_the_rule(tiny_scenario):
    v = load_scenario(TINY.parent / "tiny_variant.yaml")
    assert v.name == "tiny-variant"
    assert v.nodes["smic"].wafer_starts_per_month[0].value.value == 2000
    assert v.rules == {}
    # everything else is inherited unchanged, including smic's siblings of the changed key
    assert v.nodes["smic"].allocation == tiny_scenario.nodes["smic"].allocation
    same = {"name", "nodes", "rules"}
    assert v.model_dump(exclude=same) == tiny_scenario.model_dump(exclude=same)
    assert {k: n for k, n in v.nodes.items() if k != "smic"} == {
        k: n for k, n in tiny_scenario.nodes.items() if k != "smic"
    }


def test_deep_merge_null_and_lists(tmp_path):
    base = write(tmp_path, "base.yaml", """
        a:
          b: 1
          c: {d: 2, e: 3}
          f: [1, 2, 3]
        g: keep
        h: {i: 1}
    """)
    child = write(tmp_path, "child.yaml", f"""
        extends: {base.name}
        a:
          c: {{e: 30, z: 26}}
          f: [9]
        g: null
        h: scalar now
        missing: null
    """)
    data, _ = load_raw(child)
    assert data == {"a": {"b": 1, "c": {"d": 2, "e": 30, "z": 26}, "f": [9]}, "h": "scalar now"}
    assert base.read_text().startswith("a:")  # the base file itself is untouched


def test_order_bases_then_includes_then_file(tmp_path):
    write(tmp_path, "b1.yaml", "x: b1\ny: b1\nz: b1\nw: b1\n")
    write(tmp_path, "b2.yaml", "x: b2\ny: b2\nz: b2\n")
    write(tmp_path, "i1.yaml", "x: i1\ny: i1\n")
    child = write(tmp_path, "child.yaml", "include: [i1.yaml]\nextends: [b1.yaml, b2.yaml]\nx: child\n")
    data, _ = load_raw(child)
    assert data == {"x": "child", "y": "i1", "z": "b2", "w": "b1"}


def test_paths_are_relative_to_the_naming_file(tmp_path, monkeypatch):
    """A child in a subfolder extends ../base.yaml, which includes a fragment relative to *itself*."""
    head, rest = TINY.read_text().split("\nchips:\n", 1)
    chips_body, tail = rest.split("\nnodes:\n", 1)
    write(tmp_path, "_frag/chips.yaml", "chips:\n" + chips_body + "\n")
    write(tmp_path, "base.yaml", "include: [_frag/chips.yaml]\n" + head + "\nnodes:\n" + tail)
    child = write(tmp_path, "studies/sub/child.yaml", "extends: ../../base.yaml\nname: from-a-subfolder\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory must not matter
    s = load_scenario(child)
    assert s.name == "from-a-subfolder"
    assert set(s.chips) == {"h100", "ascend910b"}
    assert s.model_dump(exclude={"name"}) == load_scenario(TINY).model_dump(exclude={"name"})


def test_absolute_extends(tmp_path):
    child = write(tmp_path, "abs.yaml", f"extends: {TINY}\nseed: 99\n")
    assert load_scenario(child).seed == 99


def test_extends_chain_three_deep(tmp_path):
    write(tmp_path, "a.yaml", f"extends: {TINY}\nseed: 1\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\nseed: 2\nname: b\n")
    c = write(tmp_path, "c.yaml", "extends: b.yaml\nseed: 3\n")
    s = load_scenario(c)
    assert (s.seed, s.name) == (3, "b")


def test_same_base_twice_is_not_a_cycle(tmp_path):
    write(tmp_path, "x.yaml", f"extends: {TINY}\n")
    write(tmp_path, "y.yaml", f"extends: {TINY}\n")
    d = write(tmp_path, "d.yaml", "extends: [x.yaml, y.yaml]\n")
    assert load_scenario(d).name == "tiny"


def test_self_extends_is_a_cycle(tmp_path):
    f = write(tmp_path, "self.yaml", "extends: self.yaml\nname: me\n")
    with pytest.raises(ScenarioError, match="cyclic extends"):
        load_raw(f)


# ------------------------------------------------------------------------------------- where errors land

BASE = """
    # a base with one mistake, on line 9
    extends: {tiny}
    nodes:
      smic:
        cycle_time_days: 90
      huawei-pkg:
        kind: packager
        country: CN
        chips_per_month: -1
"""


@pytest.fixture
def bad_base(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return write(tmp_path, "base/bad_base.yaml", BASE.format(tiny=TINY))


def _only(path: Path) -> tuple[str, int, str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (p,) = info.value.problems
    return p.file, p.line, p.path


def test_error_in_base_points_into_base(bad_base, tmp_path):
    child = write(tmp_path, "child.yaml", """
        extends: base/bad_base.yaml
        name: child
        nodes:
          smic:
            cycle_time_days: 60
    """)
    assert _only(child) == (str(Path("base/bad_base.yaml")), 9, "nodes.huawei-pkg.chips_per_month")


def test_error_in_base_sibling_of_overridden_key(bad_base, tmp_path):
    """The child overrides a sibling inside the same node; the base's bad key keeps its base line."""
    child = write(tmp_path, "child.yaml", """
        extends: base/bad_base.yaml
        nodes:
          huawei-pkg:
            packaging_yield: 0.9
    """)
    assert _only(child) == (str(Path("base/bad_base.yaml")), 9, "nodes.huawei-pkg.chips_per_month")


def test_fixed_in_child_then_broken_in_child(bad_base, tmp_path):
    fixed = write(tmp_path, "fixed.yaml",
                  "extends: base/bad_base.yaml\nnodes:\n  huawei-pkg:\n    chips_per_month: 5\n")
    assert load_scenario(fixed).nodes["huawei-pkg"].chips_per_month[0].value.value == 5
    broken = write(tmp_path, "broken.yaml", """
        extends: base/bad_base.yaml
        nodes:
          huawei-pkg:
            chips_per_month: 5
          smic:
            cycle_time_days: -2
    """)
    assert _only(broken) == ("broken.yaml", 6, "nodes.smic.cycle_time_days")


def test_cross_reference_error_in_base_points_into_base(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "base.yaml",
          f"extends: {TINY}\nedges:\n  extra:\n    from: nvidia\n    to: lab-xx\n    flow: chips\n")
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nseed: 3\n")
    assert _only(child) == ("base.yaml", 5, "edges.extra.to")


def test_overridden_key_takes_its_line_from_the_child(bad_base, tmp_path):
    """The child restates the whole node with a different mistake: the problem is reported in the child."""
    child = write(tmp_path, "child.yaml", """
        extends: base/bad_base.yaml
        nodes:
          huawei-pkg:
            kind: packager
            country: CN
            chips_per_month: -7
    """)
    file, line, path = _only(child)
    assert (file, line, path) == ("child.yaml", 6, "nodes.huawei-pkg.chips_per_month")


def test_yaml_error_in_base_names_the_base(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "lib/broken.yaml", "name: x\nnodes: [a,\n")
    child = write(tmp_path, "child.yaml", "extends: lib/broken.yaml\n")
    file, _, path = _only(child)
    assert (file, path) == (str(Path("lib/broken.yaml")), "")
