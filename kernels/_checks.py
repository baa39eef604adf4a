"""Argument checks shared by the fused launchers and their torch references.

A wrong shape here would otherwise broadcast silently (a ``[N]`` vector against ``[N, P]``) or
write past a row, so every tensor is checked before any work is done.
"""

from __future__ import annotations

import torch

# what each optional scale argument holds, appended to its shape error
_SCALE_HINTS = {
    "backbone": "one entry per column, 1.0 where the column's LR is scaled by ratio, else 0.0",
    "ratio": "one entry per run, its backbone LR / head LR (>= 0)",
}


def _check_tensor(op: str, name: str, t, shape: tuple, p: torch.Tensor, hint: str = "") -> None:
    """Raise ``ValueError`` unless ``t`` is a contiguous float32 ``shape`` tensor on p's device."""
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{op}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if tuple(t.shape) != shape:
        raise ValueError(
            f"{op}: {name} has shape {tuple(t.shape)}; it must be {shape} "
            f"for p of shape {tuple(p.shape)}" + (f" ({hint})" if hint else "")
        )
    if t.dtype != torch.float32:
        raise ValueError(f"{op}: {name} has dtype {t.dtype}; it must be torch.float32")
    if not t.is_contiguous():
        raise ValueError(f"{op}: {name} (shape {tuple(t.shape)}) must be contiguous")
    if t.device != p.device:
        raise ValueError(f"{op}: {name} is on {t.device}; it must be on p's device ({p.device})")


def check_step_args(
    op: str,
    p: torch.Tensor,
    states: dict[str, torch.Tensor],
    coef: torch.Tensor,
    n_coef: int,
    alive: torch.Tensor,
    update_sq: torch.Tensor,
    param_sq: torch.Tensor,
) -> None:
    """Raise ``ValueError`` unless the arguments of one optimizer step fit together.

    ``p`` must be a contiguous float32 ``[N, P]`` tensor; every tensor in ``states`` (the
    gradient and the optimizer state, by argument name) must match it; ``coef`` must be
    ``[n_coef, N]``; ``alive``, ``update_sq`` and ``param_sq`` must be ``[N]``. All must be
    contiguous float32 on ``p``'s device.
    """
    if not isinstance(p, torch.Tensor):
        raise ValueError(f"{op}: p must be a torch.Tensor, got {type(p).__name__}")
    if p.dim() != 2:
        raise ValueError(f"{op}: p has shape {tuple(p.shape)}; it must be 2-D (N runs, P params)")
    n = p.shape[0]
    _check_tensor(op, "p", p, tuple(p.shape), p)
    for name, t in states.items():
        _check_tensor(op, name, t, tuple(p.shape), p)
    _check_tensor(op, "coef", coef, (n_coef, n), p)
    for name, t in (("alive", alive), ("update_sq", update_sq), ("param_sq", param_sq)):
        _check_tensor(op, name, t, (n,), p)


def check_scale_args(
    op: str,
    p: torch.Tensor,
    backbone: torch.Tensor | None,
    ratio: torch.Tensor | None,
    *,
    ratio_shape: tuple[int, ...] | None = None,
) -> bool:
    """Whether a step on ``p`` (already checked) is scaled; raise ``ValueError`` if misused.

    ``backbone`` and ``ratio`` are both ``None`` (no scale) or both given: ``backbone`` a
    ``[P]`` and ``ratio`` a ``ratio_shape`` (default ``[N]``) contiguous float32 tensor on
    ``p``'s device. Their values (``backbone`` 0.0 or 1.0, ``ratio >= 0``) are not checked:
    that would wait on the device.
    """
    if backbone is None and ratio is None:
        return False
    if backbone is None or ratio is None:
        given, missing = ("backbone", "ratio") if ratio is None else ("ratio", "backbone")
        raise ValueError(
            f"{op}: {given} was given without {missing}; pass both (backbone [P], ratio "
            f"[N]) to scale the backbone's update, or neither"
        )
    n, size = p.shape
    shapes = {"backbone": (size,), "ratio": ratio_shape or (n,)}
    for name, t in (("backbone", backbone), ("ratio", ratio)):
        _check_tensor(op, name, t, shapes[name], p, _SCALE_HINTS[name])
    return True
