"""The synthetic-truth study: does the calibration recover inputs it is given the answer to?

For each of several seeds: draw "true" inputs from the priors, make observations with the model itself at
those inputs (``synthetic_observed``: one run, each figure's range +/- ``rel_halfwidth``), calibrate from
the priors against them, and check whether each input's 90 % posterior interval (5-95 %) covers its true
value.  Inputs that no fitted figure depends on cover trivially (their posterior is the prior); the study
reports them apart.  ``make calibrate`` runs it on the tiny test calibration before the history fit::

    python -m sim.experiments.calibration_study [SPEC] --seeds 5 --out calibrations/synthetic
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from sim.experiments.calibrate import load_calibration, run_calibration, synthetic_observed
from sim.experiments.calibration_report import summarise

DEFAULT_SPEC = Path("tests/data/calibration/tiny.yaml")


def study(spec: str | Path = DEFAULT_SPEC, seeds: int = 5, out: str | Path = "calibrations/synthetic",
          rel_halfwidth: float = 0.1, executor: str = "serial", workers: int | None = None,
          population: int | None = 60, generations: int | None = 7,
          log=lambda line: sys.stderr.write(line + "\n")) -> dict:
    """Run the study; one row per (seed, input): truth, 5/50/95 % of the posterior, covered, verdict.

    *population* and *generations* override the spec's (the CI spec is sized for speed, not convergence:
    with +/-10 % synthetic ranges a few generations leave the threshold several ranges wide).
    """
    lc0 = load_calibration(spec)
    abc = lc0.spec.abc.model_copy(update={k: v for k, v in (("population_size", population),
                                                             ("generations", generations)) if v is not None})
    rows, t0, runs = [], time.perf_counter(), 0
    for k in range(seeds):
        rng = np.random.default_rng(np.random.SeedSequence([lc0.spec.seed, 7, k]))
        truth = lc0.values(rng.random(len(lc0.parameters)).tolist())
        obs = synthetic_observed(lc0, truth, seed=int(rng.integers(1, 2**31)), rel_halfwidth=rel_halfwidth)
        lc = load_calibration(spec, observed=obs)
        lc.spec = lc.spec.model_copy(update={"abc": abc})
        np.random.seed(int(rng.integers(1, 2**31)))  # pyabc's proposals (serial sampler: reproducible)
        store = Path(out) / f"seed{k}"
        res = run_calibration(lc, store, executor=executor, workers=workers)
        runs += res.simulations + res.predictive_runs
        rep = summarise(store)
        for i in rep["inputs"]:
            q = i["posterior"]
            rows.append({"seed": k, "input": i["input"], "truth": truth[i["input"]], "q05": q["q05"], "q50": q["q50"],
                         "q95": q["q95"], "covered": bool(q["q05"] <= truth[i["input"]] <= q["q95"]),
                         "verdict": i["verdict"]})
        log(f"seed {k}: " + ", ".join(f"{r['input']} {'ok' if r['covered'] else 'MISSED'} ({r['verdict']})"
                                      for r in rows if r["seed"] == k))
    informed = [r for r in rows if r["verdict"] != "at prior"]
    summary = {"spec": str(spec), "seeds": seeds, "rel_halfwidth": rel_halfwidth, "population": abc.population_size,
               "generations": abc.generations, "rows": rows,
               "covered": sum(r["covered"] for r in rows), "of": len(rows),
               "covered_informed": sum(r["covered"] for r in informed), "of_informed": len(informed),
               "runs": runs, "wall_s": time.perf_counter() - t0}
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "study.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec", nargs="?", default=str(DEFAULT_SPEC))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", default="calibrations/synthetic")
    ap.add_argument("--rel-halfwidth", type=float, default=0.1)
    ap.add_argument("--executor", default="serial")
    ap.add_argument("--population", type=int, default=60)
    ap.add_argument("--generations", type=int, default=7)
    a = ap.parse_args(argv)
    s = study(a.spec, a.seeds, a.out, a.rel_halfwidth, a.executor, population=a.population,
              generations=a.generations)
    sys.stdout.write(f"90 % posterior intervals cover the true input in {s['covered']} of {s['of']} cases "
                     f"({s['covered_informed']} of {s['of_informed']} where the data informed the input); "
                     f"{s['runs']} runs, {s['wall_s']:.0f} s; details in {a.out}/study.json\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
