"""Sweeps: a spec expanded into a design of runs, run by an executor, streamed into a resumable store.

``spec`` loads and checks a spec file; ``design`` turns it into runs (points x replications, seeds, ids);
``executors`` runs chunks of them (serial, local processes, Dask); ``driver`` (:func:`run_sweep`) ties
them to a store (:mod:`sim.experiments.store`).  The public names are re-exported here.
"""

from sim.experiments.sweep.design import Run, design_matrix, design_size, expand, replication_seeds
from sim.experiments.sweep.driver import SweepError, SweepReport, default_chunk_size, run_sweep
from sim.experiments.sweep.executors import EXECUTORS, ChunkResult, kpi_matcher, run_chunk
from sim.experiments.sweep.spec import LoadedSpec, apply_point, grid_u, is_numeric, load_spec, values_from_u
from sim.scenario.paths import Assignment, PathError, get_path, set_path

__all__ = [
    "EXECUTORS", "Assignment", "ChunkResult", "LoadedSpec", "PathError", "Run", "SweepError", "SweepReport",
    "apply_point", "default_chunk_size", "design_matrix", "design_size", "expand", "get_path", "grid_u",
    "is_numeric", "kpi_matcher", "load_spec", "replication_seeds", "run_chunk", "run_sweep", "set_path",
    "values_from_u",
]
