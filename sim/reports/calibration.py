"""Calibration charts (plotly): observables against the posterior predictive, one predictive check per
observable, prior vs posterior per input, the generations, the posterior's correlations.

Inputs are a :class:`~sim.experiments.calibration_report.CalibrationStore` and/or the dict of
:func:`~sim.experiments.calibration_report.summarise`; every function returns a Figure and shows nothing.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sim.experiments.calibration_report import CalibrationStore
from sim.experiments.sweep import values_from_u
from sim.reports.plots import _empty

ROLE_COLOURS = {"fit": "#1f77b4", "held_out": "#ff7f0e"}
ROLE_NAMES = {"fit": "fitted (<= cut-off)", "held_out": "held out (> cut-off)"}
PRIOR_COLOUR = "#bbbbbb"
RANGE_COLOUR = "rgba(44, 160, 44, 0.25)"




def _norm(r: dict, v: float) -> float:
    width = r["high"] - r["low"] or 1e-9 * max(abs(r["high"]), 1.0)
    return (v - r["low"]) / width


def predictive_overview(summary: dict) -> go.Figure:
    """Every observable on one axis, in units of its published range (0 = low, 1 = high): the range as a
    green band, the prior's 95 % interval in grey, the posterior's 95 % (thin) and 80 % (thick) intervals
    and median, blue for fitted observables, orange for held-out ones."""
    rows = summary.get("observables", [])
    title = f"Observables vs posterior predictive ({summary.get('name')}; cut-off {summary.get('cutoff')})"
    rows = [r for r in rows if r["posterior"]["n"] > 0]
    if not rows:
        return _empty(title, "no predictive runs in this store")
    fig = go.Figure()
    labels = [f"{r['observable']} ({str(r['date'])[:7]})" for r in rows]

    for i in range(len(rows)):
        fig.add_shape(type="rect", x0=0, x1=1, y0=i - 0.35, y1=i + 0.35, fillcolor=RANGE_COLOUR, line_width=0,
                      layer="below")
    for role in ("fit", "held_out"):
        idx = [i for i, r in enumerate(rows) if r["role"] == role]
        if not idx:
            continue
        col = ROLE_COLOURS[role]
        for i in idx:
            r = rows[i]
            p, q = r["posterior"], r["prior"]
            if q["n"]:
                fig.add_trace(go.Scatter(x=[_norm(r, q["p2_5"]), _norm(r, q["p97_5"])], y=[i - 0.25, i - 0.25],
                                         mode="lines", line={"color": PRIOR_COLOUR, "width": 3}, showlegend=False,
                                         hoverinfo="skip"))
            fig.add_trace(go.Scatter(x=[_norm(r, p["p2_5"]), _norm(r, p["p97_5"])], y=[i, i], mode="lines",
                                     line={"color": col, "width": 2}, showlegend=False, hoverinfo="skip"))
            fig.add_trace(go.Scatter(x=[_norm(r, p["p10"]), _norm(r, p["p90"])], y=[i, i], mode="lines",
                                     line={"color": col, "width": 8}, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(
            x=[_norm(rows[i], rows[i]["posterior"]["median"]) for i in idx], y=idx, mode="markers",
            marker={"color": "white", "size": 9, "line": {"color": col, "width": 2}}, name=ROLE_NAMES[role],
            customdata=[[rows[i]["observable"], rows[i]["posterior"]["median"], rows[i]["posterior"]["p10"],
                         rows[i]["posterior"]["p90"], rows[i]["low"], rows[i]["high"],
                         "yes" if rows[i]["covered_80"] else "no"] for i in idx],
            hovertemplate="%{customdata[0]}<br>median %{customdata[1]:,.4g}<br>80 %%: %{customdata[2]:,.4g} - "
                          "%{customdata[3]:,.4g}<br>published %{customdata[4]:,.4g} - %{customdata[5]:,.4g}"
                          "<br>80 %% interval meets the range: %{customdata[6]}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line={"color": PRIOR_COLOUR, "width": 3},
                             name="prior predictive 95 %"))
    xs = [_norm(r, v) for r in rows for v in (r["posterior"]["p2_5"], r["posterior"]["p97_5"]) if math.isfinite(v)]
    lo, hi = min([-0.5, *xs]), max([1.5, *xs])
    fig.update_layout(title=title, height=max(320, 60 * len(rows) + 140), hovermode="closest",
                      xaxis={"title": "in units of the published range (0 = low end, 1 = high end; green band)",
                             "range": [max(lo, -6) - 0.2, min(hi, 7) + 0.2], "zeroline": False},
                      yaxis={"tickmode": "array", "tickvals": list(range(len(rows))), "ticktext": labels,
                             "autorange": "reversed"},
                      legend={"orientation": "h", "y": -0.15})
    return fig


def predictive_check(store: CalibrationStore, observable: str, summary: dict | None = None) -> go.Figure:
    """One observable's posterior predictive check: prior and posterior predictive runs (histograms), the
    published range (band) and central estimate, the posterior median and 80 % interval."""
    pred = store.predictive
    col = f"obs:{observable}"
    o = store.observables.get(observable, {})
    role = o.get("role", "fit")
    title = f"{observable} ({ROLE_NAMES.get(role, role)}): predictive check"
    if pred is None or col not in pred.columns:
        return _empty(title, "no predictive runs for this observable")
    fig = go.Figure()
    for kind, colour in (("prior", PRIOR_COLOUR), ("posterior", ROLE_COLOURS.get(role, "#1f77b4"))):
        v = pred.loc[pred["kind"] == kind, col].dropna()
        fig.add_trace(go.Histogram(x=v, name=f"{kind} predictive ({len(v)} runs)", marker_color=colour, opacity=0.65,
                                   nbinsx=40))
    fig.add_vrect(x0=o.get("low"), x1=o.get("high"), fillcolor=RANGE_COLOUR, line_width=0, layer="below",
                  annotation_text="published range", annotation_position="top left")
    if o.get("central") is not None:
        fig.add_vline(x=o["central"], line_dash="dot", line_color="#2ca02c")
    post = pred.loc[pred["kind"] == "posterior", col].dropna().to_numpy()
    if len(post):
        q10, q50, q90 = np.percentile(post, [10, 50, 90])
        fig.add_vline(x=q50, line_color="black", annotation_text="posterior median", annotation_position="top right")
        fig.add_vrect(x0=q10, x1=q90, line_width=1, line_dash="dash", fillcolor="rgba(0,0,0,0)")
    fig.update_layout(title=title, barmode="overlay", height=340, xaxis={"title": o.get("unit") or "value"},
                      yaxis={"title": "runs"}, legend={"orientation": "h", "y": -0.25})
    return fig


def prior_posterior(store: CalibrationStore, summary: dict | None = None) -> go.Figure:
    """Per input: the prior's density (grey) and the posterior's weighted histogram (blue), with the
    verdict (pinned / informed / at prior) in each panel's title."""
    names = store.names
    if not names:
        return _empty("Prior vs posterior", "no inputs")
    verdicts = {i["input"]: i["verdict"] for i in (summary or {}).get("inputs", [])}
    cols = min(3, len(names))
    nrows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=[f"{n} ({verdicts.get(n, '')})" for n in names],
                        horizontal_spacing=0.08, vertical_spacing=0.16)
    post = store.posterior
    w = post["weight"].to_numpy(dtype=float)
    w = w / w.sum()
    for k, n in enumerate(names):
        r, c = k // cols + 1, k % cols + 1
        p = store.spec.parameters[n]
        u = (np.arange(2000) + 0.5) / 2000
        x = np.array(values_from_u(p, u), dtype=float)
        x_post = post[n].to_numpy(dtype=float)
        edges = np.linspace(min(x.min(), x_post.min()), max(x.max(), x_post.max()), 31)
        prior_h, _ = np.histogram(x, bins=edges, density=True)
        post_h, _ = np.histogram(x_post, bins=edges, weights=w, density=True)
        mid = (edges[:-1] + edges[1:]) / 2
        fig.add_trace(go.Bar(x=mid, y=prior_h, marker_color=PRIOR_COLOUR, name="prior", showlegend=k == 0,
                             opacity=0.8, width=np.diff(edges)), row=r, col=c)
        fig.add_trace(go.Bar(x=mid, y=post_h, marker_color="#1f77b4", name="posterior", showlegend=k == 0,
                             opacity=0.6, width=np.diff(edges)), row=r, col=c)
    fig.update_layout(title=f"Prior vs posterior per input ({store.meta.get('name')})", barmode="overlay",
                      height=280 * nrows + 80, legend={"orientation": "h", "y": -0.08})
    return fig


def generations_chart(summary: dict) -> go.Figure:
    """Threshold (epsilon) and acceptance rate per generation."""
    gens = summary.get("generations", [])
    if not gens:
        return _empty("Generations", "no generation stored")
    t = [g["t"] for g in gens]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=t, y=[g["epsilon"] for g in gens], mode="lines+markers", name="threshold (epsilon)"))
    fig.add_trace(go.Bar(x=t, y=[g["acceptance_rate"] for g in gens], name="acceptance rate", opacity=0.4),
                  secondary_y=True)
    fig.update_layout(title="ABC-SMC generations", height=320, xaxis={"title": "generation", "dtick": 1},
                      legend={"orientation": "h", "y": -0.3})
    fig.update_yaxes(title_text="epsilon (published ranges)", secondary_y=False)
    fig.update_yaxes(title_text="acceptance", tickformat=".0%", secondary_y=True)
    return fig


def correlation_heatmap(summary: dict) -> go.Figure:
    """Weighted correlations between the inputs in the posterior."""
    c = summary.get("correlation", {})
    names = c.get("inputs", [])
    if len(names) < 2:
        return _empty("Posterior correlations", "fewer than two inputs")
    fig = go.Figure(go.Heatmap(z=c["matrix"], x=names, y=names, zmin=-1, zmax=1, colorscale="RdBu", reversescale=True,
                               text=[[f"{v:.2f}" for v in row] for row in c["matrix"]], texttemplate="%{text}"))
    fig.update_layout(title="Posterior correlation between inputs", height=120 + 45 * len(names),
                      yaxis={"autorange": "reversed"})
    return fig


__all__ = ["correlation_heatmap", "generations_chart", "predictive_check", "predictive_overview", "prior_posterior"]
