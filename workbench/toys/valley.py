"""The river valley of the Schedules lab: ``f(x, y) = g(x) + (h/2)(y - c(x))²`` and its noise.

A landscape with a steep direction across the valley (the *hills*) and a gentle one along its
floor (the *river*), after Wen et al. (2024):

- :class:`RiverValley` is the landscape and its gradient noise;
- :func:`excess_loss_prediction` is the stationary across-valley loss at a constant LR;
- :func:`contours` grids the loss for a contour plot under the trajectories.

The learning-rate checks shared with :mod:`workbench.toys.simulation` live here too:
:func:`_momentum` and :func:`_check_stable` (SGD's stability limit across the valley).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..schedules.checks import _count, _finite

__all__ = ["RiverValley", "contours", "excess_loss_prediction"]


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


# --------------------------------------------------------------------------- checks


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
