"""The ``features`` dataset: weak features in every example, strong ones in a fraction only.

The feature-noise data model of Lu, Wu, Yang & Zou (2023), "Benign oscillation of stochastic
gradient descent with large learning rates" (arXiv:2310.17074, ICLR 2024): every training example
carries a *weak* feature of its class (small norm), a fraction of them also a *strong* feature
(large norm), and every example has noise; the test set has the weak features only. A network
that learns only the strong features (and fits the rest of the training set by memorizing noise)
is at chance on the test set; one that learned the weak features classifies it.

Construction (all draws from ``numpy`` generators seeded by ``(seed, purpose)``):

- ``2 * classes`` orthonormal directions in ``R^dim`` (QR of a Gaussian matrix): a weak
  direction ``u_k`` and a strong direction ``v_k`` per class ``k``, so every feature is
  orthogonal to every other;
- a training example of class ``y``: ``x = weak_scale * u_y + s * strong_scale * v_y + noise *
  e`` with ``e ~ N(0, I_dim)`` and ``s = 1`` for exactly ``round(strong_fraction * n_train)``
  examples (a seeded choice), ``s = 0`` for the others;
- a test example: ``x = weak_scale * u_y + noise * e``, weak features only.

Labels are balanced (``n % classes`` examples of the first classes get one more) and shuffled.
``noise`` is the per-coordinate std, so the noise vector's norm is about ``noise * sqrt(dim)``:
with ``dim`` larger than ``n_train`` the noise vectors are nearly orthogonal and a network can
fit any training label from them alone. The paper's model puts the weak feature, the strong
feature and the noise in separate patches of a convolutional input; an MLP sees only the
directions, so orthogonal directions in one vector are the same model up to a rotation.

``meta`` holds the unit directions ``weak`` and ``strong`` (``[classes, dim]`` float32) and
``strong_mask`` (bool ``[n_train]``: which training examples carry their strong feature).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .core import TensorData, _rng, _sizes
from .params import DatasetEntry, _count, _fraction, _Param
from .views import FEATURE_VIEWS

if TYPE_CHECKING:
    from .spec import DataSpec


def _check_features(params: dict) -> None:
    if params["dim"] < 2 * params["classes"]:
        raise ValueError(
            f"features: dim={params['dim']} must be >= 2 * classes = {2 * params['classes']} "
            "(a weak and a strong direction per class, all orthogonal)"
        )


def _features_sizes(spec: DataSpec) -> dict:
    return _sizes(spec.n_train, spec.n_test, spec.dim, spec.classes, "classification")


def _features_draw(spec: DataSpec, rng: np.random.Generator, n: int, weak, strong, n_strong: int):
    y = rng.permutation(np.arange(n) % spec.classes)  # balanced classes, shuffled
    x = spec.noise * rng.standard_normal((n, spec.dim)) + spec.weak_scale * weak[y]
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:n_strong]] = True
    x[mask] += spec.strong_scale * strong[y[mask]]
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64)), mask


def _build_features(spec: DataSpec) -> TensorData:
    k = spec.classes
    q, _ = np.linalg.qr(_rng(spec.seed, 1).standard_normal((spec.dim, 2 * k)))  # (D, 2K)
    weak, strong = q[:, :k].T, q[:, k:].T  # (K, D) unit rows, all orthogonal
    n_strong = int(round(spec.strong_fraction * spec.n_train))
    x_train, y_train, mask = _features_draw(
        spec, _rng(spec.seed, 2), spec.n_train, weak, strong, n_strong
    )
    x_test, y_test, _ = _features_draw(spec, _rng(spec.seed, 3), spec.n_test, weak, strong, 0)
    return TensorData(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        n_classes=k,
        task="classification",
        name="features",
        meta={
            "weak": torch.from_numpy(weak.astype(np.float32)),
            "strong": torch.from_numpy(strong.astype(np.float32)),
            "strong_mask": torch.from_numpy(mask),
        },
    )


ENTRY = DatasetEntry(
    description=(
        "weak class features in every example, strong ones in a fraction, noise; the test set "
        "has weak features only (Lu et al. 2023, benign oscillation)"
    ),
    params={
        "classes": _count(2, 2),
        "dim": _count(100, 4),  # D features, >= 2 * classes
        "n_train": _count(200, 1),
        "n_test": _count(1000, 1),
        "strong_fraction": _fraction(0.5, closed=True),  # training examples with a strong feature
        "weak_scale": _Param(1.0, float, lo=0.0),  # norm of the weak feature
        "strong_scale": _Param(5.0, float, lo=0.0),  # norm of the strong feature
        "noise": _Param(0.3, float, lo=0.0),  # per-coordinate noise std
    },
    build=_build_features,
    sizes=_features_sizes,
    check=_check_features,
    views=FEATURE_VIEWS,
)
