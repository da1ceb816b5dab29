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
