"""Run specifications: what one run is, and how specs are named (sweeps over specs are in
:mod:`workbench.sweep`, re-exported here).

A :class:`RunSpec` is a frozen, hashable description of one run. Its :meth:`~RunSpec.key` (a
hash of its canonical JSON) keys the results cache; :func:`~workbench.sweep.grid` makes sweeps
by setting dotted paths such as ``"optimizer.lr.peak"``; :func:`~workbench.sweep.varying` finds
the fields that differ across a sweep (they become coordinates of the results).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import data as _data
from .models import MLP, MODELS, Transformer
from .optim import OPTIMIZERS, SGD, AdamW
from .penalty import Penalty
from .replay import Replay
from .schedules import Schedule, from_dict
from .slow import Slow
from .slow.checks import check_run
from .streams import TaskStream, as_stream, data_from_dict
from .sweep import flatten, grid, run_labels, set_path, varying
from .track import Track, bucket_structure

__all__ = ["RunSpec", "grid", "set_path", "flatten", "varying", "run_labels", "MODELS"]


def _check_int(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"RunSpec: {name}={value!r} must be an int >= {lo}")
    return value


@dataclass(frozen=True)
class RunSpec:
    """One training run.

    Parameters
    ----------
    data
        A dataset name (``"mnist1d"``, ``"digits"``, ``"gaussian"``, ``"modular"``,
        ``"markov"``, ``"features"``), a :class:`~workbench.data.DataSpec`, or a
        :class:`~workbench.streams.TaskStream` of datasets trained one after another.
    model
        The architecture, e.g. ``MLP(hidden=(100, 100))``.
    optimizer
        ``AdamW(...)`` or ``SGD(...)``; any hyperparameter may be a schedule.
    steps, batch_size
        Optimizer steps, and examples per step (at most the training-set size).
    seed
        Seeds the initialization and the data order of this run.
    eval_every
        Evaluate on the test set every this many steps (and at step 0 and at the end).
    replay
        A :class:`~workbench.replay.Replay` memory mixed into every batch, or ``None``.
    penalty
        A :class:`~workbench.penalty.Penalty` (L2 or EWC) toward the weights at the end of the
        last task, or ``None``.
    track
        A :class:`~workbench.track.Track`: parameter snapshots and sharpness recorded during
        training, or ``None``.
    slow
        A :class:`~workbench.slow.Slow`: Lookahead, EMA slow weights (evaluated beside the fast
        weights as copies) and a slow backbone, or ``None``.

    Examples
    --------
    >>> spec = RunSpec(data="digits", model=MLP(hidden=(32,)), optimizer=SGD(lr=0.05), steps=10)
    >>> spec.optimizer.lr
    0.05
    >>> len(spec.key())
    16
    >>> RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    True
    """

    data: _data.DataSpec | TaskStream | str = "mnist1d"  # dataset (name, DataSpec or stream)
    model: MLP | Transformer = MLP()  # architecture
    optimizer: AdamW | SGD = AdamW()  # optimizer and its (scheduled) hyperparameters
    steps: int = 1000  # optimizer steps
    batch_size: int = 128  # examples per step
    seed: int = 0  # init and data-order seed
    eval_every: int = 50  # test-set evaluation period in steps
    replay: Replay | None = None  # replay memory and ratio (None: no replay)
    penalty: Penalty | None = None  # L2/EWC pull toward the last task's weights (None: none)
    track: Track | None = None  # snapshots and sharpness during training (None: none)
    slow: Slow | None = None  # Lookahead, EMA copies, backbone LR ratio (None: none)

    def __post_init__(self) -> None:
        if isinstance(self.data, str):
            object.__setattr__(self, "data", _data.data_spec(self.data))
        if not isinstance(self.data, (_data.DataSpec, TaskStream)):
            raise ValueError(
                f"RunSpec: data={self.data!r} must be a dataset name, DataSpec or TaskStream"
            )
        if not isinstance(self.model, tuple(MODELS.values())):
            raise ValueError(f"RunSpec: model={self.model!r} must be one of {sorted(MODELS)}")
        if not isinstance(self.optimizer, tuple(OPTIMIZERS.values())):
            raise ValueError(
                f"RunSpec: optimizer={self.optimizer!r} must be one of {sorted(OPTIMIZERS)}"
            )
        _check_int("steps", self.steps, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("seed", self.seed, 0)
        _check_int("eval_every", self.eval_every, 1)
        if self.replay is not None and not isinstance(self.replay, Replay):
            raise ValueError(f"RunSpec: replay={self.replay!r} must be a Replay or None")
        if self.penalty is not None and not isinstance(self.penalty, Penalty):
            raise ValueError(f"RunSpec: penalty={self.penalty!r} must be a Penalty or None")
        if self.track is not None and not isinstance(self.track, Track):
            raise ValueError(f"RunSpec: track={self.track!r} must be a Track or None")
        if self.slow is not None and not isinstance(self.slow, Slow):
            raise ValueError(f"RunSpec: slow={self.slow!r} must be a Slow or None")

    # -- checks that need the dataset --------------------------------------------------------

    def validate(self) -> None:
        """Check everything that needs the dataset's sizes or the run length.

        Raises a ValueError naming the field, the value and what is allowed.
        """
        stream = as_stream(self.data)
        plain = not isinstance(self.data, TaskStream)
        for i, task in enumerate(stream.tasks):
            # a plain dataset is named as before; a stream's task says which task it is
            field = "data" if plain else f"data.tasks[{i}]"
            name = repr(task.name) if plain else f"{task.name!r} ({stream.names[i]!r})"
            info = _data.info(task)
            try:
                self.model.check_data(info)
            except ValueError as e:
                raise ValueError(f"RunSpec: {field}={name}: {e}") from None
            if self.batch_size > info["n_train"]:
                raise ValueError(
                    f"RunSpec: batch_size={self.batch_size} is larger than the training set of "
                    f"{name} ({info['n_train']} examples)"
                )
        if stream.starts[-1] >= self.steps:
            raise ValueError(
                f"RunSpec: data.starts={stream.starts} has task {stream.names[-1]!r} starting at "
                f"step {stream.starts[-1]}; every task must start before steps={self.steps}"
            )
        self.model.layout(*self.model.dims(info))
        for h in self.optimizer.hyperparameters:
            value = getattr(self.optimizer, h)
            if isinstance(value, Schedule) and "warmup" in value.fields:
                if value.warmup > self.steps:
                    raise ValueError(
                        f"RunSpec: optimizer.{h}.warmup={value.warmup} is longer than the run "
                        f"(steps={self.steps})"
                    )
        self.optimizer.tables(self.steps)
        if self.slow is not None:
            check_run(self)
        if self.replay is not None:
            self.replay.ratio_table(self.steps)
            if self.replay.policy == "class_balanced" and info["task"] != "classification":
                raise ValueError(
                    f"RunSpec: replay.policy='class_balanced' needs a classification task; "
                    f"{stream.tasks[0].name!r} is {info['task']!r} (use 'reservoir' or 'fifo')"
                )

    # -- serialisation -----------------------------------------------------------------------

    def to_dict(self) -> dict:
        """A JSON-serialisable dict; :meth:`from_dict` inverts it."""
        return {
            "data": self.data.to_dict(),
            "model": {"kind": type(self.model).__name__, **_fields_to_dict(self.model)},
            "optimizer": {"kind": type(self.optimizer).__name__, **_fields_to_dict(self.optimizer)},
            "steps": self.steps,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "eval_every": self.eval_every,
            # left out without replay, so specs (and cache keys) without it read as before
            **({"replay": self.replay.to_dict()} if self.replay is not None else {}),
            **({"penalty": self.penalty.to_dict()} if self.penalty is not None else {}),
            **({"track": self.track.to_dict()} if self.track is not None else {}),
            **({"slow": self.slow.to_dict()} if self.slow is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> RunSpec:
        d = dict(d)
        model = dict(d.pop("model"))
        model_cls = MODELS[model.pop("kind")]
        opt = dict(d.pop("optimizer"))
        opt_cls = OPTIMIZERS[opt.pop("kind")]
        if d.get("replay") is not None:
            d["replay"] = Replay.from_dict(d["replay"])
        if d.get("penalty") is not None:
            d["penalty"] = Penalty.from_dict(d["penalty"])
        if d.get("track") is not None:
            d["track"] = Track.from_dict(d["track"])
        if d.get("slow") is not None:
            d["slow"] = Slow.from_dict(d["slow"])
        return cls(
            data=data_from_dict(d.pop("data")),
            model=model_cls(**{k: _value_from_json(v) for k, v in model.items()}),
            optimizer=opt_cls(**{k: _value_from_json(v) for k, v in opt.items()}),
            **d,
        )

    def key(self) -> str:
        """A stable 16-hex-digit hash of the canonical JSON of this spec."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def bucket_key(self) -> tuple:
        """Specs with equal bucket keys train together in one lockstep bucket."""
        return (
            self.data,
            self.model,
            self.optimizer.structure(),
            self.steps,
            self.batch_size,
            self.eval_every,
            None if self.replay is None else self.replay.structure(),
            None if self.penalty is None else self.penalty.structure(),
            bucket_structure(self.track),
            None if self.slow is None else self.slow.structure(),
        )


def _value_to_json(v: Any) -> Any:
    if isinstance(v, Schedule):
        return v.to_dict()
    if isinstance(v, tuple):
        return list(v)
    return v


def _value_from_json(v: Any) -> Any:
    if isinstance(v, dict) and "kind" in v:
        return from_dict(v)
    if isinstance(v, list):
        return tuple(v)
    return v


def _fields_to_dict(obj) -> dict:
    # A field marked ``metadata={"omit_default": True}`` (a field added after specs were cached,
    # such as ``MLP.loss``) is left out at its default, so older specs keep their keys.
    return {
        f.name: _value_to_json(getattr(obj, f.name))
        for f in dataclasses.fields(obj)
        if not (f.metadata.get("omit_default") and getattr(obj, f.name) == f.default)
    }
