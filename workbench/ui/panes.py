"""Panes the apps need beyond Panel's own."""

from __future__ import annotations

import json

import panel as pn
from plotly.utils import PlotlyJSONEncoder

__all__ = ["AnimatedPlotly"]


class AnimatedPlotly(pn.pane.Plotly):
    """A Plotly pane that keeps the figure's animation ``frames``.

    Panel 1.9's Plotly pane sends a figure's data and layout but drops its frames, so a Play
    button (``method="animate"``) does nothing. This pane adds them (as plain JSON lists).
    """

    @classmethod
    def _plotly_json_wrapper(cls, fig):
        out = super()._plotly_json_wrapper(fig)
        frames = [f.to_plotly_json() for f in fig.frames]
        out["frames"] = json.loads(json.dumps(frames, cls=PlotlyJSONEncoder))
        return out
