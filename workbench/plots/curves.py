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
    """Training loss (smoothed), test loss, test accuracy and learning rate against the step.

    Runs that differ only in their seed share a colour; the thick line is their median, the thin
    lines the individual seeds. Diverged runs are drawn dotted. Training loss falling while test
    loss rises is overfitting: the two loss panels sit side by side to show it.

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=20, batch_size=32,
    ...                   eval_every=10)
    >>> fig = training_curves(wb.run(wb.grid(spec, {"seed": [0, 1]})))
    >>> len(fig.data)   # 3 panels x (2 seeds + median), and the LR
    10
    """
    panels = [
        # (title, x coordinate, values per run, log y)
        ("training loss (smoothed)", "step", smooth(ds.train_loss.values, window), True),
        ("test loss", "eval_step", ds.eval_loss.values, True),
        ("test accuracy", "eval_step", ds.eval_acc.values, False),
    ]
    labels = ds.group.values.tolist()
    colors = qualitative.Plotly + qualitative.D3
    fig = make_subplots(
        rows=1,
        cols=4,
        subplot_titles=[p[0] for p in panels] + ["learning rate"],
        horizontal_spacing=0.06,
    )
    for gi, g in enumerate(dict.fromkeys(labels)):
        idx = [i for i, lab in enumerate(labels) if lab == g]
        color = colors[gi % len(colors)]
        for col, (_, xname, values, _) in enumerate(panels, start=1):
            x = ds[xname].values
            for i in idx:
                dash = "dot" if int(ds.diverged_step.values[i]) >= 0 else "solid"
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=values[i],
                        mode="lines",
                        legendgroup=g,
                        showlegend=False,
                        opacity=0.35,
                        line=dict(color=color, width=1, dash=dash),
                        hovertemplate=f"{ds.label.values[i]}<br>step %{{x}}: %{{y:.4g}}"
                        "<extra></extra>",
                    ),
                    row=1,
                    col=col,
                )
            with np.errstate(all="ignore"):
                med = np.nanmedian(values[idx], axis=0)
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=med,
                    mode="lines",
                    legendgroup=g,
                    showlegend=col == 1,
                    name=f"{g} (median of {len(idx)})" if len(idx) > 1 else g,
                    line=dict(color=color, width=2.5),
                ),
                row=1,
                col=col,
            )
        fig.add_trace(
            go.Scatter(
                x=ds.step.values,
                y=ds.lr.values[idx[0]],
                mode="lines",
                legendgroup=g,
                showlegend=False,
                line=dict(color=color, width=2),
            ),
            row=1,
            col=len(panels) + 1,
        )
    fig.update_xaxes(title_text="step")
    for col, (_, _, _, log) in enumerate(panels, start=1):
        if log:
            fig.update_yaxes(type="log", row=1, col=col)
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=420,
        legend=dict(orientation="h", yanchor="top", y=-0.2),
        margin=dict(l=50, r=20, t=70, b=40),
    )
    return fig
