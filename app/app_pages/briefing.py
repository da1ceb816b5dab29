"""Briefing: placeholder until the briefing renderer exists."""

import streamlit as st

st.header("Briefing")
st.info("This page arrives with the sweep/briefing features: generate and download the briefing (HTML, PDF, "
        "Markdown) for the scenario, comparison or sweep on screen.", icon=":material/construction:")
