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

file_json = services.canonical_json(current.loaded.data)
# an upload is a YAML that may differ from any library file of its name: its id always comes from its content
file_data = None if current.source == state.UPLOAD else current.loaded.data
edited = services.is_edited(current.scenario_json, file_data)
run_id = services.run_id_for(scenario_json, file_data, seed) if (edited or posterior is not None) else None
with st.status("Running the scenario…", expanded=False) as status:
    st.write("the scenario as edited" if edited else "the scenario as in its file")
    result = services.run(scenario_json, seed, run_id)
    st.write("the same world without any rule (same seed)")
    no_rules = services.run_without_rules(scenario_json, seed)
    status.update(label=f"Run done: {result.events_processed:,} events · run `{result.run_id}`", state="complete")
if edited:
    st.badge(f"{'uploaded' if file_data is None else 'edited'} · run {result.run_id}", icon=":material/edit:",
             color="orange")

lab = meta["labs"][0] if len(meta["labs"]) == 1 else st.selectbox("Lab", meta["lab_order"], key="run_lab")

st.subheader("Headline")
cards = []
for job in services.job_summary(result, no_rules):
    if not job["job"].startswith(f"{lab}/"):
        continue
    key = job["job"]
    delay = job["delay_vs_counterfactual_days"]
    cards.append({"label": f"{key} finishes",
                  "value": str(job["finish_date"]) if job["finish_date"] else "not by the horizon",
                  "delta": None if delay is None else "same as with no rules" if abs(delay) < 0.5
                  else f"{services.days_text(delay)} vs no rules",
                  "delta_color": "off" if delay is None or abs(delay) < 0.5 else "inverse",
                  "help": services.kpi_help(f"job_finish_day[{key}]")
                  + " Delta: against the same seed in a world without any rule."})
    if job["delay_vs_deadline_days"] is not None:
        cards.append({"label": "Delay vs deadline", "value": f"{job['delay_vs_deadline_days']:+.0f} days",
                      "help": services.kpi_help(f"job_delay_vs_deadline_days[{key}]")})
    per_pflop = job["cost_per_pflop_usd"]
    cards.append({"label": "Cost, $ per PFLOP trained",
                  "value": "—" if per_pflop is None else f"${per_pflop:.2g}",
                  "help": services.kpi_help(f"job_cost_per_pflop_usd[{key}]")
                  + ("" if per_pflop is None else f" Here: ${per_pflop * 1e9 / 1e6:,.2g}M per 10^24 FLOP.")})
    cards.append({"label": "Job cost (full cost)",
                  "value": "—" if job["cost_usd"] is None else f"${job['cost_usd'] / 1e6:,.3g}M",
                  "help": services.kpi_help(f"job_cost_usd[{key}]")
                  + f" Rented share {(job['rented_share'] or 0):.0%}; {job['failures'] or 0:.0f} failures."})
by_origin = services.compute_by_origin(result, lab)
cards.append({"label": "Compute at the end (EFLOP/s)", "value": f"{sum(by_origin.values()) / 1000:,.1f} EFLOP/s",
              "help": services.kpi_help(f"compute_eflops_end[{lab}]") + " By origin: "
                      + ", ".join(f"{o}: {v / 1000:,.1f} EFLOP/s" for o, v in by_origin.items())})
share = services.kpi_value(result, f"domestic_share[{lab}]")
cards.append({"label": "Domestic share of compute", "value": "—" if share is None else f"{share:.0%}",
              "help": services.kpi_help(f"domestic_share[{lab}]")})
denied, refused = services.kpi_sum(result, "denied_units"), services.kpi_sum(result, "refused_units")
futile, capped = services.kpi_sum(result, "futile_units"), services.kpi_sum(result, "capped_units")
cards.append({"label": "Chips blocked (denied + refused)",
              "value": f"{widgets.fmt_number(services.kpi_value(result, 'blocked_units'))} chips",
              "help": services.kpi_help("blocked_units") + f" Here: {denied:,.0f} denied + {refused:,.0f} refused; "
                      f"not counted: {futile:,.0f} futile, {capped:,.0f} not applied for beyond a volume cap."})
cards.append({"label": "Chips via grey channel",
              "value": f"{widgets.fmt_number(services.kpi_value(result, 'grey_units'))} chips",
              "help": services.kpi_help("grey_units")})
cards.append({"label": "Chips seized",
              "value": f"{widgets.fmt_number(services.kpi_value(result, 'seized_units'))} chips",
              "help": services.kpi_help("seized_units")})
widgets.kpi_cards(cards)
if by_origin:
    st.caption("Compute by origin: " + " · ".join(f"**{o}** {v / 1000:,.1f} EFLOP/s" for o, v in by_origin.items()))

changed = [(lever.label, lever.dotted) for lever in current.levers
           if current.values.get(lever.id, lever.default) != lever.default]
silent = services.no_effect(file_json, current.scenario_json, seed, lab, changed,
                            services.run_id_for(current.scenario_json, file_data, seed)) \
    if posterior is None else []
for sentence in silent:
    st.warning(sentence, icon=":material/info:")
with st.expander("What limits this run", expanded=not silent, icon=":material/lock:"):
    for sentence in services.what_binds(scenario_json, seed, lab, run_id):
        st.markdown(f"- {sentence}")
    st.caption("Read from this run's tables (jobs, job_choice events, fleet, production, ledger): which chips "
               "the main job starts on and when, and what limits each packager's monthly output.")

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
st.dataframe(services.dated(frame, result.start), hide_index=True, height=260)
st.caption("Day columns shown as dates; the download keeps them as days from the scenario's start "
           f"({meta['start']}), as `exportsim run --out` writes them.")
with st.expander("Every KPI"):
    st.dataframe(services.kpi_frame(result), hide_index=True)
