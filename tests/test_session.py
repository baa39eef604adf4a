"""Live sessions: pause/resume/stop, live knobs, forks, and bad input that never ends a session.

Every test that needs the session at a known step holds it there with ``pause(at_step=...)``
(set before ``start``/``resume``) and waits for the hold: nothing depends on how far the
training thread got.
"""

import json

import numpy as np
import pytest
import torch

import workbench as wb
from workbench import results, schedules
from workbench.session import Session, trained_specs

STEPS = 60
WAIT = 120  # seconds: generous, only reached if something hangs


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


def _hold_at(session, step):
    """Start (or resume) a session and hold it at `step` exactly; return the step."""
    session.pause(at_step=step)
    if session.state == "idle":
        session.start()
    else:
        session.resume()
    assert session.wait_paused(WAIT) and session.state == "paused"
    return step


def _recorded(ds):
    """Steps recorded per run of a Dataset, by session run id."""
    counts = np.isfinite(ds.train_loss.values).sum(1)
    return dict(zip(ds.session_run.values.tolist(), counts.tolist(), strict=True))


def test_a_session_reproduces_run():
    specs = _specs()
    s = Session(specs, chunk_steps=10).start()
    assert s.wait(WAIT) == "done"
    ds, ref = s.dataset(), wb.run(specs)
    np.testing.assert_allclose(ds.train_loss.values, ref.train_loss.values, atol=1e-6)
    assert ds.parent.values.tolist() == [-1, -1] and ds.fork_step.values.tolist() == [-1, -1]
    assert s.events == [] and ds.attrs["session_events"] == "[]"
    # nothing was steered: the trained specs are the specs (also read from float32 records)
    assert s.trained_specs() == trained_specs(ds) == trained_specs(ref) == specs


def test_pause_holds_resume_continues_stop_keeps_results():
    s = Session(_specs(), chunk_steps=10)
    s.pause()
    s.start()
    assert s.wait_paused(WAIT) and s.state == "paused" and s.progress[0] == 0
    _hold_at(s, 20)
    s.stop()
    assert s.wait(WAIT) == "stopped"
    ds = s.dataset()
    assert np.isfinite(ds.train_loss.values).sum(1).tolist() == [20, 20]


def test_pause_at_step_lands_exactly_between_chunk_boundaries():
    specs = _specs()
    s = Session(specs, chunk_steps=10)
    assert _hold_at(s, 25) == 25  # the chunk from 20 is cut short at 25
    assert s.steps_done().tolist() == [25, 25] and s.progress[0] == 50
    # a step already passed holds at once, where the session is
    _hold_at(s, 5)
    assert s.steps_done().tolist() == [25, 25]
    _hold_at(s, 37)
    assert s.steps_done().tolist() == [37, 37]
    s.resume()
    assert s.wait(WAIT) == "done"
    # chunks of any length train the same runs
    ref = wb.run(specs)
    np.testing.assert_allclose(s.dataset().train_loss.values, ref.train_loss.values, atol=1e-6)


def test_steps_done_per_run_with_runs_of_different_lengths():
    base = _specs(n=1)[0]
    specs = [wb.set_path(base, "steps", n) for n in (40, 80, 120)]  # three buckets
    s = Session(specs, chunk_steps=10)
    assert s.steps_done().tolist() == [0, 0, 0] and s.steps_total().tolist() == [40, 80, 120]
    assert s.elapsed == 0.0 and s.throughput == 0.0
    _hold_at(s, 50)
    done = s.steps_done()
    assert done.tolist() == [40, 50, 50]  # the short run finished; the others hold at 50
    assert _recorded(s.dataset()) == {0: 40, 1: 50, 2: 50}
    # paused time is not training time: the clock stands still while the session holds
    assert s.elapsed > 0 and s.elapsed == s.elapsed
    assert s.throughput * s.elapsed == pytest.approx(140)
    # a branch counts from its parent's history
    (kid,) = s.fork([1], knobs={"lr": 1e-3})
    _hold_at(s, 60)
    assert s.steps_done().tolist() == [40, 60, 60, 60]
    assert s.steps_total().tolist() == [40, 80, 120, 80]
    assert _recorded(s.dataset()) == {0: 40, 1: 60, 2: 60, kid: 60}
    assert s.throughput * s.elapsed == pytest.approx(40 + 60 + 60 + 10)  # the branch trained 10
    s.resume()
    assert s.wait(WAIT) == "done"
    assert s.steps_done().tolist() == s.steps_total().tolist() == [40, 80, 120, 80]
    assert _recorded(s.dataset()) == {0: 40, 1: 80, 2: 120, kid: 80}


def test_live_knob_change_is_recorded_and_effective():
    specs = _specs()
    s = Session(specs, chunk_steps=10)
    at = _hold_at(s, 20)
    s.set_knob("lr_scale", 0.0, runs=[1])  # freeze run 1 from here on
    s.set_knob("weight_decay", 0.5, runs=[0])
    s.resume()
    assert s.wait(WAIT) == "done"
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
    assert s.events == [
        {"step": 20, "kind": "knob", "name": "lr_scale", "value": 0.0, "runs": [1]},
        {"step": 20, "kind": "knob", "name": "weight_decay", "value": 0.5, "runs": [0]},
    ]


def test_lr_multiplier_is_absolute_so_moving_it_back_restores_the_schedule():
    specs = _specs()
    a, b, c = 10, 20, 30
    s = Session(specs, chunk_steps=10)
    _hold_at(s, a)
    s.set_knob("lr_scale", 1.5)
    s.set_knob("lr_scale", 2.0, runs=[1])  # the latest value counts, not the product
    _hold_at(s, b)
    s.set_knob("lr_scale", 0.0, runs=[0])  # a frozen run comes back from 0 too
    _hold_at(s, c)
    s.set_knob("lr_scale", 1.0)
    kids = s.fork([0], knobs={"lr": lambda step, n, cur: cur * np.linspace(1.0, 0.0, n)})
    s.resume()
    assert s.wait(WAIT) == "done"
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
    assert [(e["step"], e["kind"], e["name"], e["value"], e["runs"]) for e in s.events[:5]] == [
        (a, "knob", "lr_scale", 1.5, [0, 1]),
        (a, "knob", "lr_scale", 2.0, [1]),
        (b, "knob", "lr_scale", 0.0, [0]),
        (c, "knob", "lr_scale", 1.0, [0, 1]),
        (c, "fork", None, [0], [kid]),
    ]
    last = s.events[5]  # the branch's knob: a function, logged by its name
    assert (last["step"], last["name"], last["runs"]) == (c, "lr", [kid])
    assert last["value"].endswith("<lambda>")
    json.dumps(s.events)  # plain JSON values, for the UI


def test_fork_branches_share_the_parents_history_and_then_diverge():
    specs = _specs()
    s = Session(specs, chunk_steps=10)
    at = _hold_at(s, 30)
    decay_now = {"lr": lambda step, n, cur: cur * np.linspace(1.0, 0.0, n)}
    kids = s.fork([0, 1], knobs=decay_now)
    assert kids == [2, 3]
    s.resume()
    assert s.wait(WAIT) == "done"
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
    at = _hold_at(s, 20)
    s.fork([0], knobs={"lr": 1e-3})
    s.resume()
    assert s.wait(WAIT) == "done"
    ds = s.dataset()
    # the branch is a run whose LR schedule is the parent's up to `at` and 1e-3 after
    sched = specs[0].optimizer.lr.table(STEPS).numpy().copy()
    sched[at:] = 1e-3
    branch = wb.set_path(specs[0], "optimizer.lr", schedules.tabulated(values=tuple(sched)))
    ref = wb.run([branch])
    np.testing.assert_allclose(ds.train_loss.values[1], ref.train_loss.values[0], atol=1e-5)


# -- what was trained, as specs --------------------------------------------------------------


def _steered():
    """A session steered at known steps: an LR multiplier on runs 0 and 2 at 20, weight decay
    on run 0 at 20, a branch of runs 0 and 2 decaying to zero from 40; run 1 left alone."""
    cosine = _specs(n=2)
    constant = wb.set_path(cosine[0], "optimizer.lr", 3e-3)
    s = Session([*cosine, constant], chunk_steps=15)
    _hold_at(s, 20)
    s.set_knob("lr_scale", 1.5, runs=[0, 2])
    s.set_knob("weight_decay", 0.1, runs=[0])
    _hold_at(s, 40)
    kids = s.fork([0, 2], knobs={"lr": lambda step, n, cur: cur * np.linspace(1.0, 0.0, n)})
    return s, kids


def _namespace():
    return {**vars(wb), **{k: getattr(schedules, k) for k in schedules.__all__}}


def test_trained_specs_reproduce_a_steered_session_compactly():
    s, (kid0, kid2) = _steered()
    s.resume()
    assert s.wait(WAIT) == "done"
    ds = s.dataset()
    cosine = s.specs[0].optimizer.lr
    for specs in (s.trained_specs(), trained_specs(ds)):
        assert len(specs) == ds.sizes["run"] == 5
        assert specs[1] == s.specs[1]  # unchanged run: its own spec
        lr = [spec.optimizer.lr for spec in specs]
        wd = [spec.optimizer.weight_decay for spec in specs]
        # an LR multiplier on a constant, and a decay from the fork: constant and linear pieces
        assert lr[2] == schedules.piecewise(boundaries=[20], values=[3e-3, 4.5e-3])
        assert lr[4] == schedules.join(
            [3e-3, 4.5e-3, schedules.linear(start=4.5e-3, end=0.0, steps=STEPS - 41)], [20, 40]
        )
        # a multiplier on a cosine is tabulated from the change on, after the cosine itself
        assert lr[0].kind == "join" and lr[0].schedules[0] == cosine and lr[0].boundaries == (20,)
        assert lr[3].kind == "join" and lr[3].schedules[2].kind == "linear"
        assert wd[0] == wd[3] == schedules.piecewise(boundaries=[20], values=[0.01, 0.1])
        assert wd[1] == wd[2] == wd[4] == 0.01
        # wb.run of the specs gives the session's curves
        ref = wb.run(specs)
        np.testing.assert_allclose(ref.train_loss.values, ds.train_loss.values, atol=1e-5)
        np.testing.assert_allclose(ref.lr.values, ds.lr.values, rtol=1e-6)
        # JSON round trip, Python source that rebuilds them, and their repr
        for spec in specs:
            assert wb.RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
            assert eval(results.spec_code(spec), {"wb": wb}) == spec
            assert eval(repr(spec), _namespace()) == spec


def test_trained_specs_of_a_stopped_session_end_where_it_got():
    s, (kid0, kid2) = _steered()
    _hold_at(s, 50)
    s.stop()
    assert s.wait(WAIT) == "stopped"
    ds = s.dataset()
    specs = s.trained_specs()
    assert [spec.steps for spec in specs] == [50] * 5
    ref = wb.run(specs)
    np.testing.assert_allclose(ref.train_loss.values, ds.train_loss.values[:, :50], atol=1e-5)
    # the branch decayed for 10 of its 20 steps: a ramp that far, from float32 records too
    for lr in (specs[4].optimizer.lr, trained_specs(ds)[4].optimizer.lr):
        assert [x.kind for x in lr.schedules] == ["constant", "constant", "linear"]
        assert lr.boundaries == (20, 40) and lr.schedules[2].steps == 9


def test_trained_specs_write_out_what_no_compact_form_gives():
    specs = _specs(n=1)
    s = Session(specs, chunk_steps=10)
    _hold_at(s, 10)
    wiggle = {"lr": lambda step, n, cur: cur * (1 + 0.5 * np.sin(np.arange(n)))}
    (kid,) = s.fork([0], knobs=wiggle)
    s.resume()
    assert s.wait(WAIT) == "done"
    lr = s.trained_specs()[kid].optimizer.lr
    assert lr.kind == "join" and [x.kind for x in lr.schedules] == ["cosine", "tabulated"]
    assert len(lr.schedules[1].values) == STEPS - 10
    ref = wb.run(s.trained_specs())
    np.testing.assert_allclose(ref.train_loss.values, s.dataset().train_loss.values, atol=1e-5)


# -- bad input --------------------------------------------------------------------------------


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
    with pytest.raises(ValueError, match=r"pause\(at_step=-1\) must be an int >= 0"):
        s.pause(at_step=-1)
    with pytest.raises(ValueError, match=r"pause\(at_step='3'\) must be an int >= 0"):
        s.pause(at_step="3")
    s.pause()
    s.start()
    assert s.wait_paused(WAIT)
    s.set_knob("beta1", 2.0)  # valid name, out of range only at apply time
    s.resume()
    assert s.wait(WAIT) == "done"
    assert any("beta1" in m and "must stay" in m for m in s.messages)
    assert np.isfinite(s.dataset().train_loss.values).all()
    assert s.events == []  # a refused command is not logged


def test_session_uses_cuda_where_there_is_one():
    s = Session(_specs(n=1), chunk_steps=30)
    assert s.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
