"""The LR preview of a schedules sweep, and the loss curves a fitted law predicts for it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .colours import REFERENCE, ColourMap, colour_of
from .curves import STEP_TITLE

__all__ = ["CLICK_LAYER", "schedule_preview"]

CLICK_LAYER = "click-to-draw"  # name of the transparent heatmap that catches clicks


def schedule_preview(
    lrs: Mapping[str, np.ndarray],
    *,
    predicted: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    measured: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    law_note: str = "",
    start: int = 0,
    drawable: bool = False,
    colours: ColourMap | Mapping[str, str] | None = None,
) -> go.Figure:
    """Each schedule's LR per step and, under it, the loss a fitted law predicts for it.

    Parameters
    ----------
    lrs
        ``{name: LR per step}`` (:meth:`SchedulesLab.preview`).
    predicted
        ``{name: (steps, predicted loss after that many updates)}``
        (:meth:`SchedulesLab.predict`); adds a second panel. ``None``: the LR panel alone.
    measured
        ``{name: (steps, loss)}`` of the runs the law was fitted on, drawn thin for comparison.
    law_note
        A line under the prediction panel's title (the fit and its R²).
    start
        Draw losses from step ``start + 1`` on (the laws are not meant for the warmup, where
        they start at infinity).
    drawable
        Lay a transparent grid over the LR panel so a click anywhere reports its step and LR
        (the app adds a knot of the drawn schedule there); its trace is named
        :data:`CLICK_LAYER`.
    colours
        A colour per schedule name, shared with the page's other figures (:class:`ColourMap`;
        a plain mapping keeps its colours; ``None``: a fresh map, in the order of ``lrs``).

    Examples
    --------
    >>> steps = np.arange(1, 6)
    >>> fig = schedule_preview({"a": np.ones(5)}, predicted={"a": (steps, np.linspace(2, 1, 5))})
    >>> [t.name for t in fig.data]
    ['a', 'a (predicted)']
    >>> cmap = ColourMap(["b", "a"])
    >>> schedule_preview({"a": np.ones(5)}, colours=cmap).data[0].line.color == cmap["a"]
    True
    """
    rows = 2 if predicted is not None else 1
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        subplot_titles=["LR preview" + (" (click to draw)" if drawable else "")]
        + ([f"loss predicted by the law{law_note}"] if rows == 2 else []),
    )
    cmap = colour_of(colours)
    steps, top = 1, 0.0
    for kind, lr in lrs.items():
        color = cmap[kind]
        steps, top = max(steps, len(lr)), max(top, float(np.max(lr, initial=0.0)))
        fig.add_trace(
            go.Scatter(y=lr, mode="lines", name=kind, legendgroup=kind, line=dict(color=color)),
            row=1,
            col=1,
        )
        if predicted is not None and kind in predicted:
            x, loss = (np.asarray(a) for a in predicted[kind])
            late = x > start
            fig.add_trace(
                go.Scatter(
                    x=x[late],
                    y=loss[late],
                    mode="lines",
                    name=f"{kind} (predicted)",
                    legendgroup=kind,
                    showlegend=False,
                    line=dict(color=color, dash="dash", width=2.5),
                    hovertemplate=f"{kind}, predicted<br>step %{{x}}: %{{y:.4g}}<extra></extra>",
                ),
                row=2,
                col=1,
            )
    for name, (x, loss) in (measured or {}).items():
        late = np.asarray(x) > start
        fig.add_trace(
            go.Scatter(
                x=np.asarray(x)[late],
                y=np.asarray(loss)[late],
                mode="lines",
                name=f"{name} (measured)",
                showlegend=False,
                line=dict(color=REFERENCE, width=1),
                hovertemplate=f"{name}, measured<br>step %{{x}}: %{{y:.4g}}<extra></extra>",
            ),
            row=2,
            col=1,
        )
    if drawable:
        top = 1.3 * top if top > 0 else 1.0
        fig.add_trace(
            go.Heatmap(
                x=np.linspace(0, steps, 121),
                y=np.linspace(0, top, 41),
                z=np.zeros((41, 121)),
                colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
                showscale=False,
                name=CLICK_LAYER,
                hovertemplate="click: knot at step %{x:.0f}, LR %{y:.3g}<extra></extra>",
            ),
            row=1,
            col=1,
        )
        fig.update_yaxes(range=[0, top], row=1, col=1)
    fig.update_yaxes(title_text="learning rate", row=1, col=1)
    if rows == 2:
        fig.update_yaxes(title_text="test loss (nats)", row=2, col=1)
    fig.update_xaxes(title_text=STEP_TITLE, row=rows, col=1)
    # the legend under the x axis title, out of the way of the titles and the mode bar
    plot_px = 200 * rows + (rows - 1) * 40
    fig.update_layout(
        template="plotly_white",
        height=plot_px + 40 + 80,
        margin=dict(l=60, r=20, t=40, b=80),
        legend=dict(orientation="h", yanchor="top", y=-50 / plot_px, x=0),
        uirevision="preview",
    )
    return fig
