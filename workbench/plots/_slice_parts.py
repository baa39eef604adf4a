"""The pieces the slice figures share (:func:`~.landscape.contour_figure` and
:func:`~.surface.surface_figure`): the loss colour scale, the part of a grid filling in that is
drawn (:func:`complete_part`, public in :mod:`.landscape`), the values drawn with their colour
bar, the axis titles from a slice's provenance, its named points and the paths' styles.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import xarray as xr

from ._common import _log_ticks
from .colours import DASHES, colour_of, variants

#: The loss colour scale of contours and surfaces: light valleys, dark ridges, and no hue
#: (the runs' paths carry the page's colours on top of it).
COLOURSCALE = [
    [0.0, "#ffffff"],
    [0.35, "#d9dde3"],
    [0.7, "#8d96a3"],
    [1.0, "#343a44"],
]
_POINT = "#000000"  # named points (init, end of task 1, ...)


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
