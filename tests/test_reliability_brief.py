"""Issue 19, ``brief``: its input validated (a compare result against its schema, a store through the store
reader) with exit 2 and one line; its output path checked before the long work."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sim.cli import app
from sim.reports.briefing.collect import check_compare_payload

TESTS = Path(__file__).resolve().parent
TINY = TESTS / "data" / "tiny.yaml"
FLAGSHIP = TESTS.parent / "scenarios" / "bytedance_ascend.yaml"
GOOD = {"base": "tiny", "counterfactual": "tiny (no rules)", "replications": 2,
        "kpis": [{"kpi": "job_finish_day[lab-cn/job1]", "base_mean": 500.0, "counterfactual_mean": 400.0,
                  "diff_mean": 100.0, "diff_ci_low": 90.0, "diff_ci_high": 110.0, "diff_p10": 95.0, "diff_p90": 105.0,
                  "n_pairs": 2, "base_missing": 0, "counterfactual_missing": 0}]}


def _bad(**change) -> dict:
    d = json.loads(json.dumps(GOOD))
    for k, v in change.items():
        if k.startswith("row_"):
            d["kpis"][0][k[4:]] = v
        else:
            d[k] = v
    return d


CASES = {
    "not_an_object": ([1, 2, 3], "-"),
    "kpis_not_a_list": (_bad(kpis={"a": 1}), "kpis"),
    "kpis_empty": (_bad(kpis=[]), "kpis"),
    "row_not_an_object": (_bad(kpis=[7]), "kpis.0"),
    "kpi_name_missing": (_bad(row_kpi=None), "kpis.0.kpi"),
    "mean_is_text": (_bad(row_base_mean="lots"), "kpis.0.base_mean"),
    "mean_is_a_list": (_bad(row_diff_mean=[1]), "kpis.0.diff_mean"),
    "count_negative": (_bad(row_n_pairs=-3), "kpis.0.n_pairs"),
    "replications_text": (_bad(replications="ten"), "replications"),
    "replications_zero": (_bad(replications=0), "replications"),
    "base_missing": (_bad(base=None), "base"),
    "base_not_text": (_bad(base={"x": 1}), "base"),
}


def test_the_good_payload_passes():
    assert check_compare_payload(GOOD) == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_compare_results_are_one_line_each(name, tmp_path, runner, monkeypatch):
    payload, where = CASES[name]
    f = tmp_path / "c.json"
    f.write_text(json.dumps(payload))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["brief", "c.json", "--format", "md", "--out", str(tmp_path / "out" / "b.md")])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert lines and all(x.startswith("c.json:1: ") for x in lines), lines
    assert lines[0].startswith(f"c.json:1: {where}: "), lines
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, "{\"kpis\": " * 50_000, "\x00\xff", ""])
def test_unreadable_compare_files_are_one_line(text, tmp_path, runner, monkeypatch):
    f = tmp_path / "c.json"
    f.write_bytes(text.encode("utf-8", "surrogateescape") if text != "\x00\xff" else b"\x00\xff")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["brief", "c.json", "--out", str(tmp_path / "b.html")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("c.json:1: -: "), lines


def test_the_output_path_is_checked_before_the_runs(tmp_path, runner):
    (tmp_path / "a_file").write_text("x")
    t0 = time.perf_counter()
    result = runner.invoke(app, ["brief", str(FLAGSHIP), "--out", str(tmp_path / "a_file" / "b.html")])
    assert time.perf_counter() - t0 < 5  # the briefing's replications take 15-18 s
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and "cannot write" in result.stderr


def test_a_damaged_store_is_one_line(tmp_path, runner):
    from sim.experiments.sweep import run_sweep

    spec = TESTS / "corpus" / "sweep" / "_good_spec.yaml"
    root = tmp_path / "store"
    run_sweep(spec, root, executor="serial")
    (root / "design.parquet").write_bytes(b"")
    result = runner.invoke(app, ["brief", str(root), "--format", "md", "--out", str(tmp_path / "b.md")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "design.parquet: damaged" in lines[0], lines
