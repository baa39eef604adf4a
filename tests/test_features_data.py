"""Tests for the ``features`` dataset (workbench.data.features): the generic dataset checks of
``tests/test_data.py`` for it, and its construction (weak features everywhere, strong features in
a fraction of the training set, weak features only in the test set)."""

from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest
import torch

from workbench import data
from workbench.data import DATASETS, DataSpec, data_spec, info, load

SMALL = {"classes": 3, "dim": 12, "n_train": 40, "n_test": 20}


def _tensors(d):
    return [d.x_train, d.y_train, d.x_test, d.y_test]


def _same(a, b) -> bool:
    return all(torch.equal(u, v) for u, v in zip(_tensors(a), _tensors(b), strict=True))


def test_registered_with_a_one_line_description():
    entry = DATASETS["features"]
    assert entry.description and "\n" not in entry.description
    assert set(entry.defaults) == {
        "classes",
        "dim",
        "n_train",
        "n_test",
        "strong_fraction",
        "weak_scale",
        "strong_scale",
        "noise",
    }


def test_shapes_dtypes_and_info():
    spec = data_spec("features", **SMALL)
    d = load(spec)
    assert d.name == "features" and d.task == "classification" and d.n_classes == 3
    assert d.x_train.dtype == d.x_test.dtype == torch.float32
    assert d.y_train.dtype == d.y_test.dtype == torch.int64
    assert d.x_train.shape == (40, 12) and d.x_test.shape == (20, 12)
    assert info(spec) == {
        "n_train": 40,
        "n_test": 20,
        "input_dim": 12,
        "n_classes": 3,
        "task": "classification",
        "vocab": None,
    }
    assert torch.bincount(d.y_train).tolist() == [14, 13, 13]  # balanced


def test_spec_round_trips_through_json_and_pickle():
    spec = data_spec("features", seed=3, strong_fraction=0.25, **SMALL)
    assert DataSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_deterministic_per_seed_and_leaves_global_rng_alone():
    spec = data_spec("features", seed=5, **SMALL)
    np_state = np.random.get_state()  # noqa: NPY002 (the legacy global generator is under test)
    py_state, torch_state = random.getstate(), torch.get_rng_state()
    first = load(spec)
    assert load(spec) is first  # memoised
    data.clear_memo()
    again = load(spec)
    assert again is not first and _same(first, again)
    assert not _same(first, load(spec.replace(seed=6)))
    assert np.random.get_state()[1].tolist() == np_state[1].tolist()  # noqa: NPY002
    assert random.getstate() == py_state and torch.equal(torch.get_rng_state(), torch_state)


def test_construction_without_noise():
    """noise=0 exposes the construction exactly: orthonormal directions, the strong feature in
    round(strong_fraction * n_train) training examples, the test set weak features only."""
    d = load("features", classes=2, dim=8, n_train=30, n_test=10, strong_fraction=0.4,
             weak_scale=0.5, strong_scale=3.0, noise=0.0)  # fmt: skip
    weak, strong, mask = d.meta["weak"], d.meta["strong"], d.meta["strong_mask"]
    dirs = torch.cat([weak, strong])  # (4, 8)
    assert torch.allclose(dirs @ dirs.T, torch.eye(4), atol=1e-6)
    assert mask.dtype == torch.bool and int(mask.sum()) == 12
    expected = 0.5 * weak[d.y_train] + 3.0 * mask[:, None] * strong[d.y_train]
    assert torch.allclose(d.x_train, expected, atol=1e-6)
    assert torch.allclose(d.x_test, 0.5 * weak[d.y_test], atol=1e-6)


def test_noise_and_test_set_statistics():
    d = load("features", dim=200, n_train=400, n_test=400, noise=0.3, strong_fraction=0.5)
    weak, strong = d.meta["weak"], d.meta["strong"]
    # the test set carries no strong feature: its strong projections are noise (std 0.3)
    proj = d.x_test @ strong.T
    assert abs(float(proj.mean())) < 0.05 and 0.25 < float(proj.std()) < 0.35
    own = (d.x_test @ weak.T).gather(1, d.y_test[:, None])
    assert abs(float(own.mean()) - 1.0) < 0.05  # weak_scale 1 by default
    # the training examples with a strong feature carry it at strong_scale (5 by default)
    s = (d.x_train @ strong.T).gather(1, d.y_train[:, None])[:, 0]
    mask = d.meta["strong_mask"]
    assert abs(float(s[mask].mean()) - 5.0) < 0.1 and abs(float(s[~mask].mean())) < 0.1
    assert abs(float((d.x_test - 1.0 * weak[d.y_test]).std()) - 0.3) < 0.01


def test_sizes_do_not_shift_other_draws():
    a = load("features", **SMALL)
    b = load("features", **{**SMALL, "n_train": 80})
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.meta["weak"], b.meta["weak"])


def test_class_subset_view_and_stream():
    import workbench as wb

    d = load("features", subset=[0, 2], **SMALL)
    assert sorted(set(d.y_train.tolist())) == [0, 2] and d.n_classes == 3
    s = wb.class_incremental(data_spec("features", classes=4, dim=16), classes_per_task=2)
    assert s.names == ("classes 0-1", "classes 2-3")


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"classes": 3, "dim": 5}, r"features: dim=5 must be >= 2 \* classes = 6"),
        ({"weak_scale": -0.1}, r"features: weak_scale=-0\.1 must be a number >= 0"),
        ({"noise": float("nan")}, r"features: noise=nan must be"),
        ({"strong_fraction": 1.5}, r"features: strong_fraction=1\.5 must be a number in \[0, 1\]"),
        ({"classes": 1}, r"features: classes=1 must be an integer >= 2"),
    ],
)
def test_validation_errors_name_field_and_value(params, pattern):
    with pytest.raises(ValueError, match=pattern):
        data_spec("features", **params)
