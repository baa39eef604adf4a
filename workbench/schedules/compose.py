"""Composite schedules: :func:`join` runs schedules end to end."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .checks import _boundaries, _sequence
from .core import Schedule, ScheduleLike, _build, _evaluate, _register, as_schedule


def _eval_join(
    t: torch.Tensor, *, schedules: tuple[Schedule, ...], boundaries: tuple[int, ...]
) -> torch.Tensor:
    out = _evaluate(schedules[0], t)
    # Boundaries increase, so each later segment overwrites the earlier ones from its start on;
    # every segment sees steps relative to its own start (negative ones clamp to 0).
    for start, schedule in zip(boundaries, schedules[1:], strict=True):
        out = torch.where(t >= start, _evaluate(schedule, t - start), out)
    return out


# Positional-or-keyword like optax's join_schedules(schedules, boundaries).
@_register(_eval_join)
def join(schedules: Sequence[ScheduleLike], boundaries: Sequence[int]) -> Schedule:
    """Join schedules end to end, each seeing steps relative to its own start.

    ``schedules[i]`` is used on ``[boundaries[i-1], boundaries[i])`` and evaluated at
    ``step - boundaries[i-1]`` (``schedules[0]`` at ``step``), as in optax ``join_schedules``.

    Parameters
    ----------
    schedules : sequence of Schedule or float
        One more than ``boundaries``; numbers become :func:`constant` schedules.
    boundaries : sequence of int
        Strictly increasing steps ``>= 0`` at which the next schedule takes over.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> from workbench.schedules import linear, warmup
    >>> s = join([warmup(peak=1.0, steps=10), linear(start=1.0, end=0.0, steps=90)], [10])
    >>> [round(s(t), 4) for t in (0, 5, 10, 55, 100, 200)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """
    boundaries = _boundaries("join", boundaries)
    schedules = tuple(as_schedule(s) for s in _sequence("join", "schedules", schedules))
    if len(schedules) != len(boundaries) + 1:
        raise ValueError(
            f"join: schedules has {len(schedules)} entries; it needs len(boundaries) + 1 = "
            f"{len(boundaries) + 1}"
        )
    return _build("join", schedules=schedules, boundaries=boundaries)
