"""Shared pieces of :mod:`workbench.predict`: argument checks and the LR-schedule primitives.

The curve type, the checks of learning rates, steps and counts, and the parameter-free
quantities both laws are built from: the warmup length, the LR drops, the LR area and the power
term. See :mod:`workbench.predict` for the conventions (steps, warmup).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

# A curve: (lrs [T], losses [K]) or (lrs [T], losses [K], steps [K]).
Curve = tuple


def _lr_array(fn: str, name: str, lrs: Any) -> np.ndarray:
    a = np.asarray(lrs, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{fn}: {name} must be a non-empty 1-D array, got shape {a.shape}")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValueError(f"{fn}: {name} has non-finite values (first at index {bad[0]})")
    if (a < 0).any():
        raise ValueError(f"{fn}: {name} has negative values (first at index {np.argmax(a < 0)})")
    return a


def _steps_array(fn: str, name: str, steps: Any, n_lrs: int) -> np.ndarray:
    s = np.asarray(steps)
    if s.ndim != 1:
        raise ValueError(f"{fn}: {name} must be a 1-D array of steps, got shape {s.shape}")
    if s.size and not np.issubdtype(s.dtype, np.integer):
        if not (np.isfinite(s).all() and np.all(s == np.round(s))):
            raise ValueError(f"{fn}: {name} must hold whole numbers of updates")
    s = s.astype(np.int64)
    if s.size and (s.min() < 0 or s.max() > n_lrs):
        raise ValueError(
            f"{fn}: {name} must be in [0, {n_lrs}] (updates done with the {n_lrs} learning "
            f"rates given), got [{s.min()}, {s.max()}]"
        )
    return s


def _warmup_length(lrs: np.ndarray) -> int:
    """Updates before the LR first reaches its maximum, if it rises monotonically there."""
    top = int(np.argmax(lrs))
    return top if top and np.all(np.diff(lrs[: top + 1]) >= 0) else 0


def _drops(lrs: np.ndarray, warmup: int) -> np.ndarray:
    """``eta_{k-1} - eta_k`` at each update after warmup (zero at the first one and before)."""
    d = np.zeros_like(lrs)
    d[warmup + 1 :] = lrs[warmup:-1] - lrs[warmup + 1 :]
    return d


def _area(lrs: np.ndarray) -> np.ndarray:
    """``P[t] = lrs[0] + ... + lrs[t-1]``, the LR area after ``t`` updates; ``P[0] = 0``."""
    return np.concatenate([[0.0], np.cumsum(lrs)])


def _power_term(area: np.ndarray, A: float, alpha: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return A * area**-alpha  # inf where no LR area has been swept yet


def _inputs(fn: str, lrs: Any, steps: Any, warmup: int | None) -> tuple:
    lrs = _lr_array(fn, "lrs", lrs)
    if steps is None:
        steps = np.arange(1, lrs.size + 1)
    steps = _steps_array(fn, "steps", steps, lrs.size)
    if warmup is None:
        warmup = _warmup_length(lrs)
    elif isinstance(warmup, bool) or not isinstance(warmup, numbers.Integral):
        raise ValueError(f"{fn}: warmup={warmup!r} must be an int or None")
    elif not 0 <= warmup < lrs.size:
        raise ValueError(f"{fn}: warmup={warmup} must be in [0, {lrs.size - 1}]")
    return lrs, steps, int(warmup)


def _count_arg(fn: str, name: str, x: Any, minimum: int) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < minimum:
        raise ValueError(f"{fn}: {name}={x!r} must be an int >= {minimum}")
    return int(x)
