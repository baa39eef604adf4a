"""The replay spec: :class:`Replay` (a run's memory, its ratio, policy and schedule) and the
per-task weights of its draws (:func:`task_weights`).

The conventions, the memory policies and the replay schedules are described in
:mod:`workbench.replay`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from .._fields import check_keys
from ..schedules import Schedule, as_schedule, from_dict

__all__ = ["Replay", "POLICIES", "SCHEDULES", "task_weights"]

POLICIES = ("reservoir", "class_balanced", "fifo")
SCHEDULES = ("uniform", "power_law", "spaced")
_OUTSIDE = 0.1  # a spaced schedule's weight of a task outside its recall windows


@dataclass(frozen=True)
class Replay:
    """A run's replay memory and how much of each batch it supplies.

    Parameters
    ----------
    size
        Memory slots (examples), ``>= 1``.
    ratio
        Fraction of every batch drawn from memory, in ``[0, 1)``; a number or a schedule. The
        memory slots of a step are ``min(round(ratio·B), B − 1)``: at least one new example.
    policy
        ``"reservoir"``, ``"class_balanced"`` or ``"fifo"`` (see :mod:`workbench.replay`).
    schedule
        ``"uniform"``, ``"power_law"`` or ``"spaced"``: how draws are spread over past tasks.
    exponent
        The power law's exponent (``> 0``).
    interval
        The spaced schedule's first recall interval in steps (``>= 1``).
    """

    size: int = 200  # memory slots (examples)
    ratio: float | Schedule = 0.25  # fraction of each batch drawn from memory
    policy: str = "reservoir"  # reservoir | class_balanced | fifo
    schedule: str = "uniform"  # uniform | power_law | spaced (over past tasks)
    exponent: float = 1.0  # power_law: weight (1 + tasks since)^-exponent
    interval: int = 100  # spaced: first recall interval (steps)

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"Replay: size={self.size!r} must be an int >= 1")
        if isinstance(self.ratio, Schedule):
            pass  # checked on every step by ratio_table, once the run length is known
        elif isinstance(self.ratio, bool) or not isinstance(self.ratio, (int, float)):
            raise ValueError(f"Replay: ratio={self.ratio!r} must be a number or a Schedule")
        elif not (math.isfinite(self.ratio) and 0 <= self.ratio < 1):
            raise ValueError(f"Replay: ratio={self.ratio!r} must be in [0, 1)")
        else:
            object.__setattr__(self, "ratio", float(self.ratio))
        if self.policy not in POLICIES:
            raise ValueError(
                f"Replay: policy={self.policy!r} is not a policy; allowed: {', '.join(POLICIES)}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"Replay: schedule={self.schedule!r} is not a replay schedule; allowed: "
                f"{', '.join(SCHEDULES)}"
            )
        e = self.exponent
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not (0 < e < math.inf):
            raise ValueError(f"Replay: exponent={e!r} must be a finite number > 0")
        object.__setattr__(self, "exponent", float(e))
        i = self.interval
        if isinstance(i, bool) or not isinstance(i, int) or i < 1:
            raise ValueError(f"Replay: interval={i!r} must be an int >= 1")

    @staticmethod
    def slots(ratio: float, batch_size: int) -> int:
        """Memory slots of a batch at ``ratio``: ``min(round(ratio·B), B − 1)``."""
        return min(round(ratio * batch_size), batch_size - 1)

    def ratio_table(self, steps: int) -> torch.Tensor:
        """The ratio at every step, float64 ``[steps]``, each checked to lie in ``[0, 1)``."""
        t = as_schedule(self.ratio).table(steps)
        bad = ~torch.isfinite(t) | (t < 0) | (t >= 1)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"Replay: ratio at step {i} is {float(t[i]):.6g}; it must be in [0, 1)"
            )
        return t

    def structure(self) -> tuple:
        """What runs of one bucket must share (the memory's layout)."""
        return ("replay", self.policy == "class_balanced")

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if isinstance(self.ratio, Schedule):
            out["ratio"] = self.ratio.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Replay:
        d = dict(d)
        check_keys(cls, d)
        if isinstance(d.get("ratio"), dict):
            d["ratio"] = from_dict(d["ratio"])
        return cls(**d)


# -- per-task weights of the draws ---------------------------------------------------------------


def task_weights(replay: Replay, starts: Sequence[int], steps: int) -> np.ndarray:
    """Weight of each stream position ``k`` in the memory draws at every step, ``[steps, K]``.

    Only past positions weigh anything: the one being trained and those not trained yet weigh
    0. Tasks recur as new positions, so "tasks completed since ``k``" counts positions.

    Examples
    --------
    >>> task_weights(Replay(schedule="power_law", exponent=1.0), [0, 2, 4], 6).round(2).tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, 1.0, 0.0], \
[0.5, 1.0, 0.0]]
    """
    starts = np.asarray(starts, dtype=np.int64)
    k_count = len(starts)
    t = np.arange(steps)
    current = np.searchsorted(starts, t, side="right") - 1  # (T,)
    k = np.arange(k_count)
    past = k[None, :] < current[:, None]  # (T, K)
    if replay.schedule == "uniform":
        w = np.ones((steps, k_count))
    elif replay.schedule == "power_law":  # d = tasks completed since k: current - k - 1
        since = np.maximum(current[:, None] - k[None, :], 1)
        w = since.astype(np.float64) ** -replay.exponent
    else:  # spaced: recall windows at interval·(2^i − 1) steps after the task's end
        ends = np.append(starts[1:], np.iinfo(np.int64).max)
        since = t[:, None] - ends[None, :]  # steps since task k ended (< 0 while training it)
        width, w = max(1, replay.interval // 2), np.full((steps, k_count), _OUTSIDE)
        i = 1
        while replay.interval * (2**i - 1) < steps:
            lo = replay.interval * (2**i - 1)
            w[(since >= lo) & (since < lo + width)] = 1.0
            i += 1
    return np.where(past, w, 0.0)
