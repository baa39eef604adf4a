"""Naming a dataset: :class:`DataSpec` and :func:`data_spec`, validated against ``DATASETS``."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import views as _views
from .params import DatasetEntry
from .registry import DATASETS


@dataclass(frozen=True)
class DataSpec:
    """Which dataset to build: a name, a data seed and the dataset's keyword params.

    Construction validates and canonicalises: ``params`` always holds every param of the dataset
    (defaults filled in) as ``(key, value)`` pairs sorted by key, so equal datasets have equal,
    hashable specs. View params (:mod:`workbench.data.views`: ``subset``, ``permute_seed``,
    ``permute_fraction``, ``rotate``) are held only when they differ from their defaults, so a
    spec without views reads (and hashes) as before. Params and views read as attributes
    (``spec.classes``, ``spec.subset``). Prefer :func:`data_spec`.

    Parameters
    ----------
    name : str
        A key of ``DATASETS``.
    seed : int
        The data seed (independent of any run seed); an integer >= 0.
    params : tuple of (str, object) pairs, or a mapping
        The dataset's keyword params; missing ones take their defaults.

    Examples
    --------
    >>> spec = DataSpec("gaussian", params={"classes": 3})
    >>> spec.classes, spec.dim
    (3, 20)
    >>> spec.replace(seed=1).seed
    1
    >>> DataSpec.from_dict(spec.to_dict()) == spec
    True
    """

    name: str  # "mnist1d" | "digits" | "gaussian" | "modular" | "markov" | "features"
    seed: int = 0  # the data seed, separate from the run seed
    params: tuple[tuple[str, Any], ...] = ()  # every dataset param, sorted by key

    def __post_init__(self) -> None:
        entry = _entry(self.name)
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
            raise ValueError(f"{self.name}: seed={self.seed!r} must be an integer >= 0")
        if self.seed < 0:
            raise ValueError(f"{self.name}: seed={self.seed!r} must be an integer >= 0")
        given = _param_dict(self.name, self.params)
        allowed = {**entry.params, **entry.views}
        unknown = sorted(set(given) - set(allowed))
        if unknown:
            key = unknown[0]
            if key in _views.VIEW_NAMES:
                having = sorted(n for n, e in DATASETS.items() if key in e.views)
                raise ValueError(
                    f"{self.name}: {key}={given[key]!r} is a view of {having} only; "
                    f"{self.name} allows: {sorted(allowed)}"
                )
            raise ValueError(f"{self.name}: unknown param {key!r}; allowed: {sorted(allowed)}")
        canon = {
            key: p.coerce(self.name, key, given.get(key, p.default))
            for key, p in sorted(entry.params.items())
        }
        entry.check(canon)
        # views at their defaults are left out, so specs without views keep their old form
        views = {
            key: p.coerce(self.name, key, given[key])
            for key, p in entry.views.items()
            if key in given
        }
        views = {key: v for key, v in views.items() if v != entry.views[key].default}
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "params", tuple(sorted({**canon, **views}.items())))
        if views:
            _views.check(self, entry.sizes(self)["n_classes"])

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails; private names (pickle, copy) must fail fast.
        if name.startswith("_") or name == "params":
            raise AttributeError(name)
        params = dict(object.__getattribute__(self, "params"))
        if name in params:
            return params[name]
        views = DATASETS[object.__getattribute__(self, "name")].views
        if name in views:
            return views[name].default
        raise AttributeError(
            f"{self.name}: DataSpec has no param {name!r}; allowed: {sorted({**params, **views})}"
        )

    def replace(self, **changes: Any) -> DataSpec:
        """Return a copy with ``name``, ``seed`` or params changed, validated again.

        Changing ``name`` starts from the new dataset's defaults (params of the old dataset do
        not carry over); ``params=...`` replaces all params at once.

        Examples
        --------
        >>> data_spec("gaussian").replace(classes=4, seed=2).to_dict()["classes"]
        4
        """
        name = changes.pop("name", self.name)
        seed = changes.pop("seed", self.seed)
        if "params" in changes:
            params = dict(changes.pop("params"))
        else:
            params = dict(self.params) if name == self.name else {}
        entry = _entry(name)
        allowed = sorted({**entry.params, **entry.views})
        for key in changes:
            if key not in allowed and key not in _views.VIEW_NAMES:  # views: named below
                raise ValueError(
                    f"{name}: unknown field {key!r}; allowed: {['name', 'seed', 'params']}"
                    f" + {allowed}"
                )
        return DataSpec(name, seed, tuple({**params, **changes}.items()))

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., "seed": ..., **params}``: plain, JSON-serialisable values."""
        return {"name": self.name, "seed": self.seed, **dict(self.params)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataSpec:
        """Inverse of :meth:`to_dict`; a missing ``seed`` means 0."""
        d = dict(d)
        if "name" not in d:
            raise ValueError(f"DataSpec.from_dict: d={d!r} has no 'name'")
        name = d.pop("name")
        seed = d.pop("seed", 0)
        return cls(name, seed, tuple(d.items()))


def data_spec(name: str, *, seed: int = 0, **params: Any) -> DataSpec:
    """Make a validated :class:`DataSpec`.

    Parameters
    ----------
    name : str
        A key of ``DATASETS``.
    seed : int
        The data seed (independent of the run seed).
    **params
        The dataset's params (see ``DATASETS[name].defaults``).

    Raises
    ------
    ValueError
        For an unknown dataset, an unknown param or a value out of range.

    Examples
    --------
    >>> data_spec("modular", p=7, op="mul").to_dict()
    {'name': 'modular', 'seed': 0, 'op': 'mul', 'p': 7, 'train_fraction': 0.3}
    """
    return DataSpec(name, seed, tuple(params.items()))


def _param_dict(name: str, params: Any) -> dict[str, Any]:
    if isinstance(params, Mapping):
        return dict(params)
    try:
        pairs = [(key, value) for key, value in params]
    except (TypeError, ValueError):
        pairs = None
    if pairs is None or not all(isinstance(key, str) for key, _ in pairs):
        raise ValueError(f"{name}: params={params!r} must be (name, value) pairs or a mapping")
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError(f"{name}: params={params!r} repeats a key")
    return dict(pairs)


def _entry(name: Any) -> DatasetEntry:
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"data: name={name!r} is not a dataset; allowed: {sorted(DATASETS)}")
    return DATASETS[name]


def _as_spec(spec: DataSpec | str, params: dict[str, Any]) -> DataSpec:
    if isinstance(spec, DataSpec):
        return spec.replace(**params) if params else spec
    if isinstance(spec, str):
        return data_spec(spec, **params)
    raise ValueError(f"data: spec={spec!r} must be a DataSpec or a dataset name")
