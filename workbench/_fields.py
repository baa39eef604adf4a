"""What the spec dataclasses share when read back from JSON (``from_dict``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields

__all__ = ["check_keys"]


def check_keys(cls, d: Mapping) -> None:
    """Refuse a key of ``d`` that is not a field of the dataclass ``cls``, naming it and the
    fields allowed.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Pair:
    ...     a: int = 0
    ...     b: int = 0
    >>> check_keys(Pair, {"a": 1, "c": 2})
    Traceback (most recent call last):
    ...
    ValueError: Pair.from_dict: unknown key 'c'; allowed: a, b
    """
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - allowed)
    if unknown:
        names = ", ".join(sorted(allowed))
        raise ValueError(f"{cls.__name__}.from_dict: unknown key {unknown[0]!r}; allowed: {names}")
