"""Tidy frame in -> plotly Figure out: the charts the dashboard and the briefings share.

Every function takes tables as :class:`~sim.results.result.RunResult` gives them (or frames built from
:mod:`sim.scenario.network`) and returns a :class:`plotly.graph_objects.Figure`.  Nothing here shows, saves or
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
    "seized": "#8c564b", "denied": "#d62728", "refused": "#ff9896", "futile": "#c5b0d5", "capped": "#f7b6d2",
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
    """Mean paired difference of each KPI with its interval (columns of :class:`sim.experiments.compare.KpiComparison`).

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


def chokepoint_bars(frame: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Impact of knocking out each node or channel edge, with its interval, coloured by kind.

    *frame*: the rows of :meth:`sim.experiments.chokepoints.ChokepointReport.frame` (columns ``target``, ``kind``,
    ``impact``, ``impact_ci_low``, ``impact_ci_high``; optionally ``kpi``, ``betweenness``, ``harm``, the
    sort key).  Positive impact hurts the lab (a later finish, less compute); the largest is on top.
    """
    kpi = str(frame["kpi"].iloc[0]) if len(frame) and "kpi" in frame else "the KPI"
    title = title or f"Chokepoints: impact of a knock-out on {kpi} (bars: mean; whiskers: 95 % interval)"
    df = frame.dropna(subset=["impact"]) if len(frame) else frame
    if df.empty:
        return _empty(title, "no knock-out gave a result")
    df = df.assign(
        lo=df["impact_ci_low"].fillna(df["impact"]), hi=df["impact_ci_high"].fillna(df["impact"]),
        order=df["harm"].fillna(df["impact"]) if "harm" in df else df["impact"],
        betweenness=df["betweenness"] if "betweenness" in df else float("nan"),
    ).sort_values(["order", "target"], ascending=[True, False])
    colours = dict(KIND_COLOURS, edge="#bcbd22")
    fig = go.Figure()
    for kind in dict.fromkeys(df["kind"]):
        part = df[df["kind"] == kind]
        fig.add_trace(go.Bar(
            x=part["impact"], y=part["target"], orientation="h", name=kind,
            marker={"color": colours.get(kind, "#333")},
            error_x={"type": "data", "array": (part["hi"] - part["impact"]).clip(lower=0),
                     "arrayminus": (part["impact"] - part["lo"]).clip(lower=0), "visible": True},
            customdata=part[["lo", "hi", "betweenness"]].to_numpy(),
            hovertemplate="%{y}: %{x:,.4g} [%{customdata[0]:,.4g}, %{customdata[1]:,.4g}]"
                          "<br>betweenness %{customdata[2]:.3f}<extra></extra>"))
    fig.add_vline(x=0, line_color="#999")
    fig.update_layout(title=title, barmode="overlay", height=max(300, 110 + 28 * len(df)),
                      yaxis={"title": "", "categoryorder": "array", "categoryarray": list(df["target"])},
                      xaxis_title=f"impact on {kpi} (positive = hurts)", legend_title_text="kind")
    return fig


def interval_dots(df: pd.DataFrame, title: str, x_title: str, start: dt.date | None = None,
                  horizon_days: float | None = None) -> go.Figure:
    """One row per world: the mean as a dot and the spread as a bar (columns ``label, mean, low, high``).

    With *start*, values are simulation days drawn as dates; a dashed line marks the horizon (values at
    the horizon mean "not finished by then").
    """
    if df.empty or df["mean"].isna().all():
        return _empty(title, "nothing to show")
    df = df.iloc[::-1]
    conv = (lambda s: _dates(start, s)) if start is not None else (lambda s: s)
    med, lo, hi = conv(df["mean"]), conv(df["low"]), conv(df["high"])
    fig = go.Figure()
    for (_, r), _m, a, b in zip(df.iterrows(), med, lo, hi, strict=True):
        fig.add_trace(go.Scatter(x=[a, b], y=[r["label"], r["label"]], mode="lines", showlegend=False,
                                 line={"color": "#9ecae1", "width": 10}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=med, y=df["label"], mode="markers", name="mean",
                             marker={"size": 12, "color": "#08519c", "symbol": "diamond"}, showlegend=False))
    if start is not None and horizon_days is not None and (df["high"] >= horizon_days - 1e-9).any():
        fig.add_vline(x=pd.Timestamp(start) + pd.Timedelta(days=float(horizon_days)), line_dash="dash",
                      line_color="#d62728")
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title="", height=max(260, 170 + 48 * len(df)),
                      margin={"l": 20, "r": 20})
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=list(df["label"]))
    ends = pd.concat([lo, hi, med]).dropna()
    if len(ends):
        a, b = ends.min(), ends.max()
        pad = (b - a) * 0.05 if b > a else (pd.Timedelta(days=15) if start is not None else abs(a) * 0.05 or 1)
        fig.update_xaxes(range=[a - pad, b + pad])
    return fig


def tornado(df: pd.DataFrame, title: str, x_title: str) -> go.Figure:
    """One-at-a-time swings: per input (``input``), the change at its ``low`` and ``high`` setting, widest on top."""
    if df.empty:
        return _empty(title, "no input swung")
    df = df.assign(width=(df["high"] - df["low"]).abs()).sort_values("width")
    fig = go.Figure()
    fig.add_trace(go.Bar(y=df["input"], x=df["low"], orientation="h", name="input at its low setting",
                         marker_color="#6baed6"))
    fig.add_trace(go.Bar(y=df["input"], x=df["high"], orientation="h", name="input at its high setting",
                         marker_color="#fd8d3c"))
    fig.add_vline(x=0, line_color="#666")
    fig.update_layout(title=title, barmode="overlay", xaxis_title=x_title, yaxis_title="",
                      height=max(240, 120 + 40 * len(df)), legend={"orientation": "h", "y": -0.2},
                      margin={"l": 20, "r": 20})
    return fig


def delay_tornado(df: pd.DataFrame, head: float | None, title: str, x_title: str) -> go.Figure:
    """A tornado on a difference itself: per row (``input``) bars from *head* (the difference at the scenario's own
    inputs, a line) to its value at the ``low`` and ``high`` setting; widest on top."""
    if df.empty:
        return _empty(title, "nothing swung")
    h = float(head) if head is not None and head == head else 0.0
    df = df.assign(width=(df["high"] - df["low"]).abs().fillna(0)).sort_values("width")
    fig = go.Figure()
    for col, name, colour in (("low", "one end (low setting, or the scenario's own choice)", "#3182bd"),
                              ("high", "other end (high setting, or the alternative choice)", "#e6550d")):
        fig.add_trace(go.Bar(y=df["input"], x=df[col] - h, base=h, orientation="h", name=name, marker_color=colour,
                             opacity=0.85, hovertemplate="%{y}: %{x:.0f} days<extra></extra>"))
    fig.add_vline(x=h, line_color="#333", line_dash="dash")
    fig.add_vline(x=0, line_color="#999")
    fig.update_layout(title=title, barmode="overlay", xaxis_title=x_title, yaxis_title="",
                      legend={"orientation": "h", "y": -0.25, "x": 0}, margin={"l": 20, "r": 20, "b": 80})
    fig.update_yaxes(automargin=True)
    return fig


def histogram(df: pd.DataFrame, title: str, x_title: str) -> go.Figure:
    """Distribution of ``value`` across runs, one colour per ``policy`` when that column is present."""
    if df.empty or df["value"].isna().all():
        return _empty(title, "no values")
    fig = px.histogram(df, x="value", color="policy" if "policy" in df else None, barmode="overlay", opacity=0.7,
                       labels={"value": x_title, "policy": "levers"}, title=title)
    fig.update_layout(yaxis_title="runs")
    return fig


def index_bars(df: pd.DataFrame, title: str) -> go.Figure:
    """Sensitivity indices (columns ``input, value, index``) as horizontal bars, largest on top."""
    if df.empty:
        return _empty(title, "no indices")
    df = df.assign(order=df["value"].abs()).sort_values("order")
    fig = px.bar(df, x="value", y="input", color="index", orientation="h", title=title,
                 labels={"value": "index", "input": ""})
    fig.update_layout(height=max(240, 120 + 40 * len(df)))
    return fig


# --------------------------------------------------------------------------------- sweep explorer
# Tidy frames from a sweep store (one row per run: parameters, a policy label, KPIs; or the tables of
# sim.experiments.analysis) in, figures out.  Column names are passed in, so any KPI or parameter can be drawn.

#: Colours of runs by whether the scenario-discovery condition holds (first: holds, second: otherwise).
OUTCOME_COLOURS = ("#d62728", "#9ecae1")


def sweep_kpi_by_policy(points: pd.DataFrame, kpi: str, policy: str = "policy", title: str | None = None) -> go.Figure:
    """Distribution of *kpi* over the runs of each lever setting (*policy* column): a box, every run a dot."""
    df = points.dropna(subset=[kpi]) if kpi in points else points.iloc[0:0]
    missing = len(points) - len(df)
    title = title or (f"By lever setting ({len(df)} runs" + (f"; {missing} without a value" if missing else "") + ")")
    if df.empty:
        return _empty(title, "no run has a value for this KPI")
    order = sorted(df[policy].unique())
    fig = px.box(df, x=kpi, y=policy, color=policy, points="all", orientation="h", title=title,
                 category_orders={policy: order}, hover_data=["run_id"], labels={policy: ""})
    fig.update_traces(jitter=0.4, pointpos=0, marker={"size": 5, "opacity": 0.6})
    fig.update_layout(showlegend=False, height=max(260, 150 + 70 * len(order)))
    return fig


def sweep_scatter(points: pd.DataFrame, x: str, kpi: str, color: str | None = "policy", log_x: bool = False,
                  title: str | None = None) -> go.Figure:
    """One dot per run: parameter *x* against *kpi*, coloured by *color* (the lever setting; None: one colour)."""
    title = title or f"Against {x}"
    df = points.dropna(subset=[kpi]) if kpi in points else points.iloc[0:0]
    if df.empty:
        return _empty(title, "no run has a value for this KPI")
    if color is not None and df[color].nunique() < 2:
        color = None
    fig = px.scatter(df, x=x, y=kpi, color=color, log_x=log_x, opacity=0.75, title=title,
                     hover_data=["run_id"], labels={color: "levers"} if color else None,
                     category_orders={color: sorted(df[color].unique())} if color else None)
    fig.update_traces(marker={"size": 7})
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    return fig


def sweep_parallel(points: pd.DataFrame, dims: list[str], kpi: str, title: str | None = None) -> go.Figure:
    """Parallel coordinates: one line per run through each parameter in *dims* and *kpi*, coloured by the KPI.

    Text-valued parameters get one tick per value.
    """
    title = title or "Every run as a line through the parameters and the KPI (colour: the KPI)"
    df = points.dropna(subset=[kpi]) if kpi in points else points.iloc[0:0]
    if df.empty:
        return _empty(title, "no run has a value for this KPI")
    dimensions = []
    for d in [*dims, kpi]:
        col = df[d]
        if pd.api.types.is_numeric_dtype(col):  # ~g: parcoords ticks cannot show plotly's 10<sup>n</sup>
            dimensions.append({"label": d, "values": col.astype(float), "tickformat": ".3~g"})
        else:
            codes, uniques = pd.factorize(col, sort=True)
            dimensions.append({"label": d, "values": codes, "tickvals": list(range(len(uniques))),
                               "ticktext": [str(u) for u in uniques]})
    fig = go.Figure(go.Parcoords(
        line={"color": df[kpi].astype(float), "colorscale": "Viridis", "showscale": True,
              "colorbar": {"title": {"text": "KPI", "side": "right"}}},
        dimensions=dimensions, labelangle=-15, labelside="top"))
    fig.update_layout(title=title, height=460, margin={"t": 120, "l": 60, "r": 40, "b": 30})
    return fig


def sweep_sensitivity_bars(table: pd.DataFrame, title: str, x_title: str = "index") -> go.Figure:
    """Sensitivity indices as horizontal bars with their intervals, most influential factor on top.

    *table*: ``factor, index, value`` (e.g. S1 and ST), optional ``low, high`` (interval; NaN: none) and
    ``policy`` (one panel per policy when there are several).
    """
    if table.empty or table["value"].isna().all():
        return _empty(title, "no indices")
    df = table.copy()
    for c in ("low", "high"):
        if c not in df:
            df[c] = float("nan")
    df["plus"] = (df["high"] - df["value"]).clip(lower=0).fillna(0)
    df["minus"] = (df["value"] - df["low"]).clip(lower=0).fillna(0)
    lead = df["index"].iloc[0]
    order = (df[df["index"] == lead].assign(a=df["value"].abs()).groupby("factor")["a"].mean()
             .sort_values(ascending=False).index.tolist())
    policies = sorted(df["policy"].unique()) if "policy" in df else []
    facet = "policy" if len(policies) > 1 else None
    wrap = min(len(policies), 3) if facet else None
    fig = px.bar(df, x="value", y="factor", color="index", orientation="h", barmode="group", error_x="plus",
                 error_x_minus="minus", facet_col=facet, facet_col_wrap=wrap or 0, title=title,
                 category_orders={"factor": order, **({"policy": policies} if facet else {})},
                 labels={"value": x_title, "factor": "", "index": ""})
    fig.add_vline(x=0, line_color="#999")
    if facet:
        fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    rows = -(-len(policies) // 3) if facet else 1
    fig.update_layout(height=max(280, 130 + rows * (34 * len(order) * max(df["index"].nunique(), 1) ** 0.5 + 40)),
                      legend={"title": ""})
    return fig


def prim_box_limits(limits: pd.DataFrame, title: str = "Box limits within each parameter's sweep range") -> go.Figure:
    """Each box's limits drawn on its parameters' ranges in the sweep (0: the sweep's minimum, 1: its maximum).

    *limits*: ``box, parameter, pos_low, pos_high`` and the labels ``low, high``.
    """
    if limits.empty:
        return _empty(title, "no box")
    fig = go.Figure()
    params = list(dict.fromkeys(limits["parameter"]))
    fig.add_trace(go.Bar(y=params, x=[1.0] * len(params), orientation="h", marker_color="#eeeeee",
                         name="range in the sweep", hoverinfo="skip", showlegend=False))
    palette = px.colors.qualitative.Set1
    for i, (box, part) in enumerate(limits.groupby("box", sort=True)):
        fig.add_trace(go.Bar(
            y=part["parameter"], x=part["pos_high"] - part["pos_low"], base=part["pos_low"], orientation="h",
            name=f"box {box}", marker_color=palette[i % len(palette)], opacity=0.85,
            text=part["low"] + " – " + part["high"], textposition="inside",
            hovertemplate="%{y}: %{text}<extra>box " + str(box) + "</extra>"))
    fig.update_layout(title=title, barmode="overlay", xaxis={"range": [0, 1], "title": "position in the sweep's range",
                                                             "tickformat": ".0%"},
                      yaxis={"categoryorder": "array", "categoryarray": params[::-1], "title": ""},
                      height=max(240, 150 + 45 * len(params)))
    return fig


def sweep_input_scatter(points: pd.DataFrame, x: str, y: str, outcome: str = "outcome",
                        boxes: list[dict] | None = None, log_x: bool = False, log_y: bool = False,
                        title: str | None = None) -> go.Figure:
    """Two parameters against each other, each run coloured by *outcome* (a label column, first label: the
    condition holds), PRIM boxes drawn as rectangles.

    *boxes*: ``{"label", "x": (low, high) or None, "y": (low, high) or None}``; None spans the data.
    """
    title = title or f"{y} against {x}, coloured by outcome"
    if points.empty:
        return _empty(title, "no runs")
    labels = list(dict.fromkeys(points[outcome]))
    held = [lab for lab in labels if lab != "otherwise"] + [lab for lab in labels if lab == "otherwise"]
    colours = {lab: OUTCOME_COLOURS[0] if lab != "otherwise" else OUTCOME_COLOURS[1] for lab in held}
    fig = px.scatter(points, x=x, y=y, color=outcome, color_discrete_map=colours, category_orders={outcome: held},
                     log_x=log_x, log_y=log_y, hover_data=[c for c in ("run_id", "kpi") if c in points],
                     opacity=0.8, title=title, labels={outcome: ""})
    fig.update_traces(marker={"size": 7})
    for b in boxes or []:
        xr = b.get("x") or (float(points[x].min()), float(points[x].max()))
        yr = b.get("y") or (float(points[y].min()), float(points[y].max()))
        fig.add_shape(type="rect", x0=xr[0], x1=xr[1], y0=yr[0], y1=yr[1], line={"color": "#333", "dash": "dash"},
                      fillcolor="rgba(0,0,0,0)",
                      label={"text": b.get("label", "box"), "textposition": "top right", "font": {"size": 11}})
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    return fig
