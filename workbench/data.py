"""Offline datasets as torch tensors, deterministic given a data seed.

A dataset is named by a :class:`DataSpec` (dataset name, data seed, keyword params) and built by
:func:`load` into a :class:`TensorData` of CPU tensors: float32 inputs and int64 labels for
classification, int64 tokens for token data. :func:`info` gives the sizes without generating data,
to validate specs before training. ``DATASETS[name].defaults`` lists each dataset's params.

Datasets
--------
mnist1d
    MNIST-1D (Greydanus & Kobak, 2020, arXiv:2011.14439): 40-sample signals of 10 digit templates,
    made by the ``mnist1d`` package's generator (never its downloader) with package seed
    ``42 + seed``, so the default ``seed=0`` gives the package's default 4000/1000 split.
    ``num_samples`` is rounded down to a multiple of 10; the first ``int(n * train_split)``
    samples train. Features are kept as the package scales them (cast to float32). The arrays are
    cached in ``$WORKBENCH_DATA_DIR`` (default ``~/.cache/workbench/data``), written atomically;
    an unreadable or mismatched cache file is regenerated.
digits
    scikit-learn's bundled 1797 8x8 digit images, flattened to 64 features ``pixel / 16`` in
    [0, 1]; a seeded permutation puts ``round(1797 * test_fraction)`` images in the test set.
gaussian
    ``classes`` prototypes ``mu_k ~ N(0, I_dim)`` and points ``x = (1 - overlap) * mu_y + s * e``
    with ``e ~ N(0, I)`` and balanced labels. The noise std ``s`` is 1/8 of the distance between
    the closest two prototypes, so at ``overlap=0`` the closest pair is 8 noise stds apart
    (pairwise Bayes error ``Phi(-4)``, about 3e-5), in general ``8 * (1 - overlap)`` stds, and at
    ``overlap=1`` all classes are the same Gaussian (chance accuracy). The prototypes and noise
    draws do not depend on ``overlap``, so a sweep over it only moves the centres.
modular
    Modular arithmetic for grokking (Power et al., 2022, arXiv:2201.02177): every pair
    ``(a, b)`` in ``[0, p)^2`` (``b != 0`` for ``div``, which needs a prime ``p``) with label
    ``a op b mod p``; a seeded permutation puts ``int(n * train_fraction)`` pairs in training.
    ``x`` holds int64 tokens ``[n, 2]``, so a model must embed them; an MLP can use
    :func:`one_hot_pairs`. ``meta`` says ``input="tokens"`` and ``vocab=p``.
markov
    A random bigram "language" over ``vocab`` tokens: transition logits
    ``(1 - distance) * base(seed) + distance * variant(seed, variant)`` with independent standard
    normal ``base`` and ``variant`` matrices, divided by ``temperature`` and softmaxed per row.
    Languages with equal ``seed`` and ``distance=0`` are identical whatever ``variant``; at
    ``distance=1`` each variant is an unrelated language. (The mix has logit std
    ``sqrt((1 - d)^2 + d^2)``, so mid-way languages are a little flatter.) Sequences of
    ``context + 1`` tokens start from the stationary distribution; ``x = seq[:, :-1]`` and
    ``y = seq[:, 1:]``. Each variant draws its own sequences. ``meta`` holds the float64
    ``transition`` matrix, the ``stationary`` distribution and the ``entropy_rate`` in nats: the
    expected next-token loss of the true model, the best any model can do.

Every generator uses its own ``numpy.random.Generator`` seeded from (seed, purpose), so changing
one size never shifts another part's draws. The MNIST-1D package seeds and draws from numpy's and
Python's global RNGs; :func:`load` saves and restores both around it, so loading never changes
global RNG state. Within a process :func:`load` memoises results by spec: treat the returned
tensors and ``meta`` as read-only.

Examples
--------
>>> spec = data_spec("markov", vocab=4, context=8, n_train=3, n_test=1)
>>> info(spec)["input_dim"], load(spec).x_train.shape
(8, torch.Size([3, 8]))
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import numbers
import os
import random
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "DATASETS",
    "DataSpec",
    "DatasetEntry",
    "TensorData",
    "clear_memo",
    "data_spec",
    "info",
    "load",
    "one_hot_pairs",
]

# ----------------------------------------------------------------------------- params


@dataclass(frozen=True)
class _Param:
    """One dataset keyword: its default, type and allowed range (``kind`` is int, float or str)."""

    default: Any
    kind: type
    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False  # lo itself not allowed
    open_hi: bool = False  # hi itself not allowed
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
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
    """

    description: str
    params: Mapping[str, _Param]
    build: Callable[[DataSpec], TensorData]
    sizes: Callable[[DataSpec], dict]
    check: Callable[[dict], None] = lambda params: None

    @property
    def defaults(self) -> dict[str, Any]:
        """The default value of every param."""
        return {k: p.default for k, p in self.params.items()}


# ----------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class DataSpec:
    """Which dataset to build: a name, a data seed and the dataset's keyword params.

    Construction validates and canonicalises: ``params`` always holds every param of the dataset
    (defaults filled in) as ``(key, value)`` pairs sorted by key, so equal datasets have equal,
    hashable specs. Params read as attributes (``spec.classes``). Prefer :func:`data_spec`.

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

    name: str  # "mnist1d" | "digits" | "gaussian" | "modular" | "markov"
    seed: int = 0  # the data seed, separate from the run seed
    params: tuple[tuple[str, Any], ...] = ()  # every dataset param, sorted by key

    def __post_init__(self) -> None:
        entry = _entry(self.name)
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
            raise ValueError(f"{self.name}: seed={self.seed!r} must be an integer >= 0")
        if self.seed < 0:
            raise ValueError(f"{self.name}: seed={self.seed!r} must be an integer >= 0")
        given = _param_dict(self.name, self.params)
        unknown = sorted(set(given) - set(entry.params))
        if unknown:
            raise ValueError(
                f"{self.name}: unknown param {unknown[0]!r}; allowed: {sorted(entry.params)}"
            )
        canon = {
            key: p.coerce(self.name, key, given.get(key, p.default))
            for key, p in sorted(entry.params.items())
        }
        entry.check(canon)
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "params", tuple(canon.items()))

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails; private names (pickle, copy) must fail fast.
        if name.startswith("_") or name == "params":
            raise AttributeError(name)
        params = dict(object.__getattribute__(self, "params"))
        if name in params:
            return params[name]
        raise AttributeError(
            f"{self.name}: DataSpec has no param {name!r}; allowed: {sorted(params)}"
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
        allowed = sorted(_entry(name).params)
        for key in changes:
            if key not in allowed:
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


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True, eq=False, repr=False)
class TensorData:
    """A train/test split as CPU tensors.

    Attributes
    ----------
    x_train, x_test : torch.Tensor
        Classification: ``[n, *input_shape]`` float32 features (int64 tokens ``[n, 2]`` for
        ``modular``). Tokens: int64 ``[n, T]``.
    y_train, y_test : torch.Tensor
        Classification: int64 labels ``[n]``. Tokens: int64 next-token targets ``[n, T]``.
    n_classes : int
        Number of classes, or the vocabulary size for token data.
    task : str
        ``"classification"`` or ``"tokens"``.
    name : str
        The dataset name.
    meta : dict
        Dataset-specific extras (prototypes, transition matrix, modulus, ...).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    task: str
    name: str
    meta: dict = dataclasses.field(default_factory=dict)

    @property
    def input_dim(self) -> int:
        """Flattened feature size (classification) or context length (tokens)."""
        if self.task == "tokens":
            return int(self.x_train.shape[1])
        return math.prod(self.x_train.shape[1:])

    @property
    def n_train(self) -> int:
        """Number of training examples (sequences for token data)."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test examples (sequences for token data)."""
        return int(self.x_test.shape[0])

    def __repr__(self) -> str:
        return (
            f"TensorData(name={self.name!r}, task={self.task!r}, n_train={self.n_train}, "
            f"n_test={self.n_test}, x={tuple(self.x_train.shape[1:])} {self.x_train.dtype}, "
            f"n_classes={self.n_classes})"
        )


def load(spec: DataSpec | str, **params: Any) -> TensorData:
    """Build a dataset, or return it from the in-process memo (and, for mnist1d, the disk cache).

    Parameters
    ----------
    spec : DataSpec or str
        A spec, or a dataset name made into one with ``params``.
    **params
        Params (and ``seed``) for a name, or changes applied to a spec with
        :meth:`DataSpec.replace`.

    Returns
    -------
    TensorData
        The same object for equal specs within a process; do not modify it in place.

    Examples
    --------
    >>> data = load("gaussian", classes=3, dim=2, n_train=30, n_test=9)
    >>> data.x_train.shape, data.y_train.dtype, data.n_classes
    (torch.Size([30, 2]), torch.int64, 3)
    >>> load(data_spec("gaussian", classes=3, dim=2, n_train=30, n_test=9)) is data
    True
    """
    return _load_memo(_as_spec(spec, params))


@functools.lru_cache(maxsize=32)
def _load_memo(spec: DataSpec) -> TensorData:
    return DATASETS[spec.name].build(spec)


def clear_memo() -> None:
    """Forget the in-process results of :func:`load` (the mnist1d disk cache stays).

    Examples
    --------
    >>> clear_memo()
    """
    _load_memo.cache_clear()


def info(spec: DataSpec | str, **params: Any) -> dict[str, Any]:
    """Sizes of a dataset, computed without generating it.

    Parameters
    ----------
    spec : DataSpec or str
        As for :func:`load`.
    **params
        As for :func:`load`.

    Returns
    -------
    dict
        ``n_train``, ``n_test``, ``input_dim``, ``n_classes`` and ``task``, equal to the
        corresponding attributes of ``load(spec)``.

    Examples
    --------
    >>> info("markov", vocab=8, context=16)
    {'n_train': 2000, 'n_test': 200, 'input_dim': 16, 'n_classes': 8, 'task': 'tokens'}
    """
    spec = _as_spec(spec, params)
    return DATASETS[spec.name].sizes(spec)


def _sizes(n_train: int, n_test: int, input_dim: int, n_classes: int, task: str) -> dict:
    return {
        "n_train": n_train,
        "n_test": n_test,
        "input_dim": input_dim,
        "n_classes": n_classes,
        "task": task,
    }


def _rng(seed: int, *keys: int) -> np.random.Generator:
    """An independent stream per (seed, purpose) so one param never shifts another's draws."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def _split_count(n: int, fraction: float) -> int:
    return int(n * fraction)


# ----------------------------------------------------------------------------- mnist1d

_MNIST1D_SEED_OFFSET = 42  # the package's default seed: DataSpec seed 0 gives its default data
_MNIST1D_CLASSES = 10
_MNIST1D_LENGTH = 40
_CACHE_FORMAT = 1  # bump when the cached arrays change meaning
_global_rng_lock = threading.Lock()


def _mnist1d_n(spec: DataSpec) -> tuple[int, int]:
    n = (spec.num_samples // _MNIST1D_CLASSES) * _MNIST1D_CLASSES  # the package's per-class count
    n_train = _split_count(n, spec.train_split)
    return n_train, n - n_train


def _check_mnist1d(params: dict) -> None:
    n = (params["num_samples"] // _MNIST1D_CLASSES) * _MNIST1D_CLASSES
    n_train = _split_count(n, params["train_split"])
    if not 1 <= n_train < n:
        raise ValueError(
            f"mnist1d: train_split={params['train_split']} with num_samples="
            f"{params['num_samples']} gives {n_train} of {n} for training; both splits need "
            "at least one example"
        )


def _mnist1d_sizes(spec: DataSpec) -> dict:
    n_train, n_test = _mnist1d_n(spec)
    return _sizes(n_train, n_test, _MNIST1D_LENGTH, _MNIST1D_CLASSES, "classification")


def _generate_mnist1d(*, num_samples: int, train_split: float, seed: int) -> dict[str, np.ndarray]:
    """Run the MNIST-1D generator; numpy's and Python's global RNG states are put back after."""
    from mnist1d.data import get_dataset_args, make_dataset  # slow import (matplotlib)

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, train_split, seed
    with _global_rng_lock:
        # make_dataset seeds and draws from the global RNGs: put them back as they were
        np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
        try:
            raw = make_dataset(args)
        finally:
            np.random.set_state(np_state)  # noqa: NPY002
            random.setstate(py_state)
    return {
        "x_train": raw["x"].astype(np.float32),
        "y_train": raw["y"].astype(np.int64),
        "x_test": raw["x_test"].astype(np.float32),
        "y_test": raw["y_test"].astype(np.int64),
    }


def _cache_dir() -> Path:
    return Path(os.environ.get("WORKBENCH_DATA_DIR") or Path.home() / ".cache/workbench/data")


def _mnist1d_key(spec: DataSpec) -> str:
    from importlib.metadata import version

    return json.dumps(
        {
            "format": _CACHE_FORMAT,
            "mnist1d": version("mnist1d"),
            "num_samples": spec.num_samples,
            "train_split": spec.train_split,
            "seed": spec.seed + _MNIST1D_SEED_OFFSET,
        },
        sort_keys=True,
    )


def _read_cache(path: Path, key: str, n_train: int, n_test: int) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is missing, unreadable or not for this key."""
    shapes = {
        "x_train": ((n_train, _MNIST1D_LENGTH), np.float32),
        "y_train": ((n_train,), np.int64),
        "x_test": ((n_test, _MNIST1D_LENGTH), np.float32),
        "y_test": ((n_test,), np.int64),
    }
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["key"]) != key:
                return None
            arrays = {k: f[k] for k in shapes}
    except Exception:  # missing, truncated or garbage: any failure means "regenerate"
        return None
    for k, (shape, dtype) in shapes.items():
        if arrays[k].shape != shape or arrays[k].dtype != dtype:
            return None
    return arrays


def _write_cache(path: Path, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically: a temp file in the same folder, then ``os.replace``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    except OSError:
        return  # an unwritable cache only costs regeneration next time
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, key=np.array(key), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        pass
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _build_mnist1d(spec: DataSpec) -> TensorData:
    key = _mnist1d_key(spec)
    path = _cache_dir() / f"mnist1d-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    arrays = _read_cache(path, key, *_mnist1d_n(spec))
    if arrays is None:
        arrays = _generate_mnist1d(
            num_samples=spec.num_samples,
            train_split=spec.train_split,
            seed=spec.seed + _MNIST1D_SEED_OFFSET,
        )
        _write_cache(path, key, arrays)
    return TensorData(
        **{k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()},
        n_classes=_MNIST1D_CLASSES,
        task="classification",
        name="mnist1d",
        meta={"generator_seed": spec.seed + _MNIST1D_SEED_OFFSET, "cache_file": str(path)},
    )


# ----------------------------------------------------------------------------- digits

_DIGITS_N = 1797  # images in sklearn.datasets.load_digits


def _digits_n_test(test_fraction: float) -> int:
    return int(round(_DIGITS_N * test_fraction))


def _check_digits(params: dict) -> None:
    n_test = _digits_n_test(params["test_fraction"])
    if not 1 <= n_test < _DIGITS_N:
        raise ValueError(
            f"digits: test_fraction={params['test_fraction']} gives {n_test} of {_DIGITS_N} "
            "test images; both splits need at least one"
        )


def _digits_sizes(spec: DataSpec) -> dict:
    n_test = _digits_n_test(spec.test_fraction)
    return _sizes(_DIGITS_N - n_test, n_test, 64, 10, "classification")


def _build_digits(spec: DataSpec) -> TensorData:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)  # (1797, 64), pixel counts 0..16 -> [0, 1]
    y = bunch.target.astype(np.int64)
    perm = _rng(spec.seed, 1).permutation(len(y))
    n_test = _digits_n_test(spec.test_fraction)
    train, test = perm[n_test:], perm[:n_test]
    return TensorData(
        x_train=torch.from_numpy(x[train]),
        y_train=torch.from_numpy(y[train]),
        x_test=torch.from_numpy(x[test]),
        y_test=torch.from_numpy(y[test]),
        n_classes=10,
        task="classification",
        name="digits",
        meta={"image_shape": (8, 8)},
    )


# ----------------------------------------------------------------------------- gaussian

_GAUSSIAN_SEPARATION = 8.0  # closest prototype pair distance / noise std, at overlap=0


def _gaussian_sizes(spec: DataSpec) -> dict:
    return _sizes(spec.n_train, spec.n_test, spec.dim, spec.classes, "classification")


def _gaussian_draw(rng: np.random.Generator, n: int, protos: np.ndarray, noise: float):
    y = rng.permutation(np.arange(n) % len(protos))  # balanced classes, shuffled
    x = protos[y] + noise * rng.standard_normal((n, protos.shape[1]))
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))


def _build_gaussian(spec: DataSpec) -> TensorData:
    protos = _rng(spec.seed, 1).standard_normal((spec.classes, spec.dim))  # (K, D)
    sq = (protos**2).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2 * protos @ protos.T  # (K, K) squared distances
    np.fill_diagonal(d2, np.inf)
    noise = math.sqrt(max(float(d2.min()), 0.0)) / _GAUSSIAN_SEPARATION
    centres = (1.0 - spec.overlap) * protos
    x_train, y_train = _gaussian_draw(_rng(spec.seed, 2), spec.n_train, centres, noise)
    x_test, y_test = _gaussian_draw(_rng(spec.seed, 3), spec.n_test, centres, noise)
    return TensorData(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        n_classes=spec.classes,
        task="classification",
        name="gaussian",
        meta={
            "prototypes": torch.from_numpy(centres.astype(np.float32)),
            "noise_std": noise,
            "separation": _GAUSSIAN_SEPARATION * (1.0 - spec.overlap),
        },
    )


# ----------------------------------------------------------------------------- modular

_MODULAR_OPS = ("add", "sub", "mul", "div")


def _is_prime(p: int) -> bool:
    return p >= 2 and all(p % k for k in range(2, math.isqrt(p) + 1))


def _modular_n(params: Mapping[str, Any]) -> tuple[int, int]:
    p = params["p"]
    n = p * (p - 1) if params["op"] == "div" else p * p  # div excludes b = 0
    n_train = _split_count(n, params["train_fraction"])
    return n_train, n - n_train


def _check_modular(params: dict) -> None:
    if params["op"] == "div" and not _is_prime(params["p"]):
        raise ValueError(f"modular: p={params['p']} must be prime for op='div'")
    n_train, n_test = _modular_n(params)
    if n_train < 1 or n_test < 1:
        raise ValueError(
            f"modular: train_fraction={params['train_fraction']} with p={params['p']} gives "
            f"{n_train} train and {n_test} test pairs; both need at least one"
        )


def _modular_sizes(spec: DataSpec) -> dict:
    n_train, n_test = _modular_n(dict(spec.params))
    return _sizes(n_train, n_test, 2, spec.p, "classification")


def _build_modular(spec: DataSpec) -> TensorData:
    p, op = spec.p, spec.op
    a, b = (g.ravel() for g in np.meshgrid(np.arange(p), np.arange(p), indexing="ij"))
    if op == "div":
        a, b = a[b != 0], b[b != 0]
    if op == "add":
        y = (a + b) % p
    elif op == "sub":
        y = (a - b) % p
    elif op == "mul":
        y = (a * b) % p
    else:  # a / b = a * b^(p-2) mod p for prime p (Fermat's little theorem)
        inverse = np.array([0] + [pow(int(k), p - 2, p) for k in range(1, p)])
        y = (a * inverse[b]) % p
    x = np.stack([a, b], axis=1).astype(np.int64)  # (n, 2) tokens (a, b)
    perm = _rng(spec.seed, 1).permutation(len(y))
    n_train, _ = _modular_n(dict(spec.params))
    train, test = perm[:n_train], perm[n_train:]
    y = y.astype(np.int64)
    return TensorData(
        x_train=torch.from_numpy(x[train]),
        y_train=torch.from_numpy(y[train]),
        x_test=torch.from_numpy(x[test]),
        y_test=torch.from_numpy(y[test]),
        n_classes=p,
        task="classification",
        name="modular",
        meta={"p": p, "op": op, "input": "tokens", "vocab": p},
    )


def one_hot_pairs(x: torch.Tensor, p: int) -> torch.Tensor:
    """One-hot encode ``modular`` token pairs for a model that takes features.

    Parameters
    ----------
    x : torch.Tensor
        int64 ``[n, 2]`` tokens ``(a, b)`` with values in ``[0, p)``.
    p : int
        The modulus (vocabulary size).

    Returns
    -------
    torch.Tensor
        float32 ``[n, 2p]``: ``one_hot(a)`` then ``one_hot(b)``.

    Examples
    --------
    >>> one_hot_pairs(torch.tensor([[1, 2]]), 3)
    tensor([[0., 1., 0., 0., 0., 1.]])
    """
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"one_hot_pairs: x.shape={tuple(x.shape)} must be (n, 2)")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= p):
        raise ValueError(
            f"one_hot_pairs: x has values in [{int(x.min())}, {int(x.max())}]; must be in "
            f"[0, p={p})"
        )
    return torch.nn.functional.one_hot(x.long(), p).reshape(x.shape[0], 2 * p).float()


# ----------------------------------------------------------------------------- markov


def _markov_sizes(spec: DataSpec) -> dict:
    return _sizes(spec.n_train, spec.n_test, spec.context, spec.vocab, "tokens")


def _markov_chain(spec: DataSpec) -> tuple[np.ndarray, np.ndarray, float]:
    """Transition matrix P, stationary distribution pi and entropy rate H (nats), in float64."""
    v = spec.vocab
    base = _rng(spec.seed, 1).standard_normal((v, v))
    variant = _rng(spec.seed, 2, spec.variant).standard_normal((v, v))
    logits = ((1.0 - spec.distance) * base + spec.distance * variant) / spec.temperature
    logits -= logits.max(axis=1, keepdims=True)
    trans = np.exp(logits)
    trans /= trans.sum(axis=1, keepdims=True)  # (V, V), row i = P(next | current = i)
    # pi P = pi with sum(pi) = 1: replace one (redundant) balance equation by the normalisation
    a = trans.T - np.eye(v)
    a[-1] = 1.0
    rhs = np.zeros(v)
    rhs[-1] = 1.0
    stationary = np.clip(np.linalg.solve(a, rhs), 0.0, None)
    stationary /= stationary.sum()
    entropy = float(-(stationary[:, None] * trans * np.log(trans)).sum())
    return trans, stationary, entropy


def _sample_chain(
    rng: np.random.Generator, trans: np.ndarray, start: np.ndarray, n: int, length: int
) -> np.ndarray:
    """``n`` sequences of ``length`` tokens started from ``start``, by inverse-CDF sampling."""
    cdf = np.cumsum(trans, axis=1)
    cdf[:, -1] = 1.0  # guard against rounding below 1
    start_cdf = np.cumsum(start)
    start_cdf[-1] = 1.0
    seq = np.empty((n, length), dtype=np.int64)
    seq[:, 0] = np.searchsorted(start_cdf, rng.random(n), side="right")
    for t in range(1, length):
        u = rng.random(n)
        seq[:, t] = (u[:, None] >= cdf[seq[:, t - 1]]).sum(axis=1)  # first j with cdf > u
    return seq


def _build_markov(spec: DataSpec) -> TensorData:
    trans, stationary, entropy = _markov_chain(spec)
    length = spec.context + 1
    train = _sample_chain(_rng(spec.seed, 3, spec.variant), trans, stationary, spec.n_train, length)
    test = _sample_chain(_rng(spec.seed, 4, spec.variant), trans, stationary, spec.n_test, length)
    return TensorData(
        x_train=torch.from_numpy(train[:, :-1].copy()),
        y_train=torch.from_numpy(train[:, 1:].copy()),
        x_test=torch.from_numpy(test[:, :-1].copy()),
        y_test=torch.from_numpy(test[:, 1:].copy()),
        n_classes=spec.vocab,
        task="tokens",
        name="markov",
        meta={
            "transition": torch.from_numpy(trans),
            "stationary": torch.from_numpy(stationary),
            "entropy_rate": entropy,
        },
    )


# ----------------------------------------------------------------------------- registry

DATASETS: dict[str, DatasetEntry] = {
    "mnist1d": DatasetEntry(
        description=(
            "MNIST-1D: 40-sample 1D signals of 10 digit templates; the generator uses seed "
            "42 + DataSpec.seed (seed 0 is the package's default data); cached on disk"
        ),
        params={
            "num_samples": _count(5000, 10),  # rounded down to a multiple of 10 by the package
            "train_split": _fraction(0.8),  # first int(n * train_split) samples train
        },
        build=_build_mnist1d,
        sizes=_mnist1d_sizes,
        check=_check_mnist1d,
    ),
    "digits": DatasetEntry(
        description="scikit-learn's 1797 8x8 digits, flattened to 64 features in [0, 1]",
        params={"test_fraction": _fraction(0.2)},  # round(1797 * test_fraction) test images
        build=_build_digits,
        sizes=_digits_sizes,
        check=_check_digits,
    ),
    "gaussian": DatasetEntry(
        description=(
            "Gaussian clusters x = (1 - overlap) * prototype[y] + noise; at overlap=0 the "
            "closest prototypes are 8 noise stds apart, at overlap=1 they coincide"
        ),
        params={
            "classes": _count(10, 2),  # K prototypes, classes balanced
            "dim": _count(20, 1),  # D features
            "n_train": _count(2000, 1),
            "n_test": _count(1000, 1),
            "overlap": _fraction(0.0, closed=True),  # 0 separated .. 1 identical classes
        },
        build=_build_gaussian,
        sizes=_gaussian_sizes,
    ),
    "modular": DatasetEntry(
        description=(
            "all pairs (a, b) mod p as int64 tokens [n, 2], label a op b mod p (grokking)"
        ),
        params={
            "p": _count(97, 2, 4096),  # modulus = number of classes = vocabulary
            "op": _Param("add", str, choices=_MODULAR_OPS),  # div needs prime p, b != 0
            "train_fraction": _fraction(0.3),  # first int(n * fraction) shuffled pairs train
        },
        build=_build_modular,
        sizes=_modular_sizes,
        check=_check_modular,
    ),
    "markov": DatasetEntry(
        description=(
            "random bigram language: logits (1 - distance) * base(seed) + distance * "
            "variant(seed, variant), softmax at temperature; x = seq[:, :-1], y = seq[:, 1:]"
        ),
        params={
            "vocab": _count(32, 2, 2048),  # V tokens
            "temperature": _Param(1.0, float, lo=0.05),  # lower = more peaked transitions
            "context": _count(64, 1),  # T tokens per example
            "n_train": _count(2000, 1),  # sequences
            "n_test": _count(200, 1),  # sequences
            "distance": _fraction(0.0, closed=True),  # 0 = base language, 1 = variant's own
            "variant": _count(0, 0),  # which variant language (and sample stream)
        },
        build=_build_markov,
        sizes=_markov_sizes,
    ),
}
