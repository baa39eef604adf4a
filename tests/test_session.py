"""Live sessions: pause/resume/stop, live knobs, forks, and bad input that never ends a session."""

import time

import numpy as np
import pytest
import torch

import workbench as wb
from workbench import schedules
from workbench.session import Session

STEPS = 60


def _specs(n=2, **kw):
    base = wb.RunSpec(
        data="digits",
        model=wb.MLP(hidden=(16,)),
        optimizer=wb.AdamW(lr=schedules.cosine(peak=1e-2, steps=STEPS, warmup=5)),
        steps=STEPS,
        batch_size=32,
        eval_every=20,
        **kw,
    )
    return wb.grid(base, {"seed": range(n)})


def _hold_after(session, steps):
    """Start (or resume) a session, let it train at least `steps` steps, and hold it at the
    next chunk boundary. Returns the step it holds at."""
    if session.state == "idle":
        session.start()
    else:
        session.resume()
    while session.progress[0] < steps * len(session.specs):
        time.sleep(0.005)
    session.pause()
    assert session.wait_paused(60)
    return session.progress[0] // len(session.specs)


def test_a_session_reproduces_run():
    specs = _specs()
    s = Session(specs, chunk_steps=10).start()
    assert s.wait(120) == "done"
    ds, ref = s.dataset(), wb.run(specs)
    np.testing.assert_allclose(ds.train_loss.values, ref.train_loss.values, atol=1e-6)
    assert ds.parent.values.tolist() == [-1, -1] and ds.fork_step.values.tolist() == [-1, -1]


def test_pause_holds_resume_continues_stop_keeps_results():
    s = Session(_specs(), chunk_steps=10)
    s.pause()
    s.start()
    assert s.wait_paused(60) and s.state == "paused" and s.progress[0] == 0
    _hold_after(s, 20)
    s.stop()
    assert s.wait(60) == "stopped"
    ds = s.dataset()
    done = int(np.isfinite(ds.train_loss.values[0]).sum())
    assert 20 <= done < STEPS and np.isfinite(ds.train_loss.values[:, :done]).all()


def test_live_knob_change_is_recorded_and_effective():
    specs = _specs()
    s = Session(specs, chunk_steps=10)
    at = _hold_after(s, 20)
    s.set_knob("lr_scale", 0.0, runs=[1])  # freeze run 1 from here on
    s.set_knob("weight_decay", 0.5, runs=[0])
    s.resume()
    assert s.wait(120) == "done"
    ds, ref = s.dataset(), wb.run(specs)
    sched = specs[0].optimizer.lr.table(STEPS).numpy()
    np.testing.assert_allclose(ds.lr.values[1, :at], sched[:at], rtol=1e-6)
    assert (ds.lr.values[1, at:] == 0).all() and (ds.weight_decay.values[0, at:] == 0.5).all()
    assert (ds.weight_decay.values[0, :at] == 0.01).all()
    # the frozen run's parameters stopped moving: its update norm is zero from `at` on
    assert (ds.update_norm.values[1, at:] == 0).all() and (ds.update_norm.values[1, :at] > 0).any()
    # before the change both runs are the plain runs
    np.testing.assert_allclose(
        ds.train_loss.values[:, :at], ref.train_loss.values[:, :at], atol=1e-6
    )


def test_lr_multiplier_is_absolute_so_moving_it_back_restores_the_schedule():
    specs = _specs()
    a, b, c = 10, 20, 30  # the session holds exactly there (paused from its chunk callback)
    s = Session(specs, chunk_steps=10, on_chunk=lambda ch: ch.stop in (a, b, c) and s.pause())

    def hold_at(step):
        s.resume() if s.state != "idle" else s.start()
        while not (s.progress[0] >= step * len(s.specs) and s.state == "paused"):
            time.sleep(0.005)
        assert s.progress[0] == step * len(s.specs)

    hold_at(a)
    s.set_knob("lr_scale", 1.5)
    s.set_knob("lr_scale", 2.0, runs=[1])  # the latest value counts, not the product
    hold_at(b)
    s.set_knob("lr_scale", 0.0, runs=[0])  # a frozen run comes back from 0 too
    hold_at(c)
    s.set_knob("lr_scale", 1.0)
    kids = s.fork([0], knobs={"lr": lambda step, n, cur: cur * np.linspace(1.0, 0.0, n)})
    s.resume()
    assert s.wait(120) == "done"
    lr = s.dataset().lr.values.astype(np.float64)
    sched = specs[0].optimizer.lr.table(STEPS).numpy()
    np.testing.assert_allclose(lr[0, :a], sched[:a], rtol=1e-6)
    np.testing.assert_allclose(lr[0, a:b], 1.5 * sched[a:b], rtol=1e-6)
    np.testing.assert_allclose(lr[1, a:c], 2.0 * sched[a:c], rtol=1e-6)
    assert (lr[0, b:c] == 0).all()
    np.testing.assert_allclose(lr[:2, c:], sched[None, c:].repeat(2, 0), rtol=1e-6)
    # the branch decays from the LR its parent uses at the fork
    (kid,) = kids
    assert lr[kid, c] == pytest.approx(sched[c], rel=1e-6) and lr[kid, -1] == 0


def test_fork_branches_share_the_parents_history_and_then_diverge():
    specs = _specs()
    s = Session(specs, chunk_steps=10)
    at = _hold_after(s, 30)
    decay_now = {"lr": lambda step, n, cur: cur * np.linspace(1.0, 0.0, n)}
    kids = s.fork([0, 1], knobs=decay_now)
    assert kids == [2, 3]
    s.resume()
    assert s.wait(120) == "done"
    ds = s.dataset()
    assert ds.sizes["run"] == 4
    assert ds.parent.values.tolist() == [-1, -1, 0, 1]
    assert ds.fork_step.values.tolist() == [-1, -1, at, at]
    for kid, parent in ((2, 0), (3, 1)):
        # identical history up to the fork (copied, and the parent's own curve)
        np.testing.assert_array_equal(
            ds.train_loss.values[kid, :at], ds.train_loss.values[parent, :at]
        )
        # the first step after the fork uses the same parameters: the same loss
        np.testing.assert_allclose(
            ds.train_loss.values[kid, at], ds.train_loss.values[parent, at], atol=1e-6
        )
        assert ds.lr.values[kid, -1] == 0 and ds.lr.values[kid, at] == ds.lr.values[parent, at]
    # the parents are unaffected by the fork: they match a plain run
    ref = wb.run(specs)
    np.testing.assert_allclose(ds.train_loss.values[:2], ref.train_loss.values, atol=1e-6)


def test_fork_equals_a_reference_trained_with_the_branch_schedule():
    specs = _specs(n=1)
    s = Session(specs, chunk_steps=20)
    at = _hold_after(s, 20)
    s.fork([0], knobs={"lr": 1e-3})
    s.resume()
    assert s.wait(120) == "done"
    ds = s.dataset()
    # the branch is a run whose LR schedule is the parent's up to `at` and 1e-3 after
    sched = specs[0].optimizer.lr.table(STEPS).numpy().copy()
    sched[at:] = 1e-3
    branch = wb.set_path(specs[0], "optimizer.lr", schedules.tabulated(values=tuple(sched)))
    ref = wb.run([branch])
    np.testing.assert_allclose(ds.train_loss.values[1], ref.train_loss.values[0], atol=1e-5)


def test_bad_input_is_named_and_never_ends_a_session():
    s = Session(_specs(), chunk_steps=10)
    with pytest.raises(ValueError, match="knob 'momentum' is not live; allowed"):
        s.set_knob("momentum", 0.9)
    with pytest.raises(ValueError, match="knob lr=-1.0 must be a finite number >= 0"):
        s.set_knob("lr", -1.0)
    with pytest.raises(ValueError, match="run 7 is not a run id"):
        s.fork([7])
    with pytest.raises(ValueError, match="chunk_steps=0"):
        Session(_specs(), chunk_steps=0)
    s.pause()
    s.start()
    assert s.wait_paused(60)
    s.set_knob("beta1", 2.0)  # valid name, out of range only at apply time
    s.resume()
    assert s.wait(120) == "done"
    assert any("beta1" in m and "must stay" in m for m in s.messages)
    assert np.isfinite(s.dataset().train_loss.values).all()


def test_session_uses_cuda_where_there_is_one():
    s = Session(_specs(n=1), chunk_steps=30)
    assert s.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
