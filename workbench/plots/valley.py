"""The river-valley toy drawn: the iterate's path over the contours (animated), and the loss
split into its along-river and across-valley parts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from ..toys import RiverValley, contours, excess_loss_prediction
from .colours import ColourMap, colour_of
from .curves import STEP_TITLE, smooth

__all__ = ["river_valley_figure"]


def river_valley_figure(
    valley: RiverValley,
    sim: xr.Dataset,
    names: Sequence[str],
    *,
    peak_lr: float,
    frames: int = 40,
    grid: int = 120,
    colours: ColourMap | Mapping[str, str] | None = None,
) -> go.Figure:
    """The path of seed 0 of each schedule over the valley's contours, with a Play button that
    animates it, beside the median along-river and across-valley losses over seeds.

    The figure opens on the first frame (the path up to its step, the dots there, the slider
    at its start); each frame draws the path up to its step and moves the dots, and the last
    frame's path is the whole path.

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
        Animation frames (0: a still picture of the whole path).
    grid
        Contour grid points per axis.
    colours
        A colour per schedule name, shared with the page's other figures (:class:`ColourMap`;
        a plain mapping keeps its colours; ``None``: a fresh map, in the order of ``names``).

    Examples
    --------
    >>> from workbench import toys
    >>> v = toys.RiverValley()
    >>> sim = toys.simulate(v, [0.1, 0.05], steps=50, seeds=[0, 1])
    >>> fig = river_valley_figure(v, sim, ["a", "b"], peak_lr=0.1, frames=5, grid=20)
    >>> len(fig.frames), fig.layout.updatemenus[0].buttons[0].label
    (5, '▶ Play')
    >>> len(fig.data[1].x), fig.layout.sliders[0].active  # opens on frame 1: step 1
    (2, 0)
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
        horizontal_spacing=0.08,
        subplot_titles=[
            "path of the iterate (seed 0)",
            "along-river loss",
            "across-valley loss (smoothed)",
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
    cmap = colour_of(colours)
    kind = sim.schedule_index.values
    firsts = [int(np.flatnonzero(kind == i)[0]) for i in range(len(names))]
    steps = sim.step.values
    n = steps.size
    stride = max(1, n // 500)  # at most ~500 points per drawn path
    at = _frame_steps(n, frames)
    keep = _upto(at[0], stride)  # what is drawn before Play: the first frame
    paths, heads = [], []  # trace indices the frames update
    curves = []  # per schedule: the along and across medians (smoothed)
    window = max(1, n // 100)
    for i, (name, r) in enumerate(zip(names, firsts, strict=True)):
        color = cmap[name]
        paths.append(len(fig.data))
        fig.add_trace(
            go.Scatter(
                x=x_path[r, keep],
                y=y_path[r, keep],
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
                x=x_path[r, at[0] : at[0] + 1],
                y=y_path[r, at[0] : at[0] + 1],
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
                    x=steps[at[0] : at[0] + 1],
                    y=curve[at[0] : at[0] + 1],
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
    fig.add_hline(y=predicted, line_dash="dash", line_color="#666666", row=1, col=3)
    # In the right margin, level with the line: clear of the ticks, the curves and the legend
    # (under the panels).
    fig.add_annotation(
        text=f"predicted<br>at peak LR<br>{predicted:.3g}",
        xref="x3 domain",
        x=1,
        xanchor="left",
        xshift=6,
        yref="y3",
        y=float(np.log10(predicted)),
        yanchor="middle",
        align="left",
        showarrow=False,
        font=dict(size=11, color="#444444"),
    )
    if frames > 0:
        _animate(fig, x_path[firsts], y_path[firsts], steps, curves, paths, heads, at, stride)
    fig.update_xaxes(title_text="along the river (x)", row=1, col=1)
    fig.update_yaxes(title_text="across the valley (y)", row=1, col=1)
    fig.update_xaxes(title_text=STEP_TITLE, row=1, col=2)
    fig.update_xaxes(title_text=STEP_TITLE, row=1, col=3)
    fig.update_yaxes(title_text="g(x)", row=1, col=2)
    ticks = _log_ticks(np.concatenate([*curves[1::2], [predicted]]))
    fig.update_yaxes(title_text="(h/2)(y − c(x))²", type="log", row=1, col=3, **ticks)
    seeds = int(np.sum(kind == 0))
    fig.update_layout(
        template="plotly_white",
        height=500,
        margin=dict(t=70, b=130, l=60, r=90),
        legend=dict(orientation="h", x=1, xanchor="right", y=-0.22, yanchor="top"),
        title=f"SGD on the river valley, peak LR {peak_lr:g} (median over {seeds} seeds)",
    )
    return fig


def _frame_steps(n: int, frames: int) -> np.ndarray:
    """The step each animation frame shows: ``frames`` steps spread from 1 to the last
    (``frames <= 1``: the last step alone, the whole path)."""
    if frames <= 1 or n <= 2:
        return np.array([n - 1])
    return np.unique(np.linspace(1, n - 1, frames).round().astype(int))


def _upto(t: int, stride: int) -> np.ndarray:
    """Indices of a path up to step ``t``: every ``stride``-th point, and ``t`` itself."""
    return np.unique(np.r_[np.arange(0, t + 1, stride), t])


def _log_ticks(values: np.ndarray) -> dict:
    """Major tick labels of a log axis spanning ``values``: 1, 2 and 5 per decade (1 alone
    beyond 3 decades), written out (``0.02``), so no unlabelled minor digits repeat."""
    ok = values[np.isfinite(values) & (values > 0)]
    if ok.size == 0:
        return {}
    lo, hi = np.floor(np.log10(ok.min())), np.ceil(np.log10(ok.max()))
    mantissas = (1, 2, 5) if hi - lo <= 3 else (1,)
    vals = [m * 10.0**e for e in np.arange(lo, hi + 1) for m in mantissas]
    vals = [v for v in vals if ok.min() / 1.5 <= v <= ok.max() * 1.5]
    return dict(tickvals=vals, ticktext=[f"{v:g}" for v in vals])


def _animate(fig, xs, ys, steps, curves, paths, heads, at, stride) -> None:
    """Frames that grow each path up to a step and move the head markers there (on the path
    and on the along/across curves); the slider starts at the first frame, which is what the
    figure draws before Play."""
    frames = []
    for t in at:
        keep = _upto(t, stride)
        data = [go.Scatter(x=x[keep], y=y[keep]) for x, y in zip(xs, ys, strict=True)]
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
                active=0,
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
