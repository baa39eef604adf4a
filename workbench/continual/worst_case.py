"""Worst-case metrics: min-ACC and WC-ACC (De Lange et al., 2023), which see the stability gap.

From the whole evaluation history (``ds.task_acc``), not only the evaluations at task ends:
:func:`min_acc` and :func:`wc_acc` see the drops between task ends that the accuracy matrix
misses. Conventions: those of :mod:`workbench.continual`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .matrix import _run_coords, _task_acc, _task_ends, accuracy_matrix

__all__ = ["min_acc", "wc_acc"]


def min_acc(ds: xr.Dataset) -> xr.DataArray:
    """min-ACC per task: the lowest accuracy on a task after it was learned (De Lange et al., 2023).

    ``min_acc[k] = min over evaluations e with end_k < e <= end_T of task_acc[e, k]``, where
    ``end_k`` is the evaluation that ends task ``k`` (as in :func:`accuracy_matrix`) and ``end_T``
    the run's final one: strictly after the end-of-task evaluation, up to and including the last.
    It sees the stability gap, the drop in the first steps of the next task that evaluations at
    task ends miss, so the finer ``eval_every``, the lower (and truer) it is. A minimum over noisy
    estimates is biased downward, which is why probes are a fixed set.

    Parameters
    ----------
    ds : xarray.Dataset
        As for :func:`accuracy_matrix`.

    Returns
    -------
    xarray.DataArray
        Dims ``(run, task)``; ``NaN`` for a run's last task (nothing comes after it) and for
        tasks a run does not have.

    Examples
    --------
    >>> import workbench as wb
    >>> stream = wb.class_incremental("digits", classes_per_task=5, task_steps=30)
    >>> spec = wb.RunSpec(data=stream, model=wb.MLP(hidden=(16,)), optimizer=wb.SGD(lr=0.1),
    ...                   steps=60, batch_size=32, eval_every=10)
    >>> m = min_acc(wb.run([spec]))
    >>> m.dims, bool(m[0, 0] < 0.2), bool(np.isnan(m[0, 1]))
    (('run', 'task'), True, True)
    """
    return _min_acc(ds, _task_acc(ds, "min_acc"), until=None)


def wc_acc(ds: xr.Dataset, k: int) -> xr.DataArray:
    """Worst-case accuracy after learning ``k`` tasks (De Lange et al., 2023).

    ``WC-ACC_k = (1/k) · R[k-1, k-1] + (1 - 1/k) · mean_{j < k-1} min-ACC_j``, with ``k``
    counting tasks from 1 (the formula's ``1/k``) and tasks indexed from 0: ``R[k-1, k-1]`` is
    the accuracy on the ``k``-th task at its end, and ``min-ACC_j`` is the minimum over the
    evaluations strictly after task ``j`` ended up to the end of task ``k - 1``. So ``WC-ACC_1 =
    R[0, 0]``, and for ``k`` the run's number of tasks the minima are those of :func:`min_acc`.

    Parameters
    ----------
    ds : xarray.Dataset
        As for :func:`accuracy_matrix`.
    k : int
        The number of tasks learned, ``1 <= k <=`` the number of tasks in ``ds``.

    Returns
    -------
    xarray.DataArray
        Dims ``(run,)``; ``NaN`` for a run with fewer than ``k`` tasks.

    Examples
    --------
    >>> import workbench as wb
    >>> stream = wb.class_incremental("digits", classes_per_task=5, task_steps=30)
    >>> spec = wb.RunSpec(data=stream, model=wb.MLP(hidden=(16,)), optimizer=wb.SGD(lr=0.1),
    ...                   steps=60, batch_size=32, eval_every=10)
    >>> ds = wb.run([spec])
    >>> R = accuracy_matrix(ds)
    >>> bool(wc_acc(ds, 1)[0] == R[0, 0, 0])
    True
    >>> bool(wc_acc(ds, 2)[0] == R[0, 1, 1] / 2 + min_acc(ds)[0, 0] / 2)
    True
    """
    acc_ = _task_acc(ds, "wc_acc")
    n_tasks = acc_.sizes["task"]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n_tasks:
        raise ValueError(f"wc_acc: k={k!r} must be an int in [1, {n_tasks}] (tasks learned)")
    k = int(k)
    ends = _task_ends(ds, acc_)
    R = accuracy_matrix(ds)
    current = R.isel(trained=k - 1, task=k - 1).values  # (run,)
    if k == 1:
        out = current
    else:
        m = _min_acc(ds, acc_, until=ends[:, k - 1]).values[:, : k - 1]  # (run, k-1)
        with np.errstate(invalid="ignore"):
            out = current / k + (1 - 1 / k) * m.mean(axis=1)
    out = np.where(ends[:, k - 1] >= 0, out, np.nan)
    return xr.DataArray(out, dims=("run",), coords=_run_coords(acc_), name="wc_acc")


# -- helpers -------------------------------------------------------------------------------------


def _min_acc(ds: xr.Dataset, acc_: xr.DataArray, until: np.ndarray | None) -> xr.DataArray:
    ends = _task_ends(ds, acc_)
    last = ends.max(axis=1) if until is None else until  # (run,): the last eval step counted
    steps = ds["eval_step"].values  # (eval_step,)
    values = acc_.values  # (run, eval_step, task)
    out = np.full(ends.shape, np.nan)
    for r, k in zip(*np.nonzero(ends >= 0), strict=True):
        after = (steps > ends[r, k]) & (steps <= last[r])
        seen = values[r, after, k]
        seen = seen[np.isfinite(seen)]  # steps other runs of the sweep were evaluated at
        if seen.size:
            out[r, k] = seen.min()
    coords = {n: c for n, c in acc_.coords.items() if set(c.dims) <= {"run", "task"}}
    coords.pop("eval_step", None)
    return xr.DataArray(out, dims=("run", "task"), coords=coords, name="min_acc")
