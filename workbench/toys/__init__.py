"""The river-valley toy of the Schedules lab: SGD on ``f(x, y) = g(x) + (h/2)(y - c(x))²``.

Wen et al. (2024) explain the warmup-stable-decay (WSD) loss curve with a *river valley*: a
landscape with a steep direction across the valley (the *hills*) and a gentle one along its floor
(the *river*). With noisy gradients, a large learning rate makes the iterate bounce between the
hillsides, which keeps the loss high, while it moves quickly downstream; decaying the learning
rate damps the bouncing and reveals the progress made along the river. This package is that
picture in two dimensions, cheap enough to re-run on every slider move:

- :class:`RiverValley` is the landscape and its gradient noise;
- :func:`simulate` runs SGD (optionally heavy-ball) for every (schedule, seed) pair at once;
- :func:`excess_loss_prediction` is the stationary across-valley loss at a constant LR;
- :func:`contours` grids the loss for a contour plot under the trajectories.

The landscape, the prediction and the contours are in :mod:`workbench.toys.valley`; the batched
runs, with their slow reference twin, in :mod:`workbench.toys.simulation`.

Examples
--------
>>> from workbench.schedules import wsd
>>> valley = RiverValley()
>>> ds = simulate(valley, [0.1, wsd(peak=0.1, steps=400)], steps=400, seeds=[0, 1])
>>> ds.sizes["run"], ds.sizes["step"]
(4, 401)
>>> calm = float(ds.across[2:, -20:].mean())  # WSD runs, end of the decay
>>> bouncy = float(ds.across[:2, -20:].mean())  # constant-LR runs, same steps
>>> calm < bouncy / 4
True
"""

from .simulation import _noise as _noise
from .simulation import _simulate_reference as _simulate_reference
from .simulation import simulate
from .valley import RiverValley, contours, excess_loss_prediction

__all__ = ["RiverValley", "contours", "excess_loss_prediction", "simulate"]
