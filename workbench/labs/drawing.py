"""A hand-drawn curve as a knob: straight lines through ``[x, y]`` knots, validated on set."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import param

__all__ = ["Knots", "check_knots"]


def check_knots(value: object) -> list[list[float]]:
    """Validate hand-drawn schedule knots: ``[[x, y], ...]`` with ``x`` the fraction of the
    budget in [0, 1] (strictly increasing) and ``y`` the multiple of the peak LR in [0, 2].

    Examples
    --------
    >>> check_knots([[0, 0], [0.5, 1], [1, 0]])
    [[0.0, 0.0], [0.5, 1.0], [1.0, 0.0]]
    >>> check_knots([[0, 0]])
    Traceback (most recent call last):
    ...
    ValueError: drawn: needs at least 2 knots [x, y], got 1
    """

    def bad(why: str) -> ValueError:
        return ValueError(f"drawn: {why}")

    if not isinstance(value, Sequence) or isinstance(value, str):
        raise bad(f"{value!r} must be a list of [x, y] knots")
    if len(value) < 2:
        raise bad(f"needs at least 2 knots [x, y], got {len(value)}")
    out = []
    for k in value:
        if (
            not isinstance(k, Sequence)
            or isinstance(k, str)
            or len(k) != 2
            or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in k)
        ):
            raise bad(f"knot {k!r} must be a pair of numbers [x, y]")
        x, y = float(k[0]), float(k[1])
        if not (0.0 <= x <= 1.0):
            raise bad(f"knot {k!r}: x={x} (fraction of the budget) must be in [0, 1]")
        if not (0.0 <= y <= 2.0):
            raise bad(f"knot {k!r}: y={y} (multiple of the peak LR) must be in [0, 2]")
        out.append([x, y])
    xs = [k[0] for k in out]
    if any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
        raise bad(f"knot x values {xs} must be strictly increasing")
    return out


class Knots(param.List):
    """A list of ``[x, y]`` knots of a hand-drawn schedule, validated on every set."""

    def _validate(self, val):
        super()._validate(val)
        if val is not None:
            check_knots(val)
