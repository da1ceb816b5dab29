"""Sweep explorer: open a sweep store; KPI by lever setting, parameter-vs-KPI scatter, parallel coordinates,
sensitivity indices with intervals, PRIM boxes for a condition you type, and one run's details."""

import streamlit as st

from app import services, widgets

PATH = "swp_path"  # the store-folder text input
KEPT = "sweep_store"  # the folder, kept across pages (Streamlit drops a widget's state when its page is left)
FOUND = "swp_found"
MAX_COLOURED_POLICIES = 12  # more lever settings than this: one colour


def _pick_found() -> None:
    if st.session_state.get(FOUND):
        st.session_state[PATH] = st.session_state[FOUND]
        st.session_state[FOUND] = None


def _keep(key: str, options: list, default) -> None:
    """Reset a picker whose remembered value is not among *options* (another store or KPI was opened)."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


st.header("Sweep explorer")
stores = services.sweep_stores()
if PATH not in st.session_state:
    st.session_state[PATH] = st.session_state.get(KEPT) or (services.store_label(stores[0]) if stores else "")

left, right = st.columns([3, 2], vertical_alignment="bottom")
path = left.text_input("Sweep store folder", key=PATH,
                       help="A folder written by `exportsim sweep` (it holds sweep.json, design.parquet and runs/). "
                            "Relative paths start at the folder the dashboard was started from.").strip()
st.session_state.setdefault(FOUND, None)
right.selectbox(f"Stores found under sweeps/ and out/ ({len(stores)})", stores, key=FOUND,
                format_func=services.store_label, on_change=_pick_found, disabled=not stores,
                placeholder="open a found store…" if stores else "none found")
st.session_state[KEPT] = path

if not path:
    st.info("No sweep store found under `sweeps/` or `out/`. Run one, then reload this page:\n\n"
            "`exportsim sweep scenarios/sweeps/flagship_levers.yaml --store sweeps/flagship_levers`",
            icon=":material/folder_open:")
    st.stop()

data = services.open_sweep(path)
if not data.ok:
    widgets.problems_panel([data.error], title="This folder cannot be opened as a sweep store")
    st.caption("A sweep store is the folder given to `exportsim sweep --store`; it holds `sweep.json`, "
               "`design.parquet` and `runs/`.")
    st.stop()

if data.warning:
    st.warning(data.warning, icon=":material/warning:")

# ------------------------------------------------------------------------------------------ summary
meta, counts = data.meta, data.counts
design = f"{meta['design']} design" + (f", n = {meta['n']}" if meta["design"] != "grid" else "")
if meta["design"] == "sobol":
    design += ", second order" if meta["second_order"] else ", first and total order"
st.subheader(data.sweep_id)
if meta["description"]:
    st.write(meta["description"])
st.caption(f"{design} · {meta['replications']} replication(s)"
           + (" with common random numbers" if meta["common_random_numbers"] else "")
           + f" · base `{meta['base_file']}` · spec `{meta['spec_file']}` · code {meta['version']} · "
           f"started {meta['created']}, last written {meta['updated']}")
cards = [{"label": "Planned runs", "value": f"{counts['planned']:,}"},
         {"label": "Done", "value": f"{counts['ok']:,}",
          "help": "Runs stored with status ok."},
         {"label": "Failed", "value": f"{counts['failed']:,}",
          "help": "Runs that raised; their one-line errors are listed below."},
         {"label": "Not run yet", "value": f"{counts['not_run']:,}",
          "help": "Planned but not stored: the sweep is still running, was stopped, or ran with --limit."}]
widgets.kpi_cards(cards)
if counts["not_run"]:
    note, button = st.columns([4, 1], vertical_alignment="center")
    note.caption("The sweep is running or was stopped; analyses use the runs stored so far "
                 "(re-run `exportsim sweep` on the same store to finish it).")
    button.button("Refresh", key="swp_refresh", icon=":material/refresh:")
with st.expander(f"Parameters: {len(data.levers)} lever(s), {len(data.parameters) - len(data.levers)} uncertainties"):
    st.dataframe(data.parameters, hide_index=True, width="stretch")
if counts["failed"]:
    with st.expander(f"Failed runs ({counts['failed']})", icon=":material/error:"):
        st.dataframe(data.failures, hide_index=True, width="stretch")
if not data.kpis:
    st.warning("No run has finished with status ok yet, so there is nothing to analyse.", icon=":material/hourglass:")
    st.stop()

params = list(data.parameters["parameter"])
plots = services.plots
kpi_col, x_col = st.columns([3, 2])
_keep("swp_kpi", list(data.kpis), data.default_kpi)
kpi = kpi_col.selectbox("KPI", list(data.kpis), key="swp_kpi",
                        help="The outcome every chart and analysis below is about.")
sens = services.sweep_sensitivity(path, kpi)
ranking = sens.get("ranking") or params
_keep("swp_x", params, ranking[0] if ranking and ranking[0] in params else params[0])
x = x_col.selectbox("Parameter for the scatter", params, key="swp_x",
                    help="Drawn against the KPI; starts on the most influential one (see Sensitivity).")
points = services.sweep_plot_points(data)
n_policies = data.points["policy"].nunique()
colour = "policy" if data.levers and n_policies <= MAX_COLOURED_POLICIES else None
if len(points) < len(data.points):
    st.caption(f"Charts draw a sample of {len(points):,} of the {len(data.points):,} runs; analyses use every run.")

# -------------------------------------------------------------------------------- outcomes by lever
st.subheader("Outcomes")
left, right = st.columns(2)
dated = services.sweep_dated(data, points, kpi)  # a day KPI on a date axis
with left:
    st.plotly_chart(plots.sweep_kpi_by_policy(dated, kpi), key="swp_dist")
with right:
    st.plotly_chart(plots.sweep_scatter(dated, x, kpi, color=colour, log_x=x in data.log_scale), key="swp_scatter")
dist = services.sweep_distribution(path, kpi)
dist_dated = services.sweep_dated(data, dist, kpi, ("mean", "p5", "p50", "p95"))
day_cols = [c for c in ("mean", "p5", "p50", "p95") if dist_dated is not dist and c in dist_dated]
st.dataframe(dist_dated, hide_index=True, width="stretch", key="swp_dist_table",
             column_config={c: (st.column_config.DateColumn(c) if c in day_cols
                                else st.column_config.NumberColumn(c + (" (days)" if day_cols and c == "sd" else ""),
                                                                   format="%.4g"))
                            for c in ("mean", "sd", "p5", "p50", "p95")})
st.plotly_chart(plots.sweep_parallel(points, params, kpi), key="swp_parallel")
st.caption("Drag along an axis to filter the lines; drag an axis title to reorder the axes."
           + (f" The KPI axis counts days from the scenario's start ({data.meta['start']})."
              if services.is_day_kpi(kpi) and data.meta.get("start") else ""))

# ------------------------------------------------------------------------------------- sensitivity
st.subheader("Sensitivity")
if "error" in sens:
    widgets.problems_panel([sens["error"]], title="No sensitivity for this KPI")
else:
    if sens["note"]:
        st.warning(sens["note"], icon=":material/info:")
    method, table = sens["method"], sens["table"]
    n_points = int(table["n_points"].max()) if len(table) else 0
    titles = {
        "sobol": (f"Sobol indices ({n_points} points per lever setting; whiskers: 95 % interval)",
                  "share of the KPI's variance"),
        "morris": (f"Morris screening ({n_points} points per lever setting; whiskers: 95 % interval)",
                   "effect over the parameter's range, KPI units"),
        "spearman": (f"Spearman rank correlation with the KPI ({n_points} points; whiskers: 95 % interval)",
                     "rank correlation"),
    }
    title, x_title = titles[method]
    st.plotly_chart(plots.sweep_sensitivity_bars(table, title, x_title), key="swp_sensitivity")
    explain = {
        "sobol": "S1 is the share of the KPI's variance due to the parameter alone, ST includes its interactions; "
                 "an ST near 0 means the parameter does not matter over its range.",
        "morris": "Morris ranks parameters cheaply: a large mu* matters; a sigma close to mu* means non-linear or "
                  "interacting effects.",
        "spearman": f"This {sens['design']} design does not support variance-based indices; a rank correlation "
                    "shows how monotonically the KPI follows each parameter (near 0: no monotone effect).",
    }[method]
    wide_ci = method == "sobol" and len(table) and ((table["high"] - table["low"]) > 0.6).any()
    st.caption(explain + (" Some intervals are wide: raise `design.n` in the spec and re-run the sweep with "
                          "`--extend` (the stored runs are reused)." if wide_ci else ""))
    if sens["variance"]:
        v = sens["variance"]
        st.caption(f"Replication noise is {v['noise_share']:.0%} of the KPI's variance; about "
                   f"{v['replications_needed']:.0f} replications per point would give a ±5 % interval on a "
                   "point's mean.")
    st.dataframe(sens["wide"], hide_index=True, width="stretch", key="swp_sensitivity_table",
                 column_config={c: st.column_config.NumberColumn(c, format="%.3f")
                                for c in sens["wide"].columns if c not in ("policy", "factor")})

# ---------------------------------------------------------------------------------------- PRIM
st.subheader("Scenario discovery (PRIM)")
st.caption("Type a condition on the KPI; PRIM finds boxes of parameter space where it mostly holds. "
           "Coverage: share of all runs meeting the condition that fall in the box; density: share of the "
           "box's runs that meet it.")
cond_key = f"swp_cond:{data.sweep_id}:{kpi}"
if cond_key not in st.session_state:
    st.session_state[cond_key] = services.sweep_default_condition(data, kpi)
cond_col, stats_col = st.columns([1, 2], vertical_alignment="bottom")
condition = cond_col.text_input(f"Condition on {kpi}", key=cond_key,
                                help="An operator and a number: > 1250, <= 0.5, == 0 (a bare number means >).")
found = services.sweep_prim(path, kpi, condition)
if "error" in found:
    widgets.problems_panel([found["error"]], title="Condition not usable")
else:
    stats_col.markdown(f"**{found['cases']}** of {found['of']} runs meet `{found['condition']}` "
                       f"(base density {found['base_density']:.2f}); **{len(found['boxes'])}** box(es) found.")
    if found["boxes"].empty:
        st.info("No box concentrates those runs: the condition holds everywhere, nowhere, or without a pattern "
                "PRIM can describe with these parameters.")
    else:
        st.markdown("\n".join(f"- **Box {b.box}**: {b.description}" for b in found["boxes"].itertuples()))
        left, right = st.columns([3, 2])
        with left:
            st.dataframe(found["boxes"].drop(columns="description"), hide_index=True, width="stretch",
                         key="swp_prim_boxes", column_config={c: st.column_config.NumberColumn(c, format="%.2f")
                                                              for c in ("coverage", "density", "mass")})
            st.dataframe(found["limits"][["box", "parameter", "low", "high", "sweep_min", "sweep_max"]],
                         hide_index=True, width="stretch", key="swp_prim_limits")
        right.plotly_chart(plots.prim_box_limits(found["limits"]), key="swp_prim_chart")
    restricted = list(dict.fromkeys(found["limits"]["parameter"])) if len(found["limits"]) else []
    axes = restricted + [p for p in ranking if p not in restricted] + [p for p in params if p not in ranking]
    if len(params) >= 2:
        a_col, b_col = st.columns(2)
        _keep("swp_in_x", params, axes[0])
        _keep("swp_in_y", params, next(p for p in axes if p != st.session_state["swp_in_x"]))
        in_x = a_col.selectbox("Input on the x axis", params, key="swp_in_x")
        in_y = b_col.selectbox("Input on the y axis", params, key="swp_in_y")
        boxes = []
        if data.numeric.get(in_x) and data.numeric.get(in_y):  # PRIM boxes as rectangles on two numeric axes
            for box, part in found["limits"].groupby("box"):
                lim = part.set_index("parameter")[["low_value", "high_value"]]
                if in_x in lim.index or in_y in lim.index:
                    boxes.append({"label": f"box {box}",
                                  "x": tuple(lim.loc[in_x]) if in_x in lim.index else None,
                                  "y": tuple(lim.loc[in_y]) if in_y in lim.index else None})
        st.plotly_chart(plots.sweep_input_scatter(found["points"], in_x, in_y, boxes=boxes,
                                                  log_x=in_x in data.log_scale, log_y=in_y in data.log_scale,
                                                  title=f"{in_y} against {in_x}: where {found['condition']}"),
                        key="swp_inputs")

# ------------------------------------------------------------------------------------------ one run
st.subheader("One run")
order = data.points.sort_values(kpi, ascending=False, na_position="last")
labels = {r.run_id: f"{r.run_id} · {r.policy} · {kpi} = {widgets.fmt_number(r.kpi_value, digits=4)}"
          for r in order.assign(kpi_value=order[kpi])[["run_id", "policy", "kpi_value"]].itertuples()}
if st.session_state.get("swp_run") not in labels:
    st.session_state["swp_run"] = None  # nothing chosen: no re-run until asked
run_id = st.selectbox("Run (sorted by the KPI, highest first)", list(labels), key="swp_run",
                      format_func=labels.get, placeholder="choose a run to see its inputs and re-run it…")
if run_id is not None:
    row = data.points[data.points["run_id"] == run_id].iloc[0]
    inputs_col, kpis_col = st.columns(2)
    inputs_col.dataframe([{"parameter": p, "value": f"{row[p]:.6g}" if isinstance(row[p], float) else str(row[p])}
                          for p in params],
                         hide_index=True, width="stretch", key="swp_run_inputs")
    rebuilt = services.sweep_run_scenario(path, run_id)
    if "error" in rebuilt:
        kpis_col.dataframe([{"kpi": k, "stored": row[k]} for k in data.kpis], hide_index=True, width="stretch")
        st.warning(f"Cannot re-run this run: {rebuilt['error']}", icon=":material/warning:")
    else:
        with st.spinner("Re-running the run…"):
            result = services.sweep_rerun(path, run_id)
        check = [{"kpi": k, "stored": row[k], "re-run": result.kpis.get(k)} for k in data.kpis]
        same = all(c["stored"] == c["re-run"] or (c["stored"] != c["stored"] and c["re-run"] != c["re-run"])
                   for c in check)  # equal, or both NaN
        kpis_col.dataframe(check, hide_index=True, width="stretch", key="swp_run_kpis")
        st.caption(f"Seed {rebuilt['seed']} · " + ("re-run reproduces the stored KPIs exactly." if same else
                   "the re-run differs from the stored KPIs (the model code changed since the sweep ran?)."))
        meta_run = services.scenario_meta(rebuilt["scenario_json"])
        lab = meta_run["labs"][0] if meta_run["labs"] else None
        left, right = st.columns(2)
        left.plotly_chart(plots.fleet_area(result.tables["fleet"], result.start, owner=lab), key="swp_run_fleet")
        right.plotly_chart(plots.jobs_gantt(result.tables["jobs"], result.start, meta_run["horizon_days"]),
                           key="swp_run_jobs")
        st.download_button("Download this run's scenario (YAML, with its seed)", services.to_yaml(rebuilt["data"]),
                           file_name=f"{meta['name']}_{run_id}.yaml", mime="application/x-yaml", key="swp_run_yaml",
                           icon=":material/download:")
