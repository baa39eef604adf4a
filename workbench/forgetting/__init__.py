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

from .bootstrap import _quantiles as _quantiles
from .bootstrap import bootstrap_half_life
from .curves import forgetting_curves
from .fits import fit_curves, fit_forgetting
from .gap import stability_gap
from .lsq import _basis as _basis
from .lsq import _profile as _profile

__all__ = [
    "stability_gap",
    "forgetting_curves",
    "fit_forgetting",
    "fit_curves",
    "bootstrap_half_life",
]
