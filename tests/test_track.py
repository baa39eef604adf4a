"""Snapshots and sharpness recorded during training (``RunSpec(track=Track(...))``).

Lock-step checks: a tracked run trained beside others records what the same run trained alone
records; its sharpness is the top eigenvalue of the dense Hessian at its snapshot (the plain
reference), and AdamW's preconditioned sharpness the top eigenvalue of ``P⁻¹H`` with Adam's
denominator, rebuilt here from a plain per-run AdamW.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import workbench as wb
from workbench.landscape import layout_of, probe_data
from workbench.models.base import cross_entropy
from workbench.reference import train_reference

MODEL = wb.MLP(hidden=(6,))
DATA = wb.data_spec("gaussian", classes=3, dim=5)
BASE = wb.RunSpec(
    data=DATA, model=MODEL, optimizer=wb.SGD(lr=0.2), steps=30, batch_size=32, eval_every=10
)
TRACK = wb.Track(snapshot_every=10, sharpness_every=10, probe=128, iters=40)


def _tracked(spec, **kw):
    return dataclasses.replace(spec, track=dataclasses.replace(TRACK, **kw))


def _dense_top(theta_row: np.ndarray, batch, precondition=None) -> float:
    layout = layout_of(MODEL, DATA)
    x, y = batch

    def f(flat):
        return cross_entropy(
            MODEL.forward(layout.views(flat[None]), x[None].double(), None), y[None]
        )[0]

    H = torch.autograd.functional.hessian(f, torch.as_tensor(theta_row, dtype=torch.float64))
    if precondition is not None:
        s = torch.as_tensor(precondition, dtype=torch.float64).rsqrt()
        H = s[:, None] * H * s[None, :]
    ev = torch.linalg.eigvalsh(H)
    return float(ev[ev.abs().argmax()])


def test_a_tracked_run_records_what_it_records_alone():
    specs = [_tracked(dataclasses.replace(BASE, seed=s)) for s in (0, 1)] + [BASE]
    together = wb.run(specs)
    alone = wb.run([specs[1]])
    s_t, th_t = wb.snapshots(together, 1)
    s_a, th_a = wb.snapshots(alone, 0)
    assert s_t.tolist() == [0, 10, 20, 30] == s_a.tolist()
    np.testing.assert_allclose(th_t, th_a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        together.sharpness.isel(run=1), alone.sharpness.isel(run=0), rtol=1e-4
    )
    assert sorted(wb.snapshots(together)) == [0, 1]  # the untracked run has none
    assert np.isnan(together.sharpness.isel(run=2)).all()
    assert "sharpness_pre" not in together  # SGD: no preconditioner
    assert together.label.values.tolist() == ["seed=0", "seed=1", "seed=0"]  # track is no name


def test_sharpness_is_the_dense_top_eigenvalue_at_the_snapshot():
    ds = wb.run([_tracked(BASE)])
    steps, theta = wb.snapshots(ds, 0)
    batch = probe_data(MODEL, DATA, size=TRACK.probe)
    for step in (10, 30):
        got = float(ds.sharpness.sel(sharp_step=step)[0])
        want = _dense_top(theta[steps.tolist().index(step)], batch)
        assert got == pytest.approx(want, rel=2e-3), (step, got, want)
    assert float(ds.sharpness_residual.max()) < 0.05


def test_adamw_records_the_preconditioned_sharpness_of_its_denominator():
    """Adam's ``sqrt(v̂) + ε`` rebuilt from the plain reference run's ``exp_avg_sq``."""
    spec = dataclasses.replace(
        BASE, optimizer=wb.AdamW(lr=0.02, weight_decay=0.0), steps=10, track=None
    )
    spec = _tracked(spec, snapshot_every=1, sharpness_every=10)
    ds = wb.run([spec])
    _, theta = wb.snapshots(ds, 0)
    ref = train_reference(spec)  # the plain per-run twin: torch.optim.AdamW on the same batches
    np.testing.assert_allclose(ref["params"], theta[-1], rtol=1e-4, atol=1e-5)
    v_hat = ref["exp_avg_sq"].double().numpy() / (1 - 0.999**10)
    pre = np.sqrt(v_hat) + 1e-8
    want = _dense_top(theta[-1], probe_data(MODEL, DATA, size=TRACK.probe), precondition=pre)
    got = float(ds.sharpness_pre.sel(sharp_step=10)[0])
    assert got == pytest.approx(want, rel=5e-3)
    assert got > 10 * float(ds.sharpness.sel(sharp_step=10)[0])  # P is small early on


def test_snapshots_survive_save_load_and_the_cache(tmp_path):
    spec = _tracked(BASE)
    ds = wb.run([spec], cache=tmp_path / "cache")
    again = wb.run([spec], cache=tmp_path / "cache")  # from the cache
    for a, b in zip(wb.snapshots(ds, 0), wb.snapshots(again, 0), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ds.sharpness, again.sharpness)
    path = wb.save(ds, tmp_path / "r.nc")
    assert (tmp_path / "r.nc.snapshots.npz").exists()
    back = wb.load(path)
    np.testing.assert_array_equal(wb.snapshots(back, 0)[1], wb.snapshots(ds, 0)[1])
    assert "snapshots" in ds.attrs  # saving did not strip the caller's Dataset


def test_a_stream_snapshots_every_task_switch():
    stream = wb.class_incremental(DATA, classes_per_task=1, task_steps=7)
    spec = wb.RunSpec(
        data=stream,
        model=MODEL,
        optimizer=wb.SGD(lr=0.1),
        steps=21,
        batch_size=16,
        eval_every=10,
        track=wb.Track(snapshot_every=10),
    )
    steps, _ = wb.snapshots(wb.run([spec]), 0)
    assert steps.tolist() == [0, 7, 10, 14, 20, 21]


def test_a_fork_inherits_its_parents_snapshots():
    session = wb.Session([_tracked(BASE)], chunk_steps=5)
    session.pause(at_step=15)
    session.start()
    assert session.wait_paused(60)
    (child,) = session.fork([0])
    session.resume()
    assert session.wait(120) == "done"
    ds = session.dataset()
    s0, t0 = wb.snapshots(ds, 0)
    s1, t1 = wb.snapshots(ds, child)
    assert s0.tolist() == s1.tolist() == [0, 10, 20, 30]
    np.testing.assert_array_equal(t0[:2], t1[:2])  # shared past
    np.testing.assert_allclose(t0[2:], t1[2:], rtol=1e-6)  # same knobs: same future


def test_bad_tracks_are_refused_with_the_field_named():
    with pytest.raises(ValueError, match="snapshot_every=0 must be None"):
        wb.Track(snapshot_every=0)
    with pytest.raises(ValueError, match="probe=0 must be an int >= 1"):
        wb.Track(probe=0)
    with pytest.raises(ValueError, match="track=5 must be a Track"):
        wb.RunSpec(track=5)
    with pytest.raises(ValueError, match="no parameter snapshots"):
        wb.snapshots(wb.run([BASE]))
    spec = _tracked(BASE)
    assert wb.RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert "track" not in BASE.to_dict()  # untracked specs keep their cache keys
