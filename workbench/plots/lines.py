"""Figures of paths through parameter space: the loss along a straight line between two points
with its barrier (:func:`line_figure`), and how far each run has travelled from its
initialization (:func:`distance_figure`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from ..landscape.paths import distance_from_init
from ._common import _groups, _median, _message, _names
from ._curve_parts import _runs_trace
from .colours import DASHES, REFERENCE, ColourMap, colour_of
from .curves import STEP_TITLE

__all__ = ["line_figure", "distance_figure"]


def line_figure(
    lines: xr.Dataset | Mapping[str, xr.Dataset],
    *,
    ends: tuple[str, str] = ("α = 0", "α = 1"),
    colours: ColourMap | Mapping[str, str] | None = None,
    title: str | None = None,
    accuracy: bool = True,
) -> go.Figure:
    """Loss (left axis) and accuracy (right axis, dotted) along 1-D interpolations
    (:func:`workbench.landscape.line`), the straight chord between each line's end losses in
    grey and its **barrier** (the largest excess of the loss over the chord, for α from 0 to
    1 only: beyond the ends there is no chord) marked and written. ``lines``: one Dataset,
    or ``{name: Dataset}`` (coloured by name). ``ends`` names the two end points.

    Traces carry ``meta``: ``{"line": name, "var": "loss" | "chord" | "barrier" | "acc"}``.

    Examples
    --------
    >>> a = np.linspace(0, 1, 5)
    >>> ds = xr.Dataset({"loss": ("alpha", [1.0, 2.0, 3.0, 2.0, 1.0]),
    ...                  "acc": ("alpha", [0.9, 0.5, 0.1, 0.5, 0.9])},
    ...                 coords={"alpha": a}, attrs={"barrier": 2.0})
    >>> fig = line_figure(ds)
    >>> [t.meta["var"] for t in fig.data], fig.layout.annotations[0].text
    (['loss', 'chord', 'barrier', 'acc'], 'barrier 2')
    """
    if isinstance(lines, xr.Dataset):
        lines = {"loss": lines}
    if not lines:
        return _message("No line to draw.", title)
    cmap = colour_of(colours)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for name, ds in lines.items():
        colour = cmap[name]
        al = ds.alpha.values.astype(float)
        loss = ds.loss.values.astype(float)
        one = len(lines) == 1
        fig.add_scatter(
            x=al,
            y=loss,
            mode="lines+markers",
            marker=dict(size=4),
            line=dict(color=colour, width=2.5),
            name="loss" if one else f"{name}: loss",
            legendgroup=name,
            meta={"line": name, "var": "loss"},
            hovertemplate=f"{name}<br>α %{{x:.3g}}: loss %{{y:.4g}}<extra></extra>",
        )
        i0, i1 = np.argmin(np.abs(al)), np.argmin(np.abs(al - 1))
        chord = np.interp(al, [0.0, 1.0], [loss[i0], loss[i1]])
        inner = (al >= -1e-9) & (al <= 1 + 1e-9)
        fig.add_scatter(
            x=al[inner],
            y=chord[inner],
            mode="lines",
            line=dict(color=REFERENCE, width=1.2, dash="dot"),
            showlegend=False,
            name=f"{name}: chord",
            legendgroup=name,
            meta={"line": name, "var": "chord"},
            hoverinfo="skip",
        )
        excess = np.where(inner, loss - chord, -np.inf)
        k = int(np.argmax(excess))
        barrier = float(excess[k])
        j = list(lines).index(name)  # the j-th line's words sit below the ones before
        if np.isfinite(barrier) and barrier > 1e-3 * max(abs(loss[i0]), abs(loss[i1]), 1e-9):
            fig.add_scatter(
                x=[al[k], al[k]],
                y=[chord[k], loss[k]],
                mode="lines",
                line=dict(color=colour, width=1.5),
                showlegend=False,
                hoverinfo="skip",
                meta={"line": name, "var": "barrier"},
            )
            text = f"barrier {barrier:.3g}" if one else f"{name}: barrier {barrier:.3g}"
            fig.add_annotation(
                x=al[k],
                y=loss[k],
                text=text,
                showarrow=True,
                arrowhead=2,
                ax=40,
                ay=-30 - 26 * j,
                font=dict(color=colour, size=13),
                bgcolor="rgba(255,255,255,0.8)",
            )
        else:
            text = "no barrier" if one else f"{name}: no barrier"
            fig.add_annotation(
                x=0.01,
                y=0.99 - 0.08 * j,
                xref="paper",
                yref="paper",
                xanchor="left",
                yanchor="top",
                text=f"{text}: the loss stays under the chord",
                showarrow=False,
                font=dict(color=colour, size=13),
                bgcolor="rgba(255,255,255,0.8)",
            )
        if accuracy and "acc" in ds:
            fig.add_scatter(
                x=al,
                y=ds.acc.values,
                mode="lines",
                line=dict(color=colour, width=1.5, dash="dot"),
                name="accuracy" if one else f"{name}: accuracy",
                legendgroup=name,
                meta={"line": name, "var": "acc"},
                hovertemplate=f"{name}<br>α %{{x:.3g}}: accuracy %{{y:.3f}}<extra></extra>",
                secondary_y=True,
            )
    fig.update_xaxes(
        title_text=f"α: (1 − α)·{ends[0]} + α·{ends[1]}",
        tickvals=[0, 0.25, 0.5, 0.75, 1],
        ticktext=[ends[0], "0.25", "0.5", "0.75", ends[1]],
    )
    fig.update_yaxes(title_text="loss (nats)", secondary_y=False)
    if accuracy:
        fig.update_yaxes(
            title_text="accuracy (dotted)", range=[0, 1.02], secondary_y=True, showgrid=False
        )
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=420,
        legend=dict(orientation="h", yanchor="top", y=-0.2, x=0),
        margin=dict(l=70, r=70, t=60 if title else 30, b=100),
    )
    return fig


def distance_figure(
    ds: xr.Dataset,
    *,
    by: str | Sequence[str] = ("name",),
    colours: ColourMap | Mapping[str, str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """``‖w_t − w_0‖`` against the step on a log axis, per group (median over seeds thick, each
    run thin), from the runs' snapshots (:func:`workbench.landscape.paths.distance_from_init`).
    A straight line is logarithmic growth (Hoffer et al. 2017); the grey dotted curve is a
    random walk's ``√t`` through the first group's last point, for comparison. Step 0
    (distance 0) is off a log axis.

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=20, batch_size=32,
    ...                   track=wb.Track(snapshot_every=10))
    >>> fig = distance_figure(wb.run([spec]))
    >>> [t.meta for t in fig.data], fig.data[1].x.tolist()
    ([{'runs': 'all runs'}, {'group': 'all runs'}, {'reference': 'sqrt'}], [10, 20])
    """
    d = distance_from_init(ds)
    keep = d.snap_step.values > 0
    x, v = d.snap_step.values[keep], d.values[:, keep]
    if not x.size:
        return _message("No snapshot after step 0 yet: the distance needs two.", title)
    _, members, styles, legend = _groups(ds, by)
    cmap = colour_of(colours)
    fig = go.Figure()
    first = None
    for g, idx in members.items():
        idx = [i for i in idx if np.isfinite(v[i]).any()]
        if not idx:
            continue
        key, variant = styles[g]
        colour, dash = cmap[key], DASHES[variant % len(DASHES)]
        fig.add_trace(_runs_trace(x, v, idx, colour, g, False, dash, {}))
        med = _median(v[idx])
        fig.add_scatter(
            x=x,
            y=med,
            mode="lines+markers",
            marker=dict(size=4),
            connectgaps=True,
            line=dict(color=colour, width=2.5, dash=dash),
            name=legend[g],
            legendgroup=g,
            meta={"group": g},
            hovertemplate=f"{g}<br>step %{{x}}: distance %{{y:.4g}}<extra></extra>",
        )
        if first is None:
            first = med
    ok = np.isfinite(first)
    if ok.any():
        t_end, d_end = x[ok][-1], first[ok][-1]
        fig.add_scatter(
            x=x,
            y=d_end * np.sqrt(x / t_end),
            mode="lines",
            line=dict(color=REFERENCE, width=1.5, dash="dot"),
            name="√t (a random walk)",
            meta={"reference": "sqrt"},
            hoverinfo="skip",
        )
    fig.update_xaxes(type="log", title_text=STEP_TITLE + ", log scale")
    fig.update_yaxes(
        title_text="distance from init ‖w<sub>t</sub> − w<sub>0</sub>‖", rangemode="tozero"
    )
    names = _names(ds, by)
    fig.update_layout(
        title=title or "Distance from the initialization (straight on this axis: ∝ log t)",
        template="plotly_white",
        height=440,
        legend=dict(
            orientation="h", yanchor="top", y=-0.2, x=0, title=dict(text=" · ".join(names))
        ),
        margin=dict(l=70, r=20, t=60, b=100),
    )
    return fig
