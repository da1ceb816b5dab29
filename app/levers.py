"""Key levers of a scenario, found in its dumped dict and set by dotted path (no Streamlit).

A lever names the place(s) in ``scenario.model_dump(by_alias=True, mode="json")`` it edits, its
default (what the file says) and how a widget value is written back:

- ``toggle``  a rule on or off (off deletes ``rules.<id>``);
- ``date``    an ISO date at one path (a rule's effective date);
- ``number``  a plain number at one path (a TPP threshold);
- ``constant`` a quantity replaced by a constant (die yield, MFU): default is the quantity's mean;
- ``scale``   every quantity at the paths (and every step of a series) multiplied by a factor;
- ``add_rule`` a whole rule added under ``rules.<id>`` when switched on (the remote-access ban).

The edited dict is always re-validated by ``app.services.validate`` before anything runs.  Paths, means and
scaling are sim's own (:mod:`sim.scenario.paths`, :mod:`sim.scenario.quantities`): the app has no copy of them.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sim.scenario import paths, quantities

Path = tuple[Any, ...]

REMOTE_BAN_ID = "dashboard_remote_access_ban"


@dataclass(frozen=True)
class Lever:
    """One editable knob of a scenario."""

    id: str
    group: str
    label: str
    kind: str  # toggle | date | number | constant | scale | add_rule
    paths: tuple[Path, ...]
    default: Any
    low: float | None = None
    high: float | None = None
    step: float | None = None
    help: str = ""
    payload: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def dotted(self) -> str:
        """The lever's first path, dotted (how levers are named in tests, the change list and sweeps)."""
        return dotted(self.paths[0])


dotted = paths.dotted
get = paths.get_path
set_ = paths.set_path


def quantity_mean(q: Any) -> float | None:
    """The mean of a dumped quantity (:func:`sim.scenario.quantities.mean`); None when *q* is not one."""
    try:
        return quantities.mean(q)
    except (TypeError, ValueError):  # pydantic's ValidationError is a ValueError
        return None


def scale_quantity(q: Any, factor: float, cap: float | None = None) -> Any:
    """*q* (a quantity dict, a series of steps, or a number) times *factor*, capped at *cap* (sim's scaling)."""
    return quantities.scale_quantity(q, factor, cap)


def _series_last_mean(q: Any) -> float | None:
    if isinstance(q, list) and q:
        return quantity_mean(q[-1]["value"])
    return quantity_mean(q)


# -------------------------------------------------------------------------------------- discovery

def discover(d: dict) -> list[Lever]:
    """The key levers this scenario offers, grouped for the editor (empty groups are left out)."""
    levers: list[Lever] = []
    rules = d.get("rules") or {}
    for rid, rule in rules.items():
        name = rule.get("name") or rid
        levers.append(Lever(f"rule_on:{rid}", "Rules", rid, "toggle", (("rules", rid),), True,
                            help=name))
        levers.append(Lever(f"rule_effective:{rid}", "Rules", f"{rid} effective", "date",
                            (("rules", rid, "effective"),), rule["effective"], help=name))
        for i, item in enumerate(rule.get("scope", {}).get("items") or []):
            if item.get("tpp_min") is not None:
                levers.append(Lever(f"rule_tpp:{rid}:{i}", "Thresholds", f"{rid} TPP ≥ (item {i + 1})", "number",
                                    (("rules", rid, "scope", "items", i, "tpp_min"),), float(item["tpp_min"]),
                                    low=0.0, high=50_000.0, step=100.0, help=name))
    if REMOTE_BAN_ID not in rules and "us_2026_remote_access" not in rules:  # unless a general ban is already there
        levers.append(Lever("remote_ban", "Rules", "Ban remote (cloud) access to controlled chips for China-HQ buyers",
                            "add_rule", (("rules", REMOTE_BAN_ID),), None,
                            help="Adds a deny rule on the remote channel (as in bytedance_ascend_no_remote.yaml)."))
    for nid, node in (d.get("nodes") or {}).items():
        kind = node.get("kind")
        if kind == "foundry":
            if node.get("wafer_starts_per_month") is not None:
                levers.append(Lever(f"wafers:{nid}", "Supply", f"{nid} wafer capacity ×", "scale",
                                    (("nodes", nid, "wafer_starts_per_month"),), 1.0, 0.0, 3.0, 0.05,
                                    help="Multiplies every step of the wafer-starts series."))
            for chip, alloc in (node.get("allocation") or {}).items():
                mean = quantity_mean(alloc.get("die_yield"))
                if mean is not None:
                    levers.append(Lever(f"yield:{nid}:{chip}", "Supply", f"{nid} die yield, {chip}", "constant",
                                        (("nodes", nid, "allocation", chip, "die_yield"),), round(mean, 3),
                                        0.01, 1.0, 0.01, help="Replaces the yield distribution by this constant."))
        elif kind == "memory" and node.get("hbm_stacks_per_month") is not None:
            levers.append(Lever(f"hbm:{nid}", "Supply", f"{nid} HBM supply ×", "scale",
                                (("nodes", nid, "hbm_stacks_per_month"),), 1.0, 0.0, 3.0, 0.05))
        elif kind == "distributor" and node.get("grey"):
            levers.append(Lever(f"grey_share:{nid}", "Grey channel", f"{nid} grey share of denied demand ×", "scale",
                                (("nodes", nid, "grey", "share_of_denied"),), 1.0, 0.0, 5.0, 0.1,
                                payload={"cap": 1.0}))
            levers.append(Lever(f"seizure:{nid}", "Grey channel", f"{nid} seizure probability ×", "scale",
                                (("nodes", nid, "grey", "seizure_probability"),), 1.0, 0.0, 10.0, 0.1,
                                payload={"cap": 1.0}))
    for lid, lab in (d.get("labs") or {}).items():
        budget = _series_last_mean(lab.get("budget_usd_per_year")) or 0.0
        levers.append(Lever(f"budget:{lid}", "Labs", f"{lid} budget ×", "scale",
                            (("labs", lid, "budget_usd_per_year"),), 1.0, 0.0, 5.0, 0.05,
                            help=f"Multiplies every step; the last is about ${budget / 1e9:,.1f}B/yr."))
        for jid, job in (lab.get("jobs") or {}).items():
            for chip, q in (job.get("mfu") or {}).items():
                mean = quantity_mean(q)
                if mean is not None:
                    levers.append(Lever(f"mfu:{lid}:{jid}:{chip}", "Labs", f"{lid}/{jid} MFU on {chip}", "constant",
                                        (("labs", lid, "jobs", jid, "mfu", chip),), round(mean, 3), 0.01, 1.0, 0.01,
                                        help="Replaces the MFU distribution by this constant."))
    return levers


def remote_ban_rule(d: dict, effective: str) -> dict:
    """A deny rule on the remote channel for China-headquartered buyers, from *effective* (ISO date)."""
    groups = d.get("country_groups") or {}
    buyer_hq = ["CN_MO"] if "CN_MO" in groups else ["CN", "HK", "MO"]
    return {
        "name": "Remote access to controlled chips treated as an export (dashboard lever)",
        "announced": effective, "effective": effective,
        "scope": {
            "items": [{"tpp_min": 4800}, {"tpp_min": 1600, "pd_min": 5.92, "datacenter_only": True}],
            "origin": {"designer_countries": ["US"]}, "buyer_hq": buyer_hq, "channels": ["remote"],
        },
        "treatment": {"kind": "deny"},
        "source": ["E19"],
    }


# -------------------------------------------------------------------------------------- applying

def apply(original: dict, levers: list[Lever], values: dict[str, Any]) -> dict:
    """A deep copy of *original* with every lever whose value differs from its default applied."""
    d = copy.deepcopy(original)
    by_id = {lv.id: lv for lv in levers}
    # Dates and thresholds first, toggles last, so switching a rule off wins over editing it.
    order = {"date": 0, "number": 0, "constant": 0, "scale": 0, "add_rule": 1, "toggle": 2}
    for lid in sorted(values, key=lambda k: order.get(by_id[k].kind if k in by_id else "", 3)):
        lever = by_id.get(lid)
        value = values[lid]
        if lever is None or value == lever.default:
            continue
        for path in lever.paths:
            if lever.kind == "toggle":
                if not value:
                    get(d, path[:-1]).pop(path[-1], None)
                    for rule in (d.get("rules") or {}).values():  # a removed rule overrides nothing
                        if path[-1] in (rule.get("overrides") or []):
                            rule["overrides"] = [r for r in rule["overrides"] if r != path[-1]]
            elif lever.kind == "date":
                if _exists(d, path):
                    set_(d, path, value.isoformat() if isinstance(value, dt.date) else str(value))
            elif lever.kind == "number":
                if _exists(d, path):
                    set_(d, path, float(value))
            elif lever.kind == "constant":
                if _exists(d, path):
                    old = get(d, path)
                    src = old.get("source", []) if isinstance(old, dict) else []
                    set_(d, path, {"dist": "constant", "value": float(value), "source": src})
            elif lever.kind == "scale":
                if _exists(d, path):
                    set_(d, path, scale_quantity(get(d, path), float(value), lever.payload.get("cap")))
            elif lever.kind == "add_rule" and value:
                d.setdefault("rules", {})[path[-1]] = remote_ban_rule(d, str(value))
    return d


_exists = paths.has_path


def changes(original: Any, edited: Any, path: Path = ()) -> list[tuple[str, Any, Any]]:
    """Every leaf that differs between two dumped scenarios: (dotted path, old, new); series as wholes."""
    if isinstance(original, dict) and isinstance(edited, dict):
        if {"since", "value"} <= set(original) or "dist" in original or "dist" in edited:
            return [] if original == edited else [(dotted(path), original, edited)]
        out = []
        for k in list(original) + [k for k in edited if k not in original]:
            if k not in edited:
                out.append((dotted(path + (k,)), "(present)", "(removed)"))
            elif k not in original:
                out.append((dotted(path + (k,)), "(absent)", "(added)"))
            else:
                out += changes(original[k], edited[k], path + (k,))
        return out
    if isinstance(original, list) and isinstance(edited, list) and len(original) == len(edited) and original \
            and all(isinstance(x, dict) and "since" not in x for x in original + edited):
        out = []
        for i, (a, b) in enumerate(zip(original, edited, strict=True)):
            out += changes(a, b, path + (i,))
        return out
    if original != edited:
        return [(dotted(path), original, edited)]
    return []


_MARKS = {"(present)": "in the file", "(removed)": "removed", "(absent)": "not in the file", "(added)": "added"}


def describe(value: Any) -> str:
    """A short human reading of a dumped value for the change list (quantities as sim describes them; never a
    Python dict or list dump)."""
    if isinstance(value, str) and value in _MARKS:
        return _MARKS[value]
    if isinstance(value, list) and value and isinstance(value[0], dict) and "since" in value[0]:
        steps = [(str(s["since"]), describe(s["value"])) for s in value]
        if len(steps) == 1 and steps[0][0] <= "1900-12-31":  # a constant: one step from before any start
            return steps[0][1]
        return "; ".join(f"from {since}: {v}" for since, v in steps)
    if isinstance(value, dict) and "dist" in value:
        return quantities.describe(value)
    if isinstance(value, dict):
        if "effective" in value:
            return f"{value.get('name') or 'a rule'}, in force from {value['effective']}"
        return "; ".join(f"{k.replace('_', ' ')}: {describe(v)}" for k, v in value.items() if v not in (None, [], {}))
    if isinstance(value, list):
        return ", ".join(describe(v) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:,g}"
    if value is None:
        return "none"
    return str(value)


def lever_of(levers: list[Lever], path: str) -> Lever | None:
    """The lever that sets *path*: its own path, else the most specific lever path containing it, else one inside it."""
    exact, inside, within = None, (-1, None), None
    for lever in levers:
        for p in lever.paths:
            d = dotted(p)
            if path == d and exact is None:
                exact = lever
            elif path.startswith(d + ".") and len(d) > inside[0]:
                inside = (len(d), lever)
            elif d.startswith(path + ".") and within is None:
                within = lever
    return exact or inside[1] or within
