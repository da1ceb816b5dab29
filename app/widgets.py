"""Reusable UI pieces: the validation-error panel, KPI cards, lever editors, the change list."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from app import levers as lv


def problems_panel(problems: list[str] | tuple[str, ...], title: str = "This scenario does not validate") -> None:
    """Every problem as one line, ``FILE:LINE: field.path: message``, as the CLI prints them."""
    st.error(f"**{title}** — {len(problems)} problem(s):\n\n" + "\n".join(f"- `{p}`" for p in problems))


def kpi_cards(cards: list[dict], per_row: int = 4) -> None:
    """A grid of st.metric cards; each card is ``{label, value, delta?, delta_color?, help?}``."""
    for i in range(0, len(cards), per_row):
        row = cards[i:i + per_row]
        cols = st.columns(per_row if len(cards) <= per_row or len(row) == per_row else len(row), border=True)
        for col, card in zip(cols, row, strict=False):
            col.metric(card["label"], card["value"], delta=card.get("delta"),
                       delta_color=card.get("delta_color", "normal"), help=card.get("help"))


def fmt_number(x: float | None, unit: str = "", digits: int = 3) -> str:
    """A compact number: 1.2k, 3.4M, 5.6B; an em dash for missing values."""
    if x is None or pd.isna(x):
        return "—"
    ax = abs(x)
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if ax >= size:
            return f"{x / size:.{digits}g}{suffix}{unit}"
    return f"{x:.{digits}g}{unit}"


def _widget_key(lever: lv.Lever) -> str:
    return f"scn_lever:{lever.id}"


def lever_editor(lever: lv.Lever, values: dict[str, Any], compact: bool = False) -> None:
    """One lever's widget; its value is written into *values* (kept across pages), keyed by lever id.

    *compact* hides the label of date inputs (used in the rules grid, where the toggle names the rule).
    """
    key = _widget_key(lever)
    current = values.get(lever.id, lever.default)
    if key not in st.session_state:
        st.session_state[key] = _to_widget(lever, current)
    if lever.kind == "toggle":
        value = st.toggle(lever.label, key=key, help=lever.help)
    elif lever.kind == "date":
        value = st.date_input(lever.label, key=key, help=None if compact else lever.help,
                              min_value=dt.date(2015, 1, 1), max_value=dt.date(2040, 12, 31),
                              label_visibility="collapsed" if compact else "visible").isoformat()
    elif lever.kind == "number":
        value = st.number_input(lever.label, key=key, help=lever.help, min_value=lever.low, max_value=lever.high,
                                step=lever.step)
    elif lever.kind in ("constant", "scale"):
        value = st.slider(lever.label, key=key, help=lever.help, min_value=float(lever.low),
                          max_value=float(lever.high), step=float(lever.step), format="%.2f")
    elif lever.kind == "add_rule":
        on = st.toggle(lever.label, key=key, help=lever.help)
        date_key = f"{key}:effective"
        if date_key not in st.session_state:
            st.session_state[date_key] = dt.date.fromisoformat(current) if current else dt.date(2026, 7, 1)
        day = st.date_input("…in force from", key=date_key, disabled=not on)
        value = day.isoformat() if on else None
    else:
        raise ValueError(f"unknown lever kind {lever.kind}")
    if value == lever.default:
        values.pop(lever.id, None)
    else:
        values[lever.id] = value


def _to_widget(lever: lv.Lever, value: Any) -> Any:
    if lever.kind == "date":
        return dt.date.fromisoformat(value)
    if lever.kind == "add_rule":
        return value is not None
    if lever.kind in ("constant", "scale", "number"):
        return float(value)
    return value


def changes_table(original: dict, edited: dict, levers: list[lv.Lever] | None = None) -> None:
    """What differs from the file, one row per changed field: the lever that changed it (in words), the field's
    path, the value in the file and now (series and distributions described, never dumped)."""
    rows = []
    for path, old, new in lv.changes(original, edited):
        lever = lv.lever_of(levers or [], path)
        what = f"{lever.group}: {lever.label}" if lever is not None else path.replace(".", " › ")
        rows.append({"what": what, "field": path,
                     "in file": lv.describe(old), "now": lv.describe(new)})
    if not rows:
        st.caption("No changes: the scenario is as in its file.")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def open_scenario():
    """The open scenario; when it does not validate, list its problems and stop the page here."""
    from app import state

    current = state.current()
    if not current.ok:
        problems_panel(current.problems)
        st.stop()
    return current


def calibrated_switch(prefix: str, services) -> str | None:
    """A "calibrated" toggle (and a store picker when there are several): the calibration store whose posterior
    supplies the inputs, or None for the scenario's own priors."""
    stores = services.calibration_stores()
    left, right = st.columns([1, 3])
    on = left.toggle("calibrated", key=f"{prefix}_calibrated", disabled=not stores,
                     help="Draw the calibrated inputs from a posterior (exportsim calibrate) instead of the "
                          "scenario's priors." if stores else "No calibration store yet (exportsim calibrate).")
    if not on or not stores:
        return None
    if len(stores) == 1:
        right.caption(f"posterior: {services.calibration_label(stores[0])}")
        return stores[0]
    return right.selectbox("Posterior", stores, format_func=services.calibration_label, key=f"{prefix}_posterior")
