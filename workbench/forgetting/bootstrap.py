"""A bootstrap interval on each task's half-life, by resampling runs (seeds)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .fits import ACC_BOUNDS, _as_curves, _bounds, _bounds_attr, _group_coords, _groups, _nanmean
from .lsq import HALF, MODELS, _fit_both, _fit_one

__all__ = ["bootstrap_half_life"]


def bootstrap_half_life(
    curves: xr.DataArray | xr.Dataset,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.9,
    by: str | None = "group",
    bounds: tuple | None = ACC_BOUNDS,
) -> xr.Dataset:
    """A bootstrap interval on each task's half-life: runs (seeds) resampled with replacement.

    The half-life is :func:`fit_forgetting`'s ``half_life`` (the steps until the fitted curve is
    down to half its value at ``t = 0``). For each group of ``n`` runs (as in
    :func:`fit_curves`; ``by=None``: all runs are one): the model is the one AIC picks on the
    mean of all ``n`` curves, and ``half_life`` that fit's half-life; then ``n_boot`` times,
    ``n`` runs are drawn with replacement, their mean curve fitted with that model, and its
    half-life kept. ``boot_median``, ``lo`` and ``hi`` are the median and the ``(1 ∓ level) /
    2`` quantiles (linear interpolation, as :func:`numpy.quantile`) of the ``n_ok`` draws with a
    half-life, ``inf`` included: ``n_inf`` draws never halve, and a quantile that falls on or
    next to one is ``inf`` (``hi = inf``: the data do not exclude that the task is never half
    forgotten). A group of one run has a zero-width interval.
    Deterministic: the draws of group ``g`` come from ``numpy.random.default_rng([seed, g])``.

    Returns
    -------
    xarray.Dataset
        ``half_life``, ``boot_median``, ``lo``, ``hi``, ``n_ok``, ``n_inf`` and ``model`` with
        dims ``(by, task)`` (``(task,)`` when ``by=None``), coordinate ``n_runs``; attrs
        ``level``, ``n_boot``, ``seed``, ``bounds``.

    Examples
    --------
    >>> t = np.arange(0, 200, 10)
    >>> curves = xr.DataArray([[0.2 + 0.7 * np.exp(-t / tau)] for tau in (25, 30, 35)],
    ...                       dims=("run", "task", "since"), coords={"since": t})
    >>> b = bootstrap_half_life(curves, n_boot=20, by=None).isel(task=0)
    >>> str(b.model.values)  # a mean of exponentials is not one: AIC prefers the power law
    'power'
    >>> bool(b.lo < b.boot_median < b.hi), int(b.n_ok), int(b.n_inf)
    (True, 20, 0)
    """
    if not 0 < level < 1 or isinstance(n_boot, bool) or int(n_boot) < 1:
        raise ValueError(
            f"bootstrap_half_life: need 0 < level={level} < 1 and n_boot={n_boot} >= 1"
        )
    curves = _as_curves(curves, "bootstrap_half_life")
    if by is None:  # all runs are one group
        dim, labels, members = "group", [None], [np.arange(curves.sizes["run"])]
    else:
        dim, labels, members = _groups(curves, by)
    t = curves["since"].values.astype(np.float64)
    y = curves.transpose("run", "task", "since").values
    box = _bounds(bounds, y, "bootstrap_half_life")
    n_tasks = y.shape[1]
    res = np.full((4, len(labels), n_tasks), np.nan)  # half_life, boot_median, lo, hi
    counts = np.zeros((2, len(labels), n_tasks), dtype=np.int64)  # n_ok, n_inf
    model = np.full((len(labels), n_tasks), "", dtype=object)
    q = [0.5, (1 - level) / 2, (1 + level) / 2]
    for g, idx in enumerate(members):
        draws = np.random.default_rng([seed, g]).integers(0, len(idx), (int(n_boot), len(idx)))
        mean = _nanmean(y[idx])
        for j in range(n_tasks):
            params, _, b = _fit_both(t, mean[j], box)
            if b < 0:
                continue
            model[g, j], res[0, g, j] = MODELS[b], params[b, HALF]
            hl = np.array(
                [_fit_one(t, _nanmean(y[idx[d], j]), MODELS[b], box)[0][HALF] for d in draws]
            )
            hl = hl[~np.isnan(hl)]
            counts[:, g, j] = hl.size, np.isinf(hl).sum()
            if hl.size:
                res[1:4, g, j] = _quantiles(hl, q)
    names = ("half_life", "boot_median", "lo", "hi")
    out = xr.Dataset({n: ((dim, "task"), res[i]) for i, n in enumerate(names)})
    out["n_ok"] = ((dim, "task"), counts[0])
    out["n_inf"] = ((dim, "task"), counts[1])
    out["model"] = ((dim, "task"), model)
    out.attrs.update(level=level, n_boot=int(n_boot), seed=seed, bounds=_bounds_attr(box))
    if by is None:
        task = {n: c for n, c in curves.coords.items() if c.dims == ("task",)}
        return out.isel(group=0, drop=True).assign_coords(task | {"n_runs": curves.sizes["run"]})
    return out.assign_coords(_group_coords(curves, dim, labels, members))


def _quantiles(v: np.ndarray, q: list[float]) -> np.ndarray:
    """:func:`numpy.quantile` (linear) of ``v`` with ``inf`` in it: a quantile between a value
    and ``inf`` is ``inf`` (numpy's interpolation gives ``NaN`` between two ``inf``)."""
    v = np.sort(v)
    out = []
    for p in q:
        pos = p * (v.size - 1)
        i = int(np.floor(pos))
        j, frac = min(i + 1, v.size - 1), pos - i
        if frac == 0 or v[i] == v[j]:
            out.append(v[i])
        elif np.isinf(v[j]):
            out.append(np.inf)
        else:
            out.append(v[i] + (v[j] - v[i]) * frac)
    return np.array(out)
