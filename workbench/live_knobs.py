"""Live knobs of a :class:`~workbench.session.Session`: which exist, checking a value, setting it.

A live knob is a per-step number of a run that a session can change while it trains:
``lr_scale`` (a multiplier on the learning rate, schedule included), any hyperparameter of the
runs' optimizer, ``replay_ratio`` (runs with a replay memory) and the knobs of the runs' slow
mechanisms (:func:`workbench.slow.knobs`). These functions check a knob's value before a
command is queued (naming the knob, the value and what is allowed), pick the runs a knob
applies to, set a value (a number, or a function ``f(step, remaining, current)``) on one row of
a bucket from its current step on, and read back the values a row used. The session holds its
lock around them as it needs; they take none.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .bucket import Bucket
from .slow import knobs as slow_knobs
from .spec import RunSpec

__all__ = ["check_knob", "knob_targets", "set_knob_row", "used_values"]


def check_knob(specs: Sequence[RunSpec], name: str, value) -> None:
    """Raise a ValueError naming the knob and value unless ``name`` is a live knob of
    ``specs`` and ``value`` (a number, a function, or one of them per run) fits it."""
    allowed = {"lr_scale"}.union(*(s.optimizer.hyperparameters for s in specs))
    if any(s.replay is not None for s in specs):
        allowed.add("replay_ratio")
    allowed.update(*(slow_knobs(s.slow) for s in specs if s.slow is not None))
    if name not in allowed:
        raise ValueError(f"Session: knob {name!r} is not live; allowed: {sorted(allowed)}")
    values = np.asarray(value, dtype=object).reshape(-1)
    for v in values:
        if callable(v):
            continue
        if isinstance(v, bool) or not isinstance(v, int | float | np.number):
            raise ValueError(f"Session: knob {name}={v!r} must be a number or a function")
        if not np.isfinite(float(v)) or float(v) < 0:
            raise ValueError(f"Session: knob {name}={v!r} must be a finite number >= 0")
        knob = next((slow_knobs(s.slow)[name] for s in specs if _has_slow_knob(s, name)), None)
        if knob is not None and bool(knob.bad(torch.tensor([float(v)], dtype=torch.float64))):
            raise ValueError(f"Session: knob {name}={v!r} must be {knob.allowed}")


def knob_targets(specs: Sequence[RunSpec], name: str, runs: Sequence[int] | None) -> Sequence[int]:
    """The runs a knob command applies to: ``runs``, or by default all runs that have it."""
    targets = range(len(specs)) if runs is None else runs
    if name == "replay_ratio" and runs is None:  # all runs that replay
        targets = [r for r in targets if specs[r].replay is not None]
    elif runs is None and name not in specs[0].optimizer.ranges and name != "lr_scale":
        targets = [r for r in targets if _has_slow_knob(specs[r], name)]
    return targets


def set_knob_row(bucket: Bucket, row: int, name: str, v) -> float | str:
    """Set knob ``name`` of a bucket's ``row`` to ``v`` from the bucket's step on; return the
    value to log (the number, or the name of the function)."""
    hyper = "lr" if name == "lr_scale" else name
    if name == "replay_ratio":
        return _set_ratio(bucket, row, v)
    if callable(v):
        k = bucket.hyper_names.index(hyper) if hyper in bucket.hyper_names else None
        if bucket.slow is not None and name in bucket.slow.names:
            cur = bucket.slow.current(name, row, bucket.step)
        elif k is None:
            bucket.set_hyper(hyper, [row], torch.zeros(1))  # raises the named error
        else:
            cur = float(bucket.unscaled[k, row, bucket.step])  # a multiplier applies
        vals = _function_values(name, v, bucket, cur)
        bucket.set_hyper(hyper, [row], vals[None], scale=name == "lr_scale")
        return getattr(v, "__qualname__", type(v).__name__)
    # a number
    value64 = torch.tensor([float(v)], dtype=torch.float64)  # 0.1, not float32's
    bucket.set_hyper(hyper, [row], value64, scale=name == "lr_scale")
    return float(v)


def used_values(bucket: Bucket, row: int, n) -> dict:
    """The values of every knob a bucket's ``row`` used in its first ``n`` steps, by name."""
    used = {h: bucket.tables[k, row, :n].cpu().numpy() for k, h in enumerate(bucket.hyper_names)}
    if bucket.feed.memory is not None:
        used["replay_ratio"] = bucket.feed.memory.ratio[row, :n].cpu().numpy()
    if bucket.slow is not None:
        for k, name in enumerate(bucket.slow.names):
            used[name] = bucket.slow.tables[k, row, :n]
    return used


def _has_slow_knob(spec: RunSpec, name: str) -> bool:
    """Whether ``name`` is a knob of the run's slow mechanisms (all runs that have it)."""
    return spec.slow is not None and name in slow_knobs(spec.slow)


def _set_ratio(bucket: Bucket, row: int, v) -> float | str:
    """Set a run's replay ratio from the bucket's step on (a number, or ``f(step, n, cur)``)."""
    if not callable(v):
        bucket.set_replay_ratio([row], torch.tensor([float(v)], dtype=torch.float64))
        return float(v)
    if bucket.feed.memory is None:
        bucket.set_replay_ratio([row], torch.zeros(1))  # raises the named error
    cur = float(bucket.feed.memory.ratio[row, bucket.step])
    bucket.set_replay_ratio([row], _function_values("replay_ratio", v, bucket, cur)[None])
    return getattr(v, "__qualname__", type(v).__name__)


def _function_values(name: str, f, bucket: Bucket, cur) -> torch.Tensor:
    """A knob function's values ``f(step, remaining, cur)`` from the bucket's step to its end,
    float64; a ValueError if it gave the wrong shape."""
    n = bucket.steps - bucket.step
    vals = torch.as_tensor(np.asarray(f(bucket.step, n, cur), dtype=np.float64))
    if vals.shape != (n,):
        raise ValueError(
            f"fork: knob {name!r} function gave shape {tuple(vals.shape)}, expected ({n},)"
        )
    return vals
