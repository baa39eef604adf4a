"""The schedules lab's loss-curve law and river-valley toy (mixed into
:class:`~workbench.labs.schedules.SchedulesLab`): fit the multi-power law to a finished sweep,
predict any schedule's loss from it, and run the lab's schedule shapes on the 2-D toy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..predict import FittedLaw, fit_dataset
from ..spec import RunSpec

__all__ = ["LawAndToy"]


class LawAndToy:
    """The law fit, predictions and the toy of a schedules lab (needs its knobs and
    ``schedule``/``preview``/``kind_of``)."""

    def fit_law(self, ds: xr.Dataset, specs: Sequence[RunSpec]) -> FittedLaw:
        """Fit the multi-power law to the runs of ``ds`` (``specs`` in its run order): the
        median test loss per schedule kind, leaving out the warmup; forks are left out (the
        test loss is far less noisy than the training loss at one step, and the law claim in
        ``tests/test_claims_schedules.py`` is checked on it).

        Raises a ValueError when no run of a selected kind is complete enough to fit.
        """
        parent = ds.parent.values if "parent" in ds.coords else np.full(len(specs), -1)
        groups: dict[str, list[int]] = {}
        for r, spec in enumerate(specs):
            kind = self.kind_of(spec)
            full = spec.steps == self.steps  # the law is fitted on the full budget's runs
            if kind is not None and full and parent[r] < 0 and ds.diverged_step.values[r] < 0:
                groups.setdefault(kind, []).append(r)
        if self.new_data > 0:
            raise ValueError(
                "fit_law: the laws describe one dataset; this sweep switches data at step "
                f"{self.switch_step()} (new_data={self.new_data})"
            )
        if not groups:
            raise ValueError("fit_law: no finished run of the selected schedules to fit")
        steps = ds.sizes["step"]
        if steps <= self.warmup + 10:
            raise ValueError(
                f"fit_law: {steps} steps recorded; need more than warmup + 10 = "
                f"{self.warmup + 10} to fit"
            )
        return fit_dataset(
            ds, list(groups.values()), law="multi_power", target="eval_loss", skip=self.warmup
        )

    def predict(
        self, law: FittedLaw, *, points: int = 400
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The law's predicted test loss per selected schedule, as ``(steps, loss)`` at up to
        ``points`` steps spread over the budget (instant: no training; the multi-power law costs
        O(steps x LR drops) per point, so a long cosine budget is evaluated at a subset).

        Examples
        --------
        >>> from workbench.predict import FittedLaw, MultiPowerLaw
        >>> law = FittedLaw("multi_power", dict(L0=1.5, A=0.04, alpha=0.8, B=1.2, C=8.0,
        ...                                     beta=2.8, gamma=0.03), MultiPowerLaw())
        >>> from workbench.labs.schedules import SchedulesLab
        >>> steps, loss = SchedulesLab(steps=10_000).predict(law)["cosine"]
        >>> len(steps), int(steps[-1]), bool(loss[-1] < loss[len(loss) // 2])
        (400, 10000, True)
        """
        T = self.steps
        at = np.unique(np.linspace(1, T, min(T, points)).round().astype(np.int64))
        return {k: (at, law.predict(lr, steps=at)) for k, lr in self.preview().items()}

    def on_toy(self, *, peak_lr: float = 0.1, steps: int = 2000) -> LawAndToy:
        """This lab's schedules resized for the river-valley toy: the same shapes (warmup as
        the same fraction of the budget), at the toy's peak LR and length."""
        knobs = {k: getattr(self, k) for k in self.knob_names()}
        knobs.update(
            peak_lr=peak_lr,
            steps=steps,
            warmup=round(self.warmup * steps / self.steps),
            final_lr=self.final_lr * peak_lr / self.peak_lr,
        )
        return type(self)(**knobs)

    def river_valley(
        self, *, peak_lr: float = 0.1, steps: int = 2000, seeds: int = 4, valley=None
    ) -> xr.Dataset:
        """SGD on the river-valley toy with every selected schedule (see :meth:`on_toy`);
        ``schedule_index`` indexes ``self.schedules``. Tens of milliseconds."""
        from .. import toys

        toy = self.on_toy(peak_lr=peak_lr, steps=steps)
        return toys.simulate(
            valley or toys.RiverValley(),
            [toy.schedule(k) for k in self.schedules],
            steps=steps,
            seeds=range(seeds),
        )
