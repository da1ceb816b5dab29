"""exportsim dashboard: pick a scenario and a seed in the sidebar, then edit, run, compare, explore.

Serve with ``streamlit run app/streamlit_app.py`` from the repository root.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/streamlit_app.py` puts only app/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import services, state  # noqa: E402

st.set_page_config(page_title="exportsim", page_icon=":material/memory:", layout="wide")
state.init()
url_problems = state.from_url()


def on_pick() -> None:
    """A new scenario brings its own seed."""
    loaded = state.loaded_for(st.session_state[state.SOURCE])
    if loaded.ok:
        st.session_state[state.SEED] = int(loaded.data["seed"])


with st.sidebar:
    st.title("exportsim")
    st.caption("AI-accelerator supply chain under export controls")
    options = services.scenario_files() + [state.UPLOAD]
    if st.session_state[state.SOURCE] not in options:
        st.session_state[state.SOURCE] = options[0]
    st.selectbox(
        "Scenario", options, key=state.SOURCE, on_change=on_pick,
        format_func=lambda s: "uploaded file" if s == state.UPLOAD else services.short_name(s),
    )
    if state.SEED not in st.session_state:
        on_pick()
        st.session_state.setdefault(state.SEED, 1)
    st.number_input("Seed", min_value=0, step=1, key=state.SEED,
                    help="Same scenario + seed = identical run; compare uses seeds seed, seed+1, ...")
    current = state.current()
    if current.ok:
        changed = sum(1 for lever in current.levers if current.values.get(lever.id, lever.default) != lever.default)
        if changed:
            st.badge("edited", icon=":material/edit:", color="orange")
        st.caption(f"**{current.label}** · " + (f"{changed} lever(s) changed" if changed else "as in file"))
    else:
        st.error(f"{len(current.problems)} problem(s) in the scenario: see the Scenario page.")
    for problem in url_problems:
        st.warning(f"Link: {problem}")
    state.to_url(current)

pages = [
    st.Page("app_pages/answer.py", title="Answer", icon=":material/lightbulb:", default=True),
    st.Page("app_pages/scenario.py", title="Scenario", icon=":material/tune:"),
    st.Page("app_pages/run.py", title="Run", icon=":material/play_arrow:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("app_pages/network.py", title="Network", icon=":material/hub:"),
    st.Page("app_pages/sweep.py", title="Sweep explorer", icon=":material/scatter_plot:"),
    st.Page("app_pages/calibration.py", title="Calibration", icon=":material/straighten:"),
    st.Page("app_pages/briefing.py", title="Briefing", icon=":material/description:"),
]
try:
    st.navigation(pages).run()
except Exception as e:  # noqa: BLE001 - any error a page did not handle is the one-line panel, never a traceback
    from app import widgets

    widgets.problems_panel(services.error_lines(e), title="This page stopped on an error")
