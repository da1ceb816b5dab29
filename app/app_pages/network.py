"""Network: the supplier graph, the edges the rules in force close on a chosen date, chokepoints per lab."""

import datetime as dt

import streamlit as st

from app import services, widgets

st.header("Supplier network")
current = widgets.open_scenario()

meta = services.scenario_meta(current.scenario_json)
default_day = min(max(dt.date(2025, 1, 1), meta["start"]), meta["end"])
on = st.slider("Date", min_value=meta["start"], max_value=meta["end"], value=default_day, format="YYYY-MM-DD",
               key="net_date", help="Edges closed on this day by a rule that denies everything they carry turn red.")
net = services.network(current.scenario_json, on)
blocked = net["edges"][net["edges"]["blocked"]]
st.caption(f"On **{on}**: {len(net['rules_in_force'])} rule(s) in force, {len(blocked)} of {len(net['edges'])} "
           f"edges blocked. Blocking here is a structural reading; the engine decides lot by lot. Component flows "
           f"inside one country ({len(net['edges'][net['edges']['domestic']])} edges, e.g. dies from a domestic "
           "foundry to a domestic packager) are outside the rules' jurisdiction and never shown blocked.")
st.plotly_chart(services.network_figure(net["nodes"], net["edges"], f"Supplier network on {on}"),
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

st.subheader("Simulated chokepoints")
st.caption("Each node (or channel) is knocked out from the chosen date, with common random numbers against "
           "the base run; the bars show the impact on the lab's main training job (finish day; unfinished counts "
           "as the horizon) with 95 % intervals, next to the graph's betweenness.")
labs = meta.get("lab_order") or []
if not labs:
    st.write("The scenario has no lab to rank chokepoints for.")
else:
    c1, c2, c3 = st.columns([2, 1, 1])
    lab = c1.selectbox("Lab", labs, key="net_choke_lab")
    reps = c2.number_input("Replications", min_value=1, max_value=20, value=3, key="net_choke_reps")
    go = c3.button("Rank chokepoints", key="net_choke_go")
    since = on if on < meta["end"] else meta["start"]  # the knock-out starts at the date above
    if go:
        bar = st.progress(0.0, text=f"Knock-outs from {since}: starting…")

        def tick(done: int, total: int) -> None:
            bar.progress(min(done / total, 1.0) if total else 1.0,
                         text=f"Knock-outs from {since}: run {done} of {total}")

        ranked = services.chokepoints(current.scenario_json, lab, int(reps), since, _progress=tick)
        bar.empty()
        if "error" in ranked:
            widgets.problems_panel([ranked["error"]], title="The chokepoints cannot be ranked")
            st.stop()
        if ranked["no_impact"]:
            st.info(ranked["no_impact"][0].upper() + ranked["no_impact"][1:] + ".", icon=":material/block:")
        else:
            st.plotly_chart(services.plots.chokepoint_bars(ranked["frame"]), key="net_choke_chart")
        st.caption(f"KPI: {ranked['kpi']}. Spearman rank correlation with betweenness: {ranked['spearman_text']}.")
        for sentence in ranked["disagreements"] + [n for n in ranked["notes"] if not n.startswith("Spearman")]:
            st.markdown(f"- {sentence}")
