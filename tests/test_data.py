"""Tests for workbench.data: determinism, shapes, caching, dataset semantics, validation."""

from __future__ import annotations

import json
import math
import pickle
import random

import numpy as np
import pytest
import torch

from workbench import data
from workbench.data import DATASETS, DataSpec, TensorData, data_spec, info, load, one_hot_pairs
from workbench.data import mnist1d as mnist1d_data

# Small versions of every dataset, so the generic tests stay fast.
SMALL = {
    "mnist1d": {"num_samples": 300},
    "digits": {},
    "gaussian": {"classes": 4, "dim": 5, "n_train": 64, "n_test": 32},
    "modular": {"p": 13},
    "markov": {"vocab": 8, "context": 12, "n_train": 40, "n_test": 10},
    "features": {"classes": 2, "dim": 8, "n_train": 40, "n_test": 20},
}


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("workbench-data")


@pytest.fixture(autouse=True)
def _cache_in_tmp(data_dir, monkeypatch):
    """Never touch the user's cache: every mnist1d load in this module caches under tmp."""
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(data_dir))


def _tensors(d: TensorData) -> list[torch.Tensor]:
    return [d.x_train, d.y_train, d.x_test, d.y_test]


def _same(a: TensorData, b: TensorData) -> bool:
    return all(torch.equal(u, v) for u, v in zip(_tensors(a), _tensors(b), strict=True))


# ----------------------------------------------------------------------------- specs


def test_registry_covers_the_documented_datasets():
    assert set(DATASETS) == {"mnist1d", "digits", "gaussian", "modular", "markov", "features"}
    for entry in DATASETS.values():
        assert entry.description and "\n" not in entry.description
        assert not {"name", "seed", "params", "replace", "to_dict"} & set(entry.defaults)


def test_spec_is_canonical_and_hashable():
    a = data_spec("gaussian", classes=5, dim=3)
    b = data_spec("gaussian", dim=3, classes=5, overlap=0)
    assert a == b and hash(a) == hash(b)
    assert [k for k, _ in a.params] == sorted(DATASETS["gaussian"].defaults)
    assert a.classes == 5 and a.overlap == 0.0 and isinstance(a.overlap, float)
    assert a != data_spec("gaussian", classes=5, dim=3, seed=1)
    assert DataSpec("gaussian", 0, {"dim": 3, "classes": 5}) == a


def test_spec_round_trips_through_json_and_pickle():
    for name, params in SMALL.items():
        spec = data_spec(name, seed=3, **params)
        d = spec.to_dict()
        assert d["name"] == name and d["seed"] == 3
        assert DataSpec.from_dict(json.loads(json.dumps(d))) == spec
        assert pickle.loads(pickle.dumps(spec)) == spec
    assert DataSpec.from_dict({"name": "digits"}) == data_spec("digits")


def test_spec_replace():
    spec = data_spec("gaussian", classes=5)
    assert spec.replace(seed=2).seed == 2
    assert spec.replace(overlap=0.5).classes == 5
    other = spec.replace(name="digits")
    assert other == data_spec("digits")
    with pytest.raises(ValueError, match="gaussian: unknown field 'vocab'.*classes"):
        spec.replace(vocab=3)
    with pytest.raises(ValueError, match=r"gaussian: overlap=2\.0 must be a number in \[0, 1\]"):
        spec.replace(overlap=2.0)


def test_spec_getattr_names_allowed_params():
    spec = data_spec("modular")
    with pytest.raises(AttributeError, match="no param 'vocab'.*'op', 'p', 'train_fraction'"):
        _ = spec.vocab


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda: data_spec("cifar"), r"data: name='cifar' is not a dataset; allowed: \['digits'"),
        (lambda: data_spec("gaussian", clases=3), r"gaussian: unknown param 'clases'.*'classes'"),
        (lambda: data_spec("gaussian", overlap=1.5), r"gaussian: overlap=1\.5 must be .*\[0, 1\]"),
        (lambda: data_spec("gaussian", classes=1), r"gaussian: classes=1 must be an integer >= 2"),
        (lambda: data_spec("gaussian", dim=2.5), r"gaussian: dim=2\.5 must be an integer >= 1"),
        (lambda: data_spec("gaussian", dim=True), r"gaussian: dim=True must be an integer"),
        (lambda: data_spec("gaussian", seed=-1), r"gaussian: seed=-1 must be an integer >= 0"),
        (lambda: data_spec("modular", op="pow"), r"modular: op='pow' must be one of \['add'"),
        (lambda: data_spec("modular", p=12, op="div"), r"modular: p=12 must be prime"),
        (lambda: data_spec("modular", p=3, train_fraction=0.05), r"train_fraction=0\.05"),
        (lambda: data_spec("markov", temperature=0.0), r"markov: temperature=0\.0 must be"),
        (lambda: data_spec("markov", distance=float("nan")), r"markov: distance=nan must be"),
        (lambda: data_spec("markov", vocab=1), r"markov: vocab=1 must be an integer in \[2,"),
        (lambda: data_spec("mnist1d", train_split=1.0), r"mnist1d: train_split=1\.0 must be"),
        (lambda: data_spec("mnist1d", num_samples=10, train_split=0.05), r"train_split=0\.05"),
        (lambda: data_spec("digits", test_fraction=1e-4), r"digits: test_fraction=0\.0001"),
        (lambda: load("gaussian", overlap=-0.1), r"gaussian: overlap=-0\.1"),
        (lambda: info("nope"), r"name='nope'"),
    ],
)
def test_validation_errors_name_field_and_value(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_modular_div_accepts_prime():
    assert data_spec("modular", p=13, op="div").p == 13


# ----------------------------------------------------------------------------- generic


@pytest.mark.parametrize("name", sorted(SMALL))
def test_shapes_dtypes_ranges_and_info(name):
    spec = data_spec(name, **SMALL[name])
    d = load(spec)
    assert d.name == name
    for t in _tensors(d):
        assert t.device.type == "cpu"
    assert d.y_train.dtype == d.y_test.dtype == torch.int64
    assert len(d.x_train) == len(d.y_train) == d.n_train
    assert len(d.x_test) == len(d.y_test) == d.n_test
    for y in (d.y_train, d.y_test):
        assert 0 <= int(y.min()) and int(y.max()) < d.n_classes
    if d.task == "tokens":
        assert d.x_train.dtype == torch.int64
        assert d.x_train.shape == d.y_train.shape == (d.n_train, spec.context)
        assert torch.equal(d.x_train[:, 1:], d.y_train[:, :-1])  # y is x shifted by one
        assert int(d.x_train.max()) < d.n_classes
    elif name == "modular":
        assert d.x_train.dtype == torch.int64 and d.x_train.shape[1:] == (2,)
    else:
        assert d.x_train.dtype == d.x_test.dtype == torch.float32
        assert d.x_train.ndim == 2
    expected = {
        "n_train": d.n_train,
        "n_test": d.n_test,
        "input_dim": d.input_dim,
        "n_classes": d.n_classes,
        "task": d.task,
        "vocab": d.vocab,
    }
    assert info(spec) == expected
    assert info(name, **SMALL[name]) == expected
    assert name in repr(d)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("mnist1d", {}),
        ("mnist1d", {"num_samples": 1234, "train_split": 0.5}),
        ("digits", {"test_fraction": 0.5}),
        ("gaussian", {"classes": 3, "dim": 7, "n_train": 11, "n_test": 5}),
        ("modular", {"p": 11, "op": "div", "train_fraction": 0.5}),
        ("modular", {"p": 10, "op": "sub", "train_fraction": 0.77}),
        ("markov", {"vocab": 5, "context": 3, "n_train": 7, "n_test": 2}),
    ],
)
def test_info_agrees_with_load(name, params):
    d = load(name, **params)
    assert info(name, **params) == {
        "n_train": d.n_train,
        "n_test": d.n_test,
        "input_dim": d.input_dim,
        "n_classes": d.n_classes,
        "task": d.task,
        "vocab": d.vocab,
    }


@pytest.mark.parametrize("name", sorted(SMALL))
def test_deterministic_per_seed(name, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path))  # mnist1d really regenerates
    spec = data_spec(name, seed=5, **SMALL[name])
    first = load(spec)
    assert load(spec) is first  # memoised
    data.clear_memo()
    (tmp_path / "x").mkdir()
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "x"))  # and no disk cache either
    again = load(spec)
    assert again is not first and _same(first, again)
    other = load(spec.replace(seed=6))
    assert not _same(first, other)


def _global_rng_states():
    # the legacy global generators are exactly what is under test here
    _, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    return (keys.tolist(), pos, has_gauss, cached), random.getstate(), torch.get_rng_state()


def test_loading_leaves_global_rng_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path))  # mnist1d really generates
    data.clear_memo()
    before = _global_rng_states()
    for name, params in SMALL.items():
        load(name, seed=9, **params)
    after = _global_rng_states()
    assert after[:2] == before[:2]
    assert torch.equal(after[2], before[2])


def test_memo_returns_same_object_for_equal_specs():
    a = load("gaussian", classes=3, n_train=10, n_test=10)
    assert load(data_spec("gaussian", n_test=10, n_train=10, classes=3, overlap=0)) is a
    assert load(data_spec("gaussian"), classes=3, n_train=10, n_test=10) is a


# ----------------------------------------------------------------------------- mnist1d


def test_mnist1d_default_matches_the_package_default():
    from mnist1d.data import get_dataset_args, make_dataset

    d = load("mnist1d")
    assert (d.n_train, d.n_test, d.input_dim, d.n_classes) == (4000, 1000, 40, 10)
    state = np.random.get_state()  # noqa: NPY002 (the package seeds the global RNG)
    ref = make_dataset(get_dataset_args())  # the package's own seed-42 dataset
    np.random.set_state(state)  # noqa: NPY002
    assert torch.equal(d.x_train, torch.from_numpy(ref["x"].astype(np.float32)))
    assert torch.equal(d.y_test, torch.from_numpy(ref["y_test"]))
    assert d.meta["generator_seed"] == 42


def _count_generations(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = mnist1d_data._generate_mnist1d

    def counting(**kwargs):
        calls.append(1)
        return real(**kwargs)

    monkeypatch.setattr(mnist1d_data, "_generate_mnist1d", counting)
    return calls


def test_mnist1d_second_load_reads_the_disk_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path))
    spec = data_spec("mnist1d", num_samples=200, seed=1)
    data.clear_memo()
    first = load(spec)
    files = list(tmp_path.glob("*.npz"))
    assert [f.name for f in files] == [f"{f.stem}.npz" for f in files] and len(files) == 1
    assert not list(tmp_path.glob("*.tmp"))

    def broken(**kwargs):
        raise AssertionError("generator called although the cache is valid")

    monkeypatch.setattr(mnist1d_data, "_generate_mnist1d", broken)
    data.clear_memo()
    assert _same(load(spec), first)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_mnist1d_corrupt_cache_is_regenerated(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path))
    spec = data_spec("mnist1d", num_samples=200, seed=2)
    data.clear_memo()
    first = load(spec)
    (path,) = tmp_path.glob("*.npz")
    raw = path.read_bytes()
    bad = {"truncate": raw[: len(raw) // 2], "garbage": b"not a zip" * 50, "empty": b""}[damage]
    path.write_bytes(bad)
    calls = _count_generations(monkeypatch)
    data.clear_memo()
    assert _same(load(spec), first)
    assert calls == [1]
    assert path.read_bytes() == raw  # the rewritten file is whole again
    data.clear_memo()
    load(spec)
    assert calls == [1]


def test_mnist1d_cache_file_for_other_params_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path))
    data.clear_memo()
    a = load("mnist1d", num_samples=200)
    (path,) = tmp_path.glob("*.npz")
    b_spec = data_spec("mnist1d", num_samples=200, seed=4)
    b_path = tmp_path / mnist1d_data._build_mnist1d(b_spec).meta["cache_file"].rsplit("/", 1)[1]
    b_path.write_bytes(path.read_bytes())  # a valid file, but for another key
    data.clear_memo()
    b = load(b_spec)
    assert not _same(a, b)


def test_mnist1d_unwritable_cache_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(blocker / "sub"))
    data.clear_memo()
    assert load("mnist1d", num_samples=100).n_train == 80


# ----------------------------------------------------------------------------- digits


def test_digits_scaled_and_split_by_seed():
    d = load("digits", seed=1)
    assert 0.0 <= float(d.x_train.min()) and float(d.x_train.max()) == 1.0
    assert (d.n_train, d.n_test, d.input_dim) == (1438, 359, 64)
    both = torch.cat([d.x_train, d.x_test])
    from sklearn.datasets import load_digits

    ref = torch.from_numpy(load_digits().data.astype(np.float32) / 16)
    assert torch.equal(both.sum(0), ref.sum(0))  # the split is a partition of all images


# ----------------------------------------------------------------------------- gaussian


def _nearest_prototype_accuracy(d: TensorData) -> float:
    protos = d.meta["prototypes"]
    pred = torch.cdist(d.x_test, protos).argmin(1)
    return float((pred == d.y_test).float().mean())


def test_gaussian_overlap_controls_separability():
    params = {"classes": 10, "dim": 20, "n_train": 100, "n_test": 2000}
    separated = load("gaussian", overlap=0.0, **params)
    assert _nearest_prototype_accuracy(separated) > 0.99
    # a least-squares linear classifier on train also separates it (independent of meta)
    x = torch.cat([separated.x_train, torch.ones(separated.n_train, 1)], 1).double()
    w = torch.linalg.lstsq(x, torch.eye(10).double()[separated.y_train]).solution
    assert float(((x @ w).argmax(1) == separated.y_train).float().mean()) == 1.0

    same = load("gaussian", overlap=1.0, **params)
    assert torch.count_nonzero(same.meta["prototypes"]) == 0
    assert abs(_nearest_prototype_accuracy(same) - 0.1) < 0.05
    half = load("gaussian", overlap=0.5, **params)
    assert 0.3 < _nearest_prototype_accuracy(half) < _nearest_prototype_accuracy(separated)


def test_gaussian_classes_are_balanced_and_sizes_independent():
    d = load("gaussian", classes=4, n_train=40, n_test=8)
    assert torch.bincount(d.y_train).tolist() == [10] * 4
    more = load("gaussian", classes=4, n_train=80, n_test=8)
    assert torch.equal(d.x_test, more.x_test)  # changing n_train leaves the test set alone


# ----------------------------------------------------------------------------- modular


@pytest.mark.parametrize(
    ("op", "p", "fn"),
    [
        ("add", 13, lambda a, b, p: (a + b) % p),
        ("sub", 12, lambda a, b, p: (a - b) % p),
        ("mul", 10, lambda a, b, p: (a * b) % p),
        ("div", 13, lambda a, b, p: next(c for c in range(p) if (c * b) % p == a)),
    ],
)
def test_modular_labels_and_split(op, p, fn):
    d = load("modular", p=p, op=op, train_fraction=0.4, seed=3)
    x = torch.cat([d.x_train, d.x_test])
    y = torch.cat([d.y_train, d.y_test])
    for (a, b), label in zip(x.tolist(), y.tolist(), strict=True):
        assert label == fn(a, b, p)
    pairs = {tuple(r) for r in x.tolist()}
    expected = {(a, b) for a in range(p) for b in range(p) if op != "div" or b != 0}
    assert pairs == expected and len(x) == len(expected)  # disjoint and covering
    assert d.n_train == int(0.4 * len(expected))
    assert d.meta == {"p": p, "op": op, "input": "tokens", "vocab": p}


def test_one_hot_pairs():
    x = torch.tensor([[0, 4], [3, 3]])
    h = one_hot_pairs(x, 5)
    assert h.dtype == torch.float32 and h.shape == (2, 10)
    assert h.sum(1).tolist() == [2.0, 2.0]
    assert torch.equal(h[:, :5].argmax(1), x[:, 0]) and torch.equal(h[:, 5:].argmax(1), x[:, 1])
    with pytest.raises(ValueError, match=r"one_hot_pairs: x has values in \[3, 5\]"):
        one_hot_pairs(torch.tensor([[3, 5]]), 5)
    with pytest.raises(ValueError, match=r"x.shape=\(3,\) must be \(n, 2\)"):
        one_hot_pairs(torch.tensor([1, 2, 3]), 5)


# ----------------------------------------------------------------------------- markov


def test_markov_bigrams_match_the_transition_matrix():
    d = load("markov", vocab=6, context=500, n_train=200, n_test=10, temperature=0.7)
    trans = d.meta["transition"]
    counts = torch.zeros(6, 6, dtype=torch.float64)
    counts.index_put_((d.x_train.flatten(), d.y_train.flatten()), torch.ones(1).double(), True)
    empirical = counts / counts.sum(1, keepdim=True)
    assert float((empirical - trans).abs().max()) < 0.02
    first = torch.bincount(d.x_train[:, 0], minlength=6).double() / d.n_train
    assert float((first - d.meta["stationary"]).abs().max()) < 0.12  # starts are stationary
    visits = torch.bincount(d.x_train.flatten(), minlength=6).double() / d.x_train.numel()
    assert float((visits - d.meta["stationary"]).abs().max()) < 0.01


def test_markov_entropy_rate_is_the_best_loss():
    d = load("markov", vocab=16, context=200, n_train=100, n_test=10)
    trans, pi, h = d.meta["transition"], d.meta["stationary"], d.meta["entropy_rate"]
    assert torch.allclose(pi @ trans, pi, atol=1e-12) and math.isclose(float(pi.sum()), 1.0)
    assert 0 < h < math.log(16)
    nll = -torch.log(trans[d.x_train, d.y_train]).mean()  # loss of the true model
    assert abs(float(nll) - h) < 0.02
    peaked = load("markov", vocab=16, context=2, n_train=1, n_test=1, temperature=0.2)
    assert peaked.meta["entropy_rate"] < h


def test_markov_distance_and_variant():
    base = {"vocab": 10, "context": 8, "n_train": 5, "n_test": 2}
    a = load("markov", distance=0.0, variant=0, **base)
    b = load("markov", distance=0.0, variant=1, **base)
    assert torch.equal(a.meta["transition"], b.meta["transition"])  # same language
    assert not torch.equal(a.x_train, b.x_train)  # but a fresh sample stream per variant
    far0 = load("markov", distance=1.0, variant=0, **base).meta["transition"]
    far1 = load("markov", distance=1.0, variant=1, **base).meta["transition"]
    near = load("markov", distance=0.1, variant=1, **base).meta["transition"]

    def gap(p, q):
        return float((p - q).abs().sum(1).mean())  # mean total-variation x 2 per row

    assert gap(far0, far1) > 0.5 and gap(a.meta["transition"], far1) > 0.5
    assert gap(a.meta["transition"], near) < gap(a.meta["transition"], far1) / 3


def test_spec_rejects_malformed_params():
    with pytest.raises(ValueError, match=r"gaussian: params=\(\('a',\),\) must be"):
        DataSpec("gaussian", 0, (("a",),))
    with pytest.raises(ValueError, match="gaussian: params=.* repeats a key"):
        DataSpec("gaussian", 0, (("dim", 1), ("dim", 2)))
