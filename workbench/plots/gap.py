"""The stability gap as a table: :func:`gap_table`, the dip of the earlier tasks right after a
task switch per group, and min-ACC measured at every evaluation and at task ends only (which
hides the dip).

The measures come from :func:`workbench.forgetting.stability_gap` and
:func:`workbench.continual.min_acc`; this module only tabulates them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .. import continual
from ..forgetting import stability_gap
from ._common import _by
from .curves import group_labels

__all__ = ["GAP_COLUMNS", "gap_table"]

GAP_COLUMNS = (
    "switch",
    "old task",
    "before",
    "depth",
    "recovered",
    "recovery time (steps)",
    "min-ACC per-step",
    "min-ACC task-ends-only",
)


def gap_table(
    ds: xr.Dataset, *, by: str | Sequence[str] = "name", switch: int | Sequence[int] = 1
) -> pd.DataFrame:
    """The stability gap at a task switch, per group: the median over its runs (seeds).

    One row per group and earlier task (at the first switch: the first task), indexed by the
    group label, with columns ``switch`` (the index of the task that starts), ``old task``,
    ``before`` (its accuracy at the switch), ``depth`` (the drop to its lowest point after the
    switch), ``recovered`` (the fraction of that drop regained by the end of the switch's
    segment, when the next task starts or the run ends), ``recovery time (steps)`` (from the
    lowest point to halfway back), all from :func:`workbench.forgetting.stability_gap`, and
    min-ACC of the old task (:func:`workbench.continual.min_acc`, its lowest accuracy after it
    was learned, to the end) twice: ``per-step`` from every evaluation, ``task-ends-only`` from
    the evaluations at task switches and the final one alone, as a benchmark that evaluates at
    task ends sees it. The gap between the two is the dip that task-end evaluation hides.

    Medians skip NaN, except the recovery time: a run that never got halfway back within the
    task counts as ``inf`` (longer than any), so ``inf`` means most runs did not recover; how
    much they did recover is ``recovered`` (e.g. ``0.33``: a third of the drop came back, not
    enough for a recovery time). ``recovered`` is NaN where the old task did not drop
    (``depth <= 0``).

    Parameters
    ----------
    ds
        Results of runs on a task stream.
    by
        The run coordinate(s) making a group (``"name"``: ``"group"`` when ``ds`` has none).
    switch
        The switch(es), by the index of the task that starts (``1``: the first switch).

    Examples
    --------
    >>> import workbench as wb
    >>> stream = wb.class_incremental("digits", classes_per_task=5, task_steps=30)
    >>> spec = wb.RunSpec(data=stream, model=wb.MLP(hidden=(16,)), optimizer=wb.SGD(lr=0.1),
    ...                   steps=60, batch_size=32, eval_every=5)
    >>> t = gap_table(wb.run(wb.grid(spec, {"seed": [0, 1]})))
    >>> list(t.columns)[:4], t.index.name
    (['switch', 'old task', 'before', 'depth'], 'group')
    >>> bool((t["min-ACC task-ends-only"] >= t["min-ACC per-step"]).all())
    True
    """
    by = _by(ds, by)
    labels = group_labels(ds, by)
    switches = [switch] if isinstance(switch, (int, np.integer)) else list(switch)
    gap = stability_gap(ds, switch=[int(k) for k in switches])
    per_step = continual.min_acc(ds).values
    ends_only = continual.min_acc(_task_end_evaluations(ds)).values
    tasks = [str(t) for t in ds["task"].values]
    rows, index = [], []
    depth = gap["depth"].values  # (run, switch, task)
    rec = np.where(
        (depth > 0) & np.isnan(gap["recovery_time"].values), np.inf, gap["recovery_time"].values
    )
    for g in dict.fromkeys(labels):
        idx = [i for i, lab in enumerate(labels) if lab == g]
        for s, k in enumerate(switches):
            for j in range(int(k)):
                if not np.isfinite(gap["before"].values[idx, s, j]).any() and j != int(k) - 1:
                    continue  # a recurring task's earlier visit: counted at its latest one
                rows.append(
                    {
                        "switch": int(k),
                        "old task": tasks[j],
                        "before": _median(gap["before"].values[idx, s, j]),
                        "depth": _median(depth[idx, s, j]),
                        "recovered": _median(gap["recovered"].values[idx, s, j]),
                        "recovery time (steps)": _median(rec[idx, s, j]),
                        "min-ACC per-step": _median(per_step[idx, j]),
                        "min-ACC task-ends-only": _median(ends_only[idx, j]),
                    }
                )
                index.append(g)
    names = [by] if isinstance(by, str) else list(by)
    return pd.DataFrame(rows, index=pd.Index(index, name=" · ".join(names)), columns=GAP_COLUMNS)


def _task_end_evaluations(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with ``task_acc`` kept only at each run's task ends: the evaluations at its task
    switches (``task_start`` > 0) and at its final step."""
    acc_ = continual._task_acc(ds, "gap_table")
    ends = continual._task_ends(ds, acc_)  # (run, task): next start or the run's end
    steps = ds["eval_step"].values
    keep = np.zeros((ds.sizes["run"], steps.size), dtype=bool)
    for r in range(ds.sizes["run"]):
        keep[r] = np.isin(steps, ends[r][ends[r] >= 0])
    mask = xr.DataArray(keep, dims=("run", "eval_step"), coords={"eval_step": ds["eval_step"]})
    return ds.assign(task_acc=ds["task_acc"].where(mask))


def _median(v: np.ndarray) -> float:
    v = np.asarray(v, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(np.median(v)) if v.size else np.nan
