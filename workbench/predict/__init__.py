"""Predict a whole loss curve from its learning-rate schedule, without training.

Two empirical laws write the loss after ``t`` updates as a function of the learning rates
``eta_1 .. eta_t`` seen so far; fitted on one to a few runs, they predict the curve of any other
schedule at the same model, data and peak, and so let us search schedules on paper:

- :class:`LRAnnealingLaw` (Tissue et al. 2024): ``L(t) = L0 + A*S1**-alpha - C*S2``, a power law in
  the area under the LR curve minus a term for the area annealed away (with a momentum ``lam``).
- :class:`MultiPowerLaw` (Luo et al. 2025): the same power law, minus a sum of saturating power
  laws, one for each LR drop; more accurate for long or sharp decays.

:meth:`~MultiPowerLaw.fit` fits a law jointly to several ``(lrs, losses)`` curves by bounded
least squares; the returned :class:`FittedLaw` predicts instantly. :func:`fit_dataset` reads the
curves from a :func:`workbench.run` Dataset, and :func:`best_wsd` / :func:`best_in_family` pick
the schedule of a family with the lowest predicted final loss.

Conventions
-----------
``lrs[i]`` is the learning rate of update ``i`` (``ds.lr[run, i]``; ``Schedule.table(T)``). A
*step* counts updates done, as ``ds.eval_step`` does: the loss at step ``t`` has seen
``lrs[0 .. t-1]``. A law's value at step 0 (no update, no LR area) is ``inf``. ``law.loss(lrs)``
and ``FittedLaw.predict(lrs)`` return steps ``1 .. T``, so ``out[i]`` is the loss after update
``i`` and ``out[-1]`` the final loss. ``ds.train_loss[run, i]`` is measured *before* update
``i``, i.e. at step ``i``; :func:`curves_of` passes those steps.

Warmup: the LR's initial rise (up to its first maximum) counts in the LR area (the multi-power
law's ``S_W``) but is no annealing: drops, and the annealing terms, start after it. Loss points
inside the warmup are usually left out of a fit with ``skip``.

Examples
--------
>>> import numpy as np
>>> from workbench import schedules
>>> law = MultiPowerLaw()
>>> true = dict(L0=2.0, A=0.5, alpha=0.5, B=300.0, C=2.0, beta=0.5, gamma=0.5)
>>> const = schedules.constant(value=1e-3).table(300).numpy()
>>> cos = schedules.cosine(peak=1e-3, steps=300).table(300).numpy()
>>> fitted = law.fit([(lr, law.loss(lr, **true)) for lr in (const, cos)])
>>> wsd = schedules.wsd(peak=1e-3, steps=300, decay=0.2).table(300).numpy()
>>> bool(np.allclose(fitted.predict(wsd), law.loss(wsd, **true), rtol=1e-3))
True
"""

from .dataset import curves_of, fit_dataset
from .fitting import FittedLaw
from .laws import LAWS, LRAnnealingLaw, MultiPowerLaw
from .search import best_in_family, best_wsd

__all__ = [
    "LAWS",
    "FittedLaw",
    "LRAnnealingLaw",
    "MultiPowerLaw",
    "best_in_family",
    "best_wsd",
    "curves_of",
    "fit_dataset",
]
