"""Design points as overrides of a validated scenario: validate what changed, not the whole world again.

Sweeps, calibration particles, options and dashboard levers each run many variants of one base scenario that
differ in a few dotted paths (``nodes.smic.allocation.ascend910b.die_yield.mean``).  Re-loading each variant
(deep copy of the dumped base, full validation, canonical re-sort) cost more than a third of a short run.
:func:`apply_overrides` dumps only the entries a path touches (``nodes.smic``), sets the values there,
validates those entries with their own model, swaps them into a copy of the base, then runs the
scenario-wide checks (cross references, run budget).  The base must be canonical (sorted mappings; what the
loader returns) and so is the result.  A test holds it equal to the full re-load on the library's paths; any
variant that fails validation is re-done the long way, so its error is exactly the loader's.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from sim.scenario.canonical import canonical, mark_canonical, sorted_data
from sim.scenario.paths import Assignment, _segments, get_path, set_path
from sim.schema import Scenario, cross_check

#: Top-level fields that are mappings of id -> model: an override re-validates only the entry it touches.
SECTIONS = ("chips", "nodes", "edges", "rules", "labs", "clouds", "rental_streams")
#: Top-level plain-text fields (no constraint beyond stripped whitespace).
TEXT_FIELDS = ("name", "question", "description")


@cache
def _entry_adapter(section: str) -> TypeAdapter:
    """The validator of one entry of *section* (e.g. the NodeSpec union for ``nodes``)."""
    annotation = Scenario.model_fields[section].annotation
    return TypeAdapter(annotation.__args__[1])  # type: ignore[union-attr]  # dict[str, Model]


_BASE_CACHE: list[tuple[dict, Scenario]] = []  # (dumped base, its validated scenario): the last one used here


def validated_base(base: dict | Scenario) -> Scenario:
    """*base* as a validated canonical Scenario; a dumped base (``model_dump(by_alias=True)``) is validated once
    per process and kept for as long as callers pass that same dict."""
    if isinstance(base, Scenario):
        return canonical(base)
    if _BASE_CACHE and _BASE_CACHE[0][0] is base:
        return _BASE_CACHE[0][1]
    from sim.scenario.loader import scenario_from_dict

    s = canonical(scenario_from_dict(copy.deepcopy(base)))
    _BASE_CACHE[:] = [(base, s)]
    return s


def apply_overrides(base: Scenario, assignments: Sequence[Assignment]) -> Scenario:
    """*base* with every (dotted path, value) of *assignments* set, validated; raises ScenarioError like the loader.

    Paths are never created (a wrong segment raises :class:`~sim.scenario.paths.PathError`).  Paths into a
    section entry re-validate that entry; any other path (``end``, ``costs.*``, a whole section) falls back to
    a full re-validation of the dumped scenario.
    """
    given, base = base, canonical(base)
    if not assignments:
        return base
    touched: dict[tuple[str, str], list[tuple[list[str], Any]]] = {}
    update: dict[str, Any] = {}
    for path, value in assignments:
        segs = _segments(path)
        if len(segs) == 1 and segs[0] in TEXT_FIELDS and isinstance(value, str):
            update[segs[0]] = value.strip()  # plain text: what validation would do (strip whitespace)
            continue
        if len(segs) < 2 or segs[0] not in SECTIONS:
            return _reload(given, assignments)
        touched.setdefault((segs[0], segs[1]), []).append((segs[2:], value))
    for (section, key), sets in touched.items():
        entries = update.setdefault(section, dict(getattr(base, section)))
        if key not in entries:  # the path's own error (no key ... did you mean), from the keys alone
            get_path({section: dict.fromkeys(entries)}, f"{section}.{key}")
        data: Any = entries[key].model_dump(by_alias=True)
        for i, (segs, value) in enumerate(sets):
            if segs:
                set_path(data, segs, value)
            elif any(later for later, _ in sets[i + 1:]):  # the whole entry, then paths into it: set on a copy
                data = copy.deepcopy(value)
            else:  # the whole entry (validated from a sorted copy below: *value* itself is not changed)
                data = value
        try:
            entries[key] = _entry_adapter(section).validate_python(sorted_data(data))
        except ValidationError:
            return _reload(given, assignments)  # the loader's own message, file line and all
    out = base.model_copy(update=update)
    if cross_check(out):
        return _reload(given, assignments)
    from sim.scenario.budget import check_budget

    if check_budget(out) is not None:
        return _reload(given, assignments)
    return mark_canonical(out)


def _reload(base: Scenario, assignments: Sequence[Assignment]) -> Scenario:
    """The long way: dump, set, validate everything (what a file edit would give; problems in *base*'s order)."""
    from sim.scenario.loader import scenario_from_dict
    from sim.scenario.paths import with_assignments

    return canonical(scenario_from_dict(with_assignments(base.model_dump(by_alias=True), assignments)))


__all__ = ["SECTIONS", "apply_overrides", "validated_base"]
