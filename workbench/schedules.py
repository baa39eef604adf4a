"""Hyperparameter schedules as pure, composable functions of the step.

A :class:`Schedule` is an immutable value: a factory name (``kind``) and the factory's keyword
arguments (``args``). Calling it with a step gives the hyperparameter at that step; nothing is
stateful, so the same schedule can be shared by every run of a sweep, hashed, compared, and
written to JSON and read back (:meth:`Schedule.to_dict`, :func:`from_dict`). Composite schedules
are joins of simple ones (:func:`join`), in the style of optax's ``join_schedules``.

Step semantics, shared by every factory:

- a schedule is defined for every step ``>= 0``; negative steps are clamped to 0 (they give the
  value at step 0) rather than extrapolated;
- beyond its ``steps`` (where it has one) a schedule holds its final value;
- values are computed with torch in float64: a Python ``int``/``float`` step gives a Python
  ``float``; a tensor of steps (any integer or floating dtype, any shape) gives a float64 tensor
  of the same shape on the same device. Scalar and tensor calls run the same code, so they agree
  exactly.

Examples
--------
>>> s = cosine(peak=1e-3, steps=1000, warmup=100)
>>> round(s(100), 6), round(s(1000), 6)
(0.001, 0.0)
>>> s.table(4)
tensor([0.0000e+00, 1.0000e-05, 2.0000e-05, 3.0000e-05], dtype=torch.float64)
>>> from_dict(s.to_dict()) == s
True
"""

from __future__ import annotations

import inspect
import itertools
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

__all__ = [
    "WSD_SHAPES",
    "Schedule",
    "ScheduleLike",
    "as_schedule",
    "constant",
    "cosine",
    "exponential",
    "from_dict",
    "inverse_sqrt",
    "join",
    "linear",
    "one_minus_sqrt",
    "piecewise",
    "step",
    "table",
    "warmup",
    "wsd",
]

WSD_SHAPES = ("linear", "cosine", "1-sqrt")  # decay shapes accepted by wsd(shape=...)


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
        >>> join([0.5, 1.0], [10]).to_dict()  # doctest: +NORMALIZE_WHITESPACE
        {'kind': 'join', 'schedules': [{'kind': 'constant', 'value': 0.5},
                                       {'kind': 'constant', 'value': 1.0}], 'boundaries': [10]}
        """
        return {"kind": self.kind, **{name: _jsonable(value) for name, value in self.args}}

    def table(self, steps: int, *, device: torch.device | str | None = None) -> torch.Tensor:
        """Values at steps ``0 .. steps-1`` as a float64 tensor of shape ``[steps]``.

        Examples
        --------
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


# --------------------------------------------------------------------------- factories


def _register(evaluate: Callable[..., torch.Tensor]) -> Callable:
    def decorate(factory: Callable[..., Schedule]) -> Callable[..., Schedule]:
        fields = tuple(inspect.signature(factory).parameters)
        _REGISTRY[factory.__name__] = _Kind(factory, evaluate, fields)
        return factory

    return decorate


def _build(kind: str, **args: Any) -> Schedule:
    # Canonical order = signature order, so equal schedules have equal args and stable dicts.
    return Schedule(kind, tuple((name, args[name]) for name in _REGISTRY[kind].fields))


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


def _eval_linear(t: torch.Tensor, *, start: float, end: float, steps: int) -> torch.Tensor:
    return _lerp(start, end, _progress(t, 0, steps))


@_register(_eval_linear)
def linear(*, start: float, end: float, steps: int) -> Schedule:
    """Linear from ``start`` at step 0 to ``end`` at step ``steps``, then ``end``.

    With ``end < start`` this is linear decay to a final value.

    Parameters
    ----------
    start, end : float
        Finite values at step 0 and at step ``steps`` (and after).
    steps : int
        Length of the ramp, ``>= 1``.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = linear(start=1.0, end=0.1, steps=10)
    >>> [round(s(t), 4) for t in (0, 5, 10, 20)]
    [1.0, 0.55, 0.1, 0.1]
    """
    return _build(
        "linear",
        start=_finite("linear", "start", start),
        end=_finite("linear", "end", end),
        steps=_count("linear", "steps", steps, minimum=1),
    )


def _eval_warmup(t: torch.Tensor, *, peak: float, steps: int, init: float) -> torch.Tensor:
    return _lerp(init, peak, _progress(t, 0, steps))


@_register(_eval_warmup)
def warmup(*, peak: float, steps: int, init: float = 0.0) -> Schedule:
    """Linear warmup from ``init`` at step 0 to ``peak`` at step ``steps``, then ``peak``.

    Same convention as optax ``linear_schedule``: ``peak`` is first reached at step ``steps``.

    Parameters
    ----------
    peak : float
        Value at step ``steps`` and after, ``>= 0``.
    steps : int
        Warmup length, ``>= 1``.
    init : float, default 0.0
        Value at step 0, ``>= 0``.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = warmup(peak=1.0, steps=4)
    >>> [round(s(t), 4) for t in (0, 1, 4, 9)]
    [0.0, 0.25, 1.0, 1.0]
    """
    return _build(
        "warmup",
        peak=_nonnegative("warmup", "peak", peak),
        steps=_count("warmup", "steps", steps, minimum=1),
        init=_nonnegative("warmup", "init", init),
    )


def _eval_cosine(
    t: torch.Tensor, *, peak: float, steps: int, warmup: int, final: float
) -> torch.Tensor:
    down = _lerp(peak, final, _cosine_weight(_progress(t, warmup, steps)))
    return _with_warmup(t, down, peak=peak, warmup=warmup)


@_register(_eval_cosine)
def cosine(*, peak: float, steps: int, warmup: int = 0, final: float = 0.0) -> Schedule:
    """Linear warmup, then half-cosine decay from ``peak`` to ``final`` (SGDR).

    Linear from 0 at step 0 to ``peak`` at step ``warmup``, then
    ``final + (peak - final) * (1 + cos(pi * p)) / 2`` with ``p = (t - warmup) / (steps - warmup)``,
    reaching ``final`` at step ``steps`` and holding it after. With ``warmup == steps`` there is
    no decay phase: the value drops to ``final`` at step ``steps``.

    Parameters
    ----------
    peak : float
        Value at the end of warmup, ``>= 0``.
    steps : int
        Step at which ``final`` is reached, ``>= 1``.
    warmup : int, default 0
        Number of warmup steps, ``0 <= warmup <= steps``; with 0, step 0 gives ``peak``.
    final : float, default 0.0
        Value at step ``steps`` and after, ``>= 0``.

    Returns
    -------
    Schedule

    References
    ----------
    Loshchilov & Hutter (2017), "SGDR: Stochastic gradient descent with warm restarts", ICLR.

    Examples
    --------
    >>> s = cosine(peak=1.0, steps=110, warmup=10, final=0.1)
    >>> [round(s(t), 4) for t in (0, 5, 10, 60, 110, 200)]
    [0.0, 0.5, 1.0, 0.55, 0.1, 0.1]
    """
    steps = _count("cosine", "steps", steps, minimum=1)
    return _build(
        "cosine",
        peak=_nonnegative("cosine", "peak", peak),
        steps=steps,
        warmup=_warmup_steps("cosine", warmup, steps),
        final=_nonnegative("cosine", "final", final),
    )


def _eval_one_minus_sqrt(t: torch.Tensor, *, peak: float, steps: int, final: float) -> torch.Tensor:
    return _lerp(peak, final, _progress(t, 0, steps).sqrt())


@_register(_eval_one_minus_sqrt)
def one_minus_sqrt(*, peak: float, steps: int, final: float = 0.0) -> Schedule:
    """Decay from ``peak`` to ``final`` with shape ``1 - sqrt(t / steps)``.

    ``final + (peak - final) * (1 - sqrt(t / steps))``; holds ``final`` after ``steps``. This is
    the cooldown shape Hägele et al. found best for WSD; see :func:`wsd` for the full schedule.

    Parameters
    ----------
    peak : float
        Value at step 0, ``>= 0``.
    steps : int
        Step at which ``final`` is reached, ``>= 1``.
    final : float, default 0.0
        Value at step ``steps`` and after, ``>= 0``.

    Returns
    -------
    Schedule

    References
    ----------
    Hägele et al. (2024), "Scaling laws and compute-optimal training beyond fixed training
    durations", NeurIPS.

    Examples
    --------
    >>> s = one_minus_sqrt(peak=1.0, steps=100)
    >>> [round(s(t), 4) for t in (0, 25, 100, 150)]
    [1.0, 0.5, 0.0, 0.0]
    """
    return _build(
        "one_minus_sqrt",
        peak=_nonnegative("one_minus_sqrt", "peak", peak),
        steps=_count("one_minus_sqrt", "steps", steps, minimum=1),
        final=_nonnegative("one_minus_sqrt", "final", final),
    )


def _eval_inverse_sqrt(
    t: torch.Tensor, *, peak: float, warmup: int, timescale: float | None
) -> torch.Tensor:
    tau = warmup if timescale is None else timescale
    # Clamped so the unused branch of the where() below stays finite before warmup.
    down = peak * torch.sqrt(tau / ((t - warmup).clamp(min=0) + tau))
    return _with_warmup(t, down, peak=peak, warmup=warmup)


@_register(_eval_inverse_sqrt)
def inverse_sqrt(*, peak: float, warmup: int, timescale: float | None = None) -> Schedule:
    """Linear warmup, then inverse-square-root decay (Transformer schedule).

    Linear from 0 at step 0 to ``peak`` at step ``warmup``, then
    ``peak * sqrt(timescale / (t - warmup + timescale))``. With the default
    ``timescale = warmup`` this is ``peak * sqrt(warmup / t)``, which is Vaswani et al.'s
    ``d_model**-0.5 * min(t**-0.5, t * warmup**-1.5)`` with ``peak = (d_model * warmup)**-0.5``.
    It has no end: it decays towards 0 forever.

    Parameters
    ----------
    peak : float
        Value at step ``warmup``, ``>= 0``.
    warmup : int
        Number of warmup steps, ``>= 0`` (``>= 1`` unless ``timescale`` is given).
    timescale : float, optional
        Decay timescale in steps, ``> 0``; defaults to ``warmup`` (stored as ``None``, so
        ``replace(warmup=...)`` moves it too).

    Returns
    -------
    Schedule

    References
    ----------
    Vaswani et al. (2017), "Attention is all you need", NeurIPS, Sec. 5.3.

    Examples
    --------
    >>> s = inverse_sqrt(peak=1.0, warmup=100)
    >>> [round(s(t), 4) for t in (0, 50, 100, 400, 10_000)]
    [0.0, 0.5, 1.0, 0.5, 0.1]
    """
    warmup = _count("inverse_sqrt", "warmup", warmup, minimum=0)
    if timescale is None:
        if warmup == 0:
            raise ValueError(
                "inverse_sqrt: timescale=None defaults to warmup, so warmup=0 needs an explicit "
                "timescale > 0"
            )
    else:
        timescale = _finite("inverse_sqrt", "timescale", timescale)
        if timescale <= 0:
            raise ValueError(f"inverse_sqrt: timescale={timescale} must be > 0")
    return _build(
        "inverse_sqrt",
        peak=_nonnegative("inverse_sqrt", "peak", peak),
        warmup=warmup,
        timescale=timescale,
    )


def _eval_exponential(
    t: torch.Tensor, *, init: float, rate: float, steps: int | None, final: float | None
) -> torch.Tensor:
    n = t if steps is None else t.clamp(max=steps)
    value = init * torch.pow(torch.tensor(rate, dtype=torch.float64, device=t.device), n)
    if final is not None and rate < 1:
        value = value.clamp(min=final)
    elif final is not None and rate > 1:
        value = value.clamp(max=final)
    return value


@_register(_eval_exponential)
def exponential(
    *, init: float, rate: float, steps: int | None = None, final: float | None = None
) -> Schedule:
    """Exponential schedule ``init * rate**t``, optionally stopped and clipped.

    Parameters
    ----------
    init : float
        Value at step 0, ``>= 0``.
    rate : float
        Factor per step, ``> 0``: ``< 1`` decays, ``> 1`` grows.
    steps : int, optional
        If given (``>= 1``), the value stops changing after step ``steps``, like every other
        schedule with a ``steps``. Note this differs from optax, whose ``transition_steps``
        divides the exponent.
    final : float, optional
        Bound on the value: a floor when ``rate < 1`` (then ``final <= init``), a ceiling when
        ``rate > 1`` (then ``final >= init``); ignored when ``rate == 1``.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = exponential(init=1.0, rate=0.5, final=0.1)
    >>> [round(s(t), 4) for t in (0, 1, 2, 3, 4, 100)]
    [1.0, 0.5, 0.25, 0.125, 0.1, 0.1]
    >>> round(exponential(init=1.0, rate=0.5, steps=2)(10), 4)
    0.25
    """
    init = _nonnegative("exponential", "init", init)
    rate = _finite("exponential", "rate", rate)
    if rate <= 0:
        raise ValueError(f"exponential: rate={rate} must be > 0")
    if steps is not None:
        steps = _count("exponential", "steps", steps, minimum=1)
    if final is not None:
        final = _nonnegative("exponential", "final", final)
        if rate < 1 and final > init:
            raise ValueError(
                f"exponential: final={final} must be <= init={init} when rate={rate} < 1"
            )
        if rate > 1 and final < init:
            raise ValueError(
                f"exponential: final={final} must be >= init={init} when rate={rate} > 1"
            )
    return _build("exponential", init=init, rate=rate, steps=steps, final=final)


def _eval_piecewise(
    t: torch.Tensor, *, boundaries: tuple[int, ...], values: tuple[float, ...]
) -> torch.Tensor:
    if not boundaries:
        return torch.full_like(t, values[0])
    edges = torch.tensor(boundaries, dtype=torch.float64, device=t.device)
    levels = torch.tensor(values, dtype=torch.float64, device=t.device)
    # right=True counts boundaries <= t, so a boundary step already has the new value.
    return levels[torch.bucketize(t, edges, right=True)]


@_register(_eval_piecewise)
def piecewise(*, boundaries: Sequence[int], values: Sequence[float]) -> Schedule:
    """Piecewise-constant schedule: ``values[i]`` on ``[boundaries[i-1], boundaries[i])``.

    Parameters
    ----------
    boundaries : sequence of int
        Strictly increasing steps ``>= 0`` at which the value changes.
    values : sequence of float
        Finite values, one more than ``boundaries``: ``values[0]`` before ``boundaries[0]``,
        ``values[-1]`` from ``boundaries[-1]`` on.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = piecewise(boundaries=[10, 20], values=[1.0, 0.5, 0.25])
    >>> [s(t) for t in (0, 9, 10, 19, 20, 99)]
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """
    boundaries = _boundaries("piecewise", boundaries)
    values = tuple(
        _finite("piecewise", f"values[{i}]", v)
        for i, v in enumerate(_sequence("piecewise", "values", values))
    )
    if len(values) != len(boundaries) + 1:
        raise ValueError(
            f"piecewise: values has {len(values)} entries; it needs len(boundaries) + 1 = "
            f"{len(boundaries) + 1}"
        )
    return _build("piecewise", boundaries=boundaries, values=values)


def _eval_step(
    t: torch.Tensor, *, init: float, boundaries: tuple[int, ...], factor: float
) -> torch.Tensor:
    values = tuple(init * factor**i for i in range(len(boundaries) + 1))
    return _eval_piecewise(t, boundaries=boundaries, values=values)


@_register(_eval_step)
def step(*, init: float, boundaries: Sequence[int], factor: float) -> Schedule:
    """Step decay: start at ``init`` and multiply by ``factor`` at each boundary.

    The classic schedule of ResNet training (e.g. ``factor=0.1`` at epochs 30, 60, 90); a
    :func:`piecewise` schedule whose values are ``init * factor**i``.

    Parameters
    ----------
    init : float
        Finite value before ``boundaries[0]``.
    boundaries : sequence of int
        Strictly increasing steps ``>= 0`` at which the value is multiplied by ``factor``.
    factor : float
        Finite multiplier, ``>= 0``.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = step(init=1.0, boundaries=[30, 60], factor=0.1)
    >>> [round(s(t), 4) for t in (0, 29, 30, 59, 60, 1000)]
    [1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
    """
    return _build(
        "step",
        init=_finite("step", "init", init),
        boundaries=_boundaries("step", boundaries),
        factor=_nonnegative("step", "factor", factor),
    )


def _eval_join(
    t: torch.Tensor, *, schedules: tuple[Schedule, ...], boundaries: tuple[int, ...]
) -> torch.Tensor:
    out = _evaluate(schedules[0], t)
    # Boundaries increase, so each later segment overwrites the earlier ones from its start on;
    # every segment sees steps relative to its own start (negative ones clamp to 0).
    for start, schedule in zip(boundaries, schedules[1:], strict=True):
        out = torch.where(t >= start, _evaluate(schedule, t - start), out)
    return out


# Positional-or-keyword like optax's join_schedules(schedules, boundaries).
@_register(_eval_join)
def join(schedules: Sequence[ScheduleLike], boundaries: Sequence[int]) -> Schedule:
    """Join schedules end to end, each seeing steps relative to its own start.

    ``schedules[i]`` is used on ``[boundaries[i-1], boundaries[i])`` and evaluated at
    ``step - boundaries[i-1]`` (``schedules[0]`` at ``step``), as in optax ``join_schedules``.

    Parameters
    ----------
    schedules : sequence of Schedule or float
        One more than ``boundaries``; numbers become :func:`constant` schedules.
    boundaries : sequence of int
        Strictly increasing steps ``>= 0`` at which the next schedule takes over.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = join([warmup(peak=1.0, steps=10), linear(start=1.0, end=0.0, steps=90)], [10])
    >>> [round(s(t), 4) for t in (0, 5, 10, 55, 100, 200)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """
    boundaries = _boundaries("join", boundaries)
    schedules = tuple(as_schedule(s) for s in _sequence("join", "schedules", schedules))
    if len(schedules) != len(boundaries) + 1:
        raise ValueError(
            f"join: schedules has {len(schedules)} entries; it needs len(boundaries) + 1 = "
            f"{len(boundaries) + 1}"
        )
    return _build("join", schedules=schedules, boundaries=boundaries)


_SHAPE_WEIGHTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda p: p,
    "cosine": lambda p: _cosine_weight(p),
    "1-sqrt": torch.sqrt,
}


def _eval_wsd(
    t: torch.Tensor,
    *,
    peak: float,
    steps: int,
    warmup: int,
    decay: float,
    shape: str,
    final: float,
) -> torch.Tensor:
    start = steps - round(decay * steps)
    # Before `start` the progress is 0, so this is also the stable phase.
    down = _lerp(peak, final, _SHAPE_WEIGHTS[shape](_progress(t, start, steps)))
    return _with_warmup(t, down, peak=peak, warmup=warmup)


@_register(_eval_wsd)
def wsd(
    *,
    peak: float,
    steps: int,
    warmup: int = 0,
    decay: float = 0.2,
    shape: str = "linear",
    final: float = 0.0,
) -> Schedule:
    """Warmup-Stable-Decay: linear warmup, constant ``peak``, then a short decay to ``final``.

    Linear from 0 at step 0 to ``peak`` at step ``warmup``; ``peak`` until the decay starts at
    step ``steps - round(decay * steps)`` (Python ``round``: ties go to even); then ``peak`` to
    ``final`` at step ``steps`` with the given shape; ``final`` after. With ``decay = 0`` the
    value drops to ``final`` at step ``steps``.

    Parameters
    ----------
    peak : float
        Value of the stable phase, ``>= 0``.
    steps : int
        Total length; ``final`` is reached at step ``steps``, ``>= 1``.
    warmup : int, default 0
        Number of warmup steps, ``>= 0``; ``warmup + round(decay * steps) <= steps``.
    decay : float, default 0.2
        Fraction of ``steps`` spent decaying, in ``[0, 1]``.
    shape : {"linear", "cosine", "1-sqrt"}, default "linear"
        Decay shape in terms of decay progress ``p``: ``1 - p``, ``(1 + cos(pi p)) / 2``,
        ``1 - sqrt(p)`` (Hägele et al. find "1-sqrt" best).
    final : float, default 0.0
        Value at step ``steps`` and after, ``>= 0``.

    Returns
    -------
    Schedule

    References
    ----------
    Wen et al. (2024), "Understanding warmup-stable-decay learning rates: a river valley loss
    landscape perspective". Hägele et al. (2024), "Scaling laws and compute-optimal training
    beyond fixed training durations", NeurIPS.

    Examples
    --------
    >>> s = wsd(peak=1.0, steps=100, warmup=10, decay=0.2)
    >>> [round(s(t), 4) for t in (0, 5, 10, 80, 90, 100, 150)]
    [0.0, 0.5, 1.0, 1.0, 0.5, 0.0, 0.0]
    >>> round(s.replace(shape="1-sqrt")(85), 4)
    0.5
    """
    steps = _count("wsd", "steps", steps, minimum=1)
    warmup = _warmup_steps("wsd", warmup, steps)
    decay = _fraction("wsd", "decay", decay)
    if shape not in WSD_SHAPES:
        raise ValueError(f"wsd: shape={shape!r} must be one of {', '.join(map(repr, WSD_SHAPES))}")
    decay_steps = round(decay * steps)
    if warmup + decay_steps > steps:
        raise ValueError(
            f"wsd: warmup={warmup} plus decay steps round(decay * steps)={decay_steps} must be "
            f"<= steps={steps}"
        )
    return _build(
        "wsd",
        peak=_nonnegative("wsd", "peak", peak),
        steps=steps,
        warmup=warmup,
        decay=decay,
        shape=shape,
        final=_nonnegative("wsd", "final", final),
    )


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


# --------------------------------------------------------------------------- validation helpers


def _kinds() -> str:
    return ", ".join(sorted(_REGISTRY))


def _finite(fn: str, name: str, x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{fn}: {name}={x!r} must be a real number, got {type(x).__name__}")
    x = float(x)  # also turns numpy scalars into Python floats
    if not math.isfinite(x):
        raise ValueError(f"{fn}: {name}={x} must be finite")
    return x


def _nonnegative(fn: str, name: str, x: Any) -> float:
    x = _finite(fn, name, x)
    if x < 0:
        raise ValueError(f"{fn}: {name}={x} must be >= 0")
    return x


def _fraction(fn: str, name: str, x: Any) -> float:
    x = _finite(fn, name, x)
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"{fn}: {name}={x} must be in [0, 1]")
    return x


def _count(fn: str, name: str, x: Any, *, minimum: int) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{fn}: {name}={x!r} must be an integer, got {type(x).__name__}")
    # Integral floats are accepted: configs often say steps=1e4.
    if isinstance(x, numbers.Integral):
        n = int(x)
    elif math.isfinite(x) and float(x).is_integer():
        n = int(x)
    else:
        raise ValueError(f"{fn}: {name}={x} must be an integer >= {minimum}")
    if n < minimum:
        raise ValueError(f"{fn}: {name}={n} must be an integer >= {minimum}")
    return n


def _warmup_steps(fn: str, warmup: Any, steps: int) -> int:
    warmup = _count(fn, "warmup", warmup, minimum=0)
    if warmup > steps:
        raise ValueError(f"{fn}: warmup={warmup} must be <= steps={steps}")
    return warmup


def _sequence(fn: str, name: str, x: Any) -> tuple:
    if isinstance(x, str | bytes) or not isinstance(x, Sequence):
        # torch/numpy arrays are not Sequences but iterate fine; accept 1-D ones.
        if isinstance(x, torch.Tensor) or hasattr(x, "__array__"):
            return tuple(x.tolist())
        raise TypeError(f"{fn}: {name} must be a sequence, got {type(x).__name__}")
    return tuple(x)


def _boundaries(fn: str, boundaries: Any) -> tuple[int, ...]:
    out = tuple(
        _count(fn, f"boundaries[{i}]", b, minimum=0)
        for i, b in enumerate(_sequence(fn, "boundaries", boundaries))
    )
    if any(b >= c for b, c in itertools.pairwise(out)):
        raise ValueError(f"{fn}: boundaries={list(out)} must be strictly increasing")
    return out


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
