"""Results: Dataset layout and provenance, save/load round trip, the cache and its atomicity."""

import json

import numpy as np
import pytest
import xarray as xr

import workbench as wb
from workbench import results, schedules


@pytest.fixture(scope="module")
def sweep():
    base = wb.RunSpec(
        data="digits",
        model=wb.MLP(hidden=(16,)),
        optimizer=wb.AdamW(lr=schedules.cosine(peak=1e-2, steps=30, warmup=3)),
        steps=30,
        batch_size=32,
        eval_every=10,
    )
    specs = wb.grid(base, {"optimizer.lr.peak": [3e-3, 1e-2], "seed": [0, 1]})
    return specs, wb.run(specs)


def test_dataset_layout_and_provenance(sweep):
    specs, ds = sweep
    assert ds.train_loss.dims == ("run", "step") and ds.eval_acc.dims == ("run", "eval_step")
    assert ds["optimizer.lr.peak"].values.tolist() == [3e-3, 3e-3, 1e-2, 1e-2]
    assert ds.seed.values.tolist() == [0, 1, 0, 1]
    assert ds.group.values.tolist() == ["lr.peak=0.003"] * 2 + ["lr.peak=0.01"] * 2
    assert ds.train_loss.attrs["units"] == "nats" and "long_name" in ds.eval_acc.attrs
    for key in ("workbench_version", "torch_version", "device", "git_commit", "created"):
        assert ds.attrs[key]
    assert wb.specs_of(ds) == specs
    assert json.loads(ds.attrs["spec_keys"]) == [s.key() for s in specs]


def test_save_load_round_trips_exactly(sweep, tmp_path):
    _, ds = sweep
    path = wb.save(ds, tmp_path / "sweep.nc")
    back = wb.load(path)
    xr.testing.assert_identical(back, ds)
    assert back.train_loss.dtype == np.float32


def test_interrupted_save_leaves_no_file(sweep, tmp_path, monkeypatch):
    _, ds = sweep
    target = tmp_path / "sweep.nc"

    def boom(self, path, **kw):
        with open(path, "wb") as f:
            f.write(b"\x89HDF half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(KeyboardInterrupt):
        wb.save(ds, target)
    assert list(tmp_path.iterdir()) == []


def test_cache_returns_stored_runs_without_training(sweep, tmp_path, monkeypatch):
    specs, ds = sweep
    first = wb.run(specs, cache=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 4

    def no_training(*a, **k):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(wb.engine, "stream", no_training)
    again = wb.run(specs, cache=tmp_path)
    for v in ("train_loss", "eval_acc", "lr", "diverged_step"):
        np.testing.assert_array_equal(again[v].values, first[v].values)
    # the cache result equals a fresh run
    np.testing.assert_allclose(again.train_loss.values, ds.train_loss.values, atol=1e-6)


def test_cache_computes_only_missing_runs(sweep, tmp_path, monkeypatch):
    specs, _ = sweep
    wb.run(specs[:2], cache=tmp_path)
    trained = []
    real = wb.engine.stream

    def counting(sub, **kw):
        trained.extend(sub)
        return real(sub, **kw)

    monkeypatch.setattr(wb.engine, "stream", counting)
    wb.run(specs, cache=tmp_path)
    assert trained == specs[2:]


def test_interrupted_cache_write_is_never_read_as_valid(sweep, tmp_path, monkeypatch):
    specs, _ = sweep
    cache = wb.Cache(tmp_path)
    record = {
        "metrics": {"train_loss": np.ones(30, np.float32)},
        "eval_steps": np.arange(2),
        "evals": {"eval_acc": np.ones(2, np.float32)},
        "diverged_step": -1,
    }

    def half_write(file, **arrays):
        file.write(b"PK\x03\x04 truncated")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", half_write)
    with pytest.raises(KeyboardInterrupt):
        cache.put(specs[0], record)
    monkeypatch.undo()
    assert cache.get(specs[0]) is None
    assert list(tmp_path.iterdir()) == []
    # a corrupt entry at the final path (e.g. a disk error) is a miss and is removed
    cache.path(specs[0]).write_bytes(b"garbage")
    assert cache.get(specs[0]) is None and not cache.path(specs[0]).exists()
    cache.put(specs[0], record)
    np.testing.assert_array_equal(cache.get(specs[0])["metrics"]["train_loss"], np.ones(30))


def test_bad_cache_argument_is_named():
    with pytest.raises(ValueError, match="cache=42"):
        results.as_cache(42)
