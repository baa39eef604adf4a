"""Lookahead, EMA slow weights and the backbone LR ratio: specs, lock-step against the plain
per-run reference, forks, live knobs, results and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import workbench as wb
from workbench.bucket import Bucket
from workbench.reference import train_reference
from workbench.slow import EMA, Lookahead, Slow, horizon, knobs, sync_table

STEPS = 24


def _spec(slow, *, opt=None, seed=0, data="digits", steps=STEPS):
    return wb.RunSpec(
        data=data,
        model=wb.MLP(hidden=(16,)),
        optimizer=opt or wb.SGD(lr=0.1, momentum=0.9),
        steps=steps,
        batch_size=32,
        eval_every=7,
        seed=seed,
        slow=slow,
    )


CASES = {
    "lookahead keep": (Slow(lookahead=Lookahead(k=3, alpha=0.5)), None),
    "lookahead reset": (Slow(lookahead=Lookahead(k=4, alpha=0.8, momentum="reset")), None),
    "lookahead pullback adamw": (
        Slow(lookahead=Lookahead(k=5, alpha=0.6, momentum="pullback")),
        wb.AdamW(lr=3e-3, weight_decay=0.1),
    ),
    "ema warm-up every prob": (
        Slow(
            ema=(
                EMA(beta=0.9, gamma=1.0, power=1.0, every=2, prob=0.7, name="plastic"),
                EMA(beta=wb.schedules.linear(start=0.5, end=0.95, steps=20), name="ema"),
            )
        ),
        wb.AdamW(lr=3e-3),
    ),
    "backbone ratio sgd": (Slow(backbone_lr=0.1), wb.SGD(lr=0.1, momentum=0.9, weight_decay=0.1)),
    "backbone ratio adamw + lookahead": (
        Slow(lookahead=Lookahead(k=2, alpha=0.5), backbone_lr=0.0),
        wb.AdamW(lr=3e-3, weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_lockstep_matches_the_plain_per_run_reference(case):
    slow, opt = CASES[case]
    specs = [_spec(slow, opt=opt, seed=s) for s in (0, 3, 5)]
    bucket = Bucket(specs, device="cpu")
    chunk = bucket.advance(STEPS)
    for i, spec in enumerate(specs):
        ref = train_reference(spec)
        np.testing.assert_allclose(
            chunk.metrics["train_loss"][i], ref["train_loss"].numpy(), rtol=0, atol=1e-5
        )
        torch.testing.assert_close(bucket.model.flat[i], ref["params"], rtol=0, atol=1e-5)
        rows = bucket.slow.copy_rows()
        for name, row in zip(slow.copies, rows, strict=True):
            torch.testing.assert_close(row[i], ref["copies"][name], rtol=0, atol=1e-5)


def test_a_bucket_of_different_settings_equals_each_run_alone():
    base = _spec(
        Slow(lookahead=Lookahead(k=3, alpha=0.5), ema=EMA(beta=0.9)), opt=wb.AdamW(lr=3e-3)
    )
    specs = wb.grid(base, {"slow.lookahead.k": [2, 5], "slow.ema.0.beta": [0.5, 0.99]})
    together = Bucket(specs, device="cpu")
    together.advance(STEPS)
    for i, spec in enumerate(specs):
        alone = Bucket([spec], device="cpu")
        alone.advance(STEPS)
        torch.testing.assert_close(together.model.flat[i], alone.model.flat[0], rtol=0, atol=1e-6)
        for a, b in zip(together.slow.copy_rows(), alone.slow.copy_rows(), strict=True):
            torch.testing.assert_close(a[i], b[0], rtol=0, atol=1e-6)


def test_reptile_style_sync_at_task_switches():
    stream = wb.class_incremental("digits", classes_per_task=5, task_steps=10)
    slow = Slow(lookahead=Lookahead(alpha=0.3, sync="tasks", momentum="reset"))
    spec = _spec(slow, data=stream, steps=30)
    bucket = Bucket([spec], device="cpu")
    chunk = bucket.advance(30)
    ref = train_reference(spec)
    torch.testing.assert_close(bucket.model.flat[0], ref["params"], rtol=0, atol=1e-5)
    torch.testing.assert_close(bucket.slow.weights[0], ref["copies"]["slow"], rtol=0, atol=1e-5)
    assert np.flatnonzero(chunk.metrics["lookahead_sync"][0]).tolist() == [9]  # end of task 0


def test_sync_table_counts_from_the_last_sync_when_k_changes():
    k = np.array([[2, 2, 2, 2, 4, 4, 4, 4, 4]], dtype=float)
    assert np.flatnonzero(sync_table(k)[0]).tolist() == [1, 3, 7]


def test_alpha_one_is_the_inner_optimizer_and_ema_beta_zero_is_the_weights():
    plain = _spec(None)
    spec = _spec(Slow(lookahead=Lookahead(k=3, alpha=1.0), ema=EMA(beta=0.0)))
    a, b = Bucket([plain], device="cpu"), Bucket([spec], device="cpu")
    a.advance(STEPS)
    b.advance(STEPS)
    torch.testing.assert_close(b.model.flat, a.model.flat, rtol=0, atol=1e-6)
    torch.testing.assert_close(b.slow.ema[0], a.model.flat, rtol=0, atol=1e-6)


def test_the_dataset_has_copies_knobs_syncs_and_horizons(tmp_path):
    base = _spec(Slow(lookahead=Lookahead(k=4, alpha=0.5), ema=EMA(beta=0.9, every=2)))
    specs = wb.grid(base, {"slow.lookahead.alpha": [0.5, 0.25]}) + [_spec(None)]
    ds = wb.run(specs, cache=tmp_path)
    assert ds["copy"].values.tolist() == ["fast", "slow", "ema"]
    assert ds.copy_eval_loss.dims == ("run", "eval_step", "copy")
    np.testing.assert_allclose(
        ds.copy_eval_loss.sel(copy="fast").values[:2], ds.eval_loss.values[:2]
    )
    assert np.isnan(ds.copy_eval_loss.values[2]).all()  # the plain run has no copies
    np.testing.assert_allclose(ds.horizon.sel(copy="slow").values[:2, 0], [8.0, 16.0])
    np.testing.assert_allclose(ds.horizon.sel(copy="ema").values[0, 0], 20.0, rtol=1e-6)
    assert np.flatnonzero(ds.lookahead_sync.values[0]).tolist() == [3, 7, 11, 15, 19, 23]
    assert ds.lookahead_alpha.values[1, 0] == 0.25 and "long_name" in ds.ema_beta.attrs
    again = wb.run(specs, cache=tmp_path)  # from the cache
    np.testing.assert_array_equal(again.copy_eval_acc.values, ds.copy_eval_acc.values)


def test_a_stream_records_every_copy_on_every_task():
    stream = wb.class_incremental("digits", classes_per_task=5, task_steps=12)
    ds = wb.run([_spec(Slow(ema=EMA(beta=0.8)), data=stream)])
    assert ds.copy_task_acc.dims == ("run", "eval_step", "copy", "task")
    np.testing.assert_allclose(
        ds.copy_task_acc.sel(copy="fast").values, ds.task_acc.values, rtol=0, atol=0
    )


def test_forks_carry_the_slow_buffers():
    spec = _spec(Slow(lookahead=Lookahead(k=3, alpha=0.5, momentum="pullback"), ema=EMA(beta=0.9)))
    straight = Bucket([spec], device="cpu")
    straight.advance(STEPS)
    forked = Bucket([spec], device="cpu")
    forked.advance(10)
    forked.fork([0], runs=[1])
    forked.advance(STEPS)
    for row in (0, 1):
        torch.testing.assert_close(forked.model.flat[row], straight.model.flat[0], rtol=0, atol=0)
        torch.testing.assert_close(forked.slow.ema[0, row], straight.slow.ema[0, 0], rtol=0, atol=0)
        torch.testing.assert_close(
            forked.slow.weights[row], straight.slow.weights[0], rtol=0, atol=0
        )


@pytest.mark.parametrize(
    ("knob", "value", "path"),
    [
        ("lookahead_alpha", 0.9, "slow.lookahead.alpha"),
        ("lookahead_k", 2, "slow.lookahead.k"),
        ("ema_beta", 0.5, "slow.ema.0.beta"),
        ("backbone_lr", 0.2, "slow.backbone_lr"),
    ],
)
def test_a_live_change_is_recorded_effective_and_reproducible(knob, value, path):
    slow = Slow(lookahead=Lookahead(k=4, alpha=0.5), ema=EMA(beta=0.95), backbone_lr=1.0)
    spec = _spec(slow, opt=wb.AdamW(lr=3e-3))
    s = wb.Session([spec, spec], chunk_steps=10)
    s.pause(at_step=10)
    s.start()
    s.wait_paused()
    s.set_knob(knob, value, runs=[1])
    s.resume()
    s.wait()
    ds = s.dataset()
    assert ds[knob].values[1, 9] != value and ds[knob].values[1, 10] == pytest.approx(value)
    assert ds[knob].values[0, 10] != pytest.approx(value)
    assert not np.allclose(ds.copy_eval_loss.values[0, -1], ds.copy_eval_loss.values[1, -1])
    # what the session trained, written as a spec, trains to the same weights
    (trained,) = s.trained_specs()[1:]
    assert knobs(trained.slow)[knob].path == path
    assert knobs(trained.slow)[knob].value != knobs(slow)[knob].value  # the change is in it
    redo = wb.run([trained])
    np.testing.assert_allclose(
        redo.copy_eval_loss.values[0], ds.copy_eval_loss.values[1], rtol=0, atol=1e-5
    )


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match=r"EMA: beta=1.0 must be \[0, 1\)"):
        EMA(beta=1.0)
    with pytest.raises(ValueError, match=r"Lookahead: k=0 must be a whole number >= 1"):
        Lookahead(k=0)
    with pytest.raises(ValueError, match=r"Lookahead: k=2.5 must be a whole number"):
        Lookahead(k=2.5)
    with pytest.raises(ValueError, match=r"Slow: backbone_lr=-0.1 must be >= 0"):
        Slow(backbone_lr=-0.1)
    with pytest.raises(ValueError, match="momentum='later' must be one of keep, reset, pullback"):
        Lookahead(momentum="later")
    with pytest.raises(ValueError, match="ema names"):
        Slow(ema=(EMA(), EMA()))
    with pytest.raises(ValueError, match="Slow: nothing to do"):
        Slow()
    with pytest.raises(ValueError, match="name='fast'"):
        EMA(name="fast")
    sched = wb.schedules.linear(start=0.5, end=1.5, steps=STEPS)
    with pytest.raises(ValueError, match=r"slow.lookahead.alpha: lookahead_alpha at step \d+"):
        wb.run([_spec(Slow(lookahead=Lookahead(alpha=sched)))])
    with pytest.raises(ValueError, match="sync='tasks' .* needs a TaskStream"):
        _spec(Slow(lookahead=Lookahead(sync="tasks"))).validate()
    with pytest.raises(ValueError, match="momentum='reset' needs an optimizer with one"):
        wb.RunSpec(optimizer=wb.Muon(), slow=Slow(lookahead=Lookahead(momentum="reset"))).validate()
    bucket = Bucket([_spec(Slow(ema=EMA(beta=0.9)))], device="cpu")
    with pytest.raises(ValueError, match=r"set_knob: ema_beta would become 1; it must be \[0, 1\)"):
        bucket.set_hyper("ema_beta", [0], torch.tensor([1.0]))
    with pytest.raises(ValueError, match="'lookahead_k' is not a hyperparameter"):
        bucket.set_hyper("lookahead_k", [0], torch.tensor([3.0]))


def test_knobs_and_horizon_put_mechanisms_on_one_axis():
    s = Slow(
        lookahead=Lookahead(k=6, alpha=0.5),
        ema=(EMA(beta=0.999, prob=0.7, name="stable"), EMA(beta=0.99, every=10, name="teacher")),
    )
    assert horizon(s) == pytest.approx({"slow": 12.0, "stable": 1 / (0.001 * 0.7), "teacher": 1000})
    assert set(knobs(s)) >= {"stable_beta", "teacher_every", "lookahead_k"}
    assert Slow.from_dict(s.to_dict()) == s
    spec = _spec(s)
    assert wb.RunSpec.from_dict(spec.to_dict()) == spec
    assert wb.spec.run_labels(wb.grid(spec, {"slow.ema.1.beta": [0.9, 0.99]})) == [
        "ema.1.beta=0.9",
        "ema.1.beta=0.99",
    ]


def _cls_er(consistency=0.1):
    return Slow(
        ema=(
            EMA(beta=0.9, gamma=1.0, power=1.0, prob=0.9, name="plastic"),
            EMA(beta=0.95, gamma=1.0, power=1.0, prob=0.7, name="stable"),
        ),
        consistency=consistency,
    )


def test_cls_er_consistency_matches_the_reference():
    stream = wb.class_incremental("digits", classes_per_task=5, task_steps=12)
    base = _spec(_cls_er(), data=stream, opt=wb.SGD(lr=0.05, momentum=0.9))
    base = wb.set_path(base, "replay", wb.Replay(size=64, ratio=0.5))
    specs = [wb.set_path(base, "seed", s) for s in (0, 2)]
    bucket = Bucket(specs, device="cpu")
    chunk = bucket.advance(STEPS)
    cons = chunk.metrics["consistency_loss"]
    assert (cons[:, :12] == 0).all() and (cons[:, 13:] > 0).all()  # replay starts with task 1
    for i, spec in enumerate(specs):
        ref = train_reference(spec)
        np.testing.assert_allclose(cons[i], ref["consistency_loss"].numpy(), rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(bucket.model.flat[i], ref["params"], rtol=0, atol=1e-5)
        for name, row in zip(("plastic", "stable"), bucket.slow.ema, strict=True):
            torch.testing.assert_close(row[i], ref["copies"][name], rtol=0, atol=1e-5)
    # the consistency term changes training; weight 0 trains as plain replay with two EMAs
    zero = Bucket([wb.set_path(specs[0], "slow.consistency", 0.0)], device="cpu")
    zero.advance(STEPS)
    assert not torch.allclose(zero.model.flat[0], bucket.model.flat[0])


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_error_memory_matches_the_reference(loss):
    stream = wb.drifting("gaussian", drift=90.0, segment_steps=12)
    mem = wb.slow.ErrorMemory(size=64, neighbours=4, weight=0.8)
    base = _spec(Slow(error_memory=mem), data=stream)
    base = wb.set_path(base, "model.loss", loss)
    specs = [
        base,
        wb.set_path(wb.set_path(base, "slow.error_memory.size", 32), "seed", 1),
        wb.set_path(base, "slow.error_memory.neighbours", 1),
    ]
    bucket = Bucket(specs, device="cpu")
    chunk = bucket.advance(STEPS)
    plain = Bucket([wb.set_path(s, "slow", None) for s in specs], device="cpu")
    plain.advance(STEPS)
    torch.testing.assert_close(bucket.model.flat, plain.model.flat, rtol=0, atol=0)
    corrected = chunk.metrics["corrected_loss"]
    np.testing.assert_allclose(corrected[:, 0], chunk.metrics["train_loss"][:, 0], rtol=1e-6)
    for i, spec in enumerate(specs):
        ref = train_reference(spec)
        np.testing.assert_allclose(
            corrected[i], ref["corrected_loss"].numpy(), rtol=1e-5, atol=1e-6
        )


def test_consistency_and_memory_refuse_what_they_cannot_use():
    with pytest.raises(ValueError, match="consistency needs EMA copies"):
        Slow(consistency=0.1)
    with pytest.raises(ValueError, match="needs a replay memory"):
        _spec(_cls_er()).validate()
    mem = Slow(error_memory=wb.slow.ErrorMemory(size=16))
    with pytest.raises(ValueError, match=r"error_memory.size=16 must be at least batch_size=32"):
        _spec(mem).validate()
    with pytest.raises(ValueError, match="neighbours=9 must be at most size=8"):
        wb.slow.ErrorMemory(size=8, neighbours=9)


def test_copies_are_snapshotted_with_the_fast_weights_and_their_distance_recorded(tmp_path):
    slow = Slow(lookahead=Lookahead(k=4, alpha=0.5), ema=EMA(beta=0.9))
    spec = wb.set_path(_spec(slow), "track", wb.Track(snapshot_every=6))
    ds = wb.run([spec], cache=tmp_path)
    steps, fast = wb.snapshots(ds, 0)
    steps_slow, slow_theta = wb.snapshots(ds, 0, copy="slow")
    assert steps.tolist() == steps_slow.tolist() == [0, 6, 12, 18, 24]
    bucket = Bucket([spec], device="cpu")
    bucket.advance(STEPS)
    np.testing.assert_allclose(slow_theta[-1], bucket.slow.weights[0].numpy(), atol=0)
    np.testing.assert_allclose(wb.snapshots(ds, 0, copy="ema")[1][-1], bucket.slow.ema[0, 0])
    with pytest.raises(ValueError, match="no weight copy 'plastic'; it has: fast, slow, ema"):
        wb.snapshots(ds, 0, copy="plastic")
    dist = ds.copy_distance.isel(run=0)
    assert (dist.sel(copy="fast") == 0).all() and (dist.sel(copy="ema").values[1:] > 0).all()
    np.testing.assert_allclose(
        dist.sel(copy="ema").values[-1],
        np.linalg.norm(fast[-1] - wb.snapshots(ds, 0, copy="ema")[1][-1]),
        rtol=1e-5,
    )
    wb.save(ds, tmp_path / "r.nc")
    back = wb.load(tmp_path / "r.nc")
    np.testing.assert_array_equal(wb.snapshots(back, 0, copy="slow")[1], slow_theta)
    cached = wb.run([spec], cache=tmp_path)
    np.testing.assert_array_equal(
        wb.snapshots(cached, 0, copy="ema")[1], wb.snapshots(ds, 0, copy="ema")[1]
    )


def test_classifier_alignment_matches_the_reference_and_restores_old_classes():
    stream = wb.class_incremental("digits", classes_per_task=2, task_steps=15, order=range(6))
    align = wb.ClassifierAlignment(samples=32, steps=20, lr=0.1)
    base = wb.RunSpec(
        data=stream,
        model=wb.MLP(hidden=(16,)),
        optimizer=wb.AdamW(lr=3e-3),
        steps=45,
        batch_size=16,
        eval_every=15,
        slow=Slow(backbone_lr=0.1, align=align),
    )
    specs = [wb.set_path(base, "seed", s) for s in (0, 4)]
    bucket = Bucket(specs, device="cpu")
    bucket.advance(45)
    for i, spec in enumerate(specs):
        ref = train_reference(spec)
        torch.testing.assert_close(bucket.model.flat[i], ref["params"], rtol=0, atol=2e-5)
    # three tasks of 60 steps, backbone at 0.1 x the head's LR, 3 seeds: without alignment the
    # head forgets the first classes (measured median accuracy 0.01); aligned 0.25
    long = [
        wb.set_path(
            wb.set_path(wb.set_path(s, "data.starts", (0, 60, 120)), "steps", 180), "seed", k
        )
        for k, s in zip(range(3), [base] * 3, strict=True)
    ]
    long = [wb.set_path(s, "model.hidden", (32,)) for s in long]
    long = [wb.set_path(s, "slow.align", wb.ClassifierAlignment(64, 50, 0.1)) for s in long]
    ds = wb.run(long)
    plain = wb.run([wb.set_path(s, "slow.align", None) for s in long])
    old = np.median(ds.task_acc.isel(eval_step=-1).values[:, :2].mean(1))
    old_plain = np.median(plain.task_acc.isel(eval_step=-1).values[:, :2].mean(1))
    assert old > old_plain + 0.1  # the aligned head still predicts the first classes
    with pytest.raises(ValueError, match="slow.align retrains an MLP's head"):
        _spec(Slow(align=align)).validate()


def test_reptile_on_few_shot_episodes_matches_the_reference():
    """Fast weights learn each few-shot episode; at its end the slow weights take a step of
    ε = 0.3 toward them and the next episode starts from the slow weights (Reptile)."""
    stream = wb.episodic("digits", ways=3, shots=5, episodes=4, episode_steps=8)
    slow = Slow(lookahead=Lookahead(alpha=0.3, sync="tasks", momentum="reset"))
    spec = wb.RunSpec(
        data=stream,
        model=wb.MLP(hidden=(16,)),
        optimizer=wb.SGD(lr=0.1, momentum=0.9),
        steps=32,
        batch_size=15,
        eval_every=8,
        slow=slow,
    )
    bucket = Bucket([spec, wb.set_path(spec, "seed", 1)], device="cpu")
    chunk = bucket.advance(32)
    assert np.flatnonzero(chunk.metrics["lookahead_sync"][0]).tolist() == [7, 15, 23]
    for i in range(2):
        ref = train_reference(bucket.specs[i])
        torch.testing.assert_close(bucket.model.flat[i], ref["params"], rtol=0, atol=1e-5)
        torch.testing.assert_close(bucket.slow.weights[i], ref["copies"]["slow"], rtol=0, atol=1e-5)


def test_a_live_slow_knob_out_of_range_is_refused_at_once():
    spec = _spec(Slow(lookahead=Lookahead(), ema=EMA(beta=0.9)))
    s = wb.Session([spec], chunk_steps=10)
    for name, value, allowed in [
        ("lookahead_k", 2.5, "a whole number >= 1"),
        ("ema_beta", 1.5, r"\[0, 1\)"),
        ("lookahead_alpha", 0.0, r"\(0, 1\]"),
    ]:
        with pytest.raises(ValueError, match=f"Session: knob {name}={value} must be {allowed}"):
            s.set_knob(name, value)
    with pytest.raises(ValueError, match="knob 'backbone_lr' is not live"):
        s.set_knob("backbone_lr", 0.5)
