"""The loader's one-pass reading of plain YAML documents gives exactly what PyYAML's constructor and the line and
size walks give (issue 18: the cold load of a scenario and its catalogue fragments, ~30 % less CPU).

Compared: the data (types included), the line map (order included), the duplicate-key problems and the node
count, over every YAML file in the repository and a few thousand generated documents; documents that are not
plain (aliases, merge keys, other tags, deep nesting) must take the full path.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import pytest
import yaml
from yaml.resolver import BaseResolver

from sim.scenario import loader as L

ROOT = Path(__file__).resolve().parents[1]


def _full(text: str):
    ld = L._PARSER(text)
    try:
        node = ld.get_single_node()
        data = ld.construct_document(node)
        lines = {(): ("f", 1)}
        problems: list = []
        L._walk_lines(node, (), "f", lines, problems, ld, set())
        return ("ok", pickle.dumps(data), list(lines.items()), [str(p) for p in problems], L._expanded_size(node, {}))
    except Exception as e:  # noqa: BLE001 - compared with the plain path's
        return ("error", type(e).__name__, str(e))
    finally:
        ld.dispose()


def _plain(text: str):
    ld = L._PARSER(text)
    try:
        node = ld.get_single_node()
        got = L._plain_document(ld, node, "f")
        if got is None:
            return None
        data, lines, problems, size = got
        return ("ok", pickle.dumps(data), list(lines.items()), [str(p) for p in problems], size)
    except Exception as e:  # noqa: BLE001
        return ("error", type(e).__name__, str(e))
    finally:
        ld.dispose()


def _yaml_files() -> list[Path]:
    return sorted(p for d in ("scenarios", "tests", "benchmarks") for p in (ROOT / d).rglob("*.yaml"))


def test_every_plain_yaml_file_in_the_repository_reads_the_same():
    plain = 0
    for path in _yaml_files():
        try:
            text = path.read_bytes().decode("utf-8")
            node = L._PARSER(text).get_single_node()
        except (UnicodeDecodeError, yaml.YAMLError):
            continue
        if node is None:
            continue
        got = _plain(text)
        if got is not None:
            plain += 1
            assert got == _full(text), path
    assert plain > 100  # the library's scenarios and fragments are all plain


SCALARS = ["0x1F", "0o17", "017", "1_000", "1:20", "-1:20.5", ".inf", "-.Inf", ".NaN", "1e5", "1E+5", "1_0.5", "-0",
           "true", "False", "yes", "no", "on", "~", "null", "", "2022-01-01", "2022-13-01", "2001-12-14 21:59:43.10",
           "2001-12-14t21:59:43.10-05:00", "'quoted'", '"dq\\n"', "!!str 12", "!!int '7'", "!!float '3'", "!!bool x",
           "abc", "a b", "-", "=", "'1e3'", "1.", ".5", "0b101", "12:30", "!!timestamp 2020-02-02", "inf", "0001"]
KEYS = ["a", "b", "a", "1", "true", "2020-01-01", "null", "~", "1.5", "'x'", "k1", "k1"]


def _doc(rnd: random.Random) -> str:
    def value(depth: int) -> str:
        r = rnd.random()
        if depth > 3 or r < 0.4:
            return rnd.choice(SCALARS)
        if r < 0.7:
            return "{" + ", ".join(f"{rnd.choice(KEYS)}: {value(depth + 1)}" for _ in range(rnd.randint(0, 4))) + "}"
        return "[" + ", ".join(value(depth + 1) for _ in range(rnd.randint(0, 4))) + "]"

    return "".join(f"{rnd.choice(KEYS)}: {value(0)}\n" for _ in range(rnd.randint(1, 6)))


def test_generated_documents_read_the_same():
    rnd = random.Random(18)
    compared = 0
    for _ in range(3000):
        text = _doc(rnd)
        try:
            L._PARSER(text).get_single_node()
        except yaml.YAMLError:
            continue
        got = _plain(text)
        if got is not None:
            compared += 1
            assert got == _full(text), text
    assert compared > 1500


@pytest.mark.parametrize("text", [
    "a: &x [1, 2]\nb: *x\n",  # an alias
    "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n",  # a merge key
    "a: !!binary aGVsbG8=\n",  # another tag
    "a: !!set {x, y}\n",
    "? [1, 2]\n: x\n",  # a key that is not a scalar
    "a: !!python/name:os.system\n",
    "a: " + "[" * 100 + "]" * 100 + "\n",  # deeper than the plain path builds
])
def test_documents_that_are_not_plain_take_the_full_path(text):
    assert _plain(text) is None


def test_the_fast_resolver_resolves_as_pyyaml():
    ld = L._FastLoader("a: 1")
    rnd = random.Random(7)
    chars = "0123456789.+-_:eE~nNtTfFyYoO x=<"
    values = ["", "~", "=", "<<", *SCALARS] + ["".join(rnd.choice(chars) for _ in range(rnd.randint(0, 6)))
                                              for _ in range(20000)]
    for v in values:
        for implicit in ((True, False), (False, True), (True, True), (False, False)):
            for kind in (yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode):
                assert ld.resolve(kind, v, implicit) == BaseResolver.resolve(ld, kind, v, implicit), (v, implicit)
