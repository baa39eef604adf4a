"""The lockstep engine against single-run references, divergence isolation, streaming."""

import numpy as np
import pytest
import torch

import workbench as wb
from workbench import schedules
from workbench.engine import Bucket, epoch_order, plan
from workbench.reference import train_reference

STEPS = 20
# every engine test that names a device also runs on CUDA where there is one
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _mnist_spec(optimizer, seed=0, **kw):
    return wb.RunSpec(
        data="mnist1d",
        model=wb.MLP(hidden=(32, 16)),
        optimizer=optimizer,
        steps=STEPS,
        batch_size=64,
        seed=seed,
        eval_every=10,
        **kw,
    )


OPTIMIZER_SWEEPS = {
    "adamw": [
        wb.AdamW(lr=schedules.cosine(peak=3e-3, steps=STEPS, warmup=5), weight_decay=0.01),
        wb.AdamW(lr=schedules.wsd(peak=1e-2, steps=STEPS, warmup=2, decay=0.3), weight_decay=0.1),
        wb.AdamW(lr=1e-3, beta1=0.8, beta2=0.99, weight_decay=0.0),
    ],
    "sgd": [
        wb.SGD(lr=schedules.cosine(peak=0.1, steps=STEPS), momentum=0.9, weight_decay=0.01),
        wb.SGD(lr=schedules.linear(start=0.3, end=0.0, steps=STEPS), momentum=0.5),
        wb.SGD(lr=0.05, momentum=0.0, weight_decay=0.1),
    ],
    "sgd-nesterov": [
        wb.SGD(lr=0.05, momentum=0.9, nesterov=True),
        wb.SGD(lr=schedules.cosine(peak=0.2, steps=STEPS, warmup=3), momentum=0.8, nesterov=True),
    ],
}


@pytest.mark.parametrize("name", list(OPTIMIZER_SWEEPS))
def test_lockstep_matches_separate_reference_runs(name):
    specs = [
        _mnist_spec(o, seed=s) for s, o in zip((4, 0, 7), OPTIMIZER_SWEEPS[name], strict=False)
    ]
    bucket = Bucket(specs, device="cpu")
    chunk = bucket.advance(STEPS)
    for i, spec in enumerate(specs):
        ref = train_reference(spec)
        np.testing.assert_allclose(
            chunk.metrics["train_loss"][i], ref["train_loss"].numpy(), rtol=0, atol=1e-5
        )
        torch.testing.assert_close(bucket.model.flat[i].cpu(), ref["params"], rtol=0, atol=1e-5)


def test_run_records_the_hyperparameters_actually_used():
    lr = schedules.cosine(peak=3e-3, steps=STEPS, warmup=5)
    ds = wb.run([_mnist_spec(wb.AdamW(lr=lr, weight_decay=0.05))])
    np.testing.assert_allclose(ds.lr.values[0], lr.table(STEPS).numpy(), rtol=1e-6)
    np.testing.assert_allclose(ds.weight_decay.values[0], 0.05, rtol=1e-6)
    assert ds.eval_step.values.tolist() == [0, 10, 20]
    assert np.all(np.isfinite(ds.grad_norm)) and np.all(ds.update_norm.values[0, 1:] > 0)
    # the update norm at step 0 is 0: warmup starts the LR at 0
    assert ds.update_norm.values[0, 0] == 0


@pytest.mark.parametrize("device", DEVICES)
def test_diverged_run_is_frozen_and_the_others_are_untouched(device):
    good = [_mnist_spec(wb.SGD(lr=0.05, momentum=0.9), seed=s) for s in (0, 1)]
    bad = _mnist_spec(wb.SGD(lr=1e30, momentum=0.9), seed=2)
    with_bad = Bucket([good[0], bad, good[1]], device=device)
    without = Bucket(good, device=device)
    c1, c2 = with_bad.advance(STEPS), without.advance(STEPS)
    diverged = c1.diverged_step
    assert diverged[0] == -1 and diverged[2] == -1
    assert 0 < diverged[1] < STEPS
    for a, b in ((0, 0), (2, 1)):
        np.testing.assert_allclose(
            c1.metrics["train_loss"][a], c2.metrics["train_loss"][b], rtol=0, atol=1e-6
        )
        torch.testing.assert_close(with_bad.model.flat[a], without.model.flat[b], rtol=0, atol=1e-6)
    # frozen: once marked, the diverged run's parameters no longer change
    again = Bucket([good[0], bad, good[1]], device=device)
    again.advance(int(diverged[1]) + 1)
    frozen = again.model.flat[1].clone()
    again.advance(STEPS)
    assert torch.equal(again.model.flat[1], frozen)


def test_run_marks_divergence_in_the_dataset():
    specs = [_mnist_spec(wb.SGD(lr=lr)) for lr in (0.05, 1e30)]
    ds = wb.run(specs)
    assert ds.diverged_step.values[0] == -1
    assert ds.diverged_step.values[1] >= 0


@pytest.mark.parametrize("device", DEVICES)
def test_epoch_order_is_the_same_on_every_device(device):
    seeds = torch.tensor([0, 3, 2**40])
    expected = epoch_order(seeds, 2, 1000)
    torch.testing.assert_close(epoch_order(seeds.to(device), 2, 1000).cpu(), expected)


def test_epoch_order_depends_only_on_the_run_seed():
    a = epoch_order(torch.tensor([5, 9, 5]), 3, 100)
    assert torch.equal(a[0], a[2]) and not torch.equal(a[0], a[1])
    assert torch.equal(torch.sort(a[1]).values, torch.arange(100))
    assert not torch.equal(epoch_order(torch.tensor([5]), 4, 100)[0], a[0])


def test_epoch_order_hash_matches_a_numpy_uint64_twin():
    # the int64 torch hash relies on wrapping multiplication; numpy's uint64 wraps by definition
    def mix(x):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))

    seeds, epoch, n = np.array([0, 123456789], dtype=np.uint64), 7, 50
    with np.errstate(over="ignore"):
        k3 = np.uint64(0x9E3779B97F4A7C15)
        base = mix(mix(seeds * k3 + np.uint64(0x632BE5AB)) + np.uint64(epoch))
        keys = mix(base[:, None] + np.arange(n, dtype=np.uint64)[None, :] * k3)
    # torch sorts the same bits as signed int64
    expected = np.argsort(keys.view(np.int64), axis=1, kind="stable")
    got = epoch_order(torch.tensor([0, 123456789]), epoch, n).numpy()
    np.testing.assert_array_equal(got, expected)


def test_plan_groups_by_structure():
    a = _mnist_spec(wb.AdamW(lr=1e-3), seed=0)
    b = _mnist_spec(wb.AdamW(lr=schedules.cosine(peak=1e-3, steps=STEPS)), seed=1)
    c = _mnist_spec(wb.SGD(lr=0.1))
    d = wb.set_path(a, "batch_size", 32)
    assert plan([a, c, b, d]) == [[0, 2], [1], [3]]


def test_mixed_buckets_come_back_in_spec_order():
    a = _mnist_spec(wb.AdamW(lr=1e-3), seed=0)
    c = _mnist_spec(wb.SGD(lr=0.1), seed=1)
    short = wb.set_path(_mnist_spec(wb.AdamW(lr=1e-3), seed=2), "steps", 10)
    ds = wb.run([c, a, short])
    assert ds["optimizer.kind"].values.tolist() == ["SGD", "AdamW", "AdamW"]
    assert ds.seed.values.tolist() == [1, 0, 2]
    assert np.isnan(ds.train_loss.values[2, 10:]).all()
    assert np.isfinite(ds.train_loss.values[2, :10]).all()
    ref = wb.run([a])
    np.testing.assert_allclose(ds.train_loss.values[1], ref.train_loss.values[0], atol=1e-6)


def test_stream_yields_chunks_and_validates_first():
    spec = _mnist_spec(wb.AdamW(lr=1e-3))
    chunks = list(wb.stream([spec, wb.set_path(spec, "seed", 1)], chunk_steps=7))
    assert [(c.start, c.stop) for c in chunks] == [(0, 7), (7, 14), (14, 20)]
    assert chunks[0].eval_steps.tolist() == [0] and chunks[1].eval_steps.tolist() == [10]
    assert chunks[-1].done and chunks[-1].metrics["train_loss"].shape == (2, 6)
    bad = wb.set_path(spec, "batch_size", 10**6)
    gen = wb.stream([spec, bad])
    with pytest.raises(ValueError, match=r"specs\[1\]: RunSpec: batch_size=1000000 is larger"):
        next(gen)


def test_run_uses_cuda_when_available():
    assert wb.default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("device", DEVICES)
def test_cuda_graph_replay_gives_the_eager_results(device):
    specs = [
        _mnist_spec(wb.AdamW(lr=schedules.cosine(peak=3e-3, steps=STEPS, warmup=4)), seed=s)
        for s in range(3)
    ] + [_mnist_spec(wb.AdamW(lr=1e30), seed=3)]  # one diverges, inside the graph
    graph = Bucket(specs, device=device, cuda_graph="auto")
    eager = Bucket(specs, device=device, cuda_graph=False)
    assert graph.use_graph == (device == "cuda") and not eager.use_graph
    a, b = graph.advance(STEPS), eager.advance(STEPS)
    for k in a.metrics:
        np.testing.assert_array_equal(a.metrics[k], b.metrics[k])
    np.testing.assert_array_equal(a.diverged_step, b.diverged_step)
    assert a.diverged_step[3] >= 0
    assert torch.equal(graph.model.flat, eager.model.flat)


def test_long_chunks_are_split_at_the_ring_size():
    from workbench.bucket import RING

    spec = wb.set_path(_mnist_spec(wb.SGD(lr=0.05)), "steps", RING + 20)
    chunks = list(wb.stream([spec], chunk_steps=10**6))
    assert [(c.start, c.stop) for c in chunks] == [(0, RING), (RING, RING + 20)]
    ds = wb.run([spec], chunk_steps=10**6)
    assert np.isfinite(ds.train_loss.values).all() and ds.sizes["step"] == RING + 20
