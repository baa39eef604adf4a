"""Shared pieces of the figures of forgetting (:mod:`.forgetting`, :mod:`.half_life`,
:mod:`.tradeoff`, :mod:`.gap`): the grouping coordinate and the figure that says why it is
empty."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import xarray as xr


def _by(ds: xr.Dataset, by: str | Sequence[str]) -> str | Sequence[str]:
    """The run coordinate(s) the groups are made by: ``by``, except ``"name"`` on a Dataset
    without it, which falls back to ``"group"`` (runs differing only in their seed), else
    ``"run"``."""
    if by == "name" and "name" not in ds.coords:
        return "group" if "group" in ds.coords else "run"
    return by


def _message(text: str, title: str | None) -> go.Figure:
    """An empty figure with ``text`` in its middle."""
    fig = go.Figure()
    fig.add_annotation(
        text=text,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font=dict(size=15, color="#555555"),
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title=title, template="plotly_white", height=300)
    return fig
