"""Answer: the scenario's question, the options table, one finish-date chart, and what would change the answer.

The same study as ``exportsim options FILE --replications R --seed SEED`` (services.options_study calls the
same sim API), so the same scenario, seed and R give the same numbers here, in the CLI and in its JSON.
"""

import streamlit as st

from app import services, state, widgets

st.header("Answer")
current = widgets.open_scenario()
meta = services.scenario_meta(current.scenario_json)
seed = int(st.session_state[state.SEED])
source = None if current.source == state.UPLOAD else current.source
edited = any(current.values.get(lv.id, lv.default) != lv.default for lv in current.levers)

st.info(f"**Question.** {meta['question']}")

left, mid, right = st.columns([1, 1, 2])
audience = left.radio("Options for", ["lab", "policy", "all"], horizontal=True, key="ans_audience",
                      help="lab: the strategies (own Ascend, rent abroad, mix, remote access closed); policy: the "
                           "tightening and loosening levers of the library, laid on this scenario.")
replications = mid.slider("Replications (R)", 2, 40, 10, key="ans_reps",
                          help="Every world runs on seeds seed .. seed + R - 1 (common random numbers).")
defaults = services.option_files(source, audience)
files = right.multiselect("Option files", defaults + [f for f in services.scenario_files() if f not in defaults],
                          default=defaults, format_func=services.short_name, key=f"ans_files:{audience}",
                          help="A file that extends this scenario runs as it is (a variant); any other file is a "
                               "lever: its rules, nodes, edges and clouds are laid on this scenario.")
if edited:
    st.warning("**Edited scenario**: the baseline, the no-rules world and the levers use your edits; variant files "
               "are read as saved (they extend the file, not your edits).")

reproduce = (f"exportsim options {services.short_name(source) if source else '<your file>'} --replications "
             f"{replications} --seed {seed}" + (f" --audience {audience}" if not files and audience != 'lab' else "")
             + "".join(f" --option {services.short_name(f)}" for f in files if f not in defaults)
             if source else None)
args = (current.scenario_json, source, tuple(files), int(replications), seed, audience)
bar = st.progress(0.0, text=f"options study: {len(files) + 2} worlds x R = {replications} runs")
study = services.options_study(*args, _progress=lambda i, n, what: bar.progress(i / n, text=f"{what}: run {i} of {n}"))
bar.empty()
if not study["rows"]:
    st.warning("No lab in this scenario has a training job: there is nothing to compare.")
    st.stop()

title, caption = services.options_title(study)
base = study["rows"][0]
cf = next((r for r in study["rows"] if r["option"] == "no_rules"), None)
if cf is not None and cf["diff_days"] and cf["diff_days"]["mean"] is not None:
    d = cf["diff_days"]
    lo, hi = d.get("ci_low"), d.get("ci_high")
    delay = -d["mean"]
    sure = "" if lo is None else (" — the interval spans zero" if lo < 0 < hi else "")
    st.markdown(
        f"### {base['lab']}/{base['job']} finishes on **{base['finish_date']}** with the rules, "
        f"**{services.days_text(delay).replace(' d', ' days')}** against the world without them ({cf['finish_date']})"
        + ("" if lo is None else f" (95 % CI {services.days_text(-hi)} to {services.days_text(-lo)}{sure})")
        + f"; R = {study['replications']} seeds.")
st.subheader(title)
table = services.options_table(study)
st.dataframe(table, hide_index=True, width="stretch", key="ans_table")
st.caption(caption)
if reproduce:
    st.code(reproduce, language="bash")
st.plotly_chart(services.options_chart(study), key="ans_chart")
with st.expander(f"What limits the baseline (seed {seed}, one run)", icon=":material/lock:"):
    for sentence in services.what_binds(current.scenario_json, seed, base["lab"]):
        st.markdown(f"- {sentence}")
    st.caption("Why a lever can leave the answer where it is: read from the baseline run's tables "
               "(sim.experiments.binding); the Run page says it for each lever you change.")

st.subheader("What would change this")
st.caption("One input at a time at its 10th and 90th percentile, in both worlds, on the headline difference "
           "(baseline − no rules, days): the inputs nearest the job (its chips' MFU, MTBF and supply, the grey "
           "channel, the budget).")
sens_reps = min(int(replications), 5)
if st.button(f"Run the sensitivity (R = {sens_reps} per end)", key="ans_sens", icon=":material/tune:"):
    st.session_state["ans_sens_args"] = (current.scenario_json, sens_reps, seed)
if st.session_state.get("ans_sens_args") == (current.scenario_json, sens_reps, seed):
    sbar = st.progress(0.0, text="sensitivity")
    sens = services.sensitivity(current.scenario_json, sens_reps, seed,
                                _progress=lambda i, n, what: sbar.progress(i / n, text=f"{what}: run {i} of {n}"))
    sbar.empty()
    h = sens["headline"]
    rows = [{"input": w["path"], "low (q10)": f"{w['low_value']:.3g}", "difference at low":
             services.days_text(w["diff_low"]["mean"]), "high (q90)": f"{w['high_value']:.3g}",
             "difference at high": services.days_text(w["diff_high"]["mean"]),
             "flips the sign": "yes" if w["flips"] else "no"} for w in sens["swings"]]
    st.markdown(f"Headline difference at the scenario's own distributions: **{services.days_text(h['mean'])}** "
                f"(R = {h['n']}).")
    if not rows:
        st.info("This scenario has no uncertain input near the job (every input is a constant): nothing to swing.")
    else:
        st.dataframe(rows, hide_index=True, width="stretch", key="ans_sens_table")
    if rows and not any(w["flips"] for w in sens["swings"]):
        st.caption("No single input at its 10th or 90th percentile flips the sign of the difference.")
