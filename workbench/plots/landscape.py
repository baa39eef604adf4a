"""Figures of the landscape lab: 2-D slices of the loss as contours (:func:`contour_figure`) or
surfaces (:func:`~.surface.surface_figure`, in :mod:`.surface`) with the runs' paths over them.
The lab's other figures live beside it and are re-exported here: the loss and sharpness against
its threshold (:mod:`.sharpness`), 1-D interpolations with their barrier and the distance
travelled from init (:mod:`.lines`).

The numbers come from :mod:`workbench.landscape` and :mod:`workbench.track`; this module draws
them. Every figure takes ``colours`` (a :class:`~workbench.plots.ColourMap` shared by the page,
so an LR has one colour everywhere) and tags its traces with ``meta``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from ..landscape.sharpness import sharpness_of, stability_threshold
from ._slice_parts import (
    _POINT,
    COLOURSCALE,
    _axis_titles,
    _path_styles,
    _points_of,
    _zscale,
    complete_part,
)
from .colours import ColourMap
from .lines import distance_figure, line_figure
from .sharpness import loss_and_sharpness, sharpness_table
from .surface import surface_figure

__all__ = [
    "COLOURSCALE",
    "complete_part",
    "contour_figure",
    "distance_figure",
    "line_figure",
    "loss_and_sharpness",
    "sharpness_of",
    "sharpness_table",
    "stability_threshold",
    "surface_figure",
]

# the note under a random plane with paths (``contour_figure``'s default)
_RANDOM_PLANE_NOTE = (
    "A random direction is nearly orthogonal to any path, so paths look short on a "
    "random plane; the pca and three points planes contain them."
)


def contour_figure(
    grid: xr.Dataset,
    *,
    paths: Mapping[str, np.ndarray] | None = None,
    points: Mapping[str, tuple[float, float]] | None = None,
    colours: ColourMap | Mapping[str, str] | None = None,
    groups: Mapping[str, str] | None = None,
    steps: Mapping[str, np.ndarray] | None = None,
    title: str | None = None,
    log: bool = True,
    var: str = "loss",
    height: int = 600,
    note: str | None = None,
) -> go.Figure:
    """The loss on a 2-D slice (``grid``: ``loss`` over ``(beta, alpha)``, e.g.
    :func:`workbench.landscape.plane`) as filled contours, with paths and named points on top.

    Parameters
    ----------
    grid
        The slice; a grid filling in is drawn by its finest complete part
        (:func:`complete_part`), points not computed yet blank.
    paths
        ``{name: coords [T, 2]}`` (:func:`workbench.landscape.paths.project_paths`): each a
        line with small markers, a ring at its start and a large dot at its end.
    points
        ``{name: (α, β)}`` marked with a star and their name (default: the grid's
        ``points`` attr, as a plane through three snapshots has).
    colours, groups
        A path's colour is that of its group (``groups[name]``, default the name itself) in
        ``colours``; the paths of one group after the first are dashed.
    steps
        ``{name: steps [T]}`` shown on hover.
    log
        Colour by ``log10`` of the loss (a colour bar in loss units): the basin's floor and
        the walls both show.
    note
        A line under the plot (default: on a random plane with paths, why they look short).

    Traces carry ``meta``: ``{"grid": var}``, ``{"path": name}``, ``{"end": name}``,
    ``{"start": name}``, ``{"point": name}``.

    Examples
    --------
    >>> g = xr.Dataset({"loss": (("beta", "alpha"), [[1.0, 2.0], [np.nan, 4.0]])},
    ...                coords={"alpha": [0.0, 1.0], "beta": [0.0, 1.0]})
    >>> fig = contour_figure(g, paths={"a": np.array([[0.0, 0.0], [0.5, 0.5]])})
    >>> [t.meta for t in fig.data]
    [{'grid': 'loss'}, {'path': 'a'}, {'start': 'a'}, {'end': 'a'}]
    """
    window = (grid.alpha.values, grid.beta.values)
    grid = complete_part(grid)
    fig = go.Figure()
    _add_filled_contour(fig, grid, var, log)
    styles = _path_styles(paths or {}, groups, colours)
    for name, coords in (paths or {}).items():
        _add_path(fig, name, coords, styles[name], steps)
    for name, (a, b) in _points_of(grid, points).items():
        _add_point(fig, name, a, b)
    if note is None and paths and str(grid.attrs.get("directions")) in ("filter", "layer", "raw"):
        note = _RANDOM_PLANE_NOTE
    _contour_layout(fig, grid.attrs, window, title=title, height=height, note=note)
    return fig


def _add_filled_contour(fig: go.Figure, grid: xr.Dataset, var: str, log: bool) -> None:
    """``grid[var]`` as filled contours (the loss as ``log10`` if ``log``), blank where not
    computed or overflowed; no colour bar when nothing is computed yet."""
    z = np.asarray(grid[var].values, dtype=np.float64)
    z = np.where(np.isfinite(z), z, np.nan)  # an overflowed loss (a huge span) is blank
    zc, bar = _zscale(z, log) if var == "loss" else (z, dict(title=dict(text=var)))
    fig.add_contour(
        x=grid.alpha.values,
        y=grid.beta.values,
        z=zc,
        customdata=z,
        colorscale=COLOURSCALE,
        reversescale=var == "acc",
        ncontours=24,
        connectgaps=False,
        contours=dict(coloring="heatmap", showlines=True),
        line=dict(width=0.6, color="rgba(60,60,60,0.45)"),
        colorbar=dict(**bar, len=0.85, thickness=14),
        hovertemplate=f"α %{{x:.3g}}, β %{{y:.3g}}<br>{var} %{{customdata:.4g}}<extra></extra>",
        meta={"grid": var},
        name=var,
        showscale=bool(np.isfinite(zc).any()),
    )


def _steps_text(steps, name, n):
    s = None if steps is None else steps.get(name)
    return np.asarray(s) if s is not None and len(s) == n else np.arange(n)


def _add_path(fig: go.Figure, name: str, coords, style: tuple[str, str], steps) -> None:
    """One path: a line with small markers (its steps on hover), a ring at its start and a
    large dot at its end."""
    c = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    colour, dash = style
    st = _steps_text(steps, name, len(c))
    hover = f"{name}<br>step %{{customdata}}<br>α %{{x:.3g}}, β %{{y:.3g}}<extra></extra>"
    fig.add_scatter(
        x=c[:, 0],
        y=c[:, 1],
        mode="lines+markers",
        line=dict(color=colour, width=2.5, dash=dash),
        marker=dict(size=4, color=colour),
        name=name,
        meta={"path": name},
        hovertemplate=hover,
        legendgroup=name,
        customdata=st,
    )
    for where, meta, marker in (
        (0, "start", dict(size=9, color="white", line=dict(color=colour, width=2.5))),
        (-1, "end", dict(size=13, color=colour, line=dict(color="white", width=1.5))),
    ):
        fig.add_scatter(
            x=c[where:][:1, 0],
            y=c[where:][:1, 1],
            mode="markers",
            marker=marker,
            showlegend=False,
            name=f"{name} ({meta})",
            meta={meta: name},
            hovertemplate=f"{name}: {meta} of the path<br>step %{{customdata}}<extra></extra>",
            legendgroup=name,
            customdata=st[where:][:1],
        )


def _add_point(fig: go.Figure, name: str, a: float, b: float) -> None:
    """A named point at ``(a, b)``: a star with its name above it."""
    fig.add_scatter(
        x=[a],
        y=[b],
        mode="markers+text",
        marker=dict(symbol="star", size=15, color=_POINT, line=dict(color="white", width=1)),
        text=[name],
        textposition="top center",
        textfont=dict(size=13, color=_POINT),
        showlegend=False,
        name=name,
        meta={"point": name},
        hovertemplate=f"{name}<br>α %{{x:.3g}}, β %{{y:.3g}}<extra></extra>",
    )


def _contour_layout(fig: go.Figure, attrs: Mapping, window, *, title, height, note) -> None:
    """The note under the plot, the axes (titled from the slice's provenance ``attrs``, over the
    whole ``window`` of the grid however much is computed) and the legend under them."""
    if note:
        fig.add_annotation(
            text=note,
            xref="paper",
            yref="paper",
            x=0,
            y=0,
            yshift=-62,
            xanchor="left",
            yanchor="top",
            showarrow=False,
            font=dict(size=12, color="#555555"),
        )
    xt, yt = _axis_titles(attrs)
    fig.update_xaxes(title_text=xt, range=[float(window[0].min()), float(window[0].max())])
    fig.update_yaxes(title_text=yt, range=[float(window[1].min()), float(window[1].max())])
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=height,
        legend=dict(
            orientation="h",
            yanchor="top",
            y=-(88 if note else 62) / (height - 170),
            x=0,
            title=dict(text="path"),
        ),
        margin=dict(l=70, r=20, t=60 if title else 30, b=140),
    )
