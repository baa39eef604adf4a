"""Directions in parameter space for landscape slices, with explicit seeds.

A raw direction is ``N(0, 1)`` per parameter from a ``torch.Generator`` seeded with ``seed``, so
the same seed gives the same raw direction for every run of an architecture (slices of
different runs are comparable). Normalizations (Li et al. 2018, "Visualizing the loss landscape
of neural nets"), against the parameters ``theta`` of the point the slice goes through:

- ``"filter"``: every filter of the direction gets the norm of the matching filter of
  ``theta``. Weights are stored ``[in, out]``, so a filter is an *output column* of a 2-D
  weight (``role`` ``"weight"`` or ``"head"``); an embedding's filter is a token's row.
  Biases and normalization parameters (``role`` ``"bias"``/``"norm"``) are zeroed, as the paper
  does (scaling them per element, as some code does, distorts the picture).
- ``"layer"``: every parameter tensor gets the norm of the matching tensor of ``theta``.
- ``None``: the raw direction.
"""

from __future__ import annotations

import torch

from ..models.base import Layout

__all__ = ["random_direction", "normalize_direction", "pca_directions", "NORMALIZATIONS"]

NORMALIZATIONS = ("filter", "layer", None)


def random_direction(
    layout: Layout,
    seed: int,
    *,
    theta: torch.Tensor | None = None,
    normalize: str | None = "filter",
) -> torch.Tensor:
    """A direction ``[P]`` drawn from ``seed`` and normalized against ``theta [P]``.

    Examples
    --------
    >>> from workbench.models import MLP
    >>> layout = MLP(hidden=(4,)).layout(3, 2)
    >>> d = random_direction(layout, 0, normalize=None)
    >>> d.shape, bool(torch.equal(d, random_direction(layout, 0, normalize=None)))
    (torch.Size([26]), True)
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"random_direction: seed={seed!r} must be an int >= 0")
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(layout.size, generator=g, dtype=torch.float64)
    if normalize is None:
        return d.to(torch.float32 if theta is None else theta.dtype)
    if theta is None:
        raise ValueError(f"random_direction: normalize={normalize!r} needs theta (the point)")
    return normalize_direction(d.to(theta.device, theta.dtype), theta, layout, normalize)


def normalize_direction(
    d: torch.Tensor, theta: torch.Tensor, layout: Layout, how: str | None = "filter"
) -> torch.Tensor:
    """``d [P]`` scaled filter by filter (or tensor by tensor) to the norms of ``theta [P]``.

    Examples
    --------
    >>> from workbench.models import MLP
    >>> layout = MLP(hidden=(4,)).layout(3, 2)
    >>> theta = torch.randn(layout.size)
    >>> d = normalize_direction(torch.randn(layout.size), theta, layout, "filter")
    >>> w, dw = layout.views(theta[None])[0][0], layout.views(d[None])[0][0]  # [in, out]
    >>> bool(torch.allclose(dw.norm(dim=0), w.norm(dim=0)))
    True
    >>> float(layout.views(d[None])[1].abs().sum())  # the first bias: zeroed
    0.0
    """
    if how not in NORMALIZATIONS:
        raise ValueError(f"normalize_direction: how={how!r}; allowed: 'filter', 'layer', None")
    if d.shape != theta.shape or d.shape != (layout.size,):
        raise ValueError(
            f"normalize_direction: d {tuple(d.shape)} and theta {tuple(theta.shape)} must both "
            f"be [{layout.size}]"
        )
    if how is None:
        return d.clone()
    out = d.clone()
    eps = torch.finfo(d.dtype).tiny
    views = zip(layout.params, layout.views(out[None]), layout.views(theta[None]), strict=True)
    for info, dv, wv in views:
        dv, wv = dv[0], wv[0]
        if info.role in ("bias", "norm"):
            dv.zero_()
        elif how == "layer" or len(info.shape) != 2:
            dv.mul_(wv.norm() / dv.norm().clamp_min(eps))
        elif info.role == "embedding":  # a token's vector is a filter
            dv.mul_(wv.norm(dim=1, keepdim=True) / dv.norm(dim=1, keepdim=True).clamp_min(eps))
        else:  # [in, out]: an output column is a filter
            dv.mul_(wv.norm(dim=0, keepdim=True) / dv.norm(dim=0, keepdim=True).clamp_min(eps))
    return out


def pca_directions(
    points: torch.Tensor, *, center: torch.Tensor | None = None, k: int = 2
) -> dict[str, torch.Tensor]:
    """The top ``k`` principal directions of a trajectory ``points [T, P]`` around ``center``
    (default its last point, as Li et al. 2018 do: the path converges there), and each point's
    coordinates along them.

    Returns ``{"directions": [k, P] (orthonormal), "coords": [T, k], "explained": [k]}``,
    ``explained`` the share of the trajectory's variance (about ``center``) each direction
    carries. A random plane captures almost none of a trajectory; these two usually most.

    Examples
    --------
    >>> t = torch.linspace(0, 1, 20)[:, None]
    >>> path = torch.cat([t, t**2, torch.zeros(20, 3)], 1)  # a curve in the first two axes
    >>> out = pca_directions(path)
    >>> round(float(out["explained"].sum()), 6), out["coords"].shape
    (1.0, torch.Size([20, 2]))
    """
    if points.dim() != 2 or points.shape[0] < 2:
        raise ValueError(f"pca_directions: points {tuple(points.shape)} must be [T >= 2, P]")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= min(points.shape):
        raise ValueError(f"pca_directions: k={k!r} must be an int from 1 to {min(points.shape)}")
    c = points[-1] if center is None else center
    m = (points - c).double()
    _, s, vh = torch.linalg.svd(m, full_matrices=False)
    dirs = vh[:k]
    total = (s**2).sum().clamp_min(1e-300)
    return {
        "directions": dirs.to(points.dtype),
        "coords": (m @ dirs.T).to(points.dtype),
        "explained": ((s[:k] ** 2) / total).to(points.dtype),
    }
