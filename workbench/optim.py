"""Stacked optimizers: one step updates the flat ``[N, P]`` parameters of every run.

Every hyperparameter is per run: the engine reads a column ``[N, 1]`` of a precomputed schedule
table each step, so runs with different learning-rate schedules, weight decays or betas share
one update. Weight decay is decoupled (Loshchilov & Hutter 2019) for both optimizers.

The plain references are ``torch.optim.AdamW`` and ``torch.optim.SGD`` (with the decoupled
decay applied by hand, see :func:`sgd_reference_step`); ``tests/test_optim.py`` steps both
with identical gradients and checks they agree.

A run that has diverged is frozen by the ``alive`` mask: its update is zero (a NaN gradient
included), so its parameters stop changing; runs never mix, so no NaN reaches its neighbours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar

import torch

from .schedules import Schedule, as_schedule

__all__ = ["SGD", "AdamW", "OPTIMIZERS", "StackedAdamW", "StackedSGD", "sgd_reference_step"]

Hyper = float | Schedule


def _check_hyper(opt: str, name: str, value, lo: float, hi: float | None) -> Hyper:
    """Validate a scalar-or-schedule hyperparameter on its range (schedules on a probe table)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Schedule)):
        raise ValueError(f"{opt}: {name}={value!r} must be a number or a Schedule")
    if isinstance(value, Schedule):
        return value  # checked on every step by `tables`, once the run length is known
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{opt}: {name}={value!r} must be finite")
    if value < lo or (hi is not None and value > hi):
        allowed = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{opt}: {name}={value!r} must be {allowed}")
    return value


class _OptimizerSpec:
    """Shared behaviour of optimizer configs: named, scheduled hyperparameters with ranges."""

    name: ClassVar[str]
    # hyperparameter -> (lowest, highest) allowed value; all may be schedules
    ranges: ClassVar[dict[str, tuple[float, float | None]]]

    def __post_init__(self) -> None:
        for h, (lo, hi) in self.ranges.items():
            object.__setattr__(self, h, _check_hyper(self.name, h, getattr(self, h), lo, hi))

    @property
    def hyperparameters(self) -> tuple[str, ...]:
        """Names of the per-run (possibly scheduled) hyperparameters, in table order."""
        return tuple(self.ranges)

    def structure(self) -> tuple:
        """What must be equal for two runs to share a lockstep bucket."""
        return (type(self).__name__,) + tuple(
            getattr(self, f.name) for f in fields(self) if f.name not in self.ranges
        )

    def tables(self, steps: int) -> dict[str, torch.Tensor]:
        """float64 tables ``[steps]`` of each hyperparameter, validated on every step."""
        out = {}
        for h, (lo, hi) in self.ranges.items():
            t = as_schedule(getattr(self, h)).table(steps)
            bad = ~torch.isfinite(t) | (t < lo)
            if hi is not None:
                bad |= t > hi
            if bool(bad.any()):
                i = int(bad.nonzero()[0, 0])
                allowed = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
                raise ValueError(
                    f"{self.name}: {h} at step {i} is {float(t[i]):.6g}; it must be {allowed}"
                )
            out[h] = t
        return out


@dataclass(frozen=True)
class AdamW(_OptimizerSpec):
    """AdamW (Loshchilov & Hutter 2019) with per-run, optionally scheduled hyperparameters.

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

    def build(self, flat: torch.Tensor) -> StackedAdamW:
        return StackedAdamW(flat)

    def coefficients(self, tables: dict[str, torch.Tensor]) -> torch.Tensor:
        return StackedAdamW.coefficients(tables)


@dataclass(frozen=True)
class SGD(_OptimizerSpec):
    """SGD with heavy-ball or Nesterov momentum and decoupled weight decay, per run.

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

    def build(self, flat: torch.Tensor) -> StackedSGD:
        return StackedSGD(flat, nesterov=self.nesterov)

    def coefficients(self, tables: dict[str, torch.Tensor]) -> torch.Tensor:
        return StackedSGD.coefficients(tables)


OPTIMIZERS: dict[str, type] = {"AdamW": AdamW, "SGD": SGD}


class StackedAdamW:
    """The AdamW update of all runs at once on a flat ``[N, P]`` buffer.

    The per-step coefficients come from :meth:`coefficients`, computed once per run in float64
    from the hyperparameter tables: ``1 - beta`` and the bias corrections (running products of
    each run's betas, equal to ``1 - beta**t`` for constant betas and still right when betas are
    scheduled) would lose digits in float32. With ``c2 = sqrt(1 - prod beta2)`` the torch update
    ``lr / (1 - prod beta1) * m / (sqrt(v) / c2 + eps)`` is rewritten as
    ``step * m / (sqrt(v) + eps * c2)``, so each step is a few in-place passes over ``[N, P]``
    into preallocated buffers.
    """

    names = ("one_minus_beta1", "one_minus_beta2", "step", "eps_hat", "decay")

    def __init__(self, flat: torch.Tensor) -> None:
        self.m = torch.zeros_like(flat)  # (N, P) first moment
        self.v = torch.zeros_like(flat)  # (N, P) second moment
        self.work = torch.empty_like(flat)  # (N, P) scratch
        self.delta = torch.empty_like(flat)  # (N, P) the update, returned for its norm

    @staticmethod
    def coefficients(h: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[T, 5, N]`` float64 coefficients from ``[T, N]`` float64 hyperparameter tables."""
        c2 = (1 - torch.cumprod(h["beta2"], 0)).sqrt()
        return torch.stack(
            [
                1 - h["beta1"],
                1 - h["beta2"],
                h["lr"] / (1 - torch.cumprod(h["beta1"], 0)) * c2,
                h["eps"] * c2,
                h["lr"] * h["weight_decay"],
            ],
            1,
        )

    @torch.no_grad()
    def step(self, p: torch.Tensor, g: torch.Tensor, c: torch.Tensor, alive: torch.Tensor):
        """Update ``p`` in place with gradient ``g``; ``c`` is ``[5, N, 1]``, ``alive`` ``[N, 1]``.

        Frozen runs (``alive`` false) get a zero update even when their gradient is NaN.
        """
        c1, c2, step, eps_hat, decay = c.unbind(0)
        self.m.lerp_(g, c1)
        torch.mul(g, g, out=self.work)
        self.v.lerp_(self.work, c2)
        torch.sqrt(self.v, out=self.work).add_(eps_hat)
        torch.div(self.m, self.work, out=self.work)
        torch.mul(p, -decay * alive, out=self.delta)
        self.delta.addcmul_(self.work, -step * alive)
        return _apply(p, self.delta)


class StackedSGD:
    """SGD with momentum (torch semantics, no dampening) on a flat ``[N, P]`` buffer."""

    names = ("lr", "momentum", "decay")

    def __init__(self, flat: torch.Tensor, *, nesterov: bool = False) -> None:
        self.buf = torch.zeros_like(flat)  # (N, P); zero init makes step 1's buffer = gradient
        self.work = torch.empty_like(flat) if nesterov else None
        self.delta = torch.empty_like(flat)
        self.nesterov = nesterov

    @staticmethod
    def coefficients(h: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[T, 3, N]`` float64 coefficients from ``[T, N]`` float64 hyperparameter tables."""
        return torch.stack([h["lr"], h["momentum"], h["lr"] * h["weight_decay"]], 1)

    @torch.no_grad()
    def step(self, p: torch.Tensor, g: torch.Tensor, c: torch.Tensor, alive: torch.Tensor):
        """Update ``p`` in place; ``c`` is ``[3, N, 1]``, ``alive`` ``[N, 1]``."""
        lr, mu, decay = c.unbind(0)
        self.buf.mul_(mu).add_(g)
        d = torch.addcmul(g, self.buf, mu, out=self.work) if self.nesterov else self.buf
        torch.mul(p, -decay * alive, out=self.delta)
        self.delta.addcmul_(d, -lr * alive)
        return _apply(p, self.delta)


def _apply(p: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    # A frozen run's coefficients are zero, but 0 * NaN is NaN: clear those, then step.
    torch.nan_to_num_(delta, nan=0.0, posinf=0.0, neginf=0.0)
    p.add_(delta)
    return delta


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
