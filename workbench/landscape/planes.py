"""A plane in parameter space with the trajectories that cross it.

A :class:`Plane` is a centre and two directions (``center + a·d1 + b·d2``) with their
provenance. Any parameter vector projects onto it (:meth:`Plane.project`: least squares on the
two directions, so a point in the plane lands exactly on its coordinates and a point off it on
its nearest point), which is how a run's snapshots become a path drawn over a contour, and how
a live run's path grows as snapshots arrive. :func:`plane_of` makes the plane a lab asks for
from a run's snapshots: random (filter-, layer- or un-normalized, seeds shared across runs),
the trajectory's principal directions, the top Hessian eigenvectors, or three snapshots.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import torch

from .directions import pca_directions, random_direction
from .evaluate import layout_of, probe_data

__all__ = ["Plane", "plane_of", "DIRECTIONS"]

#: How :func:`plane_of` chooses the plane's directions.
DIRECTIONS = ("filter", "layer", "raw", "pca", "hessian", "three points")


@dataclass
class Plane:
    """``center + a·d1 + b·d2`` (all ``[P]``), ``provenance`` saying how it was made, and for
    a plane through points, the ``points`` they lie at (``(a, b)`` each) with their names."""

    center: torch.Tensor
    d1: torch.Tensor
    d2: torch.Tensor
    provenance: dict = field(default_factory=dict)
    points: dict[str, tuple[float, float]] = field(default_factory=dict)

    def project(self, theta: torch.Tensor | np.ndarray) -> np.ndarray:
        """Coordinates ``[T, 2]`` of the points ``theta [T, P]`` (or one ``[P]``) on the plane.

        Examples
        --------
        >>> c, d1, d2 = torch.zeros(3), torch.tensor([1.0, 0, 0]), torch.tensor([1.0, 1, 0])
        >>> Plane(c, d1, d2).project(torch.tensor([[2.0, 3.0, 5.0]])).round(6).tolist()
        [[-1.0, 3.0]]
        """
        t = torch.as_tensor(theta).to(torch.float64)
        if t.dim() == 1:
            t = t[None]
        basis = torch.stack([self.d1, self.d2]).to(torch.float64)  # (2, P)
        gram = basis @ basis.T
        rhs = basis @ (t - self.center.to(torch.float64)).T  # (2, T)
        return torch.linalg.solve(gram, rhs).T.numpy()

    def extent(self, coords: np.ndarray, *, margin: float = 0.25) -> tuple[tuple, tuple]:
        """``(a_lo, a_hi), (b_lo, b_hi)`` covering ``coords [T, 2]`` and the plane's points with
        ``margin`` (a share of the span) around them."""
        pts = np.concatenate([np.asarray(coords).reshape(-1, 2), [[0.0, 0.0]]])
        if self.points:
            pts = np.concatenate([pts, np.asarray(list(self.points.values()))])
        lo, hi = pts.min(0), pts.max(0)
        pad = np.maximum((hi - lo) * margin, 1e-3)
        return (float(lo[0] - pad[0]), float(hi[0] + pad[0])), (
            float(lo[1] - pad[1]),
            float(hi[1] + pad[1]),
        )

    def attrs(self) -> dict[str, str]:
        """The provenance (and points) as strings, for a slice's attrs."""
        out = {k: str(v) for k, v in self.provenance.items()}
        if self.points:
            out["points"] = json.dumps({k: list(v) for k, v in self.points.items()})
        return out


def plane_of(
    model,
    data,
    snapshots: tuple[np.ndarray, np.ndarray],
    how: str = "filter",
    *,
    seed: int = 0,
    step: int | None = None,
    through: tuple[int, int, int] | None = None,
    names: tuple[str, str, str] = ("init", "middle", "end"),
    probe: int = 512,
    iters: int = 30,
) -> Plane:
    """The plane ``how`` asks for, from one run's ``snapshots`` ``(steps [T], theta [T, P])``.

    - ``"filter"``, ``"layer"``, ``"raw"``: two random directions from seeds ``seed`` and
      ``seed + 1`` (the same for every run of an architecture), normalized against the centre;
    - ``"pca"``: the top two principal directions of the trajectory (Li et al. 2018), the
      explained variance in the provenance;
    - ``"hessian"``: the top two Hessian eigenvectors at the centre (``probe`` training
      examples, ``iters`` power iterations), unit length, the eigenvalues in the provenance;
    - ``"three points"``: through the snapshots at steps ``through`` (e.g. init, end of task
      1, end of task 2), named ``names``; the first is the origin, the axes are Gram–Schmidt
      (so distances in the picture are true distances).

    The centre is the snapshot at ``step`` (default: the last) for all but ``"three points"``.

    Examples
    --------
    >>> from workbench.models import MLP, StackedModel
    >>> m = StackedModel(MLP(hidden=(4,)), in_dim=64, out_dim=10, seeds=[0, 1, 2])
    >>> snaps = (np.array([0, 10, 20]), m.flat.numpy())
    >>> p = plane_of(MLP(hidden=(4,)), "digits", snaps, "three points", through=(0, 10, 20))
    >>> xy = p.project(m.flat)
    >>> np.allclose(xy, [[0, 0], [1, 0], list(p.points["end"])], atol=1e-6)
    True
    """
    if how not in DIRECTIONS:
        raise ValueError(f"plane_of: how={how!r}; allowed: {', '.join(map(repr, DIRECTIONS))}")
    steps, theta = np.asarray(snapshots[0]), torch.as_tensor(np.asarray(snapshots[1]))
    layout = layout_of(model, data)
    if theta.dim() != 2 or theta.shape[1] != layout.size or len(steps) != theta.shape[0]:
        raise ValueError(
            f"plane_of: snapshots of shape {tuple(theta.shape)} must be [T, {layout.size}] "
            f"with T = {len(steps)} steps"
        )

    def at(s: int) -> torch.Tensor:
        hit = np.flatnonzero(steps == s)
        if not len(hit):
            raise ValueError(f"plane_of: no snapshot at step {s}; snapshots: {steps.tolist()}")
        return theta[int(hit[0])]

    if how == "three points":
        if through is None or len(through) != 3:
            raise ValueError(f"plane_of: 'three points' needs through=(s0, s1, s2), got {through}")
        p0, p1, p2 = (at(s) for s in through)
        u = (p1 - p0).double()
        v = (p2 - p0).double()
        a2 = float(v @ u / (u @ u))
        w = v - a2 * u
        if float(w.norm()) <= 1e-4 * float(v.norm()):
            raise ValueError("plane_of: the three snapshots are on one line; no plane")
        return Plane(
            p0,
            u.to(theta.dtype),
            w.to(theta.dtype),
            {
                "directions": how,
                "steps": list(through),
                "norms": [float(u.norm()), float(w.norm())],
            },
            {names[0]: (0.0, 0.0), names[1]: (1.0, 0.0), names[2]: (a2, 1.0)},
        )
    center = theta[-1] if step is None else at(step)
    prov: dict = {"directions": how, "center_step": int(steps[-1] if step is None else step)}
    if how in ("filter", "layer", "raw"):
        norm = None if how == "raw" else how
        d1, d2 = (
            random_direction(layout, s, theta=center, normalize=norm) for s in (seed, seed + 1)
        )
        prov["seeds"] = [seed, seed + 1]
    elif how == "pca":
        out = pca_directions(theta.float(), center=center.float())
        d1, d2 = out["directions"].to(theta.dtype)
        prov["explained"] = [round(float(e), 4) for e in out["explained"]]
    else:
        from .hessian import top_eigenvalues

        batch = probe_data(model, data, size=probe)
        out = top_eigenvalues(model, layout, center[None].float(), batch, k=2, iters=iters)
        d1, d2 = out["vectors"][0].to(theta.dtype)
        prov["eigenvalues"] = [round(float(v), 4) for v in out["values"][0]]
    return Plane(center, d1, d2, prov)
