"""Learning-rate decay schedules: cosine, 1-sqrt, inverse square root and warmup-stable-decay."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .checks import _check_shape, _count, _finite, _fraction, _nonnegative, _warmup_steps
from .core import Schedule, _build, _cosine_weight, _lerp, _progress, _register, _with_warmup

WSD_SHAPES = ("linear", "cosine", "1-sqrt")  # decay shapes accepted by wsd(shape=...)


def _eval_cosine(
    t: torch.Tensor, *, peak: float, steps: int, warmup: int, final: float
) -> torch.Tensor:
    down = _lerp(peak, final, _cosine_weight(_progress(t, warmup, steps)))
    return _with_warmup(t, down, peak=peak, warmup=warmup)


@_register(_eval_cosine)
def cosine(*, peak: float, steps: int, warmup: int = 0, final: float = 0.0) -> Schedule:
    """Linear warmup, then half-cosine decay from ``peak`` to ``final`` (SGDR).

    Linear from 0 at step 0 to ``peak`` at step ``warmup``, then
    ``final + (peak - final) * (1 + cos(pi * p)) / 2`` with ``p = (t - warmup) / (steps - warmup)``,
    reaching ``final`` at step ``steps`` and holding it after. With ``warmup == steps`` there is
    no decay phase: the value drops to ``final`` at step ``steps``.

    Parameters
    ----------
    peak : float
        Value at the end of warmup, ``>= 0``.
    steps : int
        Step at which ``final`` is reached, ``>= 1``.
    warmup : int, default 0
        Number of warmup steps, ``0 <= warmup <= steps``; with 0, step 0 gives ``peak``.
    final : float, default 0.0
        Value at step ``steps`` and after, ``>= 0``.

    Returns
    -------
    Schedule

    References
    ----------
    Loshchilov & Hutter (2017), "SGDR: Stochastic gradient descent with warm restarts", ICLR.

    Examples
    --------
    >>> s = cosine(peak=1.0, steps=110, warmup=10, final=0.1)
    >>> [round(s(t), 4) for t in (0, 5, 10, 60, 110, 200)]
    [0.0, 0.5, 1.0, 0.55, 0.1, 0.1]
    """
    steps = _count("cosine", "steps", steps, minimum=1)
    return _build(
        "cosine",
        peak=_nonnegative("cosine", "peak", peak),
        steps=steps,
        warmup=_warmup_steps("cosine", warmup, steps),
        final=_nonnegative("cosine", "final", final),
    )


def _eval_one_minus_sqrt(t: torch.Tensor, *, peak: float, steps: int, final: float) -> torch.Tensor:
    return _lerp(peak, final, _progress(t, 0, steps).sqrt())


@_register(_eval_one_minus_sqrt)
def one_minus_sqrt(*, peak: float, steps: int, final: float = 0.0) -> Schedule:
    """Decay from ``peak`` to ``final`` with shape ``1 - sqrt(t / steps)``.

    ``final + (peak - final) * (1 - sqrt(t / steps))``; holds ``final`` after ``steps``. This is
    the cooldown shape Hägele et al. found best for WSD; see :func:`wsd` for the full schedule.

    Parameters
    ----------
    peak : float
        Value at step 0, ``>= 0``.
    steps : int
        Step at which ``final`` is reached, ``>= 1``.
    final : float, default 0.0
        Value at step ``steps`` and after, ``>= 0``.

    Returns
    -------
    Schedule

    References
    ----------
    Hägele et al. (2024), "Scaling laws and compute-optimal training beyond fixed training
    durations", NeurIPS.

    Examples
    --------
    >>> s = one_minus_sqrt(peak=1.0, steps=100)
    >>> [round(s(t), 4) for t in (0, 25, 100, 150)]
    [1.0, 0.5, 0.0, 0.0]
    """
    return _build(
        "one_minus_sqrt",
        peak=_nonnegative("one_minus_sqrt", "peak", peak),
        steps=_count("one_minus_sqrt", "steps", steps, minimum=1),
        final=_nonnegative("one_minus_sqrt", "final", final),
    )


def _eval_inverse_sqrt(
    t: torch.Tensor, *, peak: float, warmup: int, timescale: float | None
) -> torch.Tensor:
    tau = warmup if timescale is None else timescale
    # Clamped so the unused branch of the where() below stays finite before warmup.
    down = peak * torch.sqrt(tau / ((t - warmup).clamp(min=0) + tau))
    return _with_warmup(t, down, peak=peak, warmup=warmup)


@_register(_eval_inverse_sqrt)
def inverse_sqrt(*, peak: float, warmup: int, timescale: float | None = None) -> Schedule:
    """Linear warmup, then inverse-square-root decay (Transformer schedule).

    Linear from 0 at step 0 to ``peak`` at step ``warmup``, then
    ``peak * sqrt(timescale / (t - warmup + timescale))``. With the default
    ``timescale = warmup`` this is ``peak * sqrt(warmup / t)``, which is Vaswani et al.'s
    ``d_model**-0.5 * min(t**-0.5, t * warmup**-1.5)`` with ``peak = (d_model * warmup)**-0.5``.
    It has no end: it decays towards 0 forever.

    Parameters
    ----------
    peak : float
        Value at step ``warmup``, ``>= 0``.
    warmup : int
        Number of warmup steps, ``>= 0`` (``>= 1`` unless ``timescale`` is given).
    timescale : float, optional
        Decay timescale in steps, ``> 0``; defaults to ``warmup`` (stored as ``None``, so
        ``replace(warmup=...)`` moves it too).

    Returns
    -------
    Schedule

    References
    ----------
    Vaswani et al. (2017), "Attention is all you need", NeurIPS, Sec. 5.3.

    Examples
    --------
    >>> s = inverse_sqrt(peak=1.0, warmup=100)
    >>> [round(s(t), 4) for t in (0, 50, 100, 400, 10_000)]
    [0.0, 0.5, 1.0, 0.5, 0.1]
    """
    warmup = _count("inverse_sqrt", "warmup", warmup, minimum=0)
    if timescale is None:
        if warmup == 0:
            raise ValueError(
                "inverse_sqrt: timescale=None defaults to warmup, so warmup=0 needs an explicit "
                "timescale > 0"
            )
    else:
        timescale = _finite("inverse_sqrt", "timescale", timescale)
        if timescale <= 0:
            raise ValueError(f"inverse_sqrt: timescale={timescale} must be > 0")
    return _build(
        "inverse_sqrt",
        peak=_nonnegative("inverse_sqrt", "peak", peak),
        warmup=warmup,
        timescale=timescale,
    )


_SHAPE_WEIGHTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda p: p,
    "cosine": lambda p: _cosine_weight(p),
    "1-sqrt": torch.sqrt,
}


def _eval_wsd(
    t: torch.Tensor,
    *,
    peak: float,
    steps: int,
    warmup: int,
    decay: float,
    shape: str,
    final: float,
) -> torch.Tensor:
    start = steps - round(decay * steps)
    # Before `start` the progress is 0, so this is also the stable phase.
    down = _lerp(peak, final, _SHAPE_WEIGHTS[shape](_progress(t, start, steps)))
    return _with_warmup(t, down, peak=peak, warmup=warmup)


@_register(_eval_wsd)
def wsd(
    *,
    peak: float,
    steps: int,
    warmup: int = 0,
    decay: float = 0.2,
    shape: str = "linear",
    final: float = 0.0,
) -> Schedule:
    """Warmup-Stable-Decay: linear warmup, constant ``peak``, then a short decay to ``final``.

    Linear from 0 at step 0 to ``peak`` at step ``warmup``; ``peak`` until the decay starts at
    step ``steps - round(decay * steps)`` (Python ``round``: ties go to even); then ``peak`` to
    ``final`` at step ``steps`` with the given shape; ``final`` after. With ``decay = 0`` the
    value drops to ``final`` at step ``steps``.

    Parameters
    ----------
    peak : float
        Value of the stable phase, ``>= 0``.
    steps : int
        Total length; ``final`` is reached at step ``steps``, ``>= 1``.
    warmup : int, default 0
        Number of warmup steps, ``>= 0``; ``warmup + round(decay * steps) <= steps``.
    decay : float, default 0.2
        Fraction of ``steps`` spent decaying, in ``[0, 1]``.
    shape : {"linear", "cosine", "1-sqrt"}, default "linear"
        Decay shape in terms of decay progress ``p``: ``1 - p``, ``(1 + cos(pi p)) / 2``,
        ``1 - sqrt(p)`` (Hägele et al. find "1-sqrt" best).
    final : float, default 0.0
        Value at step ``steps`` and after, ``>= 0``.

    Returns
    -------
    Schedule

    References
    ----------
    Wen et al. (2024), "Understanding warmup-stable-decay learning rates: a river valley loss
    landscape perspective". Hägele et al. (2024), "Scaling laws and compute-optimal training
    beyond fixed training durations", NeurIPS.

    Examples
    --------
    >>> s = wsd(peak=1.0, steps=100, warmup=10, decay=0.2)
    >>> [round(s(t), 4) for t in (0, 5, 10, 80, 90, 100, 150)]
    [0.0, 0.5, 1.0, 1.0, 0.5, 0.0, 0.0]
    >>> round(s.replace(shape="1-sqrt")(85), 4)
    0.5
    """
    steps = _count("wsd", "steps", steps, minimum=1)
    warmup = _warmup_steps("wsd", warmup, steps)
    decay = _fraction("wsd", "decay", decay)
    shape = _check_shape("wsd", shape, WSD_SHAPES)
    decay_steps = round(decay * steps)
    if warmup + decay_steps > steps:
        raise ValueError(
            f"wsd: warmup={warmup} plus decay steps round(decay * steps)={decay_steps} must be "
            f"<= steps={steps}"
        )
    return _build(
        "wsd",
        peak=_nonnegative("wsd", "peak", peak),
        steps=steps,
        warmup=warmup,
        decay=decay,
        shape=shape,
        final=_nonnegative("wsd", "final", final),
    )
