"""Compute the golden outputs, and (``python -m tests.golden.regen`` or ``make golden``) write them.

What is recorded (``tests/golden/``):

- ``runs/<scenario>-s<seed>/<table>.parquet``: every table of a run, exactly as ``RunResult.tables``;
- ``kpis.json``: ``{"model_version": ..., "runs": {"<scenario>-s<seed>": {kpi: value}}}``;
- ``sweep16.parquet``: the KPI table of the 16-run sweep ``sweep16.yaml`` (serial executor), joined with its
  design, without the columns that name the code rather than the model (``run_id``, ``elapsed_s``, ``chunk``).

The files belong to ``MODEL_VERSION`` (``sim/engine/version.py``).  Regenerating under the same version
refuses to overwrite outputs that differ (exit 1): a change of the model's outputs is a new model version,
so bump ``MODEL_VERSION`` first (``--force`` overrides, e.g. for a pandas upgrade that changes dtypes only).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

from sim import Simulation, load_scenario
from sim.engine.version import MODEL_VERSION

GOLDEN = Path(__file__).resolve().parent
REPO = GOLDEN.parent.parent
SCENARIOS = ("bytedance_ascend", "history_2022_2026", "bytedance_ascend_rent")
SEEDS = (1, 2, 3)
SWEEP_SPEC = GOLDEN / "sweep16.yaml"
SWEEP_DROP = ("run_id", "elapsed_s", "chunk")  # name the code (run ids hash the engine's source), not the model
SWEEP_ORDER = ["policy_index", "sample_index", "replication"]


def case_name(scenario: str, seed: int) -> str:
    """Folder / key of one golden run."""
    return f"{scenario}-s{seed}"


def run_case(scenario: str, seed: int):
    """The RunResult of one golden case."""
    return Simulation(load_scenario(REPO / "scenarios" / f"{scenario}.yaml"), seed=seed).run()


def sweep_table(store: Path | None = None) -> pd.DataFrame:
    """The golden sweep's KPI table: design + KPIs of every run, in design order (serial executor)."""
    from sim.experiments.store import Store
    from sim.experiments.sweep import run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(store) if store is not None else Path(tmp) / "golden16"
        report = run_sweep(SWEEP_SPEC, root, executor="serial")
        if report.failed:
            raise RuntimeError(f"golden sweep: {report.failed} runs failed")
        inputs, outputs = Store(root).frames(status=None)
        df = inputs.merge(outputs, on="run_id", how="left", validate="one_to_one")
    df = df.drop(columns=[c for c in SWEEP_DROP if c in df.columns])
    return df.sort_values(SWEEP_ORDER, kind="stable").reset_index(drop=True)


def kpis_equal(a: float, b: float) -> bool:
    """Exact equality, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


def read_golden() -> dict:
    """kpis.json as a dict (model_version, runs)."""
    return json.loads((GOLDEN / "kpis.json").read_text())


def _differences(new_kpis: dict, new_tables: dict, new_sweep: pd.DataFrame) -> list[str]:
    """What differs from the files on disk (empty when nothing does, or nothing is recorded yet)."""
    if not (GOLDEN / "kpis.json").is_file():
        return []
    old = read_golden()["runs"]
    out = []
    for case, k in new_kpis.items():
        ok = old.get(case, {})
        if set(ok) != set(k) or not all(kpis_equal(k[n], ok[n]) for n in k):
            out.append(f"{case}: KPIs differ")
        for name, df in new_tables[case].items():
            p = GOLDEN / "runs" / case / f"{name}.parquet"
            try:
                pd.testing.assert_frame_equal(df, pd.read_parquet(p), check_exact=True)
            except (AssertionError, FileNotFoundError):
                out.append(f"{case}: table {name} differs")
    try:
        pd.testing.assert_frame_equal(new_sweep, pd.read_parquet(GOLDEN / "sweep16.parquet"), check_exact=True)
    except (AssertionError, FileNotFoundError):
        out.append("sweep16: KPI table differs")
    return out


def main(argv: list[str] | None = None) -> int:
    """Regenerate the golden files; refuse (exit 1) if outputs changed and MODEL_VERSION did not."""
    ap = argparse.ArgumentParser(prog="python -m tests.golden.regen", description=__doc__.split("\n")[0])
    ap.add_argument("--force", action="store_true", help="overwrite even if outputs differ under the same version")
    args = ap.parse_args(argv)
    new_kpis, new_tables = {}, {}
    for sc in SCENARIOS:
        for seed in SEEDS:
            r = run_case(sc, seed)
            new_kpis[case_name(sc, seed)] = dict(sorted(r.kpis.items()))
            new_tables[case_name(sc, seed)] = r.tables
    new_sweep = sweep_table()
    same_version = (GOLDEN / "kpis.json").is_file() and read_golden().get("model_version") == MODEL_VERSION
    diffs = _differences(new_kpis, new_tables, new_sweep) if same_version else []
    if diffs and not args.force:
        print(f"outputs changed under MODEL_VERSION {MODEL_VERSION!r} ({len(diffs)} differences, e.g. {diffs[0]}): "
              "bump MODEL_VERSION in sim/engine/version.py, then regenerate", file=sys.stderr)
        return 1
    shutil.rmtree(GOLDEN / "runs", ignore_errors=True)
    for case, tabs in new_tables.items():
        d = GOLDEN / "runs" / case
        d.mkdir(parents=True)
        for name, df in tabs.items():
            df.to_parquet(d / f"{name}.parquet", index=False, compression="zstd")
    (GOLDEN / "kpis.json").write_text(json.dumps({"model_version": MODEL_VERSION, "runs": new_kpis},
                                                 indent=1, sort_keys=False) + "\n")
    new_sweep.to_parquet(GOLDEN / "sweep16.parquet", index=False, compression="zstd")
    print(f"golden outputs written for MODEL_VERSION {MODEL_VERSION!r}: {len(new_tables)} runs, "
          f"{len(new_sweep)} sweep runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
