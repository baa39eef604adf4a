"""The ``gaussian`` dataset: noisy points around random class prototypes, with tunable overlap."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from .core import TensorData, _rng, _sizes
from .params import DatasetEntry, _count, _fraction
from .views import FEATURE_VIEWS

if TYPE_CHECKING:
    from .spec import DataSpec

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


ENTRY = DatasetEntry(
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
    views=FEATURE_VIEWS,
)
