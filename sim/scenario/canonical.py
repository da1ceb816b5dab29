"""The canonical form of a scenario: every mapping's keys sorted (lists keep their order: it means something).

Processes start, and ties between same-time events resolve, in mapping order; a run on the canonical form
depends on the scenario's content only, whether it came from a file, an edited dict or JSON.  A file as loaded
keeps the file's order (for display); :func:`canonical` re-orders the validated models (no dump, no
validation).  :func:`sim.scenario.overrides.apply_overrides` produces canonical scenarios directly.  Canonical
scenarios are registered here, so the engine's ``canonical(s)`` is a look-up for them.  The register holds weak
references: it never keeps a scenario alive, and an object that is not the registered one (a copy, a new
object at a reused address) is never taken for canonical.
"""

from __future__ import annotations

import weakref
from typing import Any

from pydantic import BaseModel

from sim.schema import Scenario

_REGISTERED: dict[int, weakref.ref] = {}
_CANONICAL_OF: dict[int, tuple[weakref.ref, Scenario]] = {}  # id(s) -> (weak s, its canonical form)


def sorted_data(x: Any) -> Any:
    """*x* with every mapping's keys sorted (recursively); lists keep their order."""
    if isinstance(x, dict):
        return {k: sorted_data(x[k]) for k in sorted(x, key=str)}
    if isinstance(x, list):
        return [sorted_data(v) for v in x]
    return x


def mark_canonical(s: Scenario) -> Scenario:
    """Register *s* as canonical (its mappings are sorted); returns it."""
    key = id(s)

    def forget(_ref: weakref.ref, key: int = key, table: dict = _REGISTERED) -> None:  # bound now: safe at exit
        table.pop(key, None)

    _REGISTERED[key] = weakref.ref(s, forget)
    return s


def is_canonical(s: Scenario) -> bool:
    """Whether *s* itself was registered as canonical."""
    ref = _REGISTERED.get(id(s))
    return ref is not None and ref() is s


def canonical(s: Scenario) -> Scenario:
    """The canonical form of *s* (itself when it already is): the same models with every mapping rebuilt in
    sorted key order.  Nothing is re-validated: the values are the validated ones, only their order changes
    (a test holds this equal to dumping, sorting and validating again)."""
    if is_canonical(s):
        return s
    found = _CANONICAL_OF.get(id(s))
    if found is not None and found[0]() is s:
        return found[1]
    c = mark_canonical(_canon(s))
    key = id(s)

    def forget(_ref: weakref.ref, key: int = key, table: dict = _CANONICAL_OF) -> None:  # bound now: safe at exit
        table.pop(key, None)

    _CANONICAL_OF[key] = (weakref.ref(s, forget), c)  # the same object asked again (a base run many times)
    return c


def _canon(x: Any) -> Any:
    if isinstance(x, BaseModel):
        update = {}
        for name in type(x).model_fields:
            v = getattr(x, name)
            c = _canon(v)
            if c is not v:
                update[name] = c
        return x.model_copy(update=update) if update else x
    if isinstance(x, dict):
        keys = sorted(x, key=str)
        items = [(k, _canon(x[k])) for k in keys]
        if keys == list(x) and all(v is x[k] for k, v in items):
            return x
        return dict(items)
    if isinstance(x, list):
        items = [_canon(v) for v in x]
        return items if any(a is not b for a, b in zip(items, x, strict=True)) else x
    return x


__all__ = ["canonical", "is_canonical", "mark_canonical", "sorted_data"]
