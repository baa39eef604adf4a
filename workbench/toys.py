"""The river-valley toy of the Schedules lab: SGD on ``f(x, y) = g(x) + (h/2)(y - c(x))²``.

Wen et al. (2024) explain the warmup-stable-decay (WSD) loss curve with a *river valley*: a
landscape with a steep direction across the valley (the *hills*) and a gentle one along its floor
(the *river*). With noisy gradients, a large learning rate makes the iterate bounce between the
hillsides, which keeps the loss high, while it moves quickly downstream; decaying the learning
rate damps the bouncing and reveals the progress made along the river. This module is that
picture in two dimensions, cheap enough to re-run on every slider move:

- :class:`RiverValley` is the landscape and its gradient noise;
- :func:`simulate` runs SGD (optionally heavy-ball) for every (schedule, seed) pair at once;
- :func:`excess_loss_prediction` is the stationary across-valley loss at a constant LR;
- :func:`contours` grids the loss for a contour plot under the trajectories.

The speed comes from batching over runs: every step is a handful of numpy operations on arrays of
shape ``[runs]``, so 64 runs of 2,000 steps take a few tens of milliseconds on one CPU core. The
slow, obvious twin :func:`_simulate_reference` (one run, torch autograd and ``torch.optim.SGD``)
is what the tests check the fast path against.

Examples
--------
>>> from workbench.schedules import wsd
>>> valley = RiverValley()
>>> ds = simulate(valley, [0.1, wsd(peak=0.1, steps=400)], steps=400, seeds=[0, 1])
>>> ds.sizes["run"], ds.sizes["step"]
(4, 401)
>>> calm = float(ds.across[2:, -20:].mean())  # WSD runs, end of the decay
>>> bouncy = float(ds.across[:2, -20:].mean())  # constant-LR runs, same steps
>>> calm < bouncy / 4
True
"""

from __future__ import annotations

import dataclasses
import json
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from .schedules import Schedule, ScheduleLike, as_schedule
from .schedules.checks import _count, _finite

__all__ = ["RiverValley", "contours", "excess_loss_prediction", "simulate"]

# Noise is drawn per seed in fixed blocks of steps, so the noise at step t does not depend on the
# run's length (torch.randn's values are not a prefix of a longer draw's): a 1,000-step run is the
# first 1,000 steps of a 2,000-step run with the same seed and schedule.
_NOISE_BLOCK = 512


@dataclass(frozen=True)
class RiverValley:
    """A meandering river valley with noisy gradients: ``f(x, y) = g(x) + (h/2)·(y - c(x))²``.

    ``g(x) = slope · width · log(1 + exp(-x / width))`` is the height of the river bed, a softplus
    ramp: for ``x << 0`` it falls with gradient ``-slope`` (steady progress downstream lowers the
    loss), and past ``x ≈ 0`` it flattens to its floor ``g = 0`` over a distance ``width`` (the
    diminishing returns of late training). ``c(x) = amplitude · sin(x / period)`` is the valley
    floor, so the river meanders; ``h`` is the curvature across the valley. ``g(x)`` is the
    *along-river* part of the loss and ``(h/2)·(y - c(x))²`` the *across-valley* part.

    Gradient noise: the stochastic gradient of the across-valley term is ``(h·u + σ·ξ)·∇u`` with
    ``u = y - c(x)``, ``∇u = (-c'(x), 1)`` and ``ξ ~ N(0, 1)`` fresh each step, i.e. the noise
    points across the valley (up the hillsides). This is the paper's mechanism: minibatch noise
    lives in the sharp directions (near a minimum its covariance tracks the Hessian), and that is
    what keeps the iterate bouncing across the valley at a large LR while the flat river
    direction feels little of it. ``noise_along`` adds independent noise ``σ_x·ζ`` to the
    ``x``-gradient for experiments; it is 0 by default.

    Parameters
    ----------
    slope : float, default 0.1
        ``-g'(x)`` far upstream, ``>= 0`` (loss units per unit of ``x``).
    width : float, default 5.0
        Distance over which the river flattens to its floor, ``> 0``.
    amplitude : float, default 1.0
        Meander amplitude of the valley floor ``c(x)``.
    period : float, default 10.0
        Meander length scale, ``> 0`` (``c`` repeats every ``2π·period``). The valley's steep
        curvature is ``h·(1 + c'²)`` with ``|c'| <= amplitude / period``; keep that ratio small
        for :func:`excess_loss_prediction` (a straight-river formula) to apply.
    curvature : float, default 10.0
        ``h``, the curvature across the valley, ``> 0``. SGD is stable for ``lr·h < 2``.
    noise : float, default 2.0
        ``σ``, the standard deviation of the across-valley gradient noise, ``>= 0``.
    noise_along : float, default 0.0
        ``σ_x``, the standard deviation of extra noise on the ``x``-gradient, ``>= 0``.
    x0 : float, default -20.0
        Starting position along the river (upstream of the floor at ``x ≈ 0``).
    y0 : float, default -0.5
        Starting position across the valley (``c(-20) ≈ -0.91``, so a little up a hillside).

    References
    ----------
    Wen et al. (2024), "Understanding warmup-stable-decay learning rates: a river valley loss
    landscape perspective", arXiv:2410.05192.

    Examples
    --------
    >>> valley = RiverValley(curvature=4.0)
    >>> round(float(valley.loss(0.0, 1.0)), 4)  # g(0) = 0.5·log 2, plus (4/2)·1²
    2.3466
    >>> RiverValley(width=0.0)
    Traceback (most recent call last):
    ...
    ValueError: RiverValley: width=0.0 must be > 0
    """

    slope: float = 0.1  # -g'(x) upstream: how much the loss falls per unit of river
    width: float = 5.0  # distance over which the river bed flattens to its floor g = 0
    amplitude: float = 1.0  # meander amplitude of the valley floor c(x)
    period: float = 10.0  # meander length scale: c(x) = amplitude·sin(x / period)
    curvature: float = 10.0  # h across the valley; SGD diverges for lr·h >= 2
    noise: float = 2.0  # σ of the across-valley gradient noise
    noise_along: float = 0.0  # σ_x of extra x-gradient noise (off: the river is quiet)
    x0: float = -20.0  # start along the river
    y0: float = -0.5  # start across the valley

    def __post_init__(self) -> None:
        positive = ("width", "period", "curvature")
        nonnegative = ("slope", "noise", "noise_along")
        for f in dataclasses.fields(self):
            value = _finite("RiverValley", f.name, getattr(self, f.name))
            if f.name in positive and value <= 0:
                raise ValueError(f"RiverValley: {f.name}={value} must be > 0")
            if f.name in nonnegative and value < 0:
                raise ValueError(f"RiverValley: {f.name}={value} must be >= 0")
            object.__setattr__(self, f.name, value)  # store plain floats (numpy scalars too)

    def along(self, x: np.ndarray | float) -> np.ndarray:
        """The river bed ``g(x)``: the along-river part of the loss."""
        return self.slope * self.width * np.logaddexp(0.0, -np.asarray(x) / self.width)

    def centre(self, x: np.ndarray | float) -> np.ndarray:
        """The valley floor ``c(x)``."""
        return self.amplitude * np.sin(np.asarray(x) / self.period)

    def across(self, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
        """The across-valley part of the loss, ``(h/2)·(y - c(x))²``."""
        return 0.5 * self.curvature * (np.asarray(y) - self.centre(x)) ** 2

    def loss(self, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
        """The loss ``f(x, y) = g(x) + (h/2)·(y - c(x))²`` (numpy, elementwise)."""
        return self.along(x) + self.across(x, y)

    def max_curvature(self) -> float:
        """Largest curvature across the valley floor, ``h·(1 + (amplitude / period)²)``."""
        return self.curvature * (1.0 + (self.amplitude / self.period) ** 2)


def excess_loss_prediction(valley: RiverValley, lr: float, *, momentum: float = 0.0) -> float:
    """Stationary mean across-valley loss of SGD at a constant learning rate.

    For a straight river (``c' = 0``) the across-valley coordinate ``u = y - c`` follows
    ``u_{t+1} = u_t - η·(h·u_t + σ·ξ_t)``, an AR(1) process with coefficient ``1 - ηh`` and
    innovation variance ``η²σ²``. Its stationary variance is
    ``η²σ² / (1 - (1 - ηh)²) = ησ² / (h·(2 - ηh))``, so the mean excess loss is

    ``E[(h/2)·u²] = ησ² / (2·(2 - ηh))``,

    which is the formula quoted for the paper's toy (no factor changes). It grows with ``η``,
    blows up as ``ηh → 2`` (SGD on the quadratic diverges for ``ηh >= 2``) and vanishes as
    ``η → 0``, which is why the decay phase reveals the progress along the river.

    With heavy-ball momentum ``μ`` (``v ← μ·v + g``, ``u ← u - η·v``, as ``torch.optim.SGD``)
    ``u`` is AR(2) with coefficients ``(1 + μ - ηh, -μ)``, giving
    ``(1 + μ)·ησ² / (2·(1 - μ)·(2·(1 + μ) - ηh))``, stable for ``ηh < 2·(1 + μ)``.

    A meandering river changes the curvature across the valley to ``h·(1 + c'²)`` and the
    noise's size to ``σ·sqrt(1 + c'²)``, so this straight-river formula is exact (to sampling
    error) only for ``amplitude = 0``. With the default ``amplitude / period = 0.1`` the measured
    mean is within about 3% of it for ``ηh <= 1.5`` and about 7% above it at ``ηh = 1.9``, where
    ``2 - ηh·(1 + c'²)`` is most sensitive to the extra curvature.

    Parameters
    ----------
    valley : RiverValley
        Supplies ``h`` (``curvature``) and ``σ`` (``noise``).
    lr : float
        The constant learning rate ``η``, ``>= 0`` and ``< 2·(1 + momentum) / h``.
    momentum : float, default 0.0
        Heavy-ball coefficient ``μ`` in ``[0, 1)``.

    Returns
    -------
    float

    Examples
    --------
    >>> valley = RiverValley(curvature=10.0, noise=2.0)
    >>> excess_loss_prediction(valley, 0.1)  # 0.1·4 / (2·(2 - 1))
    0.2
    >>> excess_loss_prediction(valley, 0.25)
    Traceback (most recent call last):
    ...
    ValueError: excess_loss_prediction: lr=0.25 gives lr·h=2.5 >= 2·(1 + momentum)=2 ...
    """
    fn = "excess_loss_prediction"
    eta = _finite(fn, "lr", lr)
    mu = _momentum(fn, momentum)
    if eta < 0:
        raise ValueError(f"{fn}: lr={eta} must be >= 0")
    _check_stable(fn, "lr", eta, valley.curvature, mu)
    h, var = valley.curvature, valley.noise**2
    return (1 + mu) * eta * var / (2 * (1 - mu) * (2 * (1 + mu) - eta * h))


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


def contours(
    valley: RiverValley,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    *,
    n: int = 200,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The loss on an ``n × n`` grid, for a contour plot under the trajectories.

    Parameters
    ----------
    valley : RiverValley
    xlim, ylim : (float, float)
        Grid ranges ``(low, high)`` with ``low < high``.
    n : int, default 200
        Points per axis, ``>= 2``.

    Returns
    -------
    X, Y, Z : numpy.ndarray
        Each of shape ``[n, n]`` (``np.meshgrid`` "xy" indexing: rows follow ``y``, columns
        ``x``); ``Z = f(X, Y)``.

    Examples
    --------
    >>> X, Y, Z = contours(RiverValley(), (-20, 5), (-2, 2), n=3)
    >>> X.shape, Z.shape
    ((3, 3), (3, 3))
    >>> float(X[0, 0]), float(Y[-1, 0])
    (-20.0, 2.0)
    """
    fn = "contours"
    lims = []
    for name, lim in (("xlim", xlim), ("ylim", ylim)):
        if isinstance(lim, str) or not isinstance(lim, Sequence) or len(lim) != 2:
            raise ValueError(f"{fn}: {name}={lim!r} must be a pair (low, high)")
        lo, hi = _finite(fn, f"{name}[0]", lim[0]), _finite(fn, f"{name}[1]", lim[1])
        if not lo < hi:
            raise ValueError(f"{fn}: {name}={lim!r} must have low < high")
        lims.append((lo, hi))
    n = _count(fn, "n", n, minimum=2)
    X, Y = np.meshgrid(np.linspace(*lims[0], n), np.linspace(*lims[1], n))  # (n, n) each
    return X, Y, valley.loss(X, Y)


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


def _momentum(fn: str, momentum: object) -> float:
    mu = _finite(fn, "momentum", momentum)
    if not 0.0 <= mu < 1.0:
        raise ValueError(f"{fn}: momentum={mu} must be in [0, 1)")
    return mu


def _check_stable(fn: str, name: str, lr: float, curvature: float, momentum: float) -> None:
    """Heavy-ball SGD on a quadratic of curvature h diverges for lr·h >= 2·(1 + momentum)."""
    limit = 2.0 * (1.0 + momentum)
    if lr * curvature >= limit:
        raise ValueError(
            f"{fn}: {name}={lr:g} gives lr·h={lr * curvature:g} >= 2·(1 + momentum)={limit:g} "
            f"(h={curvature:g}): SGD diverges across the valley; allowed: 0 <= lr < "
            f"{limit / curvature:g}"
        )
