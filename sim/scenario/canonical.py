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

import hashlib
import json
import weakref
from typing import Any

from pydantic import BaseModel

from sim.schema import Scenario

_REGISTERED: dict[int, tuple[weakref.ref, None]] = {}  # id(s) -> (weak s, None): the canonical scenarios
_CANONICAL_OF: dict[int, tuple[weakref.ref, Scenario]] = {}  # id(s) -> (weak s, its canonical form)


def _remember(table: dict, s: Scenario, value: Any) -> None:
    """``table[id(s)] = (weak s, value)``, dropped when *s* is (so a reused address is never taken for *s*)."""
    key = id(s)

    def forget(_ref: weakref.ref, key: int = key, table: dict = table) -> None:  # bound now: safe at exit
        table.pop(key, None)

    table[key] = (weakref.ref(s, forget), value)


def _recalled(table: dict, s: Scenario) -> tuple[bool, Any]:
    found = table.get(id(s))
    return (True, found[1]) if found is not None and found[0]() is s else (False, None)


def sorted_data(x: Any) -> Any:
    """*x* with every mapping's keys sorted (recursively); lists keep their order."""
    if isinstance(x, dict):
        return {k: sorted_data(x[k]) for k in sorted(x, key=str)}
    if isinstance(x, list):
        return [sorted_data(v) for v in x]
    return x


def mark_canonical(s: Scenario) -> Scenario:
    """Register *s* as canonical (its mappings are sorted); returns it."""
    _remember(_REGISTERED, s, None)
    return s


def is_canonical(s: Scenario) -> bool:
    """Whether *s* itself was registered as canonical."""
    return _recalled(_REGISTERED, s)[0]


def canonical(s: Scenario) -> Scenario:
    """The canonical form of *s* (itself when it already is): the same models with every mapping rebuilt in
    sorted key order.  Nothing is re-validated: the values are the validated ones, only their order changes
    (a test holds this equal to dumping, sorting and validating again)."""
    if is_canonical(s):
        return s
    known, c = _recalled(_CANONICAL_OF, s)  # the same object asked again (a base run many times)
    if not known:
        c = mark_canonical(_canon(s))
        _remember(_CANONICAL_OF, s, c)
    return c


def scenario_hash(s: Scenario) -> str:
    """First 16 hex digits of the SHA-256 of the scenario's canonical JSON (sorted keys): its content's identity,
    the same whatever order it was written in (the briefing prints it; edited dashboard runs carry it)."""
    canon = json.dumps(s.model_dump(by_alias=True, mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


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


__all__ = ["canonical", "is_canonical", "mark_canonical", "scenario_hash", "sorted_data"]
