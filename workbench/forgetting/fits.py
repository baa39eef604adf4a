"""Fits of forgetting curves: :func:`fit_forgetting` for one curve, :func:`fit_curves` for the
mean curve of each group of runs; and the helpers they share with :mod:`.bootstrap` (groups of
runs, bounds on ``R0`` and ``R_inf``)."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ..continual import _run_coords
from .curves import forgetting_curves
from .lsq import FIT_VARS, HALF, MODELS, SCALE, _fit_both

__all__ = ["fit_forgetting", "fit_curves"]

ACC_BOUNDS = (0.0, 1.0)  # the range of R0 and R_inf by default: an accuracy's
BOUNDS_SLACK = 1e-6  # curve values this far outside the bounds are still taken as inside


def fit_forgetting(curve_t, curve_acc, bounds: tuple | None = ACC_BOUNDS) -> xr.Dataset:
    """Least-squares fits of an exponential and a power law to one forgetting curve.

    - ``exp``: ``R(t) = R_inf + (R0 - R_inf) · exp(-t / tau)``;
    - ``power``: ``R(t) = R_inf + (R0 - R_inf) · (1 + t / tau) ** -c``;

    ``R0 = R(0)`` is the fitted accuracy when training ended and ``R_inf`` the level it decays
    to. Two times are reported for each fit:

    - ``half_life``, the half-life of the memory: the ``t`` at which the fitted curve has fallen
      to half its value at ``t = 0``, ``R(t) = R0 / 2``::

          exp:    half_life = tau · ln((R0 - R_inf) / (R0 / 2 - R_inf))
          power:  half_life = tau · (((R0 - R_inf) / (R0 / 2 - R_inf)) ** (1 / c) - 1)

      ``inf`` when ``R_inf >= R0 / 2`` (the fit never loses half of the task), ``NaN`` when
      ``R0 <= 0`` (nothing to halve). With ``R_inf >= 0`` it is at least ``time_scale``.
    - ``time_scale``, the excess half-life: the ``t`` at which ``R - R_inf`` has halved,
      ``R(t) = (R0 + R_inf) / 2``, ``tau · ln 2`` (exp) or ``tau · (2 ** (1 / c) - 1)``
      (power). It says how fast the curve settles, not how much is lost: a curve that drops
      from 0.9 to 0.85 has as short a time scale as one that drops to 0.

    ``R0`` and ``R_inf`` are constrained to ``bounds`` (default ``[0, 1]``, what an accuracy can
    be): for each ``tau`` (and ``c``) the 2-variable least squares in ``(R_inf, R0)`` is solved
    exactly over that box (the unconstrained solution when it lies inside, else the best of the
    four edges, each a 1-variable least squares clamped to the box). Without the bounds a curve
    that decays about linearly over the data is fitted best by ``tau -> inf`` and
    ``R_inf -> -inf``, which says nothing; with them the fit extrapolates to the floor at most.
    ``tau`` and ``c`` come from a log grid refined by Nelder-Mead (``tau`` in
    ``[t_min / 10, 10 · t_max]``, ``t_min`` the smallest positive ``t``; ``c`` in ``[0.02, 50]``).
    The power law tends to the exponential as ``c, tau -> inf`` with ``tau / c`` fixed, so it
    never fits much worse; AIC decides. ``R² = 1 - RSS / SS_tot`` and
    ``AIC = n · ln(RSS / n) + 2k`` (Gaussian residuals; ``k = 3`` for exp, ``4`` for power,
    whether or not a bound is active; RSS floored at ``n · 1e-18`` so exact fits compare by
    ``k``). ``at_bound`` flags a ``tau`` (or ``c``) at the edge of its range: the data do not pin
    it (a drop faster than the first ``t > 0``, or a curve still about linear at its last ``t``;
    for power, ``c = 50`` is just the exponential limit). ``R_inf`` on the lower bound likewise
    means the data do not show where the decay stops: the fit assumes it goes on to the floor.
    A half-life beyond the last ``t`` is an extrapolation.

    Parameters
    ----------
    curve_t, curve_acc : array-like
        Steps since training (``>= 0``) and accuracies, one dim, same length; non-finite pairs
        are dropped.
    bounds : (float or None, float or None) or None
        The range of ``R0`` and ``R_inf``; ``None`` for a side (or both) that is unbounded, e.g.
        ``bounds=None`` for a loss. Values of ``curve_acc`` outside it are an error.

    Returns
    -------
    xarray.Dataset
        ``R0``, ``R_inf``, ``tau``, ``c`` (``NaN`` for exp), ``r2``, ``aic``, ``at_bound``,
        ``half_life``, ``time_scale`` and ``reason`` (``""`` when fitted) with dim ``model``
        (``"exp"``, ``"power"``); ``n_points``; ``best``, the model with the lower AIC (``""``:
        none fitted), ``best_half_life`` and ``best_time_scale``; attr ``bounds``. A model needs
        ``k + 1`` distinct ``t``; all ``NaN``, too few points, a flat curve (range ``< 1e-9``) or
        ``t < 0`` give ``NaN`` and a ``reason``.

    Examples
    --------
    >>> t = np.arange(0, 200, 10.0)
    >>> f = fit_forgetting(t, 0.2 + 0.7 * np.exp(-t / 30))
    >>> str(f.best.values), round(float(f.tau.sel(model="exp")), 3)
    ('exp', 30.0)
    >>> round(float(f.best_half_life), 3)  # 30 ln(0.7 / 0.25): from 0.9 down to 0.45
    30.888
    >>> round(float(f.best_time_scale), 3)  # 30 ln 2: from 0.9 down to 0.55, halfway to 0.2
    20.794
    >>> float(fit_forgetting(t, 0.6 + 0.3 * np.exp(-t / 30)).best_half_life)  # 0.6 >= 0.9 / 2
    inf
    >>> str(fit_forgetting([0, 1, 2], [0.9, 0.5, 0.4]).reason.sel(model="exp").values)
    'too few points: 3 distinct t, exp needs 4'
    """
    t = np.asarray(curve_t, dtype=np.float64)
    y = np.asarray(curve_acc, dtype=np.float64)
    if t.ndim != 1 or t.shape != y.shape:
        raise ValueError(
            f"fit_forgetting: curve_t {t.shape} and curve_acc {y.shape} must be 1-D, same length"
        )
    box = _bounds(bounds, y, "fit_forgetting")
    ok = np.isfinite(t) & np.isfinite(y)
    params, reasons, best = _fit_both(t[ok], y[ok], box)
    out = xr.Dataset(
        {n: ("model", params[:, i]) for i, n in enumerate(FIT_VARS)},
        coords={"model": list(MODELS)},
    )
    out["at_bound"] = out["at_bound"] == 1
    out["reason"] = ("model", np.array(reasons, dtype=object))
    out["n_points"] = int(ok.sum())
    out["best"] = MODELS[best] if best >= 0 else ""
    out["best_half_life"] = params[best, HALF] if best >= 0 else np.nan
    out["best_time_scale"] = params[best, SCALE] if best >= 0 else np.nan
    out.attrs["bounds"] = _bounds_attr(box)
    return out


def fit_curves(
    curves: xr.DataArray | xr.Dataset,
    by: str | None = "group",
    bounds: tuple | None = ACC_BOUNDS,
) -> xr.Dataset:
    """:func:`fit_forgetting` of every task's mean curve over the runs of each group.

    Runs with equal values of the run coordinate ``by`` are one curve, the mean over them at each
    ``since`` (``NaN`` skipped): with the engine's ``group`` coordinate (the run label without the
    seed), a configuration's seeds. ``by=None`` fits every run on its own.

    Parameters
    ----------
    curves : xarray.DataArray or xarray.Dataset
        Curves of :func:`forgetting_curves`, or results to compute them from.
    by : str or None
        A run coordinate; ``None`` for each run alone.
    bounds : (float or None, float or None) or None
        The range of ``R0`` and ``R_inf``, as for :func:`fit_forgetting` (default ``[0, 1]``).

    Returns
    -------
    xarray.Dataset
        The variables of :func:`fit_forgetting` with dims ``(by, task, model)`` (``by`` is
        ``run`` when ``None``), coordinate ``n_runs`` (runs averaged).

    Examples
    --------
    >>> t = np.arange(0, 200, 10)
    >>> curves = xr.DataArray([[0.2 + 0.7 * np.exp(-t / 30)], [0.2 + 0.7 * np.exp(-t / 50)]],
    ...                       dims=("run", "task", "since"),
    ...                       coords={"since": t, "group": ("run", ["x", "y"])})
    >>> f = fit_curves(curves)
    >>> f.best_half_life.values.round(3).tolist()  # 30 ln 2.8, 50 ln 2.8
    [[30.888], [51.481]]
    >>> f.best_time_scale.values.round(3).tolist()  # 30 ln 2, 50 ln 2
    [[20.794], [34.657]]
    """
    curves = _as_curves(curves, "fit_curves")
    dim, labels, members = _groups(curves, by)
    t = curves["since"].values.astype(np.float64)
    y = curves.transpose("run", "task", "since").values
    box = _bounds(bounds, y, "fit_curves")
    n_g, n_tasks = len(labels), y.shape[1]
    params = np.full((n_g, n_tasks, len(MODELS), len(FIT_VARS)), np.nan)
    reasons = np.empty((n_g, n_tasks, len(MODELS)), dtype=object)
    best = np.full((n_g, n_tasks), "", dtype=object)
    best_t = np.full((2, n_g, n_tasks), np.nan)  # half_life, time_scale
    for g, idx in enumerate(members):
        mean = _nanmean(y[idx])
        for j in range(n_tasks):
            params[g, j], reasons[g, j], b = _fit_both(t, mean[j], box)
            if b >= 0:
                best[g, j] = MODELS[b]
                best_t[:, g, j] = params[g, j, b, [HALF, SCALE]]
    dims = (dim, "task", "model")
    out = xr.Dataset({n: (dims, params[..., i]) for i, n in enumerate(FIT_VARS)})
    out["at_bound"] = out["at_bound"] == 1
    out["reason"] = (dims, reasons)
    out["best"] = (dims[:2], best)
    out["best_half_life"] = (dims[:2], best_t[0])
    out["best_time_scale"] = (dims[:2], best_t[1])
    out.attrs["bounds"] = _bounds_attr(box)
    return out.assign_coords(_group_coords(curves, dim, labels, members) | {"model": list(MODELS)})


# -- helpers -------------------------------------------------------------------------------------


def _as_curves(curves, who: str) -> xr.DataArray:
    if isinstance(curves, xr.Dataset):
        curves = forgetting_curves(curves)
    if not isinstance(curves, xr.DataArray) or set(curves.dims) != {"run", "task", "since"}:
        raise ValueError(f"{who}: curves must have dims (run, task, since), as forgetting_curves'")
    return curves


def _groups(curves: xr.DataArray, by: str | None):
    """``(dim, labels, members)``: the runs of each value of ``by``, in order of appearance."""
    if by is None or by == "run":
        n = curves.sizes["run"]
        return (
            "run",
            list(curves["run"].values if "run" in curves.coords else range(n)),
            [np.array([i]) for i in range(n)],
        )
    if by not in curves.coords or curves[by].dims != ("run",):
        raise ValueError(f"{by!r} is not a run coordinate of the curves; pass by=None for each run")
    values = curves[by].values.tolist()
    labels = list(dict.fromkeys(values))
    return by, labels, [np.flatnonzero([v == lab for v in values]) for lab in labels]


def _group_coords(curves: xr.DataArray, dim: str, labels: list, members: list) -> dict:
    coords = {n: c for n, c in curves.coords.items() if c.dims == ("task",)}
    if dim == "run":
        coords.update(_run_coords(curves))
    else:
        coords[dim] = labels
    coords["n_runs"] = (dim, [len(m) for m in members])
    return coords


def _nanmean(y: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        return np.nanmean(y, axis=0)


def _bounds(bounds, y: np.ndarray, who: str) -> tuple[float, float]:
    """``bounds`` as ``(lo, hi)`` floats (``-inf``/``inf`` for ``None``), checked against ``y``."""
    if bounds is None:
        return -np.inf, np.inf
    try:
        lo, hi = bounds
        lo = -np.inf if lo is None else float(lo)
        hi = np.inf if hi is None else float(hi)
    except (TypeError, ValueError):
        lo = hi = np.nan
    if not lo < hi:
        raise ValueError(
            f"{who}: bounds={bounds!r} must be (lo, hi) with lo < hi (None: unbounded), or None"
        )
    v = np.asarray(y, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size and (v.min() < lo - BOUNDS_SLACK or v.max() > hi + BOUNDS_SLACK):
        raise ValueError(
            f"{who}: the curves span [{v.min():.4g}, {v.max():.4g}], outside bounds={bounds!r} "
            "for R0 and R_inf; pass bounds=None (e.g. for a loss) or bounds that hold them"
        )
    return lo, hi


def _bounds_attr(box: tuple[float, float]) -> str:
    """The bounds as an attribute netCDF can store: ``"[0, 1]"``, ``"[-inf, inf]"``."""
    return "[{:g}, {:g}]".format(*box)
