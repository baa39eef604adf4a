"""1-D and 2-D slices of the loss landscape, every point evaluated in one batched pass.

A slice is a set of parameter rows ``center + a·d1 (+ b·d2)``; rows are built and evaluated
``chunk`` at a time (:func:`~workbench.landscape.loss_of`), so a 51 x 51 grid of a model of
``P`` parameters never holds more than ``chunk x P`` numbers at once. An MLP's points skip
their first layer: its output is a combination of the first layer's products with the center
and the directions, computed once (:class:`~workbench.landscape.evaluate.SliceEvaluator`).
Results are ``xarray`` Datasets (``loss``, ``acc``) over ``alpha`` (and ``beta``), the
directions' provenance in attrs. A slice has at most ``MAX_GRID_POINTS`` points.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from ..models import MLP, Transformer
from .evaluate import SliceEvaluator, layout_of

__all__ = ["line", "plane", "plane_through", "MAX_GRID_POINTS"]

#: The most points one slice may have (a 256 x 256 plane): W1's 51 x 51 grid on 1,000 examples
#: takes about 1.5 s on one CPU core, so the cap is about 40 s there; a million points (a slip
#: of 1000 x 1000) is refused with a ValueError instead of running for hours.
MAX_GRID_POINTS = 256 * 256


def _evaluate(model, data, center, dirs, coords, *, split, size, chunk) -> tuple:
    """Loss and accuracy at ``center + coords @ dirs`` for every row of ``coords [K, D]``: an
    MLP by its first-layer products (:class:`~workbench.landscape.evaluate.SliceEvaluator`),
    any other family row by row, ``chunk`` rows at a time."""
    ev = SliceEvaluator(model, data, center, dirs, split=split, size=size, chunk=chunk)
    return ev(coords)


def _check(caller: str, model, data, **points: torch.Tensor) -> None:
    """Every named point or direction is one row ``[P]`` of the model's layout."""
    size = layout_of(model, data).size
    for name, p in points.items():
        if not isinstance(p, torch.Tensor):
            raise ValueError(f"{caller}: {name} must be a tensor [{size}], got {type(p).__name__}")
        if p.shape != (size,):
            raise ValueError(
                f"{caller}: {name} of shape {tuple(p.shape)} must be [{size}] "
                f"(one row of {type(model).__name__}'s layout on this data)"
            )


def _resolution(caller: str, name: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"{caller}: {name}={n!r} must be an int >= 2 (points along the axis)")
    if n > MAX_GRID_POINTS:
        raise ValueError(
            f"{caller}: {name}={n:,} points; at most MAX_GRID_POINTS = {MAX_GRID_POINTS:,}"
        )
    return int(n)


def _axis(caller: str, name: str, values) -> np.ndarray:
    """The values along one axis of a slice: at least 2, finite, strictly increasing."""
    try:
        a = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{caller}: {name} must be a sequence of numbers") from None
    if a.ndim != 1 or a.size < 2:
        raise ValueError(
            f"{caller}: {name} of shape {a.shape} must be a 1-D sequence of at least 2 values"
        )
    if a.size > MAX_GRID_POINTS:
        raise ValueError(
            f"{caller}: {name} has {a.size:,} values; at most MAX_GRID_POINTS = {MAX_GRID_POINTS:,}"
        )
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{caller}: {name}[{i}]={a[i]} must be finite")
    down = np.flatnonzero(np.diff(a) <= 0)
    if down.size:
        i = int(down[0]) + 1
        raise ValueError(
            f"{caller}: {name} must be strictly increasing; {name}[{i}]={a[i]:g} follows "
            f"{name}[{i - 1}]={a[i - 1]:g}"
        )
    return a


def _grid_size(caller: str, alphas: np.ndarray, betas: np.ndarray) -> None:
    n = alphas.size * betas.size
    if n > MAX_GRID_POINTS:
        side = int(MAX_GRID_POINTS**0.5)
        raise ValueError(
            f"{caller}: alphas x betas = {alphas.size:,} x {betas.size:,} = {n:,} points; at "
            f"most MAX_GRID_POINTS = {MAX_GRID_POINTS:,} (e.g. {side} x {side})"
        )


def _chunk(caller: str, chunk) -> int:
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"{caller}: chunk={chunk!r} must be an int >= 1")
    return chunk


def line(
    model: MLP | Transformer,
    a: torch.Tensor,
    b: torch.Tensor,
    data,
    *,
    alphas: Sequence[float] | int = 25,
    split: str = "train",
    size: int = 512,
    chunk: int = 256,
) -> xr.Dataset:
    """Loss and accuracy along ``(1 − α)·a + α·b`` (``alphas``: values, finite and strictly
    increasing, or a count >= 2 from 0 to 1), and the **barrier**: the largest excess of the
    loss over the straight line between its end values, ``max_α L(α) − ((1 − α)·L(0) +
    α·L(1))`` over ``0 <= α <= 1`` (Frankle et al. 2020), in ``attrs["barrier"]`` (0 when the
    path is convex; only the ``alphas`` evaluated count; points outside [0, 1] are drawn but
    are not between the two ends, so they never count).

    Examples
    --------
    >>> from workbench.models import StackedModel
    >>> m = StackedModel(MLP(hidden=(8,)), in_dim=64, out_dim=10, seeds=[0, 1])
    >>> ds = line(MLP(hidden=(8,)), m.flat[0], m.flat[1], "digits", alphas=5, size=64)
    >>> ds.loss.dims, ds.alpha.values.tolist()
    (('alpha',), [0.0, 0.25, 0.5, 0.75, 1.0])
    """
    _check("line", model, data, a=a, b=b)
    _chunk("line", chunk)
    if isinstance(alphas, (int, np.integer)) and not isinstance(alphas, bool):
        al = np.linspace(0, 1, _resolution("line", "alphas", alphas))
    else:
        al = _axis("line", "alphas", alphas)
    loss, acc = _evaluate(model, data, a, [b - a], al[:, None], split=split, size=size, chunk=chunk)
    inside = (al >= 0.0) & (al <= 1.0)
    ends = np.interp(al[inside], [0.0, 1.0], [_at(al, loss, 0.0), _at(al, loss, 1.0)])
    barrier = float(np.max(loss[inside] - ends)) if np.isfinite(ends).all() else float("nan")
    return xr.Dataset(
        {"loss": ("alpha", loss), "acc": ("alpha", acc)},
        coords={"alpha": al},
        attrs={"barrier": barrier, "kind": "line", "split": split, "examples": size},
    )


def _at(x: np.ndarray, y: np.ndarray, where: float) -> float:
    hit = np.flatnonzero(np.isclose(x, where))
    return float(y[hit[0]]) if len(hit) else float("nan")


def plane(
    model: MLP | Transformer,
    center: torch.Tensor,
    d1: torch.Tensor,
    d2: torch.Tensor,
    data,
    *,
    alphas: Sequence[float],
    betas: Sequence[float],
    split: str = "train",
    size: int = 512,
    chunk: int = 256,
    provenance: dict | None = None,
) -> xr.Dataset:
    """Loss and accuracy on the grid ``center + α·d1 + β·d2``, dims ``(beta, alpha)``.

    ``alphas`` and ``betas``: at least 2 values each, finite and strictly increasing, at most
    ``MAX_GRID_POINTS`` (65,536) points in all; ``center``, ``d1``, ``d2``: rows ``[P]`` of the
    model's layout (a ValueError names the input otherwise). ``provenance`` (how the
    directions were made: seeds, normalization, points) goes into the attrs, so a saved slice
    says what it is. An MLP is evaluated by its first-layer products
    (:class:`~workbench.landscape.evaluate.SliceEvaluator`). For a grid that shows itself
    while it fills in, see :func:`~workbench.landscape.grid.iter_plane`.

    Examples
    --------
    >>> from workbench.models import StackedModel
    >>> from workbench.landscape import random_direction
    >>> m = StackedModel(MLP(hidden=(8,)), in_dim=64, out_dim=10, seeds=[0])
    >>> d1, d2 = (random_direction(m.layout, s, theta=m.flat[0]) for s in (1, 2))
    >>> g = plane(MLP(hidden=(8,)), m.flat[0], d1, d2, "digits", alphas=[-1, 0, 1],
    ...           betas=[-1, 0, 1], size=64, provenance={"seeds": [1, 2]})
    >>> g.loss.shape, g.attrs["seeds"]
    ((3, 3), '[1, 2]')
    """
    al, be = _plane_inputs("plane", model, data, center, d1, d2, alphas, betas, chunk)
    coords = _plane_coords(al, be)
    loss, acc = _evaluate(
        model, data, center, [d1, d2], coords, split=split, size=size, chunk=chunk
    )
    shape = (be.size, al.size)
    return _plane_dataset(al, be, loss.reshape(shape), acc.reshape(shape), split, size, provenance)


def _plane_inputs(caller, model, data, center, d1, d2, alphas, betas, chunk) -> tuple:
    """The checked axes ``(alphas, betas)`` of a plane (every other input checked too)."""
    _check(caller, model, data, center=center, d1=d1, d2=d2)
    al, be = _axis(caller, "alphas", alphas), _axis(caller, "betas", betas)
    _grid_size(caller, al, be)
    _chunk(caller, chunk)
    return al, be


def _plane_coords(al: np.ndarray, be: np.ndarray) -> np.ndarray:
    """``[len(be) * len(al), 2]``: the ``(alpha, beta)`` of every point, ``beta``-major."""
    bb, aa = np.meshgrid(be, al, indexing="ij")  # (beta, alpha)
    return np.stack([aa.ravel(), bb.ravel()], 1)


def _plane_dataset(al, be, loss, acc, split, size, provenance, **extra) -> xr.Dataset:
    attrs = {"kind": "plane", "split": split, "examples": size}
    attrs.update({k: str(v) for k, v in (provenance or {}).items()})
    attrs.update(extra)
    return xr.Dataset(
        {"loss": (("beta", "alpha"), loss), "acc": (("beta", "alpha"), acc)},
        coords={"alpha": al, "beta": be},
        attrs=attrs,
    )


def plane_through(
    model: MLP | Transformer,
    p0: torch.Tensor,
    p1: torch.Tensor,
    p2: torch.Tensor,
    data,
    *,
    resolution: int = 25,
    margin: float = 0.25,
    split: str = "train",
    size: int = 512,
    chunk: int = 256,
) -> xr.Dataset:
    """The plane through three points (e.g. init, end of task 1, end of task 2): ``p0`` at the
    origin, ``d1 = p1 − p0``, ``d2`` the part of ``p2 − p0`` orthogonal to ``d1`` (Gram-Schmidt),
    so the axes are in units of ``‖d1‖`` and ``‖d2‖``; the grid covers the three points with a
    ``margin`` around them. The points' coordinates are ``attrs["points"]`` (``[(0, 0), (1, 0),
    (a2, 1)]``, as JSON so the slice saves to netCDF).

    Examples
    --------
    >>> from workbench.models import StackedModel
    >>> m = StackedModel(MLP(hidden=(8,)), in_dim=64, out_dim=10, seeds=[0, 1, 2])
    >>> g = plane_through(MLP(hidden=(8,)), *m.flat, "digits", resolution=5, size=64)
    >>> g.loss.shape, json.loads(g.attrs["points"])[:2]
    ((5, 5), [[0.0, 0.0], [1.0, 0.0]])
    """
    _check("plane_through", model, data, p0=p0, p1=p1, p2=p2)
    _resolution("plane_through", "resolution", resolution)
    if resolution**2 > MAX_GRID_POINTS:
        raise ValueError(
            f"plane_through: resolution={resolution} gives {resolution**2:,} points; at most "
            f"MAX_GRID_POINTS = {MAX_GRID_POINTS:,} (resolution <= {int(MAX_GRID_POINTS**0.5)})"
        )
    if (
        isinstance(margin, bool)
        or not isinstance(margin, (int, float))
        or not (np.isfinite(margin) and margin >= 0)
    ):
        raise ValueError(f"plane_through: margin={margin!r} must be a finite number >= 0")
    d1 = p1 - p0
    v = p2 - p0
    a2 = float(v @ d1 / (d1 @ d1))
    d2 = v - a2 * d1
    if float(d2.norm()) <= 1e-4 * float(v.norm()):  # float32: collinear up to rounding
        raise ValueError("plane_through: the three points are on one line; no plane")
    lo_a, hi_a = min(0.0, a2) - margin, max(1.0, a2) + margin
    al = np.linspace(lo_a, hi_a, resolution)
    be = np.linspace(-margin, 1.0 + margin, resolution)
    ds = plane(model, p0, d1, d2, data, alphas=al, betas=be, split=split, size=size, chunk=chunk)
    ds.attrs.update(
        kind="plane through three points", norms=str([float(d1.norm()), float(d2.norm())])
    )
    ds.attrs["points"] = json.dumps([[0.0, 0.0], [1.0, 0.0], [round(a2, 6), 1.0]])
    return ds
