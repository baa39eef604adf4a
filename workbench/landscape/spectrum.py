"""The whole Hessian spectrum, batched over parameter rows: Lanczos and its eigenvalue density.

:func:`lanczos` tridiagonalizes the Hessian of every row of ``theta [N, P]`` in its own Krylov
space, all rows advancing together (one batched :func:`~workbench.landscape.hvp` per step),
with full reorthogonalization against the stored basis and a *fixed* number of steps (nothing
in the loop waits on the host). The eigenvalues of the tridiagonal matrix (Ritz values)
approximate the extremes of the spectrum first; after ``P`` steps they are all of it.

:func:`spectral_density` is stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019, "An
investigation into neural net optimization via Hessian eigenvalue density"; PyHessian's
density): from ``probes`` random unit starting vectors ``v``, the Ritz values ``θ_j`` and the
squared first components ``w_j`` of the tridiagonal's eigenvectors are a quadrature rule for
``vᵀ f(H) v``, whose mean over ``v`` is ``tr f(H) / P``; with ``f`` a Gaussian of width ``σ``
about ``λ`` this is the eigenvalue density of ``H`` smoothed by ``σ``:
``φ(λ) = mean_v Σ_j w_j N(λ; θ_j, σ²)``. Probes are stacked as extra rows, so ``N`` runs and
``probes`` probes are one batch of Hessian-vector products.

Memory: the basis is ``[N·probes, steps, P]`` numbers (full reorthogonalization keeps it).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import xarray as xr

from ..models import MLP, Transformer
from .hessian import hvp

__all__ = ["lanczos", "spectral_density"]

# A step whose new direction has norm at most this times (machine epsilon x the running
# estimate of ‖H‖) has found an invariant subspace: its beta is recorded as 0 and the basis
# continues from a fresh random direction orthogonal to it (a new block of the tridiagonal).
_BREAKDOWN = 100.0


def _int(who: str, name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{who}: {name}={value!r} must be an int >= {low}")
    return int(value)


def _check_theta(who: str, layout, theta) -> None:
    if not isinstance(theta, torch.Tensor) or theta.dim() != 2 or theta.shape[1] != layout.size:
        shape = tuple(theta.shape) if isinstance(theta, torch.Tensor) else type(theta).__name__
        raise ValueError(
            f"{who}: theta of shape {shape} must be [N, {layout.size}] (rows of the layout)"
        )
    if not theta.is_floating_point():
        raise ValueError(f"{who}: theta of dtype {theta.dtype} must be floating point")


def _project_out(w: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """``w [N, P]`` less its components along the orthonormal rows of ``basis [N, k, P]``."""
    return w - torch.einsum("nkp,nk->np", basis, torch.einsum("nkp,np->nk", basis, w))


def _orthonormalize(w: torch.Tensor, basis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Classical Gram-Schmidt twice ("twice is enough"), then the norm: ``(w, ‖w‖)``."""
    w = _project_out(_project_out(w, basis), basis)
    return w, w.norm(dim=1)


def _lanczos(model, layout, theta, batch, start, restarts, m) -> dict[str, torch.Tensor]:
    """``m`` Lanczos steps for every row from ``start [N, P]`` (unit rows); ``restarts
    [m, P]`` are the fresh directions a row takes after a breakdown (the same for every row)."""
    n, p = theta.shape
    dev, dt = theta.device, theta.dtype
    eps = torch.finfo(dt).eps
    basis = torch.zeros(n, m, p, dtype=dt, device=dev)
    alpha = torch.zeros(n, m, dtype=torch.float64, device=dev)
    beta = torch.zeros(n, m, dtype=torch.float64, device=dev)  # beta[:, m-1]: the residual
    q, q_prev = start, torch.zeros_like(start)
    b_prev = torch.zeros(n, dtype=dt, device=dev)
    scale = torch.zeros(n, dtype=torch.float64, device=dev)  # running estimate of ‖H‖
    basis[:, 0] = q
    for j in range(m):
        w = hvp(model, layout, theta, batch, q)
        a = (w * q).sum(1, dtype=torch.float64)
        w = w - a.to(dt)[:, None] * q - b_prev[:, None] * q_prev
        w, b = _orthonormalize(w, basis[:, : j + 1])
        alpha[:, j] = a
        scale = torch.maximum(scale, torch.maximum(a.abs(), b.double()))
        if j == m - 1:
            beta[:, j] = b.double()
            break
        broke = b.double() <= _BREAKDOWN * eps * scale
        r, rn = _orthonormalize(restarts[j].expand(n, p), basis[:, : j + 1])
        r = r / rn.clamp_min(torch.finfo(dt).tiny)[:, None]
        nxt = torch.where(broke[:, None], r, w / b.clamp_min(torch.finfo(dt).tiny)[:, None])
        # one more pass on the unit vector keeps the basis orthonormal to working precision
        nxt, nn = _orthonormalize(nxt, basis[:, : j + 1])
        nxt = nxt / nn.clamp_min(torch.finfo(dt).tiny)[:, None]
        b = torch.where(broke, torch.zeros_like(b), b)
        beta[:, j] = b.double()
        basis[:, j + 1] = nxt
        q_prev, q, b_prev = q, nxt, b
    off = beta[:, : m - 1]
    t = torch.diag_embed(alpha) + torch.diag_embed(off, 1) + torch.diag_embed(off, -1)
    ritz, s = torch.linalg.eigh(t)  # ascending
    return {
        "alpha": alpha,
        "beta": off,
        "ritz": ritz,
        "weights": s[:, 0, :] ** 2,
        "residual": beta[:, m - 1 : m] * s[:, m - 1, :].abs(),
    }


def lanczos(
    model: MLP | Transformer,
    layout,
    theta: torch.Tensor,
    batch: tuple[torch.Tensor, torch.Tensor],
    *,
    steps: int = 30,
    k: int = 1,
    seed: int = 0,
) -> dict[str, torch.Tensor | int]:
    """Lanczos tridiagonalization of the Hessian of every row of ``theta [N, P]`` (the loss
    of :func:`~workbench.landscape.hvp`), ``m = min(steps, P)`` steps, all rows at once.

    Every row starts from the same random unit vector (from ``seed``), so a row's result does
    not depend on the other rows of the batch. The basis is fully reorthogonalized (classical
    Gram-Schmidt, twice); the coefficients are accumulated in float64. Where a row's Krylov
    space becomes invariant (``beta`` at rounding level) its ``beta`` is set to 0 and the row
    continues from a fresh random direction orthogonal to its basis, masked per row (no
    host sync), so with ``steps >= P`` the Ritz values are the whole spectrum.

    Returns a dict of float64 tensors: ``alpha [N, m]`` and ``beta [N, m-1]`` (the diagonal and
    off-diagonal of the tridiagonal ``T``), ``ritz [N, m]`` (eigenvalues of ``T``, ascending),
    ``weights [N, m]`` (squared first components of ``T``'s eigenvectors: the quadrature
    weights of the starting vector, summing to 1), ``residual [N, m]`` (``β_m |s_mj|``, the
    Lanczos error bound: some eigenvalue of ``H`` lies within it of each Ritz value), ``top
    [N, k]`` (the ``k`` largest Ritz values, descending) and ``steps`` (``m``).

    Examples
    --------
    >>> from workbench.landscape import probe_data
    >>> from workbench.landscape.evaluate import layout_of
    >>> m = MLP(hidden=(4,)); layout = layout_of(m, "digits")
    >>> theta = torch.stack([m.init_row(layout, s) for s in (0, 1)])
    >>> out = lanczos(m, layout, theta, probe_data(m, "digits", size=32), steps=8, k=2)
    >>> out["ritz"].shape, out["beta"].shape, out["top"].shape
    (torch.Size([2, 8]), torch.Size([2, 7]), torch.Size([2, 2]))
    """
    steps = _int("lanczos", "steps", steps, 2)
    _check_theta("lanczos", layout, theta)
    m = min(steps, theta.shape[1])
    k = _int("lanczos", "k", k, 1)
    if k > m:
        raise ValueError(f"lanczos: k={k} must be <= the number of steps taken, min(steps, P)={m}")
    seed = _int("lanczos", "seed", seed, 0)
    g = torch.Generator().manual_seed(seed)
    draws = torch.randn(m, theta.shape[1], generator=g, dtype=theta.dtype).to(theta.device)
    start = draws[0] / draws[0].norm()
    out = _lanczos(model, layout, theta, batch, start.expand_as(theta).clone(), draws[1:], m)
    out["top"] = out["ritz"].flip(1)[:, :k]
    out["steps"] = m
    return out


def spectral_density(
    model: MLP | Transformer,
    layout,
    theta: torch.Tensor,
    batch: tuple[torch.Tensor, torch.Tensor],
    *,
    steps: int = 30,
    probes: int = 4,
    sigma: float | None = None,
    grid=None,
    seed: int = 0,
) -> xr.Dataset:
    """The Hessian eigenvalue density of every row of ``theta [N, P]`` by stochastic Lanczos
    quadrature: ``φ(λ) = mean_v Σ_j w_j N(λ; θ_j, σ²)`` over ``probes`` random unit vectors
    ``v`` (Gaussian, from ``seed``, the same probes for every row), ``θ_j``, ``w_j`` the Ritz
    values and weights of ``m = min(steps, P)`` :func:`lanczos` steps from ``v``. All
    ``N·probes`` Lanczos runs are one batch (probes stacked as rows).

    ``φ`` integrates to 1 over the real line (it is the fraction of eigenvalues per unit of
    ``λ``; multiply by ``P`` for a count). ``sigma``: the Gaussian width, by default the span of
    all Ritz values over ``m`` (the resolution ``m`` nodes give the bulk). ``grid``: the
    eigenvalues to evaluate at, an increasing 1-D sequence, or a number of points (default
    enough for 4 per ``sigma``, at least 256, at most 10001) spanning all Ritz values ± 4σ.

    Returns an ``xarray.Dataset``: ``density (run, eigenvalue)``, and the quadrature itself,
    ``ritz`` and ``weight (run, probe, node)`` (to recompute with another ``sigma``); attrs
    ``steps`` (``m``), ``probes``, ``sigma``, ``seed``.

    Examples
    --------
    >>> from workbench.landscape import probe_data
    >>> from workbench.landscape.evaluate import layout_of
    >>> m = MLP(hidden=(4,)); layout = layout_of(m, "digits")
    >>> theta = torch.stack([m.init_row(layout, s) for s in (0, 1)])
    >>> ds = spectral_density(m, layout, theta, probe_data(m, "digits", size=32), steps=8,
    ...                       probes=2, grid=101)
    >>> ds.density.dims, ds.density.shape, ds.attrs["probes"]
    (('run', 'eigenvalue'), (2, 101), 2)
    >>> round(float(ds.density.integrate("eigenvalue")[0]), 3)
    1.0
    """
    who = "spectral_density"
    steps = _int(who, "steps", steps, 2)
    probes = _int(who, "probes", probes, 1)
    seed = _int(who, "seed", seed, 0)
    if sigma is not None and (
        isinstance(sigma, bool)
        or not isinstance(sigma, int | float | np.floating | np.integer)
        or not math.isfinite(sigma)
        or sigma <= 0
    ):
        raise ValueError(f"{who}: sigma={sigma!r} must be a finite number > 0 or None")
    points = None
    if grid is None or isinstance(grid, int | np.integer) and not isinstance(grid, bool):
        if grid is not None and grid < 2:
            raise ValueError(f"{who}: grid={grid!r} must be an int >= 2, a sequence or None")
        points = None if grid is None else int(grid)
    else:
        try:
            lam = np.asarray(grid, dtype=np.float64)
        except (TypeError, ValueError):
            lam = None
        if (
            lam is None
            or lam.ndim != 1
            or lam.size < 2
            or not np.isfinite(lam).all()
            or not (np.diff(lam) > 0).all()
        ):
            raise ValueError(
                f"{who}: grid={grid!r} must be an int >= 2, an increasing 1-D sequence of at "
                "least 2 finite values, or None"
            )
    _check_theta(who, layout, theta)
    n, p = theta.shape
    m = min(steps, p)
    g = torch.Generator().manual_seed(seed)
    draws = torch.randn(probes + m - 1, p, generator=g, dtype=theta.dtype).to(theta.device)
    v = draws[:probes] / draws[:probes].norm(dim=1, keepdim=True)
    rows = theta.repeat_interleave(probes, 0)  # row i*probes + j: run i, probe j
    out = _lanczos(model, layout, rows, batch, v.repeat(n, 1), draws[probes:], m)
    ritz = out["ritz"].reshape(n, probes, m).cpu().numpy()
    weight = out["weights"].reshape(n, probes, m).cpu().numpy()

    lo, hi = float(ritz.min()), float(ritz.max())
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    sig = float(sigma) if sigma is not None else span / m
    if points is not None or grid is None:
        if points is None:
            points = int(min(10001, max(256, math.ceil(4 * (span + 8 * sig) / sig) + 1)))
        lam = np.linspace(lo - 4 * sig, hi + 4 * sig, points)
    density = np.zeros((n, lam.size))
    for j in range(probes):  # (N, m, G) at a time
        z = (lam[None, None, :] - ritz[:, j, :, None]) / sig
        density += (weight[:, j, :, None] * np.exp(-0.5 * z**2)).sum(1)
    density /= probes * sig * math.sqrt(2 * math.pi)
    return xr.Dataset(
        {
            "density": (("run", "eigenvalue"), density),
            "ritz": (("run", "probe", "node"), ritz),
            "weight": (("run", "probe", "node"), weight),
        },
        coords={"run": np.arange(n), "eigenvalue": lam},
        attrs={"steps": m, "probes": probes, "sigma": sig, "seed": seed},
    )
