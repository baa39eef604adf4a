"""Simple schedules: linear ramps, warmup, exponential, piecewise-constant and step decay."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .checks import _boundaries, _count, _finite, _nonnegative, _sequence
from .core import Schedule, _build, _lerp, _progress, _register


def _eval_linear(t: torch.Tensor, *, start: float, end: float, steps: int) -> torch.Tensor:
    return _lerp(start, end, _progress(t, 0, steps))


@_register(_eval_linear)
def linear(*, start: float, end: float, steps: int) -> Schedule:
    """Linear from ``start`` at step 0 to ``end`` at step ``steps``, then ``end``.

    With ``end < start`` this is linear decay to a final value.

    Parameters
    ----------
    start, end : float
        Finite values at step 0 and at step ``steps`` (and after).
    steps : int
        Length of the ramp, ``>= 1``.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = linear(start=1.0, end=0.1, steps=10)
    >>> [round(s(t), 4) for t in (0, 5, 10, 20)]
    [1.0, 0.55, 0.1, 0.1]
    """
    return _build(
        "linear",
        start=_finite("linear", "start", start),
        end=_finite("linear", "end", end),
        steps=_count("linear", "steps", steps, minimum=1),
    )


def _eval_warmup(t: torch.Tensor, *, peak: float, steps: int, init: float) -> torch.Tensor:
    return _lerp(init, peak, _progress(t, 0, steps))


@_register(_eval_warmup)
def warmup(*, peak: float, steps: int, init: float = 0.0) -> Schedule:
    """Linear warmup from ``init`` at step 0 to ``peak`` at step ``steps``, then ``peak``.

    Same convention as optax ``linear_schedule``: ``peak`` is first reached at step ``steps``.

    Parameters
    ----------
    peak : float
        Value at step ``steps`` and after, ``>= 0``.
    steps : int
        Warmup length, ``>= 1``.
    init : float, default 0.0
        Value at step 0, ``>= 0``.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = warmup(peak=1.0, steps=4)
    >>> [round(s(t), 4) for t in (0, 1, 4, 9)]
    [0.0, 0.25, 1.0, 1.0]
    """
    return _build(
        "warmup",
        peak=_nonnegative("warmup", "peak", peak),
        steps=_count("warmup", "steps", steps, minimum=1),
        init=_nonnegative("warmup", "init", init),
    )


def _eval_exponential(
    t: torch.Tensor, *, init: float, rate: float, steps: int | None, final: float | None
) -> torch.Tensor:
    n = t if steps is None else t.clamp(max=steps)
    value = init * torch.pow(torch.tensor(rate, dtype=torch.float64, device=t.device), n)
    if final is not None and rate < 1:
        value = value.clamp(min=final)
    elif final is not None and rate > 1:
        value = value.clamp(max=final)
    return value


@_register(_eval_exponential)
def exponential(
    *, init: float, rate: float, steps: int | None = None, final: float | None = None
) -> Schedule:
    """Exponential schedule ``init * rate**t``, optionally stopped and clipped.

    Parameters
    ----------
    init : float
        Value at step 0, ``>= 0``.
    rate : float
        Factor per step, ``> 0``: ``< 1`` decays, ``> 1`` grows.
    steps : int, optional
        If given (``>= 1``), the value stops changing after step ``steps``, like every other
        schedule with a ``steps``. Note this differs from optax, whose ``transition_steps``
        divides the exponent.
    final : float, optional
        Bound on the value: a floor when ``rate < 1`` (then ``final <= init``), a ceiling when
        ``rate > 1`` (then ``final >= init``); ignored when ``rate == 1``.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = exponential(init=1.0, rate=0.5, final=0.1)
    >>> [round(s(t), 4) for t in (0, 1, 2, 3, 4, 100)]
    [1.0, 0.5, 0.25, 0.125, 0.1, 0.1]
    >>> round(exponential(init=1.0, rate=0.5, steps=2)(10), 4)
    0.25
    """
    init = _nonnegative("exponential", "init", init)
    rate = _finite("exponential", "rate", rate)
    if rate <= 0:
        raise ValueError(f"exponential: rate={rate} must be > 0")
    if steps is not None:
        steps = _count("exponential", "steps", steps, minimum=1)
    if final is not None:
        final = _nonnegative("exponential", "final", final)
        if rate < 1 and final > init:
            raise ValueError(
                f"exponential: final={final} must be <= init={init} when rate={rate} < 1"
            )
        if rate > 1 and final < init:
            raise ValueError(
                f"exponential: final={final} must be >= init={init} when rate={rate} > 1"
            )
    return _build("exponential", init=init, rate=rate, steps=steps, final=final)


def _eval_piecewise(
    t: torch.Tensor, *, boundaries: tuple[int, ...], values: tuple[float, ...]
) -> torch.Tensor:
    if not boundaries:
        return torch.full_like(t, values[0])
    edges = torch.tensor(boundaries, dtype=torch.float64, device=t.device)
    levels = torch.tensor(values, dtype=torch.float64, device=t.device)
    # right=True counts boundaries <= t, so a boundary step already has the new value.
    return levels[torch.bucketize(t, edges, right=True)]


@_register(_eval_piecewise)
def piecewise(*, boundaries: Sequence[int], values: Sequence[float]) -> Schedule:
    """Piecewise-constant schedule: ``values[i]`` on ``[boundaries[i-1], boundaries[i])``.

    Parameters
    ----------
    boundaries : sequence of int
        Strictly increasing steps ``>= 0`` at which the value changes.
    values : sequence of float
        Finite values, one more than ``boundaries``: ``values[0]`` before ``boundaries[0]``,
        ``values[-1]`` from ``boundaries[-1]`` on.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = piecewise(boundaries=[10, 20], values=[1.0, 0.5, 0.25])
    >>> [s(t) for t in (0, 9, 10, 19, 20, 99)]
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """
    boundaries = _boundaries("piecewise", boundaries)
    values = tuple(
        _finite("piecewise", f"values[{i}]", v)
        for i, v in enumerate(_sequence("piecewise", "values", values))
    )
    if len(values) != len(boundaries) + 1:
        raise ValueError(
            f"piecewise: values has {len(values)} entries; it needs len(boundaries) + 1 = "
            f"{len(boundaries) + 1}"
        )
    return _build("piecewise", boundaries=boundaries, values=values)


def _eval_step(
    t: torch.Tensor, *, init: float, boundaries: tuple[int, ...], factor: float
) -> torch.Tensor:
    values = tuple(init * factor**i for i in range(len(boundaries) + 1))
    return _eval_piecewise(t, boundaries=boundaries, values=values)


@_register(_eval_step)
def step(*, init: float, boundaries: Sequence[int], factor: float) -> Schedule:
    """Step decay: start at ``init`` and multiply by ``factor`` at each boundary.

    The classic schedule of ResNet training (e.g. ``factor=0.1`` at epochs 30, 60, 90); a
    :func:`piecewise` schedule whose values are ``init * factor**i``.

    Parameters
    ----------
    init : float
        Finite value before ``boundaries[0]``.
    boundaries : sequence of int
        Strictly increasing steps ``>= 0`` at which the value is multiplied by ``factor``.
    factor : float
        Finite multiplier, ``>= 0``.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = step(init=1.0, boundaries=[30, 60], factor=0.1)
    >>> [round(s(t), 4) for t in (0, 29, 30, 59, 60, 1000)]
    [1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
    """
    return _build(
        "step",
        init=_finite("step", "init", init),
        boundaries=_boundaries("step", boundaries),
        factor=_nonnegative("step", "factor", factor),
    )
