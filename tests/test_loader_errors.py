"""Every malformed scenario in tests/malformed/ fails cleanly: exit 2, one ``FILE:LINE: path: message`` line
per problem, the expected message and path, the line of the offending key, and never a traceback.

Each corpus file opens with comment headers:

``# expect: <substring of the message>`` and ``# path: <dotted path, or - for the whole file>`` (required);
``# line: N`` the line of the offending key; ``# file: NAME`` when the problem is reported in another file;
``# xfail: <bug>`` the whole case fails today; ``# xfail-where: <bug>`` only FILE:LINE/path is wrong today;
``# run: subprocess`` run only in a resource-limited child process (inputs that could hang the test run).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sim.cli import app
from sim.scenario.loader import LoadProblem, ScenarioError, load_scenario

MALFORMED = Path(__file__).resolve().parent / "malformed"
PROBLEM_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<path>\S+): (?P<message>.+)$")
CHILD_SECONDS = 20  # wall-clock limit for one child `exportsim validate`
CHILD_MEMORY_BYTES = 1_500_000_000  # address-space limit for the child


@dataclass(frozen=True)
class Case:
    """One corpus file and what its headers promise."""

    name: str
    expect: str
    path: str
    line: int | None
    file: str
    xfail: str | None
    xfail_where: str | None
    subprocess_only: bool


def _read_case(f: Path) -> Case:
    head: dict[str, str] = {}
    for raw in f.read_bytes().splitlines():
        m = re.match(rb"^# ([a-z-]+): (.*)$", raw)
        if not m:
            break
        head[m[1].decode()] = m[2].decode()
    assert {"expect", "path"} <= set(head), f"{f.name}: needs '# expect:' and '# path:' headers"
    return Case(
        name=f.name,
        expect=head["expect"],
        path=head["path"],
        line=int(head["line"]) if "line" in head else None,
        file=head.get("file", f.name),
        xfail=head.get("xfail"),
        xfail_where=head.get("xfail-where"),
        subprocess_only=head.get("run") == "subprocess",
    )


CASES = [_read_case(f) for f in sorted(MALFORMED.glob("*.yaml"))]


def _param(case: Case, *, where: bool = False):
    reason = case.xfail or (case.xfail_where if where else None)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(case, id=case.name.removesuffix(".yaml"), marks=marks)


IN_PROCESS = [c for c in CASES if not c.subprocess_only]


@pytest.fixture
def in_malformed(monkeypatch):
    """Run from tests/malformed so reported file names are the bare corpus names."""
    monkeypatch.chdir(MALFORMED)


def _problem_lines(text: str) -> list[re.Match]:
    lines = text.splitlines()
    assert lines, "no problem reported"
    matches = [PROBLEM_LINE.match(line) for line in lines]
    bad = [line for line, m in zip(lines, matches, strict=True) if m is None]
    assert not bad, f"lines not in FILE:LINE: path: message form: {bad}"
    return matches  # type: ignore[return-value]


def _find(case: Case, matches: list[re.Match]) -> re.Match:
    hits = [m for m in matches if case.expect in m["message"]]
    assert hits, f"no problem mentions {case.expect!r}: {[m[0] for m in matches]}"
    return hits[0]


def test_corpus_is_big_enough():
    assert len(CASES) >= 24


@pytest.mark.parametrize("case", [_param(c) for c in IN_PROCESS])
def test_validate_reports_problem(case: Case, runner, in_malformed):
    result = runner.invoke(app, ["validate", case.name])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""  # no 'ok FILE' for a bad file
    hit = _find(case, _problem_lines(result.stderr))
    if case.xfail_where is None:  # known-wrong locations are checked (as xfail) in test_problem_location
        assert (hit["file"], hit["path"]) == (case.file, case.path)
        if case.line is not None:
            assert int(hit["line"]) == case.line


@pytest.mark.parametrize("case", [_param(c, where=True) for c in IN_PROCESS])
def test_problem_location(case: Case, in_malformed):
    """The problem names the dotted path, and LINE is where the offending key was written."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(case.name)
    problems: list[LoadProblem] = info.value.problems
    hits = [p for p in problems if case.expect in p.message]
    assert hits, [str(p) for p in problems]
    p = hits[0]
    assert (p.path or "-") == case.path
    assert p.file == case.file
    if case.line is not None:
        assert p.line == case.line, str(p)


def test_at_least_a_handful_of_exact_lines():
    assert sum(c.line is not None and c.line > 1 for c in CASES) >= 10


def test_missing_file(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", "nowhere.yaml"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["nowhere.yaml:1: -: file not found"]


def test_directory_is_not_a_scenario(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.yaml").mkdir()
    result = runner.invoke(app, ["validate", "d.yaml"])
    assert result.exit_code == 2
    assert "is a directory" in result.stderr


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    f = tmp_path / "two.yaml"
    f.write_text(
        f"extends: {MALFORMED.parent / 'data' / 'tiny.yaml'}\n"
        "questoin: typo\n"
        "nodes:\n  huawei-pkg:\n    chips_per_month: -1\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)
    assert sorted(p.path for p in info.value.problems) == ["nodes.huawei-pkg.chips_per_month", "questoin"]
    assert sorted(p.line for p in info.value.problems) == [2, 5]


def test_one_bad_file_among_good_ones(runner, tiny_path, in_malformed):
    """validate checks every file, prints 'ok' for the good ones, and still exits 2."""
    result = runner.invoke(app, ["validate", str(tiny_path), "empty.yaml", str(tiny_path)])
    assert result.exit_code == 2
    assert result.stdout.count("ok ") == 2
    assert result.stderr.strip() == "empty.yaml:1: -: file is empty"


@pytest.mark.parametrize("written", ["2.0e+9", "2.0e9", "2e9", "2_000_000_000"])
def test_scientific_notation_is_a_number(tmp_path, written):
    """YAML 1.1 (PyYAML) reads ``2.0e9`` as a string; scenario authors write it all the time."""
    f = tmp_path / "budget.yaml"
    f.write_text(
        f"extends: {MALFORMED.parent / 'data' / 'tiny.yaml'}\n"
        f"labs:\n  lab-cn:\n    budget_usd_per_year: {written}\n"
    )
    assert load_scenario(f).labs["lab-cn"].budget_usd_per_year[0].value.value == 2e9


@pytest.mark.parametrize(("written", "flag"), [("yes", True), ("no", False), ("on", True), ("off", False)])
def test_yaml11_booleans_are_strings(tmp_path, written, flag):
    """Only true/false are YAML booleans, so ``NO`` (Norway) stays a country; a bool field still takes ``yes``."""
    f = tmp_path / "flag.yaml"
    f.write_text(
        f"extends: {MALFORMED.parent / 'data' / 'tiny.yaml'}\n"
        f"chips:\n  h100:\n    datacenter: {written}\n"
        "nodes:\n  sg-hub:\n    country: NO\n"
    )
    s = load_scenario(f)
    assert s.chips["h100"].datacenter is flag
    assert s.nodes["sg-hub"].country == "NO"


@pytest.mark.parametrize(
    ("key", "value"),
    [("wafer_starts_per_month", ".nan"), ("cycle_time_days", ".nan")],
)
def test_nan_is_rejected(tmp_path, key, value):
    f = tmp_path / "nan.yaml"
    f.write_text(
        f"extends: {MALFORMED.parent / 'data' / 'tiny.yaml'}\n"
        f"nodes:\n  smic:\n    {key}: {value}\n"
    )
    with pytest.raises(ScenarioError):
        load_scenario(f)


def test_nan_yield_is_rejected(tmp_path):
    f = tmp_path / "nan.yaml"
    f.write_text(
        f"extends: {MALFORMED.parent / 'data' / 'tiny.yaml'}\n"
        "nodes:\n  smic:\n    allocation:\n      ascend910b:\n        die_yield: .nan\n"
    )
    with pytest.raises(ScenarioError):
        load_scenario(f)


def test_numeric_id_line(tmp_path):
    f = tmp_path / "numid.yaml"
    f.write_text(
        f"extends: {MALFORMED.parent / 'data' / 'tiny.yaml'}\n"
        'chips:\n  "4090":\n    name: RTX 4090\n    vendor: nvidiaa\n    designer_country: US\n'
        "    release: 2022-10-12\n    die_area_mm2: 609\n    dense_tflops: {fp8: 660.6}\n    price_usd: 1600\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)
    (p,) = info.value.problems
    assert (p.path, p.line) == ("chips.4090.vendor", 5)


# ------------------------------------------------------------------------------------- real processes

def _exportsim() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m sim.cli``."""
    script = Path(sys.executable).parent / "exportsim"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sim.cli"]


def _limit_child() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))


def _run_child(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "EXPORTSIM_DEBUG"}
    env["COLUMNS"] = "80"  # a narrow terminal must not wrap a problem line
    return subprocess.run(
        [*_exportsim(), *args], cwd=MALFORMED, capture_output=True, text=True, timeout=CHILD_SECONDS,
        preexec_fn=_limit_child if sys.platform != "win32" else None, env=env,
    )


SUBPROCESS_CASES = ["empty", "yaml_syntax", "non_utf8", "unknown_nested_key", "cyclic_extends_a", "deep_nesting"]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_real_process_has_no_traceback(name):
    proc = _run_child("validate", f"{name}.yaml")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    _problem_lines(proc.stderr)


@pytest.mark.parametrize("case", [_param(c) for c in CASES if c.subprocess_only])
def test_hostile_input_in_limited_process(case: Case):
    """Inputs that could hang or exhaust memory run in a child limited in time and address space."""
    try:
        proc = _run_child("validate", case.name)
    except subprocess.TimeoutExpired:
        pytest.fail(f"exportsim validate {case.name} ran longer than {CHILD_SECONDS}s")
    assert proc.returncode == 2, proc.stderr[-500:]
    assert "Traceback" not in proc.stderr
    hit = _find(case, _problem_lines(proc.stderr))
    assert hit["path"] == case.path


def test_bad_calendar_date_real_process():
    proc = _run_child("validate", "bad_date_calendar.yaml")
    assert proc.returncode == 2
    _problem_lines(proc.stderr)
