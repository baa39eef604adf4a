"""The ``mnist1d`` dataset: the MNIST-1D package's generator and an on-disk cache of its arrays."""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .core import TensorData, _sizes, _split_count
from .params import DatasetEntry, _count, _fraction
from .views import FEATURE_VIEWS

if TYPE_CHECKING:
    from .spec import DataSpec

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


ENTRY = DatasetEntry(
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
    views=FEATURE_VIEWS,
)
