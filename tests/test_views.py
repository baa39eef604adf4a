"""Dataset views (class subsets, permuted features, rotated digits) and the stream builders."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import scipy.ndimage
import torch

import workbench as wb
from workbench.data import DataSpec, data_spec, info, load
from workbench.data.views import feature_permutation, rotate_images
from workbench.streams import TaskStream

SMALL = {
    "mnist1d": {"num_samples": 300},
    "digits": {},
    "gaussian": {"classes": 4, "dim": 6, "n_train": 64, "n_test": 32},
}


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    """mnist1d loads cache under tmp, never in the user's cache."""
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path_factory.getbasetemp() / "data"))


def _images(d):
    return d.x_train.numpy().reshape(-1, 8, 8), d.x_test.numpy().reshape(-1, 8, 8)


# -- specs -------------------------------------------------------------------------------------


def test_views_are_hashable_json_round_trippable_and_leave_plain_specs_alone():
    plain = data_spec("digits")
    assert plain.to_dict() == {"name": "digits", "seed": 0, "test_fraction": 0.2}
    assert plain.subset == () and plain.rotate == 0.0 and plain.permute_fraction == 0.0
    # defaults given explicitly are the plain spec
    assert data_spec("digits", subset=[], rotate=0, permute_fraction=0) == plain
    v = data_spec("digits", subset=[3, 1], rotate=45, permute_seed=2, permute_fraction=0.5)
    assert v == data_spec(
        "digits", subset=(1, 3), rotate=45.0, permute_seed=2, permute_fraction=0.5
    )
    again = data_spec("digits", subset=[1, 3], rotate=45, permute_seed=2, permute_fraction=0.5)
    assert hash(v) == hash(again)
    assert v.subset == (1, 3) and v != plain
    assert DataSpec.from_dict(json.loads(json.dumps(v.to_dict()))) == v
    assert pickle.loads(pickle.dumps(v)) == v
    assert v.replace(subset=[0]).subset == (0,) and v.replace(rotate=0).rotate == 0.0


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda: data_spec("digits", subset=[10]), r"digits: subset=\[10\] must be .*\[0, 10\)"),
        (
            lambda: data_spec("gaussian", classes=3, subset=[3]),
            r"gaussian: subset=\[3\] .*\[0, 3\)",
        ),
        (lambda: data_spec("digits", subset=[1, 1]), r"digits: subset=\[1, 1\] must be a list of"),
        (lambda: data_spec("digits", subset=[-1]), r"digits: subset=\[-1\] must be a list of"),
        (lambda: data_spec("digits", subset=3), r"digits: subset=3 must be a list of distinct"),
        (lambda: data_spec("digits", subset=[True]), r"digits: subset=\[True\] must be a list"),
        (lambda: data_spec("digits", permute_fraction=1.5), r"permute_fraction=1\.5 must be .*"),
        (lambda: data_spec("digits", permute_seed=-1), r"digits: permute_seed=-1 must be an int"),
        (lambda: data_spec("digits", rotate=400), r"digits: rotate=400 must be a number in \[-360"),
        (lambda: data_spec("mnist1d", rotate=45), r"mnist1d: rotate=45 is a view of \['digits'\]"),
        (lambda: data_spec("gaussian", rotate=9), r"gaussian: rotate=9 is a view of \['digits'\]"),
        (lambda: data_spec("markov", subset=[0]), r"markov: subset=\[0\] is a view of \['digits'"),
        (lambda: info("gaussian", classes=4, n_test=2, subset=[3]), r"subset=\[3\] leaves \d+ tr"),
        (lambda: wb.class_incremental("markov"), r"markov: subset=\[0, 1\] is a view of"),
        (lambda: wb.class_incremental(classes_per_task=0), r"classes_per_task=0 must be an int"),
        (
            lambda: wb.class_incremental(classes_per_task=4),
            r"classes_per_task=4 must divide the 10",
        ),
        (lambda: wb.class_incremental(order=[0, 0]), r"order=\[0, 0\] must be distinct classes in"),
        (lambda: wb.class_incremental(order=[0, 10]), r"order=\[0, 10\] must be distinct classes"),
        (lambda: wb.class_incremental(order=[0, 1], order_seed=1), r"give at most one"),
        (lambda: wb.class_incremental(task_steps=0), r"class_incremental: task_steps=0 must be"),
        (lambda: wb.class_incremental(data_spec("digits", subset=[1])), r"data has subset=\(1,\)"),
        (lambda: wb.permuted(tasks=0), r"permuted: tasks=0 must be an integer >= 1"),
        (lambda: wb.permuted(fraction=2), r"permuted: fraction=2 must be a number in \[0, 1\]"),
        (lambda: wb.permuted(seed=-1), r"permuted: seed=-1 must be an integer >= 0"),
        (lambda: wb.rotated("mnist1d"), r"rotated: data='mnist1d' must be 'digits'"),
        (lambda: wb.rotated(angles=(0, 0.0)), r"rotated: angles=\[0, 0\.0\] must be distinct"),
        (lambda: wb.rotated(angles=()), r"rotated: angles=\[\] must be a non-empty sequence"),
        (lambda: wb.rotated(angles=(0, 500)), r"digits: rotate=500 must be a number in \[-360"),
        (lambda: wb.rotated(angles=45), r"rotated: angles=45 must be a sequence of degrees"),
    ],
)
def test_bad_input_is_named(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


# -- class subsets ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SMALL))
def test_subset_keeps_only_its_classes_and_the_shapes(name):
    plain = load(name, **SMALL[name])
    d = load(name, subset=[2, 0], **SMALL[name])
    assert set(d.y_train.tolist()) == {0, 2} and set(d.y_test.tolist()) == {0, 2}
    assert d.n_classes == plain.n_classes and d.x_train.shape[1:] == plain.x_train.shape[1:]
    keep = torch.isin(plain.y_train, torch.tensor([0, 2]))
    assert torch.equal(d.x_train, plain.x_train[keep]) and torch.equal(
        d.y_train, plain.y_train[keep]
    )
    keep = torch.isin(plain.y_test, torch.tensor([0, 2]))
    assert torch.equal(d.x_test, plain.x_test[keep])
    sizes = info(name, subset=[0, 2], **SMALL[name])
    assert (sizes["n_train"], sizes["n_test"]) == (d.n_train, d.n_test)
    assert {k: v for k, v in sizes.items() if k not in ("n_train", "n_test")} == {
        k: v for k, v in info(name, **SMALL[name]).items() if k not in ("n_train", "n_test")
    }


# -- permutations ------------------------------------------------------------------------------


def test_permutation_fraction_zero_is_the_identity_and_one_moves_almost_everything():
    assert feature_permutation(64, seed=5, fraction=0.0).tolist() == list(range(64))
    moved = [
        (feature_permutation(64, seed=s, fraction=1.0) != np.arange(64)).sum() for s in range(20)
    ]
    assert np.mean(moved) > 60 and min(moved) >= 58  # a random permutation fixes ~1 point
    half = feature_permutation(64, seed=0, fraction=0.5)
    assert sorted(half.tolist()) == list(range(64)) and (half != np.arange(64)).sum() <= 32


def test_permutation_depends_on_its_seed_only():
    a = feature_permutation(40, seed=1, fraction=1.0)
    assert np.array_equal(a, feature_permutation(40, seed=1, fraction=1.0))
    assert not np.array_equal(a, feature_permutation(40, seed=2, fraction=1.0))
    # the same permutation whatever the data seed; the data are x[:, perm]
    for seed in (0, 1):
        plain = load("digits", seed=seed)
        d = load("digits", seed=seed, permute_seed=1, permute_fraction=1.0)
        perm = torch.from_numpy(feature_permutation(64, seed=1, fraction=1.0))
        assert torch.equal(d.x_train, plain.x_train[:, perm]) and torch.equal(
            d.y_test, plain.y_test
        )
        assert torch.equal(d.x_test, plain.x_test[:, perm]) and d.n_classes == 10
    g = load("gaussian", **SMALL["gaussian"], permute_fraction=1.0)
    gp = load("gaussian", **SMALL["gaussian"])
    p = torch.from_numpy(g.meta["feature_permutation"])
    assert torch.equal(g.meta["prototypes"], gp.meta["prototypes"][:, p])
    assert load("gaussian", **SMALL["gaussian"], permute_fraction=0.0) is gp


# -- rotations -----------------------------------------------------------------------------------


def test_rotation_by_zero_is_the_identity_and_by_90_is_rot90():
    plain = load("digits")
    assert load("digits", rotate=0) is plain
    img = _images(plain)[0]
    assert np.array_equal(rotate_images(img, 0.0), img)
    for angle, k in ((90, 1), (180, 2), (-90, -1), (270, 3)):
        # counter-clockwise as displayed: row 0's right end moves to the left column's top
        rotated = _images(load("digits", rotate=angle))
        assert np.array_equal(rotated[0], np.rot90(img, k, axes=(1, 2)))
    assert np.array_equal(rotate_images(np.array([[1.0, 2.0], [3.0, 4.0]]), 90), [[2, 4], [1, 3]])


@pytest.mark.parametrize("angle", [12.5, 30, 45, -70, 135])
def test_rotation_matches_scipy_and_keeps_the_range(angle):
    plain = load("digits")
    d = load("digits", rotate=angle)
    assert d.x_train.shape == plain.x_train.shape and d.n_classes == 10
    assert torch.equal(d.y_train, plain.y_train)
    x = _images(d)[0]
    assert x.min() >= 0.0 and x.max() <= 1.0
    img = _images(plain)[0][:100].astype(np.float64)
    ref = np.stack(
        [
            scipy.ndimage.rotate(i, angle, reshape=False, order=1, mode="grid-constant", cval=0.0)
            for i in img
        ]
    )
    np.testing.assert_allclose(x[:100], ref, atol=1e-6)
    assert not np.allclose(x[:100], img)


# -- stream builders -----------------------------------------------------------------------------


def _round_trips(s: TaskStream) -> None:
    assert TaskStream.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert hash(TaskStream.from_dict(s.to_dict())) == hash(s)


def test_class_incremental_splits_the_classes():
    s = wb.class_incremental("digits", classes_per_task=2, task_steps=100)
    assert len(s) == 5 and s.starts == (0, 100, 200, 300, 400)
    assert s.names == ("classes 0-1", "classes 2-3", "classes 4-5", "classes 6-7", "classes 8-9")
    assert [t.subset for t in s.tasks] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    _round_trips(s)
    o = wb.class_incremental(classes_per_task=1, task_steps=10, order=[7, 3])
    assert o.names == ("class 7", "class 3") and o.starts == (0, 10)
    r = wb.class_incremental(classes_per_task=2, order=[3, 7, 0, 1])
    assert r.names == ("classes 3,7", "classes 0-1")
    a = wb.class_incremental(classes_per_task=5, order_seed=1)
    assert a == wb.class_incremental(classes_per_task=5, order_seed=1)
    assert sorted(a.tasks[0].subset + a.tasks[1].subset) == list(range(10))
    g = wb.class_incremental(data_spec("gaussian", classes=6, seed=2), classes_per_task=3)
    assert len(g) == 2 and g.tasks[1] == data_spec("gaussian", classes=6, seed=2, subset=[3, 4, 5])
    _round_trips(g)


def test_permuted_keeps_task_zero_plain():
    s = wb.permuted("digits", tasks=3, fraction=1.0, task_steps=50)
    assert s.names == ("original", "perm 1 (100%)", "perm 2 (100%)") and s.starts == (0, 50, 100)
    assert s.tasks[0] == data_spec("digits")
    assert [t.permute_seed for t in s.tasks[1:]] == [1, 2]
    assert s.tasks[1].permute_fraction == 1.0
    _round_trips(s)
    m = wb.permuted("mnist1d", tasks=2, fraction=0.25, seed=10)
    assert m.names == ("original", "perm 1 (25%)") and m.tasks[1].permute_seed == 11
    _round_trips(m)


def test_rotated_names_and_specs():
    s = wb.rotated(angles=(0, 45, 90), task_steps=30)
    assert s.names == ("rot 0°", "rot 45°", "rot 90°") and s.starts == (0, 30, 60)
    assert s.tasks[0] == data_spec("digits") and s.tasks[2].rotate == 90.0
    _round_trips(s)
    assert wb.rotated(data_spec("digits", seed=1), angles=(-22.5,)).names == ("rot -22.5°",)


# -- training ------------------------------------------------------------------------------------


def test_class_incremental_digits_forgets_the_first_task():
    # Class-incremental learning with plain SGD forgets the old classes (van de Ven & Tolias,
    # 2019): training on classes 2-3 drives the outputs of classes 0-1 down, so task-0 accuracy
    # falls from its value at the end of task 0. Measured (3 seeds, this spec): 1.00 -> 0.00
    # for every seed; the margin asked for is 0.5.
    s = wb.class_incremental("digits", classes_per_task=2, order=[0, 1, 2, 3], task_steps=100)
    base = wb.RunSpec(
        data=s,
        model=wb.MLP(hidden=(32,)),
        optimizer=wb.SGD(lr=0.1),
        steps=200,
        batch_size=32,
        eval_every=50,
    )
    base.validate()
    ds = wb.run(wb.grid(base, {"seed": range(3)}))
    assert list(ds.task.values) == ["classes 0-1", "classes 2-3"]
    old = ds.task_acc.sel(task="classes 0-1").median("run")
    new = ds.task_acc.sel(task="classes 2-3").median("run")
    end_t0, end_t1 = float(old.sel(eval_step=100)), float(old.sel(eval_step=200))
    assert end_t0 > 0.9 and end_t1 < end_t0 - 0.5, (end_t0, end_t1)
    assert float(new.sel(eval_step=200)) > 0.9  # while the new classes are learned
