"""The stability gap: the drop of earlier tasks right after each task switch, and its recovery."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..continual import _task_acc
from .curves import _coords, _layout

__all__ = ["stability_gap"]

GAP_VARS = ("before", "minimum", "end", "depth", "min_step", "recovered", "recovery_time")


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
