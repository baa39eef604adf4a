"""The two loss-curve laws: :class:`LRAnnealingLaw` and :class:`MultiPowerLaw`, and ``LAWS``.

Each law has its formula (``loss``, and ``_formula`` with the derivatives the fit uses), its
parameters and their bounds, the change of LR units, and its grid of starting points; the fit
itself is the shared base's (:class:`workbench.predict.fitting._Law`).
"""

from __future__ import annotations

import itertools
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.signal import lfilter

from ._common import _area, _drops, _inputs, _power_term
from .fitting import _ALPHAS, _Law, _nnls_start, _Param

# -- the LR-annealing law ----------------------------------------------------------------------


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


# -- the multi-power law -----------------------------------------------------------------------

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


LAWS: dict[str, type] = {LRAnnealingLaw.name: LRAnnealingLaw, MultiPowerLaw.name: MultiPowerLaw}
