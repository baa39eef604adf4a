"""Dataset keyword params with defaults and allowed ranges, and the registry entry type."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import TensorData
    from .spec import DataSpec


@dataclass(frozen=True)
class _Param:
    """One dataset keyword: its default, type and allowed range.

    ``kind`` is int, float, str, or tuple: a set of integers in ``[lo, hi]``, given as a list or
    tuple of distinct integers and kept sorted (so ``[1, 0]`` and ``(0, 1)`` are the same spec).
    """

    default: Any
    kind: type
    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False  # lo itself not allowed
    open_hi: bool = False  # hi itself not allowed
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        if self.kind is tuple:
            return f"a list of distinct integers >= {_fmt(self.lo or 0)}"
        if self.kind is str:
            return f"one of {list(self.choices)}"
        what = "an integer" if self.kind is int else "a number"
        if self.lo is not None and self.hi is not None:
            left, right = "(" if self.open_lo else "[", ")" if self.open_hi else "]"
            return f"{what} in {left}{_fmt(self.lo)}, {_fmt(self.hi)}{right}"
        if self.lo is not None:
            return f"{what} {'>' if self.open_lo else '>='} {_fmt(self.lo)}"
        return what

    def coerce(self, dataset: str, name: str, value: Any) -> Any:
        """Return ``value`` as this param's canonical Python type, or raise ValueError."""
        bad = ValueError(f"{dataset}: {name}={value!r} must be {self.allowed()}")
        if self.kind is tuple:
            if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
                raise bad
            lo = self.lo or 0
            if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in value):
                raise bad
            items = [int(v) for v in value]
            if any(v < lo for v in items) or len(set(items)) != len(items):
                raise bad
            return tuple(sorted(items))
        if self.kind is str:
            if not isinstance(value, str) or value not in self.choices:
                raise bad
            return value
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise bad
        if self.kind is int:
            if not isinstance(value, numbers.Integral):
                raise bad
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise bad
        if self.lo is not None and (value < self.lo or (self.open_lo and value == self.lo)):
            raise bad
        if self.hi is not None and (value > self.hi or (self.open_hi and value == self.hi)):
            raise bad
        return value


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _count(default: int, lo: int, hi: int | None = None) -> _Param:
    return _Param(default, int, lo=lo, hi=hi)


def _fraction(default: float, *, closed: bool = False) -> _Param:
    return _Param(default, float, lo=0.0, hi=1.0, open_lo=not closed, open_hi=not closed)


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: how to build it, its params and their defaults.

    Attributes
    ----------
    description : str
        One line saying what the dataset is.
    params : Mapping[str, _Param]
        The dataset's keyword params with defaults and allowed ranges.
    build : Callable[[DataSpec], TensorData]
        Generates the data for a validated spec.
    sizes : Callable[[DataSpec], dict]
        The cheap :func:`info` dict for a validated spec.
    check : Callable[[dict], None]
        Cross-param validation on the canonical params; raises ValueError.
    views : Mapping[str, _Param]
        The view params the dataset accepts (:mod:`workbench.data.views`): applied to the built
        dataset, and left out of a spec's params while at their defaults.
    """

    description: str
    params: Mapping[str, _Param]
    build: Callable[[DataSpec], TensorData]
    sizes: Callable[[DataSpec], dict]
    check: Callable[[dict], None] = lambda params: None
    views: Mapping[str, _Param] = dataclasses.field(default_factory=dict)

    @property
    def defaults(self) -> dict[str, Any]:
        """The default value of every param."""
        return {k: p.default for k, p in self.params.items()}
