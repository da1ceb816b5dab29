"""Calibration: a fitted posterior - observables vs the posterior predictive (fitted and held out), prior vs
posterior per input, what the data pinned and what it could not reach.  Everything comes from sim through
services (``exportsim calibrate --report`` shows the same numbers)."""

import streamlit as st

from app import services

st.header("Calibration")
stores = services.calibration_stores()
if not stores:
    st.info("No calibration store yet. Fit one with `exportsim calibrate scenarios/calibration/history.yaml "
            "--store calibrations/history` (or `make calibrate`), then reload this page.")
    st.stop()
store = st.selectbox("Calibration store", stores, format_func=services.calibration_label, key="cal_store")
rep = services.calibration_summary(store)
figs = services.calibration_figures(store)

cov = rep["coverage"]
cols = st.columns(4, border=True)
cols[0].metric("Held-out coverage (80 %)", f"{cov['held_out']['covered_80']}/{cov['held_out']['n']}",
               help="Held-out observables (dated after the cut-off, never fitted) whose published range the "
                    "posterior predictive 80 % interval meets.")
cols[1].metric("Held-out coverage (95 %)", f"{cov['held_out']['covered_95']}/{cov['held_out']['n']}")
cols[2].metric("In sample (80 %)", f"{cov['fit']['covered_80']}/{cov['fit']['n']}",
               help="The same for the fitted observables (the fit, not a test).")
cols[3].metric("Particles / ESS", f"{rep['particles']} / {rep['ess']:.0f}",
               help=f"{len(rep['generations'])} generations, {rep['simulations']} fitting runs, "
                    f"{rep['predictive_runs']} predictive runs.")
st.caption(f"**{rep['name']}** · cut-off {rep['cutoff']} · base {rep['base_file']} · {rep['status']} "
           f"({rep['stopped_because']}) · model {rep['model_fingerprint']}")
if rep.get("model_change") == "source":
    st.info(f"This posterior was fitted under model {rep['model_fingerprint']}; the engine's source is now "
            f"{rep['model_fingerprint_now']}, with the same MODEL_VERSION (the golden runs are unchanged), so "
            "the fit is expected to hold.")
elif rep.get("model_change") == "version":
    st.warning(f"This posterior was fitted under model {rep['model_fingerprint']}; the model is now "
               f"{rep['model_fingerprint_now']}, whose outputs differ. Recalibrate before relying on it.")

st.subheader("Observables vs posterior predictive")
st.plotly_chart(figs["overview"], key="cal_overview")
table = [{"observable": r["observable"], "role": "held out" if r["role"] == "held_out" else "fitted",
          "date": r["date"], "published low": r["low"], "published high": r["high"],
          "median": r["posterior"]["median"], "80 % low": r["posterior"]["p10"], "80 % high": r["posterior"]["p90"],
          "95 % low": r["posterior"]["p2_5"], "95 % high": r["posterior"]["p97_5"],
          "80 % meets range": r["covered_80"], "95 % meets range": r["covered_95"]} for r in rep["observables"]]
st.dataframe(table, hide_index=True, width="stretch",
             column_config={k: st.column_config.NumberColumn(k, format="%.4g") for k in
                            ("published low", "published high", "median", "80 % low", "80 % high", "95 % low",
                             "95 % high")})
for sentence in services.unreachable_sentences(store):
    st.warning("Unreachable: " + sentence)

st.subheader("Prior vs posterior per input")
st.markdown(f"Pinned by the data: **{', '.join(rep['pinned']) or 'none'}** · still at the prior: "
            f"**{', '.join(rep['at_prior']) or 'none'}**")
st.plotly_chart(figs["inputs"], key="cal_inputs")
st.dataframe([{"input": i["input"], "how": i["apply"], "prior 5 %": i["prior"]["q05"], "prior 95 %": i["prior"]["q95"],
               "posterior median": i["posterior"]["q50"], "posterior 5 %": i["posterior"]["q05"],
               "posterior 95 %": i["posterior"]["q95"], "shift (prior sd)": i["shift_sd"],
               "contraction": i["contraction"], "verdict": i["verdict"]} for i in rep["inputs"]],
             hide_index=True, width="stretch")

left, right = st.columns(2)
left.plotly_chart(figs["generations"], key="cal_generations")
right.plotly_chart(figs["correlation"], key="cal_correlation")

st.subheader("Predictive check per observable")
pick = st.selectbox("Observable", list(figs["checks"]), key="cal_check")
st.plotly_chart(figs["checks"][pick], key="cal_check_fig")
