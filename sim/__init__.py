"""exportsim: a discrete-event simulator of the AI-accelerator supply chain under export controls.

Public API::

    from sim import load_scenario, Simulation
    scenario = load_scenario("scenarios/bytedance_ascend.yaml")
    result = Simulation(scenario, seed=1).run()
    result.kpis["job_finish_day[bytedance/llm]"]
    result.tables["shipments"].head()
"""

from sim._version import __version__
from sim.engine.simulation import Simulation
from sim.results.result import RunResult
from sim.scenario.loader import ScenarioError, load_scenario, scenario_from_dict
from sim.schema import Scenario

__all__ = ["RunResult", "Scenario", "ScenarioError", "Simulation", "__version__", "load_scenario", "scenario_from_dict"]
