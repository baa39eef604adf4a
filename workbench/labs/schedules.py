"""The schedules lab: learning-rate schedules side by side, on a tiny transformer or mnist1d.

Knobs are declared ``param`` parameters (bounds, defaults, docs); the Panel app and the notebook
both build their controls from them, and both call :meth:`SchedulesLab.specs` to get the sweep,
so a workshop sees the same computation in either. Presets are named knob sets with a short
explanation each. The science is in ``shared/PHENOMENA.md`` (Schedules lab): WSD and the river
valley (Wen et al. 2024), linear decay vs cosine (Defazio et al. 2023), re-warming (Gupta et al.
2023; Ibrahim et al. 2024).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import param

from .. import schedules
from ..data import data_spec
from ..models import MLP, Transformer
from ..optim import AdamW
from ..schedules import Schedule
from ..spec import RunSpec, grid

__all__ = ["SchedulesLab", "PRESETS", "SCHEDULE_KINDS"]

SCHEDULE_KINDS = ("wsd", "cosine", "linear", "constant", "1-sqrt")


class SchedulesLab(param.Parameterized):
    """Compare learning-rate schedules at one budget: the knobs and what they make.

    Examples
    --------
    >>> lab = SchedulesLab(steps=100, warmup=10, seeds=1)
    >>> [s.optimizer.lr.kind for s in lab.specs()]
    ['wsd', 'cosine']
    >>> round(float(lab.schedule("wsd")(95)), 6)
    0.00134
    """

    workload = param.Selector(
        default="bigram",
        objects=["bigram", "mnist1d"],
        doc="What learns: a small transformer on a random bigram language, or an MLP on mnist1d.",
    )
    schedules = param.ListSelector(
        default=["wsd", "cosine"],
        objects=list(SCHEDULE_KINDS),
        doc="Which schedules to compare (each at the same peak LR, warmup and budget).",
    )
    peak_lr = param.Number(
        default=1e-2,
        bounds=(1e-5, 1.0),
        softbounds=(1e-4, 5e-2),
        step=1e-4,
        doc="Peak learning rate of every schedule (AdamW).",
    )
    warmup = param.Integer(
        default=30,
        bounds=(0, 100_000),
        softbounds=(0, 200),
        doc="Linear warmup steps at the start of every schedule.",
    )
    steps = param.Integer(
        default=300,
        bounds=(20, 100_000),
        softbounds=(50, 3000),
        step=10,
        doc="Training budget in optimizer steps.",
    )
    decay = param.Number(
        default=0.2,
        bounds=(0.0, 1.0),
        step=0.01,
        doc="WSD: fraction of the budget spent decaying (the rest is warmup + stable).",
    )
    decay_shape = param.Selector(
        default="1-sqrt",
        objects=["linear", "cosine", "1-sqrt"],
        doc="WSD: shape of the decay from peak to the final LR.",
    )
    final_lr = param.Number(
        default=0.0,
        bounds=(0.0, 1.0),
        softbounds=(0.0, 1e-3),
        doc="Learning rate every decaying schedule ends at.",
    )
    seeds = param.Integer(
        default=3,
        bounds=(1, 64),
        softbounds=(1, 8),
        doc="Seeds per schedule; curves show the median and each seed.",
    )
    batch_size = param.Integer(default=32, bounds=(1, 4096), doc="Examples per step.")

    # -- what the knobs make -----------------------------------------------------------------

    def schedule(self, kind: str) -> Schedule:
        """The LR schedule ``kind`` (one of :data:`SCHEDULE_KINDS`) under the current knobs."""
        p, T, w, f = self.peak_lr, self.steps, self.warmup, self.final_lr
        if kind == "wsd":
            return schedules.wsd(
                peak=p, steps=T, warmup=w, decay=self.decay, shape=self.decay_shape, final=f
            )
        if kind == "cosine":
            return schedules.cosine(peak=p, steps=T, warmup=w, final=f)
        if kind in ("linear", "constant"):
            after = schedules.linear(start=p, end=f, steps=T - w) if kind == "linear" else p
            return (
                schedules.join([schedules.warmup(peak=p, steps=w), after], [w])
                if w
                else (schedules.as_schedule(after))
            )
        if kind == "1-sqrt":  # warmup, then the whole rest of the budget decays as 1 - sqrt
            return schedules.wsd(
                peak=p, steps=T, warmup=w, decay=(T - w) / T, shape="1-sqrt", final=f
            )
        raise ValueError(f"SchedulesLab: schedule {kind!r} is not one of {list(SCHEDULE_KINDS)}")

    def preview(self) -> dict[str, np.ndarray]:
        """Each selected schedule's LR at every step (cheap: no training)."""
        return {k: self.schedule(k).table(self.steps).numpy() for k in self.schedules}

    def base_spec(self) -> RunSpec:
        """The run every schedule shares (workload, model, batch, budget)."""
        if self.workload == "bigram":
            # the setting tests/test_claims_schedules.py checks the WSD claim on; it trains 6
            # runs x 300 steps in well under a minute on 2 CPU cores
            data = data_spec(
                "markov", vocab=16, context=16, n_train=2048, n_test=256, temperature=0.5
            )
            model = Transformer(layers=1, width=32, heads=2, context=16)
        else:
            data, model = data_spec("mnist1d", num_samples=20000), MLP(hidden=(100, 100))
        return RunSpec(
            data=data,
            model=model,
            optimizer=AdamW(lr=self.peak_lr, weight_decay=0.0),
            steps=self.steps,
            batch_size=self.batch_size,
            eval_every=max(1, self.steps // 40),
        )

    def specs(self) -> list[RunSpec]:
        """The sweep: every selected schedule x every seed, in one lockstep bucket."""
        if not self.schedules:
            raise ValueError("SchedulesLab: schedules is empty; pick at least one")
        lrs = [self.schedule(k) for k in self.schedules]
        return grid(self.base_spec(), {"optimizer.lr": lrs, "seed": range(self.seeds)})

    # -- URLs and exports --------------------------------------------------------------------

    def to_query(self) -> dict[str, str]:
        """Every knob as a string, for a URL query (``from_query`` reads it back)."""
        return {k: json.dumps(getattr(self, k)) for k in self._knobs()}

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> SchedulesLab:
        """A lab from URL query values, parsed strictly: a bad value raises a ValueError that
        names the knob, the value and what is allowed; nothing else is executed."""
        lab = cls()
        for k, text in query.items():
            if k not in lab._knobs():
                raise ValueError(f"unknown knob {k!r}; allowed: {', '.join(lab._knobs())}")
            try:
                value = json.loads(text)
            except (TypeError, json.JSONDecodeError):
                raise ValueError(f"knob {k}={text!r} is not a JSON value") from None
            try:
                setattr(lab, k, value)
            except (ValueError, TypeError) as e:
                raise ValueError(f"knob {k}={text!r}: {e}") from None
        return lab

    def export(self) -> str:
        """A Python snippet that reproduces the current sweep with the library."""
        knobs = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._knobs())
        return (
            "import workbench as wb\n"
            "from workbench.labs.schedules import SchedulesLab\n\n"
            f"lab = SchedulesLab({knobs})\n"
            "ds = wb.run(lab.specs(), progress=True)\n"
        )

    def _knobs(self) -> list[str]:
        return [k for k in self.param if k != "name"]


PRESETS: dict[str, tuple[dict, str]] = {
    "wsd-vs-cosine": (
        {"schedules": ["wsd", "cosine"], "decay": 0.2},
        "Warmup-stable-decay holds the peak LR and decays only over the last 20% of steps. "
        "Watch its loss stay above cosine's through the stable phase, then drop sharply once the "
        "decay starts, and end level with or below cosine: the large LR made progress along the "
        "river while hiding it under oscillation across the valley.",
    ),
    "decay-shapes": (
        {"schedules": ["wsd"], "decay": 0.2, "decay_shape": "1-sqrt"},
        "The same WSD run with its decay shaped linear, cosine or 1-sqrt: switch the shape knob "
        "and compare where the drop happens. Hägele et al. (2024) find 1-sqrt best at scale.",
    ),
    "linear-vs-cosine": (
        {"schedules": ["linear", "cosine", "constant"]},
        "Linear decay to zero is the worst-case-optimal last-iterate schedule (Defazio et al. "
        "2023) and matches or beats cosine; a constant LR never harvests its progress.",
    ),
}
