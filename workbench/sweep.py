"""Sweeps over run specs: dotted paths into a spec, grids of specs, and the fields that vary.

:func:`set_path` sets one field of a :class:`~workbench.spec.RunSpec` by a dotted path such as
``"optimizer.lr.peak"`` or ``"data.tasks.1.distance"``; :func:`grid` makes a sweep as the
cartesian product of such paths; :func:`flatten` reads a spec back as ``{path: value}``, and
:func:`varying` finds the fields that differ across a sweep (they become coordinates of the
results), which :func:`run_labels` turns into short labels naming each run.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import data as _data
from .schedules import Schedule

if TYPE_CHECKING:
    from .spec import RunSpec

__all__ = ["set_path", "grid", "flatten", "varying", "run_labels"]


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
    >>> from workbench import AdamW, RunSpec, schedules
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
    >>> from workbench import RunSpec
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
    >>> from workbench import RunSpec
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
    >>> from workbench import RunSpec
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
    >>> from workbench import RunSpec, schedules
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
