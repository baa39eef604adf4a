"""The continual lab: replay ratio, buffer size and replay schedule against forgetting.

A sweep is replay ratios x buffer sizes x replay schedules (x L2/EWC penalty strengths) x seeds
on one task stream, trained
as one lockstep bucket (runs of every ratio and size stack: see :mod:`workbench.replay`). The
replay ratio is also a live knob. The Panel app (``apps/continual.py``) and the notebook
(``notebooks/02_forgetting_and_replay.ipynb``) both build their controls from these knobs and
call :meth:`ContinualLab.specs`. The science is in ``docs/science/continual.md``.

Examples
--------
>>> lab = ContinualLab(replay_ratios=[0.0, 0.5], seeds=2, tasks=3, task_steps=20)
>>> specs = lab.specs()
>>> len(specs), specs[0].steps, specs[0].data.names
(4, 60, ('classes 0-1', 'classes 2-3', 'classes 4-5'))
>>> lab.names(specs)
['ratio 0', 'ratio 0', 'ratio 0.5', 'ratio 0.5']
"""

from __future__ import annotations

import dataclasses

import param
import xarray as xr

from .. import schedules
from ..data import data_spec
from ..models import MLP, Transformer
from ..optim import SGD, AdamW
from ..penalty import Penalty
from ..recurring import power_law
from ..replay import POLICIES, SCHEDULES, Replay
from ..spec import RunSpec, grid
from ..stream_builders import class_incremental, permuted, rotated
from ..streams import TaskStream, sequence
from .base import Lab, LiveKnob
from .continual_presets import PRESETS

__all__ = ["ContinualLab", "PRESETS", "STREAMS"]

STREAMS = ("split", "permuted", "rotated", "recurring", "language")
_RATIOS = [0.0, 0.05, 0.1, 0.25, 0.5, 0.75]
_SIZES = [20, 50, 100, 200, 500, 1000]


class ContinualLab(Lab):
    """Replay against forgetting on a stream of tasks: the knobs and the sweep they make."""

    title = "Continual learning: replay and forgetting"
    science = "docs/science/continual.md"
    presets = PRESETS
    live_knobs = (
        LiveKnob(
            "replay_ratio",
            label="Replay ratio, all runs (live)",
            doc="Fraction of every batch drawn from memory. Moving it sets every run's ratio "
            "from the next chunk on (until then each run keeps its sweep ratio); the change is "
            "marked on the curves.",
            bounds=(0.0, 0.95),
            default=0.25,
            step=0.05,
            slider=True,
        ),
    )
    colour_by = {"replay": ("name",), "seed": ("seed",), "run": ("label",)}
    colour_names = tuple(f"ratio {r:g}" for r in _RATIOS)
    name_label = "replay"
    sliders = ("shift",)

    stream = param.Selector(
        default="split",
        objects=list(STREAMS),
        doc="The tasks. split: digit classes two at a time (class-incremental); permuted: the "
        "same digits with a share of the pixels shuffled per task; rotated: the digits turned "
        "further each task; recurring: short tasks drawn again and again from a pool of class "
        "pairs; language: a bigram language, then a shifted one (a small transformer).",
    )
    tasks = param.Integer(
        default=5,
        bounds=(2, 40),
        doc="Number of tasks (split: at most 10 / classes per task; language: always 2).",
    )
    classes_per_task = param.Integer(
        default=2, bounds=(1, 5), doc="Classes per task (split and recurring streams)."
    )
    task_steps = param.Integer(
        default=100, bounds=(5, 10_000), softbounds=(20, 1000), step=10, doc="Steps per task."
    )
    shift = param.Number(
        default=1.0,
        bounds=(0.0, 1.0),
        step=0.05,
        doc="How different consecutive tasks are. permuted: the fraction of pixels shuffled; "
        "rotated: the turn between tasks (1 = 90 degrees); language: the distance of the new "
        "language from the first.",
    )
    revisit_exponent = param.Number(
        default=0.0,
        bounds=(0.0, 5.0),
        step=0.1,
        doc="Recurring stream: 0 draws each task uniformly from the pool (SCoLe); above 0 a "
        "task comes back with probability falling as a power law of the time since it was "
        "last seen.",
    )
    replay_ratios = param.ListSelector(
        default=[0.0, 0.1, 0.25, 0.5],
        objects=_RATIOS,
        label="Replay ratios",
        doc="Fraction of every batch drawn from the replay memory (batch size fixed). Each "
        "ratio is a run (x buffer sizes x seeds); 0 is plain fine-tuning.",
    )
    buffer_sizes = param.ListSelector(
        default=[200],
        objects=_SIZES,
        label="Buffer sizes",
        doc="Memory slots (examples kept). Each size is a run (x ratios x seeds).",
    )
    policy = param.Selector(
        default="reservoir",
        objects=list(POLICIES),
        doc="What the memory keeps. reservoir: a uniform sample of everything seen; "
        "class_balanced: equal shares of each class seen; fifo: the most recent examples.",
    )
    replay_schedules = param.ListSelector(
        default=["uniform"],
        objects=list(SCHEDULES),
        label="Replay schedules",
        doc="How memory draws spread over past tasks. uniform: every task alike; power_law: "
        "(1 + tasks since it was trained)^-1; spaced: recalls at expanding intervals.",
    )
    penalty = param.Selector(
        default="ewc",
        objects=["ewc", "l2"],
        doc="A strategy beside replay: a pull toward the weights at the end of the last task, "
        "weighted per parameter by how much the old tasks need it (ewc: the Fisher "
        "information) or the same everywhere (l2). Its strength is the next knob.",
    )
    penalty_strengths = param.ListSelector(
        default=[0.0],
        objects=[0.0, 0.1, 1.0, 10.0, 100.0, 1000.0],
        label="Penalty strengths",
        doc="Strength of the penalty, one run per value (x ratios x seeds); 0: none. With SGD "
        "0.05 on digits, EWC helps around 100 and diverges near 1000; L2 near 1 stops "
        "learning the new task.",
    )
    recall_interval = param.Integer(
        default=50, bounds=(1, 10_000), doc="Spaced replay: the first recall interval (steps)."
    )
    optimizer = param.Selector(
        default="sgd",
        objects=["sgd", "adamw"],
        doc="sgd: plain SGD (no momentum), where the replay trade-off is clearest; adamw: "
        "AdamW without weight decay (the language preset uses it).",
    )
    lr = param.Number(
        default=0.05,
        label="LR",
        bounds=(1e-5, 1.0),
        softbounds=(1e-4, 0.2),
        step=1e-3,
        doc="Learning rate (the peak, with re-warming). Try 0.05 with SGD, 3e-3 with AdamW.",
    )
    rewarm = param.Boolean(
        default=False,
        doc="Language stream: the LR decays over the first language; at the switch, re-warm "
        "it to the peak and decay again (the recipe for continued pre-training), or hold it "
        "decayed.",
    )
    eval_every = param.Integer(
        default=5,
        bounds=(1, 1000),
        label="Evaluate every",
        doc="Evaluate every task every this many steps (1: every step, which the stability gap "
        "needs); task ends are always evaluated on full test sets.",
    )
    probe = param.Integer(
        default=500,
        bounds=(10, 100_000),
        doc="Test examples per task in evaluations inside a task (a fixed subset, the same at "
        "every evaluation).",
    )
    seeds = param.Integer(default=3, bounds=(1, 32), softbounds=(1, 8), doc="Seeds per setting.")
    batch_size = param.Integer(default=32, bounds=(2, 1024), doc="Examples per step.")

    # -- what the knobs make -----------------------------------------------------------------

    def task_stream(self) -> TaskStream:
        """The stream the knobs describe (with the probe size)."""
        t, n, kind = self.task_steps, self.tasks, self.stream
        if kind == "split":
            c = self.classes_per_task
            if n * c > 10:
                raise ValueError(
                    f"ContinualLab: tasks={n} x classes_per_task={c} needs {n * c} digit "
                    "classes; digits has 10"
                )
            s = class_incremental("digits", classes_per_task=c, task_steps=t, order=range(n * c))
        elif kind == "permuted":
            s = permuted("digits", tasks=n, fraction=self.shift, task_steps=t)
        elif kind == "rotated":
            s = rotated("digits", angles=[k * 90.0 * self.shift for k in range(n)], task_steps=t)
        elif kind == "recurring":
            s = power_law(
                "digits",
                classes_per_task=self.classes_per_task,
                tasks=n,
                task_steps=t,
                exponent=self.revisit_exponent,
            )
        else:
            a = data_spec("markov", vocab=16, context=16, n_train=2048, n_test=256, temperature=0.5)
            b = a.replace(variant=1, distance=self.shift)
            s = sequence([a, b], [0, t], names=["language A", "language B"])
        return dataclasses.replace(s, probe=self.probe)

    def lr_schedule(self, steps: int, switch: int) -> schedules.Schedule | float:
        """A constant LR; on the language stream a cosine decay to a tenth of the LR by the
        switch, then (``rewarm``) a re-warm to the peak and a second decay, or (without) the
        decayed LR held."""
        if self.stream != "language":
            return self.lr
        warm = max(1, switch // 10)
        first = schedules.cosine(peak=self.lr, steps=switch, warmup=warm, final=self.lr / 10)
        if not self.rewarm:
            return first
        return schedules.rewarm(
            base=first,
            at=switch,
            peak=self.lr,
            warmup=warm,
            decay_steps=steps - switch - warm,
            final=self.lr / 10,
        )

    def make_optimizer(self, lr) -> SGD | AdamW:
        """The optimizer knob at learning rate ``lr`` (a number or a schedule)."""
        return SGD(lr=lr) if self.optimizer == "sgd" else AdamW(lr=lr, weight_decay=0.0)

    def base_spec(self) -> RunSpec:
        """The run every setting shares: stream, model, optimizer, budget, evaluation."""
        stream = self.task_stream()
        steps = stream.starts[-1] + self.task_steps
        if self.stream == "language":
            model = Transformer(layers=1, width=32, heads=2, context=16)
        else:
            model = MLP(hidden=(100,))
        return RunSpec(
            data=stream,
            model=model,
            optimizer=self.make_optimizer(self.lr_schedule(steps, stream.starts[1])),
            steps=steps,
            batch_size=self.batch_size,
            eval_every=self.eval_every,
            replay=Replay(policy=self.policy, interval=self.recall_interval),
            penalty=Penalty(kind=self.penalty) if any(self.penalty_strengths) else None,
        )

    def specs(self) -> list[RunSpec]:
        """The sweep: ratios x buffer sizes x replay schedules x seeds, in one lockstep bucket."""
        for knob in ("replay_ratios", "buffer_sizes", "replay_schedules", "penalty_strengths"):
            if not getattr(self, knob):
                label = self.param[knob].label
                raise ValueError(f"ContinualLab: {label} is empty; pick at least one")
        axes = {
            "replay.ratio": sorted(self.replay_ratios),
            "replay.size": sorted(self.buffer_sizes),
            "replay.schedule": list(self.replay_schedules),
        }
        if any(self.penalty_strengths):
            axes["penalty.strength"] = sorted(self.penalty_strengths)
        return grid(self.base_spec(), {**axes, "seed": range(self.seeds)})

    def name_of(self, spec: RunSpec) -> str:
        """``ratio 0.25``, with the buffer size and the schedule when the sweep varies them."""
        r = spec.replay
        if r is None:
            return "no replay"
        parts = [f"ratio {r.ratio:g}" if isinstance(r.ratio, float) else "ratio (scheduled)"]
        if len(self.buffer_sizes) > 1:
            parts.append(f"buffer {r.size}")
        if len(self.replay_schedules) > 1:
            parts.append(r.schedule.replace("_", "-"))
        if spec.penalty is not None:
            p = spec.penalty
            parts.append(f"{p.kind} {p.strength:g}" if p.strength else f"no {p.kind}")
        return " · ".join(parts)

    def applies(self) -> dict[str, bool]:
        """Which knobs matter: the shift only where tasks differ by it, classes per task on
        class streams, the revisit exponent on the recurring stream, re-warming and the
        number of tasks as the language stream has them, the interval with spaced replay."""
        out = dict.fromkeys(self.knob_names(), True)
        kind = self.stream
        out["shift"] = kind in ("permuted", "rotated", "language")
        out["classes_per_task"] = kind in ("split", "recurring")
        out["revisit_exponent"] = kind == "recurring"
        out["rewarm"] = kind == "language"
        out["tasks"] = kind != "language"
        out["recall_interval"] = "spaced" in self.replay_schedules
        out["penalty"] = any(self.penalty_strengths)
        out["policy"] = kind != "language" or self.policy != "class_balanced"
        return out

    def curves(self, ds: xr.Dataset, **kwargs):
        """The live figure: accuracy (loss, for a language) on every task against the step,
        task switches and live ratio changes marked."""
        from ..plots.continual import task_curves

        return task_curves(ds, **kwargs)
