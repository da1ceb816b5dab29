"""The package version, from its one source: ``version`` in pyproject.toml, as installed (importlib.metadata).

Read on first use (``sim._version.__version__``, PEP 562): importing importlib.metadata costs ~40 ms, more than
the rest of a short command's start-up, and only the outputs that record the version need it.  The model's own
version (what a run's outputs depend on) is separate: :mod:`sim.engine.version`.
"""

from __future__ import annotations

from functools import cache


@cache
def package_version() -> str:
    """The installed distribution's version ("0+unknown" for a source tree on sys.path without an install)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("exportsim")
    except PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return package_version()
    raise AttributeError(f"module 'sim._version' has no attribute {name!r}")


__all__ = ["__version__", "package_version"]  # noqa: F822 - provided by __getattr__
