"""The drift and shots views, and the drifting and episodic stream builders."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch

import workbench as wb
from workbench.data import DataSpec, clear_memo, data_spec, info, load
from workbench.data.views import drift_rotation, first_shots
from workbench.streams import TaskStream

SMALL = {
    "mnist1d": {"num_samples": 300},
    "digits": {},
    "gaussian": {"classes": 4, "dim": 6, "n_train": 64, "n_test": 32},
    "features": {"classes": 2, "dim": 9, "n_train": 40, "n_test": 20},
}
GAUSS = data_spec("gaussian", classes=4, dim=8, n_train=256, n_test=128)


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    """mnist1d loads cache under tmp, never in the user's cache."""
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path_factory.getbasetemp() / "data"))


def _round_trips(s: TaskStream) -> None:
    assert TaskStream.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert hash(TaskStream.from_dict(s.to_dict())) == hash(s)


# -- specs ---------------------------------------------------------------------------------------


def test_views_at_their_defaults_leave_specs_alone_and_others_round_trip():
    plain = data_spec("gaussian")
    assert data_spec("gaussian", drift_angle=0, shots=0) == plain
    assert plain.to_dict() == data_spec("gaussian", drift_angle=0.0).to_dict()
    assert "drift_angle" not in plain.to_dict() and "shots" not in plain.to_dict()
    assert plain.drift_angle == 0.0 and plain.drift_seed == 0 and plain.shots == 0
    assert load("gaussian", drift_angle=0, shots=0) is load("gaussian")
    v = data_spec("digits", subset=[4, 2], shots=3, drift_angle=30, drift_seed=2)
    assert v.to_dict() == {
        "name": "digits",
        "seed": 0,
        "drift_angle": 30.0,
        "drift_seed": 2,
        "shots": 3,
        "subset": (2, 4),
        "test_fraction": 0.2,
    }
    assert DataSpec.from_dict(json.loads(json.dumps(v.to_dict()))) == v
    assert pickle.loads(pickle.dumps(v)) == v
    same = data_spec("digits", subset=(2, 4), shots=3, drift_angle=30.0, drift_seed=2)
    assert same == v and hash(same) == hash(v)
    assert (
        v.replace(drift_angle=0).to_dict()
        == data_spec("digits", subset=[2, 4], shots=3, drift_seed=2).to_dict()
    )


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda: data_spec("gaussian", drift_angle=400), r"gaussian: drift_angle=400 must be a nu"),
        (lambda: data_spec("gaussian", drift_angle=math.nan), r"drift_angle=nan must be a number"),
        (lambda: data_spec("gaussian", drift_seed=-1), r"gaussian: drift_seed=-1 must be an int"),
        (lambda: data_spec("digits", shots=-1), r"digits: shots=-1 must be an integer >= 0"),
        (lambda: data_spec("digits", shots=1.5), r"digits: shots=1\.5 must be an integer >= 0"),
        (lambda: data_spec("markov", drift_angle=9), r"markov: drift_angle=9 is a view of \["),
        (lambda: data_spec("modular", shots=2), r"modular: shots=2 is a view of \["),
        (
            lambda: data_spec("gaussian", dim=1, drift_angle=9),
            r"gaussian: drift_angle=9\.0 needs at least 2 input features to turn; this dataset",
        ),
        (lambda: wb.drifting(kind="sudden"), r"drifting: kind='sudden' must be one of \['abrupt'"),
        (lambda: wb.drifting(drift=0), r"drifting: drift=0 must be a nonzero number of degrees"),
        (lambda: wb.drifting(drift=360), r"drifting: drift=360 must be a nonzero number .*360\)"),
        (lambda: wb.drifting(drift=True), r"drifting: drift=True must be a nonzero number"),
        (lambda: wb.drifting(drift=math.inf), r"drifting: drift=inf must be a nonzero number"),
        (lambda: wb.drifting(drift="90"), r"drifting: drift='90' must be a nonzero number"),
        (lambda: wb.drifting(segments=1), r"drifting: segments=1 must be an integer >= 2"),
        (lambda: wb.drifting(segments=2.0), r"drifting: segments=2\.0 must be an integer >= 2"),
        (lambda: wb.drifting(segment_steps=0), r"drifting: segment_steps=0 must be an integer >="),
        (lambda: wb.drifting(seed=-1), r"drifting: seed=-1 must be an integer >= 0"),
        (lambda: wb.drifting(data=3), r"drifting: data=3 must be a DataSpec or a dataset name"),
        (
            lambda: wb.drifting(data_spec("gaussian", drift_angle=10)),
            r"drifting: data has drift_angle=10\.0; the builder sets drift_angle itself",
        ),
        (lambda: wb.drifting("markov"), r"markov: drift_angle=90\.0 is a view of \["),
        (lambda: wb.drifting(GAUSS.replace(dim=1)), r"needs at least 2 input features"),
        (lambda: wb.episodic(ways=0), r"episodic: ways=0 must be an integer in \[1, 10\], the cl"),
        (lambda: wb.episodic(ways=11), r"episodic: ways=11 must be an integer in \[1, 10\]"),
        (lambda: wb.episodic(ways=2.5), r"episodic: ways=2\.5 must be an integer in"),
        (lambda: wb.episodic(shots=0), r"episodic: shots=0 must be an integer >= 1"),
        (lambda: wb.episodic(episodes=0), r"episodic: episodes=0 must be an integer >= 1"),
        (
            lambda: wb.episodic(ways=9, episodes=11),
            r"episodic: episodes=11 must be at most 10, the distinct subsets of 9 of 10 classes",
        ),
        (lambda: wb.episodic(episode_steps=0), r"episodic: episode_steps=0 must be an integer"),
        (lambda: wb.episodic(seed=-2), r"episodic: seed=-2 must be an integer >= 0"),
        (
            lambda: wb.episodic(data_spec("digits", shots=3)),
            r"episodic: data has shots=3; the builder sets shots itself",
        ),
        (lambda: wb.episodic(data_spec("digits", subset=[1])), r"data has subset=\(1,\)"),
        (
            lambda: wb.episodic("markov"),
            r"markov: shots=5 is a view of \[.digits., .features., .gaussian., .mnist1d.\] only",
        ),
    ],
)
def test_bad_input_is_named(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


# -- the drift view ------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 7, 20])
def test_drift_rotation_is_a_rotation_turning_every_input_by_the_angle(dim):
    r = drift_rotation(dim, seed=3, angle=70.0)
    np.testing.assert_allclose(r @ r.T, np.eye(dim), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    assert np.array_equal(drift_rotation(dim, seed=3, angle=0.0), np.eye(dim))
    x = np.random.default_rng(0).standard_normal((50, dim))
    cos = np.einsum("nd,nd->n", x, x @ r.T) / (x**2).sum(1)
    if dim % 2 == 0:  # every input turns by exactly the angle
        np.testing.assert_allclose(cos, math.cos(math.radians(70.0)), atol=1e-12)
    else:  # one direction stays, so inputs turn by at most the angle
        assert (cos >= math.cos(math.radians(70.0)) - 1e-12).all() and (cos < 1).all()
    # a one-parameter group: R(a) R(b) = R(a + b), R(a)^T = R(-a), a full turn is the identity
    np.testing.assert_allclose(
        drift_rotation(dim, seed=3, angle=25.0) @ drift_rotation(dim, seed=3, angle=45.0),
        r,
        atol=1e-12,
    )
    np.testing.assert_allclose(r.T, drift_rotation(dim, seed=3, angle=-70.0), atol=1e-12)
    np.testing.assert_allclose(drift_rotation(dim, seed=3, angle=360.0), np.eye(dim), atol=1e-12)
    if dim % 2 == 0:
        np.testing.assert_allclose(drift_rotation(dim, seed=3, angle=180), -np.eye(dim), atol=1e-12)


def test_drift_rotation_depends_on_its_seed_only():
    a = drift_rotation(10, seed=1, angle=90.0)
    assert np.array_equal(a, drift_rotation(10, seed=1, angle=90.0))
    assert not np.allclose(a, drift_rotation(10, seed=2, angle=90.0))
    for data_seed in (0, 1):  # the same rotation whatever the data seed
        d = load("gaussian", seed=data_seed, drift_angle=90, drift_seed=1, dim=10)
        assert np.array_equal(d.meta["drift_rotation"], a)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_drift_view_turns_the_inputs_and_keeps_norms_labels_and_shapes(name):
    plain = load(name, **SMALL[name])
    d = load(name, drift_angle=120, drift_seed=4, **SMALL[name])
    r = torch.from_numpy(drift_rotation(plain.input_dim, seed=4, angle=120.0))
    for x, x0 in ((d.x_train, plain.x_train), (d.x_test, plain.x_test)):
        assert x.shape == x0.shape and x.dtype == torch.float32
        torch.testing.assert_close(x.double(), x0.double() @ r.T, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(x.norm(dim=1), x0.norm(dim=1), atol=1e-4, rtol=1e-5)
        assert not torch.allclose(x, x0, atol=1e-2)
    assert torch.equal(d.y_train, plain.y_train) and torch.equal(d.y_test, plain.y_test)
    assert info(name, drift_angle=120, **SMALL[name]) == info(name, **SMALL[name])
    # the class directions turn with the inputs
    for key in ("prototypes", "weak", "strong"):
        if key in plain.meta:
            torch.testing.assert_close(
                d.meta[key].double(), plain.meta[key].double() @ r.T, atol=1e-5, rtol=1e-5
            )
    clear_memo()  # deterministic: built again, the same data
    again = load(name, drift_angle=120, drift_seed=4, **SMALL[name])
    assert again is not d and torch.equal(again.x_train, d.x_train)


def test_a_half_turn_makes_the_plain_gaussian_classifier_wrong():
    # nearest prototype of the plain data: right before the drift, wrong after a half turn
    plain = load(GAUSS)
    protos = plain.meta["prototypes"]
    for angle, lo, hi in ((0, 0.99, 1.0), (90, 0.0, 0.6), (180, 0.0, 0.05)):
        d = load(GAUSS, drift_angle=angle)
        acc = (torch.cdist(d.x_test, protos).argmin(1) == d.y_test).float().mean()
        assert lo <= acc <= hi, (angle, float(acc))
        # the turned prototypes classify the turned data
        own = (torch.cdist(d.x_test, d.meta["prototypes"]).argmin(1) == d.y_test).float()
        assert own.mean() > 0.99


# -- the shots view ------------------------------------------------------------------------------


def test_first_shots_keeps_the_first_of_each_class_in_order():
    y = torch.tensor([2, 0, 2, 2, 1, 0, 0, 2])
    assert first_shots(y, 2).tolist() == [1, 1, 1, 0, 1, 1, 0, 0]
    assert first_shots(y, 1).tolist() == [1, 1, 0, 0, 1, 0, 0, 0]
    assert first_shots(y, 9).all()


@pytest.mark.parametrize("name", sorted(SMALL))
def test_shots_keeps_exactly_shots_per_class_and_the_whole_test_set(name):
    plain = load(name, **SMALL[name])
    d = load(name, shots=3, **SMALL[name])
    counts = torch.bincount(d.y_train, minlength=plain.n_classes)
    assert (counts == 3).all(), counts
    keep = first_shots(plain.y_train, 3)
    assert torch.equal(d.x_train, plain.x_train[keep]) and torch.equal(
        d.y_train, plain.y_train[keep]
    )
    assert torch.equal(d.x_test, plain.x_test) and torch.equal(d.y_test, plain.y_test)
    assert d.n_classes == plain.n_classes and d.x_train.shape[1:] == plain.x_train.shape[1:]
    sizes = info(name, shots=3, **SMALL[name])
    assert (sizes["n_train"], sizes["n_test"]) == (d.n_train, d.n_test)
    # with a class subset: the first shots of the kept classes, their test examples only
    s = load(name, shots=2, subset=[1, 0], **SMALL[name])
    assert (
        s.y_train.tolist()
        == plain.y_train[first_shots(plain.y_train, 2)][
            plain.y_train[first_shots(plain.y_train, 2)] <= 1
        ].tolist()
    )
    assert sorted(s.y_train.tolist()) == [0, 0, 1, 1] and set(s.y_test.tolist()) == {0, 1}
    assert info(name, shots=2, subset=[0, 1], **SMALL[name])["n_train"] == 4
    if "strong_mask" in plain.meta:  # features: the mask follows the examples kept
        assert torch.equal(d.meta["strong_mask"], plain.meta["strong_mask"][keep])


def test_a_class_with_fewer_examples_than_shots_keeps_all_of_them():
    spec = data_spec("gaussian", classes=3, n_train=7, n_test=6, shots=3)  # 3, 2, 2 per class
    d = load(spec)
    assert torch.bincount(d.y_train).tolist() == [3, 2, 2] and info(spec)["n_train"] == 7


# -- the builders ------------------------------------------------------------------------------


def test_abrupt_drift_jumps_by_drift_at_every_switch():
    s = wb.drifting(GAUSS, drift=90, segments=3, segment_steps=40, seed=5)
    assert s.names == ("drift 0°", "drift 90°", "drift 180°") and s.starts == (0, 40, 80)
    assert s.tasks[0] == GAUSS  # segment 0 is the plain dataset, the same spec and batches
    assert [t.drift_angle for t in s.tasks] == [0.0, 90.0, 180.0]
    assert [t.drift_seed for t in s.tasks] == [0, 5, 5]
    _round_trips(s)
    one = wb.drifting(GAUSS)  # the default: one jump of 90 degrees half way
    assert one.names == ("drift 0°", "drift 90°") and one.starts == (0, 200)
    # a full turn is the plain dataset again: a recurring concept, one spec
    c = wb.drifting(GAUSS, drift=180, segments=4)
    assert (
        c.tasks[2] == c.tasks[0] and c.tasks[3] == c.tasks[1] and c.first_visits() == (0, 1, 0, 1)
    )
    assert c.names[2:] == ("drift 360°", "drift 540°")
    n = wb.drifting("digits", drift=-45, segments=3)
    assert n.names == ("drift 0°", "drift -45°", "drift -90°")
    assert [t.drift_angle for t in n.tasks[1:]] == [315.0, 270.0]
    _round_trips(n)


def test_gradual_drift_moves_a_little_per_segment():
    s = wb.drifting(GAUSS, kind="gradual", drift=60, segments=12, segment_steps=10)
    assert len(s) == 12 and s.starts == tuple(range(0, 120, 10))
    assert s.names[:3] == ("drift 0°", "drift 5°", "drift 10°") and s.names[-1] == "drift 55°"
    assert [t.drift_angle for t in s.tasks[1:]] == [5.0 * k for k in range(1, 12)]
    assert len(wb.drifting(kind="gradual")) == 10  # the default: ten segments
    _round_trips(s)
    # names keep enough digits to stay distinct
    fine = wb.drifting(GAUSS, kind="gradual", drift=0.001, segments=3)
    assert len(set(fine.names)) == 3 and fine.names[0] == "drift 0°"


def test_episodes_draw_distinct_class_subsets_with_few_shots():
    s = wb.episodic("digits", ways=5, shots=4, episodes=6, episode_steps=25, seed=3)
    assert s.starts == (0, 25, 50, 75, 100, 125) and len(set(s.tasks)) == 6
    for k, (task, name) in enumerate(zip(s.tasks, s.names, strict=True)):
        assert len(task.subset) == 5 and task.shots == 4
        assert name == f"ep {k}: " + ",".join(str(c) for c in task.subset)
        d = load(task)
        assert torch.bincount(d.y_train, minlength=10)[list(task.subset)].tolist() == [4] * 5
        assert set(d.y_test.tolist()) == set(task.subset) and d.n_classes == 10
        assert d.n_test == int(torch.isin(load("digits").y_test, torch.tensor(task.subset)).sum())
    assert s == wb.episodic("digits", ways=5, shots=4, episodes=6, episode_steps=25, seed=3)
    assert s != wb.episodic("digits", ways=5, shots=4, episodes=6, episode_steps=25, seed=4)
    longer = wb.episodic("digits", ways=5, shots=4, episodes=9, episode_steps=25, seed=3)
    assert longer.tasks[:6] == s.tasks  # a longer stream extends a shorter one
    _round_trips(s)
    every = wb.episodic(GAUSS, ways=3, shots=2, episodes=4)  # all C(4, 3) subsets
    assert sorted(t.subset for t in every.tasks) == [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)]


# -- training ------------------------------------------------------------------------------------


def test_an_abrupt_drift_makes_the_incoming_batches_wrong_then_they_are_learned():
    # Before the drift the model has fit the plain data (train_loss ~0.15); the first batches
    # after a 90-degree turn are classified near chance (0.25 for 4 classes) with confident
    # logits, so the loss jumps ~10x (measured, 4 data seeds x 3 runs: 0.10-0.18 -> 1.2-3.3,
    # accuracy on the turned test set at the switch 0.10-0.42), and SGD then learns the turned
    # data. Margins asked for: the median jumps by > 0.8 and 5x, accuracy < 0.6 at the switch.
    s = wb.drifting(GAUSS, drift=90, segment_steps=60)
    base = wb.RunSpec(
        data=s,
        model=wb.MLP(hidden=(32,)),
        optimizer=wb.SGD(lr=0.1),
        steps=120,
        batch_size=32,
        eval_every=60,
    )
    base.validate()
    ds = wb.run(wb.grid(base, {"seed": range(3)}), device="cpu")
    assert list(ds.task.values) == ["drift 0°", "drift 90°"]
    loss = ds.train_loss.values  # (run, step): the loss of each incoming batch
    before = float(np.median(loss[:, 55:60].mean(1)))
    after = float(np.median(loss[:, 60]))
    assert after > before + 0.8 and after > 5 * before, (before, after)
    acc = ds.task_acc.median("run")  # (eval_step, task)
    assert float(acc.sel(eval_step=60, task="drift 0°")) > 0.9
    assert float(acc.sel(eval_step=60, task="drift 90°")) < 0.6
    assert float(acc.sel(eval_step=120, task="drift 90°")) > 0.9  # learned after the drift
    assert float(np.median(loss[:, 115:120].mean(1))) < after / 3


def test_episodes_train_with_a_batch_of_ways_times_shots():
    s = wb.episodic(GAUSS, ways=2, shots=8, episodes=3, episode_steps=10, seed=1)
    spec = wb.RunSpec(
        data=s,
        model=wb.MLP(hidden=(32,)),
        optimizer=wb.SGD(lr=0.1),
        steps=30,
        batch_size=16,
        eval_every=10,
    )
    spec.validate()
    ds = wb.run([spec], device="cpu")
    assert list(ds.task.values) == list(s.names) and np.isfinite(ds.train_loss.values).all()
    with pytest.raises(ValueError, match=r"batch_size=17 is larger than the training set of"):
        wb.RunSpec(
            data=s, model=wb.MLP(hidden=(32,)), optimizer=wb.SGD(lr=0.1), steps=30, batch_size=17
        ).validate()
