"""The pieces of :class:`~workbench.slow.Slow`: :class:`Lookahead`, :class:`EMA`,
:class:`ErrorMemory`, and the :class:`Knob` each of their per-step numbers is (a path in the
spec, a range, a table over the steps). See :mod:`workbench.slow.specs` for what each does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch

from .._fields import check_keys
from ..schedules import Schedule, as_schedule, from_dict

__all__ = ["EMA", "ErrorMemory", "Hyper", "Knob", "Lookahead", "MOMENTUM_MODES", "SYNC_MODES"]

Hyper = float | Schedule
MOMENTUM_MODES = ("keep", "reset", "pullback")
SYNC_MODES = ("steps", "tasks")
_RESERVED = ("fast", "slow", "lookahead", "backbone")  # names an EMA may not take


@dataclass(frozen=True)
class Knob:
    """A per-step, per-run number of a slow mechanism: where it lives in the spec and its range.

    ``lo``/``hi`` bound it (``hi`` ``None``: unbounded); ``open_lo``/``open_hi`` exclude the
    bound itself; ``integer`` values must be whole numbers (``k``, ``every``).
    """

    path: str  # dotted path from the RunSpec, e.g. "slow.lookahead.alpha"
    value: Any  # the spec's number or schedule
    lo: float
    hi: float | None = None
    open_lo: bool = False
    open_hi: bool = False
    integer: bool = False

    @property
    def allowed(self) -> str:
        if self.hi is None:
            text = f"{'>' if self.open_lo else '>='} {self.lo:g}"
        else:
            left, right = "(" if self.open_lo else "[", ")" if self.open_hi else "]"
            text = f"{left}{self.lo:g}, {self.hi:g}{right}"
        return ("a whole number " if self.integer else "") + text

    def bad(self, t: torch.Tensor) -> torch.Tensor:
        """Which values of ``t`` are outside the range (or not whole, or not finite)."""
        out = ~torch.isfinite(t) | ((t <= self.lo) if self.open_lo else (t < self.lo))
        if self.hi is not None:
            out |= (t >= self.hi) if self.open_hi else (t > self.hi)
        if self.integer:
            out |= t != torch.round(t)
        return out

    def table(self, name: str, steps: int) -> torch.Tensor:
        """float64 ``[steps]`` of the value at every step, each checked against the range."""
        t = as_schedule(self.value).table(steps)
        bad = self.bad(t)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"{self.path}: {name} at step {i} is {float(t[i]):.6g}; it must be {self.allowed}"
            )
        return t


def _check(owner: str, name: str, value, knob: Knob) -> Hyper:
    """A number or schedule for ``owner.name``; numbers are checked against ``knob`` now,
    schedules on every step once the run length is known (:meth:`Knob.table`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Schedule)):
        raise ValueError(f"{owner}: {name}={value!r} must be a number or a Schedule")
    if isinstance(value, Schedule):
        return value
    if bool(knob.bad(torch.tensor([float(value)], dtype=torch.float64))[0]):
        raise ValueError(f"{owner}: {name}={value!r} must be {knob.allowed}")
    return int(value) if knob.integer else float(value)


def _to_json(v):
    return v.to_dict() if isinstance(v, Schedule) else v


def _from_json(v):
    return from_dict(v) if isinstance(v, dict) and "kind" in v else v


class _Part:
    """Shared serialisation of the mechanism dataclasses."""

    RANGES: ClassVar[dict[str, tuple]] = {}  # field -> (lo, hi, open_lo, open_hi, integer)

    def _knob(self, path: str, name: str) -> Knob:
        lo, hi, open_lo, open_hi, integer = self.RANGES[name]
        return Knob(f"{path}.{name}", getattr(self, name), lo, hi, open_lo, open_hi, integer)

    def _check_ranges(self) -> None:
        for name in self.RANGES:
            knob = self._knob(type(self).__name__, name)
            object.__setattr__(self, name, _check(type(self).__name__, name, knob.value, knob))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _to_json(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        check_keys(cls, d)
        return cls(**{k: _from_json(v) for k, v in d.items()})


@dataclass(frozen=True)
class Lookahead(_Part):
    """Lookahead over the run's optimizer (Zhang et al. 2019).

    Parameters
    ----------
    k
        Fast (inner optimizer) steps between syncs, a whole number >= 1. The paper's code uses
        5 (timm 6).
    alpha
        How far the slow weights move toward the fast ones at a sync, in (0, 1]; 1 is the inner
        optimizer alone. The paper's code uses 0.8, timm 0.5.
    momentum
        What happens to the inner optimizer's momentum (SGD's buffer, Adam's and Lion's first
        moment) at a sync: ``"keep"`` it, ``"reset"`` it to zero, or ``"pullback"``: interpolate
        it like the weights, ``m ← α·m + (1 − α)·m_slow``, ``m_slow`` the momentum saved at the
        previous sync (zero before the first). The three choices of the paper's code.
    sync
        ``"steps"``: every ``k`` steps (counting from the last sync, so a live change of ``k``
        applies from the next sync); ``"tasks"``: after the last step of every task of a task
        stream, whatever ``k`` (Reptile-style consolidation of an episode's fast weights).
    """

    k: Hyper = 5
    alpha: Hyper = 0.5
    momentum: str = "keep"
    sync: str = "steps"

    RANGES: ClassVar[dict] = {
        "k": (1, None, False, False, True),
        "alpha": (0, 1, True, False, False),
    }

    def __post_init__(self) -> None:
        self._check_ranges()
        if self.momentum not in MOMENTUM_MODES:
            raise ValueError(
                f"Lookahead: momentum={self.momentum!r} must be one of {', '.join(MOMENTUM_MODES)}"
            )
        if self.sync not in SYNC_MODES:
            raise ValueError(
                f"Lookahead: sync={self.sync!r} must be one of {', '.join(SYNC_MODES)}"
            )


@dataclass(frozen=True)
class EMA(_Part):
    """An exponential moving average of the fast weights, evaluated as its own copy.

    Parameters
    ----------
    beta
        Decay in [0, 1): ``ema ← β·ema + (1 − β)·θ``. timm uses 0.9998–0.9999 for long
        ImageNet runs; runs of a few thousand steps want 0.9–0.999.
    every
        Update every this many steps (a whole number >= 1; ema-pytorch updates every 10).
    prob
        Probability in (0, 1] that a due update happens (CLS-ER: 0.9 plastic, 0.7 stable). The
        draws are a counter-based hash of the run's seed, the copy and the step, so a run makes
        the same draws alone or in any bucket.
    gamma, power
        Warm-up: ``β_t = min(β, 1 − (1 + t/γ)^(−power))`` at the update after step ``t``
        (0-based), so the first update copies the weights. ``gamma=None``: no warm-up (the
        average starts at the initial weights and lags at a high β). ema-pytorch: γ = 1,
        power 2/3; CLS-ER: γ = 1, power 1.
    name
        The copy's name in results (``copy`` coordinate) and in its knobs' names.
    """

    beta: Hyper = 0.99
    every: Hyper = 1
    prob: Hyper = 1.0
    gamma: float | None = None
    power: float = 2 / 3
    name: str = "ema"

    RANGES: ClassVar[dict] = {
        "beta": (0, 1, False, True, False),
        "every": (1, None, False, False, True),
        "prob": (0, 1, True, False, False),
    }

    def __post_init__(self) -> None:
        self._check_ranges()
        for field in ("gamma", "power"):
            v = getattr(self, field)
            if field == "gamma" and v is None:
                continue
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not (math.isfinite(v) and v > 0)
            ):
                allowed = (
                    "None (no warm-up) or a number > 0" if field == "gamma" else "a number > 0"
                )
                raise ValueError(f"EMA: {field}={v!r} must be {allowed}")
            object.__setattr__(self, field, float(v))
        if not isinstance(self.name, str) or not self.name.isidentifier() or self.name in _RESERVED:
            raise ValueError(
                f"EMA: name={self.name!r} must be an identifier other than "
                f"{', '.join(repr(r) for r in _RESERVED)}"
            )


@dataclass(frozen=True)
class ErrorMemory(_Part):
    """A fast memory of recent errors that corrects the model's predictions (after ReLoop2,
    Zhu et al. 2023, arXiv:2306.08422).

    Every step, before training on its batch, each example's prediction is corrected by the
    mean residual of its ``neighbours`` nearest inputs (Euclidean, in input space) among the
    last ``size`` examples seen: ``f̃(x) = f(x) + weight·mean(r)``. The residual is
    ``e_y − f(x)`` in output space for ``MLP(loss="mse")`` and ``e_y − softmax(f(x))`` in
    probability space for cross-entropy (the corrected probabilities are clipped at 1e-6 and
    renormalized). Then the batch's inputs and residuals enter the memory (a ring). The
    corrected loss on the incoming batch (test-then-train, before the step) is recorded as
    ``corrected_loss`` beside ``train_loss``; the memory never changes the weights.

    Parameters
    ----------
    size
        Examples the memory holds (the most recent), an int >= 1.
    neighbours
        Nearest entries averaged, an int in [1, size].
    weight
        λ, how much of the neighbours' mean residual is added (>= 0; a live knob,
        ``memory_weight``).
    """

    size: int = 256
    neighbours: int = 8
    weight: Hyper = 1.0

    RANGES: ClassVar[dict] = {"weight": (0, None, False, False, False)}

    def __post_init__(self) -> None:
        self._check_ranges()
        for field, lo in (("size", 1), ("neighbours", 1)):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"ErrorMemory: {field}={v!r} must be an int >= {lo}")
        if self.neighbours > self.size:
            raise ValueError(
                f"ErrorMemory: neighbours={self.neighbours} must be at most size={self.size}"
            )
