"""Cyclic schedules: cosine annealing with warm restarts (SGDR)."""

from __future__ import annotations

import math

import torch

from .checks import _count, _fraction, _nonnegative
from .core import Schedule, _build, _cosine_weight, _lerp, _register, _with_warmup


def _cycle_index(u: torch.Tensor, *, period: int, mult: int) -> torch.Tensor:
    """Index ``i`` of the cycle holding step ``u >= 0`` (cycle i starts at
    ``period * (mult**i - 1) / (mult - 1)``), as a float64 tensor of whole numbers."""
    if mult == 1:
        return torch.floor(u / period)
    i = torch.floor(torch.log1p(u * ((mult - 1) / period)) / math.log(mult))
    # log() can land an ulp on the wrong side of a restart; cycle starts are exact integers in
    # float64, so one comparison each way puts i right.
    i = torch.where(_cycle_start(i + 1, period=period, mult=mult) <= u, i + 1, i)
    return torch.where(_cycle_start(i, period=period, mult=mult) > u, i - 1, i)


def _cycle_start(i: torch.Tensor, *, period: int, mult: int) -> torch.Tensor:
    if mult == 1:
        return i * period
    return period * (torch.pow(float(mult), i) - 1) / (mult - 1)


def _eval_sgdr(
    t: torch.Tensor,
    *,
    peak: float,
    period: int,
    mult: int,
    final: float,
    warmup: int,
    decay_peak: float,
) -> torch.Tensor:
    u = (t - warmup).clamp(min=0)  # steps since the first cycle started
    i = _cycle_index(u, period=period, mult=mult)
    start = _cycle_start(i, period=period, mult=mult)
    length = period * torch.pow(float(mult), i)
    top = peak * torch.pow(decay_peak, i)  # this cycle's peak; 0**0 == 1 in torch
    down = _lerp(top, final, _cosine_weight((u - start) / length))
    return _with_warmup(t, down, peak=peak, warmup=warmup)


@_register(_eval_sgdr)
def sgdr(
    *,
    peak: float,
    period: int,
    mult: int = 1,
    final: float = 0.0,
    warmup: int = 0,
    decay_peak: float = 1.0,
) -> Schedule:
    """Cosine annealing with warm restarts (SGDR), optionally after a linear warmup.

    Linear from 0 at step 0 to ``peak`` at step ``warmup``; then cycles ``i = 0, 1, 2, ...`` of
    ``T_i = period * mult**i`` steps, each a half cosine from ``peak * decay_peak**i`` down to
    ``final``: ``final + (top_i - final) * (1 + cos(pi * T_cur / T_i)) / 2`` with ``T_cur`` the
    steps since the cycle began. At a restart the value jumps back to the next cycle's top, so
    ``final`` itself is only approached, never held (as in PyTorch's
    ``CosineAnnealingWarmRestarts``). There is no end: the cycles go on for ever.

    Parameters
    ----------
    peak : float
        Value at the start of the first cycle (step ``warmup``), ``>= 0``.
    period : int
        Length ``T_0`` of the first cycle in steps, ``>= 1``.
    mult : int, default 1
        Factor ``T_mult`` by which each cycle is longer than the one before, an integer
        ``>= 1`` (as in the paper and PyTorch, so every restart falls on a whole step).
    final : float, default 0.0
        Value each cycle decays towards (``eta_min``), ``>= 0``.
    warmup : int, default 0
        Linear warmup steps before the first cycle, ``>= 0``.
    decay_peak : float, default 1.0
        Factor in ``[0, 1]`` applied to the top of each new cycle (cycle ``i`` starts at
        ``peak * decay_peak**i``). Not in the paper; a common extension (timm's
        ``cycle_decay``). 1 restarts at ``peak`` every time.

    Returns
    -------
    Schedule

    References
    ----------
    Loshchilov & Hutter (2017), "SGDR: Stochastic gradient descent with warm restarts", ICLR,
    Eq. (5).

    Examples
    --------
    >>> s = sgdr(peak=1.0, period=10, mult=2)
    >>> [round(s(t), 4) for t in (0, 5, 9, 10, 20, 30, 50, 70)]
    [1.0, 0.5, 0.0245, 1.0, 0.5, 1.0, 0.5, 1.0]
    >>> s = sgdr(peak=1.0, period=4, warmup=2, decay_peak=0.5)
    >>> [round(s(t), 4) for t in (0, 1, 2, 4, 6, 8, 10)]
    [0.0, 0.5, 1.0, 0.5, 0.5, 0.25, 0.25]
    """
    return _build(
        "sgdr",
        peak=_nonnegative("sgdr", "peak", peak),
        period=_count("sgdr", "period", period, minimum=1),
        mult=_count("sgdr", "mult", mult, minimum=1),
        final=_nonnegative("sgdr", "final", final),
        warmup=_count("sgdr", "warmup", warmup, minimum=0),
        decay_peak=_fraction("sgdr", "decay_peak", decay_peak),
    )
