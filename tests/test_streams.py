"""Task streams: specs, the engine against the reference across switches, per-task evaluation."""

import json

import numpy as np
import pytest
import torch

import workbench as wb
from workbench import results
from workbench.bucket import Bucket, epoch_order
from workbench.engine import plan
from workbench.reference import train_reference
from workbench.session import Session
from workbench.spec import flatten, varying

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _gaussian(seed, n_train):
    return wb.data_spec("gaussian", seed=seed, classes=4, dim=8, n_train=n_train, n_test=64)


# three tasks of unequal sizes (padded buffers), several epochs within each task
GAUSSIAN3 = wb.sequence(
    [_gaussian(0, 96), _gaussian(1, 160), _gaussian(2, 64)], [0, 13, 27], names=["a", "b", "c"]
)
MARKOV = wb.data_spec("markov", vocab=8, context=16, n_train=256, n_test=64, temperature=0.5)


def _mlp_spec(data, optimizer, seed=0, steps=40, eval_every=10):
    return wb.RunSpec(
        data=data,
        model=wb.MLP(hidden=(16,)),
        optimizer=optimizer,
        steps=steps,
        batch_size=16,
        seed=seed,
        eval_every=eval_every,
    )


def _markov_spec(data, seed=0, steps=30, lr=3e-3):
    return wb.RunSpec(
        data=data,
        model=wb.Transformer(layers=1, width=32, heads=2, context=16),
        optimizer=wb.AdamW(lr=lr),
        steps=steps,
        batch_size=16,
        seed=seed,
        eval_every=10,
    )


# -- the spec ------------------------------------------------------------------------------------


def test_stream_is_hashable_json_round_trippable_and_sweepable():
    s = wb.sequence(["digits", wb.data_spec("digits", seed=1)], [0, 20])
    assert s.names == ("task0", "task1") and s.tasks[0] == wb.data_spec("digits")
    same = wb.TaskStream(("digits", wb.data_spec("digits", seed=1)), [0, 20])
    assert same == s and hash(same) == hash(s) and {s: 1}[same] == 1
    spec = _mlp_spec(s, wb.SGD(lr=0.1))
    back = wb.RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec and back.key() == spec.key() and isinstance(back.data, wb.TaskStream)
    assert spec.key() != _mlp_spec("digits", wb.SGD(lr=0.1)).key()
    # grid reaches a task's params and the switch steps by path; those paths become coordinates
    specs = wb.grid(spec, {"data.tasks.1.test_fraction": [0.1, 0.3], "data.starts.1": [5, 30]})
    assert [(x.data.tasks[1].test_fraction, x.data.starts) for x in specs[1:3]] == [
        (0.1, (0, 30)),
        (0.3, (0, 5)),
    ]
    assert set(varying(specs)) == {"data.tasks.1.test_fraction", "data.starts"}
    assert flatten(specs[0])["data.names"] == '["task0", "task1"]'
    # a stream is its own bucket key: different streams train in different buckets
    assert plan([spec, *specs, spec]) == [[0, 5], [1], [2], [3], [4]]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: wb.sequence([], []), r"tasks=\(\) must hold at least one dataset"),
        (lambda: wb.sequence("digits", [0]), "tasks='digits' must be a sequence"),
        (lambda: wb.sequence([3], [0]), r"tasks\[0\]=3 must be a DataSpec or a dataset name"),
        (lambda: wb.sequence(["imagenet"], [0]), "name='imagenet' is not a dataset"),
        (
            lambda: wb.sequence(["digits", "mnist1d"], [0, 5]),
            r"tasks\[1\]='mnist1d' has input_dim=40, but tasks\[0\]='digits' has input_dim=64; "
            "every task must share task, input_dim, n_classes, vocab",
        ),
        (
            lambda: wb.sequence([MARKOV, MARKOV.replace(vocab=9)], [0, 5]),
            r"tasks\[1\]='markov' has n_classes=9, but .* has n_classes=8",
        ),
        (lambda: wb.sequence(["digits"] * 2, [0]), r"starts=\(0,\) must give one step per task"),
        (lambda: wb.sequence(["digits"] * 2, [1, 5]), r"starts=\(1, 5\) must begin at 0"),
        (
            lambda: wb.sequence(["digits"] * 3, [0, 9, 9]),
            r"must be strictly increasing; starts\[2\]=9 is not after starts\[1\]=9",
        ),
        (lambda: wb.sequence(["digits"] * 2, [0, 2.5]), r"starts\[1\]=2.5 must be an int >= 0"),
        (lambda: wb.sequence(["digits"] * 2, [0, True]), r"starts\[1\]=True must be an int"),
        (lambda: wb.sequence(["digits"] * 2, 7), "starts=7 must be a sequence"),
        (lambda: wb.sequence(["digits"] * 2, [0, 5], names=["a"]), "one name per task"),
        (lambda: wb.sequence(["digits"] * 2, [0, 5], names=["a", "a"]), "must be distinct"),
        (lambda: wb.sequence(["digits"] * 2, [0, 5], names=["a", ""]), r"names\[1\]=''"),
        (lambda: wb.TaskStream.from_dict({"starts": [0]}), "has no 'tasks'"),
        (
            lambda: wb.TaskStream.from_dict({"tasks": [{"name": "digits"}], "start": [0]}),
            "unknown key 'start'; allowed: tasks, starts, names",
        ),
        (lambda: wb.RunSpec(data=3), "data=3 must be a dataset name, DataSpec or TaskStream"),
        (
            lambda: _mlp_spec(wb.sequence(["digits"] * 2, [0, 40]), wb.SGD()).validate(),
            r"data.starts=\(0, 40\) has task 'task1' starting at step 40; every task must start "
            "before steps=40",
        ),
        (
            lambda: _mlp_spec(
                wb.sequence([_gaussian(0, 99), _gaussian(1, 8)], [0, 5]), wb.SGD()
            ).validate(),
            r"batch_size=16 is larger than the training set of 'gaussian' \('task1'\) "
            r"\(8 examples\)",
        ),
        (
            lambda: _mlp_spec(wb.sequence([MARKOV, MARKOV], [0, 5]), wb.SGD()).validate(),
            r"data.tasks\[0\]='markov' \('task0'\): MLP: a tokens dataset needs a sequence model",
        ),
    ],
)
def test_bad_input_is_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_epoch_order_of_task_zero_is_the_plain_order():
    seeds = torch.tensor([0, 5])
    assert torch.equal(epoch_order(seeds, 3, 50, task=0), epoch_order(seeds, 3, 50))
    later = epoch_order(seeds, 3, 50, task=1)
    assert not torch.equal(later, epoch_order(seeds, 3, 50))
    assert not torch.equal(later, epoch_order(seeds, 3, 50, task=2))
    assert torch.equal(torch.sort(later, dim=1).values, torch.arange(50).expand(2, -1))


# -- the engine against the reference ------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "optimizer",
    [wb.AdamW(lr=wb.schedules.cosine(peak=1e-2, steps=40, warmup=3)), wb.SGD(lr=0.1, momentum=0.9)],
    ids=["adamw", "sgd"],
)
def test_lockstep_stream_matches_the_reference_across_switches(device, optimizer):
    specs = [_mlp_spec(GAUSSIAN3, optimizer, seed=s) for s in (3, 0, 8)]
    bucket = Bucket(specs, device=device)
    chunk = bucket.advance(40)
    for i, spec in enumerate(specs):
        ref = train_reference(spec)
        np.testing.assert_allclose(
            chunk.metrics["train_loss"][i], ref["train_loss"].numpy(), rtol=0, atol=1e-5
        )
        torch.testing.assert_close(bucket.model.flat[i].cpu(), ref["params"], rtol=0, atol=1e-5)
    # each task's test set, every evaluation; eval_loss is the task step eval_step trains on
    # (eval_every=10, and every task switch: 13 and 27)
    assert chunk.eval_steps.tolist() == [0, 10, 13, 20, 27, 30, 40]
    assert chunk.evals["task_loss"].shape == (3, 7, 3)
    current = [GAUSSIAN3.task_at(min(s, 39)) for s in chunk.eval_steps]
    assert current == [0, 0, 1, 1, 2, 2, 2]
    np.testing.assert_array_equal(
        chunk.evals["eval_loss"], chunk.evals["task_loss"][:, range(7), current]
    )


@pytest.mark.parametrize(
    "optimizer", [wb.AdamW(lr=3e-3), wb.SGD(lr=0.3, momentum=0.9)], ids=["adamw", "sgd"]
)
def test_lockstep_transformer_on_two_markov_variants_matches_the_reference(optimizer):
    stream = wb.sequence([MARKOV, MARKOV.replace(variant=1, distance=0.5)], [0, 20])
    specs = [wb.set_path(_markov_spec(stream, seed=s), "optimizer", optimizer) for s in (0, 1)]
    bucket = Bucket(specs, device="cpu")
    chunk = bucket.advance(30)
    # The key bias only shifts every score of a query (the softmax ignores it): its gradient is
    # rounding noise, which Adam normalises to steps of about lr (as in test_transformer.py).
    key_bias = torch.zeros(bucket.model.layout.size, dtype=torch.bool)
    if isinstance(optimizer, wb.AdamW):
        for p, off in zip(bucket.model.layout.params, bucket.model.layout.offsets, strict=True):
            if p.name.endswith("qkv.bias"):
                d = p.shape[0] // 3
                key_bias[off + d : off + 2 * d] = True  # the k third of [q | k | v]
    for i, spec in enumerate(specs):
        ref = train_reference(spec)
        np.testing.assert_allclose(
            chunk.metrics["train_loss"][i], ref["train_loss"].numpy(), rtol=0, atol=1e-5
        )
        got, want = bucket.model.flat[i], ref["params"]
        torch.testing.assert_close(got[~key_bias], want[~key_bias], rtol=0, atol=1e-5)
        assert bool(((got - want)[key_bias].abs() < 1e-3).all())


@pytest.mark.parametrize("device", DEVICES)
def test_cuda_graph_replay_survives_task_switches(device):
    specs = [_mlp_spec(GAUSSIAN3, wb.AdamW(lr=1e-2), seed=s) for s in range(2)]
    graph = Bucket(specs, device=device, cuda_graph="auto")
    eager = Bucket(specs, device=device, cuda_graph=False)
    for _ in range(4):  # chunks that end inside tasks and across switches
        a, b = graph.advance(11), eager.advance(11)
        np.testing.assert_array_equal(a.metrics["train_loss"], b.metrics["train_loss"])
        np.testing.assert_array_equal(a.evals["task_loss"], b.evals["task_loss"])
    assert torch.equal(graph.model.flat, eager.model.flat)


def test_first_phase_is_the_plain_run_on_task_zero():
    plain = _mlp_spec(_gaussian(0, 96), wb.SGD(lr=0.1, momentum=0.9), steps=40)
    stream = wb.set_path(plain, "data", GAUSSIAN3)
    ds = wb.run([plain, stream])
    switch = GAUSSIAN3.starts[1]
    np.testing.assert_array_equal(
        ds.train_loss.values[1, :switch], ds.train_loss.values[0, :switch]
    )
    assert not np.allclose(ds.train_loss.values[1, switch:], ds.train_loss.values[0, switch:])
    before = ds.eval_step.values < switch
    np.testing.assert_array_equal(
        ds.task_loss.sel(task="a").values[1, before], ds.eval_loss.values[0, before]
    )
    # the plain run has no task results; the stream's task_index says where it switched
    assert np.isnan(ds.task_loss.values[0]).all() and (ds.task_start.values[0] == -1).all()
    assert ds.task_index.values[1].tolist() == GAUSSIAN3.task_index(40).tolist()


def test_the_old_task_is_forgotten_after_switching_to_a_shifted_language():
    # a bigram language, then a shifted one (half the logits from another language): the loss
    # on the first language's test set rises once training moves on (median of 3 seeds)
    shifted = MARKOV.replace(variant=1, distance=0.5)
    stream = wb.sequence([MARKOV, shifted], [0, 150], names=["base", "shifted"])
    spec = _markov_spec(stream, steps=300)
    ds = wb.run(wb.grid(wb.set_path(spec, "eval_every", 50), {"seed": range(3)}))
    base = ds.task_loss.sel(task="base").median("run")
    new = ds.task_loss.sel(task="shifted").median("run")
    at_switch, end = base.sel(eval_step=150), base.sel(eval_step=300)
    assert float(end) > float(at_switch) + 0.3, (float(at_switch), float(end))
    # ... while the new language is learned (its own loss falls after the switch)
    assert float(new.sel(eval_step=300)) < float(new.sel(eval_step=150)) - 0.3
    # eval_loss follows the task being trained
    np.testing.assert_array_equal(
        ds.eval_loss.sel(eval_step=300).values, ds.task_loss.sel(eval_step=300, task="shifted")
    )


# -- live sessions and results -------------------------------------------------------------------


def test_session_forks_across_a_switch():
    specs = [_mlp_spec(GAUSSIAN3, wb.AdamW(lr=1e-2), seed=s) for s in (0, 1)]
    s = Session(specs, chunk_steps=5)
    s.pause(at_step=5)  # in task "a" (the switch is at 13), however fast the thread runs
    s.start()
    assert s.wait_paused(120)
    same, slower = s.fork([0, 0], knobs={"lr": [1e-2, 1e-3]})
    s.resume()
    assert s.wait(120) == "done"
    ds = s.dataset()
    fork = int(ds.fork_step.values[same])
    assert fork == 5 < GAUSSIAN3.starts[1]  # forked in task "a", trained through both switches
    loss = ds.train_loss.values
    np.testing.assert_allclose(loss[same], loss[0], atol=1e-6)  # an unchanged branch
    np.testing.assert_allclose(ds.task_loss.values[same], ds.task_loss.values[0], atol=1e-6)
    np.testing.assert_array_equal(loss[slower, :fork], loss[0, :fork])
    assert not np.allclose(loss[slower, fork:], loss[0, fork:])
    assert ds.task.values.tolist() == ["a", "b", "c"]
    # the slower branch is a run whose LR drops at the fork, fed the same tasks and batches
    lr = np.full(specs[0].steps, 1e-2)
    lr[fork:] = 1e-3
    branch = wb.set_path(specs[0], "optimizer.lr", wb.schedules.tabulated(values=tuple(lr)))
    ref = wb.run([*specs, branch])
    np.testing.assert_allclose(loss, ref.train_loss.values[[0, 1, 0, 2]], atol=1e-5)
    np.testing.assert_allclose(ds.task_acc.values, ref.task_acc.values[[0, 1, 0, 2]], atol=1e-5)
    # the session's trained specs say so too: the LR drop is a piecewise schedule at the fork
    trained = s.trained_specs()
    assert trained[:3] == [*specs, specs[0]]
    assert trained[3] == wb.set_path(
        specs[0], "optimizer.lr", wb.schedules.piecewise(boundaries=[fork], values=[1e-2, 1e-3])
    )
    assert all(eval(results.spec_code(t), {"wb": wb}) == t for t in trained)  # a stream's too


def test_dataset_of_mixed_streams_round_trips_through_netcdf_and_the_cache(tmp_path):
    two = wb.sequence([_gaussian(0, 96), _gaussian(1, 160)], [0, 20], names=["a", "x"])
    specs = [
        _mlp_spec(GAUSSIAN3, wb.SGD(lr=0.1)),
        _mlp_spec(two, wb.SGD(lr=0.1)),
        _mlp_spec(_gaussian(0, 96), wb.SGD(lr=0.1)),
    ]
    ds = wb.run(specs, cache=tmp_path / "cache")
    assert ds.task_loss.dims == ("run", "eval_step", "task") and ds.sizes["task"] == 3
    assert ds.task.values.tolist() == ["a", "b/x", "c"]
    assert ds.task_start.values.tolist() == [[0, 13, 27], [0, 20, -1], [-1, -1, -1]]
    # run 0 is also evaluated at its switches 13 and 27, run 1 at 20: the others' steps are NaN
    assert ds.eval_step.values.tolist() == [0, 10, 13, 20, 27, 30, 40]
    own = [0, 10, 20, 30, 40]
    assert np.isnan(ds.task_loss.values[1, :, 2]).all()
    assert np.isfinite(ds.task_loss[1, :, :2].sel(eval_step=own)).all()
    assert np.isnan(ds.task_loss[1, :, :2].sel(eval_step=[13, 27])).all()
    assert ds.task_loss.attrs["units"] == "nats"
    back = results.load(results.save(ds, tmp_path / "ds.nc"))
    assert back.identical(ds)
    assert results.specs_of(back) == specs
    cached = wb.run(specs, cache=tmp_path / "cache")  # every run read back from the cache
    for k in ("task_loss", "task_acc", "task_index", "eval_loss", "train_loss"):
        np.testing.assert_array_equal(cached[k].values, ds[k].values)


def test_a_stream_is_evaluated_at_every_task_switch_whatever_eval_every():
    """An accuracy matrix needs each task's end: evaluations land on every switch step too."""
    stream = wb.class_incremental("digits", classes_per_task=5, task_steps=15)  # 2 tasks
    spec = wb.RunSpec(
        data=stream,
        model=wb.MLP(hidden=(16,)),
        optimizer=wb.SGD(lr=0.1),
        steps=30,
        batch_size=32,
        eval_every=20,
    )
    ds = wb.run([spec])
    assert ds.eval_step.values.tolist() == [0, 15, 20, 30]
    acc = ds.task_acc.sel(eval_step=15).values[0]  # the model as task 0 left it
    assert acc[0] > acc[1]  # it has learned task 0's classes, not task 1's


def test_a_recurring_task_has_one_device_copy_and_one_evaluation():
    a, b = _gaussian(0, 96), _gaussian(1, 160)
    stream = wb.sequence([a, b, a], [0, 10, 20], names=["a", "b", "a again"])
    bucket = Bucket([_mlp_spec(stream, wb.SGD(lr=0.1))], device="cpu")
    assert bucket.feed.same == [0, 1, 0]
    assert bucket.feed.test_set(2)[0] is bucket.feed.test_set(0)[0]
    chunk = bucket.advance(40)
    loss = chunk.evals["task_loss"][0]  # (eval_step, task)
    np.testing.assert_array_equal(loss[:, 0], loss[:, 2])
