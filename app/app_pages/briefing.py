"""Briefing: the decision document for the open scenario (as `exportsim brief` writes it), to download."""

import streamlit as st

from app import services, state, widgets

st.header("Briefing")
current = widgets.open_scenario()

meta = services.scenario_meta(current.scenario_json)
seed = int(st.session_state[state.SEED])
source = None if current.source == state.UPLOAD else current.source
st.caption(f"**{meta['name']}** as edited, against the same world without rules, R paired replications from seed "
           f"{seed}; one-at-a-time swings of its uncertain inputs; every number in the document comes from these runs.")

audience_col, reps_col = st.columns([1, 2])
audience = audience_col.radio("Audience", ["policy", "lab"], horizontal=True, key="brf_audience",
                              help="policy: rule variants (chips denied, leakage, revenue lost); lab: the option "
                                   "files beside the scenario (Ascend-only, rent, mix).")
replications = reps_col.slider("Replications (R)", 2, 20, 5, key="brf_reps")
edited = services.is_edited(current.scenario_json, current.loaded.data if source is not None else None)
if edited:  # the reproduce line in the document runs this file, so the edit is never lost
    saved = services.edited_file_name(current.scenario_json)
    st.download_button(f"Download the edited scenario ({saved}): the briefing's reproduce line runs it",
                       services.to_yaml(current.edited or current.loaded.data), file_name=saved,
                       mime="application/x-yaml",
                       key="brf_download_scenario", icon=":material/download:")
args = (current.scenario_json, seed, int(replications), audience, source, edited)
if st.button("Build the briefing", key="brf_build", type="primary", icon=":material/description:"):
    bar = st.progress(0.0, text="runs")
    services.briefing(*args[:5], progress=lambda done, total, label: bar.progress(
        min(done / max(total, 1), 1.0), text=f"run {done} of {total}: {label}"), edited=edited)
    bar.empty()
    st.session_state["brf_last"] = args
if st.session_state.get("brf_last") != args:
    st.info("Choose the audience and replications, then build the briefing (Markdown, HTML, PDF).")
    st.stop()

brief = services.briefing(*args[:5], edited=edited)
st.subheader("The answer")
st.markdown(brief.answer)
labels = {"md": "Markdown (zip with charts)", "html": "HTML (interactive, offline)", "pdf": "PDF"}
cols = st.columns(3)
for col, fmt in zip(cols, ("md", "html", "pdf"), strict=True):
    if fmt in brief.files:
        name, blob, mime = brief.files[fmt]
        col.download_button(labels[fmt], blob, file_name=name, mime=mime, key=f"brf_download_{fmt}",
                            icon=":material/download:")
    else:
        col.caption(f"{labels[fmt]}: {brief.problems.get(fmt, 'not available')}")
if brief.charts_note:
    st.caption(f"Markdown and PDF without charts: {brief.charts_note}.")
