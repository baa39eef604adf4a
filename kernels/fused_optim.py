"""Fused optimizer steps over the flat ``[N, P]`` parameter buffer: one Triton launch per step.

The engine's torch update for AdamW, SGD or Lion is a handful of passes over ``[N, P]``, plus
two more for the update and parameter norms it logs. :func:`fused_adamw_step`,
:func:`fused_sgd_step` and :func:`fused_lion_step` check their arguments and launch one kernel
of :mod:`workbench.kernels._optim_kernels` each, which reads and writes every buffer once and
adds the norms in as it goes. The math, argument contract and coefficient order are those of
the torch twins in :mod:`workbench.kernels.reference`; ``tests/kernels/test_fused_optim.py``
checks the two agree. The optional per-column LR scale (``backbone``, ``ratio``) is a
compile-time switch (``HAS_SCALE``): without it the kernels are the unscaled ones, with it they
read one more ``[P]``.

Grid: ``(cdiv(P, BLOCK), N)``, one program per ``BLOCK`` columns of one run. The column blocks
sit on grid axis 0 because CUDA caps axes 1 and 2 at 65535 blocks, which a ``P`` of a few tens
of millions would exceed on axis 1.

On CUDA, ``BLOCK`` and the warp count are autotuned per ``(N, P)`` (the benchmark restores
every buffer the kernel writes, so tuning does not advance the step). Under the Triton
interpreter (``TRITON_INTERPRET=1``, how the tests run on CPU) a single config is used.
``update_sq`` and ``param_sq`` are sums of per-block partials added atomically, so on a GPU
their last bits may differ between identical calls.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import torch
import triton

from ._checks import check_scale_args, check_step_args
from ._optim_kernels import _adamw_kernel, _lion_kernel, _sgd_kernel

__all__ = ["fused_adamw_step", "fused_lion_step", "fused_sgd_step"]


def _interpreting() -> bool:
    """Whether ``triton.jit`` builds interpreter functions (read once, at decoration time)."""
    knobs = getattr(triton, "knobs", None)  # triton >= 3.4
    if knobs is not None:
        return bool(knobs.runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on")


_INTERPRET = _interpreting()

# The interpreter runs each program in numpy; one config keeps it from "tuning" on the CPU.
_CONFIGS = (
    [triton.Config({"BLOCK": 1024}, num_warps=4)]
    if _INTERPRET
    else [
        triton.Config({"BLOCK": 512}, num_warps=4),
        triton.Config({"BLOCK": 1024}, num_warps=4),
        triton.Config({"BLOCK": 2048}, num_warps=4),
        triton.Config({"BLOCK": 2048}, num_warps=8),
        triton.Config({"BLOCK": 4096}, num_warps=8),
    ]
)


def _tuned(kernel, written: list[str]):
    # restore_value: autotuning launches the kernel once per config; put back what it writes.
    # HAS_SCALE is in the key: with and without the scale are two compiled kernels, tuned apart.
    key = ["N", "P", "HAS_SCALE"]
    return triton.autotune(configs=_CONFIGS, key=key, restore_value=written)(kernel)


_OUT = ["update_sq_ptr", "param_sq_ptr"]
_adamw_tuned = _tuned(_adamw_kernel, ["p_ptr", "m_ptr", "v_ptr", *_OUT])
_sgd_tuned = _tuned(_sgd_kernel, ["p_ptr", "buf_ptr", *_OUT])
_lion_tuned = _tuned(_lion_kernel, ["p_ptr", "m_ptr", *_OUT])


def _launch(op: str, tuned, args: tuple, backbone, ratio, **meta) -> None:
    """Launch ``tuned`` on ``args`` (``p`` to ``param_sq``) over the ``(column block, run)`` grid.

    The grid is that of ``p``, on ``p``'s device; the scale pointers go in after ``alive``.
    """
    p, *args, update_sq, param_sq = args
    has_scale = check_scale_args(op, p, backbone, ratio)
    if not has_scale:  # the kernel never reads them: any pointers do
        backbone = ratio = update_sq
    if not _INTERPRET and p.device.type == "cpu":
        raise ValueError(
            f"{op}: p is on {p.device}; compiled Triton kernels need a GPU tensor "
            "(set TRITON_INTERPRET=1 before importing to run on the CPU, or use the "
            "*_step_reference functions)"
        )
    n, size = p.shape
    if n == 0 or size == 0:
        return

    def grid(cfg):
        return (triton.cdiv(size, cfg["BLOCK"]), n)

    if _INTERPRET:
        # The interpreter runs the kernel in numpy, which warns on the inf - inf and 0 / 0 that
        # frozen runs produce by design; the compiled kernel (and torch) stay silent.
        guard = np.errstate(invalid="ignore", divide="ignore", over="ignore")
    elif p.device.type == "cuda":
        # Triton launches on the current CUDA device; make it p's.
        guard = torch.cuda.device(p.device)
    else:
        guard = contextlib.nullcontext()
    with guard:
        tuned[grid](
            p, *args, backbone, ratio, update_sq, param_sq, n, size, HAS_SCALE=has_scale, **meta
        )


def fused_adamw_step(
    p: torch.Tensor,
    g: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    coef: torch.Tensor,
    alive: torch.Tensor,
    update_sq: torch.Tensor,
    param_sq: torch.Tensor,
    *,
    backbone: torch.Tensor | None = None,
    ratio: torch.Tensor | None = None,
) -> None:
    """One AdamW step (Loshchilov & Hutter 2019) for ``N`` runs in one kernel launch.

    Same arguments, math and in-place contract as
    :func:`~workbench.kernels.reference.adamw_step_reference`.

    Parameters
    ----------
    p, g, m, v : torch.Tensor
        ``[N, P]`` float32 parameters, gradient, first and second moment; ``p``, ``m`` and
        ``v`` are updated in place.
    coef : torch.Tensor
        ``[5, N]`` float32 rows ``(one_minus_beta1, one_minus_beta2, step, eps_hat, decay)``.
    alive : torch.Tensor
        ``[N]`` float32, 1.0 for live runs and 0.0 for frozen runs (zero update).
    update_sq, param_sq : torch.Tensor
        ``[N]`` float32; each run's sum of ``delta**2`` and of the new ``p**2`` is added.
    backbone, ratio : torch.Tensor, optional
        ``[P]`` and ``[N]`` float32, both or neither: multiply the update (decay included) of
        the columns where ``backbone`` is 1.0 by each run's ``ratio``.

    Raises
    ------
    ValueError
        If a tensor has the wrong shape, dtype, layout or device, or ``ratio`` comes without
        ``backbone`` (or the reverse).

    Examples
    --------
    >>> import torch
    >>> dev = "cuda" if torch.cuda.is_available() else "cpu"  # CPU needs TRITON_INTERPRET=1
    >>> p, g = torch.ones(2, 3, device=dev), torch.full((2, 3), 0.5, device=dev)
    >>> m, v = torch.zeros_like(p), torch.zeros_like(p)
    >>> lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.0  # step t = 1: 1 - prod b = 1 - b
    >>> c = [1 - b1, 1 - b2, lr / (1 - b1) * (1 - b2) ** 0.5, eps * (1 - b2) ** 0.5, lr * wd]
    >>> coef = torch.tensor(c, device=dev)[:, None].expand(5, 2)  # same for both runs
    >>> usq, psq = torch.zeros(2, device=dev), torch.zeros(2, device=dev)
    >>> alive = torch.tensor([1.0, 0.0], device=dev)
    >>> fused_adamw_step(p, g, m, v, coef.contiguous(), alive, usq, psq)
    >>> p[:, 0].cpu()  # the first step of Adam moves by lr * sign(g); the frozen run stays put
    tensor([0.9900, 1.0000])
    """
    check_step_args(
        "fused_adamw_step", p, {"g": g, "m": m, "v": v}, coef, 5, alive, update_sq, param_sq
    )
    args = (p, g, m, v, coef, alive, update_sq, param_sq)
    _launch("fused_adamw_step", _adamw_tuned, args, backbone, ratio)


def fused_sgd_step(
    p: torch.Tensor,
    g: torch.Tensor,
    buf: torch.Tensor,
    coef: torch.Tensor,
    alive: torch.Tensor,
    update_sq: torch.Tensor,
    param_sq: torch.Tensor,
    *,
    nesterov: bool,
    backbone: torch.Tensor | None = None,
    ratio: torch.Tensor | None = None,
) -> None:
    """One step of SGD with (optionally Nesterov) momentum for ``N`` runs in one launch.

    Same arguments, math and in-place contract as
    :func:`~workbench.kernels.reference.sgd_step_reference`; ``nesterov`` picks one of two
    compiled kernels.

    Parameters
    ----------
    p, g, buf : torch.Tensor
        ``[N, P]`` float32 parameters, gradient and momentum buffer; ``p`` and ``buf`` are
        updated in place.
    coef : torch.Tensor
        ``[3, N]`` float32 rows ``(lr, momentum, decay)``.
    alive : torch.Tensor
        ``[N]`` float32, 1.0 for live runs and 0.0 for frozen runs (zero update).
    update_sq, param_sq : torch.Tensor
        ``[N]`` float32; each run's sum of ``delta**2`` and of the new ``p**2`` is added.
    nesterov : bool
        Use the look-ahead direction ``g + momentum * buf`` instead of ``buf``.
    backbone, ratio : torch.Tensor, optional
        ``[P]`` and ``[N]`` float32, both or neither: multiply the update (decay included) of
        the columns where ``backbone`` is 1.0 by each run's ``ratio``.

    Raises
    ------
    ValueError
        If a tensor has the wrong shape, dtype, layout or device, ``nesterov`` is not a bool, or
        ``ratio`` comes without ``backbone`` (or the reverse).

    Examples
    --------
    >>> import torch
    >>> dev = "cuda" if torch.cuda.is_available() else "cpu"  # CPU needs TRITON_INTERPRET=1
    >>> p, g = torch.ones(1, 2, device=dev), torch.ones(1, 2, device=dev)
    >>> buf = torch.zeros(1, 2, device=dev)
    >>> coef = torch.tensor([[0.1], [0.9], [0.0]], device=dev)
    >>> usq, psq = torch.zeros(1, device=dev), torch.zeros(1, device=dev)
    >>> fused_sgd_step(p, g, buf, coef, torch.ones(1, device=dev), usq, psq, nesterov=False)
    >>> p.cpu(), usq.cpu()
    (tensor([[0.9000, 0.9000]]), tensor([0.0200]))
    """
    if not isinstance(nesterov, bool):
        raise ValueError(f"fused_sgd_step: nesterov={nesterov!r} must be True or False")
    check_step_args("fused_sgd_step", p, {"g": g, "buf": buf}, coef, 3, alive, update_sq, param_sq)
    args = (p, g, buf, coef, alive, update_sq, param_sq)
    _launch("fused_sgd_step", _sgd_tuned, args, backbone, ratio, NESTEROV=nesterov)


def fused_lion_step(
    p: torch.Tensor,
    g: torch.Tensor,
    m: torch.Tensor,
    coef: torch.Tensor,
    alive: torch.Tensor,
    update_sq: torch.Tensor,
    param_sq: torch.Tensor,
    *,
    backbone: torch.Tensor | None = None,
    ratio: torch.Tensor | None = None,
) -> None:
    """One Lion step (Chen et al. 2023) for ``N`` runs in one kernel launch.

    Same arguments, math and in-place contract as
    :func:`~workbench.kernels.reference.lion_step_reference`.

    Parameters
    ----------
    p, g, m : torch.Tensor
        ``[N, P]`` float32 parameters, gradient and momentum; ``p`` and ``m`` are updated in
        place.
    coef : torch.Tensor
        ``[4, N]`` float32 rows ``(lr, one_minus_beta1, one_minus_beta2, decay)``.
    alive : torch.Tensor
        ``[N]`` float32, 1.0 for live runs and 0.0 for frozen runs (zero update).
    update_sq, param_sq : torch.Tensor
        ``[N]`` float32; each run's sum of ``delta**2`` and of the new ``p**2`` is added.
    backbone, ratio : torch.Tensor, optional
        ``[P]`` and ``[N]`` float32, both or neither: multiply the update (decay included) of
        the columns where ``backbone`` is 1.0 by each run's ``ratio``.

    Raises
    ------
    ValueError
        If a tensor has the wrong shape, dtype, layout or device, or ``ratio`` comes without
        ``backbone`` (or the reverse).

    Examples
    --------
    >>> import torch
    >>> dev = "cuda" if torch.cuda.is_available() else "cpu"  # CPU needs TRITON_INTERPRET=1
    >>> p, m = torch.zeros(1, 3, device=dev), torch.zeros(1, 3, device=dev)
    >>> g = torch.tensor([[2.0, -0.1, 0.0]], device=dev)
    >>> coef = torch.tensor([[0.01], [0.1], [0.01], [0.0]], device=dev)
    >>> usq, psq = torch.zeros(1, device=dev), torch.zeros(1, device=dev)
    >>> fused_lion_step(p, g, m, coef, torch.ones(1, device=dev), usq, psq)
    >>> p.cpu()
    tensor([[-0.0100,  0.0100,  0.0000]])
    """
    check_step_args("fused_lion_step", p, {"g": g, "m": m}, coef, 4, alive, update_sq, param_sq)
    args = (p, g, m, coef, alive, update_sq, param_sq)
    _launch("fused_lion_step", _lion_tuned, args, backbone, ratio)
