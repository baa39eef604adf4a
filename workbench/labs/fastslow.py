"""The fast/slow lab: slow weights beside fast ones, slow learners and fast memories, live.

A sweep is one **setting** (a mechanism and the data it shows on) x its ratio knob x seeds,
trained as one lockstep bucket (:mod:`workbench.slow`):

- ``lookahead``: Lookahead's α (1: the inner optimizer alone) at a high LR; copies fast, slow;
- ``ema``: EMA slow weights of several decays β following the same fast weights; copies fast,
  ema;
- ``slow learner``: a backbone pretrained on six digit classes, then two-class tasks with the
  backbone's LR a ratio of the head's;
- ``dual memory``: CLS-ER's plastic and stable EMAs with replay, consistency weights;
- ``error memory``: a slow model on a drifting stream with a fast memory of its recent errors,
  memory weights λ;
- ``horizon``: EMAs and Lookaheads of several effective horizons (steps a slow copy averages
  over), one axis for all.

The ratios are live knobs (:attr:`FastSlowLab.live_knobs`, only those the setting has are
shown). The Panel app (``apps/fastslow.py``) and the notebook (``notebooks/04_fast_slow.ipynb``)
build their controls from these knobs; the science is in ``docs/science/fastslow.md``.

Examples
--------
>>> lab = FastSlowLab(setting="lookahead", alphas=[0.5, 1.0], seeds=2, steps=100)
>>> specs = lab.specs()
>>> len(specs), lab.names(specs)
(4, ['α 0.5', 'α 0.5', 'α 1 (inner alone)', 'α 1 (inner alone)'])
>>> specs[0].slow.copies
('slow',)
"""

from __future__ import annotations

import param
import xarray as xr

from ..data import data_spec
from ..drift import drifting
from ..models import MLP
from ..optim import SGD, AdamW
from ..replay import Replay
from ..schedules import piecewise
from ..slow import EMA, ClassifierAlignment, ErrorMemory, Lookahead, Slow
from ..spec import RunSpec, grid
from ..stream_builders import class_incremental
from ..track import Track
from .base import Lab
from .fastslow_presets import LIVE_KNOBS, PRESETS

__all__ = ["FastSlowLab", "PRESETS", "SETTINGS"]

SETTINGS = ("lookahead", "ema", "slow learner", "dual memory", "error memory", "horizon")
_ALPHAS = [0.1, 0.2, 0.3, 0.5, 0.8, 1.0]
_BETAS = [0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999]
_RATIOS = [1.0, 0.3, 0.1, 0.03, 0.01, 0.0]
_WEIGHTS = [0.0, 0.05, 0.1, 0.15, 0.3, 0.5, 1.0]
_HORIZONS = [5, 10, 20, 50, 100, 200]
PRETRAIN_CLASSES = 6  # the slow learner's backbone is pretrained on digits 0-5
HORIZON_K = 5  # the horizon setting's Lookaheads sync every 5 steps (alpha = 5 / horizon)


class FastSlowLab(Lab):
    """Fast and slow learning: the knobs, the sweep of each setting, its views."""

    title = "Fast and slow learning: slow weights, slow learners, fast memories"
    science = "docs/science/fastslow.md"
    presets = PRESETS
    live_knobs = LIVE_KNOBS
    colour_by = {"setting": ("name",), "seed": ("seed",), "run": ("label",)}
    name_label = "setting"

    setting = param.Selector(
        default="ema",
        objects=list(SETTINGS),
        doc="What to compare. lookahead: Lookahead's slow step α against the inner optimizer "
        "alone; ema: slow weights that average the fast ones; slow learner: a pretrained "
        "backbone trained slower than its head; dual memory: CLS-ER's plastic and stable "
        "memories; error memory: a fast memory of recent errors on a drifting stream; "
        "horizon: every slow copy on one axis, the steps it averages over.",
    )
    optimizer = param.Selector(
        default="adamw",
        objects=["sgd", "adamw"],
        doc="The inner (fast) optimizer: AdamW without weight decay, or SGD (with momentum 0.9 "
        "in the lookahead and dual memory settings, plain otherwise).",
    )
    lr = param.Number(
        default=3e-2,
        label="LR",
        bounds=(1e-5, 5.0),
        softbounds=(1e-4, 1.0),
        step=1e-3,
        doc="The fast weights' learning rate (the head's, for a slow learner). Slow weights "
        "show their worth at a high LR, where the fast ones are noisy.",
    )
    steps = param.Integer(
        default=300,
        bounds=(20, 20_000),
        softbounds=(100, 3000),
        step=50,
        doc="Training steps (lookahead, ema, horizon).",
    )
    alphas = param.ListSelector(
        default=[0.5, 1.0],
        objects=_ALPHAS,
        label="Lookahead α",
        doc="Each α is a run (x seeds); 1 is the inner optimizer alone.",
    )
    k = param.Integer(default=5, bounds=(1, 100), label="Lookahead k", doc="Fast steps per sync.")
    momentum = param.Selector(
        default="keep",
        objects=["keep", "reset", "pullback"],
        doc="The inner momentum at a sync: keep it, reset it, or pull it back like the weights.",
    )
    betas = param.ListSelector(
        default=[0.9, 0.98],
        objects=_BETAS,
        label="EMA β",
        doc="Each decay is a run (x seeds) with one EMA copy; its horizon is 1/(1 − β) steps.",
    )
    warmup = param.Boolean(
        default=False,
        doc="EMA warm-up β_t = min(β, 1 − (1 + t)^(−2/3)) (ema-pytorch's): without it, a high β "
        "starts from the initial weights and lags.",
    )
    ratios = param.ListSelector(
        default=[1.0, 0.1, 0.01],
        objects=_RATIOS,
        label="Backbone/head LR ratios",
        doc="Slow learner: each ratio is a run (x seeds); it applies after pretraining.",
    )
    align = param.Boolean(
        default=False,
        label="Classifier alignment",
        doc="Slow learner: after each task, retrain the head on features sampled from per-class "
        "Gaussians of every class seen (SLCA's classifier alignment), so old classes are "
        "predicted again in class-IL accuracy.",
    )
    pretrain_steps = param.Integer(
        default=400, bounds=(10, 10_000), doc="Slow learner: steps pretraining on digits 0-5."
    )
    task_steps = param.Integer(
        default=150,
        bounds=(10, 10_000),
        doc="Steps per task (slow learner: each two-class task after pretraining; dual "
        "memory: each of the five tasks).",
    )
    consistencies = param.ListSelector(
        default=[0.0, 0.1],
        objects=_WEIGHTS,
        label="Consistency weights",
        doc="Dual memory: each weight is a run (x seeds); 0 keeps the memories but no pull.",
    )
    plastic_beta = param.Number(
        default=0.9, bounds=(0.0, 0.9999), doc="Dual memory: the plastic EMA's decay."
    )
    stable_beta = param.Number(
        default=0.99, bounds=(0.0, 0.9999), doc="Dual memory: the stable EMA's decay."
    )
    buffer = param.Integer(
        default=50, bounds=(10, 5000), doc="Dual memory: replay buffer (examples)."
    )
    replay_ratio = param.Number(
        default=0.5, bounds=(0.0, 0.95), doc="Dual memory: share of each batch from memory."
    )
    memory_weights = param.ListSelector(
        default=[0.0, 1.0],
        objects=_WEIGHTS,
        label="Error memory weights λ",
        doc="Error memory: each λ is a run (x seeds); 0 is the slow model alone.",
    )
    memory_size = param.Integer(
        default=256, bounds=(32, 10_000), doc="Error memory: recent examples kept."
    )
    neighbours = param.Integer(
        default=8, bounds=(1, 256), doc="Error memory: nearest errors averaged."
    )
    drift = param.Selector(
        default="abrupt",
        objects=["abrupt", "gradual"],
        doc="Error memory: the inputs turn at once at each switch, or a little every segment.",
    )
    drift_angle = param.Number(
        default=90.0,
        bounds=(1.0, 180.0),
        doc="Error memory: degrees the inputs turn at each abrupt switch (gradual: over the "
        "whole run).",
    )
    segment_steps = param.Integer(
        default=200, bounds=(10, 10_000), doc="Error memory: steps between drifts."
    )
    horizons = param.ListSelector(
        default=[10, 50, 200],
        objects=_HORIZONS,
        doc="Horizon: each horizon is an EMA run and a Lookahead run (k = 5) of that horizon.",
    )
    seeds = param.Integer(default=3, bounds=(1, 32), softbounds=(1, 8), doc="Seeds per setting.")
    batch_size = param.Integer(default=32, bounds=(2, 1024), doc="Examples per step.")
    eval_every = param.Integer(
        default=10,
        bounds=(1, 1000),
        label="Evaluate every",
        doc="Steps between evaluations (Lookahead: one more when it is a multiple of k, so "
        "evaluations do not all fall on syncs, where fast and slow weights are equal).",
    )

    # -- what the knobs make -----------------------------------------------------------------

    def make_optimizer(self):
        if self.optimizer == "sgd":
            heavy = self.setting in ("lookahead", "dual memory")
            return SGD(lr=self.lr, momentum=0.9 if heavy else 0.0)
        return AdamW(lr=self.lr, weight_decay=0.0)

    def base_spec(self) -> RunSpec:
        """The run every setting's sweep varies."""
        s, steps, data, track = self.setting, self.steps, "digits", None
        if s in ("lookahead", "ema", "horizon"):
            track = Track(snapshot_every=max(1, steps // 60))
        elif s == "slow learner":
            data = class_incremental(
                "digits",
                classes_per_task=2,
                pretrain_classes=PRETRAIN_CLASSES,
                pretrain_steps=self.pretrain_steps,
                task_steps=self.task_steps,
            )
        elif s == "dual memory":
            data = class_incremental("digits", classes_per_task=2, task_steps=self.task_steps)
        else:
            segments = None if self.drift == "abrupt" else 10
            data = drifting(
                data_spec("gaussian", classes=4, dim=8),
                kind=self.drift,
                drift=self.drift_angle,
                segments=segments,
                segment_steps=self.segment_steps,
            )
        if s not in ("lookahead", "ema", "horizon"):
            steps = data.starts[-1] + (
                self.segment_steps if s == "error memory" else self.task_steps
            )
        return RunSpec(
            data=data,
            model=MLP(hidden=(64, 64) if s in ("slow learner", "dual memory") else (64,)),
            optimizer=self.make_optimizer(),
            steps=steps,
            batch_size=self.batch_size,
            eval_every=self.evaluate_every(),
            track=track,
        )

    def evaluate_every(self) -> int:
        """``eval_every``, except on Lookahead runs where it is a multiple of ``k``: there every
        evaluation would fall on a sync, where fast and slow weights are equal, so the lab
        evaluates one step later each time (``eval_every + 1``) and the evaluations walk
        through every phase of the cycle."""
        e, k = self.eval_every, self.k if self.setting == "lookahead" else HORIZON_K
        if self.setting in ("lookahead", "horizon") and e % k == 0:
            return e + 1
        return e

    def _slow(self) -> list[Slow]:
        s = self.setting
        if s == "lookahead":
            return [
                Slow(lookahead=Lookahead(k=self.k, alpha=a, momentum=self.momentum))
                for a in sorted(self.alphas)
            ]
        if s == "ema":
            gamma = 1.0 if self.warmup else None
            return [Slow(ema=EMA(beta=b, gamma=gamma)) for b in sorted(self.betas)]
        if s == "slow learner":
            align = ClassifierAlignment() if self.align else None
            return [
                Slow(
                    backbone_lr=piecewise(boundaries=[self.pretrain_steps], values=[1.0, r]),
                    align=align,
                )
                for r in sorted(self.ratios, reverse=True)
            ]
        if s == "dual memory":
            memories = (
                EMA(beta=self.plastic_beta, gamma=1.0, power=1.0, prob=0.9, name="plastic"),
                EMA(beta=self.stable_beta, gamma=1.0, power=1.0, prob=0.7, name="stable"),
            )
            return [Slow(ema=memories, consistency=c) for c in sorted(self.consistencies)]
        if s == "error memory":
            return [
                Slow(error_memory=ErrorMemory(self.memory_size, self.neighbours, weight=w))
                for w in sorted(self.memory_weights)
            ]
        out = []
        for h in sorted(self.horizons):  # EMA: 1/(1 - β) = h; Lookahead: k/α = h
            out.append(Slow(ema=EMA(beta=1 - 1 / h)))
            k = HORIZON_K
            out.append(Slow(lookahead=Lookahead(k=k, alpha=min(1.0, k / h))))
        return out

    def specs(self) -> list[RunSpec]:
        """The sweep: the setting's values x seeds (one lockstep bucket per mechanism)."""
        for knob in self._lists():
            if not getattr(self, knob):
                raise ValueError(
                    f"FastSlowLab: {self.param[knob].label} is empty; pick at least one"
                )
        base = self.base_spec()
        if self.setting == "dual memory":
            base = base.__class__(
                **{**base.__dict__, "replay": Replay(self.buffer, self.replay_ratio)}
            )
        return grid(base, {"slow": self._slow(), "seed": range(self.seeds)})

    def _lists(self) -> tuple[str, ...]:
        return {
            "lookahead": ("alphas",),
            "ema": ("betas",),
            "slow learner": ("ratios",),
            "dual memory": ("consistencies",),
            "error memory": ("memory_weights",),
            "horizon": ("horizons",),
        }[self.setting]

    def name_of(self, spec: RunSpec) -> str:
        """``α 0.5``, ``β 0.99``, ``ratio 0.1``, ``consistency 0.1``, ``λ 1``, ``EMA h=50``."""
        slow = spec.slow
        if slow is None:
            return "plain"
        la, ema = slow.lookahead, slow.ema
        if slow.error_memory is not None:
            return f"λ {slow.error_memory.weight:g}"
        if slow.consistency is not None:
            return f"consistency {slow.consistency:g}"
        if slow.backbone_lr is not None:
            r = slow.backbone_lr
            return f"ratio {r.values[-1]:g}" if hasattr(r, "values") else f"ratio {r:g}"
        if self.setting == "horizon":
            kind = "EMA" if ema else "Lookahead"
            h = 1 / (1 - ema[0].beta) if ema else la.k / la.alpha
            return f"{kind} h={h:.0f}"
        if la is not None:
            return f"α {la.alpha:g}" + (" (inner alone)" if la.alpha == 1 else "")
        return f"β {ema[0].beta:g}"

    def applies(self) -> dict[str, bool]:
        """Which knobs matter under the current setting."""
        s = self.setting
        own = {
            "lookahead": {"alphas", "k", "momentum", "steps"},
            "ema": {"betas", "warmup", "steps"},
            "slow learner": {"ratios", "align", "pretrain_steps", "task_steps"},
            "dual memory": {
                "consistencies",
                "plastic_beta",
                "stable_beta",
                "buffer",
                "replay_ratio",
                "task_steps",
            },
            "error memory": {
                "memory_weights",
                "memory_size",
                "neighbours",
                "drift",
                "drift_angle",
                "segment_steps",
            },
            "horizon": {"horizons", "steps"},
        }
        mine = set().union(*own.values())
        return {k: (k not in mine or k in own[s]) for k in self.knob_names()}

    def live_applies(self) -> dict[str, bool]:
        """Which live knobs the setting's runs have."""
        have = {
            "lookahead": {"lookahead_alpha", "lookahead_k"},
            "ema": {"ema_beta"},
            "slow learner": {"backbone_lr"},
            "dual memory": {"consistency"},
            "error memory": {"memory_weight"},
            "horizon": set(),
        }[self.setting]
        return {k.name: k.name in have for k in self.live_knobs}

    # -- views -------------------------------------------------------------------------------

    def curves(self, ds: xr.Dataset, **kwargs):
        """The live figure: fast and slow copies' test loss and accuracy overlaid (settings
        with copies), accuracy on every task (slow learner), or the incoming batch's loss with
        and without the error memory (error memory)."""
        from ..plots.continual import task_curves
        from ..plots.fastslow import copy_curves, memory_curves

        if "copy" in ds.coords:
            return copy_curves(ds, **kwargs)
        if "corrected_loss" in ds:
            return memory_curves(ds, **kwargs)
        return task_curves(ds, **kwargs)

    def accuracy(self) -> str:
        """What the stability-plasticity plane measures: task-IL accuracy for the slow learner
        without classifier alignment (class-IL accuracy of old classes is 0 at every ratio
        then: the head's bias toward new classes), class-IL otherwise."""
        return "task_acc_til" if self.setting == "slow learner" and not self.align else "task_acc"
