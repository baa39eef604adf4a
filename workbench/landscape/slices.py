"""1-D and 2-D slices of the loss landscape, every point evaluated in one batched pass.

A slice is a set of parameter rows ``center + a·d1 (+ b·d2)``; rows are built and evaluated
``chunk`` at a time (:func:`~workbench.landscape.loss_of`), so a 51 x 51 grid of a model of
``P`` parameters never holds more than ``chunk x P`` numbers at once. Results are ``xarray``
Datasets (``loss``, ``acc``) over ``alpha`` (and ``beta``), the directions' provenance in attrs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from ..models import MLP, Transformer
from .evaluate import layout_of, loss_of, probe_data

__all__ = ["line", "plane", "plane_through"]


def _evaluate(model, data, center, dirs, coords, *, split, size, chunk) -> tuple:
    """Loss and accuracy at ``center + coords @ dirs`` for every row of ``coords [K, D]``."""
    batch = probe_data(model, data, split=split, size=size, device=center.device)
    c = torch.as_tensor(coords, dtype=center.dtype, device=center.device)  # (K, D)
    d = torch.stack(list(dirs)).to(center)  # (D, P)
    losses, accs = [], []
    for lo in range(0, c.shape[0], chunk):
        rows = center[None] + c[lo : lo + chunk] @ d  # (k, P)
        loss, acc = loss_of(model, rows, data, batch=batch)
        losses.append(loss.cpu())
        accs.append(acc.cpu())
    return torch.cat(losses).numpy(), torch.cat(accs).numpy()


def _check(model, data, *points: torch.Tensor) -> None:
    size = layout_of(model, data).size
    for p in points:
        if p.shape != (size,):
            raise ValueError(
                f"landscape: a point or direction of shape {tuple(p.shape)} must be [{size}] "
                f"(one row of {type(model).__name__}'s layout on this data)"
            )


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
    """Loss and accuracy along ``(1 − α)·a + α·b`` (``alphas``: values, or a count from 0 to
    1), and the **barrier**: the largest excess of the loss over the straight line between its
    end values, ``max_α L(α) − ((1 − α)·L(0) + α·L(1))`` (Frankle et al. 2020), in
    ``attrs["barrier"]`` (0 when the path is convex; only the ``alphas`` evaluated count).

    Examples
    --------
    >>> from workbench.models import StackedModel
    >>> m = StackedModel(MLP(hidden=(8,)), in_dim=64, out_dim=10, seeds=[0, 1])
    >>> ds = line(MLP(hidden=(8,)), m.flat[0], m.flat[1], "digits", alphas=5, size=64)
    >>> ds.loss.dims, ds.alpha.values.tolist()
    (('alpha',), [0.0, 0.25, 0.5, 0.75, 1.0])
    """
    _check(model, data, a, b)
    al = np.linspace(0, 1, alphas) if isinstance(alphas, int) else np.asarray(alphas, float)
    loss, acc = _evaluate(model, data, a, [b - a], al[:, None], split=split, size=size, chunk=chunk)
    ends = np.interp(al, [0.0, 1.0], [_at(al, loss, 0.0), _at(al, loss, 1.0)])
    barrier = float(np.max(loss - ends)) if np.isfinite(ends).all() else float("nan")
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

    ``provenance`` (how the directions were made: seeds, normalization, points) goes into the
    attrs, so a saved slice says what it is.

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
    _check(model, data, center, d1, d2)
    al, be = np.asarray(alphas, float), np.asarray(betas, float)
    bb, aa = np.meshgrid(be, al, indexing="ij")  # (beta, alpha)
    coords = np.stack([aa.ravel(), bb.ravel()], 1)
    loss, acc = _evaluate(
        model, data, center, [d1, d2], coords, split=split, size=size, chunk=chunk
    )
    attrs = {"kind": "plane", "split": split, "examples": size}
    attrs.update({k: str(v) for k, v in (provenance or {}).items()})
    return xr.Dataset(
        {
            "loss": (("beta", "alpha"), loss.reshape(bb.shape)),
            "acc": (("beta", "alpha"), acc.reshape(bb.shape)),
        },
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
    _check(model, data, p0, p1, p2)
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
