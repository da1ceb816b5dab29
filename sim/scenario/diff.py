"""What two scenarios assume differently: a flat list of changed values at dotted paths.

Both scenarios are compared after ``extends``/``include`` resolution and validation, as
``model_dump(by_alias=True)`` flattened to dotted paths (list items by index, e.g.
``nodes.smic.wafer_starts_per_month.3.value.low``).
A block present on one side only is one row at its own path (a removed rule: ``rules.us_2022_10``,
new = None), not one row per leaf.  Each row carries the sources in force on each side: the ``source``
of the nearest block containing the path (the block itself when the row is a whole block).

Not compared: the top-level ``name``, ``question`` and ``description`` (text, not assumptions) and the
``source`` fields themselves (they appear in the source columns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.schema import Scenario

SKIP_TOP = frozenset({"name", "question", "description"})
_MISSING = object()


@dataclass(frozen=True)
class DiffRow:
    """One changed assumption: dotted path, value in A, value in B, and the sources on each side."""

    path: str
    old: Any
    new: Any
    old_source: list[str] = field(default_factory=list)
    new_source: list[str] = field(default_factory=list)

    @property
    def source(self) -> list[str]:
        """The sources of the new value, or of the old one when the value was removed."""
        return self.new_source if self.new is not None else self.old_source


def diff_scenarios(a: Scenario, b: Scenario) -> list[DiffRow]:
    """Every value that differs between *a* and *b*, in path order (see the module docstring)."""
    da = a.model_dump(by_alias=True, mode="json")
    db = b.model_dump(by_alias=True, mode="json")
    rows: list[DiffRow] = []
    for key in _keys(da, db):
        if key in SKIP_TOP or key == "source":
            continue
        _walk(da.get(key, _MISSING), db.get(key, _MISSING), (key,), da, db, rows)
    return rows


def _keys(x: Any, y: Any) -> list:
    kx = list(x) if isinstance(x, dict) else []
    ky = [k for k in (y if isinstance(y, dict) else []) if k not in kx]
    return kx + ky


def _walk(x: Any, y: Any, path: tuple, root_a: dict, root_b: dict, rows: list[DiffRow]) -> None:
    if isinstance(x, dict) and isinstance(y, dict):
        for k in _keys(x, y):
            if k == "source":
                continue
            _walk(x.get(k, _MISSING), y.get(k, _MISSING), path + (k,), root_a, root_b, rows)
        return
    if isinstance(x, list) and isinstance(y, list) and _is_block_list(x) and _is_block_list(y):
        for i in range(max(len(x), len(y))):
            _walk(x[i] if i < len(x) else _MISSING, y[i] if i < len(y) else _MISSING, path + (i,), root_a, root_b, rows)
        return
    if x == y:
        return
    if x is _MISSING and y is None or y is _MISSING and x is None:
        return  # an optional field absent on one side and null on the other: no difference
    rows.append(DiffRow(
        ".".join(str(p) for p in path),
        None if x is _MISSING else x,
        None if y is _MISSING else y,
        nearest_source(root_a, path) if x is not _MISSING else [],
        nearest_source(root_b, path) if y is not _MISSING else [],
    ))


def _is_block_list(v: list) -> bool:
    """Lists of mappings (series steps) are compared item by item; lists of scalars as one value."""
    return bool(v) and all(isinstance(i, dict) for i in v)


def nearest_source(root: dict, path: tuple) -> list[str]:
    """The ``source`` of the innermost block on *path* (the value itself included) that has one."""
    chain = [root]
    cur: Any = root
    for p in path:
        try:
            cur = cur[p]
        except (KeyError, IndexError, TypeError):
            break
        chain.append(cur)
    for block in reversed(chain):
        if isinstance(block, dict):
            src = block.get("source")
            if src:
                return list(src)
    return []
