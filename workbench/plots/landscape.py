"""Figures of the landscape lab: 2-D slices of the loss as contours or surfaces with the runs'
paths over them. The lab's other figures live beside it and are re-exported here: the loss and
sharpness against its threshold (:mod:`.sharpness`), 1-D interpolations with their barrier and
the distance travelled from init (:mod:`.lines`).

The numbers come from :mod:`workbench.landscape` and :mod:`workbench.track`; this module draws
them. Every figure takes ``colours`` (a :class:`~workbench.plots.ColourMap` shared by the page,
so an LR has one colour everywhere) and tags its traces with ``meta``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from ..landscape.sharpness import sharpness_of, stability_threshold
from ._common import _log_ticks
from .colours import DASHES, ColourMap, colour_of, variants
from .lines import distance_figure, line_figure
from .sharpness import loss_and_sharpness, sharpness_table

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


#: The loss colour scale of contours and surfaces: light valleys, dark ridges, and no hue
#: (the runs' paths carry the page's colours on top of it).
COLOURSCALE = [
    [0.0, "#ffffff"],
    [0.35, "#d9dde3"],
    [0.7, "#8d96a3"],
    [1.0, "#343a44"],
]
_POINT = "#000000"  # named points (init, end of task 1, ...)


# -- slices ---------------------------------------------------------------------------------


def complete_part(grid: xr.Dataset) -> xr.Dataset:
    """What of a grid filling in (:func:`workbench.landscape.grid.iter_plane`, coarse to fine)
    to draw: the finest sub-lattice (every 1st, 2nd or 4th point of each axis, the last
    included) with every point computed, else the coarsest one, its missing points NaN (drawn
    blank). A grid without ``done``/``total`` attrs, or a finished one, is drawn whole.

    Examples
    --------
    >>> loss = np.full((5, 5), np.nan); loss[::2, ::2] = 1.0
    >>> g = xr.Dataset({"loss": (("beta", "alpha"), loss)},
    ...                coords={"alpha": np.arange(5.0), "beta": np.arange(5.0)},
    ...                attrs={"done": 9, "total": 25})
    >>> complete_part(g).alpha.values.tolist()
    [0.0, 2.0, 4.0]
    """
    if "done" not in grid.attrs or grid.attrs["done"] >= grid.attrs.get("total", 0):
        return grid
    ok = np.isfinite(grid.loss.values)
    part = grid
    for s in (1, 2, 4):
        rows = np.unique(np.r_[np.arange(0, grid.sizes["beta"], s), grid.sizes["beta"] - 1])
        cols = np.unique(np.r_[np.arange(0, grid.sizes["alpha"], s), grid.sizes["alpha"] - 1])
        part = grid.isel(beta=rows, alpha=cols)
        if ok[np.ix_(rows, cols)].all():
            return part
    return part


def _zscale(z: np.ndarray, log: bool) -> tuple[np.ndarray, dict]:
    """The values drawn (log10 of the loss if ``log``) and a colour bar with ticks in loss."""
    if not log:
        return np.where(np.isfinite(z), z, np.nan), dict(title=dict(text="loss"))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        zl = np.log10(np.where((z > 0) & np.isfinite(z), z, np.nan))
    ok = zl[np.isfinite(zl)]
    bar = dict(title=dict(text="loss (log scale)"))
    if ok.size:
        bar.update(_log_ticks(float(ok.min()), float(ok.max())))
    return zl, bar


def _axis_titles(attrs: Mapping) -> tuple[str, str]:
    """What α and β are, from a slice's provenance attrs."""
    how = str(attrs.get("directions", ""))

    def parse(key):
        try:
            return json.loads(str(attrs.get(key, "")).replace("'", '"'))
        except ValueError:
            return None

    if how in ("filter", "layer", "raw"):
        word = {"filter": "filter-normalized", "layer": "layer-normalized", "raw": "unscaled"}
        seeds = parse("seeds") or ["", ""]
        return tuple(
            f"α: random direction (seed {s}, {word[how]})"
            if k == 0
            else f"β: random direction (seed {s}, {word[how]})"
            for k, s in enumerate(seeds[:2])
        )
    if how == "pca":
        ex = parse("explained") or []
        parts = [
            f" ({100 * e:.0f}% of the path's variance)" if k < len(ex) else ""
            for k, e in enumerate((ex + [0, 0])[:2])
        ]
        return f"α: 1st principal direction{parts[0]}", f"β: 2nd principal direction{parts[1]}"
    if how == "hessian":
        ev = parse("eigenvalues") or []
        parts = [f" (λ = {e:.3g})" if k < len(ev) else "" for k, e in enumerate((ev + [0, 0])[:2])]
        return f"α: top Hessian eigenvector{parts[0]}", f"β: 2nd Hessian eigenvector{parts[1]}"
    if how == "three points":
        pts = parse("points") or {}
        names = list(pts) if isinstance(pts, dict) else []
        if len(names) == 3:
            return (
                f"α: from {names[0]} toward {names[1]} (1 = {names[1]})",
                f"β: toward {names[2]}, orthogonal to α",
            )
    return "α (direction 1)", "β (direction 2)"


def _points_of(grid: xr.Dataset, points) -> dict[str, tuple[float, float]]:
    if points is not None:
        return {str(k): (float(v[0]), float(v[1])) for k, v in points.items()}
    raw = grid.attrs.get("points")
    try:
        got = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
    return (
        {str(k): (float(v[0]), float(v[1])) for k, v in got.items()}
        if isinstance(got, dict)
        else {}
    )


def _path_styles(paths, groups, colours) -> dict[str, tuple[str, str]]:
    """``{path: (colour, dash)}``: coloured by its group, dashed by its rank in the group."""
    cmap = colour_of(colours)
    groups = dict(groups or {})
    styles = variants(list(paths), lambda name: groups.get(name, name))
    return {n: (cmap[k], DASHES[v % len(DASHES)]) for n, (k, v) in styles.items()}


def _steps_text(steps, name, n):
    s = None if steps is None else steps.get(name)
    return np.asarray(s) if s is not None and len(s) == n else np.arange(n)


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
    z = np.asarray(grid[var].values, dtype=np.float64)
    z = np.where(np.isfinite(z), z, np.nan)  # an overflowed loss (a huge span) is blank
    alpha, beta = grid.alpha.values, grid.beta.values
    zc, bar = _zscale(z, log) if var == "loss" else (z, dict(title=dict(text=var)))
    ok = np.isfinite(zc)
    fig = go.Figure()
    fig.add_contour(
        x=alpha,
        y=beta,
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
        showscale=bool(ok.any()),
    )
    styles = _path_styles(paths or {}, groups, colours)
    for name, coords in (paths or {}).items():
        c = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
        colour, dash = styles[name]
        st = _steps_text(steps, name, len(c))
        common = dict(legendgroup=name, customdata=st)
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
            **common,
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
    for name, (a, b) in _points_of(grid, points).items():
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
    if note is None and paths and str(grid.attrs.get("directions")) in ("filter", "layer", "raw"):
        note = (
            "A random direction is nearly orthogonal to any path, so paths look short on a "
            "random plane; the pca and three points planes contain them."
        )
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
    xt, yt = _axis_titles(grid.attrs)
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
    return fig


def _bilinear(alpha, beta, z, pts: np.ndarray) -> np.ndarray:
    """``z [beta, alpha]`` at the points ``pts [T, 2]`` (NaN outside the grid)."""
    a, b = pts[:, 0], pts[:, 1]
    out = np.full(len(pts), np.nan)
    inside = (a >= alpha[0]) & (a <= alpha[-1]) & (b >= beta[0]) & (b <= beta[-1])
    if not inside.any():
        return out
    i = np.clip(np.searchsorted(alpha, a[inside]) - 1, 0, len(alpha) - 2)
    j = np.clip(np.searchsorted(beta, b[inside]) - 1, 0, len(beta) - 2)
    ta = (a[inside] - alpha[i]) / (alpha[i + 1] - alpha[i])
    tb = (b[inside] - beta[j]) / (beta[j + 1] - beta[j])
    out[inside] = (
        z[j, i] * (1 - ta) * (1 - tb)
        + z[j, i + 1] * ta * (1 - tb)
        + z[j + 1, i] * (1 - ta) * tb
        + z[j + 1, i + 1] * ta * tb
    )
    return out


def surface_figure(
    grid: xr.Dataset,
    *,
    paths: Mapping[str, np.ndarray] | None = None,
    points: Mapping[str, tuple[float, float]] | None = None,
    colours: ColourMap | Mapping[str, str] | None = None,
    groups: Mapping[str, str] | None = None,
    title: str | None = None,
    log: bool = True,
    height: int = 620,
) -> go.Figure:
    """The slice of :func:`contour_figure` as a 3-D surface, the paths and points lying on it
    (their height read off the grid; parts outside the grid are not drawn).

    Examples
    --------
    >>> g = xr.Dataset({"loss": (("beta", "alpha"), [[1.0, 2.0], [3.0, 4.0]])},
    ...                coords={"alpha": [0.0, 1.0], "beta": [0.0, 1.0]})
    >>> fig = surface_figure(g, paths={"a": np.array([[0.5, 0.5]])}, log=False)
    >>> fig.data[0].type, float(fig.data[1].z[0])
    ('surface', 2.5)
    """
    grid = complete_part(grid)
    z = np.asarray(grid.loss.values, dtype=np.float64)
    z = np.where(np.isfinite(z), z, np.nan)
    alpha, beta = grid.alpha.values.astype(float), grid.beta.values.astype(float)
    zc, bar = _zscale(z, log)
    fig = go.Figure()
    fig.add_surface(
        x=alpha,
        y=beta,
        z=zc,
        customdata=z,
        colorscale=COLOURSCALE,
        colorbar=dict(**bar, len=0.75, thickness=14),
        hovertemplate="α %{x:.3g}, β %{y:.3g}<br>loss %{customdata:.4g}<extra></extra>",
        meta={"grid": "loss"},
        name="loss",
        contours=dict(z=dict(show=True, usecolormap=False, color="#555555", width=1)),
    )
    styles = _path_styles(paths or {}, groups, colours)
    lift = 0.02 * (np.nanmax(zc) - np.nanmin(zc)) if np.isfinite(zc).any() else 0.0
    for name, coords in (paths or {}).items():
        c = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
        colour, dash = styles[name]
        h = _bilinear(alpha, beta, zc, c) + lift
        c = np.where(np.isfinite(h)[:, None], c, np.nan)  # off the grid: not drawn
        fig.add_scatter3d(
            x=c[:, 0],
            y=c[:, 1],
            z=h,
            mode="lines+markers",
            line=dict(color=colour, width=6, dash=dash),
            marker=dict(size=2, color=colour),
            name=name,
            meta={"path": name},
        )
    for name, (a, b) in _points_of(grid, points).items():
        h = _bilinear(alpha, beta, zc, np.array([[a, b]])) + 2 * lift
        fig.add_scatter3d(
            x=[a],
            y=[b],
            z=h,
            mode="markers+text",
            marker=dict(size=5, color=_POINT, symbol="diamond"),
            text=[name],
            showlegend=False,
            name=name,
            meta={"point": name},
        )
    xt, yt = _axis_titles(grid.attrs)
    ztitle = "loss (log scale)" if log else "loss"
    zaxis = dict(title=dict(text=ztitle))
    if log and "tickvals" in bar:
        zaxis.update(tickvals=bar["tickvals"], ticktext=bar["ticktext"])
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=height,
        scene=dict(
            xaxis=dict(title=dict(text=xt.split(":")[0]), range=[alpha[0], alpha[-1]]),
            yaxis=dict(title=dict(text=yt.split(":")[0]), range=[beta[0], beta[-1]]),
            zaxis=zaxis,
            camera=dict(eye=dict(x=1.5, y=-1.5, z=0.9)),
        ),
        legend=dict(orientation="h", yanchor="top", y=0.0, x=0, title=dict(text="path")),
        margin=dict(l=10, r=10, t=50 if title else 20, b=10),
    )
    return fig
