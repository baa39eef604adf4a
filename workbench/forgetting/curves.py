"""Forgetting curves: accuracy on each task against the steps since it was last trained.

Also where visits of one recurring task are told apart and together (:func:`_layout`), which
:mod:`.gap` shares.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..continual import _task_acc, _task_ends

__all__ = ["forgetting_curves"]


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


# -- task layout ---------------------------------------------------------------------------------


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
