"""SGD on the river valley, batched over (schedule, seed) runs: :func:`simulate`.

The speed comes from batching over runs: every step is a handful of numpy operations on arrays of
shape ``[runs]``, so 64 runs of 2,000 steps take a few tens of milliseconds on one CPU core. The
slow, obvious twin :func:`_simulate_reference` (one run, torch autograd and ``torch.optim.SGD``)
is what the tests check the fast path against.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from ..schedules import Schedule, ScheduleLike, as_schedule
from ..schedules.checks import _count
from .valley import RiverValley, _check_stable, _momentum

__all__ = ["simulate"]


# Noise is drawn per seed in fixed blocks of steps, so the noise at step t does not depend on the
# run's length (torch.randn's values are not a prefix of a longer draw's): a 1,000-step run is the
# first 1,000 steps of a 2,000-step run with the same seed and schedule.
_NOISE_BLOCK = 512


def simulate(
    valley: RiverValley,
    lrs: Sequence[ScheduleLike] | ScheduleLike,
    *,
    steps: int,
    seeds: Sequence[int] = (0,),
    momentum: float = 0.0,
) -> xr.Dataset:
    """SGD on the river valley for every (learning-rate schedule, seed) pair, batched.

    Each step computes the noisy gradient described in :class:`RiverValley` and takes a
    heavy-ball step ``v ← μ·v + g``, ``θ ← θ - η_t·v`` (``v₀ = 0``; plain SGD for ``μ = 0``).
    The noise depends only on the seed and the step, not on the schedule or on which other runs
    are batched: runs with the same seed share their noise, so schedules are compared on the
    same draws, and a shorter run is a prefix of a longer one.

    Parameters
    ----------
    valley : RiverValley
        The landscape, its noise and the starting point.
    lrs : sequence of float or Schedule (or one of them)
        Learning rates; numbers are constant schedules. Each must stay ``>= 0`` and below the
        stability limit ``2·(1 + momentum) / valley.max_curvature()`` over the run.
    steps : int
        Number of updates, ``>= 1``.
    seeds : sequence of int, default (0,)
        Noise seeds, each ``>= 0`` (one ``torch.Generator`` per seed).
    momentum : float, default 0.0
        Heavy-ball coefficient in ``[0, 1)``.

    Returns
    -------
    xarray.Dataset
        Dims ``run`` (``len(lrs) · len(seeds)``, schedule-major) and ``step`` (``0 .. steps``:
        row ``t`` is the iterate after ``t`` updates, so row 0 is the start). Variables ``x``,
        ``y``, ``loss`` (``f``), ``along`` (``g(x)``), ``across`` (``(h/2)·(y - c(x))²``) and
        ``lr`` (``η_t``, the rate of the update that leaves row ``t``; the last row's is never
        applied). Run coordinates ``schedule`` (label), ``schedule_index`` and ``seed``. Attrs:
        the valley (JSON), the schedules (JSON), ``momentum`` and ``steps``.

    Examples
    --------
    >>> from workbench.schedules import cosine
    >>> ds = simulate(RiverValley(), [0.1, cosine(peak=0.1, steps=200)], steps=200, seeds=[0, 1])
    >>> ds.schedule.values[::2].tolist()
    ['constant(value=0.1)', 'cosine(peak=0.1, steps=200, warmup=0, final=0.0)']
    >>> bool((ds.x.isel(step=-1) > ds.x.isel(step=0)).all())  # everyone moved downstream
    True
    """
    fn = "simulate"
    schedules = _schedules(fn, lrs)
    steps = _count(fn, "steps", steps, minimum=1)
    seeds = _seeds(fn, seeds)
    mu = _momentum(fn, momentum)

    # One table per distinct schedule: a slider sweep often repeats them.
    unique = {s: s.table(steps + 1).numpy() for s in dict.fromkeys(schedules)}
    tables = np.stack([unique[s] for s in schedules])  # (S, T+1)
    for i, (s, table) in enumerate(zip(schedules, tables, strict=True)):
        lo, hi = float(table[:steps].min()), float(table[:steps].max())
        if lo < 0:
            raise ValueError(f"{fn}: lrs[{i}]={s!r} goes negative ({lo}); lrs must be >= 0")
        _check_stable(fn, f"lrs[{i}] (max over the run)", hi, valley.max_curvature(), mu)

    n_sched, n_seed = len(schedules), len(seeds)
    lr = np.repeat(tables, n_seed, axis=0)  # (R, T+1), R = n_sched·n_seed, schedule-major
    noise = _noise(seeds, steps)  # (n_seed, T, 2)
    noise = np.tile(noise, (n_sched, 1, 1))  # (R, T, 2)
    xs, ys = _simulate_fast(valley, lr, noise, mu)  # (T+1, R) each

    along, across = valley.along(xs), valley.across(xs, ys)
    dims = ("run", "step")
    ds = xr.Dataset(
        {
            "x": (dims, xs.T, {"long_name": "position along the river"}),
            "y": (dims, ys.T, {"long_name": "position across the valley"}),
            "loss": (dims, (along + across).T, {"long_name": "loss f = g(x) + (h/2)(y - c(x))²"}),
            "along": (dims, along.T, {"long_name": "along-river loss g(x)"}),
            "across": (dims, across.T, {"long_name": "across-valley loss (h/2)(y - c(x))²"}),
            "lr": (dims, lr, {"long_name": "learning rate of the update leaving this step"}),
        },
        coords={
            "step": ("step", np.arange(steps + 1), {"long_name": "updates done before it"}),
            "schedule": ("run", np.repeat([repr(s) for s in schedules], n_seed)),
            "schedule_index": ("run", np.repeat(np.arange(n_sched), n_seed)),
            "seed": ("run", np.tile(np.asarray(seeds, dtype=np.int64), n_sched)),
        },
        attrs={
            "model": "river valley toy (Wen et al. 2024)",
            "valley": json.dumps(dataclasses.asdict(valley)),
            "schedules": json.dumps([s.to_dict() for s in schedules]),
            "momentum": mu,
            "steps": steps,
        },
    )
    return ds


# --------------------------------------------------------------------------- the fast path


def _simulate_fast(
    valley: RiverValley, lr: np.ndarray, noise: np.ndarray, momentum: float
) -> tuple[np.ndarray, np.ndarray]:
    """Batched heavy-ball SGD; ``lr`` is ``(R, T+1)``, ``noise`` ``(R, T, 2)``.

    Returns ``x`` and ``y`` as ``(T+1, R)`` arrays (row ``t`` after ``t`` updates). The loop is
    over steps (the dynamics are nonlinear in ``x``, so there is no closed-form scan); each step
    is about 20 numpy ufuncs on ``[R]`` arrays writing into preallocated buffers, so the cost is
    the per-call overhead (about 1 µs), nearly independent of ``R`` up to a few thousand runs.
    """
    v = valley
    n_runs, n_steps = noise.shape[0], noise.shape[1]
    # Each step reads one contiguous [R] row: lay everything out step-major.
    lr_t = np.ascontiguousarray(lr[:, :n_steps].T)  # (T, R)
    hill_kick = v.noise * np.ascontiguousarray(noise[:, :, 0].T)  # (T, R): σ·ξ
    river_kick = v.noise_along * np.ascontiguousarray(noise[:, :, 1].T)  # (T, R): σ_x·ζ
    river_noise = v.noise_along > 0

    xs = np.empty((n_steps + 1, n_runs))  # (T+1, R)
    ys = np.empty((n_steps + 1, n_runs))  # (T+1, R)
    xs[0], ys[0] = v.x0, v.y0
    vx, vy = np.zeros(n_runs), np.zeros(n_runs)
    phase, c, dc, e, gx, gy = (np.empty(n_runs) for _ in range(6))
    inv_period, inv_width = 1.0 / v.period, 1.0 / v.width
    amp, amp_over_period, neg_slope = v.amplitude, v.amplitude / v.period, -v.slope

    # exp(x/width) overflows to inf far downstream, which correctly makes g'(x) exactly 0.
    with np.errstate(over="ignore"):
        for t in range(n_steps):
            x, y = xs[t], ys[t]
            np.multiply(x, inv_period, out=phase)
            np.sin(phase, out=c)
            c *= amp  # c(x)
            np.cos(phase, out=dc)
            dc *= amp_over_period  # c'(x)
            # Across: the noisy hill gradient h·u + σ·ξ, which acts along ∇u = (-c', 1).
            np.subtract(y, c, out=gy)
            gy *= v.curvature
            gy += hill_kick[t]
            # Along: g'(x) = -slope·sigmoid(-x/width) = -slope / (1 + exp(x/width)).
            np.multiply(x, inv_width, out=e)
            np.exp(e, out=e)
            e += 1.0
            np.divide(neg_slope, e, out=gx)
            if river_noise:
                gx += river_kick[t]
            np.multiply(dc, gy, out=dc)
            gx -= dc  # the hill gradient's x-component, -c'·(h·u + σ·ξ)
            if momentum:
                vx *= momentum
                vx += gx
                vy *= momentum
                vy += gy
                gx[:], gy[:] = vx, vy
            gx *= lr_t[t]
            gy *= lr_t[t]
            np.subtract(x, gx, out=xs[t + 1])
            np.subtract(y, gy, out=ys[t + 1])
    return xs, ys


# --------------------------------------------------------------------------- the slow twin


def _simulate_reference(
    valley: RiverValley, lr: Sequence[float], noise: np.ndarray, momentum: float
) -> tuple[np.ndarray, np.ndarray]:
    """One run, the obvious way: torch autograd for ``∇f`` and ``∇u``, ``torch.optim.SGD``.

    ``lr`` has one rate per update and ``noise`` is ``(T, 2)`` (``ξ``, ``ζ``). Returns ``x`` and
    ``y`` of shape ``[T+1]``. Written independently of :func:`_simulate_fast` (softplus and
    autograd instead of hand-derived gradients) so the lock-step test compares two derivations.
    """
    v = valley
    theta = torch.tensor([v.x0, v.y0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([theta], lr=0.0, momentum=momentum)
    path = [theta.detach().clone()]
    for t, (xi, zeta) in enumerate(noise):
        x, y = theta[0], theta[1]
        u = y - v.amplitude * torch.sin(x / v.period)
        g = v.slope * v.width * torch.nn.functional.softplus(-x / v.width)
        f = g + 0.5 * v.curvature * u**2
        grad_f = torch.autograd.grad(f, theta, retain_graph=True)[0]
        grad_u = torch.autograd.grad(u, theta)[0]
        opt.zero_grad()
        theta.grad = grad_f + v.noise * float(xi) * grad_u
        theta.grad[0] += v.noise_along * float(zeta)
        opt.param_groups[0]["lr"] = float(lr[t])
        opt.step()
        path.append(theta.detach().clone())
    xy = torch.stack(path).numpy()  # (T+1, 2)
    return xy[:, 0], xy[:, 1]


# --------------------------------------------------------------------------- helpers


def _noise(seeds: Sequence[int], steps: int) -> np.ndarray:
    """Standard normal draws ``(len(seeds), steps, 2)``: ``[..., 0]`` across, ``[..., 1]`` along.

    One ``torch.Generator`` per seed, drawn in fixed blocks of ``_NOISE_BLOCK`` steps so that
    step ``t``'s noise does not depend on ``steps``.
    """
    blocks = -(-steps // _NOISE_BLOCK)
    out = np.empty((len(seeds), blocks * _NOISE_BLOCK, 2))
    for i, seed in enumerate(seeds):
        gen = torch.Generator().manual_seed(seed)
        for b in range(blocks):
            block = torch.randn((_NOISE_BLOCK, 2), generator=gen, dtype=torch.float64)
            out[i, b * _NOISE_BLOCK : (b + 1) * _NOISE_BLOCK] = block.numpy()
    return out[:, :steps]


def _schedules(fn: str, lrs: object) -> list[Schedule]:
    if isinstance(lrs, Schedule | numbers.Real):
        lrs = [lrs]
    if isinstance(lrs, str) or not isinstance(lrs, Sequence):
        raise TypeError(f"{fn}: lrs must be a sequence of numbers or Schedules, got {lrs!r}")
    if len(lrs) == 0:
        raise ValueError(f"{fn}: lrs=[] is empty; give at least one learning rate or Schedule")
    return [as_schedule(lr) for lr in lrs]


def _seeds(fn: str, seeds: object) -> list[int]:
    if isinstance(seeds, np.ndarray | torch.Tensor):
        seeds = seeds.tolist()
    if isinstance(seeds, str) or not isinstance(seeds, Sequence):
        raise TypeError(f"{fn}: seeds must be a sequence of integers, got {seeds!r}")
    if len(seeds) == 0:
        raise ValueError(f"{fn}: seeds=[] is empty; give at least one seed")
    return [_count(fn, f"seeds[{i}]", s, minimum=0) for i, s in enumerate(seeds)]
