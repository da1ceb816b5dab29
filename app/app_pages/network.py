"""Network: the supplier graph, the edges the rules in force close on a chosen date, chokepoints per lab."""

import datetime as dt

import streamlit as st

from app import services, state, widgets

st.header("Supplier network")
current = state.current()
if not current.ok:
    widgets.problems_panel(current.problems)
    st.stop()

meta = services.scenario_meta(current.scenario_json)
default_day = min(max(dt.date(2025, 1, 1), meta["start"]), meta["end"])
on = st.slider("Date", min_value=meta["start"], max_value=meta["end"], value=default_day, format="YYYY-MM-DD",
               key="net_date", help="Edges closed on this day by a rule that denies everything they carry turn red.")
net = services.network(current.scenario_json, on)
blocked = net["edges"][net["edges"]["blocked"]]
st.caption(f"On **{on}**: {len(net['rules_in_force'])} rule(s) in force, {len(blocked)} of {len(net['edges'])} "
           f"edges blocked. Blocking here is a structural reading; the engine decides lot by lot.")
st.plotly_chart(services.plots.network_figure(net["nodes"], net["edges"], f"Supplier network on {on}"),
                key="net_graph")

left, right = st.columns(2)
with left:
    st.subheader("Chokepoints per lab")
    st.caption("Nodes whose removal cuts the lab off from every chip source, ranked by betweenness.")
    if net["chokepoints"].empty:
        st.write("None: every lab keeps an alternative route (or its own fleet).")
    else:
        st.dataframe(net["chokepoints"], hide_index=True, width="stretch")
with right:
    st.subheader("Blocked edges")
    if blocked.empty:
        st.write("No edge is fully blocked on this date.")
    else:
        st.dataframe(blocked[["id", "from", "to", "flow", "channel"]], hide_index=True, width="stretch")
    st.caption("Rules in force: " + (", ".join(net["rules_in_force"]) or "none"))
if net["issues"]:
    st.warning("Structural issues:\n\n" + "\n".join(f"- {i}" for i in net["issues"]))
