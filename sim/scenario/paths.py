"""Dotted paths into a scenario's mapping (``rules.us_2023_10.scope.items.0.tpp_min``): get, set, diff.

The one implementation every caller uses: sweeps, chokepoint knock-outs, briefing swings, dashboard
levers, and the loader's error locations.  A path is a dotted string or a sequence of segments (ints
index lists).  Mappings are walked by key, lists by index; a path is never created, and a wrong segment
raises :class:`PathError` naming the keys that exist (and the closest one).  Nothing here validates a
scenario: :func:`sim.experiments.sweep.spec.apply_point` sets paths and re-validates.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from typing import Any

Assignment = tuple[str, Any]  # (dotted path, value)
PathLike = str | Sequence[Any]


class PathError(ValueError):
    """A dotted path does not lead to a value of the scenario."""


def _segments(path: PathLike) -> list[str]:
    if isinstance(path, str):
        return path.split(".") if path else []
    return [str(p) for p in path]


def dotted(path: Iterable[Any]) -> str:
    """``("rules", "us_2022_10", "effective")`` -> ``"rules.us_2022_10.effective"``."""
    return ".".join(str(p) for p in path)


def split_path(path: str, data: Any) -> tuple[Any, ...]:
    """Split a dotted path, turning digits into list indices only where *data* holds a list there."""
    out: list[Any] = []
    cur = data
    for part in path.split("."):
        if isinstance(cur, list) and part.isdigit():
            out.append(int(part))
            cur = cur[int(part)] if int(part) < len(cur) else None
        else:
            out.append(part)
            cur = cur.get(part) if isinstance(cur, dict) else None
    return tuple(out)


def _step(cur: Any, seg: str, done: list[str]) -> Any:
    where = ".".join(done) or "the scenario"
    if isinstance(cur, dict):
        if seg in cur:
            return cur[seg]
        import difflib

        close = difflib.get_close_matches(seg, [str(k) for k in cur], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        keys = ", ".join(sorted(str(k) for k in cur)[:12])
        raise PathError(f"no key '{seg}' under {where}{hint} (has: {keys}{', ...' if len(cur) > 12 else ''})")
    if isinstance(cur, list):
        if not re.fullmatch(r"-?\d+", seg):
            raise PathError(f"{where} is a list; '{seg}' must be an index 0..{len(cur) - 1}")
        i = int(seg)
        if not 0 <= i < len(cur):
            raise PathError(f"index {i} out of range under {where} (a list of {len(cur)})")
        return cur[i]
    raise PathError(f"{where} is a value ({_brief(cur)}), not a mapping or list; cannot go on to '{seg}'")


def _brief(v: Any) -> str:
    s = repr(v)
    return s if len(s) < 40 else s[:37] + "..."


def get_path(data: Any, path: PathLike) -> Any:
    """The value at *path* in *data* (mappings by key, lists by index); :class:`PathError` if absent."""
    cur = data
    done: list[str] = []
    for seg in _segments(path):
        cur = _step(cur, seg, done)
        done.append(seg)
    return cur


def has_path(data: Any, path: PathLike) -> bool:
    """Whether *path* leads to a value in *data*."""
    try:
        get_path(data, path)
    except PathError:
        return False
    return True


def set_path(data: Any, path: PathLike, value: Any) -> None:
    """Set *path* in *data* in place; the path must already exist (it is never created)."""
    segs = _segments(path)
    parent = get_path(data, segs[:-1]) if len(segs) > 1 else data
    last = segs[-1]
    _step(parent, last, segs[:-1])  # raises PathError if absent
    if isinstance(parent, list):
        parent[int(last)] = value
    else:
        parent[last] = value


def with_assignments(base: Any, assignments: Sequence[Assignment]) -> Any:
    """A deep copy of *base* with every (path, value) of *assignments* set (each value copied too: a value may
    share parts with *base*, and the copy may be changed in place by whoever validates it)."""
    data = copy.deepcopy(base)
    for path, value in assignments:
        set_path(data, path, copy.deepcopy(value))
    return data


def diff_assignments(base: dict, modified: dict) -> list[Assignment]:
    """(dotted path, value) pairs that turn *base* into *modified* (``with_assignments(base, ...) == modified``).

    Paths go as deep as both sides are mappings with the same keys (ids without dots); below that, or where
    keys were added or removed, the whole sub-mapping is assigned.  Sorted, so equal changes compare equal.
    """
    out: list[Assignment] = []

    def walk(a: Any, b: Any, path: list[str]) -> None:
        if a == b:
            return
        if (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
                and all(isinstance(k, str) and "." not in k and k for k in a)):
            for k in a:
                walk(a[k], b[k], [*path, k])
            return
        if not path:
            raise ValueError("the whole scenario changed")
        out.append((".".join(path), b))

    walk(base, modified, [])
    return sorted(out, key=lambda kv: kv[0])


__all__ = ["Assignment", "PathError", "diff_assignments", "dotted", "get_path", "has_path", "set_path",
           "split_path", "with_assignments"]
