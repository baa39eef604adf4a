"""The :class:`Schedule` value, the registry of schedule kinds, and how schedules are evaluated.

Each factory module registers its factories with :func:`_register`; :func:`constant` lives here
because :func:`as_schedule` turns plain numbers into it.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from .checks import _count, _finite


class _Kind(NamedTuple):
    factory: Callable[..., Schedule]
    evaluate: Callable[..., torch.Tensor]  # (t: float64 tensor, clamped >= 0, **args) -> tensor
    fields: tuple[str, ...]  # the factory's parameter names, in signature order


# kind -> (factory, evaluation, fields); filled by @_register as the factories are defined.
_REGISTRY: dict[str, _Kind] = {}


@dataclass(frozen=True, repr=False)
class Schedule:
    """A hyperparameter as a pure function of the training step.

    Build schedules with the factories (:func:`cosine`, :func:`wsd`, ...), not directly.

    Parameters
    ----------
    kind : str
        Name of the factory that built the schedule, e.g. ``"cosine"``.
    args : tuple of (str, object)
        The factory's keyword arguments, in the factory's signature order. Numbers are plain
        Python ``int``/``float``; sequences are tuples; nested schedules are :class:`Schedule`.

    Examples
    --------
    >>> from workbench.schedules import cosine
    >>> s = cosine(peak=1.0, steps=10)
    >>> s.peak, s.fields
    (1.0, ('peak', 'steps', 'warmup', 'final'))
    >>> round(s(5), 4)
    0.5
    >>> s.replace(final=0.1)
    cosine(peak=1.0, steps=10, warmup=0, final=0.1)
    >>> s.to_dict()
    {'kind': 'cosine', 'peak': 1.0, 'steps': 10, 'warmup': 0, 'final': 0.0}
    """

    kind: str
    args: tuple[tuple[str, Any], ...]

    def __post_init__(self) -> None:
        if self.kind not in _REGISTRY:
            raise ValueError(
                f"Schedule: kind={self.kind!r} is not a schedule kind; allowed: {_kinds()}"
            )
        names = tuple(name for name, _ in self.args)
        if names != _REGISTRY[self.kind].fields:
            raise ValueError(
                f"Schedule: args of a {self.kind!r} schedule must be named "
                f"{_REGISTRY[self.kind].fields} in that order, got {names}"
            )

    def __call__(self, step: int | float | torch.Tensor) -> float | torch.Tensor:
        """Value at ``step`` (a number, or a tensor of steps evaluated elementwise)."""
        if isinstance(step, torch.Tensor):
            if step.dtype == torch.bool or step.is_complex():
                raise TypeError(
                    f"{self.kind}: steps must be an integer or floating tensor, got {step.dtype}"
                )
            return _evaluate(self, step.to(torch.float64))
        if isinstance(step, bool) or not isinstance(step, numbers.Real):
            raise TypeError(
                f"{self.kind}: step must be a real number or a tensor, got {type(step).__name__}"
            )
        return float(_evaluate(self, torch.tensor(float(step), dtype=torch.float64)))

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails. Dunder lookups (pickle, copy) and the dataclass
        # fields themselves must fail normally, or a half-built instance would recurse here.
        if name.startswith("__") or name in ("kind", "args"):
            raise AttributeError(name)
        for key, value in object.__getattribute__(self, "args"):
            if key == name:
                return value
        raise AttributeError(
            f"{self.kind}: schedule has no argument {name!r}; "
            f"its arguments are {', '.join(self.fields)}"
        )

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.fields))

    def __repr__(self) -> str:
        return f"{self.kind}({', '.join(f'{k}={v!r}' for k, v in self.args)})"

    @property
    def fields(self) -> tuple[str, ...]:
        """Names of the factory arguments, in signature order."""
        return tuple(name for name, _ in self.args)

    def replace(self, **changes: Any) -> Schedule:
        """Rebuild through the factory with some arguments changed (validation runs again).

        Examples
        --------
        >>> from workbench.schedules import wsd
        >>> wsd(peak=1.0, steps=100).replace(decay=0.1).decay
        0.1
        """
        unknown = sorted(set(changes) - set(self.fields))
        if unknown:
            raise ValueError(
                f"{self.kind}: cannot replace {', '.join(unknown)}; "
                f"allowed: {', '.join(self.fields)}"
            )
        return _REGISTRY[self.kind].factory(**{**dict(self.args), **changes})

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict ``{"kind": ..., **args}``; the inverse of :func:`from_dict`.

        Examples
        --------
        >>> from workbench.schedules import join
        >>> join([0.5, 1.0], [10]).to_dict()  # doctest: +NORMALIZE_WHITESPACE
        {'kind': 'join', 'schedules': [{'kind': 'constant', 'value': 0.5},
                                       {'kind': 'constant', 'value': 1.0}], 'boundaries': [10]}
        """
        return {"kind": self.kind, **{name: _jsonable(value) for name, value in self.args}}

    def table(self, steps: int, *, device: torch.device | str | None = None) -> torch.Tensor:
        """Values at steps ``0 .. steps-1`` as a float64 tensor of shape ``[steps]``.

        Examples
        --------
        >>> from workbench.schedules import linear
        >>> linear(start=1.0, end=0.0, steps=4).table(6)
        tensor([1.0000, 0.7500, 0.5000, 0.2500, 0.0000, 0.0000], dtype=torch.float64)
        """
        n = _count("table", "steps", steps, minimum=0)
        return _evaluate(self, torch.arange(n, dtype=torch.float64, device=device))


ScheduleLike = float | int | Schedule


def from_dict(d: dict[str, Any]) -> Schedule:
    """Rebuild a schedule from :meth:`Schedule.to_dict` output, through its factory.

    Parameters
    ----------
    d : dict
        ``{"kind": <factory name>, **factory_args}``; nested schedules as dicts.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> from_dict({"kind": "wsd", "peak": 0.1, "steps": 100})
    wsd(peak=0.1, steps=100, warmup=0, decay=0.2, shape='linear', final=0.0)
    """
    if not isinstance(d, dict) or "kind" not in d:
        raise ValueError(f"from_dict: expected a dict with a 'kind' key, got {d!r}")
    kind = d["kind"]
    if kind not in _REGISTRY:
        raise ValueError(f"from_dict: kind={kind!r} is not a schedule kind; allowed: {_kinds()}")
    fields = _REGISTRY[kind].fields
    args = {name: value for name, value in d.items() if name != "kind"}
    unknown = sorted(set(args) - set(fields))
    if unknown:
        raise ValueError(
            f"from_dict: {kind} has no argument(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(fields)}"
        )
    return _REGISTRY[kind].factory(**{name: _unjsonable(value) for name, value in args.items()})


def as_schedule(x: ScheduleLike) -> Schedule:
    """Return ``x`` if it is a schedule, else ``constant(value=x)``.

    Lets every hyperparameter be given as a plain number or as a schedule.

    Examples
    --------
    >>> as_schedule(3e-4)
    constant(value=0.0003)
    """
    if isinstance(x, Schedule):
        return x
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"as_schedule: expected a number or a Schedule, got {type(x).__name__}")
    return constant(value=x)


def table(x: ScheduleLike, steps: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Values of a number or schedule at steps ``0 .. steps-1``, as float64 ``[steps]``.

    Examples
    --------
    >>> table(0.5, 3)
    tensor([0.5000, 0.5000, 0.5000], dtype=torch.float64)
    """
    return as_schedule(x).table(steps, device=device)


# --------------------------------------------------------------------------- registration


def _register(evaluate: Callable[..., torch.Tensor]) -> Callable:
    def decorate(factory: Callable[..., Schedule]) -> Callable[..., Schedule]:
        fields = tuple(inspect.signature(factory).parameters)
        _REGISTRY[factory.__name__] = _Kind(factory, evaluate, fields)
        return factory

    return decorate


def _build(kind: str, **args: Any) -> Schedule:
    # Canonical order = signature order, so equal schedules have equal args and stable dicts.
    return Schedule(kind, tuple((name, args[name]) for name in _REGISTRY[kind].fields))


# --------------------------------------------------------------------------- constant
# It lives here, not with the other factories, because as_schedule builds it.


def _eval_constant(t: torch.Tensor, *, value: float) -> torch.Tensor:
    return torch.full_like(t, value)


# `value` may be given positionally: constant(0.1) reads naturally and as_schedule relies on it.
@_register(_eval_constant)
def constant(value: float) -> Schedule:
    """The same value at every step.

    Parameters
    ----------
    value : float
        Any finite number.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = constant(value=0.1)
    >>> s(0), s(10**6)
    (0.1, 0.1)
    """
    return _build("constant", value=_finite("constant", "value", value))


# --------------------------------------------------------------------------- evaluation helpers


def _evaluate(schedule: Schedule, t: torch.Tensor) -> torch.Tensor:
    """Evaluate on a float64 tensor of steps; negative steps are clamped to 0."""
    kind = _REGISTRY[schedule.kind]
    return kind.evaluate(t.clamp(min=0), **dict(schedule.args))


def _lerp(a: float, b: float, w: torch.Tensor) -> torch.Tensor:
    # Interpolating from whichever end is nearer makes w=0 give exactly a and w=1 exactly b,
    # so schedules hit their peak and final values exactly (a + (b - a) * 1 may not equal b).
    return torch.where(w < 0.5, a + (b - a) * w, b - (b - a) * (1 - w))


def _progress(t: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """Fraction of the way from step ``start`` to step ``end``, clamped to [0, 1]."""
    if end == start:  # a phase of length 0 is a step at `end`
        return (t >= end).to(torch.float64)
    return ((t - start) / (end - start)).clamp(0.0, 1.0)


def _cosine_weight(p: torch.Tensor) -> torch.Tensor:
    # Weight on the final value: 0 at p=0, exactly 1 at p=1 (cos(pi) rounds to -1 in float64).
    return 0.5 * (1.0 - torch.cos(math.pi * p))


def _with_warmup(t: torch.Tensor, after: torch.Tensor, *, peak: float, warmup: int) -> torch.Tensor:
    """Linear 0 -> peak on steps [0, warmup), then ``after``."""
    if warmup == 0:
        return after
    return torch.where(t < warmup, peak * (t / warmup), after)


# --------------------------------------------------------------------------- kind names and JSON


def _kinds() -> str:
    return ", ".join(sorted(_REGISTRY))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def _unjsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return from_dict(value)
    if isinstance(value, list | tuple):
        return [_unjsonable(v) for v in value]
    return value
