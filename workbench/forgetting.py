"""Forgetting over time: the stability gap at task switches, forgetting curves and their fits.

From the whole evaluation history of runs on task streams (``ds.task_acc``, dims ``(run,
eval_step, task)``, as in :mod:`workbench.continual`): :func:`stability_gap` measures the drop of
earlier tasks right after each switch and how much of it comes back; :func:`forgetting_curves`
reads the accuracy on each task against the steps since it was last trained; :func:`fit_curves`
fits those curves with an exponential and a power law (:func:`fit_forgetting` for one curve),
their start ``R0`` and floor ``R_inf`` kept within ``[0, 1]`` (``bounds``), and gives two times:
the ``half_life`` (steps until the fit is down to ``R0 / 2``; ``inf`` when it levels off above)
and the ``time_scale`` (steps until ``R - R_inf`` has halved). :func:`bootstrap_half_life` puts
an interval on the half-life by resampling seeds.

Conventions (those of :mod:`workbench.continual`, plus):

- Only evaluations actually taken count (``NaN`` entries, steps at which other runs of a sweep
  were evaluated, are skipped), so every measure here depends on ``eval_every``: a coarse grid
  misses the bottom of a stability gap and the early part of a forgetting curve.
- ``NaN`` marks what is undefined (a task a run lacks, a measure over nothing, a fit that cannot
  be made), never ``0``.
- Recurring tasks (:func:`workbench.recurring`): each visit is its own position on ``task``. The
  results say which positions are one task only by their test set: visits of one task are
  evaluated on the same test set, so their ``task_acc`` (and ``task_loss``) columns are equal at
  every evaluation. Positions with equal columns are taken as visits of one task.

Examples
--------
>>> import workbench as wb
>>> stream = wb.class_incremental("digits", classes_per_task=5, task_steps=30)
>>> spec = wb.RunSpec(data=stream, model=wb.MLP(hidden=(16,)), optimizer=wb.SGD(lr=0.1),
...                   steps=60, batch_size=32, eval_every=5)
>>> ds = wb.run([spec])
>>> gap = stability_gap(ds)
>>> gap.depth.dims, bool(gap.depth.sel(switch=1)[0, 0] > 0.3)
(('run', 'switch', 'task'), True)
>>> forgetting_curves(ds).sel(since=0).isel(run=0, task=0).item() == gap.before[0, 0, 0].item()
True
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from .continual import _run_coords, _task_acc, _task_ends

__all__ = [
    "stability_gap",
    "forgetting_curves",
    "fit_forgetting",
    "fit_curves",
    "bootstrap_half_life",
]

MODELS = ("exp", "power")
N_PARAMS = {"exp": 3, "power": 4}  # R0, R_inf, tau (and c)
RSS_FLOOR = 1e-18  # per point: a residual RMS of 1e-9, far below any accuracy's resolution
FLAT = 1e-9  # a curve whose range is below this has nothing to fit
GAP_VARS = ("before", "minimum", "end", "depth", "min_step", "recovered", "recovery_time")
FIT_VARS = ("R0", "R_inf", "tau", "c", "r2", "aic", "at_bound", "half_life", "time_scale")
HALF, SCALE = FIT_VARS.index("half_life"), FIT_VARS.index("time_scale")
ACC_BOUNDS = (0.0, 1.0)  # the range of R0 and R_inf by default: an accuracy's
BOUNDS_SLACK = 1e-6  # curve values this far outside the bounds are still taken as inside
TAU_MAX = 10  # tau is at most this many times the curve's last t


# -- the stability gap ---------------------------------------------------------------------------


def stability_gap(ds: xr.Dataset, switch: int | list[int] | None = None) -> xr.Dataset:
    """The drop of earlier tasks right after each task switch, and its recovery.

    Switch ``k`` (``k >= 1``) is the step ``s_k`` at which task ``k`` starts; its segment is the
    evaluations at steps ``e`` with ``s_k < e <= s_{k+1}`` (or the run's end for the last task).
    For each earlier task ``j``, with ``a(e)`` its ``task_acc``:

    - ``before = a(s_k)``: the model as task ``k - 1`` left it (the engine evaluates every switch);
    - ``minimum = min_e a(e)`` over the segment, reached first at ``e*``; ``end = a`` at the
      segment's last evaluation;
    - ``depth = before - minimum`` (negative when the task only improved);
    - ``min_step = e* - s_k``;
    - ``recovered = (end - minimum) / depth``, the fraction of the drop regained by the segment's
      end (``NaN`` when ``depth <= 0``);
    - ``recovery_time = e' - e*``, ``e'`` the first evaluation after ``e*`` in the segment with
      ``a(e') >= minimum + depth / 2`` (``NaN`` when it never gets there or ``depth <= 0``).

    The depth depends on the evaluation frequency: only evaluations actually taken count, so a
    coarse ``eval_every`` misses the bottom of the gap (the depth is a lower bound and ``min_step``
    a multiple of the spacing). Earlier tasks are counted by position: a task that recurs counts
    once, at its latest visit before ``k``, and not at all when task ``k`` is a visit of it (it is
    being trained again); the other positions are ``NaN``.

    Parameters
    ----------
    ds : xarray.Dataset
        Results of runs on task streams, as for :func:`workbench.continual.accuracy_matrix`.
    switch : int or list of int, optional
        The switch(es) to keep, by the index ``k`` of the task that starts (``1`` is the first
        switch); an int drops the ``switch`` dim. Default: all.

    Returns
    -------
    xarray.Dataset
        The variables above, dims ``(run, switch, task)`` (``task`` the earlier task ``j``),
        with coordinates ``switch`` (``k``), ``switch_task`` (its name) and ``switch_step``
        ``(run, switch)`` (``s_k``, ``-1`` where a run has no task ``k``). ``NaN`` for ``j >= k``.

    Examples
    --------
    >>> ds = xr.Dataset(
    ...     {"task_acc": (("run", "eval_step", "task"),
    ...                   [[[0.5, 0.0], [0.9, 0.0], [0.4, 0.5], [0.2, 0.7], [0.6, 0.8]]])},
    ...     coords={"eval_step": [0, 10, 12, 14, 20], "task": ["a", "b"],
    ...             "task_start": (("run", "task"), [[0, 10]])})
    >>> g = stability_gap(ds, switch=1).isel(run=0, task=0)
    >>> [round(float(g[v]), 6) for v in ("before", "depth", "min_step", "recovered")]
    [0.9, 0.7, 4.0, 0.571429]
    >>> float(g.recovery_time)  # 0.2 + 0.7 / 2 = 0.55 is first reached at step 20
    6.0
    """
    acc_ = _task_acc(ds, "stability_gap")
    starts, ends, same, _ = _layout(ds, acc_)
    steps = ds["eval_step"].values.astype(np.int64)
    values = acc_.values.astype(np.float64)
    n_runs, _, n_tasks = values.shape
    out = np.full((len(GAP_VARS), n_runs, max(n_tasks - 1, 0), n_tasks), np.nan)
    for r in range(n_runs):
        latest = {}  # task (its first position) -> its latest visit so far
        for k in range(1, n_tasks):
            latest[same[r, k - 1]] = k - 1
            if starts[r, k] < 0:
                break
            for task, j in latest.items():
                if task != same[r, k]:  # not the task being trained again
                    out[:, r, k - 1, j] = _gap(steps, values[r, :, j], starts[r, k], ends[r, k])
    coords = _coords(acc_, {"run", "task"})
    coords["switch"] = np.arange(1, n_tasks)
    coords["switch_task"] = ("switch", ds["task"].values[1:])
    coords["switch_step"] = (("run", "switch"), starts[:, 1:])
    dims = ("run", "switch", "task")
    res = xr.Dataset({n: (dims, out[i]) for i, n in enumerate(GAP_VARS)}, coords=coords)
    for n in ("before", "minimum", "end", "depth", "recovered"):
        res[n].attrs["units"] = "fraction"
    for n in ("min_step", "recovery_time"):
        res[n].attrs["units"] = "steps"
    if switch is None:
        return res
    bad = [k for k in np.atleast_1d(switch) if not 1 <= int(k) < n_tasks]
    if bad or isinstance(switch, bool):
        raise ValueError(
            f"stability_gap: switch={switch!r} must be in [1, {n_tasks - 1}], the index of the "
            "task that starts"
        )
    return res.sel(switch=switch)


def _gap(steps: np.ndarray, a: np.ndarray, s: int, e: int) -> list[float]:
    at = np.flatnonzero((steps == s) & np.isfinite(a))
    seg = (steps > s) & (steps <= e) & np.isfinite(a)
    if not at.size or not seg.any():
        return [np.nan] * len(GAP_VARS)
    before, t, y = a[at[0]], steps[seg], a[seg]
    i = int(np.argmin(y))
    depth = before - y[i]
    recovered = recovery = np.nan
    if depth > 0:
        recovered = (y[-1] - y[i]) / depth
        back = np.flatnonzero(y[i + 1 :] >= y[i] + depth / 2 - 1e-12)
        recovery = t[i + 1 + back[0]] - t[i] if back.size else np.nan
    return [before, y[i], y[-1], depth, t[i] - s, recovered, recovery]


# -- forgetting curves ---------------------------------------------------------------------------


def forgetting_curves(ds: xr.Dataset) -> xr.DataArray:
    """Accuracy on each task against the steps since it was last trained.

    For task (position) ``p`` trained until step ``end_p`` (the next switch, or the run's end),
    ``curve[p, since] = task_acc[end_p + since, p]`` for the evaluations with
    ``end_p <= end_p + since <= stop_p``: ``since = 0`` is the evaluation at the end of its
    training, and ``stop_p`` is the start of the task's next visit (that evaluation is still the
    model before it trains the task again) or, when it does not recur, the run's end. Steps that
    were not evaluated are ``NaN``; ``since`` is the union over runs and tasks of the offsets
    evaluated, so with ``eval_every`` dividing every task's length it is a regular grid.

    Recurring tasks: each visit is its own curve, on its own position of ``task`` (the gap after
    visit ``p`` until the next visit). A visit followed at once by another visit of the same task
    has no curve (all ``NaN``): its training goes on, and the curve is the later visit's. The
    coordinates ``visit`` (1 for the first visit) and ``same_as`` (the position of the first
    visit) ``(run, task)`` tell visits of one task apart and together.

    Parameters
    ----------
    ds : xarray.Dataset
        As for :func:`workbench.continual.accuracy_matrix`.

    Returns
    -------
    xarray.DataArray
        Dims ``(run, task, since)``, ``since`` in steps; coordinate ``task_end`` ``(run, task)``
        (``end_p``, ``-1`` where there is no curve).

    Examples
    --------
    >>> ds = xr.Dataset(
    ...     {"task_acc": (("run", "eval_step", "task"),
    ...                   [[[0.5, 0.0], [0.9, 0.0], [0.4, 0.5], [0.2, 0.7], [0.6, 0.8]]])},
    ...     coords={"eval_step": [0, 10, 12, 14, 20], "task": ["a", "b"],
    ...             "task_start": (("run", "task"), [[0, 10]])})
    >>> c = forgetting_curves(ds)
    >>> c.since.values.tolist(), c.isel(run=0).values.tolist()
    ([0, 2, 4, 10], [[0.9, 0.4, 0.2, 0.6], [0.8, nan, nan, nan]])
    """
    acc_ = _task_acc(ds, "forgetting_curves")
    starts, ends, same, nxt = _layout(ds, acc_)
    steps = ds["eval_step"].values.astype(np.int64)
    values = acc_.values.astype(np.float64)
    n_runs, _, n_tasks = values.shape
    pieces, task_end = {}, np.full((n_runs, n_tasks), -1, dtype=np.int64)
    visit = np.zeros((n_runs, n_tasks), dtype=np.int64)
    for r, p in zip(*np.nonzero(starts >= 0), strict=True):
        visit[r, p] = 1 + (same[r, :p] == same[r, p]).sum()
        if nxt[r, p] == p + 1:
            continue  # trained again at once: the curve is the later visit's
        stop = starts[r, nxt[r, p]] if nxt[r, p] >= 0 else np.iinfo(np.int64).max
        sel = (steps >= ends[r, p]) & (steps <= stop) & np.isfinite(values[r, :, p])
        if sel.any():
            task_end[r, p] = ends[r, p]
            pieces[r, p] = (steps[sel] - ends[r, p], values[r, sel, p])
    since = np.unique(np.concatenate([t for t, _ in pieces.values()] or [np.zeros(0, np.int64)]))
    out = np.full((n_runs, n_tasks, since.size), np.nan)
    for (r, p), (t, y) in pieces.items():
        out[r, p, np.searchsorted(since, t)] = y
    coords = _coords(acc_, {"run", "task"})
    coords.update(
        since=since,
        task_end=(("run", "task"), task_end),
        visit=(("run", "task"), visit),
        same_as=(("run", "task"), same),
    )
    curves = xr.DataArray(
        out, dims=("run", "task", "since"), coords=coords, name="forgetting_curve"
    )
    curves.attrs.update(
        long_name="accuracy on task, steps after its training ended", units="fraction"
    )
    curves["since"].attrs.update(long_name="steps since the task was last trained", units="steps")
    return curves


# -- fits ----------------------------------------------------------------------------------------


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


# -- helpers -------------------------------------------------------------------------------------


def _layout(ds: xr.Dataset, acc_: xr.DataArray) -> tuple[np.ndarray, ...]:
    """``(run, task)``: starts, ends (as in continual), ``same`` (the position of the task's first
    visit) and ``nxt`` (of its next visit, -1: none); -1 where a run has no such task."""
    starts = ds["task_start"].transpose("run", "task").values.astype(np.int64)
    ends = _task_ends(ds, acc_)
    cols = [acc_.values]
    if "task_loss" in ds:
        cols.append(ds["task_loss"].transpose("run", "eval_step", "task").values)
    same = np.full(starts.shape, -1, dtype=np.int64)
    nxt = np.full(starts.shape, -1, dtype=np.int64)
    for r in range(starts.shape[0]):
        first, last = {}, {}  # a column's bytes -> its first, latest position
        for p in np.flatnonzero(starts[r] >= 0):
            key = b"".join(np.nan_to_num(c[r, :, p], nan=0.0).tobytes() for c in cols)
            key += np.isnan(cols[0][r, :, p]).tobytes()
            if not np.isfinite(cols[0][r, :, p]).any():
                key = p  # never evaluated: its own task
            same[r, p] = first.setdefault(key, p)
            if key in last:
                nxt[r, last[key]] = p
            last[key] = p
    return starts, ends, same, nxt


def _coords(acc_: xr.DataArray, dims: set) -> dict:
    return {n: c for n, c in acc_.coords.items() if set(c.dims) <= dims and n != "eval_step"}


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


def _fit_both(
    t: np.ndarray, y: np.ndarray, box: tuple[float, float]
) -> tuple[np.ndarray, list[str], int]:
    """Both models: params ``(model, FIT_VARS)``, reasons, the best model's index (-1: none)."""
    fits = [_fit_one(t, y, m, box) for m in MODELS]
    params = np.array([p for p, _ in fits])
    aic = params[:, FIT_VARS.index("aic")]
    aic = np.where(np.isfinite(aic), aic, np.inf)
    best = int(np.argmin(aic)) if np.isfinite(aic).any() else -1
    return params, [r for _, r in fits], best


def _fit_one(
    t: np.ndarray, y: np.ndarray, model: str, box: tuple[float, float]
) -> tuple[np.ndarray, str]:
    """One model's ``FIT_VARS`` by variable projection, or ``NaN`` and why not."""
    nan = np.full(len(FIT_VARS), np.nan)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    k = N_PARAMS[model]
    if not y.size:
        return nan, "no finite points"
    if (t < 0).any():
        return nan, "t < 0"
    if np.unique(t).size <= k:
        return nan, f"too few points: {np.unique(t).size} distinct t, {model} needs {k + 1}"
    if np.ptp(y) < FLAT:
        return nan, "flat curve: nothing to fit"
    from scipy.optimize import minimize

    lo, hi = np.log(t[t > 0].min() / 10), np.log(TAU_MAX * t.max())
    grid = [np.linspace(lo, hi, 81)] + (
        [np.linspace(np.log(0.02), np.log(50), 41)] if k == 4 else []
    )
    mesh = np.stack([g.ravel() for g in np.meshgrid(*grid, indexing="ij")], axis=1)
    rss = _profile(_basis(t, np.exp(mesh), model), y, box)[0]
    fit = minimize(
        lambda x: _profile(_basis(t, np.exp(x)[None], model), y, box)[0][0],
        mesh[np.argmin(rss)],
        method="Nelder-Mead",
        bounds=[(g[0], g[-1]) for g in grid],
        options={"xatol": 1e-6, "fatol": 1e-15, "maxiter": 400 * (k - 2)},
    )
    x = fit.x if fit.fun <= rss.min() else mesh[np.argmin(rss)]  # never worse than the grid
    theta = np.exp(x)
    rss, r_inf, r0 = (v[0] for v in _profile(_basis(t, theta[None], model), y, box))
    tau, c = theta[0], theta[1] if k == 4 else np.nan
    n = y.size
    r2 = 1 - rss / (n * y.var())
    aic = n * np.log(max(rss, n * RSS_FLOOR) / n) + 2 * k
    edge = any(min(v - g[0], g[-1] - v) < 1e-3 for v, g in zip(x, grid, strict=True))
    half, scale = _half_lives(r0, r_inf, tau, c, model)
    out = np.array([r0, r_inf, tau, c, r2, aic, float(edge), half, scale])
    needed = [FIT_VARS.index(v) for v in ("R0", "R_inf", "tau", "r2", "aic", "time_scale")]
    return (out, "") if np.isfinite(out[needed]).all() else (nan, "fit failed")


def _half_lives(r0: float, r_inf: float, tau: float, c: float, model: str) -> tuple[float, float]:
    """``(half_life, time_scale)`` of a fit, as :func:`fit_forgetting` defines them."""
    ln_scale = np.log(2.0)  # ln of the factor by which R - R_inf falls at the time scale
    if r0 <= 0:
        half = np.nan  # nothing to halve
    elif r_inf >= r0 / 2:
        half = np.inf  # never falls to R0 / 2
    else:
        ln_half = np.log((r0 - r_inf) / (r0 / 2 - r_inf))
        half = tau * ln_half if model == "exp" else tau * _expm1_over(ln_half, c)
    scale = tau * ln_scale if model == "exp" else tau * _expm1_over(ln_scale, c)
    return float(half), float(scale)


def _expm1_over(x: float, c: float) -> float:
    """``exp(x / c) - 1``, ``inf`` past the float range (a power law with a tiny ``c``)."""
    with np.errstate(over="ignore"):
        return float(np.expm1(x / c))


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


def _basis(t: np.ndarray, theta: np.ndarray, model: str) -> np.ndarray:
    """``(G, n)``: ``exp(-t / tau)`` or ``(1 + t / tau) ** -c`` for each row ``(tau[, c])``."""
    tau = theta[:, :1]
    if model == "exp":
        return np.exp(-t / tau)
    return (1 + t / tau) ** -theta[:, 1:2]


def _profile(phi: np.ndarray, y: np.ndarray, box: tuple[float, float]):
    """Least squares of ``y ≈ R_inf + (R0 - R_inf) · phi`` per row of ``phi``, ``R_inf`` and
    ``R0`` within ``box``: ``(rss, R_inf, R0)``, each ``(G,)``.

    A convex quadratic in ``(R_inf, R0)`` over a box: its minimum is the unconstrained one when
    that is inside, else on an edge, where one variable is fixed at a bound and the other's
    1-variable least squares, clamped to the box, is the edge's minimum. Of these candidates
    the feasible one with the least RSS is exact."""
    lo, hi = box
    tiny = 1e-14
    # unconstrained: y ≈ a + b · phi
    mean_phi = phi.mean(axis=1)
    dphi = phi - mean_phi[:, None]
    dy = y - y.mean()
    var = (dphi**2).sum(axis=1)
    b = np.where(var > tiny, (dphi @ dy) / np.where(var > tiny, var, 1), 0.0)
    a = y.mean() - b * mean_phi
    cands = [(a, a + b)]
    feasible = [(a >= lo) & (a <= hi) & (a + b >= lo) & (a + b <= hi)]
    q = 1 - phi  # y ≈ R_inf · q + R0 · phi
    s_pp, s_py = (phi**2).sum(axis=1), phi @ y
    s_qq, s_qy, s_qp = (q**2).sum(axis=1), q @ y, (q * phi).sum(axis=1)
    for v in (lo, hi):
        if not np.isfinite(v):
            continue
        # R_inf = v: y - v ≈ (R0 - v) · phi
        r0 = v + np.where(s_pp > tiny, (s_py - v * phi.sum(axis=1)) / np.maximum(s_pp, tiny), 0)
        cands.append((np.full_like(a, v), np.clip(r0, lo, hi)))
        # R0 = v: y - v · phi ≈ R_inf · q (q ≈ 0: R_inf is not pinned; take R_inf = R0)
        r_inf = np.where(s_qq > tiny, (s_qy - v * s_qp) / np.maximum(s_qq, tiny), v)
        cands.append((np.clip(r_inf, lo, hi), np.full_like(a, v)))
        feasible += [np.ones_like(a, dtype=bool)] * 2
    r_inf = np.stack([c[0] for c in cands])  # (candidate, G)
    r0 = np.stack([c[1] for c in cands])
    res = y - r_inf[..., None] - (r0 - r_inf)[..., None] * phi
    rss = np.where(np.stack(feasible), (res**2).sum(axis=2), np.inf)
    i = np.argmin(rss, axis=0)
    cols = np.arange(phi.shape[0])
    return rss[i, cols], r_inf[i, cols], r0[i, cols]
