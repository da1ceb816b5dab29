"""exportsim: a discrete-event simulator of the AI-accelerator supply chain under export controls.

Public API::

    from sim import load_scenario, Simulation
    scenario = load_scenario("scenarios/bytedance_ascend.yaml")
    result = Simulation(scenario, seed=1).run()
    result.kpis["job_finish_day[bytedance/llm]"]
    result.tables["shipments"].head()
"""

__version__ = "0.1.0"

from sim.engine.simulation import Simulation  # noqa: E402
from sim.results.result import RunResult  # noqa: E402
from sim.scenario.loader import ScenarioError, load_scenario, scenario_from_dict  # noqa: E402
from sim.schema import Scenario  # noqa: E402

__all__ = ["RunResult", "Scenario", "ScenarioError", "Simulation", "__version__", "load_scenario", "scenario_from_dict"]
