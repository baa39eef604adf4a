"""The Triton device code of the fused optimizer steps: three kernels and their helpers.

:func:`_adamw_kernel`, :func:`_sgd_kernel` and :func:`_lion_kernel` each read ``p``, ``g`` and
the optimizer state once, write ``p`` and the state once, and add each run's ``sum(delta**2)``
and ``sum(p_new**2)`` into ``[N]`` buffers with one atomic add per block. Program ``(i, row)``
handles columns ``[i * BLOCK, (i + 1) * BLOCK)`` of run ``row`` and loads that run's
coefficients once. ``HAS_SCALE`` switches the per-column LR scale on at compile time.

The launchers in :mod:`workbench.kernels.fused_optim` check the arguments, autotune and pick
the grid. The ``@triton.jit`` helpers must stay globals of this module (defined or imported by
name): Triton resolves the names a kernel calls from the kernel function's ``__globals__``.
"""

from __future__ import annotations

import triton
import triton.language as tl

_INF: tl.constexpr = tl.constexpr(float("inf"))

# Device helpers, inlined into the kernels below.


@triton.jit
def _lerp(a, b, w):
    # torch.lerp's two branches (ATen Lerp.h), so kernel and reference agree to rounding and
    # turn the same inf gradients into NaN.
    return tl.where(tl.abs(w) < 0.5, a + w * (b - a), b - (b - a) * (1.0 - w))


@triton.jit
def _sign(x):
    # torch.sign: 0 for 0 and for NaN.
    return tl.where(x > 0.0, 1.0, tl.where(x < 0.0, -1.0, 0.0))


@triton.jit
def _scaled(delta, cols, mask, row, bb_ptr, ratio_ptr, HAS_SCALE: tl.constexpr):
    # The backbone's update is ratio times the head's: delta * (1 + (ratio - 1) * backbone),
    # before the NaN clearing (0 * inf is NaN). Without HAS_SCALE this compiles to nothing.
    if HAS_SCALE:
        bb = tl.load(bb_ptr + cols, mask=mask, other=0.0)
        delta = delta * (1.0 + (tl.load(ratio_ptr + row) - 1.0) * bb)
    return delta


@triton.jit
def _apply_update(p_ptr, p, delta, offs, mask, row, update_sq_ptr, param_sq_ptr):
    # nan_to_num(delta, nan=0, posinf=0, neginf=0): |x| < inf is false exactly for NaN and inf.
    # A frozen run's coefficients are zero, but 0 * NaN is NaN; this clears it.
    delta = tl.where(tl.abs(delta) < _INF, delta, 0.0)
    p_new = p + delta
    tl.store(p_ptr + offs, p_new, mask=mask)
    tl.atomic_add(update_sq_ptr + row, tl.sum(tl.where(mask, delta * delta, 0.0), axis=0))
    tl.atomic_add(param_sq_ptr + row, tl.sum(tl.where(mask, p_new * p_new, 0.0), axis=0))


@triton.jit
def _adamw_kernel(
    p_ptr,
    g_ptr,
    m_ptr,
    v_ptr,
    coef_ptr,
    alive_ptr,
    bb_ptr,
    ratio_ptr,
    update_sq_ptr,
    param_sq_ptr,
    N,
    P,
    HAS_SCALE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    row = tl.program_id(1)
    # this run's coefficients, rows (one_minus_beta1, one_minus_beta2, step, eps_hat, decay)
    c1 = tl.load(coef_ptr + row)
    c2 = tl.load(coef_ptr + N + row)
    step = tl.load(coef_ptr + 2 * N + row)
    eps_hat = tl.load(coef_ptr + 3 * N + row)
    decay = tl.load(coef_ptr + 4 * N + row)
    a = tl.load(alive_ptr + row)
    cols = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < P
    offs = row.to(tl.int64) * P + cols  # int64: N * P may pass 2**31
    p = tl.load(p_ptr + offs, mask=mask, other=0.0)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0)
    m = _lerp(tl.load(m_ptr + offs, mask=mask, other=0.0), g, c1)
    v = _lerp(tl.load(v_ptr + offs, mask=mask, other=0.0), g * g, c2)
    tl.store(m_ptr + offs, m, mask=mask)
    tl.store(v_ptr + offs, v, mask=mask)
    # IEEE sqrt and division, as torch: tl.sqrt and `/` may be approximate on GPUs
    u = tl.div_rn(m, tl.sqrt_rn(v) + eps_hat)
    delta = p * (-decay * a) + u * (-step * a)
    delta = _scaled(delta, cols, mask, row, bb_ptr, ratio_ptr, HAS_SCALE)
    _apply_update(p_ptr, p, delta, offs, mask, row, update_sq_ptr, param_sq_ptr)


@triton.jit
def _sgd_kernel(
    p_ptr,
    g_ptr,
    buf_ptr,
    coef_ptr,
    alive_ptr,
    bb_ptr,
    ratio_ptr,
    update_sq_ptr,
    param_sq_ptr,
    N,
    P,
    HAS_SCALE: tl.constexpr,
    NESTEROV: tl.constexpr,
    BLOCK: tl.constexpr,
):
    row = tl.program_id(1)
    # this run's coefficients, rows (lr, momentum, decay)
    lr = tl.load(coef_ptr + row)
    mu = tl.load(coef_ptr + N + row)
    decay = tl.load(coef_ptr + 2 * N + row)
    a = tl.load(alive_ptr + row)
    cols = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < P
    offs = row.to(tl.int64) * P + cols  # int64: N * P may pass 2**31
    p = tl.load(p_ptr + offs, mask=mask, other=0.0)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0)
    buf = mu * tl.load(buf_ptr + offs, mask=mask, other=0.0) + g
    tl.store(buf_ptr + offs, buf, mask=mask)
    if NESTEROV:
        d = g + mu * buf
    else:
        d = buf
    delta = p * (-decay * a) + d * (-lr * a)
    delta = _scaled(delta, cols, mask, row, bb_ptr, ratio_ptr, HAS_SCALE)
    _apply_update(p_ptr, p, delta, offs, mask, row, update_sq_ptr, param_sq_ptr)


@triton.jit
def _lion_kernel(
    p_ptr,
    g_ptr,
    m_ptr,
    coef_ptr,
    alive_ptr,
    bb_ptr,
    ratio_ptr,
    update_sq_ptr,
    param_sq_ptr,
    N,
    P,
    HAS_SCALE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    row = tl.program_id(1)
    # this run's coefficients, rows (lr, one_minus_beta1, one_minus_beta2, decay)
    lr = tl.load(coef_ptr + row)
    c1 = tl.load(coef_ptr + N + row)
    c2 = tl.load(coef_ptr + 2 * N + row)
    decay = tl.load(coef_ptr + 3 * N + row)
    a = tl.load(alive_ptr + row)
    cols = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < P
    offs = row.to(tl.int64) * P + cols  # int64: N * P may pass 2**31
    p = tl.load(p_ptr + offs, mask=mask, other=0.0)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0)
    m = tl.load(m_ptr + offs, mask=mask, other=0.0)
    # Chen et al. 2023, Algorithm 1: the sign of the beta1 interpolation, then the beta2 update
    c = _lerp(m, g, c1)
    tl.store(m_ptr + offs, _lerp(m, g, c2), mask=mask)
    delta = p * (-decay * a) + _sign(c) * (-lr * a)
    delta = _scaled(delta, cols, mask, row, bb_ptr, ratio_ptr, HAS_SCALE)
    _apply_update(p_ptr, p, delta, offs, mask, row, update_sq_ptr, param_sq_ptr)
