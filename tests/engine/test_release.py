"""A finished World holds no reference cycle: dropping it frees it at once, without the cyclic collector.

``World.run`` closes the processes still waiting at the horizon (``sim.engine.simulation._release``).  Before it
did, each waiting process and its event formed a cycle through the generator's frame back to the world, so a
dead world (every row, order and cohort of it) waited in the collector's oldest generation, and every full
collection scanned all of them first.
"""

from __future__ import annotations

import ast
import gc
import weakref
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
import simpy

from sim import load_scenario
from sim.engine.simulation import World
from sim.results.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
# the flagship; jobs waiting on an AllOf / AnyOf of events (rentals, a remote-access ban); a tiny world
SCENARIOS = ["scenarios/bytedance_ascend.yaml", "scenarios/bytedance_ascend_rent_no_remote.yaml",
             "scenarios/remote_access_ban.yaml", "tests/data/tiny.yaml"]


@contextmanager
def collector_off():
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@pytest.mark.parametrize("path", SCENARIOS)
def test_a_finished_world_is_freed_when_dropped(path):
    scenario = load_scenario(ROOT / path)
    with collector_off():
        w = World(scenario, 1)
        w.run()
        alive = weakref.ref(w)
        del w
        assert alive() is None, "a reference cycle still holds the finished world"
        # what is left for the collector is SimPy's own small cycles (the environment's bound methods, a
        # condition and its events), never a process or a generator
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            kinds = Counter(type(o).__name__ for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        assert kinds["Process"] == 0 and kinds["generator"] == 0, kinds
        assert sum(kinds.values()) < 100, kinds


def test_a_result_does_not_keep_its_world():
    scenario = load_scenario(ROOT / SCENARIOS[0])
    with collector_off():
        sim = Simulation(scenario, 2)
        result = sim.run()
        alive = weakref.ref(sim)
        del sim
        assert alive() is None
        assert result.kpis and len(result.tables["shipments"]) > 0  # the rows and the scenario are the result's


def test_every_process_left_waiting_is_closed():
    scenario = load_scenario(ROOT / SCENARIOS[1])
    w = World(scenario, 1)
    seen: list[simpy.Process] = []
    start = w.env.process

    def process(gen):
        p = start(gen)
        seen.append(p)
        return p

    w.env.process = process  # type: ignore[method-assign]
    w.run()
    waiting = [p for p in seen if p.is_alive]
    assert waiting, "some processes outlive the horizon (review loops, supply lines)"
    assert all(p._generator.gi_frame is None for p in waiting)  # closed: no frame holds the world
    assert not w.env._queue


def _generator_functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(node)):
            yield node


def test_no_engine_process_runs_code_when_closed():
    """Closing a generator raises GeneratorExit at its ``yield``: only a ``finally``, a ``with`` or an
    ``except`` catching it would run model code then.  No process in the engine has one."""
    found = []
    for path in sorted((ROOT / "sim" / "engine").rglob("*.py")):
        for fn in _generator_functions(ast.parse(path.read_text())):
            for n in ast.walk(fn):
                catches = isinstance(n, ast.Try) and (n.finalbody or any(
                    h.type is None or "Exit" in ast.unparse(h.type) or "BaseException" in ast.unparse(h.type)
                    for h in n.handlers))
                if catches or isinstance(n, ast.With):
                    found.append(f"{path.relative_to(ROOT)}:{n.lineno} in {fn.name}")
    assert not found, found
