"""The CLI's start-up shortcuts (issue 18) behave as what they stand in for.

* ``out``/``err`` are rich consoles made on first use: same options, attributes pass through.
* The progress runner skips rich only where rich's own terminal test would say "no terminal".
* The entry points run a command with the garbage collector on, the start-up objects frozen, and freeze
  everything on the way out (the interpreter's final collection is skipped work); they shorten OpenBLAS's
  idle spin before numpy loads (its worker threads spun ~0.1 s of CPU per command), keeping a value the user set.
"""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import Progress

from sim.cli import BLAS_SPIN, common
from tests.cli_probe import cli_modules

ROOT = Path(__file__).resolve().parents[1]


class _Stream(io.StringIO):
    def __init__(self, tty: bool | None):
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        if self._tty is None:
            raise ValueError("I/O operation on closed file")
        return self._tty


@pytest.mark.parametrize(("tty_compatible", "force_color", "tty"),
                         list(itertools.product([None, "0", "1", ""], [None, "", "1"], [True, False, None])))
def test_no_terminal_shortcut_only_where_rich_says_no_terminal(monkeypatch, tty_compatible, force_color, tty):
    for name, value in (("TTY_COMPATIBLE", tty_compatible), ("FORCE_COLOR", force_color)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    stream = _Stream(tty)
    shortcut = common._surely_not_a_terminal(stream)
    if shortcut:
        assert not Console(file=stream).is_terminal
    if tty_compatible == "0" or (tty_compatible != "1" and force_color is None and tty is False):
        assert shortcut  # a pipe or a file: no rich at all


def test_progress_runner_is_rich_on_a_terminal_and_inert_without(monkeypatch):
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setattr(sys, "stderr", _Stream(False))
    with common._progress_runner("x") as bar:
        assert not isinstance(bar, Progress)
        task = bar.add_task("run", total=10)
        bar.update(task, completed=5)
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich calls this a terminal: the real bar, on the real console
    bar = common._progress_runner("x")
    assert isinstance(bar, Progress)
    assert bar.live.console is common.err.real


def test_lazy_console_is_a_console_with_the_options_given():
    lazy = common._LazyConsole(stderr=True, soft_wrap=True, width=77)
    assert lazy._console is None  # nothing made until used
    assert lazy.width == 77 and lazy.soft_wrap and lazy.stderr
    assert isinstance(lazy.real, Console) and lazy.real is lazy.real
    assert common.err.real.stderr and common.err.real.soft_wrap


GC_PROBE = """
import gc, sys
seen = {}
def command():
    seen["enabled"] = gc.isenabled() and gc.get_threshold()[0] == 10_000
    seen["frozen"] = gc.get_freeze_count()
    seen["made"] = [[] for _ in range(100)]  # alive at exit
    raise SystemExit(3)
gc.disable()
from sim.cli import _serve
try:
    _serve(command)
except SystemExit as e:
    seen["code"] = e.code
print(seen["enabled"], seen["frozen"] > 0, seen["code"], gc.get_freeze_count() > seen["frozen"])
"""


def test_serve_runs_the_command_collecting_and_freezes_on_the_way_out():
    p = subprocess.run([sys.executable, "-c", GC_PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.stdout.split() == ["True", "True", "3", "True"], p.stderr


@pytest.mark.parametrize("entry", [["-m", "sim.cli"], ["-c", "from sim.cli import main; main()"]])
@pytest.mark.parametrize("preset", [None, "7"])
def test_entry_points_start_with_the_collector_off_and_a_short_blas_spin(entry, preset):
    # sim.cli.main is imported with the collector off and OpenBLAS's spin set (numpy not loaded yet: it reads the
    # variable when it loads); the command runs with the collector on; a spin the user set is kept
    probe = ("import gc, os, sys; import sim.cli as c; real = c._serve\n"
             "def spy(cmd):\n"
             "    sys.stderr.write(f'startup {gc.isenabled()} {os.environ.get(\"OPENBLAS_THREAD_TIMEOUT\")} '\n"
             "                     f'{\"numpy\" in sys.modules}\\n'); real(cmd)\n"
             "c._serve = spy\n")
    code = probe + ("import runpy; runpy.run_module('sim.cli', run_name='__main__')" if entry[0] == "-m"
                    else "from sim.cli import main; main()")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if preset is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = preset
    p = subprocess.run([sys.executable, "-c", code, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env=env)
    assert f"startup False {preset or BLAS_SPIN} False" in p.stderr
    assert p.returncode == 0 and "Usage" in p.stdout


EXTENSIONS = ("sim.cli.library", "sim.cli.brief", "sim.cli.calibrate", "sim.cli.chokepoints", "sim.cli.options",
              "sim.cli.sweep")


def _names(app) -> list[str]:
    import typer.main

    return [c.name or typer.main.get_command_name(c.callback.__name__) for c in app.registered_commands]


def test_app_has_every_command_and_core_names_are_not_reused():
    from sim.cli.main import CORE_COMMANDS, app

    names = _names(app)
    assert len(names) == len(set(names))  # an extension never shadows a core command
    assert set(names) > CORE_COMMANDS
    assert {"run", "validate", "compare"} <= CORE_COMMANDS
    assert {"sweep", "brief", "calibrate", "chokepoints", "options", "backtest", "diff"} <= set(names) - CORE_COMMANDS


@pytest.mark.parametrize(("args", "loaded"), [
    (["run", "scenarios/bytedance_ascend.yaml", "--json"], False), (["validate", "tests/data/tiny.yaml"], False),
    (["--help"], True), (["sweep", "--help"], True), (["grap"], True)])
def test_a_core_command_runs_without_the_extension_modules(args, loaded):
    modules, p = cli_modules(args)
    seen = sorted(modules & set(EXTENSIONS))
    assert seen == (sorted(EXTENSIONS) if loaded else []), p.stderr


STARTING_PROBE = """
import gc
from sim.cli import common
from sim.cli.common import starting
seen = []
with starting():
    seen.append(gc.isenabled())
common.serving = True
before = gc.get_freeze_count()
with starting():
    seen.append(gc.isenabled())
    made = [[] for _ in range(100)]
seen += [gc.isenabled(), gc.get_freeze_count() > before]
print(*seen)
"""


def test_a_commands_start_up_pauses_the_collector_only_in_the_cli_process():
    p = subprocess.run([sys.executable, "-c", STARTING_PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.stdout.split() == ["True", "False", "True", "True"], p.stderr
