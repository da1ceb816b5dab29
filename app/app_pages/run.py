"""Run: the open scenario with the sidebar's seed; headline KPIs, charts and downloadable tables."""

import streamlit as st

from app import services, state, widgets

st.header("Run")
current = widgets.open_scenario()

meta = services.scenario_meta(current.scenario_json)
seed = int(st.session_state[state.SEED])
scenario_json = current.scenario_json
posterior = widgets.calibrated_switch("run", services)
if posterior is not None:
    scenario_json, drawn, missing, label = services.calibrated_json(current.scenario_json, posterior, 0, seed)
    st.info(f"Inputs from the {label}, draw 0 for seed {seed}: "
            + ", ".join(f"{k} = {v:.4g}" for k, v in drawn.items())
            + (f". Not in this scenario (not applied): {', '.join(missing)}." if missing else "."))
st.caption(f"**{meta['name']}** · seed {seed} · one run (R = 1; the Compare page gives means and intervals over R "
           f"replications) · {meta['start']} → {meta['end']}")

with st.status("Running the scenario…", expanded=False) as status:
    st.write("the scenario as edited")
    result = services.run(scenario_json, seed)
    st.write("the same world without any rule (same seed)")
    no_rules = services.run_without_rules(scenario_json, seed)
    status.update(label=f"Run done: {result.events_processed:,} events · run `{result.run_id}`", state="complete")

lab = meta["labs"][0] if len(meta["labs"]) == 1 else st.selectbox("Lab", meta["labs"], key="run_lab")

st.subheader("Headline")
cards = []
for job in services.job_summary(result, no_rules):
    if not job["job"].startswith(f"{lab}/"):
        continue
    delay = job["delay_vs_counterfactual_days"]
    cards.append({"label": f"{job['job']} finishes",
                  "value": str(job["finish_date"]) if job["finish_date"] else "not by the horizon",
                  "delta": None if delay is None else "same as with no rules" if abs(delay) < 0.5
                  else f"{delay:+.0f} days vs no rules",
                  "delta_color": "off" if delay is None or abs(delay) < 0.5 else "inverse",
                  "help": "Finish date of the training job; delta: against the same seed without any rule."})
    if job["delay_vs_deadline_days"] is not None:
        cards.append({"label": "Delay vs deadline", "value": f"{job['delay_vs_deadline_days']:+.0f} days"})
    cards.append({"label": "Cost per PFLOP", "value": f"${job['cost_per_pflop_usd']:.4f}"
                  if job["cost_per_pflop_usd"] is not None else "—",
                  "help": f"Job cost {widgets.fmt_number(job['cost_usd'], ' USD')}; rented share "
                          f"{(job['rented_share'] or 0):.0%}; {job['failures'] or 0:.0f} failures."})
    cards.append({"label": "Job cost", "value": widgets.fmt_number(job["cost_usd"], digits=3, unit=""),
                  "help": "USD: owned chips' time plus rented GPU-hours."})
by_origin = services.compute_by_origin(result, lab)
cards.append({"label": "EFLOP/s at the end", "value": f"{sum(by_origin.values()) / 1000:,.1f}",
              "help": "Peak installed compute by chip origin: "
                      + ", ".join(f"{o}: {v / 1000:,.1f} EFLOP/s" for o, v in by_origin.items())})
share = services.kpi_value(result, f"domestic_share[{lab}]")
cards.append({"label": "Domestic share", "value": "—" if share is None else f"{share:.0%}",
              "help": "Share of the lab's installed peak compute made in its home country."})
cards.append({"label": "Units denied", "value": widgets.fmt_number(services.kpi_value(result, "blocked_units"))})
cards.append({"label": "Units via grey channel", "value": widgets.fmt_number(services.kpi_value(result, "grey_units"))})
cards.append({"label": "Units seized", "value": widgets.fmt_number(services.kpi_value(result, "seized_units"))})
widgets.kpi_cards(cards)
if by_origin:
    st.caption("Compute by origin: " + " · ".join(f"**{o}** {v / 1000:,.1f} EFLOP/s" for o, v in by_origin.items()))

plots = services.plots
left, right = st.columns(2)
left.plotly_chart(plots.fleet_area(result.tables["fleet"], result.start, owner=lab), key="run_fleet")
right.plotly_chart(plots.shipments_by_status(result.tables["shipments"]), key="run_shipments")
st.plotly_chart(plots.jobs_gantt(result.tables["jobs"], result.start, meta["horizon_days"]), key="run_jobs")
left, right = st.columns(2)
left.plotly_chart(plots.rentals_timeline(result.tables["rentals"], result.start), key="run_rentals")
right.plotly_chart(plots.cost_breakdown(result.tables["shipments"], result.tables["jobs"], buyer=lab), key="run_cost")

st.subheader("Tables")
names = list(result.tables)
pick, fmt, download = st.columns([2, 1, 2], vertical_alignment="bottom")
table = pick.selectbox("Table", names, key="run_table")
file_format = fmt.radio("Format", ["csv", "parquet"], horizontal=True, key="run_format")
frame = result.tables[table]
download.download_button(f"Download {table}.{file_format}", services.table_bytes(frame, file_format),
                         file_name=f"{meta['name']}_{seed}_{table}.{file_format}", key="run_download",
                         icon=":material/download:")
st.dataframe(frame, hide_index=True, height=260)
with st.expander("Every KPI"):
    st.dataframe(services.kpi_frame(result), hide_index=True)
