"""exportsim: a discrete-event simulator of the AI-accelerator supply chain under export controls.

Public API::

    from sim import load_scenario, Simulation
    scenario = load_scenario("scenarios/bytedance_ascend.yaml")
    result = Simulation(scenario, seed=1).run()
    result.kpis["job_finish_day[bytedance/llm]"]
    result.tables["shipments"].head()
"""

from typing import TYPE_CHECKING

# Loaded on first use (PEP 562), so `import sim.cli` is quick: the console script can catch Ctrl-C (exit 130,
# one line) before numpy, pydantic and SimPy are imported.
_LAZY = {"Simulation": "sim.results.simulation", "RunResult": "sim.results.result",
         "ScenarioError": "sim.scenario.loader",
         "load_scenario": "sim.scenario.loader", "scenario_from_dict": "sim.scenario.loader", "Scenario": "sim.schema"}

if TYPE_CHECKING:  # pragma: no cover
    from sim.results.result import RunResult
    from sim.results.simulation import Simulation
    from sim.scenario.loader import ScenarioError, load_scenario, scenario_from_dict
    from sim.schema import Scenario


def __getattr__(name: str):
    if name == "__version__":
        from sim._version import package_version

        return package_version()
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sim' has no attribute {name!r}")

__all__ = ["RunResult", "Scenario", "ScenarioError", "Simulation", "__version__", "load_scenario", "scenario_from_dict"]
