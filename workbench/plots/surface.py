"""The 3-D view of a loss slice: :func:`surface_figure`, the surface with the runs' paths and
the named points lying on it (re-exported by :mod:`.landscape`, beside the contours it shares
its colours, axis titles and points with).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
import xarray as xr

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
    """The slice of :func:`~.landscape.contour_figure` as a 3-D surface, the paths and points
    lying on it (their height read off the grid; parts outside the grid are not drawn).

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
