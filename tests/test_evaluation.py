"""Continual evaluation: one batched pass over every task, fixed probe sets, full sets at task
ends, class-IL and task-IL accuracy, and run groups sized by activation memory."""

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import workbench as wb
from workbench import results
from workbench.bucket import Bucket
from workbench.continual import accuracy_matrix
from workbench.evaluation import Evaluator, probe_indices

# 5 class-incremental tasks of ~72 test examples each; probe 30 makes the probes real subsets
DIGITS5 = dataclasses.replace(
    wb.class_incremental("digits", classes_per_task=2, task_steps=12), probe=30
)
# two tasks of five classes, for short runs
DIGITS2 = dataclasses.replace(
    wb.class_incremental("digits", classes_per_task=5, task_steps=12), probe=30
)
MARKOV = wb.data_spec("markov", vocab=8, context=16, n_train=128, n_test=48, temperature=0.5)
# a transformer stream with a recurring task (evaluated once) and probes smaller than the sets
MARKOV3 = wb.sequence(
    [MARKOV, MARKOV.replace(variant=1, distance=0.5), MARKOV],
    [0, 8, 16],
    names=["base", "shifted", "base again"],
    probe=20,
)


def _digits_specs(stream=DIGITS5, seeds=range(3), steps=60, eval_every=5):
    base = wb.RunSpec(
        data=stream,
        model=wb.MLP(hidden=(32,)),
        optimizer=wb.SGD(lr=0.1),
        steps=steps,
        batch_size=32,
        eval_every=eval_every,
    )
    return wb.grid(base, {"seed": list(seeds)})


def _markov_specs(seeds=(0, 1)):
    base = wb.RunSpec(
        data=MARKOV3,
        model=wb.Transformer(layers=1, width=16, heads=2, context=16),
        optimizer=wb.AdamW(lr=3e-3),
        steps=24,
        batch_size=16,
        eval_every=4,
    )
    return wb.grid(base, {"seed": list(seeds)})


def _by_hand(bucket, *, full):
    """A plain loop over tasks and runs: each run alone, each task's set alone."""
    stream, model = bucket.stream, bucket.model
    loss = torch.zeros(bucket.n_runs, len(stream))
    acc, til = torch.zeros_like(loss), torch.zeros_like(loss)
    for k, task in enumerate(stream.tasks):
        x, y = bucket.feed.test_set(k)
        if not full:
            idx = probe_indices(x.shape[0], stream.probe)
            x, y = x[idx], y[idx]
        subset = list(dict(task.params).get("subset", ()))
        for i in range(bucket.n_runs):
            with torch.no_grad():
                logits = model.config.forward([p[i : i + 1] for p in model.params], x, None)[0]
            if logits.dim() == y.dim() + 2:  # a sequence model classifying: the last position
                logits = logits[..., -1, :]
            loss[i, k] = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            acc[i, k] = (logits.argmax(-1) == y).float().mean()
            if subset:
                masked = torch.full_like(logits, float("-inf"))
                masked[..., subset] = logits[..., subset]
                til[i, k] = (masked.argmax(-1) == y).float().mean()
    return loss, acc, til


# -- the batched pass against a plain loop ---------------------------------------------------------


@pytest.mark.parametrize("full", [True, False], ids=["full", "probe"])
def test_batched_pass_equals_a_per_task_per_run_loop_on_split_digits(full):
    bucket = Bucket(_digits_specs(), device="cpu")
    bucket.advance(30)  # three tasks in: the runs differ and remember old classes partly
    out = bucket._evaluator(bucket.model, full=full)
    loss, acc, til = _by_hand(bucket, full=full)
    torch.testing.assert_close(out["loss"], loss, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["acc"], acc, rtol=0, atol=1e-6)
    torch.testing.assert_close(out["acc_til"], til, rtol=0, atol=1e-6)
    # task-IL is the easier question: never below class-IL, and above it on old tasks
    assert bool((out["acc_til"] >= out["acc"]).all())
    assert bool((out["acc_til"][:, 0] > out["acc"][:, 0]).all())
    n_test = sum(bucket.feed.test_set(k)[0].shape[0] for k in range(5))
    assert bucket._evaluator.examples(full=full) == (n_test if full else 5 * 30)


@pytest.mark.parametrize("full", [True, False], ids=["full", "probe"])
def test_batched_pass_equals_a_per_task_per_run_loop_on_a_markov_stream(full):
    bucket = Bucket(_markov_specs(), device="cpu")
    bucket.advance(12)
    assert bucket.feed.same == [0, 1, 0]
    out = bucket._evaluator(bucket.model, full=full)
    loss, acc, _ = _by_hand(bucket, full=full)
    torch.testing.assert_close(out["loss"], loss, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["acc"], acc, rtol=0, atol=1e-6)
    assert "acc_til" not in out  # no class subsets: no task-IL accuracy
    # the recurring task is evaluated once: its two columns are the same numbers
    assert torch.equal(out["loss"][:, 0], out["loss"][:, 2])
    assert bucket._evaluator.examples(full=full) == 2 * (48 if full else 20)


def test_chunks_carry_the_batched_evaluations():
    """What ``advance`` records is the evaluator's output at each step, probe or full."""
    specs = _digits_specs(stream=DIGITS2, steps=24, eval_every=5)
    bucket = Bucket(specs, device="cpu")
    chunk = bucket.advance(24)
    assert chunk.eval_steps.tolist() == [0, 5, 10, 12, 15, 20, 24]
    full = [1, 0, 0, 1, 0, 0, 1]  # step 0, the switch at 12 and the end are full
    np.testing.assert_array_equal(chunk.evals["eval_full"], np.array([full] * 3, np.float32))
    assert chunk.evals["task_acc_til"].shape == (3, 7, 2)
    # eval_loss/eval_acc are the trained task's columns
    current = [DIGITS2.task_at(min(s, 23)) for s in chunk.eval_steps]
    np.testing.assert_array_equal(
        chunk.evals["eval_acc"], chunk.evals["task_acc"][:, range(7), current]
    )
    # the final evaluation is the full pass on the final model
    out = bucket._evaluator(bucket.model, full=True)
    np.testing.assert_array_equal(chunk.evals["task_loss"][:, -1], out["loss"].numpy())


# -- probes ----------------------------------------------------------------------------------------


def test_probe_indices_are_fixed_sorted_nested_and_independent_of_the_global_rng():
    torch.manual_seed(1)
    a = probe_indices(360, 50)
    torch.manual_seed(2)
    b = probe_indices(360, 50)
    assert torch.equal(a, b) and len(a) == 50 and len(set(a.tolist())) == 50
    assert torch.equal(a, a.sort().values) and 0 <= int(a.min()) and int(a.max()) < 360
    assert set(a.tolist()) < set(probe_indices(360, 100).tolist())  # a bigger probe keeps them
    assert torch.equal(probe_indices(72, 500), torch.arange(72))  # larger than the set: all
    # spread over the set, not its head
    assert int(a.max()) > 180 and int(a.min()) < 180


def test_probe_sets_are_the_same_across_evaluations_and_runs():
    one = Bucket(_digits_specs(seeds=[0, 1, 2]), device="cpu")
    other = Bucket(_digits_specs(seeds=[7]), device="cpu")
    first = one._evaluator._set(False)
    one.advance(20)  # evaluations at 0, 5, 10, 12, 15, 20: the set is built once, then reused
    assert one._evaluator._set(False) is first
    assert torch.equal(first.x, other._evaluator._set(False).x)  # another bucket, other seeds
    assert torch.equal(first.y, other._evaluator._set(False).y)
    # the probe of task k is probe_indices of its test set, for every run
    x0, y0 = one.feed.test_set(0)
    idx = probe_indices(x0.shape[0], 30)
    assert torch.equal(first.x[:30], x0[idx]) and torch.equal(first.y[:30], y0[idx])
    # evaluating the same model twice gives the same numbers (nothing is redrawn)
    a = one._evaluator(one.model, full=False)
    b = one._evaluator(one.model, full=False)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_probes_as_large_as_the_test_sets_are_the_full_sets():
    bucket = Bucket(_digits_specs(stream=dataclasses.replace(DIGITS5, probe=500)), device="cpu")
    assert bucket._evaluator._set(False) is bucket._evaluator._set(True)


# -- full sets at task ends: the accuracy matrix stays exact ---------------------------------------


def test_accuracy_matrix_is_the_full_test_sets_at_each_task_end():
    specs = _digits_specs(steps=60, eval_every=5)  # switches every 12 steps, probes of 30
    ds = wb.run(specs)
    R = accuracy_matrix(ds).values  # (run, trained, task)
    # by hand: train the same runs to each task end and evaluate every full test set
    bucket = Bucket(specs, device="cpu")
    for i, end in enumerate([12, 24, 36, 48, 60]):
        bucket.advance(end - bucket.step)
        _, acc, _ = _by_hand(bucket, full=True)
        np.testing.assert_allclose(R[:, i], acc.numpy(), rtol=0, atol=1e-6)
    # eval_full says which evaluations were full: step 0, the switches, the end
    full = ds.eval_full.sel(run=0).values
    steps = ds.eval_step.values
    assert steps[full == 1].tolist() == [0, 12, 24, 36, 48, 60]
    assert set(steps[full == 0].tolist()) == {5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55}
    # inside a task the accuracies are on 30 examples per task: multiples of 1/30
    inside = ds.task_acc.values[:, full == 0] * 30
    np.testing.assert_allclose(inside, np.round(inside), atol=1e-4)


# -- results ---------------------------------------------------------------------------------------


def test_task_il_is_reported_only_for_streams_with_class_subsets():
    gaussian = wb.data_spec("gaussian", classes=4, dim=8, n_train=96, n_test=64)
    plain = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=10, batch_size=16)
    no_subsets = wb.set_path(
        plain, "data", wb.sequence([gaussian, gaussian.replace(seed=1)], [0, 5])
    )
    ds = wb.run([plain])
    assert "task_acc_til" not in ds and "eval_full" not in ds and "task" not in ds.dims
    ds = wb.run([no_subsets])
    assert "task_acc_til" not in ds and ds.eval_full.dims == ("run", "eval_step")
    ds = wb.run(_digits_specs(stream=DIGITS2, steps=24, seeds=[0]))
    til = ds.task_acc_til
    assert til.dims == ("run", "eval_step", "task") and til.attrs["units"] == "fraction"
    assert "task-IL" in til.attrs["long_name"] and "class-IL" in ds.task_acc.attrs["long_name"]
    assert bool((til >= ds.task_acc).all())


def test_mixed_sweeps_round_trip_through_netcdf(tmp_path):
    """A sweep of a split stream and a plain run: the new variables are NaN where absent."""
    plain = wb.RunSpec(data="digits", model=wb.MLP(hidden=(32,)), steps=24, batch_size=32)
    ds = wb.run(
        [*_digits_specs(stream=DIGITS2, steps=24, seeds=[0]), plain], cache=tmp_path / "cache"
    )
    assert np.isnan(ds.task_acc_til.values[1]).all() and np.isnan(ds.eval_full.values[1]).all()
    back = results.load(results.save(ds, tmp_path / "ds.nc"))
    assert back.identical(ds)
    cached = wb.run(
        [*_digits_specs(stream=DIGITS2, steps=24, seeds=[0]), plain], cache=tmp_path / "cache"
    )
    for k in ("task_acc_til", "eval_full", "task_acc"):
        np.testing.assert_array_equal(cached[k].values, ds[k].values)


# -- grouping by activation memory -----------------------------------------------------------------


@pytest.mark.parametrize("make", [_digits_specs, _markov_specs], ids=["mlp", "transformer"])
def test_grouping_by_memory_does_not_change_results(make, monkeypatch):
    # no CPU pass-size target: 2**40 bytes is then one pass of every run over every example
    monkeypatch.setattr("workbench.models.base.EVAL_CPU_PASS_BYTES", 2**62)
    bucket = Bucket(make(), device="cpu")
    bucket.advance(10)
    model, s = bucket.model, bucket._evaluator._set(True)
    per_example = model.activation_bytes(s.x[:1])
    assert model.activation_bytes(s.x) == per_example * s.x.shape[0]
    big = model.evaluate_examples(s.x, s.y, mask=s.mask, max_bytes=2**40)  # one pass
    for max_bytes in (1, per_example * 7, per_example * s.x.shape[0] * 2):
        # 1: one run and one example per pass; 7 examples per pass; two runs per pass
        small = model.evaluate_examples(s.x, s.y, mask=s.mask, max_bytes=max_bytes)
        for a, b in zip(big, small, strict=True):
            if a is None:
                assert b is None
            else:
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    tiny = Evaluator(bucket.feed, max_bytes=1)(model, full=False)
    huge = Evaluator(bucket.feed, max_bytes=2**40)(model, full=False)
    monkeypatch.undo()
    default = Evaluator(bucket.feed)(model, full=False)  # on CPU: passes of about 2 MiB
    for k in huge:
        torch.testing.assert_close(tiny[k], huge[k], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(default[k], huge[k], rtol=1e-5, atol=1e-5)


def test_evaluate_means_are_the_per_example_sums_over_targets():
    bucket = Bucket(_markov_specs(), device="cpu")
    x, y = bucket.feed.test_set(0)  # a target per position
    loss, acc = bucket.model.evaluate(x, y)
    per_loss, per_correct, _ = bucket.model.evaluate_examples(x, y)
    torch.testing.assert_close(loss, per_loss.sum(1) / y.numel())
    torch.testing.assert_close(acc, per_correct.sum(1) / y.numel())
    assert torch.equal(per_correct, per_correct.round())  # counts of correct positions


# -- the probe knob --------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "100", None])
def test_a_bad_probe_is_named(bad):
    with pytest.raises(ValueError, match=rf"TaskStream: probe={bad!r} must be an int >= 1"):
        dataclasses.replace(DIGITS5, probe=bad)
    with pytest.raises(ValueError, match=r"probe=.* must be an int >= 1"):
        wb.set_path(_digits_specs()[0], "data.probe", bad)


def test_probe_is_a_spec_field_left_out_at_its_default():
    stream = wb.class_incremental("digits", classes_per_task=2, task_steps=12)
    assert stream.probe == 500 and "probe" not in stream.to_dict()  # older keys unchanged
    spec = _digits_specs(stream=stream)[0]
    assert spec.key() == wb.set_path(spec, "data.probe", 500).key()
    small = wb.set_path(spec, "data.probe", 40)  # grid and set_path reach it
    assert small.data.probe == 40 and small.key() != spec.key()
    assert small.data.to_dict()["probe"] == 40
    back = wb.RunSpec.from_dict(json.loads(json.dumps(small.to_dict())))
    assert back == small and back.key() == small.key()
    assert eval(results.spec_code(small), {"wb": wb}) == small
    assert "probe" not in results.spec_code(spec)
    # a different probe is another evaluation: another bucket
    assert small.bucket_key() != spec.bucket_key()
    assert [s.data.probe for s in wb.grid(spec, {"data.probe": [10, 20]})] == [10, 20]
    with pytest.raises(ValueError, match="allowed: tasks, starts, names, probe"):
        wb.TaskStream.from_dict({"tasks": [{"name": "digits"}], "probes": 3})


def test_a_bad_max_bytes_is_named():
    bucket = Bucket(_digits_specs(seeds=[0]), device="cpu")
    with pytest.raises(ValueError, match=r"Evaluator: max_bytes=0 must be an int >= 1"):
        Evaluator(bucket.feed, max_bytes=0)
    x, y = bucket.feed.test_set(0)
    with pytest.raises(ValueError, match=r"evaluate: max_bytes=1.5 must be an int >= 1"):
        bucket.model.evaluate(x, y, max_bytes=1.5)
