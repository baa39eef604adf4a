"""What every stacked optimizer shares: validated, scheduled hyperparameters and the last step.

An optimizer *spec* (a frozen dataclass such as :class:`~workbench.optim.AdamW`) names its
per-run hyperparameters and their ranges; each may be a number or a schedule. The engine turns
them into float64 tables ``[T, N]``, the spec turns those into per-step float32 coefficients
(``coefficients``), and the *stacked* optimizer (``build``) applies one step to all runs:
``step(p, g, c, alive, scale=None) -> (update_norm, param_norm)``, both ``[N]``.

``scale``, when given, is ``(backbone, ratio)``: ``backbone`` a float32 ``[P]`` of 0.0 and 1.0
(1.0 on the columns of a "slow learner" backbone), ``ratio`` a float32 ``[N, 1]`` (each run's
backbone LR / head LR, ``>= 0``). Each run's update, decoupled decay included, is multiplied by
``1 + (ratio - 1) * backbone`` per column, which is what a torch optimizer does with the
backbone in a param group of LR ``ratio * lr``; the optimizer state does not depend on the LR
and is updated as without it. The returned update norm is that of the scaled update.

A run that has diverged is frozen by ``alive``: its coefficients are multiplied by zero and a
NaN that ``0 * NaN`` leaves in its update is cleared, so its parameters stop changing; runs never
mix, so no NaN reaches a neighbour.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import ClassVar

import torch

from workbench.kernels._checks import check_scale_args

from ..schedules import Schedule, as_schedule

__all__ = [
    "Hyper",
    "OptimizerSpec",
    "check_scale",
    "finish_step",
    "kernel_scale",
    "take_rows",
    "use_kernels",
]

Scale = tuple[torch.Tensor, torch.Tensor]  # (backbone [P], ratio [N, 1])

Hyper = float | Schedule


def _check_hyper(opt: str, name: str, value, lo: float, hi: float | None) -> Hyper:
    """Validate a scalar-or-schedule hyperparameter on its range (schedules on a probe table)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Schedule)):
        raise ValueError(f"{opt}: {name}={value!r} must be a number or a Schedule")
    if isinstance(value, Schedule):
        return value  # checked on every step by `tables`, once the run length is known
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{opt}: {name}={value!r} must be finite")
    if value < lo or (hi is not None and value > hi):
        allowed = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{opt}: {name}={value!r} must be {allowed}")
    return value


class OptimizerSpec:
    """Shared behaviour of optimizer configs: named, scheduled hyperparameters with ranges."""

    name: ClassVar[str]
    # hyperparameter -> (lowest, highest) allowed value; all may be schedules
    ranges: ClassVar[dict[str, tuple[float, float | None]]]

    def __post_init__(self) -> None:
        for h, (lo, hi) in self.ranges.items():
            object.__setattr__(self, h, _check_hyper(self.name, h, getattr(self, h), lo, hi))

    @property
    def hyperparameters(self) -> tuple[str, ...]:
        """Names of the per-run (possibly scheduled) hyperparameters, in table order."""
        return tuple(self.ranges)

    def structure(self) -> tuple:
        """What must be equal for two runs to share a lockstep bucket."""
        return (type(self).__name__,) + tuple(
            getattr(self, f.name) for f in fields(self) if f.name not in self.ranges
        )

    def tables(self, steps: int) -> dict[str, torch.Tensor]:
        """float64 tables ``[steps]`` of each hyperparameter, validated on every step."""
        out = {}
        for h, (lo, hi) in self.ranges.items():
            t = as_schedule(getattr(self, h)).table(steps)
            bad = ~torch.isfinite(t) | (t < lo)
            if hi is not None:
                bad |= t > hi
            if bool(bad.any()):
                i = int(bad.nonzero()[0, 0])
                allowed = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
                raise ValueError(
                    f"{self.name}: {h} at step {i} is {float(t[i]):.6g}; it must be {allowed}"
                )
            out[h] = t
        return out


def use_kernels(p: torch.Tensor, kernels: str) -> bool:
    """Whether a step on ``p`` runs the fused Triton kernel: ``"auto"`` means on CUDA."""
    if kernels not in ("auto", "triton", "torch"):
        raise ValueError(f"kernels={kernels!r} must be 'auto', 'triton' or 'torch'")
    return kernels == "triton" or (kernels == "auto" and p.is_cuda)


def check_scale(op: str, p: torch.Tensor, scale) -> Scale | None:
    """Validate a stacked step's ``scale`` (``None`` or ``(backbone [P], ratio [N, 1])``).

    Shapes, dtypes and devices only (the values would need a host sync); returns the pair, or
    ``None`` for no scale.

    Examples
    --------
    >>> p = torch.zeros(2, 3)
    >>> check_scale("step", p, None) is None
    True
    >>> bb, ratio = torch.tensor([1.0, 1.0, 0.0]), torch.tensor([[0.1], [0.0]])
    >>> check_scale("step", p, (bb, ratio))[1] is ratio
    True
    >>> check_scale("step", p, torch.ones(3))
    Traceback (most recent call last):
    ...
    ValueError: step: scale must be None or a pair (backbone [P], ratio [N, 1]), got Tensor
    """
    if scale is None:
        return None
    if not isinstance(scale, (tuple, list)) or len(scale) != 2:
        raise ValueError(
            f"{op}: scale must be None or a pair (backbone [P], ratio [N, 1]), "
            f"got {type(scale).__name__}"
        )
    backbone, ratio = scale
    if not check_scale_args(op, p, backbone, ratio, ratio_shape=(p.shape[0], 1)):
        return None  # (None, None)
    return backbone, ratio


def kernel_scale(scale: Scale | None) -> dict[str, torch.Tensor]:
    """A checked ``scale`` as the fused kernels' keyword arguments (``ratio`` as ``[N]``)."""
    if scale is None:
        return {}
    backbone, ratio = scale
    return {"backbone": backbone, "ratio": ratio[:, 0]}  # a view of [N, 1]: still contiguous


def finish_step(
    p: torch.Tensor,
    delta: torch.Tensor,
    scale: Scale | None = None,
    work: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale ``delta``, clear what ``0 * NaN`` left in frozen runs' updates, apply it; both norms.

    With ``scale = (backbone, ratio)`` (checked by :func:`check_scale`), ``delta`` is first
    multiplied by ``1 + (ratio - 1) * backbone``, built in ``work`` (``[N, P]`` scratch, or a
    new tensor if ``None``): two more passes over ``[N, P]``.
    """
    if scale is not None:
        backbone, ratio = scale
        delta.mul_(torch.addcmul(ratio.new_ones(()), backbone, ratio - 1, out=work))
    torch.nan_to_num_(delta, nan=0.0, posinf=0.0, neginf=0.0)
    p.add_(delta)
    return torch.linalg.vector_norm(delta, dim=1), torch.linalg.vector_norm(p, dim=1)


def take_rows(opt, index: torch.Tensor) -> None:
    """Re-index a stacked optimizer's per-run state by ``index`` (rows may repeat: forks).

    Every tensor attribute (and list of tensors) holds one row per run on dim 0, except the
    norm buffer ``sq`` (runs on dim 1) and the names in the optimizer's ``shared_state``.
    """
    shared = getattr(opt, "shared_state", ())
    for name, v in list(vars(opt).items()):
        if name in shared:
            continue
        if isinstance(v, torch.Tensor) and v.dim() >= 1:
            dim = 1 if name == "sq" else 0
            setattr(opt, name, v.index_select(dim, index).contiguous())
        elif isinstance(v, list) and v and all(isinstance(t, torch.Tensor) for t in v):
            setattr(opt, name, [t.index_select(0, index).contiguous() for t in v])
