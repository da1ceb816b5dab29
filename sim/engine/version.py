"""The model's identity: an explicit MODEL_VERSION and a fingerprint of the engine's source.

``MODEL_VERSION`` is bumped by hand whenever a change alters any run's output (tables or KPIs);
``tests/test_golden.py`` enforces it: golden outputs are recorded under a model version, and they must be
reproduced exactly under that version (``make golden`` refuses to overwrite them with different outputs
unless the version was bumped).  :func:`model_fingerprint` adds a hash of the engine's and the schema's
source, so sweep stores made by another model are recognised even when someone forgot to bump.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

MODEL_VERSION = "14"  # bump on any change of a run's outputs (then `make golden`)

_SIM = Path(__file__).resolve().parent.parent  # the sim/ package
_SOURCE_DIRS = ("engine", "results", "schema")  # what defines a run's outputs (rows and KPIs), besides the scenario


_HASHED: dict[tuple, str] = {}  # (the files' paths, sizes and modification times) -> their hash, this process


def source_hash() -> str:
    """SHA-256 over the engine's, the results' and the schema's ``*.py`` files (relative path and bytes, sorted by path).

    Worked out again only when a file's size or modification time differs from the last time (a sweep asks three
    times, each read of the files costing ~2 ms); an edited, added or removed file is read again."""
    files = [p for sub in _SOURCE_DIRS for p in sorted((_SIM / sub).rglob("*.py"))]
    stats = [p.stat() for p in files]
    key = (str(_SIM), *((str(p), st.st_size, st.st_mtime_ns) for p, st in zip(files, stats, strict=True)))
    found = _HASHED.get(key)
    if found is not None:
        return found
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(_SIM).as_posix().encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    _HASHED.clear()  # only the current source's hash is kept
    found = _HASHED[key] = h.hexdigest()
    return found


def model_fingerprint() -> str:
    """``<MODEL_VERSION>-<first 12 hex of source_hash()>``: what a sweep's run ids and store key record."""
    return f"{MODEL_VERSION}-{source_hash()[:12]}"


def fingerprint_change(made_by: str | None, now: str | None = None) -> str | None:
    """How the model now differs from the one that made a stored result (*made_by*, a fingerprint).

    None: the same fingerprint.  ``"source"``: the same MODEL_VERSION with edited source (the golden runs' outputs
    are unchanged, so a result made before is expected to hold).  ``"version"``: another MODEL_VERSION (or no
    fingerprint recorded): the outputs have changed since.
    """
    now = model_fingerprint() if now is None else now
    if made_by == now:
        return None
    if made_by and made_by.split("-", 1)[0] == now.split("-", 1)[0]:
        return "source"
    return "version"


__all__ = ["MODEL_VERSION", "fingerprint_change", "model_fingerprint", "source_hash"]
