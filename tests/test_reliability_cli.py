"""Issue 19, command-line side: usage errors for seeds and counts, unwritable standard output, output paths checked
before the long work, Ctrl-C quiet with exit 130 at any moment, no wrapping, no numerical warnings on stderr."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.cli import app

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
TINY = TESTS / "data" / "tiny.yaml"
FLAGSHIP = ROOT / "scenarios" / "bytedance_ascend.yaml"


def _exportsim() -> list[str]:
    script = Path(sys.executable).parent / "exportsim"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sim.cli"]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "EXPORTSIM_DEBUG"}
    env.update(COLUMNS="80", **extra)
    return env


def _child(*argv: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*_exportsim(), *argv], capture_output=True, text=True, timeout=timeout, env=_env(), **kw)


@pytest.mark.parametrize("argv", [
    ["run", str(TINY), "--seed", "-1"],
    ["run", str(TINY), "--seed", str(2**64)],
    ["compare", str(TINY), "--without-rules", "--seed", "-5"],
    ["compare", str(TINY), "--without-rules", "--replications", "-1"],
    ["chokepoints", str(TINY), "--seed", "-1"],
    ["brief", str(TINY), "--seed", "-1"],
    ["sweep", str(TESTS / "corpus" / "sweep" / "_good_spec.yaml"), "--limit", "-1"],
])
def test_negative_seeds_and_counts_are_usage_errors(runner, argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [["run", str(TINY), "--json"], ["schema"], ["validate", str(TINY)]])
def test_a_full_standard_output_is_one_line(argv):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([*_exportsim(), *argv], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60,
                              env=_env())
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == ["exportsim: cannot write to standard output: No space left on device"]


def test_a_closed_pipe_is_quiet():
    proc = subprocess.Popen([*_exportsim(), "schema"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    proc.stdout.read(10)
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err and b"Exception ignored" not in err, err
    assert proc.returncode in (0, 141)


def test_output_folder_is_checked_before_the_run(tmp_path):
    (tmp_path / "a_file").write_text("x")
    t0 = time.perf_counter()
    proc = _child("run", str(FLAGSHIP), "--out", str(tmp_path / "a_file" / "tables"))
    assert time.perf_counter() - t0 < 15  # no 6-year run first
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"{tmp_path / 'a_file' / 'tables'}: cannot write: {tmp_path / 'a_file'} is a "
                                        "file, not a folder"]


def test_the_internal_error_line_is_not_wrapped(tmp_path):
    """stderr is a pipe here: rich would wrap at 80 columns; the line must stay whole."""
    code = ("import sys; sys.argv = ['exportsim', 'validate', sys.argv[1]]\n"
            "import sim.cli.main as m\n"
            "def boom(*a, **k): raise RuntimeError('x' * 150)\n"
            "m.load_scenario = boom\n"
            "m.main()\n")
    proc = subprocess.run([sys.executable, "-c", code, str(TINY)], capture_output=True, text=True, timeout=60,
                          env=_env())
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("exportsim: internal error: RuntimeError: xxx") and lines[0].endswith("for details)")


@pytest.mark.parametrize("delay", [0.2, 0.35, 0.6, 1.5, 3.0])
def test_ctrl_c_at_any_moment_is_quiet(delay):
    """SIGINT while Python imports numpy, pydantic and SimPy (the first second), while loading, and while running:
    one line, exit 130.  (A SIGINT in the first ~50 ms lands in CPython's own start-up, in ``site``, before any
    line of exportsim runs: the interpreter's message, not ours; see SECURITY.md.)"""
    proc = subprocess.Popen([*_exportsim(), "compare", str(FLAGSHIP), "--without-rules", "--replications", "50"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    if proc.returncode == -signal.SIGINT:  # arrived before the interpreter installed its handler: killed, silent
        assert err == ""
        return
    assert proc.returncode == 130, (proc.returncode, err)
    assert err.splitlines() == ["interrupted"], err
    assert out == ""


_SELF_SIGNALLING = ("import os, signal, time\n"
                    "for _ in range({n}):\n"
                    "    os.kill(os.getpid(), signal.SIGINT)\n"
                    "t0 = time.perf_counter()\n"
                    "while time.perf_counter() - t0 < 0.2:\n"
                    "    pass\n"
                    "FINISHED = True\n")


def _held_probe(tmp_path, module_text: str, body: str) -> list[str]:
    """Run *body* in a child after ``sim.cli._start()`` (the CLI's handlers), with *module_text* importable as
    ``slow_module``; its printed lines."""
    (tmp_path / "slow_module.py").write_text(module_text)
    code = ("import signal, sys, time; sys.path.insert(0, sys.argv[1])\n"
            "import sim.cli, sim.cli.interrupts; sim.cli._start()\n"
            "print('alarm before:', signal.getsignal(signal.SIGALRM) is signal.SIG_DFL)\n" + body)
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60,
                          env=_env())
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_a_ctrl_c_inside_an_import_waits_for_the_import_to_finish(tmp_path):
    """The CLI's handler (sim.cli._start): a SIGINT that lands while a module is being imported is raised once the
    import has finished (at the next 50 ms check with no import on the stack), so no library can turn it into an
    ImportError (pybind11 does) and carry on without the module.  The module signals its own process and then
    runs Python code for 0.2 s: its whole body runs, and the interrupt comes in the code after the import.
    SIGALRM, the re-check's timer, is Python's default again before and after the hold."""
    lines = _held_probe(tmp_path, _SELF_SIGNALLING.format(n=1),
                        "try:\n"
                        "    import slow_module\n"
                        "    time.sleep(5)\n"
                        "    print('not interrupted')\n"
                        "except KeyboardInterrupt:\n"
                        "    print('interrupted after the import:', sys.modules['slow_module'].FINISHED)\n"
                        "print('alarm after:', signal.getsignal(signal.SIGALRM) is signal.SIG_DFL)\n")
    assert lines == ["alarm before: True", "interrupted after the import: True", "alarm after: True"]


def test_a_second_ctrl_c_inside_an_import_is_raised_at_once(tmp_path):
    """An import that hangs can still be stopped: the second SIGINT raises inside it."""
    lines = _held_probe(tmp_path, _SELF_SIGNALLING.format(n=2),
                        "try:\n"
                        "    import slow_module\n"
                        "    print('not interrupted')\n"
                        "except KeyboardInterrupt:\n"
                        "    print('interrupted inside the import:', 'slow_module' not in sys.modules)\n"
                        "print('alarm after:', signal.getsignal(signal.SIGALRM) is signal.SIG_DFL)\n")
    assert lines == ["alarm before: True", "interrupted inside the import: True", "alarm after: True"]


def test_a_held_ctrl_c_is_handed_to_a_process_that_ends_first(tmp_path):
    """A command that ends within the re-check's 50 ms of a held interrupt: ``release_held_interrupt`` says one
    was held (the CLI then exits 130) and nothing is raised afterwards."""
    fast = "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nFINISHED = True\n"
    lines = _held_probe(tmp_path, fast,
                        "import slow_module\n"
                        "print('held:', sim.cli.interrupts.release_held_interrupt())\n"
                        "time.sleep(0.3)\n"
                        "print('held again:', sim.cli.interrupts.release_held_interrupt())\n")
    assert lines == ["alarm before: True", "held: True", "held again: False"]


def test_an_error_raised_by_an_interrupt_is_an_interrupt():
    from sim.cli.main import _caused_by_interrupt

    def extension_start_up() -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as ki:
            raise ImportError("initialization failed") from ki

    with pytest.raises(ImportError) as info:
        extension_start_up()
    assert _caused_by_interrupt(info.value)
    assert not _caused_by_interrupt(ImportError("no module named x"))


def test_numerical_warnings_never_reach_stderr(tmp_path):
    """A spec whose ranges make scipy warn: the problem lines are all that is printed."""
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: w\nbase: {TINY}\ndesign: {{kind: lhs, n: 2}}\nuncertainties:\n"
                    "  y: {path: nodes.smic.allocation.ascend910b.die_yield, dist: normal, mean: 0.5, sd: 1.0e+300}\n")
    proc = _child("sweep", str(spec), "--store", str(tmp_path / "st"))
    assert proc.returncode == 2
    assert "Warning" not in proc.stderr and "site-packages" not in proc.stderr, proc.stderr
    assert all(line.startswith(("s.yaml:", str(spec))) for line in proc.stderr.splitlines()), proc.stderr
