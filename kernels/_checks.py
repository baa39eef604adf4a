"""Argument checks shared by the fused launchers and their torch references.

A wrong shape here would otherwise broadcast silently (a ``[N]`` vector against ``[N, P]``) or
write past a row, so every tensor is checked before any work is done.
"""

from __future__ import annotations

import torch


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
    expected = {
        "p": tuple(p.shape),
        **{name: tuple(p.shape) for name in states},
        "coef": (n_coef, n),
        "alive": (n,),
        "update_sq": (n,),
        "param_sq": (n,),
    }
    tensors = {
        "p": p,
        **states,
        "coef": coef,
        "alive": alive,
        "update_sq": update_sq,
        "param_sq": param_sq,
    }
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{op}: {name} must be a torch.Tensor, got {type(t).__name__}")
        if tuple(t.shape) != expected[name]:
            raise ValueError(
                f"{op}: {name} has shape {tuple(t.shape)}; it must be {expected[name]} "
                f"for p of shape {tuple(p.shape)}"
            )
        if t.dtype != torch.float32:
            raise ValueError(f"{op}: {name} has dtype {t.dtype}; it must be torch.float32")
        if not t.is_contiguous():
            raise ValueError(f"{op}: {name} (shape {tuple(t.shape)}) must be contiguous")
        if t.device != p.device:
            raise ValueError(
                f"{op}: {name} is on {t.device}; it must be on p's device ({p.device})"
            )
