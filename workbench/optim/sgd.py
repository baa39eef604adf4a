"""SGD with heavy-ball or Nesterov momentum and decoupled weight decay, for all runs at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import Hyper, OptimizerSpec, finish_step, use_kernels

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
    """SGD on a flat ``[N, P]`` buffer (fused Triton step on CUDA, torch passes elsewhere)."""

    def __init__(self, flat: torch.Tensor, *, nesterov: bool = False, kernels: str = "auto"):
        self.buf = torch.zeros_like(flat)  # (N, P); zero init makes step 1's buffer = gradient
        self.nesterov = nesterov
        self.fused = use_kernels(flat, kernels)
        if self.fused:
            self.sq = torch.zeros(2, flat.shape[0], device=flat.device)
        else:
            self.work = torch.empty_like(flat) if nesterov else None
            self.delta = torch.empty_like(flat)

    @torch.no_grad()
    def step(self, p: torch.Tensor, g: torch.Tensor, c: torch.Tensor, alive: torch.Tensor):
        """Update ``p`` in place; ``c`` is ``[3, N, 1]``. Returns update and parameter norms."""
        if self.fused:
            from workbench.kernels import fused_sgd_step

            self.sq.zero_()
            fused_sgd_step(
                p, g, self.buf, c[..., 0], alive[:, 0].float(), *self.sq, nesterov=self.nesterov
            )
            return self.sq.sqrt().unbind(0)
        lr, mu, decay = c.unbind(0)
        self.buf.mul_(mu).add_(g)
        d = torch.addcmul(g, self.buf, mu, out=self.work) if self.nesterov else self.buf
        torch.mul(p, -decay * alive, out=self.delta)
        self.delta.addcmul_(d, -lr * alive)
        return finish_step(p, self.delta)


def sgd_reference_step(params, opt: torch.optim.SGD, *, lr: float, weight_decay: float) -> None:
    """One step of the single-run SGD reference: decoupled decay by hand, then torch's SGD.

    ``opt`` must be a ``torch.optim.SGD`` with ``weight_decay=0``; its ``lr`` is set here.
    """
    with torch.no_grad():
        for p in params:
            p.mul_(1 - lr * weight_decay)
    for group in opt.param_groups:
        group["lr"] = lr
    opt.step()
