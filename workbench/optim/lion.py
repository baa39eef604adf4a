"""Lion (Chen et al. 2023, "Symbolic discovery of optimization algorithms") for all runs at once.

``c = beta1 * m + (1 - beta1) * g``; ``theta <- theta - lr * (sign(c) + wd * theta)``;
``m <- beta2 * m + (1 - beta2) * g``. The sign makes every coordinate move by ``lr``, so Lion
wants a learning rate 3-10x smaller than AdamW's (and a larger weight decay).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import Hyper, OptimizerSpec, check_scale, finish_step, kernel_scale, use_kernels

__all__ = ["Lion", "StackedLion", "lion_reference_step"]


@dataclass(frozen=True)
class Lion(OptimizerSpec):
    """Lion with per-run, optionally scheduled hyperparameters.

    Examples
    --------
    >>> Lion(lr=3e-4).hyperparameters
    ('lr', 'beta1', 'beta2', 'weight_decay')
    """

    lr: Hyper = 1e-4  # learning rate: every coordinate moves by lr (before decay)
    beta1: Hyper = 0.9  # interpolation of momentum and gradient for the sign
    beta2: Hyper = 0.99  # momentum decay
    weight_decay: Hyper = 0.0  # decoupled: theta <- theta * (1 - lr * wd)

    name: ClassVar[str] = "Lion"
    ranges: ClassVar[dict] = {
        "lr": (0.0, None),
        "beta1": (0.0, 1.0),
        "beta2": (0.0, 1.0),
        "weight_decay": (0.0, None),
    }

    def coefficients(self, h: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[T, 4, N]``: ``lr``, ``1 - beta1``, ``1 - beta2``, ``decay = lr * wd``."""
        return torch.stack(
            [h["lr"], 1 - h["beta1"], 1 - h["beta2"], h["lr"] * h["weight_decay"]], 1
        )

    def build(self, flat: torch.Tensor, layout=None, *, kernels: str = "auto") -> StackedLion:
        return StackedLion(flat, kernels=kernels)


class StackedLion:
    """Lion on a flat ``[N, P]`` buffer (fused Triton step on CUDA, torch passes elsewhere)."""

    def __init__(self, flat: torch.Tensor, *, kernels: str = "auto") -> None:
        self.m = torch.zeros_like(flat)  # (N, P) momentum
        self.fused = use_kernels(flat, kernels)
        if self.fused:
            self.sq = torch.zeros(2, flat.shape[0], device=flat.device)
        else:
            self.work = torch.empty_like(flat)
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
        """Update ``p`` in place; ``c`` is ``[4, N, 1]``. Returns update and parameter norms.

        ``scale`` is ``None`` or ``(backbone [P], ratio [N, 1])`` (see :mod:`workbench.optim.base`).
        """
        scale = check_scale("StackedLion.step", p, scale)
        if self.fused:
            from workbench.kernels import fused_lion_step

            self.sq.zero_()
            a = alive[:, 0].float()
            fused_lion_step(p, g, self.m, c[..., 0], a, *self.sq, **kernel_scale(scale))
            return self.sq.sqrt().unbind(0)
        lr, c1, c2, decay = c.unbind(0)
        torch.lerp(self.m, g, c1, out=self.work).sign_()
        torch.mul(p, -decay * alive, out=self.delta)
        self.delta.addcmul_(self.work, -lr * alive)
        self.m.lerp_(g, c2)
        return finish_step(p, self.delta, scale, self.work)


def lion_reference_step(
    p: torch.Tensor,
    g: torch.Tensor,
    m: torch.Tensor,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
) -> None:
    """One Lion step of one run, written as in the paper's Algorithm 2 (in place on p and m)."""
    with torch.no_grad():
        c = beta1 * m + (1 - beta1) * g
        p.mul_(1 - lr * weight_decay)
        p.add_(torch.sign(c), alpha=-lr)
        m.mul_(beta2).add_(g, alpha=1 - beta2)
