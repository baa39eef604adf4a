"""Named sweeps with knobs: what ``workbench presets`` lists and ``workbench run`` runs.

A preset has a one-line description, a few knobs with defaults, and a function from knob values
to specs. Knob values are checked (unknown knob, wrong type, out of range) before any training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import schedules
from .data import data_spec
from .models import MLP, Transformer
from .optim import SGD, AdamW, Lion, Muon
from .spec import RunSpec, grid

__all__ = ["Preset", "PRESETS", "get_preset"]


@dataclass(frozen=True)
class Knob:
    default: Any
    help: str
    lo: float | None = None  # numbers (and each element of a list) must be >= lo
    hi: float | None = None


@dataclass(frozen=True)
class Preset:
    """A named sweep: knobs with defaults, and a builder from knob values to specs."""

    name: str
    description: str
    knobs: dict[str, Knob]
    build: Callable[..., list[RunSpec]] = field(repr=False)
    # names the group of a run in the printout and the figure; None: what differs, seed aside
    group_of: Callable[[RunSpec], str] | None = field(default=None, repr=False)

    def check(self, **values) -> dict[str, Any]:
        """Knob values merged over the defaults, each checked; a ValueError names the bad one."""
        out = {k: kn.default for k, kn in self.knobs.items()}
        for k, v in values.items():
            if k not in self.knobs:
                raise ValueError(
                    f"preset {self.name!r}: unknown knob {k!r}; allowed: {', '.join(self.knobs)}"
                )
            out[k] = _check_knob(self.name, k, v, self.knobs[k])
        return out

    def specs(self, **values) -> list[RunSpec]:
        """The sweep for these knob values (defaults for the rest).

        Examples
        --------
        >>> len(get_preset("lr-schedules").specs(seeds=1))
        4
        """
        return self.build(**self.check(**values))


def _check_knob(preset: str, name: str, value: Any, knob: Knob) -> Any:
    want = type(knob.default)
    allowed = f"a {want.__name__}"
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if want is list and isinstance(value, tuple):
        value = list(value)
    if want is list:
        elem = type(knob.default[0])
        if not isinstance(value, list) or not value:
            raise ValueError(f"preset {preset!r}: {name}={value!r} must be a non-empty list")
        value = [float(v) if elem is float and isinstance(v, int) else v for v in value]
        items = value
        allowed = f"a list of {elem.__name__}"
        if not all(isinstance(v, elem) and not isinstance(v, bool) for v in items):
            raise ValueError(f"preset {preset!r}: {name}={value!r} must be {allowed}")
    else:
        if not isinstance(value, want) or isinstance(value, bool) != isinstance(knob.default, bool):
            raise ValueError(f"preset {preset!r}: {name}={value!r} must be {allowed}")
        items = [value] if isinstance(value, int | float) else []
    for v in items:
        if (knob.lo is not None and v < knob.lo) or (knob.hi is not None and v > knob.hi):
            rng = f"[{knob.lo}, {knob.hi}]" if knob.hi is not None else f">= {knob.lo}"
            raise ValueError(f"preset {preset!r}: {name}={value!r} must be in {rng}")
    return value


def _after_warmup(schedule: schedules.ScheduleLike, *, peak: float, warmup: int):
    """``schedule`` (seeing steps from the end of the warmup) after a linear warmup to ``peak``."""
    if not warmup:
        return schedules.as_schedule(schedule)
    return schedules.join([schedules.warmup(peak=peak, steps=warmup), schedule], [warmup])


def _lr_schedules(*, steps, peak_lr, warmup, decay, seeds, batch_size, hidden, samples):
    base = RunSpec(
        data=data_spec("mnist1d", num_samples=samples),
        model=MLP(hidden=(hidden, hidden)),
        optimizer=AdamW(lr=peak_lr, weight_decay=0.01),
        steps=steps,
        batch_size=batch_size,
        eval_every=max(1, steps // 40),
    )
    # Like for like: every schedule warms up over the same steps to the same peak; they differ
    # only in what they do after it.
    lrs = [
        _after_warmup(peak_lr, peak=peak_lr, warmup=warmup),
        schedules.cosine(peak=peak_lr, steps=steps, warmup=warmup),
        schedules.wsd(peak=peak_lr, steps=steps, warmup=warmup, decay=decay, shape="linear"),
        _after_warmup(
            schedules.linear(start=peak_lr, end=0.0, steps=steps - warmup),
            peak=peak_lr,
            warmup=warmup,
        ),
    ]
    return grid(base, {"optimizer.lr": lrs, "seed": range(seeds)})


def _schedule_name(spec: RunSpec) -> str:
    """The kind of a run's LR schedule after its warmup: constant, cosine, wsd or linear."""
    lr = schedules.as_schedule(spec.optimizer.lr)
    return lr.schedules[-1].kind if lr.kind == "join" else lr.kind


def _lr_sweep(*, steps, peaks, seeds, warmup):
    base = RunSpec(
        data="mnist1d",
        model=MLP(hidden=(100, 100)),
        optimizer=AdamW(lr=schedules.cosine(peak=peaks[0], steps=steps, warmup=warmup)),
        steps=steps,
        eval_every=max(1, steps // 40),
    )
    return grid(base, {"optimizer.lr.peak": peaks, "seed": range(seeds)})


def _sgd_momentum(*, steps, lr, momenta, seeds):
    base = RunSpec(
        data="digits",
        model=MLP(hidden=(64,)),
        optimizer=SGD(lr=schedules.cosine(peak=lr, steps=steps)),
        steps=steps,
        batch_size=64,
        eval_every=max(1, steps // 40),
    )
    return grid(base, {"optimizer.momentum": momenta, "seed": range(seeds)})


def _bigram(vocab: int, context: int):
    """A random bigram language and a tiny transformer that reads it."""
    data = data_spec(
        "markov", vocab=vocab, context=context, n_train=2048, n_test=256, temperature=0.5
    )
    return data, Transformer(layers=2, width=64, heads=4, context=context)


def _bigram_lr(*, steps, peaks, seeds, warmup, vocab):
    data, model = _bigram(vocab, 32)
    base = RunSpec(
        data=data,
        model=model,
        optimizer=AdamW(lr=schedules.cosine(peak=peaks[0], steps=steps, warmup=warmup)),
        steps=steps,
        batch_size=32,
        eval_every=max(1, steps // 25),
    )
    return grid(base, {"optimizer.lr.peak": peaks, "seed": range(seeds)})


def _optimizers(*, steps, seeds, adamw_lr, lion_lr, muon_lr, warmup, vocab):
    data, model = _bigram(vocab, 32)

    def lr(peak: float):
        return schedules.cosine(peak=peak, steps=steps, warmup=warmup)

    optimizers = [
        AdamW(lr=lr(adamw_lr), weight_decay=0.01),
        Lion(lr=lr(lion_lr), weight_decay=0.1),
        Muon(lr=lr(muon_lr), adam_lr=lr(adamw_lr)),
    ]
    base = RunSpec(
        data=data, model=model, steps=steps, batch_size=32, eval_every=max(1, steps // 25)
    )
    return grid(base, {"optimizer": optimizers, "seed": range(seeds)})


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "lr-schedules",
            "constant vs cosine vs WSD vs linear decay on mnist1d (AdamW, MLP 100-100)",
            {
                "steps": Knob(2000, "optimizer steps", 10),
                # 1e-2: the best of 3e-3, 1e-2, 3e-2 for constant, cosine and WSD (linear: near it).
                # At 3e-3 the runs are LR-starved, far above their noise floor, and an early
                # decay only slows them: constant then beats cosine and linear.
                "peak_lr": Knob(1e-2, "peak learning rate", 0.0),
                "warmup": Knob(100, "warmup steps (every schedule)", 0),
                "decay": Knob(0.2, "WSD decay fraction", 0.0, 1.0),
                "seeds": Knob(3, "seeds per schedule", 1, 64),
                "batch_size": Knob(128, "batch size", 1),
                "hidden": Knob(100, "hidden width (two layers)", 1),
                "samples": Knob(20000, "mnist1d examples generated (80% train)", 100),
            },
            _lr_schedules,
            _schedule_name,
        ),
        Preset(
            "lr-sweep",
            "peak-LR sweep of a warmup+cosine AdamW schedule on mnist1d",
            {
                "steps": Knob(2000, "optimizer steps", 10),
                "peaks": Knob([3e-4, 1e-3, 3e-3, 1e-2, 3e-2], "peak learning rates", 0.0),
                "seeds": Knob(3, "seeds per peak", 1, 64),
                "warmup": Knob(100, "warmup steps", 0),
            },
            _lr_sweep,
        ),
        Preset(
            "sgd-momentum",
            "SGD momentum sweep (cosine LR) on sklearn digits",
            {
                "steps": Knob(600, "optimizer steps", 10),
                "lr": Knob(0.05, "peak learning rate", 0.0),
                "momenta": Knob([0.0, 0.5, 0.9, 0.99], "momentum values", 0.0, 1.0),
                "seeds": Knob(3, "seeds per momentum", 1, 64),
            },
            _sgd_momentum,
        ),
        Preset(
            "bigram-lr",
            "peak-LR sweep of a 2-layer transformer on a random bigram language (AdamW, cosine)",
            {
                "steps": Knob(400, "optimizer steps", 10),
                "peaks": Knob([1e-3, 3e-3, 1e-2], "peak learning rates", 0.0),
                "seeds": Knob(2, "seeds per peak", 1, 64),
                "warmup": Knob(40, "warmup steps", 0),
                "vocab": Knob(32, "tokens in the language", 2, 2048),
            },
            _bigram_lr,
        ),
        Preset(
            "optimizers",
            "AdamW vs Lion vs Muon on the bigram transformer, each at its usual learning rate",
            {
                "steps": Knob(400, "optimizer steps", 10),
                "seeds": Knob(2, "seeds per optimizer", 1, 64),
                "adamw_lr": Knob(3e-3, "AdamW peak LR (also Muon's AdamW part)", 0.0),
                "lion_lr": Knob(3e-4, "Lion peak LR (Lion wants 3-10x less than AdamW)", 0.0),
                "muon_lr": Knob(0.02, "Muon peak LR for the hidden matrices", 0.0),
                "warmup": Knob(40, "warmup steps", 0),
                "vocab": Knob(32, "tokens in the language", 2, 2048),
            },
            _optimizers,
        ),
    ]
}


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (ValueError listing the presets otherwise)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return PRESETS[name]
