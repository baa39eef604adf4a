"""Cyclic schedules: cosine annealing with warm restarts (SGDR) and WSD-S."""

from __future__ import annotations

import math

import torch

from .checks import _check_shape, _count, _fraction, _nonnegative, _warmup_steps
from .core import (
    Schedule,
    _build,
    _cosine_weight,
    _lerp,
    _progress,
    _register,
    _with_warmup,
)
from .decay import _SHAPE_WEIGHTS, WSD_SHAPES


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


# --------------------------------------------------------------------------- WSD-S


def _eval_wsd_s(
    t: torch.Tensor,
    *,
    peak: float,
    steps: int,
    checkpoints: int,
    warmup: int,
    decay: float,
    shape: str,
    final: float,
) -> torch.Tensor:
    ends = [round(steps * (i + 1) / checkpoints) for i in range(checkpoints)]
    out = torch.full_like(t, final)  # after the last checkpoint
    # Later segments first, so each step ends up with the segment it falls in.
    for begin, end in reversed(list(zip([0, *ends[:-1]], ends, strict=True))):
        start = end - round(decay * (end - begin))
        down = _lerp(peak, final, _SHAPE_WEIGHTS[shape](_progress(t, start, end)))
        out = torch.where(t < end, down, out)
    return _with_warmup(t, out, peak=peak, warmup=warmup)


@_register(_eval_wsd_s)
def wsd_s(
    *,
    peak: float,
    steps: int,
    checkpoints: int = 3,
    warmup: int = 0,
    decay: float = 0.2,
    shape: str = "1-sqrt",
    final: float = 0.0,
) -> Schedule:
    """WSD-S: one main run that decays to a checkpoint, then resumes at the peak *from it*.

    The budget ``steps`` is cut into ``checkpoints`` equal segments ending at
    ``round(steps * (i + 1) / checkpoints)``. Each segment holds ``peak`` and decays over its last
    ``decay`` fraction to ``final`` (with ``shape``, as :func:`wsd`); the next segment jumps back
    to ``peak`` and goes on from the decayed parameters. Plain WSD instead branches each decay off
    the stable run and throws the decayed branch away; WSD-S reuses it, so one run yields a
    checkpoint at every segment end (Wen et al. find it matches or beats WSD at those budgets).
    The first segment starts with a linear warmup of ``warmup`` steps.

    Parameters
    ----------
    peak : float
        The stable value, ``>= 0``.
    steps : int
        Total length; the last checkpoint is at step ``steps``, ``>= 1``.
    checkpoints : int, default 3
        Number of decayed checkpoints (segments), ``1 <= checkpoints <= steps``.
    warmup : int, default 0
        Warmup steps at the start, ``>= 0``; must fit in the first segment's stable phase.
    decay : float, default 0.2
        Fraction of each segment spent decaying, in ``[0, 1]``.
    shape : {"linear", "cosine", "1-sqrt"}, default "1-sqrt"
        Decay shape, as in :func:`wsd`.
    final : float, default 0.0
        Value at each checkpoint (and after the last), ``>= 0``.

    Returns
    -------
    Schedule

    References
    ----------
    Wen et al. (2024), "Understanding warmup-stable-decay learning rates: a river valley loss
    landscape perspective" (WSD-S, Sec. 5).

    Examples
    --------
    >>> s = wsd_s(peak=1.0, steps=30, checkpoints=3, decay=0.2, shape="linear")
    >>> [round(s(t), 2) for t in (0, 7, 8, 9, 10, 11, 18, 19, 20, 29, 30)]
    [1.0, 1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 0.5, 1.0, 0.5, 0.0]
    >>> wsd_s(peak=1.0, steps=30, checkpoints=1, decay=0.2) == wsd_s(peak=1.0, steps=30,
    ...     checkpoints=1, decay=0.2, shape="1-sqrt")
    True
    """
    steps = _count("wsd_s", "steps", steps, minimum=1)
    checkpoints = _count("wsd_s", "checkpoints", checkpoints, minimum=1)
    if checkpoints > steps:
        raise ValueError(f"wsd_s: checkpoints={checkpoints} must be <= steps={steps}")
    warmup = _warmup_steps("wsd_s", warmup, steps)
    decay = _fraction("wsd_s", "decay", decay)
    shape = _check_shape("wsd_s", shape, WSD_SHAPES)
    first = round(steps / checkpoints)
    if warmup + round(decay * first) > first:
        raise ValueError(
            f"wsd_s: warmup={warmup} plus the first decay round(decay * {first})="
            f"{round(decay * first)} must fit in the first segment ({first} steps)"
        )
    return _build(
        "wsd_s",
        peak=_nonnegative("wsd_s", "peak", peak),
        steps=steps,
        checkpoints=checkpoints,
        warmup=warmup,
        decay=decay,
        shape=shape,
        final=_nonnegative("wsd_s", "final", final),
    )
