"""AdamW (Loshchilov & Hutter 2019) for all runs at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import Hyper, OptimizerSpec, check_scale, finish_step, kernel_scale, use_kernels

__all__ = ["AdamW", "StackedAdamW", "adamw_coefficients"]


@dataclass(frozen=True)
class AdamW(OptimizerSpec):
    """AdamW with per-run, optionally scheduled hyperparameters.

    Examples
    --------
    >>> from workbench import schedules
    >>> opt = AdamW(lr=schedules.cosine(peak=3e-3, steps=100, warmup=10), weight_decay=0.01)
    >>> opt.hyperparameters
    ('lr', 'beta1', 'beta2', 'eps', 'weight_decay')
    >>> round(float(opt.tables(100)["lr"][10]), 6)
    0.003
    """

    lr: Hyper = 1e-3  # learning rate (number or Schedule)
    beta1: Hyper = 0.9  # first-moment decay
    beta2: Hyper = 0.999  # second-moment decay
    eps: Hyper = 1e-8  # added to the root of the second moment
    weight_decay: Hyper = 0.01  # decoupled: theta <- theta * (1 - lr * wd)

    name: ClassVar[str] = "AdamW"
    ranges: ClassVar[dict] = {
        "lr": (0.0, None),
        "beta1": (0.0, 1.0),
        "beta2": (0.0, 1.0),
        "eps": (0.0, None),
        "weight_decay": (0.0, None),
    }

    def coefficients(self, h: dict[str, torch.Tensor]) -> torch.Tensor:
        return adamw_coefficients(h)

    def build(self, flat: torch.Tensor, layout=None, *, kernels: str = "auto") -> StackedAdamW:
        return StackedAdamW(flat, kernels=kernels)


def adamw_coefficients(h: dict[str, torch.Tensor], prefix: str = "") -> torch.Tensor:
    """``[T, 5, N]`` float64 AdamW coefficients from ``[T, N]`` float64 tables.

    Rows: ``1 - beta1``, ``1 - beta2``, ``step``, ``eps_hat``, ``decay``. With
    ``c2 = sqrt(1 - prod beta2)``, torch's ``lr / (1 - prod beta1) * m / (sqrt(v) / c2 + eps)`` is
    ``step * m / (sqrt(v) + eps_hat)`` with ``step = lr / (1 - prod beta1) * c2`` and
    ``eps_hat = eps * c2``. Computing ``1 - beta`` and the bias corrections (running products of
    each run's betas: ``1 - beta**t`` for constant betas, still right for scheduled ones) in
    float64 keeps the engine within float32 rounding of a float64 AdamW. ``prefix`` selects
    differently named tables (Muon's AdamW part).
    """
    lr, wd = h[prefix + "lr"], h[prefix + "weight_decay"]
    b1, b2, eps = h[prefix + "beta1"], h[prefix + "beta2"], h[prefix + "eps"]
    c2 = (1 - torch.cumprod(b2, 0)).sqrt()
    step = lr / (1 - torch.cumprod(b1, 0)) * c2
    return torch.stack([1 - b1, 1 - b2, step, eps * c2, lr * wd], 1)


class StackedAdamW:
    """The AdamW update of all runs on a flat ``[N, P]`` buffer.

    On CUDA (or with ``kernels="triton"``) one fused Triton launch does the whole step and its
    norms (``workbench.kernels.fused_adamw_step``); elsewhere the same math runs as in-place torch
    passes into preallocated buffers (a ``scale`` adds two, in the scratch buffer).
    """

    def __init__(self, flat: torch.Tensor, *, kernels: str = "auto") -> None:
        self.m = torch.zeros_like(flat)  # (N, P) first moment
        self.v = torch.zeros_like(flat)  # (N, P) second moment
        self.fused = use_kernels(flat, kernels)
        if self.fused:
            self.sq = torch.zeros(2, flat.shape[0], device=flat.device)  # update, param sums
        else:
            self.work = torch.empty_like(flat)  # (N, P) scratch
            self.delta = torch.empty_like(flat)  # (N, P) the update

    @torch.no_grad()
    def step(
        self,
        p: torch.Tensor,
        g: torch.Tensor,
        c: torch.Tensor,
        alive: torch.Tensor,
        scale: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        """Update ``p`` in place; ``c`` is ``[5, N, 1]``, ``alive`` ``[N, 1]`` bool.

        ``scale`` is ``None`` or ``(backbone [P], ratio [N, 1])``: the update of the backbone
        columns is multiplied by each run's ratio (see :mod:`workbench.optim.base`). Returns the
        update norm and the parameter norm of every run (``[N]`` each).
        """
        scale = check_scale("StackedAdamW.step", p, scale)
        if self.fused:
            from workbench.kernels import fused_adamw_step

            self.sq.zero_()
            a = alive[:, 0].float()
            fused_adamw_step(p, g, self.m, self.v, c[..., 0], a, *self.sq, **kernel_scale(scale))
            return self.sq.sqrt().unbind(0)
        c1, c2, step, eps_hat, decay = c.unbind(0)
        self.m.lerp_(g, c1)
        torch.mul(g, g, out=self.work)
        self.v.lerp_(self.work, c2)
        torch.sqrt(self.v, out=self.work).add_(eps_hat)
        torch.div(self.m, self.work, out=self.work)
        torch.mul(p, -decay * alive, out=self.delta)
        self.delta.addcmul_(self.work, -step * alive)
        return finish_step(p, self.delta, scale, self.work)
