"""The accuracy matrix ``R`` and what is read from it: ACC, BWT, FWT and forgetting.

``R = accuracy_matrix(ds)`` has dims ``(run, trained, task)``: ``R[i, j]`` is the accuracy on
task ``j`` at the end of training task ``i``. From it: :func:`acc`, :func:`bwt`, :func:`fwt`
(Lopez-Paz & Ranzato, 2017) and :func:`forgetting` (Chaudhry et al., 2018, with the variants of
other libraries). The helpers that read task ends from the results Dataset are shared with
:mod:`workbench.continual.worst_case`. Conventions: those of :mod:`workbench.continual`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr

__all__ = ["accuracy_matrix", "acc", "bwt", "fwt", "forgetting"]

DEFINITIONS = ("max_before_last", "first_after", "max_all_rows")


# -- from the results Dataset --------------------------------------------------------------------


def accuracy_matrix(ds: xr.Dataset, *, partial: bool = False) -> xr.DataArray:
    """The accuracy matrix ``R``: accuracy on each task at the end of training each task.

    ``R[i, j]`` is ``ds.task_acc`` of task ``j`` at the evaluation that ends task ``i``: the one at
    the step where task ``i + 1`` starts (the engine evaluates every task switch, the model as
    task ``i`` left it), or the run's final evaluation for its last task. Rows ``i < j`` hold the
    accuracy on tasks not yet trained (0 for unseen classes in a class-incremental stream).

    Parameters
    ----------
    ds : xarray.Dataset
        Results of runs on task streams: ``task_acc`` ``(run, eval_step, task)``, the
        ``task_start`` coordinate ``(run, task)`` (``-1`` for a task a run does not have) and
        ``task_index`` ``(run, step)`` (``-1`` after a run's last step; without it, a run ends
        at its last evaluation).
    partial : bool
        Runs still training (a live session's Dataset): the rows of tasks whose end has not
        been evaluated yet are ``NaN`` instead of an error (the matrix fills in as tasks end).

    Returns
    -------
    xarray.DataArray
        Dims ``(run, trained, task)``, both task dims labelled with the task names, the run
        coordinates of ``ds`` kept. ``NaN`` in the rows and columns of tasks a run does not have.

    Raises
    ------
    ValueError
        If ``ds`` has no ``task_acc``, or a run was not evaluated at the end of one of its tasks.

    Examples
    --------
    >>> import workbench as wb
    >>> stream = wb.class_incremental("digits", classes_per_task=5, task_steps=30)
    >>> spec = wb.RunSpec(data=stream, model=wb.MLP(hidden=(16,)), optimizer=wb.SGD(lr=0.1),
    ...                   steps=60, batch_size=32, eval_every=25)
    >>> R = accuracy_matrix(wb.run([spec]))
    >>> first = R.sel(trained="classes 0-4")  # at step 30, the switch, not an eval_every step
    >>> bool(first[0, 0] > 0.5), float(first[0, 1])  # task 1's classes not yet seen
    (True, 0.0)
    """
    acc_ = _task_acc(ds, "accuracy_matrix")
    ends = _task_ends(ds, acc_)  # (run, task): the eval step that ends each task, -1: none
    if partial:  # a run's last task ends at its budget, not where training has got to
        ends = _budget_ends(ds, ends)
    steps = ds["eval_step"].values.tolist()
    pos = {int(s): k for k, s in enumerate(steps)}
    values = acc_.values  # (run, eval_step, task)
    n_runs, _, n_tasks = values.shape
    out = np.full((n_runs, n_tasks, n_tasks), np.nan)
    for r in range(n_runs):
        mine = ends[r] >= 0
        for i in np.flatnonzero(mine):
            k = pos.get(int(ends[r, i]))
            if k is None or not np.isfinite(values[r, k, mine]).any():
                if partial:
                    continue
                raise ValueError(
                    f"accuracy_matrix: run {r} has no evaluation at step {int(ends[r, i])}, where "
                    f"task {str(ds['task'].values[i])!r} ends; results from an engine that "
                    "evaluates every task switch are needed"
                )
            out[r, i, mine] = values[r, k, mine]
    coords = {
        name: c
        for name, c in acc_.coords.items()
        if set(c.dims) <= {"run", "task"} and name != "eval_step"
    }
    coords["trained"] = ("trained", ds["task"].values)
    R = xr.DataArray(out, dims=("run", "trained", "task"), coords=coords, name="accuracy_matrix")
    R.attrs.update(
        long_name="accuracy on task (column) at the end of training task (row)", units="fraction"
    )
    return R


# -- from the accuracy matrix --------------------------------------------------------------------


def acc(R: xr.DataArray) -> xr.DataArray:
    """Average accuracy at the end: ``ACC = mean_{j <= T} R[T, j]``.

    Parameters
    ----------
    R : xarray.DataArray
        An accuracy matrix with dims ``trained`` and ``task`` (and any others, e.g. ``run``).

    Returns
    -------
    xarray.DataArray
        ``R``'s other dims.

    Examples
    --------
    >>> R = xr.DataArray([[0.9, 0.1], [0.5, 0.8]], dims=("trained", "task"))
    >>> float(acc(R))
    0.65
    """
    return _reduce(R, "acc", lambda r, T: r[T, : T + 1].mean())


def bwt(R: xr.DataArray) -> xr.DataArray:
    """Backward transfer: ``BWT = mean_{j < T} (R[T, j] - R[j, j])`` (Lopez-Paz & Ranzato, 2017).

    Negative is forgetting. ``NaN`` for a one-task run (no earlier task to look back on). Equal
    to ``-forgetting(R, definition="first_after").average``.

    Examples
    --------
    >>> R = xr.DataArray([[0.9, 0.1], [0.5, 0.8]], dims=("trained", "task"))
    >>> round(float(bwt(R)), 6)
    -0.4
    """
    return _reduce(R, "bwt", lambda r, T: (r[T, :T] - np.diag(r)[:T]).mean() if T else np.nan)


def fwt(R: xr.DataArray, baseline: xr.DataArray) -> xr.DataArray:
    """Forward transfer: ``FWT = mean_{1 <= j <= T} (R[j-1, j] - b_j)`` (Lopez-Paz & Ranzato, 2017).

    ``b_j`` is the accuracy on task ``j`` of the model at initialisation: in our results,
    ``ds.task_acc.sel(eval_step=0)`` (every run is evaluated before its first step). With tasks
    indexed from 0, the sum starts at the second task (the paper's ``j > 1``, 1-indexed); a
    one-task run has ``NaN``.

    Degenerate in class-incremental streams: before task ``j`` is trained the model never
    predicts its classes, so ``R[j-1, j]`` is 0 for every method and FWT reduces to
    ``-mean_j b_j``; it compares initialisations, not methods. Use it on permuted, rotated or
    recurring streams. When every ``R[j-1, j]`` is 0, the result says so in its
    ``attrs["degenerate"]``.

    Parameters
    ----------
    R : xarray.DataArray
        An accuracy matrix with dims ``trained`` and ``task``.
    baseline : xarray.DataArray
        ``b_j`` with a ``task`` dim, broadcast against ``R``'s other dims.

    Examples
    --------
    >>> R = xr.DataArray([[0.9, 0.3, 0.2], [0.8, 0.9, 0.4], [0.7, 0.8, 0.9]],
    ...                  dims=("trained", "task"))
    >>> b = xr.DataArray([0.1, 0.1, 0.1], dims="task")
    >>> round(float(fwt(R, b)), 6)  # ((0.3 - 0.1) + (0.4 - 0.1)) / 2
    0.25
    """
    if "task" not in baseline.dims:
        raise ValueError(f"fwt: baseline has dims {baseline.dims}; it needs a 'task' dim")
    rel = R - baseline  # R[i, j] - b_j, broadcast over the other dims by name
    R = xr.broadcast(R, rel)[0]
    T = _last_task(R)
    diff = np.diagonal(_as_last2(rel).values[..., :-1, 1:], axis1=-2, axis2=-1)  # (..., T)
    out = np.full(T.shape, np.nan)
    for idx in np.ndindex(T.shape):
        if T[idx] >= 1:
            out[idx] = diff[idx][: T[idx]].mean()
    result = _wrap(rel, out, "fwt")
    before = np.diagonal(_as_last2(R).values[..., :-1, 1:], axis1=-2, axis2=-1)  # R[j-1, j]
    seen = before[np.isfinite(before)]
    if seen.size and (seen == 0).all():
        result.attrs["degenerate"] = (
            "every R[j-1, j] is 0 (a class-incremental stream: unseen classes are never "
            "predicted), so FWT is just -mean(b_j)"
        )
    return result


def forgetting(
    R: xr.DataArray,
    *,
    definition: Literal["max_before_last", "first_after", "max_all_rows"] = "max_before_last",
) -> xr.Dataset:
    """Forgetting of each task and its mean over tasks ``j < T``.

    Three definitions in use, all read from the same matrix (rows before task ``j`` was
    trained are never counted: an accuracy before learning is not knowledge that can be lost,
    and FACIL and Mammoth keep 0 there):

    - ``"max_before_last"`` (the default; Chaudhry et al., 2018, FACIL, Renate):
      ``f_j = max_{j <= l < T} R[l, j] - R[T, j]``, the drop from the best accuracy the task had
      before the last task; ``>= 0`` unless the last task improved it (then negative);
    - ``"first_after"`` (Avalanche): ``f_j = R[j, j] - R[T, j]``, the drop from the task's own
      end; can be negative, and its mean is ``-bwt(R)``;
    - ``"max_all_rows"`` (Mammoth): ``f_j = max_{j <= l <= T} R[l, j] - R[T, j]``, the last
      row included, so never negative.

    ``f_j`` is ``NaN`` for ``j = T`` (the last task has nothing after it) and for tasks a run does
    not have; the mean is over ``j < T`` and ``NaN`` for a one-task run.

    Parameters
    ----------
    R : xarray.DataArray
        An accuracy matrix with dims ``trained`` and ``task``.
    definition : str
        One of ``"max_before_last"``, ``"first_after"``, ``"max_all_rows"``.

    Returns
    -------
    xarray.Dataset
        ``per_task`` (``R``'s dims less ``trained``) and ``average``, its mean over ``j < T``
        (less ``task`` too).

    Examples
    --------
    >>> R = xr.DataArray([[0.9, 0.0, 0.0], [0.6, 0.8, 0.0], [0.7, 0.5, 0.9]],
    ...                  dims=("trained", "task"))
    >>> forgetting(R).per_task.values.round(6).tolist()  # 0.9 - 0.7, 0.8 - 0.5, last: NaN
    [0.2, 0.3, nan]
    >>> forgetting(R, definition="first_after").per_task.values.round(6).tolist()
    [0.2, 0.3, nan]
    >>> round(float(forgetting(R).average), 6)
    0.25
    """
    if definition not in DEFINITIONS:
        raise ValueError(
            f"forgetting: definition={definition!r} must be one of {', '.join(DEFINITIONS)}"
        )
    r = _as_last2(R).values  # (..., trained, task)
    T = _last_task(R)
    per = np.full(r.shape[:-2] + r.shape[-1:], np.nan)
    for idx in np.ndindex(T.shape):
        m, t = r[idx], T[idx]
        for j in range(max(t, 0)):  # j < T
            if definition == "first_after":
                ref = m[j, j]
            elif definition == "max_before_last":
                ref = m[j:t, j].max()
            else:
                ref = m[j : t + 1, j].max()
            per[idx + (j,)] = ref - m[t, j]
    mean = np.full(T.shape, np.nan)
    for idx in np.ndindex(T.shape):
        if T[idx] >= 1:
            mean[idx] = per[idx][: T[idx]].mean()
    out = xr.Dataset(
        {
            "per_task": _wrap(R, per, "forgetting", keep_task=True),
            "average": _wrap(R, mean, "forgetting"),
        }
    )
    out.attrs["definition"] = definition
    return out


# -- helpers -------------------------------------------------------------------------------------


def _task_acc(ds: xr.Dataset, who: str) -> xr.DataArray:
    if "task_acc" not in ds or "task_start" not in ds.coords:
        raise ValueError(
            f"{who}: ds has no task_acc/task_start; it must hold results of runs on task streams"
        )
    return ds["task_acc"].transpose("run", "eval_step", "task")


def _budget_ends(ds: xr.Dataset, ends: np.ndarray) -> np.ndarray:
    """``ends`` with each run's last task ending at the run's ``steps`` (from its spec)."""
    from ..results import specs_of

    try:
        specs = specs_of(ds)
    except (KeyError, ValueError):
        return ends
    if len(specs) != ends.shape[0]:
        return ends
    out = ends.copy()
    for r, spec in enumerate(specs):
        mine = np.flatnonzero(out[r] >= 0)
        if len(mine):
            out[r, mine[-1]] = spec.steps
    return out


def _task_ends(ds: xr.Dataset, acc_: xr.DataArray) -> np.ndarray:
    """``(run, task)``: the eval step that ends each task (next start or run end), -1: none."""
    starts = ds["task_start"].transpose("run", "task").values.astype(np.int64)
    if "task_index" in ds:
        run_end = (ds["task_index"].transpose("run", "step").values >= 0).sum(axis=1)
    else:  # the last evaluation with any finite value
        seen = np.isfinite(acc_.values).any(axis=2)  # (run, eval_step)
        steps = ds["eval_step"].values
        run_end = np.array([steps[s].max() if s.any() else -1 for s in seen], dtype=np.int64)
    ends = np.full(starts.shape, -1, dtype=np.int64)
    for r, row in enumerate(starts):
        mine = np.flatnonzero(row >= 0)
        ends[r, mine[:-1]] = row[mine[1:]]
        if len(mine):
            ends[r, mine[-1]] = run_end[r]
    return ends


def _run_coords(acc_: xr.DataArray) -> dict:
    return {n: c for n, c in acc_.coords.items() if c.dims == ("run",)}


def _as_last2(R: xr.DataArray) -> xr.DataArray:
    if "trained" not in R.dims or "task" not in R.dims:
        raise ValueError(f"R has dims {R.dims}; an accuracy matrix has dims 'trained' and 'task'")
    if R.sizes["trained"] != R.sizes["task"]:
        raise ValueError(
            f"R has {R.sizes['trained']} trained rows and {R.sizes['task']} task columns; "
            "an accuracy matrix is square"
        )
    return R.transpose(..., "trained", "task")


def _last_task(R: xr.DataArray) -> np.ndarray:
    """Per leading index, ``T``: the last task with a finite diagonal (-1: none)."""
    r = _as_last2(R).values
    diag = np.isfinite(np.diagonal(r, axis1=-2, axis2=-1))  # (..., task)
    n = diag.sum(axis=-1)
    if not (diag == (np.arange(diag.shape[-1]) < n[..., None])).all():
        raise ValueError(
            "R: a run's tasks (finite diagonal R[j, j]) must come first, padding (NaN) last"
        )
    return n - 1


def _reduce(R: xr.DataArray, name: str, f) -> xr.DataArray:
    r = _as_last2(R).values
    T = _last_task(R)
    out = np.full(T.shape, np.nan)
    for idx in np.ndindex(T.shape):
        if T[idx] >= 0:
            out[idx] = f(r[idx], T[idx])
    return _wrap(R, out, name)


def _wrap(R: xr.DataArray, values: np.ndarray, name: str, keep_task: bool = False):
    R2 = _as_last2(R)
    dims = R2.dims[:-2] + (("task",) if keep_task else ())
    coords = {
        n: c for n, c in R2.coords.items() if set(c.dims) <= set(dims) and n not in ("trained",)
    }
    return xr.DataArray(values, dims=dims, coords=coords, name=name)
