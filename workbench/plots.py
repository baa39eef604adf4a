"""Plotly figure builders: a results Dataset in, a Figure out (shared by apps and notebooks)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.colors import qualitative
from plotly.subplots import make_subplots

__all__ = ["smooth", "training_curves"]


def smooth(y: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average along the last axis (NaN-aware; the first points average less).

    Examples
    --------
    >>> smooth(np.array([1.0, 3.0, 5.0, 7.0]), 2).tolist()
    [1.0, 2.0, 4.0, 6.0]
    """
    if window <= 1:
        return y
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(y)
    csum = np.cumsum(np.where(ok, y, 0.0), axis=-1)
    ccount = np.cumsum(ok, axis=-1)
    pad = [(0, 0)] * (y.ndim - 1) + [(window, 0)]
    csum = np.pad(csum, pad)
    ccount = np.pad(ccount, pad)
    total = csum[..., window:] - csum[..., :-window]
    count = ccount[..., window:] - ccount[..., :-window]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def training_curves(ds: xr.Dataset, *, window: int = 25, title: str | None = None) -> go.Figure:
    """Training loss (smoothed), test accuracy and learning rate against the step.

    Runs that differ only in their seed share a colour; the thick line is their median, the thin
    lines the individual seeds. Diverged runs are drawn dotted.
    """
    labels = ds.group.values.tolist()
    groups = list(dict.fromkeys(labels))
    colors = qualitative.Plotly + qualitative.D3
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=("training loss (smoothed)", "test accuracy", "learning rate"),
        horizontal_spacing=0.07,
    )
    step, estep = ds.step.values, ds.eval_step.values
    loss = smooth(ds.train_loss.values, window)
    for gi, g in enumerate(groups):
        idx = [i for i, lab in enumerate(labels) if lab == g]
        color = colors[gi % len(colors)]
        for i in idx:
            dash = "dot" if int(ds.diverged_step.values[i]) >= 0 else "solid"
            common = dict(
                legendgroup=g,
                showlegend=False,
                opacity=0.35,
                line=dict(color=color, width=1, dash=dash),
                hovertemplate=f"{ds.label.values[i]}<br>step %{{x}}: %{{y:.4g}}<extra></extra>",
            )
            fig.add_trace(go.Scatter(x=step, y=loss[i], mode="lines", **common), row=1, col=1)
            fig.add_trace(
                go.Scatter(x=estep, y=ds.eval_acc.values[i], mode="lines", **common), row=1, col=2
            )
        with np.errstate(all="ignore"):
            med_loss = np.nanmedian(loss[idx], axis=0) if len(idx) > 1 else loss[idx[0]]
            med_acc = np.nanmedian(ds.eval_acc.values[idx], axis=0)
        name = f"{g} (median of {len(idx)})" if len(idx) > 1 else g
        fig.add_trace(
            go.Scatter(
                x=step,
                y=med_loss,
                mode="lines",
                name=name,
                legendgroup=g,
                line=dict(color=color, width=2.5),
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=estep,
                y=med_acc,
                mode="lines+markers",
                legendgroup=g,
                showlegend=False,
                line=dict(color=color, width=2.5),
                marker=dict(size=4),
            ),
            row=1,
            col=2,
        )
        fig.add_trace(
            go.Scatter(
                x=step,
                y=ds.lr.values[idx[0]],
                mode="lines",
                legendgroup=g,
                showlegend=False,
                line=dict(color=color, width=2),
            ),
            row=1,
            col=3,
        )
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=420,
        legend=dict(orientation="h", yanchor="top", y=-0.18),
        margin=dict(l=50, r=20, t=60, b=40),
    )
    return fig
