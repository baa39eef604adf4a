"""Shared pieces of the figures of forgetting (:mod:`.forgetting`, :mod:`.half_life`,
:mod:`.tradeoff`, :mod:`.gap`) and of landscapes (:mod:`.sharpness`, :mod:`.landscape`,
:mod:`.lines`): the grouping coordinate and run groups, medians, log-axis ticks, and the figure
that says why it is empty."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from ._curve_parts import _legend_name
from .colours import variants
from .curves import group_labels


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


def _names(ds: xr.Dataset, by: str | Sequence[str]) -> list[str]:
    """The run coordinates to group by: ``"name"`` falls back to ``"group"`` on a Dataset
    without it (a plain :func:`workbench.run` result)."""
    names = [by] if isinstance(by, str) else list(by)
    return ["group" if n == "name" and "name" not in ds.coords else n for n in names]


def _groups(ds: xr.Dataset, by) -> tuple[list[str], dict[str, list[int]], dict, dict]:
    """Per run its group label; per group its runs, ``(colour key, variant)`` and legend name
    (several ``by``: coloured by the first, dashed by the rest)."""
    names = _names(ds, by)
    labels = group_labels(ds, names)
    first = group_labels(ds, names[0]) if len(names) > 1 else labels
    key = dict(zip(labels, first, strict=True))
    styles = variants(labels, key.__getitem__)
    members = {g: [i for i, lab in enumerate(labels) if lab == g] for g in dict.fromkeys(labels)}
    if len(names) > 1:
        parts = [group_labels(ds, n) for n in names]
        shorts = {g: " · ".join(p) for g, *p in zip(labels, *parts, strict=True)}
    else:
        shorts = {g: g for g in labels}
    seeds = ds.seed.values if "seed" in ds.coords else None
    legend = {g: _legend_name(shorts[g], idx, seeds) for g, idx in members.items()}
    return labels, members, styles, legend


def _median(v: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():  # steps no run of the group reached yet: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(v, axis=0)


def _log_ticks(lo: float, hi: float) -> dict:
    """Colour-bar ticks over ``[lo, hi]`` (log10 of the loss) labelled in loss units: round
    values (1-2-5, then finer steps), else five evenly spaced ones.

    Examples
    --------
    >>> _log_ticks(np.log10(0.3), np.log10(3))["ticktext"]
    ['0.5', '1', '2']
    >>> _log_ticks(np.log10(1.49), np.log10(3))["ticktext"]
    ['1.5', '2', '2.5', '3']
    >>> _log_ticks(np.log10(2.07), np.log10(2.29))["ticktext"]
    ['2.07', '2.12', '2.18', '2.23', '2.29']
    """
    decades = range(int(np.floor(lo)) - 1, int(np.ceil(hi)) + 1)
    for mults in (
        (1, 2, 5),
        (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8),
        (
            1,
            1.1,
            1.2,
            1.3,
            1.4,
            1.5,
            1.6,
            1.7,
            1.8,
            1.9,
            2,
            2.2,
            2.4,
            2.6,
            2.8,
            3,
            3.5,
            4,
            4.5,
            5,
            6,
            7,
            8,
            9,
        ),
    ):
        ticks = [m * 10.0**e for e in decades for m in mults]
        ticks = [t for t in ticks if lo - 1e-9 <= np.log10(t) <= hi + 1e-9]
        if len(ticks) >= 3:
            break
    else:
        ticks = (10 ** np.linspace(lo, hi, 5)).tolist() if hi > lo else [10**lo]
    return dict(tickvals=np.log10(ticks).tolist(), ticktext=[f"{t:.3g}" for t in ticks])


def _knob_marks(fig: go.Figure, ds: xr.Dataset, labels: Mapping[str, str], **where) -> None:
    """A dashed red line, with its value, at every live change the session logged of a knob in
    ``labels`` (``{knob: text before the value}``, e.g. ``{"replay_ratio": "ratio →"}``);
    ``where`` picks the subplot (``row``, ``col``)."""
    events = json.loads(ds.attrs.get("session_events", "[]") or "[]")
    for e in events:
        if e.get("name") not in labels or e.get("kind") not in (None, "knob"):
            continue
        value, head = e.get("value"), labels[e["name"]]
        text = f"{head} {value:g}" if isinstance(value, int | float) else f"{e['name']} changed"
        fig.add_vline(x=e["step"], line=dict(color="#b91c1c", width=1.5, dash="dash"), **where)
        fig.add_annotation(
            x=e["step"],
            y=1.0,
            xref="x",
            yref="paper",
            text=text,
            showarrow=False,
            yanchor="bottom",
            font=dict(size=11, color="#b91c1c"),
        )


def _layout(fig: go.Figure, title: str | None, height: int = 420) -> go.Figure:
    """The house layout of a figure with its legend below the plot: white template, ``height``
    pixels, room for the title when there is one."""
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=height,
        legend=dict(orientation="h", yanchor="top", y=-0.18, x=0),
        margin=dict(t=60 if title else 40, b=40),
    )
    return fig
