"""Mutation harness over the real scenario files: numbers scaled by 0, 1e6 or -1, keys deleted, types swapped,
then validated and (when valid) run.  Every mutation must end in one of two ways:

- **ran**: valid, and the run finished within its time limit;
- **rejected**: ``ScenarioError`` whose every problem is one ``FILE:LINE: path: message`` line;

never **crashed** (any other exception, or a problem that is not one line) or **hung** (validation over
``HANG_SECONDS``, or a run stopped by its wall-time limit).  Runs use a one-year horizon where the file allows it
and a lowered run budget (``EXPORTSIM_MAX_EVENTS``), so the harness stays fast.

Sizes: ``MUTATIONS_CI`` in the default profile (CI), ``MUTATIONS_LONG`` under ``make fuzz``
(``HYPOTHESIS_PROFILE=long``); ``MUTATION_REPORT=FILE`` writes the outcome counts as JSON.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.experiments.sweep.executors import _guarded
from sim.experiments.sweep.watchdog import RunTimeout
from sim.results.simulation import Simulation
from sim.scenario.loader import ScenarioError, load_raw, scenario_from_dict

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*(p for p in (ROOT / "scenarios").glob("*.yaml") if p.name != "observed.yaml"),
                ROOT / "tests" / "data" / "tiny.yaml"])
MUTATIONS_CI = 300
MUTATIONS_LONG = 2500
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
HANG_SECONDS = 20.0
RUN_SECONDS = 20.0
MAX_EVENTS = "2000000"
PROBLEM_LINE = re.compile(r"^[^\n:]+:\d+: \S+: [^\n]+$")
OPS = ("scale0", "scale1e6", "negate", "delete", "to_text", "to_number", "to_list", "to_mapping", "to_null",
       "to_bool", "huge", "tiny")
COUNTS: Counter = Counter()


def _short(data: dict) -> dict:
    """The scenario over its first year, when that still validates (most of the library), else as it is."""
    short = copy.deepcopy(data)
    start = short.get("start")
    if isinstance(start, dt.date):
        short["end"] = start + dt.timedelta(days=365)
        try:
            scenario_from_dict(copy.deepcopy(short))
            return short
        except ScenarioError:
            pass
    return data


def _paths(x, prefix=()) -> list[tuple]:
    out = []
    if isinstance(x, dict):
        for k, v in x.items():
            out.append(prefix + (k,))
            out += _paths(v, prefix + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            out.append(prefix + (i,))
            out += _paths(v, prefix + (i,))
    return out


BASES = {}
for _f in FILES:
    _data, _ = load_raw(_f)
    _base = _short(_data)
    BASES[_f.name] = (_base, _paths(_base))


def _get(data, path):
    for k in path:
        data = data[k]
    return data


def mutate(data: dict, path: tuple, op: str) -> dict:
    data = copy.deepcopy(data)
    parent = _get(data, path[:-1])
    key = path[-1]
    value = parent[key]
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if op == "delete":
        del parent[key]
        return data
    if op in ("scale0", "scale1e6", "negate", "huge", "tiny") and not number:
        op = "to_text"
    new = {"scale0": lambda: value * 0, "scale1e6": lambda: value * 1e6, "negate": lambda: -value,
           "huge": lambda: 1e308, "tiny": lambda: 1e-300, "to_text": lambda: "x\nforged.yaml:1: a: b",
           "to_number": lambda: 7, "to_list": lambda: [value], "to_mapping": lambda: {"value": value},
           "to_null": lambda: None, "to_bool": lambda: True}[op]()
    parent[key] = new
    return data


def _outcome(data: dict) -> str:
    t0 = time.perf_counter()
    try:
        scenario = scenario_from_dict(data, file="mutant.yaml")
    except ScenarioError as e:
        if time.perf_counter() - t0 > HANG_SECONDS:
            return "hung"
        lines = [str(p) for p in e.problems]
        return "rejected" if lines and all(PROBLEM_LINE.match(x) for x in lines) else "crashed"
    if time.perf_counter() - t0 > HANG_SECONDS:
        return "hung"
    try:
        _guarded(Simulation(scenario, 1), RUN_SECONDS)
    except RunTimeout:
        return "hung"
    return "ran"


@pytest.fixture(autouse=True, scope="module")
def _budget():
    old = os.environ.get("EXPORTSIM_MAX_EVENTS")
    os.environ["EXPORTSIM_MAX_EVENTS"] = MAX_EVENTS
    yield
    if old is None:
        os.environ.pop("EXPORTSIM_MAX_EVENTS", None)
    else:
        os.environ["EXPORTSIM_MAX_EVENTS"] = old


@settings(max_examples=MUTATIONS_LONG if LONG else MUTATIONS_CI, deadline=None, derandomize=not LONG,
          suppress_health_check=list(HealthCheck), database=None)
@given(st.data())
def test_mutations_are_run_or_rejected_in_one_line(data):
    name = data.draw(st.sampled_from(sorted(BASES)), label="file")
    base, paths = BASES[name]
    path = data.draw(st.sampled_from(paths), label="path")
    op = data.draw(st.sampled_from(OPS), label="op")
    try:
        outcome = _outcome(mutate(base, path, op))
    except Exception as e:  # noqa: BLE001 - the harness counts it, then fails with the mutation named
        COUNTS["crashed"] += 1
        raise AssertionError(f"{name}: {'.'.join(map(str, path))} {op}: crashed: {type(e).__name__}: {e}") from e
    COUNTS[outcome] += 1
    assert outcome in ("ran", "rejected"), f"{name}: {'.'.join(map(str, path))} {op}: {outcome}"


def test_report_mutation_counts():
    """Runs after the harness (file order): the counts, in the log and in MUTATION_REPORT if set."""
    total = sum(COUNTS.values())
    report = {"mutations": total, **{k: COUNTS.get(k, 0) for k in ("ran", "rejected", "crashed", "hung")}}
    print("mutation harness:", json.dumps(report))
    if os.environ.get("MUTATION_REPORT"):
        Path(os.environ["MUTATION_REPORT"]).write_text(json.dumps(report, indent=2) + "\n")
    if total:
        assert report["crashed"] == report["hung"] == 0, report
        assert report["ran"] > 0 and report["rejected"] > 0, report
