"""Compare: the scenario against a counterfactual with common random numbers and R replications."""

import streamlit as st

from app import services, state, widgets

st.header("Compare")
current = widgets.open_scenario()

meta = services.scenario_meta(current.scenario_json)
st.caption(f"**{meta['name']}** against a counterfactual. Replication *r* of both uses seed "
           f"{st.session_state[state.SEED]} + *r*: the same random streams, so the difference is the change's effect.")

kind = st.radio("Counterfactual", ["Without any rule", "Without chosen rules", "Another scenario file"],
                horizontal=True, key="cmp_kind")
if kind == "Without any rule":
    cf_json, cf_label = services.counterfactual_json(current.scenario_json, None), "no rules"
elif kind == "Without chosen rules":
    chosen = st.multiselect("Rules to remove", list(meta["rules"]), key="cmp_rules",
                            format_func=lambda r: f"{r} — {meta['rules'][r]}")
    if not chosen:
        st.info("Choose at least one rule to remove.")
        st.stop()
    cf_json, problem = services.counterfactual(current.scenario_json, chosen)
    if cf_json is None:
        widgets.problems_panel([problem], title="This counterfactual cannot be built")
        st.stop()
    cf_label = "without " + ", ".join(chosen)
    st.caption("Rules that override a removed rule keep overriding only the others (the references go with it).")
else:
    other = st.selectbox("Scenario file", services.scenario_files(), format_func=services.short_name, key="cmp_file")
    loaded = services.load_file(other)
    if not loaded.ok:
        widgets.problems_panel(loaded.problems, title=f"{loaded.name} does not load")
        st.stop()
    cf_json, cf_label = services.canonical_json(loaded.data), loaded.name

posterior = widgets.calibrated_switch("cmp", services)
if posterior is not None:
    st.info("Replication *r* of both worlds takes posterior draw *r* of "
            f"{services.calibration_label(posterior)}: paired in the inputs and in the noise.")
reps_col, filter_col = st.columns([1, 2])
replications = reps_col.slider("Replications (R)", 2, 40, 5, key="cmp_reps")
kpi_filter = filter_col.text_input("Show KPIs containing", "job_", key="cmp_filter",
                                   help="A substring of KPI names; empty shows every KPI.")
args = (current.scenario_json, cf_json, int(replications), int(st.session_state[state.SEED]))


def run_compare(progress=None):
    if posterior is None:
        return services.compare(*args, progress=progress)
    return services.compare_calibrated(*args, posterior, progress=progress)


if st.button(f"Run {replications} paired replications", key="cmp_run", type="primary", icon=":material/play_arrow:"):
    bar = st.progress(0.0, text="replication 0")
    run_compare(progress=lambda r, n: bar.progress(r / n, text=f"replication {r} of {n}"))
    bar.empty()
    st.session_state["cmp_last"] = (*args, posterior)
if st.session_state.get("cmp_last") != (*args, posterior):
    st.info("Set the counterfactual and press the button to run the comparison.")
    st.stop()

table = run_compare()
shown = table[table["kpi"].str.contains(kpi_filter, regex=False)] if kpi_filter else table
st.subheader(f"{meta['name']} − {cf_label}" + (" (calibrated)" if posterior is not None else ""))
for job in meta["jobs"]:
    row = table[table["kpi"] == f"job_finish_day[{job}]"]
    if len(row) and row["n_pairs"].iloc[0] > 0:
        r = row.iloc[0]
        when = services.date_text(meta["start"], r["base_mean"]), services.date_text(meta["start"],
                                                                                     r["counterfactual_mean"])
        d = services.days_text
        st.markdown(f"**{job}** finishes on average on **{when[0]}** against **{when[1]}** ({cf_label}): "
                    f"**{d(r['diff_mean'])}** (mean of R = {r['n_pairs']} paired replications; 95 % interval "
                    f"{d(r['diff_ci_low'])} to {d(r['diff_ci_high'])}; 10–90 % of pairs {d(r['diff_p10'])} to "
                    f"{d(r['diff_p90'])}).")
st.caption("Mean paired difference over R replications with common random numbers; 95 % Student-t interval of "
           "the mean, clipped to the KPI's range; 10–90 %: spread of the paired differences (sim.experiments.estimate, "
           "as `exportsim compare` and the briefing report them).")
title = f"Mean paired difference, scenario − {cf_label}, % of {cf_label} (95 % interval, R = {replications})"
charted = shown[~shown["kpi"].map(services.is_day_kpi)]
if len(charted):
    st.plotly_chart(services.plots.kpi_differences(charted, title), key="cmp_diffs")
st.caption("Dates are in the table, not in the chart: a date's difference is in days, and as a % of a day count it "
           "would depend on the scenario's start date.")
st.dataframe(services.compare_display(shown, meta["start"]).rename(columns={"counterfactual": cf_label}),
             hide_index=True, width="stretch", key="cmp_table")
st.caption("Day KPIs: levels as dates, differences in days; other KPIs to 3 significant figures. KPIs without a "
           "value in either world (e.g. a compute threshold never reached) are left out; the CSV has every KPI.")
st.download_button("Download the comparison (CSV)", services.table_bytes(table, "csv"),
                   file_name=f"{meta['name']}_compare.csv", key="cmp_download", icon=":material/download:")

seed = int(st.session_state[state.SEED])
base_json_0, cf_json_0 = current.scenario_json, cf_json
if posterior is not None:  # the fleet chart shows replication 0: posterior draw 0 in both worlds
    base_json_0 = services.calibrated_json(current.scenario_json, posterior, 0, seed)[0]
    cf_json_0 = services.calibrated_json(cf_json, posterior, 0, seed)[0]
base_run, cf_run = services.run(base_json_0, seed), services.run(cf_json_0, seed)
owner = meta["labs"][0] if len(meta["labs"]) == 1 else st.selectbox("Lab", meta["lab_order"], key="cmp_lab")
st.plotly_chart(services.plots.fleet_overlay({meta["name"]: base_run.tables["fleet"], cf_label: cf_run.tables["fleet"]},
                                             base_run.start, owner), key="cmp_fleet")
