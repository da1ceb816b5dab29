"""Issue 19, store side: the store-corruption suite (truncate, zero, delete each kind of file, then resume and
analyze; count run ids: 0 lost, 0 duplicated), one driver per store (an advisory lock; two concurrent drivers
give exactly one set of runs), store paths used literally, catalogue failures are errors, no temporary files
left, run-count caps for every design kind, the scheduler checked first, a per-run time limit, and no worker
left behind when its driver is killed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sim.cli import app
from sim.experiments import store as st
from sim.experiments.sweep import run_sweep
from sim.experiments.sweep.driver import CONFIRM_RUNS, MAX_RUNS

TESTS = Path(__file__).resolve().parent
TINY = TESTS / "data" / "tiny.yaml"
ROOT = TESTS.parent


def _spec(tmp: Path, name: str = "rel", n: int = 4, extra: str = "", base: Path = TINY) -> Path:
    p = tmp / f"{name}.yaml"
    p.write_text(f"name: {name}\nbase: {base}\nseed: 3\ndesign: {{kind: lhs, n: {n}}}\n"
                 "levers:\n  tpp: {path: rules.us_2022_10.scope.items.0.tpp_min, levels: [2400, 4800]}\n"
                 "uncertainties:\n  y: {path: nodes.smic.allocation.ascend910b.die_yield, low: 0.2, high: 0.8}\n"
                 f"kpis: [\"job_*\"]\n{extra}")
    return p


def _records(root: Path) -> list[str]:
    """run_id of every record in every readable runs file (a duplicate shows up twice)."""
    ids: list[str] = []
    for p in st.run_parts(root):
        ids += pq.read_table(p, columns=["run_id"]).column("run_id").to_pylist()
    return ids


def _planned(root: Path) -> set[str]:
    return set(st.Store(root).design()["run_id"])


def _no_temp_files(root: Path) -> None:
    left = [str(p) for p in root.rglob("*") if p.name.endswith((".tmp", ".wal"))]
    assert not left, left


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("finished")
    spec = _spec(tmp, extra="chunk_size: 1\n")  # one run per runs file
    root = tmp / "store"
    run_sweep(spec, root, executor="serial")
    return spec, root


def _damage(path: Path, how: str) -> None:
    if how == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: max(len(data) // 2, 1)])
    elif how == "zero":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(b"{not json or parquet" * 10)
    elif how == "delete":
        path.unlink()
    else:  # pragma: no cover
        raise AssertionError(how)


KINDS = {
    "runs part": lambda root: st.run_parts(root)[1],
    "design": lambda root: root / st.DESIGN,
    "sweep.json": lambda root: root / st.META,
    "catalogue": lambda root: root / st.CATALOGUE,
}
CORRUPTIONS = [(kind, how) for kind in KINDS for how in ("truncate", "zero", "garbage", "delete")]
RESULTS: dict[str, tuple[int, int]] = {}


@pytest.mark.parametrize(("kind", "how"), CORRUPTIONS, ids=[f"{k}-{h}" for k, h in CORRUPTIONS])
def test_corruption_then_resume_and_analyze(finished, tmp_path, kind, how, runner):
    spec, original = finished
    root = tmp_path / "store"
    shutil.copytree(original, root)
    planned = _planned(original)
    _damage(KINDS[kind](root), how)

    # readers: one line (exit 2) or a result with a one-line warning, never a traceback
    result = runner.invoke(app, ["analyze", str(root), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2), result.output
    assert len([x for x in result.stderr.splitlines() if x.strip()]) <= 1, result.stderr
    assert "Traceback" not in result.output

    notes: list[str] = []
    run_sweep(spec, root, executor="serial", notes=notes)  # resume
    records = _records(root)
    lost = len(planned - set(records))
    duplicated = len(records) - len(set(records))
    RESULTS[f"{kind}-{how}"] = (lost, duplicated)
    assert (lost, duplicated) == (0, 0), (kind, how, notes)
    assert set(records) == planned
    _no_temp_files(root)
    result = runner.invoke(app, ["analyze", str(root), "--json"])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == ""
    assert st.Store(root).results()["status"].eq("ok").sum() == len(planned)


def test_a_damaged_part_is_reported_in_one_line_by_analyze(finished, tmp_path, runner):
    _, original = finished
    root = tmp_path / "store"
    shutil.copytree(original, root)
    _damage(st.run_parts(root)[0], "truncate")
    result = runner.invoke(app, ["analyze", str(root)])
    assert result.exit_code == 0, result.output
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "1 damaged runs file(s) left out" in lines[0]


def test_a_second_driver_refuses_with_one_line(finished, tmp_path, runner):
    import fcntl

    spec, original = finished
    root = tmp_path / "store"
    shutil.copytree(original, root)
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        os.pwrite(fd, b"4242\n", 0)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = runner.invoke(app, ["sweep", str(spec), "--store", str(root), "--executor", "serial"])
    finally:
        os.close(fd)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"{root}: another sweep is writing this store (pid 4242); wait for it to "
                                          "finish or use another --store"]


def _exportsim() -> list[str]:
    script = Path(sys.executable).parent / "exportsim"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sim.cli"]


def test_two_concurrent_drivers_give_exactly_one_set_of_runs(tmp_path):
    spec = _spec(tmp_path, n=24, extra="chunk_size: 2\n")
    root = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if k != "EXPORTSIM_DEBUG"}
    procs = [subprocess.Popen([*_exportsim(), "sweep", str(spec), "--store", str(root), "--executor", "serial"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes in ([0, 0], [0, 2]), (codes, outs)
    for p, (_, err) in zip(procs, outs, strict=True):
        if p.returncode == 2:
            assert err.splitlines()[-1].endswith("use another --store") and len(err.splitlines()) == 1, err
    records = _records(root)
    assert len(records) == len(set(records)) == len(_planned(root)) == 48


def test_store_paths_are_literal(tmp_path):
    """A store called h[1] next to a store h1 of another sweep: resuming h[1] re-runs nothing and reads only its
    own runs (DuckDB globbing would read h1's)."""
    a = tmp_path / "h[1]"
    b = tmp_path / "h1"
    run_sweep(_spec(tmp_path, "one"), a, executor="serial")
    run_sweep(_spec(tmp_path, "two", n=6), b, executor="serial")
    rep = run_sweep(_spec(tmp_path, "one"), a, executor="serial")
    assert (rep.done, rep.skipped) == (0, 8)
    assert len(st.Store(a).results()) == 8 and len(st.Store(b).results()) == 12
    assert len(st.Store(a).query("SELECT * FROM runs")) == 8


def test_a_catalogue_that_cannot_be_built_is_an_error(tmp_path, runner):
    spec = _spec(tmp_path)
    root = tmp_path / "store"
    (root / st.CATALOGUE).mkdir(parents=True)  # os.replace onto a directory fails
    (root / st.RUNS).mkdir()
    result = runner.invoke(app, ["sweep", str(spec), "--store", str(root), "--executor", "serial"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "the catalogue (catalogue.duckdb) could not be built" in lines[0]
    _no_temp_files(root)
    assert len(_records(root)) == 8  # the runs themselves are stored


def test_a_failing_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    spec = _spec(tmp_path)
    root = tmp_path / "store"
    real = pq.write_table  # every Parquet file of a store is written through it (pandas' to_parquet calls it too)
    calls = {"n": 0}

    def flaky(table, where, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # the design, the first runs file, then this one
            Path(where).write_bytes(b"half a file")
            raise OSError(28, "No space left on device")
        return real(table, where, *a, **k)

    monkeypatch.setattr(pq, "write_table", flaky)
    with pytest.raises(OSError, match="No space left"):
        run_sweep(spec, root, executor="serial")
    monkeypatch.setattr(pq, "write_table", real)
    assert calls["n"] == 3
    _no_temp_files(root)
    run_sweep(spec, root, executor="serial")  # and the store resumes
    assert len(set(_records(root))) == 8


# ------------------------------------------------------------------------------------- run counts

@pytest.mark.parametrize(("design", "params"), [
    ("{kind: grid}", "".join(f"  p{i}: {{path: nodes.smic.allocation.ascend910b.die_yield, low: 0.1, high: 0.9, "
                             "grid_points: 101}\n" for i in range(5))),
    ("{kind: lhs, n: 1000000}", "  y: {path: nodes.smic.allocation.ascend910b.die_yield, low: 0.1, high: 0.9}\n"),
    ("{kind: sobol, n: 524288}", "  y: {path: nodes.smic.allocation.ascend910b.die_yield, low: 0.1, high: 0.9}\n"),
    ("{kind: morris, n: 1000000}", "  y: {path: nodes.smic.allocation.ascend910b.die_yield, low: 0.1, high: 0.9}\n"
                                   "  z: {path: nodes.smic.allocation.ascend910b.share, low: 0.1, high: 0.9}\n"),
])
def test_huge_designs_are_refused_before_anything_is_allocated(tmp_path, runner, design, params):
    spec = tmp_path / "huge.yaml"
    spec.write_text(f"name: huge\nbase: {TINY}\ndesign: {design}\nreplications: 3\nuncertainties:\n{params}")
    t0 = time.perf_counter()
    result = runner.invoke(app, ["sweep", str(spec), "--store", str(tmp_path / "st"), "--yes", "--executor",
                                 "serial"])
    assert time.perf_counter() - t0 < 20
    assert result.exit_code == 2, result.output
    assert f"one sweep holds at most {MAX_RUNS:,}" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "st").exists()
    dry = runner.invoke(app, ["sweep", str(spec), "--dry-run"])
    assert dry.exit_code == 0 and "planned runs" in dry.stdout


def test_a_big_sweep_needs_yes(tmp_path, runner):
    spec = tmp_path / "big.yaml"
    spec.write_text(f"name: big\nbase: {TINY}\ndesign: {{kind: lhs, n: 60000}}\nreplications: 2\nuncertainties:\n"
                    "  y: {path: nodes.smic.allocation.ascend910b.die_yield, low: 0.1, high: 0.9}\n")
    result = runner.invoke(app, ["sweep", str(spec), "--store", str(tmp_path / "st")])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"big.yaml: plans 120,000 runs (1 policies x 60,000 design points x 2 "
                                          f"replications), more than {CONFIRM_RUNS:,}: pass --yes to run them "
                                          "(--dry-run counts them without running)"] or "pass --yes" in result.stderr
    assert not (tmp_path / "st").exists()
    dry = runner.invoke(app, ["sweep", str(spec), "--dry-run", "--json"])
    assert dry.exit_code == 0 and '"planned_runs": 120000' in dry.stdout


def test_an_unreachable_scheduler_is_refused_before_the_store_exists(tmp_path, runner):
    pytest.importorskip("distributed")
    spec = _spec(tmp_path)
    t0 = time.perf_counter()
    result = runner.invoke(app, ["sweep", str(spec), "--store", str(tmp_path / "st"), "--scheduler",
                                 "tcp://127.0.0.1:9"])
    assert time.perf_counter() - t0 < 25
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("--scheduler: cannot reach tcp://127.0.0.1:9"), lines
    assert not (tmp_path / "st").exists()
    bad = runner.invoke(app, ["sweep", str(spec), "--store", str(tmp_path / "st"), "--scheduler", "nonsense"])
    assert bad.exit_code == 2 and "--scheduler: must be an address" in bad.stderr


def test_a_run_past_its_time_limit_is_recorded_failed(tmp_path):
    spec = _spec(tmp_path)
    root = tmp_path / "store"
    rep = run_sweep(spec, root, executor="serial", run_seconds=1e-6)
    assert rep.failed == 8
    errors = st.Store(root).results()["error"].tolist()
    assert all(e.startswith("RunTimeout: stopped after 1e-06 s of wall time") for e in errors), errors


# ---------------------------------------------------------------------------------- orphaned workers

def _children(pid: int) -> set[int]:
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.add(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table in /proc")
def test_killing_the_driver_leaves_no_worker_behind(tmp_path):
    spec = _spec(tmp_path, n=200, base=ROOT / "scenarios" / "bytedance_ascend.yaml",
                 extra="chunk_size: 1\n").read_text()
    spec = spec.replace("rules.us_2022_10.scope.items.0.tpp_min", "rules.us_2023_10.scope.items.0.tpp_min")
    (tmp_path / "k.yaml").write_text(spec)
    env = {k: v for k, v in os.environ.items() if k != "EXPORTSIM_DEBUG"}
    driver = subprocess.Popen([*_exportsim(), "sweep", str(tmp_path / "k.yaml"), "--store", str(tmp_path / "st"),
                               "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    workers: set[int] = set()
    deadline = time.time() + 60
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.2)
        workers = {p for p in _children(driver.pid) if _alive(p)}
        if st.run_parts(tmp_path / "st") and len(workers) >= 2:
            break
    assert len(workers) >= 2, "the pool never started"
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    left = [p for p in workers if _alive(p)]
    for p in left:  # pragma: no cover - clean up what the test found
        os.kill(p, signal.SIGKILL)
    assert not left, f"workers still running after their driver was killed: {left}"


def _catalogue_tables(path: Path) -> dict:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        names = sorted(r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall())
        return {n: con.execute(f'SELECT * FROM "{n}"').df() for n in names}
    finally:
        con.close()


def test_the_catalogue_built_during_a_local_sweep_equals_one_rebuilt_from_the_files(tmp_path):
    """The driver builds catalogue.duckdb in steps while its workers run (design first, runs files as they are
    written); the result is the catalogue rebuild_catalogue makes from the store's files, after a first sweep and
    after a resume that adds runs (the resumed one also reads the files already there)."""
    import pandas as pd

    spec = _spec(tmp_path, n=4, extra="chunk_size: 1\n")
    root = tmp_path / "store"
    for limit in (3, None):  # a partial sweep, then the resume that completes it
        run_sweep(spec, root, executor="local", workers=2, limit=limit)
        built = _catalogue_tables(root / st.CATALOGUE)
        rebuilt = _catalogue_tables(st.rebuild_catalogue(tmp_path / "store"))
        assert sorted(built) == sorted(rebuilt) == ["design", "runs", "sweep"]
        assert len(built["runs"]) == (3 if limit else 8)
        for name in built:
            pd.testing.assert_frame_equal(built[name], rebuilt[name])
        _no_temp_files(root)


def test_a_catalogue_that_cannot_be_built_is_an_error_with_workers_too(tmp_path, runner):
    """The stepwise catalogue of a parallel sweep fails like the serial one: one line, the runs kept, no temp file."""
    spec = _spec(tmp_path)
    root = tmp_path / "store"
    (root / st.CATALOGUE).mkdir(parents=True)
    (root / st.RUNS).mkdir()
    result = runner.invoke(app, ["sweep", str(spec), "--store", str(root), "--executor", "local", "--workers", "2"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "the catalogue (catalogue.duckdb) could not be built" in lines[0]
    _no_temp_files(root)
    assert len(_records(root)) == 8


def test_a_killed_drivers_half_built_catalogue_is_removed_on_resume(tmp_path):
    """A parallel driver builds its catalogue aside while it runs; if it is killed, the next driver (holding the
    lock) removes what was left (the temporary file and its write-ahead log) and builds its own."""
    spec = _spec(tmp_path)
    root = tmp_path / "store"
    run_sweep(spec, root, executor="local", workers=2, limit=4)
    left = [root / f".{st.CATALOGUE}.deadbeef.tmp", root / f".{st.CATALOGUE}.deadbeef.tmp.wal"]
    for p in left:
        p.write_bytes(b"half-built")
    keep = root / "notes.tmp.txt"  # not the catalogue's: left alone
    keep.write_text("mine")
    run_sweep(spec, root, executor="local", workers=2)
    assert not any(p.exists() for p in left)
    assert keep.exists()
    _no_temp_files(root)
    assert len(st.Store(root).query("SELECT * FROM runs")) == 8


def test_a_second_driver_during_a_first_ones_start_is_refused_in_one_line(tmp_path):
    """The races two concurrent drivers can hit, made certain: the second driver's early check reads a store the
    first has only half made (design written, sweep.json not yet), or a lock file the first has not yet written
    its pid into.  Either way the second is refused with the lock's one line, not a wrong diagnosis or a crash."""
    import fcntl

    from sim.experiments.sweep import driver

    spec = _spec(tmp_path)
    root = tmp_path / "store"
    root.mkdir()
    (root / "design.parquet").write_bytes(b"being written")  # the first driver's design, before its sweep.json
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)  # held, and still empty (no pid yet)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert driver._locked_by_another(root)
        with pytest.raises(driver.SweepError) as e:
            run_sweep(spec, root, executor="serial")
        lines = str(e.value).splitlines()
        assert len(lines) == 1 and "another sweep is writing this store" in lines[0], lines
        assert lines[0].endswith("use another --store")
    finally:
        os.close(fd)
    assert not driver._locked_by_another(root)
    with pytest.raises(driver.SweepError, match="exists and is not a sweep store"):  # with nobody writing it
        run_sweep(spec, root, executor="serial")


def _attached() -> set[str]:
    con = st._connect()
    try:
        return {r[0] for r in con.execute("SELECT database_name FROM duckdb_databases() WHERE NOT internal")
                .fetchall()}
    finally:
        con.close()


def test_a_local_sweep_reads_back_only_the_runs_files_it_did_not_write(tmp_path, monkeypatch):
    """The driver hands the catalogue each runs file with the table it wrote: the files it writes are not read
    back (a scan and a read per chunk), the files an earlier sweep left are read once; the catalogue is still the
    one rebuilt from the files (test above), and no catalogue stays attached to the process's database."""
    spec = _spec(tmp_path, n=4, extra="chunk_size: 1\n")
    root = tmp_path / "store"
    read: list[Path] = []
    real = st.read_part

    def counted(p):
        read.append(p)
        return real(p)

    monkeypatch.setattr(st, "read_part", counted)
    run_sweep(spec, root, executor="local", workers=2, limit=3)
    assert read == []  # a fresh store: three chunks written, none read back by the catalogue
    first = st.run_parts(root)
    assert len(first) == 3
    run_sweep(spec, root, executor="local", workers=2)
    # the resume reads the three earlier files once while planning (damaged? which runs are done?) and once for
    # the catalogue; none of the five it writes
    assert sorted(read) == sorted(first * 2)
    assert len(st.run_parts(root)) == 8
    assert _attached() == {"memory"}


def test_catalogues_of_two_stores_built_at_once_in_one_process_keep_apart(tmp_path):
    """Each catalogue attaches its file to the process's one DuckDB database under a name of its own: two built
    interleaved are each their own store's, and both are detached when finished or aborted."""
    roots = []
    for name, n in (("a", 2), ("b", 3)):
        (tmp_path / name).mkdir()
        spec = _spec(tmp_path / name, n=n)
        run_sweep(spec, tmp_path / name / "store", executor="serial")
        roots.append(tmp_path / name / "store")
    cats = [st.Catalogue(r) for r in roots]
    assert len(_attached()) == 3  # memory and the two files
    for c in cats:
        c.refresh()
    paths = [c.finish() for c in reversed(cats)][::-1]
    assert _attached() == {"memory"}
    for root, p in zip(roots, paths, strict=True):
        got = _catalogue_tables(p)
        assert len(got["runs"]) == len(st.Store(root).results())
        assert set(got["runs"]["run_id"]) == set(st.Store(root).results()["run_id"])
    c = st.Catalogue(roots[0])
    c.abort()
    assert _attached() == {"memory"}
    _no_temp_files(roots[0])


def test_a_forked_child_opens_its_own_duckdb_database(tmp_path):
    """A sweep's workers are forked from the driver: the driver's database (its threads did not survive the fork)
    is never used in a child, which opens its own on first use."""
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("needs fork")
    con = st._connect()
    parent_db = st._DUCKDB[1]
    con.close()
    ctx = mp.get_context("fork")
    q = ctx.Queue()

    def child():
        c = st._connect()
        q.put((st._DUCKDB[0] == os.getpid(), st._DUCKDB[1] is not parent_db,
               c.execute("SELECT 41 + 1").fetchone()[0]))
        c.close()

    p = ctx.Process(target=child)
    p.start()
    got = q.get(timeout=30)
    p.join(30)
    assert got == (True, True, 42)
    assert st._DUCKDB[1] is parent_db


def test_stores_read_from_many_threads_at_once_through_the_one_database(tmp_path):
    """The dashboard reads stores from Streamlit's threads: each read has its own cursor on the process's database,
    so reads at once give what a read alone gives."""
    import threading

    import pandas as pd

    spec = _spec(tmp_path, n=3)
    root = tmp_path / "store"
    run_sweep(spec, root, executor="serial")
    alone = st.Store(root).results()
    assert list(alone["run_id"]) == sorted(alone["run_id"])  # in run_id order: every read gives the same frame
    got: list = []
    errors: list = []

    def read():
        try:
            for _ in range(20):
                got.append(st.Store(root).results())
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(got) == 120
    for df in got:
        pd.testing.assert_frame_equal(df, alone)


def test_a_callers_sql_runs_in_a_database_of_its_own(tmp_path):
    """Store.query runs a caller's SQL: a table or setting it makes ends with the query, and is not seen by the
    store's own reads on the process's database."""
    spec = _spec(tmp_path, n=2)
    root = tmp_path / "store"
    run_sweep(spec, root, executor="serial")
    s = st.Store(root)
    for _ in range(2):  # the same CREATE twice: the first one's table is gone
        got = s.query("CREATE TABLE mine AS SELECT count(*) AS n FROM runs; SELECT n FROM mine")
        assert int(got["n"].iloc[0]) == len(s.results())
    con = st._connect()
    try:
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'mine'").fetchone()[0] == 0
    finally:
        con.close()
