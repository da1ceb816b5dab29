"""The benchmark suite runs and writes its files (a smoke run: no speed is ever asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_run_all_quick_writes_table_json_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "results"
    r = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run_all.py"), "--quick", "--only", "engine,scaling",
         "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.loads((out / "bench.json").read_text())
    meta = data["meta"]
    for key in ("started", "commit", "quick", "python", "simpy", "cpus", "loadavg_start", "loadavg_end",
                "duration_s", "sections"):
        assert key in meta, key
    assert meta["quick"] is True
    assert meta["sections"] == ["engine", "scaling"]
    engine = data["engine"]
    for key in ("events_median", "engine_events_per_s", "total_events_per_s", "bare_events_per_s",
                "ratio_engine_only", "ratio_with_results", "env_run_s_median", "build_result_s_median", "samples"):
        assert key in engine, key
    assert engine["events_median"] > 0
    assert engine["ratio_engine_only"] > 0
    families = data["scaling"]["families"]
    assert set(families) == {"horizon", "labs", "market", "nodes", "rules", "supplied"}
    for fam in families.values():
        assert len(fam["sizes"]) == len(fam["run_s"]) == len(fam["events"]) >= 2
        assert len(fam["ratio_per_doubling"]) == len(fam["sizes"]) - 1
        assert "exponent_run_s" in fam
    assert "sweeps" not in data
    assert "memory" not in data
    areas = {g["area"] for g in data["goals"]}
    assert areas == {"engine", "scaling"}
    for g in data["goals"]:
        assert set(g) >= {"measure", "value", "goal", "met"}
    md = (out / "bench.md").read_text()
    assert "| area | measure | value | goal | met |" in md
    assert (out / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_all_rejects_unknown_section(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run_all.py"), "--only", "nope",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 2
    assert "unknown section" in r.stderr


def test_ratios_section_reports_issue_18_figures(tmp_path: Path) -> None:
    """The run-cost ratios: each is a finite positive number with its goal (the values are not asserted)."""
    out = tmp_path / "results"
    r = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run_all.py"), "--quick", "--only", "ratios", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.loads((out / "bench.json").read_text())
    ratios = data["ratios"]
    for key in ("kpi_overhead", "load_vs_run", "floor", "sweep_cpu", "calibration_cpu", "call_growth"):
        assert key in ratios, key
    counts = ratios["floor"]["counts"]
    assert min(counts.values()) > 0  # events, draws, compliance look-ups and rows all counted
    assert set(ratios["call_growth"]) == {"labs", "supplied", "market", "rules", "horizon", "window"}
    rows = [g for g in data["goals"] if g["area"] == "run cost"]
    assert len(rows) == 13  # 11 with a goal; as context, the floor with the run's named streams counted and
    for g in rows:  # the growth of own CPU per call
        assert g["value"] > 0 and g["goal"]
    assert sum(g["met"] is None for g in rows) == 2 and counts["streams"] > 0
    assert ratios["calibration_cpu"]["runs"] > 20 and ratios["calibration_cpu"]["ratio"] > 1
    per_call = {fam: g["per_call_max"] for fam, g in ratios["call_growth"].items()}
    assert all(x is None or x > 0 for x in per_call.values()) and any(x is not None for x in per_call.values())
