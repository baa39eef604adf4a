"""The river-valley toy drawn: the iterate's path over the contours (animated), and the loss
split into its along-river and across-valley parts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..toys import RiverValley, contours, excess_loss_prediction
from .curves import smooth

__all__ = ["river_valley_figure"]


def river_valley_figure(
    valley: RiverValley,
    sim: xr.Dataset,
    names: Sequence[str],
    *,
    peak_lr: float,
    frames: int = 40,
    grid: int = 120,
) -> go.Figure:
    """The path of seed 0 of each schedule over the valley's contours, with a Play button that
    animates it, beside the median along-river and across-valley losses over seeds.

    Parameters
    ----------
    valley
        The landscape simulated.
    sim
        :func:`workbench.toys.simulate` output; ``sim.schedule_index`` names ``names[i]``.
    names
        A name per schedule, in the order simulated.
    peak_lr
        The peak LR, for the predicted stationary across-valley loss (dashed line).
    frames
        Animation frames (0: a still picture).
    grid
        Contour grid points per axis.

    Examples
    --------
    >>> from workbench import toys
    >>> v = toys.RiverValley()
    >>> sim = toys.simulate(v, [0.1, 0.05], steps=50, seeds=[0, 1])
    >>> fig = river_valley_figure(v, sim, ["a", "b"], peak_lr=0.1, frames=5, grid=20)
    >>> len(fig.frames), fig.layout.updatemenus[0].buttons[0].label
    (5, '▶ Play')
    """
    x_path, y_path = sim.x.values, sim.y.values  # (run, step + 1)
    lo, hi = float(np.nanmin(x_path)), float(np.nanmax(x_path))
    pad = 0.1 * (hi - lo) + 1.0
    span = max(2.5, 1.2 * float(np.nanmax(np.abs(y_path - valley.centre(x_path)))))
    X, Y, Z = contours(valley, (lo - pad, hi + pad), (-span, span), n=grid)
    fig = make_subplots(
        rows=1,
        cols=3,
        column_widths=[0.4, 0.3, 0.3],
        horizontal_spacing=0.07,
        subplot_titles=[
            "path of the iterate (seed 0)",
            "along-river loss g(x)",
            "across-valley loss (h/2)(y − c(x))², smoothed",
        ],
    )
    fig.add_trace(
        go.Contour(
            x=X[0],
            y=Y[:, 0],
            z=np.log10(Z + 1e-3),
            colorscale="Greys",
            showscale=False,
            contours=dict(coloring="heatmap"),
            opacity=0.5,
            hoverinfo="skip",
        ),
        row=1,
        col=1,
    )
    kind = sim.schedule_index.values
    firsts = [int(np.flatnonzero(kind == i)[0]) for i in range(len(names))]
    steps = sim.step.values
    paths, heads = [], []  # trace indices the frames update
    curves = []  # per schedule: the along and across medians (smoothed)
    window = max(1, len(steps) // 100)
    for i, (name, r) in enumerate(zip(names, firsts, strict=True)):
        color = qualitative.Plotly[i % len(qualitative.Plotly)]
        paths.append(len(fig.data))
        fig.add_trace(
            go.Scatter(
                x=x_path[r],
                y=y_path[r],
                mode="lines",
                name=name,
                legendgroup=name,
                line=dict(color=color, width=1),
            ),
            row=1,
            col=1,
        )
        heads.append(len(fig.data))
        fig.add_trace(
            go.Scatter(
                x=x_path[r, -1:],
                y=y_path[r, -1:],
                mode="markers",
                legendgroup=name,
                showlegend=False,
                marker=dict(color=color, size=10, line=dict(color="white", width=1)),
            ),
            row=1,
            col=1,
        )
        runs = sim.isel(run=kind == i)
        for col, var in ((2, "along"), (3, "across")):
            curve = smooth(runs[var].median("run").values, window)
            curves.append(curve)
            fig.add_trace(
                go.Scatter(
                    x=steps,
                    y=curve,
                    mode="lines",
                    legendgroup=name,
                    showlegend=False,
                    line=dict(color=color),
                ),
                row=1,
                col=col,
            )
            heads.append(len(fig.data))
            fig.add_trace(
                go.Scatter(
                    x=steps[-1:],
                    y=curve[-1:],
                    mode="markers",
                    legendgroup=name,
                    showlegend=False,
                    marker=dict(color=color, size=8),
                    hoverinfo="skip",
                ),
                row=1,
                col=col,
            )
    predicted = excess_loss_prediction(valley, peak_lr)
    fig.add_hline(
        y=predicted,
        line_dash="dash",
        row=1,
        col=3,
        annotation_text=f"predicted at peak LR: {predicted:.3g}",
        annotation_position="top left",
    )
    if frames > 0:
        _animate(fig, x_path[firsts], y_path[firsts], steps, curves, paths, heads, frames)
    fig.update_xaxes(title_text="x (along the river)", row=1, col=1)
    fig.update_yaxes(title_text="y (across)", row=1, col=1)
    fig.update_xaxes(title_text="step", row=1, col=2)
    fig.update_xaxes(title_text="step", row=1, col=3)
    fig.update_yaxes(type="log", row=1, col=3)
    seeds = int(np.sum(kind == 0))
    fig.update_layout(
        template="plotly_white",
        height=500,
        margin=dict(t=60, b=120),
        title=f"SGD on the river valley, peak LR {peak_lr:g} (median over {seeds} seeds)",
    )
    return fig


def _animate(fig, xs, ys, steps, curves, paths, heads, n_frames: int) -> None:
    """Frames that grow each path up to a step and move the head markers there (on the path
    and on the along/across curves)."""
    n = xs.shape[1]
    stride = max(1, n // 500)  # at most ~500 points per path per frame
    at = np.unique(np.linspace(1, n - 1, n_frames).round().astype(int))
    frames = []
    for t in at:
        data = []
        for x, y in zip(xs, ys, strict=True):
            data.append(go.Scatter(x=x[: t + 1 : stride], y=y[: t + 1 : stride]))
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            data.append(go.Scatter(x=x[t : t + 1], y=y[t : t + 1]))
            for curve in curves[2 * i : 2 * i + 2]:
                data.append(go.Scatter(x=steps[t : t + 1], y=curve[t : t + 1]))
        frames.append(go.Frame(data=data, traces=paths + heads, name=str(t)))
    fig.frames = frames
    # redraw: a figure with a contour does not animate cleanly without a full redraw
    play = dict(frame=dict(duration=80, redraw=True), transition=dict(duration=0))
    fig.update_layout(
        updatemenus=[
            dict(
                type="buttons",
                showactive=False,
                x=0.0,
                y=-0.3,
                xanchor="left",
                direction="left",
                buttons=[
                    dict(
                        label="▶ Play", method="animate", args=[None, dict(play, fromcurrent=False)]
                    ),
                    dict(
                        label="❚❚ Pause",
                        method="animate",
                        args=[[None], dict(mode="immediate", frame=dict(duration=0))],
                    ),
                ],
            )
        ],
        sliders=[
            dict(
                x=0.16,
                len=0.3,
                y=-0.22,
                currentvalue=dict(prefix="step "),
                steps=[
                    dict(
                        label=str(t),
                        method="animate",
                        args=[[str(t)], dict(mode="immediate", frame=dict(duration=0))],
                    )
                    for t in at
                ],
            )
        ],
    )
