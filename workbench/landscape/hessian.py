"""Hessian-vector products and the top of the spectrum, batched over parameter rows.

Every row of ``theta [N, P]`` (the runs of a bucket, or the points of a grid) is a model; its
loss is the model's own loss (cross-entropy, or an MLP's ``loss="mse"``), the mean over one
fixed batch (:func:`~workbench.landscape.probe_data`: train mode, the same examples for every
row; our models have no batch norm, so train and eval mode are the same function).
Hessian-vector products come from double backward through the stacked forward, so ``N`` rows
cost one pass: the rows are independent, and the gradient of the sum of their losses is each
row's own gradient.

:func:`top_eigenvalues` runs power iteration with deflation for a *fixed* number of
iterations (no host sync inside; a convergence report comes back with the values), and
:func:`hutchinson_trace` estimates the trace from a stated number of Rademacher probes.
"""

from __future__ import annotations

import torch

from ..models import MLP, Transformer
from ..models.base import loss_name, mean_loss

__all__ = ["hvp", "top_eigenvalues", "hutchinson_trace"]


def _leaves(layout, theta: torch.Tensor) -> list[torch.Tensor]:
    return [v.detach().requires_grad_() for v in layout.views(theta.detach())]


def _loss(model, params, x, y) -> torch.Tensor:
    n = params[0].shape[0]
    xs = x.expand(n, *x.shape)
    logits = model.forward(params, xs, None)
    return mean_loss(logits, y.expand(n, *y.shape), loss_name(model))  # (N,)


def hvp(
    model: MLP | Transformer,
    layout,
    theta: torch.Tensor,
    batch: tuple[torch.Tensor, torch.Tensor],
    v: torch.Tensor,
) -> torch.Tensor:
    """``H_i v_i`` for every row ``i``: the Hessian of row ``i``'s loss on ``batch`` times
    ``v [N, P]`` (or ``[P]`` for all rows), ``[N, P]``.

    Examples
    --------
    >>> from workbench.landscape import probe_data
    >>> from workbench.landscape.evaluate import layout_of
    >>> m = MLP(hidden=(4,)); layout = layout_of(m, "digits")
    >>> theta = torch.stack([m.init_row(layout, s) for s in (0, 1)])
    >>> hvp(m, layout, theta, probe_data(m, "digits", size=32), torch.ones(layout.size)).shape
    torch.Size([2, 310])
    """
    x, y = batch
    params = _leaves(layout, theta)
    n = theta.shape[0]
    vv = v.expand(n, -1) if v.dim() == 1 else v
    grads = torch.autograd.grad(_loss(model, params, x, y).sum(), params, create_graph=True)
    dot = sum((g * u).sum() for g, u in zip(grads, layout.views(vv), strict=True))
    hv = torch.autograd.grad(dot, params)
    return torch.cat([h.reshape(n, -1) for h in hv], 1).detach()


def top_eigenvalues(
    model: MLP | Transformer,
    layout,
    theta: torch.Tensor,
    batch: tuple[torch.Tensor, torch.Tensor],
    *,
    k: int = 1,
    iters: int = 30,
    seed: int = 0,
    precondition: torch.Tensor | None = None,
    init: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The ``k`` largest-magnitude Hessian eigenvalues of every row, by power iteration with
    deflation (each eigenvector found is projected out of the next), ``iters`` iterations each,
    all rows at once.

    Returns ``{"values": [N, k], "vectors": [N, k, P], "residual": [N, k]}``, ``residual`` the
    relative error ``‖H v − λ v‖ / |λ|`` after the last iteration (the convergence report: a
    fixed iteration count, no early stop, so nothing waits on the host).

    ``precondition`` (``[N, P]``, positive): the eigenvalues of ``P⁻¹H`` with
    ``P = diag(precondition)`` instead, Adam's preconditioned sharpness when ``precondition``
    is Adam's denominator ``sqrt(v̂) + ε`` (Cohen et al. 2022). They are found as the
    eigenvalues of the symmetric ``P^(-1/2) H P^(-1/2)`` (same spectrum), whose eigenvectors
    ``vectors`` then are. ``init`` (``[N, k, P]``): starting vectors, e.g. the last call's
    ``vectors`` when sharpness is tracked during training (fewer iterations to converge).

    Examples
    --------
    >>> from workbench.landscape import probe_data
    >>> from workbench.landscape.evaluate import layout_of
    >>> m = MLP(hidden=(4,)); layout = layout_of(m, "digits")
    >>> theta = m.init_row(layout, 0)[None]
    >>> out = top_eigenvalues(m, layout, theta, probe_data(m, "digits", size=32), k=2, iters=5)
    >>> out["values"].shape, out["vectors"].shape
    (torch.Size([1, 2]), torch.Size([1, 2, 310]))
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_eigenvalues: k={k!r} must be an int >= 1")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"top_eigenvalues: iters={iters!r} must be an int >= 1")
    n, p = theta.shape
    if init is not None and init.shape != (n, k, p):
        raise ValueError(f"top_eigenvalues: init {tuple(init.shape)} must be [{n}, {k}, {p}]")
    scale = None
    if precondition is not None:
        if precondition.shape != theta.shape or not bool((precondition > 0).all()):
            raise ValueError(
                f"top_eigenvalues: precondition {tuple(precondition.shape)} must be [{n}, {p}] "
                "and positive"
            )
        scale = precondition.rsqrt()

    def op(u: torch.Tensor) -> torch.Tensor:  # H, or P^(-1/2) H P^(-1/2)
        if scale is None:
            return hvp(model, layout, theta, batch, u)
        return scale * hvp(model, layout, theta, batch, scale * u)

    g = torch.Generator().manual_seed(seed)
    found: list[torch.Tensor] = []
    values, residuals = [], []
    for j in range(k):
        v = torch.randn(n, p, generator=g, dtype=theta.dtype).to(theta.device)
        if init is not None:
            v = init[:, j].to(theta) + 1e-3 * v  # a nudge: never exactly orthogonal to the top
        v = _orthonormal(v, found)
        lam = torch.zeros(n, dtype=theta.dtype, device=theta.device)
        for _ in range(iters):
            hv = _orthonormal(op(v), found, normalize=False)
            lam = (hv * v).sum(1)
            v = _orthonormal(hv, found)
        hv = op(v)
        lam = (hv * v).sum(1)
        res = (hv - lam[:, None] * v).norm(dim=1) / lam.abs().clamp_min(1e-30)
        found.append(v)
        values.append(lam)
        residuals.append(res)
    return {
        "values": torch.stack(values, 1),
        "vectors": torch.stack(found, 1),
        "residual": torch.stack(residuals, 1),
    }


def _orthonormal(v: torch.Tensor, basis: list[torch.Tensor], normalize: bool = True):
    """``v [N, P]`` with the components along each (unit) row vector of ``basis`` removed."""
    for b in basis:
        v = v - (v * b).sum(1, keepdim=True) * b
    if normalize:
        v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-30)
    return v


def hutchinson_trace(
    model: MLP | Transformer,
    layout,
    theta: torch.Tensor,
    batch: tuple[torch.Tensor, torch.Tensor],
    *,
    samples: int = 32,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Hutchinson's estimate of the Hessian trace of every row: the mean of ``zᵀ H z`` over
    ``samples`` Rademacher vectors ``z`` (the same ones for every row), with its standard error.

    Returns ``{"trace": [N], "stderr": [N], "samples": samples}``.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ValueError(f"hutchinson_trace: samples={samples!r} must be an int >= 2")
    n, p = theta.shape
    g = torch.Generator().manual_seed(seed)
    draws = []
    for _ in range(samples):
        z = (torch.randint(0, 2, (p,), generator=g) * 2 - 1).to(theta)
        draws.append((hvp(model, layout, theta, batch, z) * z).sum(1))
    d = torch.stack(draws)  # (samples, N)
    return {"trace": d.mean(0), "stderr": d.std(0) / samples**0.5, "samples": samples}
