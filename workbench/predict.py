"""Predict a whole loss curve from its learning-rate schedule, without training.

Two empirical laws write the loss after ``t`` updates as a function of the learning rates
``eta_1 .. eta_t`` seen so far; fitted on one to a few runs, they predict the curve of any other
schedule at the same model, data and peak, and so let us search schedules on paper:

- :class:`LRAnnealingLaw` (Tissue et al. 2024): ``L(t) = L0 + A*S1**-alpha - C*S2``, a power law in
  the area under the LR curve minus a term for the area annealed away (with a momentum ``lam``).
- :class:`MultiPowerLaw` (Luo et al. 2025): the same power law, minus a sum of saturating power
  laws, one for each LR drop; more accurate for long or sharp decays.

:meth:`~MultiPowerLaw.fit` fits a law jointly to several ``(lrs, losses)`` curves by bounded
least squares; the returned :class:`FittedLaw` predicts instantly. :func:`fit_dataset` reads the
curves from a :func:`workbench.run` Dataset, and :func:`best_wsd` / :func:`best_in_family` pick
the schedule of a family with the lowest predicted final loss.

Conventions
-----------
``lrs[i]`` is the learning rate of update ``i`` (``ds.lr[run, i]``; ``Schedule.table(T)``). A
*step* counts updates done, as ``ds.eval_step`` does: the loss at step ``t`` has seen
``lrs[0 .. t-1]``. A law's value at step 0 (no update, no LR area) is ``inf``. ``law.loss(lrs)``
and ``FittedLaw.predict(lrs)`` return steps ``1 .. T``, so ``out[i]`` is the loss after update
``i`` and ``out[-1]`` the final loss. ``ds.train_loss[run, i]`` is measured *before* update
``i``, i.e. at step ``i``; :func:`curves_of` passes those steps.

Warmup: the LR's initial rise (up to its first maximum) counts in the LR area (the multi-power
law's ``S_W``) but is no annealing: drops, and the annealing terms, start after it. Loss points
inside the warmup are usually left out of a fit with ``skip``.

Examples
--------
>>> import numpy as np
>>> from workbench import schedules
>>> law = MultiPowerLaw()
>>> true = dict(L0=2.0, A=0.5, alpha=0.5, B=300.0, C=2.0, beta=0.5, gamma=0.5)
>>> const = schedules.constant(value=1e-3).table(300).numpy()
>>> cos = schedules.cosine(peak=1e-3, steps=300).table(300).numpy()
>>> fitted = law.fit([(lr, law.loss(lr, **true)) for lr in (const, cos)])
>>> wsd = schedules.wsd(peak=1e-3, steps=300, decay=0.2).table(300).numpy()
>>> bool(np.allclose(fitted.predict(wsd), law.loss(wsd, **true), rtol=1e-3))
True
"""

from __future__ import annotations

import itertools
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import xarray as xr
from scipy.optimize import least_squares, nnls
from scipy.signal import lfilter

from . import schedules as _schedules

__all__ = [
    "LAWS",
    "FittedLaw",
    "LRAnnealingLaw",
    "MultiPowerLaw",
    "best_in_family",
    "best_wsd",
    "curves_of",
    "fit_dataset",
]

# A curve: (lrs [T], losses [K]) or (lrs [T], losses [K], steps [K]).
Curve = tuple

_CHUNK = 1 << 20  # elements of one (steps x drops) block of the multi-power sum
_CACHE = 1 << 23  # at most this many such elements are kept for the length of a fit


@dataclass(frozen=True)
class _DropBlock:
    """The parameter-free part of the multi-power ``LD`` for a block of steps."""

    swept: np.ndarray  # (steps, drops): S_k, the LR area swept since drop k (0 before it)
    drop: np.ndarray  # (drops,): eta_{k-1} - eta_k, for drops to an LR > 0
    log_lr: np.ndarray  # (drops,): log eta_k
    saturated: np.ndarray  # (steps,): sum of the drops to an LR of 0 already followed by area


def _join(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0)


# -- shared pieces -----------------------------------------------------------------------------


def _lr_array(fn: str, name: str, lrs: Any) -> np.ndarray:
    a = np.asarray(lrs, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{fn}: {name} must be a non-empty 1-D array, got shape {a.shape}")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValueError(f"{fn}: {name} has non-finite values (first at index {bad[0]})")
    if (a < 0).any():
        raise ValueError(f"{fn}: {name} has negative values (first at index {np.argmax(a < 0)})")
    return a


def _steps_array(fn: str, name: str, steps: Any, n_lrs: int) -> np.ndarray:
    s = np.asarray(steps)
    if s.ndim != 1:
        raise ValueError(f"{fn}: {name} must be a 1-D array of steps, got shape {s.shape}")
    if s.size and not np.issubdtype(s.dtype, np.integer):
        if not (np.isfinite(s).all() and np.all(s == np.round(s))):
            raise ValueError(f"{fn}: {name} must hold whole numbers of updates")
    s = s.astype(np.int64)
    if s.size and (s.min() < 0 or s.max() > n_lrs):
        raise ValueError(
            f"{fn}: {name} must be in [0, {n_lrs}] (updates done with the {n_lrs} learning "
            f"rates given), got [{s.min()}, {s.max()}]"
        )
    return s


def _warmup_length(lrs: np.ndarray) -> int:
    """Updates before the LR first reaches its maximum, if it rises monotonically there."""
    top = int(np.argmax(lrs))
    return top if top and np.all(np.diff(lrs[: top + 1]) >= 0) else 0


def _drops(lrs: np.ndarray, warmup: int) -> np.ndarray:
    """``eta_{k-1} - eta_k`` at each update after warmup (zero at the first one and before)."""
    d = np.zeros_like(lrs)
    d[warmup + 1 :] = lrs[warmup:-1] - lrs[warmup + 1 :]
    return d


def _area(lrs: np.ndarray) -> np.ndarray:
    """``P[t] = lrs[0] + ... + lrs[t-1]``, the LR area after ``t`` updates; ``P[0] = 0``."""
    return np.concatenate([[0.0], np.cumsum(lrs)])


def _power_term(area: np.ndarray, A: float, alpha: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return A * area**-alpha  # inf where no LR area has been swept yet


def _inputs(fn: str, lrs: Any, steps: Any, warmup: int | None) -> tuple:
    lrs = _lr_array(fn, "lrs", lrs)
    if steps is None:
        steps = np.arange(1, lrs.size + 1)
    steps = _steps_array(fn, "steps", steps, lrs.size)
    if warmup is None:
        warmup = _warmup_length(lrs)
    elif isinstance(warmup, bool) or not isinstance(warmup, numbers.Integral):
        raise ValueError(f"{fn}: warmup={warmup!r} must be an int or None")
    elif not 0 <= warmup < lrs.size:
        raise ValueError(f"{fn}: warmup={warmup} must be in [0, {lrs.size - 1}]")
    return lrs, steps, int(warmup)


# -- the laws ----------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class LRAnnealingLaw(_Law):
    """Scaling law with LR annealing (Tissue et al. 2024): ``L0 + A*S1**-alpha - C*S2``.

    After ``t`` updates with learning rates ``eta_1 .. eta_t``

    - ``S1 = sum_{i<=t} eta_i``, the forward area;
    - ``S2 = sum_{i<=t} m_i`` with ``m_i = lam*m_{i-1} + (eta_{i-1} - eta_i)``, the annealing
      area with momentum: each LR drop lowers the loss by ``C*drop*(1 - lam**age)/(1 - lam)``,
      reaching its full effect after about ``1 / (1 - lam)`` updates.

    Checked against the paper: the formula in the project notes is the paper's (there ``L`` is
    the validation loss at step ``s``); no correction. Choices made here: warmup LRs count in
    ``S1`` and warmup rises are not annealing (``m`` starts at the first update after warmup,
    with ``eta_0`` its LR); ``lam`` is fixed at the paper's ``0.999`` by default, a delay of
    ~1000 updates that suits LLM runs of 10^4+ steps: for runs of a few hundred steps pass
    ``lam=None`` to fit it too. ``C*S2`` grows without bound in a long decay, so the law can
    fall below ``L0``; the multi-power law's drop term saturates instead.

    Parameters
    ----------
    lam : float or None, default 0.999
        Annealing momentum used by :meth:`fit`, in ``[0, 1)``; ``None`` fits it.

    References
    ----------
    Tissue, Wang & Wang (2024), "Scaling law with learning rate annealing", arXiv:2408.11029.

    Examples
    --------
    >>> import numpy as np
    >>> lrs = np.r_[np.full(50, 1.0), np.full(50, 0.5)]
    >>> out = LRAnnealingLaw.loss(lrs, L0=1.0, A=1.0, alpha=0.5, C=0.01, lam=0.9)
    >>> out.shape, round(float(out[49]), 4), round(float(out[-1]), 4)
    ((100,), 1.1414, 1.0657)
    """

    lam: float | None = 0.999

    name: ClassVar[str] = "lr_annealing"
    _params: ClassVar[tuple[_Param, ...]] = (
        _Param("L0", 1e-9, 1e9),
        _Param("A", 1e-12, 1e12),
        _Param("alpha", 1e-3, 10.0),
        _Param("C", 1e-12, 1e12),
    )
    _tau = _Param("tau", 1.0, 1e7)  # 1 / (1 - lam) when lam is fitted

    def __post_init__(self) -> None:
        if self.lam is not None and not (
            isinstance(self.lam, numbers.Real) and 0.0 <= self.lam < 1.0
        ):
            raise ValueError(f"LRAnnealingLaw: lam={self.lam!r} must be in [0, 1) or None")

    @staticmethod
    def loss(
        lrs: Any,
        *,
        L0: float,
        A: float,
        alpha: float,
        C: float,
        lam: float = 0.999,
        steps: Any = None,
        warmup: int | None = None,
    ) -> np.ndarray:
        """The law's loss after each of ``steps`` updates of the schedule ``lrs``.

        Parameters
        ----------
        lrs : array-like [T]
            Learning rate of each update.
        L0, A, alpha, C, lam : float
            The law's parameters (``lam`` in ``[0, 1)``).
        steps : array-like of int, optional
            Updates done, in ``[0, T]``; default ``1 .. T`` (``out[i]``: after update ``i``).
        warmup : int, optional
            Warmup length; default: updates before the LR first reaches its maximum.

        Returns
        -------
        numpy.ndarray
            One loss per step (``inf`` at step 0).
        """
        lrs, steps, warmup = _inputs("LRAnnealingLaw.loss", lrs, steps, warmup)
        if not 0.0 <= lam < 1.0:
            raise ValueError(f"LRAnnealingLaw.loss: lam={lam} must be in [0, 1)")
        p = dict(L0=L0, A=A, alpha=alpha, C=C, lam=lam)
        return LRAnnealingLaw._formula(lrs, steps, warmup, p)[0]

    @staticmethod
    def _formula(
        u: np.ndarray, steps: np.ndarray, warmup: int, p: dict, grad: bool = False
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        lam = p["lam"]
        m = _momentum(_drops(u, warmup), lam)
        s2 = np.concatenate([[0.0], np.cumsum(m)])[steps]
        area = _area(u)[steps]
        power = _power_term(area, p["A"], p["alpha"])
        y = p["L0"] + power - p["C"] * s2
        if not grad:
            return y, {}
        with np.errstate(divide="ignore", invalid="ignore"):
            d_alpha = -p["alpha"] * np.log(area) * power
        # dm_i/dlam = m_{i-1} + lam * dm_{i-1}/dlam; dlam/dlog(tau) = 1 - lam
        dm = _momentum(np.concatenate([[0.0], m[:-1]]), lam)
        ds2 = np.concatenate([[0.0], np.cumsum(dm)])[steps]
        d = dict(L0=np.full_like(y, p["L0"]), A=power, alpha=d_alpha, C=-p["C"] * s2)
        d["tau"] = -p["C"] * ds2 * (1.0 - lam)
        return y, d

    def _evaluate(self, u, steps, warmup, p, grad=False, geometry=None):
        q = dict(p)
        if "tau" in q:
            q["lam"] = 1.0 - 1.0 / q.pop("tau")
        return self._formula(u, steps, warmup, q, grad)

    def _free(self):
        return self._params + ((self._tau,) if self.lam is None else ())

    def _fixed(self):
        return {} if self.lam is None else {"lam": float(self.lam)}

    def _to_raw(self, p, scale):
        # S1 and S2 are linear in the LRs: A*S1**-alpha and C*S2 keep their values.
        lam = 1.0 - 1.0 / p["tau"] if "tau" in p else p["lam"]
        return dict(
            L0=p["L0"], A=p["A"] * scale ** p["alpha"], alpha=p["alpha"], C=p["C"] / scale, lam=lam
        )

    def _init_grid(self, data):
        taus = [1.0 / (1.0 - self.lam)] if self.lam is not None else [10.0, 100.0, 1000.0]
        out = []
        for tau in taus:
            lam = 1.0 - 1.0 / tau
            s2 = [
                d.smooth(
                    np.concatenate([[0.0], np.cumsum(_momentum(_drops(d.u, d.warmup), lam))])[
                        d.steps
                    ]
                )
                for d in data
            ]
            for alpha in _ALPHAS:
                area = [d.smooth(_power_term(_area(d.u)[d.steps], 1.0, alpha)) for d in data]
                coef, rnorm = _nnls_start(data, area, s2)
                p = dict(L0=coef[0], A=coef[1], alpha=alpha, C=coef[2])
                out.append((rnorm, {**p, "tau": tau} if self.lam is None else {**p, "lam": lam}))
        return out


def _momentum(drops: np.ndarray, lam: float) -> np.ndarray:
    """``m_i = lam * m_{i-1} + drops_i`` with ``m_{-1} = 0``."""
    return lfilter([1.0], [1.0, -lam], drops)


_ALPHAS = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5)


@dataclass(frozen=True)
class MultiPowerLaw(_Law):
    """Multi-power law (Luo et al. 2025): ``L0 + A*(S1 + S_W)**-alpha - LD``.

    After ``t`` updates past warmup, with ``eta_0`` the LR at the end of warmup,

    - ``S1 + S_W``: the LR area, warmup included;
    - ``LD = B * sum_{k<=t} (eta_{k-1} - eta_k) * G(eta_k**-gamma * S_k)``: every LR drop lowers
      the loss by up to ``B*drop``, with ``S_k = sum_{tau=k..t} eta_tau`` the area swept since
      the drop and ``G(x) = 1 - (C*x + 1)**-beta`` a saturating power law.

    Checked against the paper: the formula in the project notes is the paper's; no correction,
    two precisions: ``S1(t)`` sums the LRs *after* warmup (``S_W`` is the warmup's sum, so
    ``S1 + S_W`` is the whole area) and ``eta_0`` is the LR at the end of warmup, so the first
    post-warmup update is no drop. Choices made here: the warmup is detected as the LR's
    initial rise (override with ``warmup=``) and rises after warmup enter ``LD`` as negative
    drops. The parameters depend on the LR units: ``A ~ lr**alpha``, ``B ~ 1/lr``,
    ``C ~ lr**(gamma - 1)``.

    References
    ----------
    Luo, Wen, Hu, Sun, Liu, Sun, Lyu & Chen (2025), "A multi-power law for loss curve prediction
    across learning rate schedules", ICLR, arXiv:2503.12811.

    Examples
    --------
    >>> import numpy as np
    >>> lrs = np.r_[np.full(50, 1.0), np.full(50, 0.5)]
    >>> p = dict(L0=1.0, A=1.0, alpha=0.5, B=0.2, C=1.0, beta=1.0, gamma=0.5)
    >>> out = MultiPowerLaw.loss(lrs, **p)
    >>> round(float(out[49]), 4), round(float(out[-1]), 4)  # before and long after the drop
    (1.1414, 1.0182)
    """

    name: ClassVar[str] = "multi_power"
    _params: ClassVar[tuple[_Param, ...]] = (
        _Param("L0", 1e-9, 1e9),
        _Param("A", 1e-12, 1e12),
        _Param("alpha", 1e-3, 10.0),
        _Param("B", 1e-12, 1e12),
        _Param("C", 1e-9, 1e9),
        _Param("beta", 1e-3, 10.0),
        _Param("gamma", 1e-3, 5.0),
    )

    @staticmethod
    def loss(
        lrs: Any,
        *,
        L0: float,
        A: float,
        alpha: float,
        B: float,
        C: float,
        beta: float,
        gamma: float,
        steps: Any = None,
        warmup: int | None = None,
    ) -> np.ndarray:
        """The law's loss after each of ``steps`` updates of the schedule ``lrs``.

        Parameters
        ----------
        lrs : array-like [T]
            Learning rate of each update.
        L0, A, alpha, B, C, beta, gamma : float
            The law's parameters.
        steps : array-like of int, optional
            Updates done, in ``[0, T]``; default ``1 .. T`` (``out[i]``: after update ``i``).
        warmup : int, optional
            Warmup length; default: updates before the LR first reaches its maximum.

        Returns
        -------
        numpy.ndarray
            One loss per step (``inf`` at step 0). Costs ``O(len(steps) x drops)``: pass only
            the steps you need (``steps=[T]`` for the final loss) on long schedules.
        """
        lrs, steps, warmup = _inputs("MultiPowerLaw.loss", lrs, steps, warmup)
        p = dict(L0=L0, A=A, alpha=alpha, B=B, C=C, beta=beta, gamma=gamma)
        return MultiPowerLaw._formula(lrs, steps, warmup, p)[0]

    @staticmethod
    def _geometry(u: np.ndarray, steps: np.ndarray, warmup: int) -> list[_DropBlock]:
        """The parameter-free part of ``LD``, in blocks of steps (see :class:`_DropBlock`)."""
        area = _area(u)
        drop = _drops(u, warmup)
        k = np.flatnonzero(drop)  # updates at which the LR changed
        live, dead = k[u[k] > 0], k[u[k] == 0]
        rows = max(1, _CHUNK // max(k.size, 1))
        blocks = []
        for lo in range(0, steps.size, rows):
            t = steps[lo : lo + rows]
            # S_k = LR area from update k to t - 1; no area (k >= t) gives G = 0.
            swept = np.maximum(area[t][:, None] - area[live][None, :], 0.0)  # (steps, drops)
            # After a drop to an LR of 0, eta_k**-gamma * S_k is inf once any area is swept:
            # G = 1 whatever the parameters.
            saturated = (area[t][:, None] - area[dead][None, :] > 0) @ drop[dead]
            blocks.append(_DropBlock(swept, drop[live], np.log(u[live]), saturated))
        return blocks

    @staticmethod
    def _loss_drop(
        geometry: list[_DropBlock], p: dict, grad: bool = False
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``LD / B`` at each step and, with ``grad``, its derivatives in log C, beta, gamma."""
        c, beta, gamma = p["C"], p["beta"], p["gamma"]
        ld, d = [], {name: [] for name in ("C", "beta", "gamma")} if grad else {}
        for b in geometry:
            cx = b.swept * (c * np.exp(-gamma * b.log_lr))  # C * eta_k**-gamma * S_k
            q = np.log1p(cx)
            w = np.exp(-beta * q)  # (C x + 1)**-beta; G = 1 - w
            ld.append(b.saturated + (1.0 - w) @ b.drop)
            if grad:
                bwr = beta * w * cx / (1.0 + cx)
                d["C"].append(bwr @ b.drop)  # dG/dlog C
                d["beta"].append((beta * w * q) @ b.drop)  # dG/dlog beta
                d["gamma"].append(bwr @ (-gamma * b.log_lr * b.drop))  # dG/dlog gamma
        return _join(ld), {name: _join(v) for name, v in d.items()}

    @staticmethod
    def _formula(
        u: np.ndarray,
        steps: np.ndarray,
        warmup: int,
        p: dict,
        grad: bool = False,
        geometry: list[_DropBlock] | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        ld, dld = MultiPowerLaw._loss_drop(
            geometry if geometry is not None else MultiPowerLaw._geometry(u, steps, warmup), p, grad
        )
        area = _area(u)[steps]
        power = _power_term(area, p["A"], p["alpha"])
        y = p["L0"] + power - p["B"] * ld
        if not grad:
            return y, {}
        with np.errstate(divide="ignore", invalid="ignore"):
            d_alpha = -p["alpha"] * np.log(area) * power
        d = dict(L0=np.full_like(y, p["L0"]), A=power, alpha=d_alpha, B=-p["B"] * ld)
        d.update({name: -p["B"] * v for name, v in dld.items()})
        return y, d

    def _evaluate(self, u, steps, warmup, p, grad=False, geometry=None):
        return self._formula(u, steps, warmup, p, grad, geometry)

    def _precompute(self, u, steps, warmup):
        if steps.size * max(np.count_nonzero(_drops(u, warmup)), 1) > _CACHE:
            return None  # rebuilt at each evaluation instead of held in memory
        return self._geometry(u, steps, warmup)

    def _to_raw(self, p, scale):
        # eta = scale*u: A*(scale*S)**-alpha, B*scale*drop, C*scale**(1-gamma)*x keep their values
        return dict(
            L0=p["L0"],
            A=p["A"] * scale ** p["alpha"],
            alpha=p["alpha"],
            B=p["B"] / scale,
            C=p["C"] * scale ** (p["gamma"] - 1.0),
            beta=p["beta"],
            gamma=p["gamma"],
        )

    def _init_grid(self, data):
        out = []
        geometry = [
            d.geometry if d.geometry is not None else self._geometry(d.u, d.steps, d.warmup)
            for d in data
        ]
        # In units of the peak LR, C*x ~ C * (updates since the drop): C spans fast to slow.
        for c, beta, gamma in itertools.product((0.01, 0.1, 1.0), (0.5, 1.5), (0.3, 0.7)):
            shape = dict(C=c, beta=beta, gamma=gamma)
            ld = [
                d.smooth(self._loss_drop(g, shape)[0]) for d, g in zip(data, geometry, strict=True)
            ]
            for alpha in _ALPHAS:
                area = [d.smooth(_power_term(_area(d.u)[d.steps], 1.0, alpha)) for d in data]
                coef, rnorm = _nnls_start(data, area, ld)
                out.append((rnorm, dict(L0=coef[0], A=coef[1], alpha=alpha, B=coef[2], **shape)))
        return out


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


LAWS: dict[str, type] = {LRAnnealingLaw.name: LRAnnealingLaw, MultiPowerLaw.name: MultiPowerLaw}


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


def _count_arg(fn: str, name: str, x: Any, minimum: int) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < minimum:
        raise ValueError(f"{fn}: {name}={x!r} must be an int >= {minimum}")
    return int(x)


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


# -- from a Dataset ----------------------------------------------------------------------------

_TARGETS = ("train_loss", "eval_loss")


def curves_of(
    ds: xr.Dataset, runs: Sequence[int | Sequence[int]], *, target: str = "train_loss"
) -> list[Curve]:
    """``(lrs, losses, steps)`` curves of runs of a :func:`workbench.run` Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Results with ``lr`` and ``target``.
    runs : sequence of int or of sequences of int
        Positional run indices. A group of runs (e.g. the seeds of one schedule) gives one
        curve: the median over the group at each step (their LR schedules must agree).
    target : {"train_loss", "eval_loss"}
        ``train_loss`` is measured before each update (steps ``0 .. T-1``); ``eval_loss``
        after ``eval_step`` updates.

    Returns
    -------
    list of (lrs, losses, steps)

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), optimizer=wb.SGD(lr=0.1),
    ...                   steps=20, batch_size=32, eval_every=10)
    >>> ds = wb.run(wb.grid(spec, {"seed": [0, 1]}))
    >>> [(c[0].shape, c[2].tolist()) for c in curves_of(ds, [[0, 1]], target="eval_loss")]
    [((20,), [0, 10, 20])]
    """
    if target not in _TARGETS:
        raise ValueError(f"curves_of: target={target!r} must be one of {_TARGETS}")
    for var in ("lr", target):
        if var not in ds:
            raise ValueError(f"curves_of: the Dataset has no {var!r} variable")
    if isinstance(runs, numbers.Integral) or not isinstance(runs, Sequence) or not runs:
        raise ValueError(f"curves_of: runs={runs!r} must be a non-empty list of run indices")
    n = ds.sizes["run"]
    out = []
    for g in runs:
        group = [g] if isinstance(g, numbers.Integral) else list(g)
        if not group or not all(isinstance(r, numbers.Integral) and 0 <= r < n for r in group):
            raise ValueError(f"curves_of: runs entry {g!r} must be run indices in [0, {n})")
        diverged = [r for r in group if "diverged_step" in ds and ds.diverged_step[r] >= 0]
        if diverged:
            raise ValueError(f"curves_of: runs {diverged} diverged; their curves cannot be fitted")
        lrs = ds.lr.values[group].astype(np.float64)  # (runs, T)
        if not np.allclose(lrs, lrs[0], rtol=1e-6, atol=0.0):
            raise ValueError(f"curves_of: runs {group} have different LR schedules; group seeds")
        y = ds[target].values[group].astype(np.float64)
        if target == "train_loss":
            steps = np.arange(y.shape[1])
        else:
            steps = ds.eval_step.values.astype(np.int64)
            ok = np.isfinite(y).all(axis=0)  # eval steps of other runs are NaN here
            steps, y = steps[ok], y[:, ok]
        out.append((lrs[0], np.median(y, axis=0), steps))
    return out


def fit_dataset(
    ds: xr.Dataset,
    runs: Sequence[int | Sequence[int]],
    *,
    law: str | _Law = "multi_power",
    target: str = "train_loss",
    smooth: int | None = None,
    skip: int = 0,
    **fit_kwargs: Any,
) -> FittedLaw:
    """Fit a law to runs of a :func:`workbench.run` Dataset (see :func:`curves_of`).

    Parameters
    ----------
    ds : xarray.Dataset
    runs : sequence of int or of sequences of int
        Runs to fit jointly; a group of runs is fitted as its median curve.
    law : {"multi_power", "lr_annealing"} or a law object
    target : {"train_loss", "eval_loss"}
    smooth : int, optional
        Block size of the averaging (see :meth:`MultiPowerLaw.fit`); default 1 for
        ``eval_loss`` and ``T // 100`` (at least 1) for the noisy ``train_loss``.
    skip : int, default 0
        Leave out points measured after at most ``skip`` updates.
    **fit_kwargs
        Passed to the law's ``fit``.

    Returns
    -------
    FittedLaw

    Examples
    --------
    >>> import workbench as wb
    >>> lrs = [wb.schedules.constant(value=0.05), wb.schedules.cosine(peak=0.05, steps=60)]
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(16,)), optimizer=wb.SGD(lr=0.05),
    ...                   steps=60, batch_size=64, eval_every=5)
    >>> ds = wb.run(wb.grid(spec, {"optimizer.lr": lrs}))
    >>> f = fit_dataset(ds, [0, 1], law="lr_annealing", target="eval_loss", skip=5)
    >>> f.law, sorted(f.params)
    ('lr_annealing', ['A', 'C', 'L0', 'alpha', 'lam'])
    """
    if isinstance(law, str):
        if law not in LAWS:
            raise ValueError(f"fit_dataset: law={law!r} must be one of {list(LAWS)}")
        law = LAWS[law]()
    if smooth is None:
        smooth = 1 if target == "eval_loss" else max(1, ds.sizes.get("step", 1) // 100)
    return law.fit(curves_of(ds, runs, target=target), skip=skip, smooth=smooth, **fit_kwargs)


# -- schedule search ---------------------------------------------------------------------------


def best_in_family(
    fitted: FittedLaw,
    make_schedule: Callable[..., Any],
    grid: Mapping[str, Sequence[Any]],
    *,
    steps: int,
) -> dict[str, Any]:
    """The member of a schedule family with the lowest predicted final loss.

    Parameters
    ----------
    fitted : FittedLaw
    make_schedule : callable
        ``make_schedule(**point)`` for each point of ``grid`` returns a
        :class:`~workbench.schedules.Schedule` (or an array of ``steps`` learning rates). A
        point it rejects with ``ValueError`` is skipped (its predicted loss is NaN).
    grid : dict of str to sequence
        Values of each argument; every combination is tried.
    steps : int
        Training budget: the loss is predicted after ``steps`` updates.

    Returns
    -------
    dict
        ``best`` (the best point), ``predicted_final``, ``schedule``, ``table`` (its learning
        rates, ``[steps]``) and ``losses``: the predicted final loss at every point, an
        ``xarray.DataArray`` with one dim per key of ``grid``.

    Examples
    --------
    >>> from workbench import schedules
    >>> f = FittedLaw("multi_power", dict(L0=1.0, A=1.0, alpha=0.5, B=0.2, C=1.0, beta=1.0,
    ...                                   gamma=0.5), MultiPowerLaw())
    >>> out = best_in_family(f, lambda final: schedules.cosine(peak=1.0, steps=100, final=final),
    ...                      {"final": [0.0, 0.5, 1.0]}, steps=100)
    >>> out["best"], round(out["predicted_final"], 4)
    ({'final': 0.0}, 0.9669)
    """
    steps = _count_arg("best_in_family", "steps", steps, 1)
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("best_in_family: grid must be a non-empty dict of argument -> values")
    keys = list(grid)
    values = [list(grid[k]) for k in keys]
    if any(not v for v in values):
        raise ValueError(f"best_in_family: every grid entry needs values, got {dict(grid)}")
    losses = np.full([len(v) for v in values], np.nan)
    best = None
    first_error = None
    for idx in itertools.product(*(range(len(v)) for v in values)):
        point = {k: values[i][j] for i, (k, j) in enumerate(zip(keys, idx, strict=True))}
        try:
            schedule = make_schedule(**point)
        except ValueError as e:
            first_error = first_error or e
            continue
        table = _table_of(schedule, steps)
        final = float(fitted.predict(table, steps=[steps])[0])
        losses[idx] = final
        if best is None or final < best["predicted_final"]:
            best = dict(best=point, predicted_final=final, schedule=schedule, table=table)
    if best is None:
        raise ValueError(f"best_in_family: make_schedule rejected every point: {first_error}")
    coords = {k: _coord(v) for k, v in zip(keys, values, strict=True)}
    best["losses"] = xr.DataArray(losses, coords=coords, dims=keys, name="predicted_final")
    return best


def _coord(values: list) -> np.ndarray:
    try:
        return np.asarray(values)
    except ValueError:  # ragged or odd objects: label them by position
        return np.arange(len(values))


def _table_of(schedule: Any, steps: int) -> np.ndarray:
    if isinstance(schedule, _schedules.Schedule):
        return schedule.table(steps).numpy()
    table = _lr_array("best_in_family", "make_schedule(...)", schedule)
    if table.size != steps:
        raise ValueError(
            f"best_in_family: make_schedule returned {table.size} learning rates; steps={steps}"
        )
    return table


def best_wsd(
    fitted: FittedLaw,
    *,
    steps: int,
    peak: float,
    warmup: int = 0,
    decays: Sequence[float] = tuple(np.linspace(0.05, 0.5, 10)),
    shapes: Sequence[str] = _schedules.WSD_SHAPES,
    final: float = 0.0,
) -> dict[str, Any]:
    """The WSD decay fraction and shape with the lowest predicted final loss.

    Searches :func:`workbench.schedules.wsd` over ``decays`` x ``shapes`` with
    :func:`best_in_family`.

    Parameters
    ----------
    fitted : FittedLaw
    steps, peak, warmup, final
        As in :func:`~workbench.schedules.wsd`.
    decays : sequence of float
        Decay fractions to try (combinations that do not fit beside the warmup are skipped).
    shapes : sequence of str
        Decay shapes to try.

    Returns
    -------
    dict
        ``decay``, ``shape``, ``predicted_final``, ``table`` (the best schedule's learning
        rates, ``[steps]``), ``schedule`` and ``losses`` (``DataArray`` over ``shape, decay``).

    References
    ----------
    Luo et al. (2025) optimise the whole schedule under the multi-power law and find a
    WSD-like shape; this searches the WSD family only.

    Examples
    --------
    >>> f = FittedLaw("multi_power", dict(L0=1.0, A=1.0, alpha=0.5, B=0.2, C=1.0, beta=1.0,
    ...                                   gamma=0.5), MultiPowerLaw())
    >>> out = best_wsd(f, steps=200, peak=1.0, decays=[0.1, 0.3], shapes=["linear", "1-sqrt"])
    >>> out["shape"], out["decay"], out["losses"].dims
    ('1-sqrt', 0.3, ('shape', 'decay'))
    """
    peak = float(peak)

    def make(shape: str, decay: float):
        return _schedules.wsd(
            peak=peak, steps=steps, warmup=warmup, decay=float(decay), shape=shape, final=final
        )

    out = best_in_family(
        fitted, make, {"shape": list(shapes), "decay": [float(d) for d in decays]}, steps=steps
    )
    point = out.pop("best")
    return dict(
        decay=point["decay"],
        shape=point["shape"],
        predicted_final=out["predicted_final"],
        table=out["table"],
        schedule=out["schedule"],
        losses=out["losses"],
    )
