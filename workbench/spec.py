"""Run specifications: what one run is, how sweeps are made, and how specs are named.

A :class:`RunSpec` is a frozen, hashable description of one run. Its :meth:`~RunSpec.key` (a
hash of its canonical JSON) keys the results cache; :func:`grid` makes sweeps by setting dotted
paths such as ``"optimizer.lr.peak"``; :func:`varying` finds the fields that differ across a
sweep (they become coordinates of the results).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping
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


# -- paths and sweeps ------------------------------------------------------------------------


def _children(obj) -> tuple[str, ...]:
    if isinstance(obj, Schedule):
        return obj.fields
    if isinstance(obj, _data.DataSpec):
        return ("name", "seed", *(k for k, _ in obj.params))
    if dataclasses.is_dataclass(obj):
        return tuple(f.name for f in dataclasses.fields(obj))
    if isinstance(obj, tuple):
        return tuple(str(i) for i in range(len(obj)))
    return ()


def _get(obj, name: str):
    if isinstance(obj, tuple):
        return obj[int(name)]
    return getattr(obj, name)


def _replace(obj, name: str, value):
    if isinstance(obj, (Schedule, _data.DataSpec)):
        return obj.replace(**{name: value})
    if isinstance(obj, tuple):
        i = int(name)
        return obj[:i] + (value,) + obj[i + 1 :]
    return dataclasses.replace(obj, **{name: value})


def set_path(spec: RunSpec, path: str, value) -> RunSpec:
    """A copy of ``spec`` with the field at dotted ``path`` set to ``value``.

    Examples
    --------
    >>> from workbench import schedules
    >>> s = RunSpec(optimizer=AdamW(lr=schedules.cosine(peak=1e-3, steps=100)))
    >>> set_path(s, "optimizer.lr.peak", 3e-3).optimizer.lr.peak
    0.003
    >>> set_path(s, "optimizer.momentum", 0.9)
    Traceback (most recent call last):
    ...
    ValueError: set_path: 'optimizer.momentum': 'momentum' is not a field of AdamW; allowed: ...
    """
    parts = path.split(".")

    def go(obj, i: int, where: str):
        name = parts[i]
        allowed = _children(obj)
        if name not in allowed:
            what = type(obj).__name__
            if not allowed:
                raise ValueError(
                    f"set_path: {path!r}: {where} is {obj!r}, which has no field {name!r}"
                )
            raise ValueError(
                f"set_path: {path!r}: {name!r} is not a field of {what}; "
                f"allowed: {', '.join(allowed)}"
            )
        if i == len(parts) - 1:
            return _replace(obj, name, value)
        return _replace(obj, name, go(_get(obj, name), i + 1, f"{where}.{name}".lstrip(".")))

    if not path:
        raise ValueError("set_path: path must not be empty")
    return go(spec, 0, "")


def grid(base: RunSpec, axes: Mapping[str, Iterable]) -> list[RunSpec]:
    """The cartesian product of ``axes`` applied to ``base`` (first axis outermost).

    Examples
    --------
    >>> specs = grid(RunSpec(), {"optimizer.lr": [1e-3, 3e-3], "seed": range(3)})
    >>> len(specs), specs[4].optimizer.lr, specs[4].seed
    (6, 0.003, 1)

    A stream's tasks are reached by index (``data.tasks.1.distance``), its switch steps too:

    >>> from workbench.streams import sequence
    >>> s = RunSpec(data=sequence(["digits", "digits"], [0, 50]), steps=100)
    >>> [x.data.starts for x in grid(s, {"data.starts.1": [20, 60]})]
    [(0, 20), (0, 60)]
    """
    names = list(axes)
    values = [list(axes[n]) for n in names]
    for n, v in zip(names, values, strict=True):
        if not v:
            raise ValueError(f"grid: axis {n!r} has no values")
    out = []
    for combo in itertools.product(*values):
        spec = base
        for n, v in zip(names, combo, strict=True):
            spec = set_path(spec, n, v)
        out.append(spec)
    return out


def flatten(spec: RunSpec) -> dict[str, Any]:
    """Leaf fields of a spec as ``{dotted.path: value}`` (sequences become strings).

    Examples
    --------
    >>> flat = flatten(RunSpec())
    >>> flat["optimizer.kind"], flat["optimizer.lr"], flat["model.hidden"]
    ('AdamW', 0.001, '[100, 100]')
    """
    out: dict[str, Any] = {}

    def go(prefix: str, v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                go(f"{prefix}.{k}" if prefix else k, x)
        elif prefix in ("data.tasks", "slow.ema"):  # by the paths grid() takes
            for i, x in enumerate(v):
                go(f"{prefix}.{i}", x)
        elif isinstance(v, list):
            out[prefix] = json.dumps(v)
        else:
            out[prefix] = v

    go("", spec.to_dict())
    return out


def varying(specs: Iterable[RunSpec]) -> dict[str, list]:
    """The fields whose values differ across ``specs``: ``{path: [value per spec]}``.

    A field missing from some specs (a schedule argument where another run uses a constant)
    is ``None`` there.

    Examples
    --------
    >>> v = varying(grid(RunSpec(), {"seed": [0, 1]}))
    >>> v
    {'seed': [0, 1]}
    """
    flats = [flatten(s) for s in specs]
    keys: list[str] = []
    for f in flats:
        keys.extend(k for k in f if k not in keys)
    out = {}
    for k in keys:
        vals = [f.get(k) for f in flats]
        if any(v != vals[0] for v in vals[1:]):
            out[k] = vals
    return out


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def run_labels(specs: Iterable[RunSpec], *, exclude: Iterable[str] = ()) -> list[str]:
    """Short labels naming what differs between runs, e.g. ``"lr=cosine, seed=1"``.

    A schedule whose kind varies is named by its kind (plus any of its arguments that vary
    between runs of the same kind); other fields by their path without the top-level part.
    Fields in ``exclude`` (for example ``("seed",)`` to label groups of seeds) are left out,
    and so is ``track`` (what a run records does not change how it trains).

    Examples
    --------
    >>> from workbench import schedules
    >>> specs = grid(RunSpec(), {"optimizer.lr": [1e-3, schedules.cosine(peak=1e-3, steps=9)],
    ...                          "seed": [0, 1]})
    >>> run_labels(specs)[:3]
    ['lr=0.001, seed=0', 'lr=0.001, seed=1', 'lr=cosine, seed=0']
    >>> run_labels(specs, exclude=("seed",))[3]
    'lr=cosine'
    """
    specs = list(specs)
    vary = {
        k: v
        for k, v in varying(specs).items()
        if k not in set(exclude) and k.split(".")[0] != "track"
    }
    kinds = {k[: -len(".kind")] for k in vary if k.endswith(".kind")}
    # a unit inside another (Muon's adam_lr schedule inside a varying optimizer) is named by it
    kinds = {u for u in kinds if not any(u.startswith(o + ".") for o in kinds)}
    labels = []
    for i in range(len(specs)):
        parts: list[str] = []
        for unit in kinds:
            name = unit.split(".", 1)[-1]
            kind = vary[f"{unit}.kind"][i]
            if kind is None:  # a plain number where other runs have a schedule
                if vary.get(unit, [None] * len(specs))[i] is not None:
                    parts.append(f"{name}={_fmt(vary[unit][i])}")
                continue
            same = [j for j in range(len(specs)) if vary[f"{unit}.kind"][j] == kind]
            args = [
                f"{k[len(unit) + 1 :]}={_fmt(v[i])}"
                for k, v in vary.items()
                if k.startswith(unit + ".")
                and k != f"{unit}.kind"
                and v[i] is not None
                and not k.endswith(".kind")
                and len({repr(v[j]) for j in same}) > 1
            ]
            parts.append(f"{name}={kind}" + (f"({', '.join(args)})" if args else ""))
        for k, v in vary.items():
            if not any(k == u or k.startswith(u + ".") for u in kinds):
                name = k.split(".", 1)[-1] if "." in k else k
                parts.append(f"{name}={_fmt(v[i])}")
        labels.append(", ".join(parts) or "all runs")
    return labels
