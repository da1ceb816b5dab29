"""Scenario: choose or upload a file, read its question, turn its key levers, download the edit."""

import streamlit as st

from app import services, state, widgets

GROUPS = ["Rules", "Thresholds", "Supply", "Grey channel", "Labs"]

st.header("Scenario")

with st.expander("Upload a scenario file", icon=":material/upload:"):
    st.caption(f"YAML, at most {services.UPLOAD_LIMIT_BYTES // 1000:,} kB. `include:` and `extends:` resolve "
               "against the scenarios/ library, so `_catalog/...` fragments can be used.")
    upload = st.file_uploader("Scenario YAML", type=["yaml", "yml"], key="scn_upload")
    if upload is not None:
        loaded = services.load_upload(upload.name, upload.getvalue())
        if loaded.ok:
            if st.session_state.get(state.UPLOADED) != loaded:
                st.session_state[state.UPLOADED] = loaded
                st.session_state[state.LEVERS].pop(state.UPLOAD, None)
                state.open_next_run(state.UPLOAD, int(loaded.data["seed"]))
            st.success(f"{upload.name} is valid and open (pick it again from the sidebar at any time).")
        else:
            widgets.problems_panel(loaded.problems, title=f"{upload.name} was not loaded")

current = state.current()
if not current.loaded.ok:
    widgets.problems_panel(current.problems, title=f"{current.label} does not load")
    st.stop()

data = current.loaded.data
st.subheader(data["name"])
st.info(f"**Question.** {data.get('question') or '(the file states no question)'}", icon=":material/help:")
with st.expander("What is modelled (description)"):
    st.write(data.get("description") or "(no description)")
    st.caption(f"{data['start']} → {data['end']} · seed {data['seed']} · {len(data.get('rules') or {})} rules · "
               f"{len(data.get('nodes') or {})} supply nodes · labs: {', '.join(data.get('labs') or {})}")

if current.problems:
    widgets.problems_panel(current.problems, title="The edited scenario does not validate")

st.subheader("Key levers")
groups = [g for g in GROUPS if any(lever.group == g for lever in current.levers)]
for tab, group in zip(st.tabs(groups), groups, strict=True):
    with tab:
        mine = [lever for lever in current.levers if lever.group == group]
        if group == "Rules":
            for lever in mine:
                if lever.kind == "add_rule":
                    widgets.lever_editor(lever, current.values)
                    st.divider()
            rule_ids = [lever.id.split(":", 1)[1] for lever in mine if lever.kind == "toggle"]
            head_on, head_date = st.columns([3, 2])
            head_on.caption("Rule in force (hover ? for its name)")
            head_date.caption("Effective date")
            for rid in rule_ids:
                on_col, date_col = st.columns([3, 2], vertical_alignment="center")
                with on_col:
                    widgets.lever_editor(next(x for x in mine if x.id == f"rule_on:{rid}"), current.values)
                with date_col:
                    widgets.lever_editor(next(x for x in mine if x.id == f"rule_effective:{rid}"), current.values,
                                         compact=True)
        else:
            cols = st.columns(2)
            for i, lever in enumerate(mine):
                with cols[i % 2]:
                    widgets.lever_editor(lever, current.values)

# The widgets above may have changed values: apply and validate again for the change list and download.
current = state.current()
st.subheader("Changed from file")
if current.edited is not None:
    widgets.changes_table(current.loaded.data, current.edited, current.levers)
left, right = st.columns(2)
left.button("Reset all levers", key="scn_reset", on_click=state.reset_levers, icon=":material/restart_alt:")
if current.ok:
    right.download_button("Download the edited scenario (YAML)", services.to_yaml(current.edited),
                          file_name=f"{current.edited['name']}_edited.yaml", mime="application/x-yaml",
                          key="scn_download", icon=":material/download:")
