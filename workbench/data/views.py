"""Views of a dataset that keep its input and output shapes: class subsets, few shots per class,
permuted features, rotated digits, drifted (rotated) feature spaces.

A view is a few extra :class:`~workbench.data.DataSpec` params, so a view is still a hashable,
JSON-round-trippable spec that caches and streams like any other. At their defaults the view
params are left out of ``spec.params`` (and of ``to_dict``), so specs without views are unchanged.
:func:`~workbench.data.load` builds the plain dataset (memoised) and then applies, in this order:

subset
    Keep only the examples whose label is in ``subset``, in train and test; ``n_classes`` stays
    the dataset's full count, so the output layer keeps every class (class-incremental learning,
    van de Ven & Tolias, 2019, arXiv:1904.07734). ``()`` (the default) keeps every class.
shots
    Keep only the first ``shots`` training examples of each class, in the dataset's order (after
    ``subset``); a class with fewer keeps all of its own. The test set is left whole, so few-shot
    episodes are measured on every test example of their classes. ``0`` (the default) keeps all.
rotate
    ``digits`` only: turn each 8x8 image by ``rotate`` degrees about its centre, counter-clockwise
    as displayed (row 0 at the top), as ``np.rot90`` and ``scipy.ndimage.rotate`` do; bilinear
    interpolation on the grid, zero outside it (:func:`rotate_images`).
permute_seed, permute_fraction
    Reorder the input features by a fixed permutation drawn from ``permute_seed`` alone (not the
    data seed): ``round(permute_fraction * input_dim)`` features, chosen at random, are shuffled
    among themselves, the rest stay (:func:`feature_permutation`). ``0`` is the identity and
    ``1`` a uniformly random permutation of all features (permuted MNIST, Goodfellow et al.,
    2013, arXiv:1312.6211); fractions in between make tasks partly similar.
drift_angle, drift_seed
    Turn the input features (flattened) by a fixed random rotation ``R`` of the feature space:
    ``x_view = R x``, after any permutation. ``R`` turns each of ``dim // 2`` orthogonal planes,
    drawn from ``drift_seed`` alone (not the data seed), by ``drift_angle`` degrees, so every
    input is turned by exactly ``drift_angle``: ``cos(angle(x, R x)) = cos(drift_angle)``
    (with an odd ``dim`` one random direction stays fixed, so an input is turned by a little less
    the more it lies along it). Norms and distances are kept, so every view is equally easy
    to learn; the decision boundary of the plain data turns with the inputs, and so do the class
    centres in ``meta`` (``prototypes``; ``weak``/``strong`` of ``features``). The rotations of a
    seed form a one-parameter group, ``R(a) R(b) = R(a + b)``: two views of one seed differ by a
    rotation through the difference of their angles, and 360 degrees is the identity
    (:func:`drift_rotation`). ``0`` (the default) is the identity.

``mnist1d``, ``digits``, ``gaussian`` and ``features`` accept ``subset``, ``shots``, the
permutation and the drift; only ``digits`` accepts ``rotate``. :func:`~workbench.data.info` of a
class subset or of few shots loads the plain dataset's labels (memoised) to count the examples
kept.

Examples
--------
>>> from workbench.data import data_spec, load
>>> d = load(data_spec("digits", subset=[1, 0], permute_fraction=1.0, permute_seed=3))
>>> d.x_train.shape[1], d.n_classes, sorted(set(d.y_train.tolist()))
(64, 10, [0, 1])
>>> data_spec("digits", subset=(0, 1)).to_dict()
{'name': 'digits', 'seed': 0, 'subset': (0, 1), 'test_fraction': 0.2}
>>> d = load(data_spec("digits", subset=[3, 5], shots=4))
>>> d.n_train, d.n_test
(8, 73)
>>> data_spec("gaussian", drift_angle=90.0).to_dict()["drift_angle"]
90.0
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from .core import TensorData, _rng
from .params import _count, _fraction, _Param

if TYPE_CHECKING:
    from .spec import DataSpec

__all__ = [
    "FEATURE_VIEWS",
    "IMAGE_VIEWS",
    "drift_rotation",
    "feature_permutation",
    "first_shots",
    "rotate_images",
]

FEATURE_VIEWS: dict[str, _Param] = {
    "subset": _Param((), tuple, lo=0),  # classes kept; () keeps all
    "shots": _count(0, 0),  # training examples kept per class (the first ones); 0 keeps all
    "permute_seed": _count(0, 0),  # which permutation; independent of the data seed
    "permute_fraction": _fraction(0.0, closed=True),  # share of features permuted
    "drift_seed": _count(0, 0),  # which rotation planes; independent of the data seed
    "drift_angle": _Param(0.0, float, lo=-360.0, hi=360.0),  # degrees turned in every plane
}
IMAGE_VIEWS: dict[str, _Param] = {
    **FEATURE_VIEWS,
    "rotate": _Param(0.0, float, lo=-360.0, hi=360.0),  # degrees, counter-clockwise
}
VIEW_NAMES = frozenset(IMAGE_VIEWS)
_PERMUTATION_KEY = 7  # the rng purpose of feature permutations
_DRIFT_KEY = 19  # the rng purpose of the drift's rotation planes
_DIRECTIONS = ("prototypes", "weak", "strong")  # meta [K, D] in feature space (gaussian, features)
_TRAIN_ROWS = ("strong_mask",)  # meta with one row per training example (features)


def feature_permutation(dim: int, *, seed: int, fraction: float) -> np.ndarray:
    """The feature order of a permuted view: ``x_view[:, j] = x[:, perm[j]]``.

    ``round(fraction * dim)`` positions, drawn from ``seed``, are shuffled among themselves; the
    others keep their place. Depends only on ``(dim, seed, fraction)``.

    Parameters
    ----------
    dim : int
        Number of features.
    seed : int
        The permutation seed (>= 0).
    fraction : float
        Share of features permuted, in [0, 1]: 0 gives the identity, 1 a uniformly random
        permutation (which leaves about one feature in place, on average).

    Returns
    -------
    numpy.ndarray
        int64 ``[dim]``, a permutation of ``0 .. dim-1``.

    Examples
    --------
    >>> feature_permutation(6, seed=0, fraction=0.0).tolist()
    [0, 1, 2, 3, 4, 5]
    >>> sorted(feature_permutation(6, seed=0, fraction=1.0).tolist())
    [0, 1, 2, 3, 4, 5]
    """
    rng = _rng(seed, _PERMUTATION_KEY, dim)
    chosen = rng.choice(dim, size=int(round(fraction * dim)), replace=False)  # (m,)
    perm = np.arange(dim, dtype=np.int64)
    perm[chosen] = chosen[rng.permutation(len(chosen))]
    return perm


def drift_rotation(dim: int, *, seed: int, angle: float) -> np.ndarray:
    """The rotation of a drifted view: ``x_view = x @ R.T``, i.e. ``R x`` for each input ``x``.

    A Haar-random orthonormal basis ``q_0 .. q_{dim-1}``, drawn from ``seed`` alone, is split
    into the planes ``(q_0, q_1), (q_2, q_3), ...``, and ``R`` turns each plane by ``angle``
    degrees, ``q_{2i}`` towards ``q_{2i+1}``; with an odd ``dim``, ``q_{dim-1}`` stays. So
    ``x . R x = cos(angle) |x|^2`` for every ``x`` orthogonal to the fixed direction (every
    ``x`` when ``dim`` is even), ``R(0)`` is the identity, ``R(a) R(b) = R(a + b)`` and
    ``R(a)^T = R(-a)``. Depends only on ``(dim, seed, angle)``.

    Parameters
    ----------
    dim : int
        Number of features, >= 1 (``dim = 1`` has no plane: the identity).
    seed : int
        The drift seed (>= 0): which planes.
    angle : float
        Degrees turned in every plane.

    Returns
    -------
    numpy.ndarray
        float64 ``[dim, dim]``, orthogonal with determinant 1.

    Examples
    --------
    >>> r = drift_rotation(4, seed=0, angle=90.0)
    >>> x = np.array([1.0, 2.0, 3.0, 4.0])
    >>> float(np.round(x @ r @ x, 12)), float(np.linalg.norm(r @ x) ** 2)
    (0.0, 30.0)
    >>> bool(np.allclose(drift_rotation(4, seed=0, angle=30.0) @ r,
    ...                  drift_rotation(4, seed=0, angle=120.0)))
    True
    """
    rng = _rng(seed, _DRIFT_KEY, dim)
    q, upper = np.linalg.qr(rng.standard_normal((dim, dim)))  # (D, D)
    q = q * np.where(np.diag(upper) < 0, -1.0, 1.0)  # the sign fix that makes q Haar-random
    planes = dim // 2
    u, v = q[:, 0 : 2 * planes : 2], q[:, 1 : 2 * planes : 2]  # (D, P) each
    t = math.radians(angle)
    cos, sin = math.cos(t), math.sin(t)
    # R u_i = cos u_i + sin v_i, R v_i = cos v_i - sin u_i, identity off the planes
    return np.eye(dim) + (cos - 1.0) * (u @ u.T + v @ v.T) + sin * (v @ u.T - u @ v.T)


def first_shots(labels: torch.Tensor, shots: int) -> torch.Tensor:
    """Which examples are among the first ``shots`` of their class, in order: bool ``[n]``.

    Examples
    --------
    >>> first_shots(torch.tensor([2, 0, 2, 2, 0]), 2).tolist()
    [True, True, True, False, True]
    """
    order = torch.argsort(labels, stable=True)  # (n,) by class, in order within each class
    ranked = labels[order]
    rank = torch.arange(len(labels)) - torch.searchsorted(ranked, ranked, side="left")
    keep = torch.empty(len(labels), dtype=torch.bool)
    keep[order] = rank < shots
    return keep


def rotate_images(images: np.ndarray, angle: float) -> np.ndarray:
    """Rotate images ``[..., H, W]`` by ``angle`` degrees about their centre, bilinearly.

    Positive angles turn the image counter-clockwise as displayed with row 0 at the top, the
    convention of ``np.rot90``. Output pixel ``(r, c)`` reads the input at the point rotated back
    by ``angle``, interpolated from its four neighbours, with zeros outside the grid: the result
    equals ``scipy.ndimage.rotate(image, angle, reshape=False, order=1, mode="grid-constant")``
    (the tests' reference). Sample points within 1e-9 of a grid point snap to it, so multiples of
    90 degrees on a square grid move pixels exactly. Each output is a convex combination of
    inputs and zeros, so values stay within ``[min(0, x.min()), max(0, x.max())]``.

    Parameters
    ----------
    images : numpy.ndarray
        Float images ``[..., H, W]``.
    angle : float
        Degrees, counter-clockwise.

    Returns
    -------
    numpy.ndarray
        Rotated images, same shape and dtype.

    Examples
    --------
    >>> img = np.arange(4.0).reshape(2, 2)
    >>> bool(np.array_equal(rotate_images(img, 90), np.rot90(img)))
    True
    """
    h, w = images.shape[-2:]
    t = math.radians(angle)
    cos, sin = math.cos(t), math.sin(t)
    r, c = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")  # (H, W) output pixels
    yo, xo = r - (h - 1) / 2, c - (w - 1) / 2  # y down, x right, about the centre
    # the inverse rotation (counter-clockwise as displayed means clockwise in y-down coordinates)
    yi = xo * sin + yo * cos + (h - 1) / 2
    xi = xo * cos - yo * sin + (w - 1) / 2
    yi = np.where(np.abs(yi - np.round(yi)) < 1e-9, np.round(yi), yi)
    xi = np.where(np.abs(xi - np.round(xi)) < 1e-9, np.round(xi), xi)
    y0, x0 = np.floor(yi).astype(np.int64), np.floor(xi).astype(np.int64)
    fy, fx = yi - y0, xi - x0
    out = np.zeros(images.shape, dtype=np.float64)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yy, xx = y0 + dy, x0 + dx  # (H, W)
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            vals = images[..., np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]  # (..., H, W)
            out += np.where(inside, wy * wx, 0.0) * vals
    return out.astype(images.dtype)


# -- used by DataSpec and load ------------------------------------------------------------------


def has_views(spec: DataSpec) -> bool:
    """Whether ``spec`` sets any view param (at their defaults they are left out of params)."""
    return any(key in VIEW_NAMES for key, _ in spec.params)


def base_spec(spec: DataSpec) -> DataSpec:
    """``spec`` without its views: the plain dataset they are applied to."""
    return spec.replace(params={k: v for k, v in spec.params if k not in VIEW_NAMES})


def _get(spec: DataSpec, key: str):
    """A view param of ``spec``, or its default (also for datasets without that view)."""
    return dict(spec.params).get(key, IMAGE_VIEWS[key].default)


def check(spec: DataSpec, n_classes: int) -> None:
    """Validate the view params that need the dataset's sizes; raises ValueError."""
    subset = _get(spec, "subset")
    if subset and subset[-1] >= n_classes:
        raise ValueError(
            f"{spec.name}: subset={list(subset)!r} must be distinct classes in [0, {n_classes})"
        )
    angle = _get(spec, "drift_angle")
    if angle:
        from .registry import DATASETS  # the registry imports the datasets, which import views

        dim = DATASETS[spec.name].sizes(spec)["input_dim"]
        if dim < 2:
            raise ValueError(
                f"{spec.name}: drift_angle={angle!r} needs at least 2 input features to turn; "
                f"this dataset has {dim}"
            )


def counts_examples(spec: DataSpec) -> bool:
    """Whether ``spec``'s views change the number of examples (``subset``, ``shots``)."""
    return bool(_get(spec, "subset") or _get(spec, "shots"))


def subset_sizes(base: TensorData, spec: DataSpec) -> tuple[int, int]:
    """``(n_train, n_test)`` of ``base`` after ``spec``'s class subset and shots; raises if a
    split is empty."""
    train, test = _kept(base, spec)
    return int(train.sum()), int(test.sum())


def _kept(base: TensorData, spec: DataSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Which training and test examples of ``base`` the subset and shots keep: bool ``[n]``."""
    subset, shots = _get(spec, "subset"), _get(spec, "shots")
    train = torch.ones(base.n_train, dtype=torch.bool)
    test = torch.ones(base.n_test, dtype=torch.bool)
    if subset:
        keep = torch.tensor(subset, dtype=torch.int64)
        train, test = torch.isin(base.y_train, keep), torch.isin(base.y_test, keep)
    if shots:
        train[train.clone()] = first_shots(base.y_train[train], shots)
    n_train, n_test = int(train.sum()), int(test.sum())
    if n_train < 1 or n_test < 1:
        raise ValueError(
            f"{spec.name}: subset={list(subset)!r} leaves {n_train} training and {n_test} test "
            "examples; both splits need at least one"
        )
    return train, test


def apply(base: TensorData, spec: DataSpec) -> TensorData:
    """The view of ``base`` that ``spec``'s view params describe (subset and shots, rotate,
    permute, drift, in this order)."""
    subset, shots, angle = _get(spec, "subset"), _get(spec, "shots"), _get(spec, "rotate")
    fraction, seed = _get(spec, "permute_fraction"), _get(spec, "permute_seed")
    drift, drift_seed = _get(spec, "drift_angle"), _get(spec, "drift_seed")
    x_train, y_train, x_test, y_test = base.x_train, base.y_train, base.x_test, base.y_test
    meta = dict(base.meta)
    if subset or shots:
        train, test = _kept(base, spec)
        x_train, y_train = x_train[train], y_train[train]
        x_test, y_test = x_test[test], y_test[test]
        for key in _TRAIN_ROWS:  # features: which training examples carry a strong feature
            if key in meta:
                meta[key] = meta[key][train]
        if subset:
            meta["subset"] = subset
        if shots:
            meta["shots"] = shots
    if angle:
        shape = tuple(meta["image_shape"])  # (8, 8) for digits, the only dataset with rotate
        x_train, x_test = (
            torch.from_numpy(rotate_images(x.numpy().reshape(-1, *shape), angle).reshape(x.shape))
            for x in (x_train, x_test)
        )
        meta["rotate"] = angle
    if fraction:
        perm = feature_permutation(base.input_dim, seed=seed, fraction=fraction)
        index = torch.from_numpy(perm)
        x_train, x_test = (x.flatten(1)[:, index].reshape(x.shape) for x in (x_train, x_test))
        for key in _DIRECTIONS:  # keep the class directions in the features' order
            if key in meta:
                meta[key] = meta[key][:, index]
        meta["feature_permutation"] = perm
    if drift:
        rot = drift_rotation(base.input_dim, seed=drift_seed, angle=drift)  # (D, D)
        rot_t = torch.from_numpy(rot.T)
        x_train, x_test = (
            (x.flatten(1).double() @ rot_t).to(x.dtype).reshape(x.shape) for x in (x_train, x_test)
        )
        for key in _DIRECTIONS:  # the class directions turn with the inputs
            if key in meta:
                meta[key] = (meta[key].double() @ rot_t).to(meta[key].dtype)
        meta["drift_rotation"] = rot
    return TensorData(
        x_train=x_train.contiguous(),
        y_train=y_train.contiguous(),
        x_test=x_test.contiguous(),
        y_test=y_test.contiguous(),
        n_classes=base.n_classes,
        task=base.task,
        name=base.name,
        meta=meta,
    )
