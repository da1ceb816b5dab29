"""Tidy frame in -> plotly Figure out: the charts the dashboard and the briefings share.

Every function takes tables as :class:`~sim.result.RunResult` gives them (or frames built from
:mod:`sim.network`) and returns a :class:`plotly.graph_objects.Figure`.  Nothing here shows, saves or
imports Streamlit; an empty table gives a figure that says so instead of raising.
Days are converted to calendar dates with the scenario's *start* date so axes read as dates.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

#: Colours by shipment status (a denied lot reads red everywhere).
STATUS_COLOURS = {
    "delivered": "#2ca02c", "licensed": "#98df8a", "in_transit": "#aec7e8", "grey": "#7f7f7f",
    "seized": "#8c564b", "denied": "#d62728", "refused": "#ff9896",
}
#: Colours by node kind in the supplier network.
KIND_COLOURS = {
    "foundry": "#1f77b4", "memory": "#9467bd", "packager": "#17becf", "vendor": "#ff7f0e",
    "distributor": "#7f7f7f", "cloud": "#2ca02c", "lab": "#d62728",
}
#: Left-to-right order of node kinds in the network drawing (upstream first).
KIND_LAYER = {"foundry": 0, "memory": 0, "packager": 1, "vendor": 2, "distributor": 3, "cloud": 4, "lab": 5}
#: Colours by edge flow.
FLOW_COLOURS = {"wafers": "#1f77b4", "dies": "#1f77b4", "hbm": "#9467bd", "chips": "#ff7f0e", "rental": "#2ca02c"}
BLOCKED_COLOUR = "#d62728"


def _dates(start: dt.date, days: pd.Series) -> pd.Series:
    return pd.Timestamp(start) + pd.to_timedelta(days.astype(float), unit="D")


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": "#666"})
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False}, height=320)
    return fig


def fleet_area(fleet: pd.DataFrame, start: dt.date, owner: str | None = None,
               measure: str = "peak_pflops") -> go.Figure:
    """Installed fleet over time, stacked by product and origin (one owner, or every owner)."""
    what = "peak PFLOP/s" if measure == "peak_pflops" else "units"
    title = f"Installed fleet of {owner or 'all owners'} by product and origin ({what})"
    df = fleet if owner is None else fleet[fleet["owner"] == owner]
    if df.empty:
        return _empty(title, "no installed fleet")
    df = (df.assign(series=df["product"] + " (" + df["origin"] + ")")
            .groupby(["day", "series"], as_index=False)[measure].sum())
    df["date"] = _dates(start, df["day"])
    fig = px.area(df.sort_values(["series", "date"]), x="date", y=measure, color="series",
                  labels={measure: what, "series": "product (origin)", "date": ""}, title=title)
    fig.update_layout(legend={"orientation": "v"}, hovermode="x unified")
    return fig


def shipments_by_status(shipments: pd.DataFrame, item_kind: str = "chip") -> go.Figure:
    """Units shipped, denied, grey or seized, by the rule that decided them ("no rule" when none did)."""
    title = f"Shipments of {item_kind}s by status and deciding rule (units)"
    df = shipments[shipments["item_kind"] == item_kind]
    if df.empty:
        return _empty(title, "no shipments")
    df = df.assign(rule=df["rule"].fillna("no rule"))
    df = df.groupby(["rule", "status"], as_index=False)["qty"].sum()
    order = df.groupby("rule")["qty"].sum().sort_values(ascending=False).index.tolist()
    fig = px.bar(df, x="rule", y="qty", color="status", color_discrete_map=STATUS_COLOURS,
                 category_orders={"rule": order}, labels={"qty": "units", "rule": ""}, title=title)
    fig.update_layout(barmode="stack")
    return fig


def jobs_gantt(jobs: pd.DataFrame, start: dt.date, horizon_days: float | None = None) -> go.Figure:
    """Training jobs from start to finish (unfinished ones run to the horizon), failures in the label."""
    title = "Training jobs (bar: start to finish; label: chips and failures)"
    df = jobs[jobs["start_day"].notna()] if len(jobs) else jobs
    if df.empty:
        return _empty(title, "no training job started")
    end_day = df["finish_day"].fillna(horizon_days if horizon_days is not None else df["start_day"].max())
    df = df.assign(
        job_id=df["lab"] + "/" + df["job"], start=_dates(start, df["start_day"]), finish=_dates(start, end_day),
        state=df["finished"].map({True: "finished", False: "unfinished"}),
        label=df["chips"].astype(int).astype(str) + " × " + df["chip"] + ", " + df["failures"].astype(int).astype(str)
        + " failures",
    )
    fig = px.timeline(df, x_start="start", x_end="finish", y="job_id", color="state", text="label",
                      color_discrete_map={"finished": "#1f77b4", "unfinished": "#ff7f0e"},
                      hover_data={"failures": True, "lost_hours": ":.0f", "rented_chips": True, "mfu": ":.2f",
                                  "cost_usd": ":,.0f"},
                      labels={"job_id": ""}, title=title)
    if "deadline_day" in df and df["deadline_day"].notna().any():
        for _, j in df[df["deadline_day"].notna()].iterrows():
            fig.add_vline(x=pd.Timestamp(start) + pd.Timedelta(days=float(j["deadline_day"])),
                          line_dash="dash", line_color="#d62728")
    fig.update_layout(height=max(220, 90 + 50 * len(df)))
    return fig


def rentals_timeline(rentals: pd.DataFrame, start: dt.date) -> go.Figure:
    """Rental contracts by cloud region (bars) with each request's queue wait in the hover."""
    title = "Cloud rentals by region (bar: contract; hover: queue wait)"
    df = rentals[rentals["start_day"].notna()] if len(rentals) else rentals
    if df.empty:
        refused = int((rentals["status"] == "refused").sum()) if len(rentals) else 0
        return _empty(title, f"no rental served ({refused} refused)" if refused else "no rentals in this run")
    end = df["end_day"].fillna(df["start_day"])
    df = df.assign(start=_dates(start, df["start_day"]), end=_dates(start, end), wait_days=df["wait_days"].fillna(0.0),
                   gpus_label=df["gpus"].astype(int).astype(str) + " " + df["chip"])
    fig = px.timeline(df, x_start="start", x_end="end", y="region", color="wait_days", text="gpus_label",
                      color_continuous_scale="Oranges",
                      hover_data={"tenant": True, "gpus": True, "wait_days": ":.1f", "cost_usd": ":,.0f"},
                      labels={"region": "", "wait_days": "wait (days)"}, title=title)
    fig.update_layout(height=max(220, 90 + 50 * df["region"].nunique()))
    return fig


def cost_breakdown(shipments: pd.DataFrame, jobs: pd.DataFrame, buyer: str | None = None) -> go.Figure:
    """Where the money went: chip purchases by status and origin, export fees, and each job's cost."""
    title = f"Cost breakdown{' for ' + buyer if buyer else ''} (USD)"
    chips = shipments[(shipments["item_kind"] == "chip") & shipments["status"].isin(["delivered", "licensed", "grey"])]
    if buyer is not None:
        chips = chips[chips["buyer"] == buyer]
    parts = []
    if len(chips):
        spend = (chips.assign(usd=chips["qty"] * chips["price_usd"],
                              part="chips " + chips["status"] + " (" + chips["origin"] + ")")
                 .groupby("part", as_index=False)["usd"].sum())
        spend["group"] = "chip purchases"
        parts.append(spend)
        fees = float(chips["fee_usd"].sum())
        if fees:
            parts.append(pd.DataFrame({"part": ["export fees"], "usd": [fees], "group": ["chip purchases"]}))
    mine = jobs if buyer is None or jobs.empty else jobs[jobs["lab"] == buyer]
    for _, j in mine.iterrows():
        parts.append(pd.DataFrame({
            "part": ["owned chips' time", "rented GPU-hours"], "usd": [j["owned_cost_usd"], j["rental_cost_usd"]],
            "group": [f"job {j['lab']}/{j['job']}"] * 2}))
    if not parts:
        return _empty(title, "nothing bought or spent")
    df = pd.concat(parts, ignore_index=True)
    df = df[df["usd"] > 0]
    if df.empty:
        return _empty(title, "nothing bought or spent")
    # Chip purchases run to billions and a job to millions: one panel each, with its own axis.
    fig = px.bar(df, x="part", y="usd", color="part", facet_col="group", labels={"usd": "USD", "part": ""},
                 facet_col_spacing=0.12, title=title)
    fig.update_yaxes(matches=None, showticklabels=True)
    fig.update_xaxes(matches=None, showticklabels=False)
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    fig.update_layout(showlegend=True, legend_title_text="")
    return fig


def fleet_overlay(fleets: dict[str, pd.DataFrame], start: dt.date, owner: str) -> go.Figure:
    """Total installed PFLOP/s of one owner over time, one line per labelled run (e.g. base vs counterfactual)."""
    title = f"Installed fleet of {owner} (peak PFLOP/s), runs overlaid"
    frames = []
    for label, fleet in fleets.items():
        df = fleet[fleet["owner"] == owner].groupby("day", as_index=False)["peak_pflops"].sum()
        frames.append(df.assign(run=label))
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if df.empty:
        return _empty(title, "no installed fleet")
    df["date"] = _dates(start, df["day"])
    return px.line(df, x="date", y="peak_pflops", color="run", labels={"peak_pflops": "peak PFLOP/s", "date": ""},
                   title=title)


def kpi_differences(comparison: pd.DataFrame, title: str = "Paired difference, scenario − counterfactual",
                    relative: bool = True) -> go.Figure:
    """Mean paired difference of each KPI with its interval (columns of :class:`sim.compare.KpiComparison`).

    *relative* shows differences as % of the counterfactual's mean so KPIs of any unit share one axis
    (KPIs whose counterfactual mean is 0 are left out of the chart); the hover gives absolute values.
    """
    df = comparison.dropna(subset=["diff_mean"])
    if relative:
        base = df["counterfactual_mean"].abs()
        df = df[base > 0]
        scale = 100.0 / base[base > 0]
    else:
        scale = pd.Series(1.0, index=df.index)
    if df.empty:
        return _empty(title, "no KPI to compare")
    df = df.assign(x=df["diff_mean"] * scale, lo=df["diff_ci_low"] * scale, hi=df["diff_ci_high"] * scale).iloc[::-1]
    fig = go.Figure(go.Scatter(
        x=df["x"], y=df["kpi"], mode="markers", marker={"size": 9, "color": "#1f77b4"},
        error_x={"type": "data", "array": (df["hi"] - df["x"]).fillna(0), "arrayminus": (df["x"] - df["lo"]).fillna(0),
                 "visible": True},
        customdata=df[["diff_mean", "diff_ci_low", "diff_ci_high"]].to_numpy(),
        hovertemplate="%{y}: %{customdata[0]:,.4g} [%{customdata[1]:,.4g}, %{customdata[2]:,.4g}]<extra></extra>"))
    fig.add_vline(x=0, line_color="#999")
    fig.update_layout(title=title, height=max(260, 90 + 30 * len(df)), yaxis_title="",
                      xaxis_title="difference, % of the counterfactual" if relative else "difference")
    return fig


def network_figure(nodes: pd.DataFrame, edges: pd.DataFrame, title: str = "Supplier network") -> go.Figure:
    """The supplier graph, upstream on the left: nodes coloured by kind, edges by flow, blocked edges red.

    *nodes*: ``id, kind, country, name``; *edges*: ``id, from, to, flow, channel, blocked``.
    """
    if nodes.empty:
        return _empty(title, "no nodes")
    pos: dict[str, tuple[float, float]] = {}
    for layer, group in nodes.assign(layer=nodes["kind"].map(KIND_LAYER).fillna(3)).groupby("layer"):
        ordered = group.sort_values(["kind", "country", "id"])
        n = len(ordered)
        for i, nid in enumerate(ordered["id"]):
            pos[nid] = (float(layer), (n - 1) / 2 - i)
    fig = go.Figure()
    for blocked in (False, True):
        for flow, group in edges[edges["blocked"] == blocked].groupby("flow"):
            xs, ys, mx, my, tips = [], [], [], [], []
            for _, e in group.iterrows():
                (x0, y0), (x1, y1) = pos[e["from"]], pos[e["to"]]
                xs += [x0, x1, None]
                ys += [y0, y1, None]
                mx.append((x0 + x1) / 2)
                my.append((y0 + y1) / 2)
                tips.append(f"{e['id']}: {e['from']} → {e['to']} ({flow}, {e['channel']})"
                            + (" — BLOCKED" if blocked else ""))
            colour = BLOCKED_COLOUR if blocked else FLOW_COLOURS.get(flow, "#999")
            name = f"{flow} (blocked)" if blocked else flow
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=name, legendgroup=name, hoverinfo="skip",
                                     line={"color": colour, "width": 3 if blocked else 1.5,
                                           "dash": "dash" if blocked else "solid"}))
            fig.add_trace(go.Scatter(x=mx, y=my, mode="markers", legendgroup=name, showlegend=False,
                                     marker={"size": 6, "color": colour, "symbol": "x" if blocked else "circle"},
                                     text=tips, hovertemplate="%{text}<extra></extra>"))
    for kind, group in nodes.groupby("kind"):
        fig.add_trace(go.Scatter(
            x=[pos[i][0] for i in group["id"]], y=[pos[i][1] for i in group["id"]], mode="markers+text",
            name=kind, text=group["id"] + " (" + group["country"] + ")", textposition="top center",
            marker={"size": 16, "color": KIND_COLOURS.get(kind, "#333"), "line": {"width": 1, "color": "white"}},
            hovertext=group["name"] + " — " + kind + ", " + group["country"], hoverinfo="text"))
    tallest = int(nodes["kind"].map(KIND_LAYER).fillna(3).value_counts().max())
    fig.update_layout(title=title, height=max(520, 70 * tallest + 160), xaxis={"visible": False},
                      yaxis={"visible": False},
                      legend={"title": "node kind / edge flow", "orientation": "h", "y": -0.05},
                      margin={"l": 20, "r": 20})
    return fig
