"""Shared session state: which scenario is open, the lever values set on it, and the edited result.

Kept outside widget keys on purpose: Streamlit drops a widget's state when its page is left, so lever
values live in ``st.session_state["levers"]`` (per scenario source) and widgets are re-seeded from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from app import levers as lv
from app import services

SOURCE = "source"  # the picked scenario: a file path, or UPLOAD
UPLOAD = "<uploaded>"
UPLOADED = "uploaded"  # the last valid upload (services.Loaded)
LEVERS = "levers"  # {source: {lever id: value}}
SEED = "seed"
PENDING = "pending_open"  # (source, seed) a page asks to open; applied before the sidebar's widgets exist


@dataclass
class Current:
    """The open scenario: as loaded, as edited, and whether the edit validates."""

    source: str
    label: str
    loaded: services.Loaded
    levers: list[lv.Lever] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    edited: dict | None = None
    scenario_json: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether there is a valid scenario to run."""
        return self.scenario_json is not None


def open_next_run(source: str, seed: int) -> None:
    """Open *source* with *seed* from the next run on (the sidebar's widgets own those keys now)."""
    st.session_state[PENDING] = (source, seed)
    st.rerun()


def init() -> None:
    """First-run defaults: the default scenario, no edits, its own seed; apply a pending open."""
    if PENDING in st.session_state:
        st.session_state[SOURCE], st.session_state[SEED] = st.session_state.pop(PENDING)
    if SOURCE not in st.session_state:
        st.session_state[SOURCE] = services.scenario_files()[0]
    st.session_state.setdefault(LEVERS, {})


URL_READ = "url_read"  # the shared link's state has been applied to this session
LEVER_PREFIX = "lever."  # query parameter of one lever: lever.<lever id>=<value>


def _encode(lever: lv.Lever, value: Any) -> str:
    if lever.kind == "toggle":
        return "1" if value else "0"
    if lever.kind == "add_rule":
        return value or ""
    return str(value)


def _decode(lever: lv.Lever, text: str) -> Any:
    if lever.kind == "toggle":
        return text.lower() in ("1", "true", "on", "yes")
    if lever.kind == "add_rule":
        return text or None
    if lever.kind == "date":
        import datetime as dt

        return dt.date.fromisoformat(text).isoformat()
    value = float(text)
    if lever.low is not None and lever.high is not None:
        value = min(max(value, float(lever.low)), float(lever.high))
    return value


def from_url() -> list[str]:
    """Once per session: open the scenario, seed and lever values of a shared link (``?scenario=...&seed=...&
    lever.<id>=...``).  Returns one line per parameter that could not be applied."""
    if st.session_state.get(URL_READ):
        return []
    st.session_state[URL_READ] = True
    qp = st.query_params
    problems: list[str] = []
    if "scenario" in qp:
        match = [f for f in services.scenario_files() if services.short_name(f) == qp["scenario"]]
        if match:
            st.session_state[SOURCE] = match[0]
        else:
            problems.append(f"scenario={qp['scenario']}: not a scenario of the library")
    if "seed" in qp:
        try:
            st.session_state[SEED] = max(0, int(qp["seed"]))
        except ValueError:
            problems.append(f"seed={qp['seed']}: not a whole number")
    wanted = {k[len(LEVER_PREFIX):]: v for k, v in qp.to_dict().items() if k.startswith(LEVER_PREFIX)}
    if wanted:
        loaded = loaded_for(st.session_state[SOURCE])
        found = {lever.id: lever for lever in lv.discover(loaded.data)} if loaded.ok else {}
        values = st.session_state[LEVERS].setdefault(st.session_state[SOURCE], {})
        for lid, text in wanted.items():
            if lid not in found:
                problems.append(f"lever.{lid}: no such lever in this scenario")
                continue
            try:
                values[lid] = _decode(found[lid], text)
            except ValueError:
                problems.append(f"lever.{lid}={text}: not a valid value")
    return problems


def to_url(current: Current) -> None:
    """Write the open scenario, seed and changed levers into the address bar (a link reproduces the view)."""
    params: dict[str, str] = {}
    if current.source != UPLOAD:
        params["scenario"] = services.short_name(current.source)
    params["seed"] = str(st.session_state.get(SEED, ""))
    for lever in current.levers:
        value = current.values.get(lever.id, lever.default)
        if value != lever.default:
            params[LEVER_PREFIX + lever.id] = _encode(lever, value)
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def loaded_for(source: str) -> services.Loaded:
    """The loaded scenario of a picker entry."""
    if source == UPLOAD:
        return st.session_state.get(UPLOADED) or services.Loaded(
            "uploaded file", None, ("nothing uploaded yet: upload a scenario file on the Scenario page",))
    return services.load_file(source)


def lever_values() -> dict[str, Any]:
    """The lever values of the open scenario (a live dict: widgets write into it)."""
    return st.session_state[LEVERS].setdefault(st.session_state[SOURCE], {})


def reset_levers() -> None:
    """Forget every edit of the open scenario (and the widgets showing them)."""
    st.session_state[LEVERS][st.session_state[SOURCE]] = {}
    for key in [k for k in st.session_state if str(k).startswith("scn_lever:")]:
        del st.session_state[key]


def current() -> Current:
    """The open scenario with its edits applied and re-validated."""
    source = st.session_state[SOURCE]
    loaded = loaded_for(source)
    label = loaded.name
    if not loaded.ok:
        return Current(source, label, loaded, problems=list(loaded.problems))
    found = lv.discover(loaded.data)
    values = lever_values()
    edited = lv.apply(loaded.data, found, values)
    scenario_json, problems = services.validate(edited, name=f"{label} (edited)")
    return Current(source, label, loaded, found, values, edited, scenario_json, problems)
