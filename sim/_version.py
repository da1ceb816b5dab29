"""The package version, from its one source: ``version`` in pyproject.toml, as installed (importlib.metadata).

The model's own version (what a run's outputs depend on) is separate: :mod:`sim.engine.version`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("exportsim")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"

__all__ = ["__version__"]
