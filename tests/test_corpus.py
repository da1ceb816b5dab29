"""The malformed-input corpus for every entry point other than scenario files (those are tests/malformed/):
command-line flags, hostile files (empty, binary, huge, UTF-16, Latin-1, directories, FIFOs, YAML tags,
alias bombs, deep nesting), sweep specs and observables files, and the dashboard upload.

Every case must end with exit code 2, its problem reported without a traceback, nothing on stdout, and
no output left behind: the temporary directory the case runs in (where ``--out``/``--store`` point) and
the corpus directory are snapshotted before the command and compared after it.

A case is a file under tests/corpus/<entry point>/ (files starting with ``_`` are helpers, not cases)
that opens with comment headers, like tests/malformed/:

``# cmd: ARGS``  the exportsim command line; placeholders: ``{self}`` the input (this file, or what
``# input:`` generates), ``{tiny}`` tests/data/tiny.yaml, ``{spec}`` tests/corpus/sweep/_good_spec.yaml,
``{out}`` a path that must not be created, ``{file}`` an existing file, ``{dir}`` an existing directory
that is not a sweep store, ``{readonly}`` a mode-555 directory, ``{trap}`` a directory holding a
directory named kpis.json (the last output RunResult.save writes), ``{store}`` a finished sweep store of
_good_spec.yaml.  All of them must be left untouched.
``# expect: TEXT``  a substring of the message (required).
``# kind: problem | line | usage``  problem (default): every stderr line is ``FILE:LINE: path: message``
and ``# path:`` (dotted, or ``-``), ``# line:`` and ``# file:`` (default: the input's name; ``*``: any)
are checked; line: exactly one stderr line (``--flag: ...`` or ``PATH: ...``); usage: Click's usage error
for a bad flag (a framed panel; the expected text is looked for with the frame removed).
``# input: self | empty | binary | huge | utf16 | directory | missing | unreadable | fifo | symlink-loop``
what ``{self}`` is: this file (default), or made at test time from the text after the headers (huge files
are generated, never committed).
``# cwd: case | tmp``  run in the case's directory (default; reported names are bare) or in an empty
temporary directory (for commands that write to default locations).
``# run: subprocess``  only in a resource-limited child process (inputs that could hang or exhaust memory),
with ``# timeout: SECONDS`` and ``# memory: BYTES`` (address space; default 1.5 GB).
``# xfail: REASON``  a known defect in sim/ or app/: strict xfail.  ``# skip-root: REASON``  skipped when
running as root (CI does).  ``# needs: proc``  needs Linux's /proc.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sim.cli import app
from sim.scenario.loader import MAX_FILE_BYTES

TESTS = Path(__file__).resolve().parent
CORPUS = TESTS / "corpus"
TINY = TESTS / "data" / "tiny.yaml"
GOOD_SPEC = CORPUS / "sweep" / "_good_spec.yaml"
PROBLEM_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<path>\S+): (?P<message>.+)$")
HEADER = re.compile(rb"^# ([a-z-]+): (.*)$")
CHILD_MEMORY_BYTES = 1_500_000_000
CHILD_SECONDS = 20
KINDS = ("problem", "line", "usage")
INPUTS = ("self", "empty", "binary", "huge", "utf16", "directory", "missing", "unreadable", "fifo", "symlink-loop")
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

# A few ordinary cases also go through a real process (the console script, as users run it).
ALSO_IN_CHILD = ("files/python_apply_tag_through_run", "sweep/base_malformed")


@dataclass(frozen=True)
class Case:
    """One corpus file and what its headers promise."""

    id: str
    file: Path
    head: dict
    body: bytes

    @property
    def kind(self) -> str:
        return self.head.get("kind", "problem")

    @property
    def input(self) -> str:
        return self.head.get("input", "self")

    @property
    def child_only(self) -> bool:
        return self.head.get("run") == "subprocess"

    @property
    def timeout(self) -> float:
        return float(self.head.get("timeout", CHILD_SECONDS))


def _read_case(f: Path) -> Case:
    head: dict[str, str] = {}
    lines = f.read_bytes().splitlines(keepends=True)
    n = 0
    for raw in lines:
        m = HEADER.match(raw.rstrip(b"\r\n"))
        if not m:
            break
        head[m[1].decode()] = m[2].decode()
        n += 1
    return Case(f.relative_to(CORPUS).with_suffix("").as_posix(), f, head, b"".join(lines[n:]))


def _corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and not p.name.startswith(("_", ".", "README")))


CASES = [_read_case(f) for f in _corpus_files()]


def _marks(case: Case) -> list:
    marks = []
    if case.head.get("xfail"):
        marks.append(pytest.mark.xfail(strict=True, reason=case.head["xfail"]))
    if case.head.get("skip-root") and ROOT:
        marks.append(pytest.mark.skip(reason=f"running as root: {case.head['skip-root']}"))
    if case.head.get("needs") == "proc" and not Path("/proc/self").exists():
        marks.append(pytest.mark.skip(reason="needs Linux /proc"))
    return marks


def _params(cases):
    return [pytest.param(c, id=c.id, marks=_marks(c)) for c in cases]


# ------------------------------------------------------------------------------------------ corpus itself

def test_corpus_is_big_enough():
    assert len(CASES) >= 40, len(CASES)
    assert {c.id.split("/")[0] for c in CASES} >= {"cli", "files", "sweep", "observed"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_headers_are_well_formed(case: Case):
    h = case.head
    assert {"cmd", "expect"} <= set(h), f"{case.id}: needs '# cmd:' and '# expect:'"
    assert case.kind in KINDS, case.kind
    assert case.input in INPUTS, case.input
    if case.kind == "problem":
        assert "path" in h, f"{case.id}: a problem case needs '# path:'"
    if case.input in ("fifo",) or "/dev/zero" in case.body.decode("latin-1"):
        assert case.child_only, f"{case.id}: would hang or exhaust the test process; needs '# run: subprocess'"
    unknown = set(h) - {"cmd", "expect", "kind", "path", "line", "file", "input", "cwd", "run", "timeout", "memory",
                        "xfail", "skip-root", "needs"}
    assert not unknown, unknown


# ------------------------------------------------------------------------------------------- running one

@dataclass
class Prepared:
    argv: list[str]
    cwd: Path
    shown: str  # the name the input is reported under
    watched: list[Path]


def _generate(case: Case, target: Path) -> None:
    kind = case.input
    if kind == "empty":
        target.write_bytes(b"")
    elif kind == "binary":  # a PNG header, NULs and every byte value: what a wrong upload looks like
        target.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    elif kind == "huge":  # over the size cap.  Each padding line starts with a tab (a YAML error), so a reader
        pad = b"\t" + b"x" * 1022 + b"\n"  # that parses before checking the size fails fast -- and still fails
        target.write_bytes(case.body + pad * (MAX_FILE_BYTES // len(pad) + 2))
    elif kind == "utf16":
        target.write_bytes(case.body.decode().encode("utf-16"))  # with its byte-order mark
    elif kind == "directory":
        target.mkdir()
    elif kind == "missing":
        pass
    elif kind == "unreadable":
        target.write_bytes(case.body)
        target.chmod(0)
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "symlink-loop":
        target.symlink_to(target.name)
    else:  # pragma: no cover
        raise AssertionError(kind)


@pytest.fixture(scope="session")
def good_store(tmp_path_factory) -> Path:
    """A finished sweep store of _good_spec.yaml (4 runs), copied for each case that uses ``{store}``."""
    from sim.experiments.sweep import run_sweep

    root = tmp_path_factory.mktemp("good_store") / "store"
    run_sweep(GOOD_SPEC, root, executor="serial")
    return root


def _prepare(case: Case, tmp: Path, request) -> Prepared:
    cmd = case.head["cmd"]
    if case.input != "self":
        cwd = tmp / "in"
        cwd.mkdir()
        _generate(case, cwd / case.file.name)
        self_arg, shown = case.file.name, case.file.name
    elif case.head.get("cwd") == "tmp":
        cwd = tmp / "cwd"
        cwd.mkdir()
        self_arg = shown = str(case.file)
    else:
        cwd = case.file.parent
        self_arg = shown = case.file.name
    values = {"self": self_arg, "tiny": str(TINY), "spec": str(GOOD_SPEC), "out": str(tmp / "out")}
    if "{file}" in cmd:
        (tmp / "existing.txt").write_text("a file the command must leave alone\n")
        values["file"] = str(tmp / "existing.txt")
    if "{dir}" in cmd:
        (tmp / "foreign").mkdir()
        (tmp / "foreign" / "notes.txt").write_text("not a sweep store\n")
        values["dir"] = str(tmp / "foreign")
    if "{readonly}" in cmd:
        (tmp / "ro").mkdir()
        (tmp / "ro").chmod(0o555)
        values["readonly"] = str(tmp / "ro")
    if "{store}" in cmd:
        shutil.copytree(request.getfixturevalue("good_store"), tmp / "store")
        values["store"] = str(tmp / "store")
    if "{trap}" in cmd:
        (tmp / "trap" / "kpis.json").mkdir(parents=True)
        values["trap"] = str(tmp / "trap")
    for k, v in values.items():
        cmd = cmd.replace("{" + k + "}", v)
    return Prepared(shlex.split(cmd), cwd, shown, [tmp, case.file.parent])


def _snapshot(dirs: list[Path]) -> dict[str, tuple]:
    snap: dict[str, tuple] = {}
    for d in dirs:
        for root, subdirs, files in os.walk(d):
            for name in subdirs + files:
                p = Path(root) / name
                st = p.lstat()
                snap[str(p)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return snap


def _assert_untouched(before: dict, after: dict) -> None:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    left = {"added": added[:8], "removed": removed[:8], "changed": changed[:8]}
    assert not any(left.values()), f"output left behind: {left}"


def _unframe(text: str) -> str:
    return " ".join(re.sub(r"[\u2500-\u257f]", " ", text).split())


def _check(case: Case, prep: Prepared, code: int, stdout: str, stderr: str) -> None:
    assert code == 2, f"exit {code}\nstdout: {stdout[-800:]}\nstderr: {stderr[-800:]}"
    assert "Traceback" not in stdout + stderr
    assert stdout.strip() == "", stdout[-800:]
    expect = case.head["expect"]
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert lines, "nothing reported"
    if case.kind == "usage":
        assert expect in _unframe(stderr), stderr
        return
    if case.kind == "line":
        assert len(lines) == 1, lines
        assert expect in lines[0], lines
        return
    matches = [PROBLEM_LINE.match(x) for x in lines]
    bad = [x for x, m in zip(lines, matches, strict=True) if m is None]
    assert not bad, f"lines not in FILE:LINE: path: message form: {bad}"
    hits = [m for m in matches if expect in m["message"]]
    assert hits, f"no problem mentions {expect!r}: {lines}"
    hit = hits[0]
    want_file = case.head.get("file", prep.shown)
    if want_file != "*":
        assert hit["file"] == want_file, hit[0]
    assert hit["path"] == case.head["path"], hit[0]
    if "line" in case.head:
        assert int(hit["line"]) == int(case.head["line"]), hit[0]


@pytest.mark.parametrize("case", _params([c for c in CASES if not c.child_only]))
def test_case_in_process(case: Case, runner, tmp_path, monkeypatch, request):
    prep = _prepare(case, tmp_path, request)
    before = _snapshot(prep.watched)
    monkeypatch.chdir(prep.cwd)
    result = runner.invoke(app, prep.argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    after = _snapshot(prep.watched)
    _check(case, prep, result.exit_code, result.stdout, result.stderr)
    _assert_untouched(before, after)


# ------------------------------------------------------------------------------------- real processes

def _exportsim() -> list[str]:
    script = Path(sys.executable).parent / "exportsim"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sim.cli"]


def _limiter(memory: int):
    def limit() -> None:  # pragma: no cover - runs in the child
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return limit


def run_child(argv: list[str], cwd: Path, timeout: float, memory: int = CHILD_MEMORY_BYTES):
    """``exportsim ARGV`` in a child limited in address space and wall-clock time."""
    env = {k: v for k, v in os.environ.items() if k != "EXPORTSIM_DEBUG"}
    env["COLUMNS"] = "80"  # a narrow terminal must not wrap a problem line
    return subprocess.run([*_exportsim(), *argv], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=_limiter(memory) if sys.platform != "win32" else None, env=env)


CHILD_CASES = [c for c in CASES if c.child_only or c.id in ALSO_IN_CHILD]


def test_child_selection_exists():
    assert {c.id for c in CHILD_CASES} >= set(ALSO_IN_CHILD)


@pytest.mark.parametrize("case", _params(CHILD_CASES))
def test_case_in_real_process(case: Case, tmp_path, request):
    prep = _prepare(case, tmp_path, request)
    before = _snapshot(prep.watched)
    try:
        proc = run_child(prep.argv, prep.cwd, case.timeout, int(case.head.get("memory", CHILD_MEMORY_BYTES)))
    except subprocess.TimeoutExpired:
        pytest.fail(f"exportsim {' '.join(prep.argv)} ran longer than {case.timeout}s")
    after = _snapshot(prep.watched)
    _check(case, prep, proc.returncode, proc.stdout, proc.stderr)
    _assert_untouched(before, after)


# ------------------------------------------------------------------------------------ dashboard upload

def _services():
    if str(TESTS.parent) not in sys.path:  # `app` is not an installed package
        sys.path.insert(0, str(TESTS.parent))
    from app import services

    return services


def _upload_bytes(case: Case, tmp_path: Path) -> bytes:
    if case.input == "self":
        return case.file.read_bytes()
    target = tmp_path / case.file.name
    _generate(case, target)
    return target.read_bytes()


UPLOAD_CASES = ["files/python_apply_tag_through_run", "files/python_name_tag", "files/custom_tag_diff",
                "files/latin1_through_run", "files/alias_bomb_through_run",
                "files/binary_file", "files/utf16_with_bom", "files/empty_file", "files/comments_only",
                "files/yaml_syntax_graph", "sweep/path_typo"]


@pytest.mark.parametrize("case_id", UPLOAD_CASES)
def test_upload_shows_problems(case_id: str, tmp_path):
    """A corpus file pushed through the dashboard's upload validation: a list of one-line problems, no exception."""
    case = next(c for c in CASES if c.id == case_id)
    services = _services()
    loaded = services.load_upload(case.file.name, _upload_bytes(case, tmp_path))
    assert not loaded.ok
    assert loaded.problems
    for line in loaded.problems:
        assert PROBLEM_LINE.match(line), line
        assert "Traceback" not in line
    if case_id != "sweep/path_typo":  # a sweep spec is not a scenario: it fails for other reasons
        assert any(case.head["expect"] in line for line in loaded.problems), loaded.problems


def test_upload_over_the_cap_is_refused_before_parsing(tmp_path):
    case = next(c for c in CASES if c.id == "files/huge_file")
    services = _services()
    content = _upload_bytes(case, tmp_path)
    assert len(content) > services.UPLOAD_LIMIT_BYTES
    loaded = services.load_upload("huge.yaml", content)
    assert not loaded.ok
    assert loaded.problems == (f"huge.yaml:1: -: file is {len(content):,} bytes; the limit is "
                               f"{services.UPLOAD_LIMIT_BYTES:,}",)


def test_upload_problems_name_the_uploaded_file():
    services = _services()
    case = next(c for c in CASES if c.id == "files/python_apply_tag_through_run")
    loaded = services.load_upload("mine.yaml", case.file.read_bytes())
    assert loaded.problems
    assert all(line.startswith("mine.yaml:") for line in loaded.problems), loaded.problems


def test_upload_with_nul_in_extends_shows_a_problem():
    services = _services()
    case = next(c for c in CASES if c.id == "files/extends_nul_byte")
    loaded = services.load_upload("nul.yaml", case.file.read_bytes())
    assert not loaded.ok
    assert any("extends" in line for line in loaded.problems), loaded.problems


def test_upload_when_the_library_is_not_writable(tmp_path, monkeypatch):
    services = _services()
    blocked = tmp_path / "not_a_directory"
    blocked.write_text("")
    monkeypatch.setattr(services, "SCENARIO_DIR", blocked)
    loaded = services.load_upload("mine.yaml", TINY.read_bytes())
    assert loaded.problems
    assert "mine.yaml" in loaded.problems[0]


def test_upload_through_the_page_shows_the_problem_list(tmp_path):
    """The Scenario page: a hostile upload gives an error panel with the one-line problems, no exception."""
    from streamlit.testing.v1 import AppTest

    services = _services()
    case = next(c for c in CASES if c.id == "files/python_apply_tag_through_run")
    old = services.DEFAULT_SCENARIO
    services.DEFAULT_SCENARIO = str(TINY)
    try:
        at = AppTest.from_file(str(TESTS.parent / "app" / "streamlit_app.py"), default_timeout=60).run()
        at.switch_page("app_pages/scenario.py").run()  # the app opens on the Answer page
        at.file_uploader(key="scn_upload").upload("tagged.yaml", case.file.read_bytes(), "application/x-yaml").run()
    finally:
        services.DEFAULT_SCENARIO = old
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "tagged.yaml was not loaded" in shown
    assert "could not determine a constructor" in shown
    assert "Traceback" not in shown
