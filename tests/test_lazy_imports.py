"""The light commands start light: ``--help``, ``validate`` and ``run --json`` never import the analysis stack.

pandas, pyarrow, scipy, SALib, DuckDB, plotly and friends cost most of a short command's CPU; they are imported
only by the code that uses them (tables, sweeps, analysis, charts, briefings).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_probe import cli_modules

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "pyarrow", "scipy", "SALib", "duckdb", "plotly", "networkx", "dask", "pyabc", "matplotlib",
         "sklearn", "jinja2", "weasyprint")


@pytest.mark.parametrize("args", [["--help"], ["validate", "scenarios/bytedance_ascend.yaml"],
                                  ["run", "scenarios/bytedance_ascend.yaml", "--json"]],
                         ids=["help", "validate", "run-json"])
def test_light_commands_do_not_import_the_analysis_stack(args):
    modules, p = cli_modules(args)
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert loaded == [], f"{' '.join(args)} imported {loaded}"
    if args[0] == "run":
        kpis = json.loads(p.stdout)
        assert "job_finish_day[bytedance/llm]" in json.dumps(kpis)


@pytest.mark.parametrize("args", [["run", "scenarios/bytedance_ascend.yaml", "--json"], ["schema"]],
                         ids=["run-json", "schema"])
def test_commands_that_print_no_table_do_not_import_rich(args):
    """rich (~25 ms of start-up) is for tables, progress bars on a terminal and problem lines; JSON goes to
    stdout directly, and with no terminal the progress bar is nothing (see sim.cli.common)."""
    modules, p = cli_modules(args)
    loaded = sorted(m for m in modules if m.split(".")[0] == "rich")
    assert loaded == [], f"{' '.join(args)} imported {loaded}"
    assert json.loads(p.stdout)


def test_the_cli_default_observables_file_is_the_backtests():
    from sim.experiments.backtest import DEFAULT_OBSERVED

    src = (ROOT / "sim/cli/library.py").read_text()
    assert f'DEFAULT_OBSERVED = Path("{DEFAULT_OBSERVED.as_posix()}")' in src
