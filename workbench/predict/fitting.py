"""Fitting a law to loss curves: the laws' shared base, its fit, and :class:`FittedLaw`.

:class:`_Law` holds what both laws share: the joint fit of several curves by log-parametrised,
bounded least squares, run from the best points of a grid of starts (solved by non-negative
least squares, :func:`_nnls_start`). :func:`_fit_data` checks the curves and block-averages
them (:class:`_FitCurve`); :class:`FittedLaw` is the result, which predicts, and reports its R².
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import least_squares, nnls

from ._common import Curve, _area, _count_arg, _lr_array, _steps_array, _warmup_length

# -- the laws' shared base ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Param:
    name: str
    lo: float  # bounds of the positive parameter (it is fitted as log(value))
    hi: float


class _Law(ABC):
    """What both laws share: the fit (log-parametrised bounded least squares) and its checks."""

    name: ClassVar[str]
    _params: ClassVar[tuple[_Param, ...]]

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the fitted parameters, in order."""
        return tuple(p.name for p in self._free())

    def _free(self) -> tuple[_Param, ...]:
        return self._params

    def _fixed(self) -> dict[str, float]:
        return {}

    @abstractmethod
    def _evaluate(
        self,
        u: np.ndarray,
        steps: np.ndarray,
        warmup: int,
        p: dict,
        grad: bool = False,
        geometry: Any = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Loss at ``steps`` and, with ``grad``, its derivative in the log of each free parameter.

        ``geometry``: what :meth:`_precompute` returned for these ``u, steps, warmup``.
        """

    def _precompute(self, u: np.ndarray, steps: np.ndarray, warmup: int) -> Any:
        """Parameter-free intermediate results reused by every evaluation during a fit."""
        return None

    @abstractmethod
    def _to_raw(self, p: dict, scale: float) -> dict:
        """Parameters fitted on ``lrs / scale`` -> parameters of the same law on ``lrs``."""

    @abstractmethod
    def _init_grid(self, data: list[_FitCurve]) -> list[tuple[float, dict]]:
        """Starting points, each with its residual norm."""

    def fit(
        self,
        curves: Sequence[Curve],
        *,
        skip: int = 0,
        smooth: int = 1,
        loss: str = "linear",
        starts: int = 3,
        max_nfev: int = 300,
        ftol: float = 1e-6,
    ) -> FittedLaw:
        """Fit the law jointly to several loss curves.

        Parameters
        ----------
        curves : sequence of (lrs, losses) or (lrs, losses, steps)
            ``lrs`` [T]: the learning rate of each update. ``losses`` [K]: measured losses.
            ``steps`` [K] (ints in ``[0, T]``): updates done when each loss was measured, as
            ``ds.eval_step``; without it ``losses`` has ``T`` entries, ``losses[i]`` measured
            after update ``i`` (steps ``1 .. T``).
        skip : int, default 0
            Leave out points measured after at most ``skip`` updates (the warmup, the first
            transient). Points before any LR area was swept (step 0; the start of a
            warmup from 0) are always left out: the law is ``inf`` there.
        smooth : int, default 1
            Average consecutive points of each curve in blocks of ``smooth`` and fit the block
            means with the law at each block's middle step: less noise (use it for minibatch
            losses) and a cheaper fit, while blocks stay short next to the curve's features.
        loss : str, default "linear"
            ``scipy.optimize.least_squares`` loss: ``"linear"`` (least squares), or a robust one
            (``"soft_l1"``, ``"huber"``) against outlying points.
        starts : int, default 3
            Local fits run from the best ``starts`` points of the initial grid.
        max_nfev : int, default 300
            Function evaluations per local fit.
        ftol : float, default 1e-6
            Stop a local fit when the cost changes by less than this fraction. The multi-power
            law has a flat valley (``B -> inf``, ``beta -> 0``, ``B*beta`` fixed) along which
            the cost, and the predictions, barely change: a tighter ``ftol`` crawls along it.

        Returns
        -------
        FittedLaw

        Notes
        -----
        Learning rates are divided by their largest value during the fit, so that every
        parameter is of order one, and the parameters are mapped back to the units of ``lrs``.
        Each parameter is positive and fitted as its logarithm within wide bounds. Starting
        points come from a grid over the exponents (and the multi-power law's ``C``, ``beta``,
        ``gamma``) on which the linear parameters are solved by non-negative least squares.
        """
        data = _fit_data("fit", curves, skip=skip, smooth=smooth)
        n_points = sum(d.target.size for d in data)
        free = self._free()
        if n_points < len(free):
            raise ValueError(
                f"fit: {n_points} points left after skip={skip} and smooth={smooth}; the "
                f"{self.name} law has {len(free)} parameters"
            )
        scale = max(float(d.u.max()) for d in data)  # > 0: points without LR area are gone
        for d in data:
            d.u = d.u / scale
            d.geometry = self._precompute(d.u, d.steps, d.warmup)
        fixed = self._fixed()
        lo = np.log([p.lo for p in free])
        hi = np.log([p.hi for p in free])

        def unpack(theta: np.ndarray) -> dict:
            return {**fixed, **{p.name: float(np.exp(v)) for p, v in zip(free, theta, strict=True)}}

        names = [q.name for q in free]
        cache: dict = {}

        def evaluate(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            key = theta.tobytes()
            if key not in cache:  # least_squares asks for residuals, then the Jacobian
                cache.clear()
                parts = [d.residual(self, unpack(theta), names) for d in data]
                r = np.concatenate([r for r, _ in parts])
                jac = np.concatenate([j for _, j in parts])
                cache[key] = (
                    np.nan_to_num(r, nan=1e6, posinf=1e6, neginf=-1e6),
                    np.nan_to_num(jac, nan=0.0, posinf=0.0, neginf=0.0),
                )
            return cache[key]

        def residuals(theta: np.ndarray) -> np.ndarray:
            return evaluate(theta)[0]

        def jacobian(theta: np.ndarray) -> np.ndarray:
            return evaluate(theta)[1]

        # Starting points ranked by their linear-least-squares residual.
        ranked = [p0 for _, p0 in sorted(self._init_grid(data), key=lambda item: item[0])]
        best = None
        for p0 in ranked[: max(1, starts)]:
            res = least_squares(
                residuals,
                _pack(free, p0, lo, hi),
                jac=jacobian,
                bounds=(lo, hi),
                loss=loss,
                x_scale="jac",
                max_nfev=max_nfev,
                ftol=ftol,
            )
            if best is None or res.cost < best.cost:
                best = res
        p = unpack(best.x)
        r = residuals(best.x)
        targets = np.concatenate([d.target for d in data])
        return FittedLaw(
            law=self.name,
            params=self._to_raw(p, scale),
            model=self,
            r2_fit=_r2(r, targets),
            n_points=n_points,
        )


def _pack(free: tuple[_Param, ...], p: dict, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    x = np.log([max(p[q.name], 1e-300) for q in free])
    return np.clip(x, lo + 1e-9, hi - 1e-9)


def _r2(residual: np.ndarray, target: np.ndarray) -> float:
    tot = float(((target - target.mean()) ** 2).sum())
    return 1.0 - float(residual @ residual) / tot if tot > 0 else float("nan")


# -- starting points ---------------------------------------------------------------------------

_ALPHAS = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5)


def _nnls_start(data: list, area: list, decrease: list) -> tuple[np.ndarray, float]:
    """``a, b, c >= 0`` minimising ``|a + b*area - c*decrease - target|`` over all curves.

    ``area`` and ``decrease`` hold, per curve, the power term (``A = 1``) and the annealing
    term (``C = 1`` or ``B = 1``) at the curve's blocks.
    """
    y = np.concatenate([d.target for d in data])
    x = np.stack(
        [np.ones_like(y), np.concatenate(area), -np.concatenate(decrease)], axis=1
    )  # (points, 3)
    ok = np.isfinite(x).all(axis=1)
    coef, rnorm = nnls(x[ok], y[ok])
    # Log-parametrised: start exactly-zero coefficients just above zero instead.
    return np.maximum(coef, 1e-6 * max(float(np.abs(y).max()), 1e-12)), rnorm


# -- fitting data ------------------------------------------------------------------------------


@dataclass
class _FitCurve:
    """One curve ready for fitting: the law is evaluated at ``steps`` and block-averaged."""

    u: np.ndarray  # learning rates (divided by the fit's scale)
    warmup: int
    steps: np.ndarray  # (K,) steps at which the law is evaluated
    block: np.ndarray  # (K,) block of each of them
    counts: np.ndarray  # (blocks,) steps evaluated per block
    target: np.ndarray  # (blocks,) block means of the losses
    geometry: Any = None  # the law's parameter-free intermediates (_Law._precompute)

    def smooth(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.block, weights=values) / self.counts

    def residual(self, law: _Law, p: dict, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Residuals [blocks] and their Jacobian [blocks, names] in the log-parameters."""
        y, d = law._evaluate(self.u, self.steps, self.warmup, p, grad=True, geometry=self.geometry)
        jac = np.stack([self.smooth(d[name]) for name in names], axis=1)
        return self.smooth(y) - self.target, jac


def _fit_data(fn: str, curves: Sequence[Curve], *, skip: int, smooth: int) -> list[_FitCurve]:
    skip = _count_arg(fn, "skip", skip, 0)
    smooth = _count_arg(fn, "smooth", smooth, 1)
    if isinstance(curves, tuple) and len(curves) in (2, 3) and np.ndim(curves[0]) == 1:
        raise ValueError(
            f"{fn}: curves must be a list of (lrs, losses) pairs; wrap a single curve in a list"
        )
    curves = list(curves)
    if not curves:
        raise ValueError(f"{fn}: curves is empty; pass at least one (lrs, losses) pair")
    out = []
    for i, c in enumerate(curves):
        where = f"curves[{i}]"
        if not isinstance(c, Sequence) or len(c) not in (2, 3):
            raise ValueError(
                f"{fn}: {where} must be (lrs, losses) or (lrs, losses, steps), got "
                f"{type(c).__name__}"
            )
        lrs = _lr_array(fn, f"{where} lrs", c[0])
        losses = np.asarray(c[1], dtype=np.float64)
        if losses.ndim != 1:
            raise ValueError(f"{fn}: {where} losses must be 1-D, got shape {losses.shape}")
        if len(c) == 3 and c[2] is not None:
            steps = _steps_array(fn, f"{where} steps", c[2], lrs.size)
            if steps.size != losses.size:
                raise ValueError(
                    f"{fn}: {where} steps has {steps.size} entries; losses has {losses.size}"
                )
        else:
            if losses.size != lrs.size:
                raise ValueError(
                    f"{fn}: {where} losses has {losses.size} entries; lrs has {lrs.size} (pass "
                    f"(lrs, losses, steps) for losses measured at some steps only)"
                )
            steps = np.arange(1, lrs.size + 1)
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            raise ValueError(
                f"{fn}: {where} losses has non-finite values (first at index {bad[0]})"
            )
        # The law is inf where no LR area has been swept (step 0, a warmup from 0).
        keep = (steps > skip) & (_area(lrs)[steps] > 0)
        steps, losses = steps[keep], losses[keep]
        if steps.size == 0:
            continue
        block = np.arange(steps.size) // smooth
        size = np.bincount(block)
        target = np.bincount(block, weights=losses) / size
        # The law at each block's middle step (the mean of the two middle ones): as good as
        # averaging it over the block while blocks are short next to the curve's features,
        # and `smooth` times cheaper.
        pos = np.arange(steps.size) - smooth * block  # position inside the block
        half = size[block] / 2
        middle = (pos == np.floor(half)) | ((size[block] % 2 == 0) & (pos == half - 1))
        out.append(
            _FitCurve(
                u=lrs,
                warmup=_warmup_length(lrs),
                steps=steps[middle],
                block=block[middle],
                counts=np.bincount(block[middle]).astype(np.float64),
                target=target,
            )
        )
    if not out:
        if all(not np.any(c[0]) for c in curves):
            raise ValueError(f"{fn}: every learning rate in curves is 0; nothing to fit")
        raise ValueError(f"{fn}: no points left after skip={skip}")
    return out


# -- the fitted law ----------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class FittedLaw:
    """A law with fitted parameters: predicts a loss curve from a schedule, instantly.

    Attributes
    ----------
    law : str
        ``"multi_power"`` or ``"lr_annealing"``.
    params : dict
        Parameter values, in the units of the learning rates fitted.
    model : LRAnnealingLaw or MultiPowerLaw
        The law object that was fitted.
    r2_fit : float
        R² on the points fitted (after ``skip`` and ``smooth``).
    n_points : int
        Number of (block-averaged) points fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from workbench.predict import MultiPowerLaw
    >>> f = FittedLaw("multi_power", dict(L0=1.0, A=1.0, alpha=0.5, B=0.2, C=1.0, beta=1.0,
    ...                                   gamma=0.5), MultiPowerLaw())
    >>> f.predict(np.ones(4)).round(3)
    array([2.   , 1.707, 1.577, 1.5  ])
    >>> f
    FittedLaw(multi_power: L0=1, A=1, alpha=0.5, B=0.2, C=1, beta=1, gamma=0.5)
    """

    law: str
    params: dict[str, float]
    model: Any = field(compare=False)
    r2_fit: float = float("nan")
    n_points: int = 0

    def predict(self, lrs: Any, *, steps: Any = None) -> np.ndarray:
        """Predicted loss after each of ``steps`` updates (default ``1 .. T``) of ``lrs``.

        Parameters
        ----------
        lrs : array-like [T]
            Learning rate of each update (``Schedule.table(T)``, ``ds.lr[run]``).
        steps : array-like of int, optional
            Updates done, in ``[0, T]``. ``steps=[T]`` gives only the final loss.

        Returns
        -------
        numpy.ndarray
        """
        return self.model.loss(lrs, **self.params, steps=steps)

    def r2(self, curves: Sequence[Curve], *, skip: int = 0, smooth: int = 1) -> float:
        """Coefficient of determination of the predictions on ``curves`` (pooled).

        ``curves``, ``skip`` and ``smooth`` are as in :meth:`MultiPowerLaw.fit`; pass one
        curve for its own R².
        """
        data = _fit_data("r2", curves, skip=skip, smooth=smooth)
        res = [d.smooth(self.predict(d.u, steps=d.steps)) - d.target for d in data]
        return _r2(np.concatenate(res), np.concatenate([d.target for d in data]))

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        fit = f"; R²={self.r2_fit:.4f} on {self.n_points} points" if self.n_points else ""
        return f"FittedLaw({self.law}: {ps}{fit})"
