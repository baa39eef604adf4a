"""Argument validation shared by the schedule factories: each names the factory in its error."""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence
from typing import Any

import torch


def _finite(fn: str, name: str, x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{fn}: {name}={x!r} must be a real number, got {type(x).__name__}")
    x = float(x)  # also turns numpy scalars into Python floats
    if not math.isfinite(x):
        raise ValueError(f"{fn}: {name}={x} must be finite")
    return x


def _nonnegative(fn: str, name: str, x: Any) -> float:
    x = _finite(fn, name, x)
    if x < 0:
        raise ValueError(f"{fn}: {name}={x} must be >= 0")
    return x


def _fraction(fn: str, name: str, x: Any) -> float:
    x = _finite(fn, name, x)
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"{fn}: {name}={x} must be in [0, 1]")
    return x


def _count(fn: str, name: str, x: Any, *, minimum: int) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{fn}: {name}={x!r} must be an integer, got {type(x).__name__}")
    # Integral floats are accepted: configs often say steps=1e4.
    if isinstance(x, numbers.Integral):
        n = int(x)
    elif math.isfinite(x) and float(x).is_integer():
        n = int(x)
    else:
        raise ValueError(f"{fn}: {name}={x} must be an integer >= {minimum}")
    if n < minimum:
        raise ValueError(f"{fn}: {name}={n} must be an integer >= {minimum}")
    return n


def _warmup_steps(fn: str, warmup: Any, steps: int) -> int:
    warmup = _count(fn, "warmup", warmup, minimum=0)
    if warmup > steps:
        raise ValueError(f"{fn}: warmup={warmup} must be <= steps={steps}")
    return warmup


def _sequence(fn: str, name: str, x: Any) -> tuple:
    if isinstance(x, str | bytes) or not isinstance(x, Sequence):
        # torch/numpy arrays are not Sequences but iterate fine; accept 1-D ones.
        if isinstance(x, torch.Tensor) or hasattr(x, "__array__"):
            return tuple(x.tolist())
        raise TypeError(f"{fn}: {name} must be a sequence, got {type(x).__name__}")
    return tuple(x)


def _boundaries(fn: str, boundaries: Any) -> tuple[int, ...]:
    out = tuple(
        _count(fn, f"boundaries[{i}]", b, minimum=0)
        for i, b in enumerate(_sequence(fn, "boundaries", boundaries))
    )
    if any(b >= c for b, c in itertools.pairwise(out)):
        raise ValueError(f"{fn}: boundaries={list(out)} must be strictly increasing")
    return out


def _check_shape(fn: str, shape: str, allowed: tuple[str, ...]) -> str:
    if shape not in allowed:
        raise ValueError(f"{fn}: shape={shape!r} must be one of {', '.join(map(repr, allowed))}")
    return shape
