"""SGD with heavy-ball or Nesterov momentum and decoupled weight decay, for all runs at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import Hyper, OptimizerSpec, check_scale, finish_step, kernel_scale, use_kernels

__all__ = ["SGD", "StackedSGD", "sgd_reference_step"]


@dataclass(frozen=True)
class SGD(OptimizerSpec):
    """SGD with momentum (torch semantics, no dampening) and decoupled weight decay, per run.

    Examples
    --------
    >>> SGD(lr=0.1, momentum=0.9, nesterov=True).hyperparameters
    ('lr', 'momentum', 'weight_decay')
    >>> SGD(lr=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: SGD: lr=-1.0 must be >= 0.0
    """

    lr: Hyper = 0.1  # learning rate (number or Schedule)
    momentum: Hyper = 0.0  # buffer decay; the first step's buffer is the gradient (as torch)
    weight_decay: Hyper = 0.0  # decoupled: theta <- theta * (1 - lr * wd)
    nesterov: bool = False  # look-ahead momentum (structural: runs differing here get own buckets)

    name: ClassVar[str] = "SGD"
    ranges: ClassVar[dict] = {
        "lr": (0.0, None),
        "momentum": (0.0, 1.0),
        "weight_decay": (0.0, None),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.nesterov, bool):
            raise ValueError(f"SGD: nesterov={self.nesterov!r} must be True or False")

    def coefficients(self, h: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[T, 3, N]``: ``lr``, ``momentum``, ``decay = lr * wd``."""
        return torch.stack([h["lr"], h["momentum"], h["lr"] * h["weight_decay"]], 1)

    def build(self, flat: torch.Tensor, layout=None, *, kernels: str = "auto") -> StackedSGD:
        return StackedSGD(flat, nesterov=self.nesterov, kernels=kernels)


class StackedSGD:
    """SGD on a flat ``[N, P]`` buffer (fused Triton step on CUDA, torch passes elsewhere).

    The torch path's scratch ``work`` exists for Nesterov, or else from the first scaled step.
    """

    def __init__(self, flat: torch.Tensor, *, nesterov: bool = False, kernels: str = "auto"):
        self.buf = torch.zeros_like(flat)  # (N, P); zero init makes step 1's buffer = gradient
        self.nesterov = nesterov
        self.fused = use_kernels(flat, kernels)
        if self.fused:
            self.sq = torch.zeros(2, flat.shape[0], device=flat.device)
        else:
            self.work = torch.empty_like(flat) if nesterov else None  # or at the first scale
            self.delta = torch.empty_like(flat)

    @torch.no_grad()
    def step(
        self,
        p: torch.Tensor,
        g: torch.Tensor,
        c: torch.Tensor,
        alive: torch.Tensor,
        scale: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        """Update ``p`` in place; ``c`` is ``[3, N, 1]``. Returns update and parameter norms.

        ``scale`` is ``None`` or ``(backbone [P], ratio [N, 1])`` (see :mod:`workbench.optim.base`).
        """
        scale = check_scale("StackedSGD.step", p, scale)
        if self.fused:
            from workbench.kernels import fused_sgd_step

            self.sq.zero_()
            a = alive[:, 0].float()
            fused_sgd_step(
                *(p, g, self.buf, c[..., 0], a, *self.sq),
                nesterov=self.nesterov,
                **kernel_scale(scale),
            )
            return self.sq.sqrt().unbind(0)
        if scale is not None and self.work is None:
            self.work = torch.empty_like(p)  # the multiplier's scratch; a fixed address from now
        lr, mu, decay = c.unbind(0)
        self.buf.mul_(mu).add_(g)
        d = torch.addcmul(g, self.buf, mu, out=self.work) if self.nesterov else self.buf
        torch.mul(p, -decay * alive, out=self.delta)
        self.delta.addcmul_(d, -lr * alive)
        return finish_step(p, self.delta, scale, self.work)


def sgd_reference_step(
    params,
    opt: torch.optim.SGD,
    *,
    lr: float,
    weight_decay: float,
    lr_scales: Sequence[float] | None = None,
) -> None:
    """One step of the single-run SGD reference: decoupled decay by hand, then torch's SGD.

    ``opt`` must be a ``torch.optim.SGD`` with ``weight_decay=0``; its ``lr`` is set here.
    Without ``lr_scales``, ``params`` are decayed and every param group gets ``lr``. With it
    (one multiplier per param group, e.g. ``[ratio, 1.0]`` for a slow backbone and its head),
    group ``k``'s parameters are decayed and stepped at ``lr * lr_scales[k]``; ``params`` is
    then unused.

    Examples
    --------
    >>> backbone, head = torch.ones(2, requires_grad=True), torch.ones(1, requires_grad=True)
    >>> opt = torch.optim.SGD([{"params": [backbone]}, {"params": [head]}], lr=1.0)
    >>> backbone.grad, head.grad = torch.ones(2), torch.ones(1)
    >>> sgd_reference_step(None, opt, lr=0.1, weight_decay=0.0, lr_scales=[0.5, 1.0])
    >>> backbone.detach(), head.detach()
    (tensor([0.9500, 0.9500]), tensor([0.9000]))
    """
    if lr_scales is None:
        with torch.no_grad():
            for p in params:
                p.mul_(1 - lr * weight_decay)
        for group in opt.param_groups:
            group["lr"] = lr
    else:
        if len(lr_scales) != len(opt.param_groups):
            raise ValueError(
                f"sgd_reference_step: {len(lr_scales)} lr_scales for "
                f"{len(opt.param_groups)} param groups; give one per group"
            )
        for group, k in zip(opt.param_groups, lr_scales, strict=True):
            group["lr"] = lr * k
            with torch.no_grad():
                for p in group["params"]:
                    p.mul_(1 - lr * k * weight_decay)
    opt.step()
