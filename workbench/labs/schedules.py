"""The schedules lab: learning-rate schedules side by side, on a tiny transformer or mnist1d.

Knobs are declared ``param`` parameters (bounds, defaults, docs); the Panel app and the notebook
both build their controls from them, and both call :meth:`SchedulesLab.specs` to get the sweep,
so a workshop sees the same computation in either. Presets are named knob sets with a short
explanation each. The science is in ``docs/science/schedules.md``: WSD and the river
valley (Wen et al. 2024), linear decay vs cosine (Defazio et al. 2023), re-warming (Gupta et al.
2023; Ibrahim et al. 2024).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import param
import xarray as xr

from .. import schedules
from ..data import data_spec
from ..models import MLP, Transformer
from ..optim import AdamW
from ..schedules import Schedule
from ..spec import RunSpec, grid
from ..streams import sequence
from .base import Action, Lab, LiveKnob
from .drawing import Knots, check_knots
from .schedules_law import LawAndToy
from .schedules_presets import PRESETS

__all__ = ["SchedulesLab", "PRESETS", "SCHEDULE_KINDS", "decay_to_zero", "fork_decay"]

SCHEDULE_KINDS = (
    "wsd",
    "cosine",
    "linear",
    "constant",
    "1-sqrt",
    "wsd-s",
    "rewarm",
    "infinite",
    "drawn",
)


BIGRAM_ACCURACY_NOTE = (
    "next-token accuracy on a random bigram language is capped well below 1 (the next token "
    "is random): compare runs, not with 100%"
)


def decay_to_zero(step: int, remaining: int, current: float) -> np.ndarray:
    """The LR of a "start the decay now" branch: linear from ``current`` to 0 over what is left.

    Examples
    --------
    >>> decay_to_zero(10, 3, 0.2).tolist()
    [0.2, 0.1, 0.0]
    """
    return current * np.linspace(1.0, 0.0, remaining)


def fork_decay(session) -> list[int]:
    """Branch every original run of ``session`` now, its LR decaying linearly to 0 from here."""
    originals = [r for r, p in enumerate(session.parent) if p == -1]
    return session.fork(originals, knobs={"lr": decay_to_zero})


class SchedulesLab(LawAndToy, Lab):
    """Compare learning-rate schedules at one budget: the knobs and what they make.

    Examples
    --------
    >>> lab = SchedulesLab(steps=100, warmup=10, seeds=1)
    >>> [s.optimizer.lr.kind for s in lab.specs()]
    ['wsd', 'cosine']
    >>> round(float(lab.schedule("wsd")(95)), 6)
    0.002679
    >>> lab.schedules = ["drawn"]
    >>> [round(float(v), 4) for v in lab.preview()["drawn"][[0, 5, 10, 50, 99]]]
    [0.0, 0.01, 0.02, 0.02, 0.0007]
    """

    title = "Learning-rate schedules"
    science = "docs/science/schedules.md"
    presets = PRESETS
    live_knobs = (
        LiveKnob(
            "lr_scale",
            label="LR multiplier (live)",
            doc="Multiply every run's learning rate, schedule included, from the next chunk on "
            "(absolute: back to 1 restores the schedule).",
            bounds=(0.0, 10.0),
            softbounds=(0.0, 3.0),
            default=1.0,
            step=0.05,
            slider=True,
        ),
        LiveKnob(
            "weight_decay",
            label="Weight decay (live)",
            doc="Set every run's weight decay from the next chunk on (empty: as the runs specify).",
            bounds=(0.0, 1.0),
        ),
    )
    actions = (
        Action(
            label="Fork: start the decay now",
            doc="Branch every original run here, decaying its LR linearly to 0 over the "
            "remaining steps; the originals go on unchanged.",
            run=lambda session: fork_decay(session),
            branch="decay",
        ),
    )
    colour_by = {
        "schedule + branch": ("name", "branch"),
        "schedule": ("name",),
        "seed": ("seed",),
        "branch": ("branch",),
        "run": ("label",),
    }
    colour_names = SCHEDULE_KINDS
    name_label = "schedule"
    zoom = 0.3
    sliders = ("decay", "new_data", "shift")

    workload = param.Selector(
        default="bigram",
        objects=["bigram", "mnist1d"],
        doc="What learns: a small transformer on a random bigram language, or an MLP on mnist1d.",
    )
    schedules = param.ListSelector(
        default=["wsd", "cosine"],
        objects=list(SCHEDULE_KINDS),
        doc="Which schedules to compare, each at the same peak LR, warmup and budget. wsd: "
        "warmup, a long constant phase, a short decay at the end; cosine: one cosine decay over "
        "the budget; linear: straight down to the final LR; constant: the peak throughout; "
        "1-sqrt: decays as 1 - sqrt over the whole budget; wsd-s: one run decaying to a "
        "checkpoint and resuming at the peak several times; rewarm: cosine, then re-warm and "
        "re-decay at the new data; infinite: cool down to a constant, anneal at the end; drawn: "
        "your own curve (click the preview).",
    )
    peak_lr = param.Number(
        default=2e-2,
        label="Peak LR",
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
    checkpoints = param.Integer(
        default=3,
        bounds=(1, 20),
        doc="WSD-S: number of decayed checkpoints; after each, the run resumes at the peak LR "
        "from the decayed weights.",
    )
    drawn = Knots(
        default=[[0.0, 0.0], [0.1, 1.0], [0.7, 1.0], [1.0, 0.0]],
        label="Drawn knots",
        doc="The 'drawn' schedule: knots [x, y], x = fraction of the budget, y = multiple of the "
        "peak LR, joined by straight lines (the warmup knob does not apply). Click the LR "
        "preview to add or move a knot.",
    )
    new_data = param.Number(
        default=0.0,
        bounds=(0.0, 0.9),
        step=0.05,
        doc="Fraction of the budget after which training switches to a new, shifted bigram "
        "language (0: one dataset throughout; bigram workload only). 'rewarm' and 'infinite' "
        "treat that step as the start of the new data.",
    )
    shift = param.Number(
        default=0.2,
        bounds=(0.0, 1.0),
        step=0.05,
        doc="How far the new language is from the first (0: the same; 1: unrelated).",
    )
    final_lr = param.Number(
        default=0.0,
        label="Final LR",
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
    budgets = param.Integer(
        default=1,
        bounds=(1, 4),
        doc="Train every schedule at this many budgets: steps x k / budgets for k = 1 .. "
        "budgets (e.g. 3: a third, two thirds and all of the steps). WSD-S runs once: its "
        "checkpoints are its budgets.",
    )

    # -- what the knobs make -----------------------------------------------------------------

    def schedule(self, kind: str, steps: int | None = None) -> Schedule:
        """The LR schedule ``kind`` (one of :data:`SCHEDULE_KINDS`) under the current knobs, for
        a budget of ``steps`` (default: the ``steps`` knob)."""
        p, T, w, f = self.peak_lr, steps or self.steps, self.warmup, self.final_lr
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
        if kind == "wsd-s":
            return schedules.wsd_s(
                peak=p,
                steps=T,
                checkpoints=self.checkpoints,
                warmup=w,
                decay=self.decay,
                shape=self.decay_shape,
                final=f,
            )
        if kind == "rewarm":  # cosine to the switch, then re-warm and re-decay (cosine)
            at = self.switch_step(T)
            first = schedules.cosine(peak=p, steps=at, warmup=min(w, at - 1), final=f)
            again = min(w, T - at)
            return schedules.rewarm(
                base=first,
                at=at,
                peak=p,
                warmup=again,
                decay_steps=T - at - again,
                final=f,
                shape="cosine",
            )
        if kind == "infinite":  # cool down to a quarter of the peak, hold, anneal at the end
            at, anneal = self.switch_step(T), round(self.decay * T)
            return schedules.infinite(
                peak=p,
                warmup=w,
                cooldown=max(0, at - w),
                constant=p / 4,
                anneal_at=T - anneal,
                anneal_steps=anneal,
                final=f,
            )
        if kind == "drawn":
            xs, ys = np.asarray(check_knots(self.drawn)).T
            values = p * np.interp(np.arange(T + 1) / T, xs, ys)  # the end knot at step T
            return schedules.tabulated(values=values.tolist())
        raise ValueError(f"SchedulesLab: schedule {kind!r} is not one of {list(SCHEDULE_KINDS)}")

    def preview(self) -> dict[str, np.ndarray]:
        """Each selected schedule's LR at every step (cheap: no training)."""
        return {k: self.schedule(k).table(self.steps).numpy() for k in self.schedules}

    def switch_step(self, steps: int | None = None) -> int:
        """The step the new data starts at (``rewarm`` and ``infinite`` take half the budget
        when ``new_data`` is 0)."""
        T = steps or self.steps
        return max(1, round((self.new_data or 0.5) * T))

    def budget_steps(self) -> list[int]:
        """The budgets every schedule is trained at: ``steps * k / budgets``, k = 1..budgets."""
        return [round(self.steps * k / self.budgets) for k in range(1, self.budgets + 1)]

    def kind_of(self, spec: RunSpec) -> str | None:
        """Which selected schedule kind ``spec`` trains with (``None``: none of them)."""
        for kind in self.schedules:
            try:
                made = self.schedule(kind, spec.steps)
            except ValueError:  # this kind has no schedule at that budget (e.g. WSD-S at 1/3)
                continue
            if spec.optimizer.lr == made:
                return kind
        return None

    def applies(self) -> dict[str, bool]:
        """Which knobs matter now: WSD-S's checkpoints only with ``wsd-s``, the knots only with
        ``drawn``, the decay only with a schedule that has one, the shift only with new data,
        new data only on the bigram workload, the final LR only with a decaying schedule."""
        kinds = set(self.schedules)
        out = dict.fromkeys(self.knob_names(), True)
        out["checkpoints"] = "wsd-s" in kinds
        out["drawn"] = "drawn" in kinds
        out["decay"] = bool(kinds & {"wsd", "wsd-s", "infinite"})
        out["decay_shape"] = bool(kinds & {"wsd", "wsd-s"})
        out["warmup"] = bool(kinds - {"drawn"})
        out["final_lr"] = bool(kinds - {"constant", "drawn"})
        out["new_data"] = self.workload == "bigram"
        out["shift"] = self.workload == "bigram" and self.new_data > 0
        return out

    def curves(self, ds: xr.Dataset, **kwargs):
        """The live curves; on the bigram workload the accuracy panel carries a note (a bigram
        language caps next-token accuracy far below 1)."""
        from ..plots import training_curves

        if self.workload == "bigram":
            kwargs.setdefault("accuracy", BIGRAM_ACCURACY_NOTE)
        return training_curves(ds, **kwargs)

    def name_of(self, spec: RunSpec) -> str:
        """A run's name in plots: its schedule kind, and its budget when there are several."""
        kind = self.kind_of(spec) or "other"
        return kind if self.budgets == 1 else f"{kind} @ {spec.steps}"

    def add_knot(self, step: float, lr: float) -> None:
        """Add a knot to the drawn schedule at ``step`` and learning rate ``lr`` (replacing a
        knot within 2% of the budget of it), clipped to the allowed range.

        Examples
        --------
        >>> lab = SchedulesLab(steps=100, peak_lr=0.01)
        >>> lab.add_knot(50, 0.005)
        >>> lab.drawn
        [[0.0, 0.0], [0.1, 1.0], [0.5, 0.5], [0.7, 1.0], [1.0, 0.0]]
        """
        x = float(np.clip(step / self.steps, 0.0, 1.0))
        y = float(np.clip(lr / self.peak_lr, 0.0, 2.0))
        knots = [k for k in check_knots(self.drawn) if abs(k[0] - x) > 0.02]
        self.drawn = sorted([*knots, [round(x, 4), round(y, 4)]])

    def base_spec(self) -> RunSpec:
        """The run every schedule shares (workload, model, batch, budget)."""
        if self.workload == "bigram":
            # the setting tests/test_claims_schedules.py checks the WSD and law claims on (with
            # the default knobs); it trains 6 runs x 300 steps in well under a minute on 2 cores
            data = data_spec(
                "markov", vocab=16, context=16, n_train=2048, n_test=256, temperature=0.5
            )
            model = Transformer(layers=1, width=32, heads=2, context=16)
            if self.new_data > 0:  # the same language family, shifted (markov's variant 1)
                new = data.replace(variant=1, distance=self.shift)
                data = sequence([data, new], [0, self.switch_step()], names=["old", "new"])
        else:
            if self.new_data > 0:
                raise ValueError(
                    f"SchedulesLab: new_data={self.new_data} needs workload='bigram' "
                    "(the new data is a shifted bigram language); set new_data=0 for mnist1d"
                )
            data, model = data_spec("mnist1d", num_samples=20000), MLP(hidden=(100, 100))
        return RunSpec(
            data=data,
            model=model,
            optimizer=AdamW(lr=self.peak_lr, weight_decay=0.0),
            steps=self.steps,
            batch_size=self.batch_size,
            eval_every=max(1, self.steps // 40),  # the same eval steps at every budget
        )

    def specs(self) -> list[RunSpec]:
        """The sweep: every selected schedule x every seed, in one lockstep bucket."""
        if not self.schedules:
            raise ValueError("SchedulesLab: schedules is empty; pick at least one")
        out = []
        for steps in self.budget_steps():
            # WSD-S runs once, at the full budget: its checkpoints are its shorter budgets
            kinds = [k for k in self.schedules if k != "wsd-s" or steps == self.steps]
            if not kinds:
                continue
            base = dataclasses.replace(self.base_spec(), steps=steps)
            lrs = [self.schedule(k, steps) for k in kinds]
            out += grid(base, {"optimizer.lr": lrs, "seed": range(self.seeds)})
        return out
