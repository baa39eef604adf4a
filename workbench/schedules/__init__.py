"""Hyperparameter schedules as pure, composable functions of the step.

A :class:`Schedule` is an immutable value: a factory name (``kind``) and the factory's keyword
arguments (``args``). Calling it with a step gives the hyperparameter at that step; nothing is
stateful, so the same schedule can be shared by every run of a sweep, hashed, compared, and
written to JSON and read back (:meth:`Schedule.to_dict`, :func:`from_dict`). Composite schedules
are joins of simple ones (:func:`join`), in the style of optax's ``join_schedules``.

Step semantics, shared by every factory:

- a schedule is defined for every step ``>= 0``; negative steps are clamped to 0 (they give the
  value at step 0) rather than extrapolated;
- beyond its ``steps`` (where it has one) a schedule holds its final value;
- values are computed with torch in float64: a Python ``int``/``float`` step gives a Python
  ``float``; a tensor of steps (any integer or floating dtype, any shape) gives a float64 tensor
  of the same shape on the same device. Scalar and tensor calls run the same code, so they agree
  exactly.

Examples
--------
>>> s = cosine(peak=1e-3, steps=1000, warmup=100)
>>> round(s(100), 6), round(s(1000), 6)
(0.001, 0.0)
>>> s.table(4)
tensor([0.0000e+00, 1.0000e-05, 2.0000e-05, 3.0000e-05], dtype=torch.float64)
>>> from_dict(s.to_dict()) == s
True
"""

from .basic import exponential, linear, piecewise, step, warmup
from .compose import join
from .continual import ANNEAL_SHAPES, infinite, rewarm
from .core import Schedule, ScheduleLike, as_schedule, constant, from_dict, table
from .cycles import sgdr, wsd_s
from .decay import WSD_SHAPES, cosine, inverse_sqrt, one_minus_sqrt, wsd
from .refine import refined, tabulated

__all__ = [
    "ANNEAL_SHAPES",
    "WSD_SHAPES",
    "Schedule",
    "ScheduleLike",
    "as_schedule",
    "constant",
    "cosine",
    "exponential",
    "from_dict",
    "infinite",
    "inverse_sqrt",
    "join",
    "linear",
    "one_minus_sqrt",
    "piecewise",
    "refined",
    "rewarm",
    "sgdr",
    "step",
    "table",
    "tabulated",
    "warmup",
    "wsd",
    "wsd_s",
]
