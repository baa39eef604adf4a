"""The ``digits`` dataset: scikit-learn's bundled 8x8 digit images."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .core import TensorData, _rng, _sizes
from .params import DatasetEntry, _fraction
from .views import IMAGE_VIEWS

if TYPE_CHECKING:
    from .spec import DataSpec

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


ENTRY = DatasetEntry(
    description="scikit-learn's 1797 8x8 digits, flattened to 64 features in [0, 1]",
    params={"test_fraction": _fraction(0.2)},  # round(1797 * test_fraction) test images
    build=_build_digits,
    sizes=_digits_sizes,
    check=_check_digits,
    views=IMAGE_VIEWS,
)
