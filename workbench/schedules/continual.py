"""Schedules for continual pre-training: the infinite schedule and re-warming a schedule."""

from __future__ import annotations

import numbers

import torch

from .checks import _check_shape, _count, _nonnegative
from .core import (
    Schedule,
    ScheduleLike,
    _build,
    _cosine_weight,
    _evaluate,
    _lerp,
    _progress,
    _register,
    _with_warmup,
    as_schedule,
)
from .decay import _SHAPE_WEIGHTS, WSD_SHAPES

# Anneal shapes accepted by infinite(shape=...): the WSD decay shapes plus the exponential
# (geometric) anneal of Ibrahim et al. (2024) and Singh et al. (2025).
ANNEAL_SHAPES = (*WSD_SHAPES, "exponential")


def _anneal(start: float | torch.Tensor, end: float, p: torch.Tensor, shape: str) -> torch.Tensor:
    """From ``start`` at progress 0 to ``end`` at progress 1 with the given shape."""
    if shape == "exponential":
        # Geometric interpolation, anchored at the nearer end so p=0 and p=1 are exact.
        ratio = end / start
        return torch.where(p < 0.5, start * ratio**p, end * (1 / ratio) ** (1 - p))
    return _lerp(start, end, _SHAPE_WEIGHTS[shape](p))


# --------------------------------------------------------------------------- infinite


def _eval_infinite(
    t: torch.Tensor,
    *,
    peak: float,
    warmup: int,
    cooldown: int,
    constant: float,
    anneal_at: int | None,
    anneal_steps: int,
    final: float,
    shape: str,
) -> torch.Tensor:
    # After the cooldown the progress stays 1, which is the constant phase.
    cool = _lerp(peak, constant, _cosine_weight(_progress(t, warmup, warmup + cooldown)))
    out = _with_warmup(t, cool, peak=peak, warmup=warmup)
    if anneal_at is None:
        return out
    down = _anneal(constant, final, _progress(t, anneal_at, anneal_at + anneal_steps), shape)
    return torch.where(t >= anneal_at, down, out)


@_register(_eval_infinite)
def infinite(
    *,
    peak: float,
    warmup: int,
    cooldown: int,
    constant: float,
    anneal_at: int | None = None,
    anneal_steps: int = 0,
    final: float = 0.0,
    shape: str = "cosine",
) -> Schedule:
    """Infinite schedule: warmup, cosine cooldown to a constant, constant, anneal on demand.

    Four phases (Ibrahim et al. 2024; Singh et al. 2025, "Inf Cos"):

    1. linear warmup from 0 at step 0 to ``peak`` at step ``warmup``;
    2. half-cosine cooldown from ``peak`` to ``constant`` over the next ``cooldown`` steps;
    3. ``constant`` for as long as training goes on, across tasks and datasets, with no budget
       fixed in advance;
    4. if ``anneal_at`` is given: from ``constant`` at step ``anneal_at`` to ``final`` at step
       ``anneal_at + anneal_steps`` with the given ``shape``, then ``final`` for ever.

    *Anneal on demand*: the main run uses ``anneal_at=None`` and never anneals. Whenever a
    usable checkpoint is wanted at step ``s``, fork the run there and continue the fork with
    ``schedule.replace(anneal_at=s)``; the main run goes on at ``constant``, unchanged. Unlike
    re-warming a decayed schedule for each new task (:func:`rewarm`), the main run's LR never
    rises again, which avoids the forgetting each re-warm causes.

    Parameters
    ----------
    peak : float
        Value at the end of warmup (``eta_max``), ``>= 0``.
    warmup : int
        Warmup steps, ``>= 0``; with 0 the schedule starts at ``peak``.
    cooldown : int
        Cooldown steps, ``>= 0``; with 0 the value drops to ``constant`` at step ``warmup``.
    constant : float
        Value of the constant phase (``eta_const``), ``>= 0``.
    anneal_at : int, optional
        Step at which the anneal starts, ``>= warmup + cooldown`` (the anneal leaves the
        constant phase). ``None`` (default): never anneal.
    anneal_steps : int, default 0
        Length of the anneal, ``>= 0``; with 0 the value drops to ``final`` at ``anneal_at``.
        It may be set while ``anneal_at`` is ``None`` (it is then unused), so a main schedule
        can carry its anneal length and forks only set ``anneal_at``.
    final : float, default 0.0
        Value at the end of the anneal and after (``eta_min``), ``>= 0``; ``> 0`` for
        ``shape="exponential"``.
    shape : {"linear", "cosine", "1-sqrt", "exponential"}, default "cosine"
        Anneal shape in terms of anneal progress ``p``: ``1 - p``, ``(1 + cos(pi p)) / 2``,
        ``1 - sqrt(p)``, or geometric ``constant * (final / constant)**p``, which is the
        papers' choice (it needs ``constant > 0`` and ``final > 0``).

    Returns
    -------
    Schedule

    References
    ----------
    Ibrahim et al. (2024), "Simple and scalable strategies to continually pre-train large
    language models", TMLR. Singh et al. (2025), "Beyond cosine decay: on the
    effectiveness of infinite learning rate schedule for continual pre-training".

    Examples
    --------
    >>> s = infinite(peak=1.0, warmup=10, cooldown=20, constant=0.5, anneal_steps=10)
    >>> [round(s(t), 4) for t in (0, 5, 10, 20, 30, 10**6)]
    [0.0, 0.5, 1.0, 0.75, 0.5, 0.5]
    >>> fork = s.replace(anneal_at=100)  # a checkpoint wanted at step 100
    >>> [round(fork(t), 4) for t in (99, 100, 105, 110, 10**6)]
    [0.5, 0.5, 0.25, 0.0, 0.0]
    """
    warmup = _count("infinite", "warmup", warmup, minimum=0)
    cooldown = _count("infinite", "cooldown", cooldown, minimum=0)
    constant = _nonnegative("infinite", "constant", constant)
    final = _nonnegative("infinite", "final", final)
    if anneal_at is not None:
        anneal_at = _count("infinite", "anneal_at", anneal_at, minimum=0)
        if anneal_at < warmup + cooldown:
            raise ValueError(
                f"infinite: anneal_at={anneal_at} must be None or >= warmup + cooldown = "
                f"{warmup + cooldown} (the anneal starts from the constant phase)"
            )
    shape = _check_shape("infinite", shape, ANNEAL_SHAPES)
    if shape == "exponential" and (constant == 0 or final == 0):
        raise ValueError(
            f"infinite: shape='exponential' needs constant > 0 and final > 0, got "
            f"constant={constant}, final={final}"
        )
    return _build(
        "infinite",
        peak=_nonnegative("infinite", "peak", peak),
        warmup=warmup,
        cooldown=cooldown,
        constant=constant,
        anneal_at=anneal_at,
        anneal_steps=_count("infinite", "anneal_steps", anneal_steps, minimum=0),
        final=final,
        shape=shape,
    )


# --------------------------------------------------------------------------- rewarm


def _eval_rewarm(
    t: torch.Tensor,
    *,
    base: Schedule,
    at: int,
    peak: float,
    warmup: int,
    decay_steps: int,
    final: float,
    shape: str,
) -> torch.Tensor:
    start = _evaluate(base, torch.tensor(float(at), dtype=torch.float64, device=t.device))
    up = _lerp(start, peak, _progress(t, at, at + warmup))
    top = at + warmup
    down = _anneal(peak, final, _progress(t, top, top + decay_steps), shape)
    return torch.where(t < at, _evaluate(base, t), torch.where(t < top, up, down))


@_register(_eval_rewarm)
def rewarm(
    *,
    base: ScheduleLike,
    at: int,
    peak: float,
    warmup: int,
    decay_steps: int,
    final: float = 0.0,
    shape: str = "cosine",
) -> Schedule:
    """Follow ``base`` until step ``at``, then re-warm to ``peak`` and re-decay to ``final``.

    The recipe for continuing pre-training on new data (Gupta et al. 2023; Ibrahim et al.
    2024): before step ``at`` the value is ``base(t)``; from ``at`` it rises linearly from
    ``base(at)`` to ``peak`` at step ``at + warmup``; then it decays from ``peak`` to ``final``
    at step ``at + warmup + decay_steps`` with the given shape, and holds ``final``. Unlike
    :func:`join`, the re-warm starts from the value ``base`` has reached, so there is no jump
    at ``at``. Re-warms nest: ``base`` may itself be a ``rewarm`` (one per new dataset).

    Parameters
    ----------
    base : Schedule or float
        Schedule followed before ``at`` (a number is a constant schedule).
    at : int
        Step at which the re-warm starts, ``>= 0``.
    peak : float
        Re-warm target, ``>= 0``.
    warmup : int
        Re-warm steps, ``>= 0``; with 0 the value jumps to ``peak`` at ``at``.
    decay_steps : int
        Re-decay steps after the re-warm, ``>= 0``; with 0 the value drops to ``final`` at
        ``at + warmup``.
    final : float, default 0.0
        Value at the end of the re-decay and after, ``>= 0``.
    shape : {"linear", "cosine", "1-sqrt"}, default "cosine"
        Re-decay shape in terms of progress ``p``: ``1 - p``, ``(1 + cos(pi p)) / 2``,
        ``1 - sqrt(p)``.

    Returns
    -------
    Schedule

    References
    ----------
    Gupta et al. (2023), "Continual pre-training of large language models: how to (re)warm
    your model?". Ibrahim et al. (2024), "Simple and scalable strategies to continually
    pre-train large language models", TMLR.

    Examples
    --------
    >>> from workbench.schedules import cosine
    >>> first = cosine(peak=1.0, steps=100, final=0.1)
    >>> s = rewarm(base=first, at=120, peak=0.5, warmup=10, decay_steps=50, shape="linear")
    >>> [round(s(t), 4) for t in (100, 119, 120, 125, 130, 155, 180, 10**6)]
    [0.1, 0.1, 0.1, 0.3, 0.5, 0.25, 0.0, 0.0]
    """
    if not isinstance(base, Schedule | numbers.Real) or isinstance(base, bool):
        raise TypeError(f"rewarm: base must be a Schedule or a number, got {type(base).__name__}")
    return _build(
        "rewarm",
        base=as_schedule(base),
        at=_count("rewarm", "at", at, minimum=0),
        peak=_nonnegative("rewarm", "peak", peak),
        warmup=_count("rewarm", "warmup", warmup, minimum=0),
        decay_steps=_count("rewarm", "decay_steps", decay_steps, minimum=0),
        final=_nonnegative("rewarm", "final", final),
        shape=_check_shape("rewarm", shape, WSD_SHAPES),
    )
