"""The landscape lab: loss landscapes around trained runs, their paths, and sharpness vs 2/η.

A sweep is learning rates (x replay ratios on a two-task stream) x seeds, trained as one
lockstep bucket with :class:`~workbench.track.Track` on: every run records parameter snapshots
(its path) and its sharpness (the top Hessian eigenvalue) as it trains. The view knobs say which
plane to draw (:func:`~workbench.landscape.planes.plane_of`: random filter-normalized
directions with a shared seed, the path's principal directions, the top Hessian eigenvectors, or
the plane through three snapshots), its span and resolution. The Panel app
(``apps/landscape.py``) and the notebook (``notebooks/03_loss_landscapes.ipynb``) build their
controls from these knobs; the science is in ``docs/science/landscapes.md``.

Examples
--------
>>> lab = LandscapeLab(lrs=[0.05, 0.2], seeds=2, steps=400)
>>> specs = lab.specs()
>>> len(specs), specs[0].track.snapshot_every, lab.names(specs)
(4, 4, ['lr 0.05', 'lr 0.05', 'lr 0.2', 'lr 0.2'])
"""

from __future__ import annotations

import numpy as np
import param
import xarray as xr

from .. import schedules
from ..data import data_spec, info
from ..landscape.planes import DIRECTIONS, Plane, plane_of
from ..models import MLP
from ..optim import SGD, AdamW
from ..replay import Replay
from ..spec import RunSpec, grid
from ..stream_builders import class_incremental
from ..track import Track, snapshots
from .base import Lab, LiveKnob
from .landscape_presets import PRESETS

__all__ = ["LandscapeLab", "PRESETS", "DATASETS", "FEATURES"]

DATASETS = ("mnist1d", "digits", "features", "two tasks")
# The `features` data of the benign-oscillation claim (tests/test_claims_landscape.py, claim 5),
# with `train_examples` training examples: 2 classes in 800 dimensions, a strong feature (norm
# 10) in 90% of the training examples, a weak one (norm 0.85) in all, noise of norm 4.2.
FEATURES = {
    "classes": 2,
    "dim": 800,
    "strong_fraction": 0.9,
    "weak_scale": 0.85,
    "strong_scale": 10.0,
    "noise": 0.15,
}
_LRS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 1.0]


class LandscapeLab(Lab):
    """Loss landscapes and sharpness: the knobs, the sweep they make, and the plane they ask for."""

    title = "Loss landscapes: slices, paths and the edge of stability"
    science = "docs/science/landscapes.md"
    presets = PRESETS
    live_knobs = (
        LiveKnob(
            "lr_scale",
            label="LR multiplier (live)",
            doc="Multiply every run's learning rate from the next chunk on (absolute: back to 1 "
            "restores the schedule). At the edge of stability the sharpness follows 2/η: raise "
            "the LR and watch it drop to the new line.",
            bounds=(0.0, 10.0),
            softbounds=(0.0, 3.0),
            default=1.0,
            step=0.05,
            slider=True,
        ),
    )
    colour_by = {"LR": ("name",), "seed": ("seed",), "run": ("label",)}
    colour_names = tuple(f"lr {v:g}" for v in _LRS)
    name_label = "setting"
    sliders = ("span",)

    data = param.Selector(
        default="mnist1d",
        objects=list(DATASETS),
        doc="mnist1d: 1-D digit signals (40 inputs); digits: 8x8 handwritten digits; features: "
        "2 classes in 800 dimensions, a weak feature (norm 0.85) in every example, a strong one "
        "(norm 10) in 90% of them, noise of norm 4.2, and a test set with weak features only "
        "(benign oscillation); two tasks: digits 0-4, then 5-9 (where did task 1 go?).",
    )
    train_examples = param.Integer(
        default=500,
        bounds=(64, 4000),
        doc="mnist1d and features: training examples (full-batch GD takes all of them each "
        "step; the edge of stability is studied on a few thousand).",
    )
    width = param.Integer(default=32, bounds=(4, 512), doc="Units per hidden layer.")
    depth = param.Integer(default=2, bounds=(1, 4), doc="Hidden layers.")
    activation = param.Selector(default="tanh", objects=["relu", "tanh", "gelu"])
    loss = param.Selector(
        default="cross_entropy",
        objects=["cross_entropy", "mse"],
        doc="The MLP's training loss: cross-entropy, or mse (half the squared distance between "
        "the outputs and the one-hot target: a two-sided valley, where a large LR can bounce).",
    )
    optimizer = param.Selector(
        default="sgd",
        objects=["sgd", "adamw"],
        doc="sgd: plain (full-batch or minibatch) gradient descent, compared with 2/η; adamw: "
        "its preconditioned sharpness is compared with (2 + 2β1)/((1 − β1)η).",
    )
    lrs = param.ListSelector(
        default=[0.45, 0.6],
        objects=_LRS,
        label="LRs",
        doc="Peak learning rates, one run each (x seeds). The sharpness plot draws 2/η for each.",
    )
    schedule = param.Selector(
        default="constant",
        objects=["constant", "wsd", "cosine"],
        doc="constant: the edge of stability needs it; wsd: warmup-stable-decay (the last 20% "
        "decays to 0; the river valley); cosine: decays all along.",
    )
    momentum = param.Number(default=0.0, bounds=(0.0, 0.99), step=0.05, doc="SGD momentum.")
    full_batch = param.Boolean(
        default=True, doc="Every step on the whole training set (gradient descent)."
    )
    batch_size = param.Integer(default=32, bounds=(1, 4000), doc="Examples per step (minibatch).")
    replay_ratios = param.ListSelector(
        default=[0.0, 0.5],
        objects=[0.0, 0.1, 0.25, 0.5],
        label="Replay ratios",
        doc="Two tasks: share of every batch replayed from a 200-example memory of task 1, one "
        "run each (0: fine-tuning).",
    )
    steps = param.Integer(
        default=300, bounds=(10, 20_000), softbounds=(100, 5000), step=50, doc="Steps in all."
    )
    seeds = param.Integer(default=2, bounds=(1, 16), softbounds=(1, 8), doc="Seeds per setting.")
    snapshot_every = param.Integer(
        default=None,
        allow_None=True,
        bounds=(1, 10_000),
        doc="Copy the parameters every this many steps (the path over the contour); empty: "
        "about 100 snapshots per run.",
    )
    sharpness_every = param.Integer(
        default=None,
        allow_None=True,
        bounds=(1, 10_000),
        doc="Estimate the top Hessian eigenvalue every this many steps; empty: about 20 times "
        "per run (each estimate costs about 10-30 training steps).",
    )
    probe = param.Integer(
        default=1000,
        bounds=(32, 100_000),
        doc="Training examples the Hessian is measured on (a fixed subset; PyHessian's 128 "
        "makes the estimate vary 10x).",
    )
    directions = param.Selector(
        default="filter",
        objects=list(DIRECTIONS),
        doc="The plane of the landscape view. filter/layer: random directions scaled filter by "
        "filter (layer by layer) to the weights (Li et al. 2018), raw: unscaled; pca: the "
        "path's two principal directions; hessian: the two sharpest directions; three points: "
        "through init, a middle snapshot (the task switch, or the start of the decay) and the "
        "end.",
    )
    direction_seed = param.Integer(
        default=0, bounds=(0, None), doc="Seed of random directions (the same for every run)."
    )
    span = param.Number(
        default=1.0,
        bounds=(0.01, 100.0),
        softbounds=(0.05, 3.0),
        step=0.05,
        doc="Random and Hessian planes: the grid covers ±span along each direction "
        "(random directions have the weights' norms, so 1 moves every filter by its size).",
    )
    resolution = param.Integer(
        default=25, bounds=(5, 101), softbounds=(5, 51), doc="Grid points per axis."
    )

    # -- the sweep ---------------------------------------------------------------------------

    def dataset(self):
        """The data the knobs describe (a stream for ``"two tasks"``)."""
        n = self.train_examples
        if self.data == "mnist1d":
            return data_spec("mnist1d", num_samples=int(n / 0.8), train_split=0.8)
        if self.data == "features":
            return data_spec("features", n_train=n, n_test=1000, **FEATURES)
        if self.data == "digits":
            return data_spec("digits")
        half = self.steps // 2
        return class_incremental("digits", classes_per_task=5, task_steps=half)

    def probe_data(self, step: int | None = None):
        """The data a landscape is evaluated on: the dataset, or for two tasks task 1's
        (``step`` before the switch) or task 2's."""
        d = self.dataset()
        if self.data != "two tasks":
            return d
        return d.tasks[0 if step is not None and step < d.starts[1] else 1]

    def n_train(self) -> int:
        d = self.dataset()
        return info(d.tasks[0] if self.data == "two tasks" else d)["n_train"]

    def lr_of(self, peak: float):
        """The LR schedule the knobs describe at ``peak``."""
        if self.schedule == "wsd":
            return schedules.wsd(peak=peak, steps=self.steps, decay=0.2)
        if self.schedule == "cosine":
            return schedules.cosine(peak=peak, steps=self.steps)
        return peak

    def decay_start(self) -> int | None:
        return int(round(self.steps * 0.8)) if self.schedule == "wsd" else None

    def track(self) -> Track:
        snap = self.snapshot_every or max(1, self.steps // 100)
        sharp = self.sharpness_every or max(1, self.steps // 20)
        return Track(snapshot_every=snap, sharpness_every=sharp, probe=self.probe, iters=10)

    def base_spec(self) -> RunSpec:
        data = self.dataset()
        batch = self.n_train() if self.full_batch else min(self.batch_size, self.n_train())
        opt = (
            SGD(lr=0.1, momentum=self.momentum)
            if self.optimizer == "sgd"
            else AdamW(lr=0.01, weight_decay=0.0)
        )
        return RunSpec(
            data=data,
            model=MLP(
                hidden=(self.width,) * self.depth, activation=self.activation, loss=self.loss
            ),
            optimizer=opt,
            steps=self.steps,
            batch_size=batch,
            eval_every=max(1, self.steps // 50),
            replay=Replay(size=200) if self.data == "two tasks" else None,
            track=self.track(),
        )

    def specs(self) -> list[RunSpec]:
        """The sweep: LRs (x replay ratios on two tasks) x seeds, one lockstep bucket."""
        if not self.lrs:
            raise ValueError("LandscapeLab: LRs is empty; pick at least one")
        axes: dict = {"optimizer.lr": [self.lr_of(v) for v in sorted(self.lrs)]}
        if self.data == "two tasks":
            if not self.replay_ratios:
                raise ValueError("LandscapeLab: Replay ratios is empty; pick at least one")
            axes["replay.ratio"] = sorted(self.replay_ratios)
        return grid(self.base_spec(), {**axes, "seed": range(self.seeds)})

    def name_of(self, spec: RunSpec) -> str:
        lr = spec.optimizer.lr
        peak = lr if isinstance(lr, float) else dict(lr.args).get("peak", float("nan"))
        name = f"lr {peak:g}"
        if spec.replay is not None:
            r = spec.replay.ratio
            name += f" · replay {r:g}" if r else " · fine-tune"
        return name

    def applies(self) -> dict[str, bool]:
        out = dict.fromkeys(self.knob_names(), True)
        out["train_examples"] = self.data in ("mnist1d", "features")
        out["momentum"] = self.optimizer == "sgd"
        out["batch_size"] = not self.full_batch
        out["replay_ratios"] = self.data == "two tasks"
        out["direction_seed"] = self.directions in ("filter", "layer", "raw")
        out["span"] = self.directions in ("filter", "layer", "raw", "hessian")
        return out

    def curves(self, ds: xr.Dataset, **kwargs):
        """The live figure: training loss, and sharpness against its stability threshold."""
        from ..plots.landscape import loss_and_sharpness

        return loss_and_sharpness(ds, **kwargs)

    # -- the view ----------------------------------------------------------------------------

    def three_steps(self, ds: xr.Dataset, run: int) -> tuple[tuple[int, int, int], tuple]:
        """The snapshots a "three points" plane goes through, and their names: init, the
        task switch (two tasks) or the start of the decay (wsd) or the middle, and the end."""
        steps = snapshots(ds, run)[0]
        end = int(steps[-1])
        if self.data == "two tasks":
            mid, label = self.dataset().starts[1], "end of task 1"
        elif self.decay_start() is not None:
            mid, label = self.decay_start(), "decay starts"
        else:
            mid, label = end // 2, "middle"
        mid = int(steps[np.abs(steps - mid).argmin()])  # the nearest snapshot
        names = ("init", label, "end of task 2" if self.data == "two tasks" else "end")
        return (int(steps[0]), mid, end), names

    def plane(self, ds: xr.Dataset, run: int) -> Plane:
        """The plane the view knobs ask for, around (or through) run ``run`` of ``ds``."""
        model = self.base_spec().model
        snaps = snapshots(ds, run)
        through, names = (None, ("init", "middle", "end"))
        if self.directions == "three points":
            through, names = self.three_steps(ds, run)
        return plane_of(
            model,
            self.probe_data(),
            snaps,
            self.directions,
            seed=self.direction_seed,
            through=through,
            names=names,
            probe=min(self.probe, 1000),
        )

    def line_pairs(self) -> dict[str, str]:
        """The interpolations :meth:`line_points` offers, by label: ``{label: pair}``.

        Examples
        --------
        >>> list(LandscapeLab(data="two tasks").line_pairs())[-1]
        'end of task 1 → end of task 2'
        """
        if self.data == "two tasks":
            last = "end of task 1 → end of task 2"
        else:
            last = ("decay starts" if self.decay_start() is not None else "middle") + " → end"
        return {"init → end": "init", "end of run A → end of run B": "ab", last: "middle"}

    def line_points(self, ds: xr.Dataset, pair: str, a: int, b: int | None = None) -> tuple:
        """The two points of an interpolation and their names: ``pair`` ``"init"`` (run ``a``'s
        init to its end), ``"ab"`` (the end of run ``a`` to the end of run ``b``) or
        ``"middle"`` (run ``a``'s middle snapshot of :meth:`three_steps`, e.g. the end of task
        1 or the start of the decay, to its end)."""
        from ..landscape.paths import snapshot_at

        (s0, mid, _), names = self.three_steps(ds, a)
        if pair == "init":
            return snapshot_at(ds, a, s0), snapshot_at(ds, a), ("init", "end")
        if pair == "ab":
            if b is None:
                raise ValueError("line_points: pair='ab' needs a second run b")
            return snapshot_at(ds, a), snapshot_at(ds, b), ("end of A", "end of B")
        if pair == "middle":
            return snapshot_at(ds, a, mid), snapshot_at(ds, a), names[1:]
        raise ValueError(f"line_points: pair={pair!r}; allowed: 'init', 'ab', 'middle'")

    def window(self, plane: Plane, paths: dict[str, np.ndarray]) -> tuple[tuple, tuple]:
        """The grid's ``(alpha range, beta range)``: ±span for random and Hessian planes,
        the paths and points with a margin for PCA and three-point planes."""
        if self.directions in ("pca", "three points"):
            coords = np.concatenate(
                [p.reshape(-1, 2) for p in paths.values()] or [np.zeros((1, 2))]
            )
            return plane.extent(coords)
        return (-self.span, self.span), (-self.span, self.span)
