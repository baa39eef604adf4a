"""Continual-learning metrics: the accuracy matrix and what is read from it.

``R = accuracy_matrix(ds)`` has dims ``(run, trained, task)``: ``R[i, j]`` is the accuracy on
task ``j`` at the end of training task ``i``. From it: :func:`acc`, :func:`bwt`, :func:`fwt`
(Lopez-Paz & Ranzato, 2017) and :func:`forgetting` (Chaudhry et al., 2018, with the variants of
other libraries). From the whole evaluation history (``ds.task_acc``): :func:`min_acc` and
:func:`wc_acc` (De Lange et al., 2023), which see the drops between task ends.

The accuracy matrix and its summaries are in :mod:`workbench.continual.matrix`, the
worst-case metrics in :mod:`workbench.continual.worst_case`.

Conventions, shared by every function here:

- Tasks are indexed from 0 in code (``R[i, j]``); the docstring formulas use the same indices,
  and ``T`` is the index of a run's last task.
- ``NaN`` marks what does not exist: a task a run does not have (runs with fewer tasks are
  padded), and a metric over an empty set of tasks (BWT, FWT and forgetting of a one-task run,
  the forgetting and min-ACC of the last task). Never ``0``: a zero would read as "measured, no
  forgetting" and would pull averages over runs toward zero; ``NaN`` is skipped by
  ``nanmean``/``xarray``'s ``mean``.
- A run's tasks are those with a finite diagonal ``R[j, j]``; they come first (padding is at the
  end).

Examples
--------
>>> import workbench as wb
>>> stream = wb.class_incremental("digits", classes_per_task=5, task_steps=30)
>>> spec = wb.RunSpec(data=stream, model=wb.MLP(hidden=(16,)), optimizer=wb.SGD(lr=0.1),
...                   steps=60, batch_size=32, eval_every=10)
>>> R = accuracy_matrix(wb.run([spec]))
>>> R.dims, R.shape
(('run', 'trained', 'task'), (1, 2, 2))
>>> bool(bwt(R)[0] < 0)  # fine-tuning on new classes forgets the old ones
True
"""

from .matrix import DEFINITIONS as DEFINITIONS
from .matrix import _run_coords as _run_coords
from .matrix import _task_acc as _task_acc
from .matrix import _task_ends as _task_ends
from .matrix import acc, accuracy_matrix, bwt, forgetting, fwt
from .worst_case import min_acc, wc_acc

__all__ = ["accuracy_matrix", "acc", "bwt", "fwt", "forgetting", "min_acc", "wc_acc"]
