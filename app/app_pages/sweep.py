"""Sweep explorer: placeholder until the sweep store exists."""

import streamlit as st

from app import services

st.header("Sweep explorer")
st.info("This page arrives with the sweep/briefing features: open a sweep store, KPI distributions by lever, "
        "sensitivity indices with intervals, PRIM boxes for a condition you type, scatter of two inputs "
        "coloured by outcome, and one run's details.", icon=":material/construction:")
if not services.store_available():
    st.caption("Waiting for `sim.store` (sweeps) to land.")
