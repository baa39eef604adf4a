"""Muon (Jordan et al. 2024, "Muon: an optimizer for hidden layers in neural networks").

For every hidden 2-D weight (role ``"weight"``): ``buf <- mu * buf + g`` (torch-style momentum),
``u = g + mu * buf`` (Nesterov) or ``u = buf``, ``O = NS5(u)`` (a quintic Newton-Schulz iteration
that maps ``u = U S V^T`` to roughly ``U V^T``), then
``theta <- theta * (1 - lr * wd) - lr * sqrt(max(1, fan_out / fan_in)) * O``. Every other
parameter (output head, embeddings, biases, norms) is trained by AdamW with its own
hyperparameters (``adam_*``), as in modded-nanogpt and the ``muon`` package.

Conventions
-----------
- Momentum: the ``muon`` package keeps an EMA (``buf.lerp_(g, 1 - mu)``); the sum kept here is
  that EMA divided by ``1 - mu``, and so is the Nesterov ``u``. NS first divides ``u`` by its
  Frobenius norm, so both give the same ``O`` (up to the ``1e-7`` guard in that norm).
- Scale: the ``muon`` package multiplies by ``sqrt(max(1, rows / cols))`` of an ``nn.Linear``
  weight ``[out, in]``, i.e. ``sqrt(max(1, fan_out / fan_in))``. Our weights are stored
  ``[in, out]`` (the forward is ``x @ W``), so here it is ``sqrt(max(1, cols / rows))``: the same
  number for the same layer, so the package's ``lr`` carries over. With it the update has RMS
  entry ``lr / sqrt(fan_in)`` whatever the layer's aspect ratio.
- Precision: NS runs in the parameters' dtype (float32), not bfloat16 as in the package, so the
  stacked step agrees with :func:`muon_reference_step` to float32 rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from .adamw import adamw_coefficients
from .base import Hyper, OptimizerSpec, check_scale, finish_step, use_kernels

__all__ = ["Muon", "StackedMuon", "muon_reference_step", "orthogonalize", "orthogonalize_reference"]

# Coefficients of the quintic p(x) = a x + b x^3 + c x^5 applied to the singular values (Jordan
# et al. 2024): chosen for a steep slope at 0, so five steps push every singular value that is
# not tiny into roughly [0.68, 1.13] rather than converging exactly to 1.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
_NORM_EPS = 1e-7  # guards the Frobenius normalization of an all-zero update


@dataclass(frozen=True)
class Muon(OptimizerSpec):
    """Muon for hidden 2-D weights, AdamW for the rest; per-run, optionally scheduled.

    Parameters
    ----------
    lr, momentum, weight_decay
        Muon's learning rate, momentum (torch-style buffer, no dampening) and decoupled weight
        decay, for parameters with role ``"weight"``.
    adam_lr, adam_beta1, adam_beta2, adam_eps, adam_weight_decay
        AdamW's hyperparameters for every other parameter (head, embedding, bias, norm).
    nesterov
        Orthogonalize ``g + momentum * buf`` instead of ``buf`` (structural: runs differing here
        train in separate buckets).
    ns_steps
        Newton-Schulz iterations (structural).

    Examples
    --------
    >>> from workbench import schedules
    >>> opt = Muon(lr=schedules.cosine(peak=0.02, steps=100, warmup=5), weight_decay=0.01)
    >>> opt.hyperparameters[:4]
    ('lr', 'momentum', 'weight_decay', 'adam_lr')
    >>> opt.coefficients({k: t[:, None] for k, t in opt.tables(100).items()}).shape
    torch.Size([100, 8, 1])
    >>> Muon(ns_steps=0)
    Traceback (most recent call last):
    ...
    ValueError: Muon: ns_steps=0 must be an int >= 1
    """

    lr: Hyper = 0.02  # Muon learning rate (number or Schedule)
    momentum: Hyper = 0.95  # buffer decay: buf <- momentum * buf + g
    weight_decay: Hyper = 0.0  # decoupled: theta <- theta * (1 - lr * wd)
    adam_lr: Hyper = 3e-3  # AdamW learning rate for non-"weight" parameters
    adam_beta1: Hyper = 0.9  # AdamW first-moment decay
    adam_beta2: Hyper = 0.95  # AdamW second-moment decay
    adam_eps: Hyper = 1e-8  # AdamW epsilon
    adam_weight_decay: Hyper = 0.0  # AdamW decoupled weight decay
    nesterov: bool = True  # orthogonalize g + momentum * buf (structural)
    ns_steps: int = 5  # Newton-Schulz iterations (structural)

    name: ClassVar[str] = "Muon"
    ranges: ClassVar[dict] = {
        "lr": (0.0, None),
        "momentum": (0.0, 1.0),
        "weight_decay": (0.0, None),
        "adam_lr": (0.0, None),
        "adam_beta1": (0.0, 1.0),
        "adam_beta2": (0.0, 1.0),
        "adam_eps": (0.0, None),
        "adam_weight_decay": (0.0, None),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.nesterov, bool):
            raise ValueError(f"Muon: nesterov={self.nesterov!r} must be True or False")
        if isinstance(self.ns_steps, bool) or not isinstance(self.ns_steps, int):
            raise ValueError(f"Muon: ns_steps={self.ns_steps!r} must be an int >= 1")
        if self.ns_steps < 1:
            raise ValueError(f"Muon: ns_steps={self.ns_steps!r} must be an int >= 1")

    def coefficients(self, h: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[T, 8, N]``: ``lr``, ``momentum``, ``decay = lr * wd``, then AdamW's five rows."""
        muon = torch.stack([h["lr"], h["momentum"], h["lr"] * h["weight_decay"]], 1)
        return torch.cat([muon, adamw_coefficients(h, prefix="adam_")], 1)

    def build(self, flat: torch.Tensor, layout=None, *, kernels: str = "auto") -> StackedMuon:
        return StackedMuon(
            flat, layout, nesterov=self.nesterov, ns_steps=self.ns_steps, kernels=kernels
        )


def orthogonalize(x: torch.Tensor, *, steps: int = 5) -> torch.Tensor:
    """Quintic Newton-Schulz orthogonalization of a batch of matrices ``[N, r, c]`` at once.

    Each matrix ``U S V^T`` becomes about ``U S' V^T`` with ``S'`` in roughly ``[0.68, 1.13]``
    (for singular values not tiny after normalization). The iteration runs on the wide
    orientation (``r <= c``), so ``orthogonalize(x.mT)`` is ``orthogonalize(x).mT`` exactly.

    Examples
    --------
    >>> s = torch.linalg.svdvals(orthogonalize(torch.randn(2, 9, 41)))
    >>> bool((s > 0.6).all() and (s < 1.2).all())
    True
    """
    a, b, c = NS_COEFFICIENTS
    tall = x.shape[-2] > x.shape[-1]
    X = x.mT if tall else x  # (N, m, n), m <= n
    X = X / (torch.linalg.matrix_norm(X, keepdim=True) + _NORM_EPS)  # spectral norm <= 1
    for _ in range(steps):
        A = torch.bmm(X, X.mT)  # (N, m, m)
        B = torch.baddbmm(A, A, A, beta=b, alpha=c)  # b A + c A^2
        X = torch.baddbmm(X, B, X, beta=a)  # a X + B X
    return X.mT if tall else X


class StackedMuon:
    """Muon on a flat ``[N, P]`` buffer laid out by ``layout``.

    Each ``"weight"`` matrix is orthogonalized for all runs with one batched Newton-Schulz
    (``[N, in, out]``); the other parameters are gathered into ``[N, Q]`` columns and stepped by
    AdamW, whose moments are kept for those columns only. Both parts write into one update buffer
    ``[N, P]`` that :func:`~workbench.optim.finish_step` applies (after the per-column ``scale``,
    if given, with a ``[N, P]`` scratch made at the first scaled step). There is no fused Triton
    kernel: ``kernels`` is validated and the step runs as torch ops on every device (the batched
    matrix products dominate its cost).
    """

    shared_state = ("idx",)  # column indices, the same for every run

    def __init__(
        self,
        flat: torch.Tensor,
        layout,
        *,
        nesterov: bool = True,
        ns_steps: int = 5,
        kernels: str = "auto",
    ) -> None:
        if layout is None:
            raise ValueError("Muon: build needs the model's Layout to find the 2-D weights")
        if layout.size != flat.shape[1]:
            raise ValueError(
                f"Muon: layout has {layout.size} parameters per run, flat has {flat.shape[1]}"
            )
        use_kernels(flat, kernels)  # validates the setting; Muon has no fused path
        self.nesterov, self.ns_steps = nesterov, ns_steps
        n = flat.shape[0]
        # (offset, shape, gain) of each Muon matrix; sqrt(max(1, out / in)) as explained above
        self.weights: list[tuple[int, tuple[int, int], float]] = []
        other: list[torch.Tensor] = []
        for p, off in zip(layout.params, layout.offsets, strict=True):
            if p.role == "weight":
                if len(p.shape) != 2:
                    raise ValueError(
                        f"Muon: {p.name} has role 'weight' but shape {p.shape}; "
                        "only 2-D matrices can be orthogonalized"
                    )
                fan_in, fan_out = p.shape  # stored [in, out]
                self.weights.append((off, p.shape, math.sqrt(max(1.0, fan_out / fan_in))))
            else:
                other.append(torch.arange(off, off + p.numel, device=flat.device))
        self.bufs = [
            torch.zeros(n, *shape, device=flat.device, dtype=flat.dtype)
            for _, shape, _ in self.weights
        ]  # (N, in, out) momentum per matrix
        self.delta = torch.empty_like(flat)  # (N, P) the update of every parameter
        # AdamW state on the gathered non-"weight" columns only
        self.idx = torch.cat(other) if other else flat.new_zeros(0, dtype=torch.long)
        q = self.idx.numel()
        self.m = flat.new_zeros(n, q)  # (N, Q) first moment
        self.v = flat.new_zeros(n, q)  # (N, Q) second moment
        self.p_o, self.g_o, self.work, self.delta_o = (flat.new_empty(n, q) for _ in range(4))
        self.scale_work: torch.Tensor | None = None  # (N, P), from the first scaled step

    @torch.no_grad()
    def step(
        self,
        p: torch.Tensor,
        g: torch.Tensor,
        c: torch.Tensor,
        alive: torch.Tensor,
        scale: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        """Update ``p`` in place; ``c`` is ``[8, N, 1]``, ``alive`` ``[N, 1]`` bool.

        ``scale`` is ``None`` or ``(backbone [P], ratio [N, 1])``: the update of the backbone
        columns (Muon's or AdamW's) is multiplied by each run's ratio (see
        :mod:`workbench.optim.base`). Returns the update norm and the parameter norm of every run
        (``[N]`` each).
        """
        scale = check_scale("StackedMuon.step", p, scale)
        if scale is not None and self.scale_work is None:
            self.scale_work = torch.empty_like(p)  # the multiplier's scratch, fixed from now on
        n = p.shape[0]
        lr, mu, decay, c1, c2, step, eps_hat, adam_decay = c.unbind(0)  # (N, 1) each
        mu3, decay3 = mu[:, :, None], (decay * alive)[:, :, None]  # (N, 1, 1)
        for (off, shape, gain), buf in zip(self.weights, self.bufs, strict=True):
            cols = slice(off, off + shape[0] * shape[1])
            gw = g[:, cols].view(n, *shape)  # (N, in, out)
            buf.mul_(mu3).add_(gw)
            u = torch.addcmul(gw, buf, mu3) if self.nesterov else buf
            o = orthogonalize(u, steps=self.ns_steps)
            dw = self.delta[:, cols].view(n, *shape)
            torch.mul(p[:, cols].view(n, *shape), -decay3, out=dw)
            dw.addcmul_(o, (-gain * lr * alive)[:, :, None])
        if self.idx.numel():
            # The same passes as StackedAdamW's torch path, on the gathered columns.
            torch.index_select(p, 1, self.idx, out=self.p_o)
            torch.index_select(g, 1, self.idx, out=self.g_o)
            self.m.lerp_(self.g_o, c1)
            torch.mul(self.g_o, self.g_o, out=self.work)
            self.v.lerp_(self.work, c2)
            torch.sqrt(self.v, out=self.work).add_(eps_hat)
            torch.div(self.m, self.work, out=self.work)
            torch.mul(self.p_o, -adam_decay * alive, out=self.delta_o)
            self.delta_o.addcmul_(self.work, -step * alive)
            self.delta.index_copy_(1, self.idx, self.delta_o)
        return finish_step(p, self.delta, scale, self.scale_work)


# -- the per-run reference -----------------------------------------------------------------------


def orthogonalize_reference(G: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """NS5 of one 2-D matrix, line for line as the ``muon`` package (in ``G``'s dtype).

    Examples
    --------
    >>> G = torch.randn(41, 9)
    >>> bool(torch.allclose(orthogonalize_reference(G), orthogonalize(G[None])[0], atol=1e-5))
    True
    """
    a, b, c = NS_COEFFICIENTS
    X = G
    if G.size(0) > G.size(1):
        X = X.T
    X = X / (X.norm() + 1e-7)
    for _ in range(steps):
        A = X @ X.T
        B = b * A + c * A @ A
        X = a * X + B @ X
    if G.size(0) > G.size(1):
        X = X.T
    return X


def muon_reference_step(
    params: list[torch.Tensor],
    roles: list[str],
    state: dict,
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    adam_lr: float,
    adam_beta1: float,
    adam_beta2: float,
    adam_eps: float,
    adam_weight_decay: float,
    nesterov: bool = True,
    ns_steps: int = 5,
    lr_scales: list[float] | None = None,
) -> None:
    """One Muon step of ONE run, a plain loop over its tensors (the slow twin of StackedMuon).

    ``params`` are that run's leaf tensors with ``.grad`` set, 2-D weights in ``nn.Linear``'s
    ``[out, in]`` orientation as in the ``muon`` package (for example ``list(net.parameters())``
    of :meth:`~workbench.models.MLP.reference`); ``roles`` gives each one's role. ``state`` starts
    as ``{}`` and keeps the momentum buffers and a ``torch.optim.AdamW`` over the other tensors,
    one param group each (it counts the steps for its bias correction, so its betas must stay
    constant). ``lr_scales`` (default all 1) multiplies each tensor's learning rate, ``lr`` or
    ``adam_lr``, as torch param groups with their own LR would: decay included, state not.

    Examples
    --------
    >>> w, b = torch.randn(4, 3, requires_grad=True), torch.zeros(4, requires_grad=True)
    >>> w.grad, b.grad = torch.randn(4, 3), torch.randn(4)
    >>> state = {}
    >>> muon_reference_step([w, b], ["weight", "bias"], state, lr=0.02, momentum=0.95,
    ...     weight_decay=0.0, adam_lr=1e-3, adam_beta1=0.9, adam_beta2=0.95, adam_eps=1e-8,
    ...     adam_weight_decay=0.0)
    >>> len(state["momentum"]), round(float(b.detach().abs().max()), 6)
    (1, 0.001)
    """
    scales = [1.0] * len(params) if lr_scales is None else list(lr_scales)
    if len(scales) != len(params):
        raise ValueError(
            f"muon_reference_step: {len(scales)} lr_scales for {len(params)} params; give one each"
        )
    weights = [(p, k) for p, r, k in zip(params, roles, scales, strict=True) if r == "weight"]
    others = [(p, k) for p, r, k in zip(params, roles, scales, strict=True) if r != "weight"]
    if not state:
        state["momentum"] = [torch.zeros_like(p) for p, _ in weights]
        groups = [{"params": [p]} for p, _ in others]
        state["adamw"] = torch.optim.AdamW(groups, lr=adam_lr) if others else None
    with torch.no_grad():
        for (p, k), buf in zip(weights, state["momentum"], strict=True):
            g = p.grad
            buf.mul_(momentum).add_(g)
            u = g + momentum * buf if nesterov else buf
            update = orthogonalize_reference(u, ns_steps)
            update = update * max(1, p.size(0) / p.size(1)) ** 0.5  # [out, in]: fan_out / fan_in
            p.mul_(1 - lr * k * weight_decay)
            p.add_(update, alpha=-lr * k)
    if state["adamw"] is not None:
        for group, (_, k) in zip(state["adamw"].param_groups, others, strict=True):
            group.update(
                lr=adam_lr * k,
                betas=(adam_beta1, adam_beta2),
                eps=adam_eps,
                weight_decay=adam_weight_decay,
            )
        state["adamw"].step()
