"""Replay memory: the spec, buffer invariants, isolation of random streams, lock-step equivalence
with the per-run reference, and the live replay ratio."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import workbench as wb
from workbench.bucket import Bucket
from workbench.reference import train_reference
from workbench.replay import EMPTY, Replay, StackedMemory, task_weights

STREAM = wb.class_incremental("digits", classes_per_task=2, task_steps=15)


def _spec(**replay) -> wb.RunSpec:
    return wb.RunSpec(
        data=STREAM,
        model=wb.MLP(hidden=(16,)),
        optimizer=wb.SGD(lr=0.05),
        steps=75,
        batch_size=16,
        eval_every=25,
        replay=Replay(**{"size": 30, "ratio": 0.25, **replay}),
    )


# -- the spec ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"size": 0}, "Replay: size=0 must be an int >= 1"),
        ({"size": 2.5}, "Replay: size=2.5 must be an int >= 1"),
        ({"ratio": 1.0}, "Replay: ratio=1.0 must be in [0, 1)"),
        ({"ratio": -0.1}, "Replay: ratio=-0.1 must be in [0, 1)"),
        ({"ratio": "half"}, "Replay: ratio='half' must be a number or a Schedule"),
        ({"policy": "lru"}, "Replay: policy='lru' is not a policy; allowed: reservoir"),
        ({"schedule": "random"}, "Replay: schedule='random' is not a replay schedule; allowed"),
        ({"exponent": 0}, "Replay: exponent=0 must be a finite number > 0"),
        ({"interval": 0}, "Replay: interval=0 must be an int >= 1"),
    ],
)
def test_bad_fields_name_field_value_and_allowed(kw, message):
    with pytest.raises(ValueError) as e:
        Replay(**kw)
    assert str(e.value).startswith(message)


@settings(max_examples=60, deadline=None)
@given(
    size=st.one_of(st.integers(-3, 3000), st.floats(allow_nan=True), st.none()),
    ratio=st.one_of(st.floats(-1, 2), st.just(math.nan), st.integers(-1, 2), st.text(max_size=3)),
    policy=st.sampled_from(["reservoir", "class_balanced", "fifo", "Reservoir", ""]),
    schedule=st.sampled_from(["uniform", "power_law", "spaced", "powerlaw"]),
)
def test_any_replay_is_valid_or_a_named_error(size, ratio, policy, schedule):
    try:
        r = Replay(size=size, ratio=ratio, policy=policy, schedule=schedule)
    except ValueError as e:
        field = str(e).split("=")[0].removeprefix("Replay: ")
        assert field in {"size", "ratio", "policy", "schedule"}
        return
    assert r.size >= 1 and 0 <= r.ratio < 1
    assert Replay.from_dict(r.to_dict()) == r


def test_scheduled_ratio_is_checked_on_every_step():
    ramp = wb.schedules.linear(start=0.0, end=1.5, steps=75)
    spec = _spec(ratio=ramp)
    with pytest.raises(ValueError, match=r"Replay: ratio at step 50 is 1; it must be in \[0, 1\)"):
        spec.validate()


def test_spec_round_trips_and_old_keys_do_not_change():
    spec = _spec(policy="class_balanced", ratio=wb.schedules.linear(start=0.1, end=0.5, steps=9))
    assert wb.RunSpec.from_dict(spec.to_dict()) == spec
    assert eval(wb.spec_code(spec), {"wb": wb}) == spec
    plain = wb.RunSpec(data="digits")
    assert "replay" not in plain.to_dict()  # cache keys of runs without replay are as before


def test_runs_with_different_ratios_and_sizes_share_a_bucket():
    specs = wb.grid(_spec(), {"replay.ratio": [0, 0.5], "replay.size": [10, 40]})
    assert len({s.bucket_key() for s in specs}) == 1
    balanced = wb.set_path(specs[0], "replay.policy", "class_balanced")
    assert balanced.bucket_key() != specs[0].bucket_key()  # a different memory layout


def test_class_balanced_needs_labels():
    spec = wb.RunSpec(
        data=wb.data_spec("markov", vocab=8, context=16),
        model=wb.Transformer(layers=1, width=32, heads=2, context=16),
        steps=10,
        batch_size=8,
        replay=Replay(policy="class_balanced"),
    )
    with pytest.raises(ValueError, match="class_balanced' needs a classification task"):
        spec.validate()


# -- the buffer ----------------------------------------------------------------------------------


def _memory(n_runs: int, policy: str, size: int | list[int], *, n_classes: int = 4, steps=200):
    sizes = size if isinstance(size, list) else [size] * n_runs
    replays = [Replay(size=z, ratio=0.0, policy=policy) for z in sizes]
    seeds = torch.arange(n_runs)
    return StackedMemory(replays, seeds, starts=[0], steps=steps, batch_size=8, n_classes=n_classes)


def _feed(mem: StackedMemory, steps: int, labels=None):
    """Push ``steps`` batches of 8 new examples (ids 0, 1, 2, ...) through the memory."""
    n = mem.seeds.shape[0]
    x = torch.zeros(n, 8, 1)
    all_x = torch.zeros(steps * 8, 1)
    all_y = torch.zeros(steps * 8, dtype=torch.long)
    for t in range(steps):
        ids = torch.arange(t * 8, (t + 1) * 8).expand(n, 8)
        y = (ids % 4) if labels is None else labels(ids)
        mem.mix(torch.tensor(t), x, y, ids, torch.tensor(0), all_x, all_y)


def test_memory_never_holds_more_than_its_size():
    mem = _memory(3, "reservoir", [5, 17, 40])
    _feed(mem, 30)
    assert mem.valid().sum((1, 2)).tolist() == [5, 17, 40]
    assert mem.arrived.tolist() == [240] * 3  # ratio 0: every slot is new data


def test_reservoir_keeps_a_uniform_sample():
    """After 240 examples a size-24 memory holds each with probability 0.1: over 400 runs
    (seeds) the count of every example is Binomial(400, 0.1) (mean 40, sd 6); all 240 counts lie
    within 5 sd, and early and late examples are kept equally often (within 3 sd of the
    difference of two means of 120 counts)."""
    mem = _memory(400, "reservoir", 24)
    _feed(mem, 30)
    ids = mem.ids[mem.valid()]
    counts = torch.bincount(ids, minlength=240).double()
    assert counts.sum() == 400 * 24
    assert float((counts - 40).abs().max()) < 5 * 6
    early, late = counts[:120].mean(), counts[120:].mean()
    assert abs(float(early - late)) < 3 * 6 * math.sqrt(2 / 120)


def test_class_balanced_holds_equal_shares_of_the_classes_seen():
    mem = _memory(2, "class_balanced", 20)
    _feed(mem, 3, labels=lambda ids: torch.where(ids < 20, ids % 2, 2 + ids % 2))  # 4 classes
    valid = mem.valid()
    per_class = valid.sum(2)  # (N, classes)
    assert per_class.tolist() == [[5, 5, 2, 2], [5, 5, 2, 2]]  # classes 2, 3 have only 2 each
    mem2 = _memory(1, "class_balanced", 20)
    _feed(mem2, 1, labels=lambda ids: ids % 2)  # 2 classes seen: up to 10 each, 4 exist
    assert mem2.valid().sum(2).tolist() == [[4, 4, 0, 0]]


def test_fifo_keeps_the_latest():
    mem = _memory(1, "fifo", 12)
    _feed(mem, 10)
    assert sorted(mem.ids[mem.valid()].tolist()) == list(range(68, 80))


def test_a_smaller_memory_is_a_prefix_of_a_larger_one():
    """Runs with different sizes share one buffer: a run's memory is the same whatever the
    bucket's largest size (keys are sorted; a size-k memory keeps the k smallest)."""
    big = _memory(2, "reservoir", [7, 50])
    alone = _memory(1, "reservoir", 7)
    _feed(big, 20)
    _feed(alone, 20)
    assert big.ids[0][big.valid()[0]].tolist() == alone.ids[0][alone.valid()[0]].tolist()
    assert (big.keys[0, 0, 7:] != EMPTY).any()  # the shared buffer holds more than run 0 uses


def test_power_law_weights():
    w = task_weights(Replay(schedule="power_law", exponent=2.0), [0, 10, 20], 30)
    assert w[25].tolist() == [1 / 4, 1.0, 0.0]  # (1 + tasks completed since)^-2; current: 0
    assert w[5].tolist() == [0.0, 0.0, 0.0]  # nothing past to replay during the first task


def test_nothing_is_replayed_during_the_first_task():
    """The first task has no past: every slot holds new data, whatever the ratio."""
    specs = [_spec(ratio=r) for r in (0.0, 0.5)]
    ds = wb.run(specs)
    first = STREAM.starts[1]
    np.testing.assert_array_equal(ds.train_loss.values[0, :first], ds.train_loss.values[1, :first])
    assert not np.allclose(ds.train_loss.values[0, first:], ds.train_loss.values[1, first:])


def test_spaced_recalls_at_expanding_intervals():
    w = task_weights(Replay(schedule="spaced", interval=4), [0, 10], 40)
    recalled = [t for t in range(40) if w[t, 0] == 1.0]
    assert recalled == [14, 15, 22, 23, 38, 39]  # 10 + 4·(2^i − 1), 2 steps each
    assert set(w[10:, 0].tolist()) == {0.1, 1.0} and set(w[:, 1].tolist()) == {0.0}


def test_draws_follow_the_power_law_over_tasks():
    """With power-law weights, during task 2 the previous task 1 is drawn (1 + 0)^-1 / (1 + 1/2)
    of the time and task 0 (1 + 1)^-1 / (3/2), whatever their share of the memory; task 2's own
    examples (in memory too) are never replayed while it trains."""
    stream = wb.class_incremental("digits", classes_per_task=2, task_steps=20)
    spec = wb.RunSpec(
        data=wb.TaskStream(stream.tasks[:3], stream.starts[:3], stream.names[:3]),
        model=wb.MLP(hidden=(8,)),
        optimizer=wb.SGD(lr=0.0),
        steps=60,
        batch_size=32,
        replay=Replay(size=300, ratio=0.5, schedule="power_law"),
    )
    b = Bucket([wb.set_path(spec, "seed", s) for s in range(20)], device="cpu")
    b.advance(50)
    mem, feed = b.feed.memory, b.feed
    drawn = []
    for t in range(50, 60):
        feed.prepare(t)
        _, y = feed.batch(torch.tensor(t))
        drawn.append(y[:, :16])  # the memory slots: labels say the task (2 classes a task)
    tasks = torch.cat(drawn).flatten() // 2
    share = torch.bincount(tasks, minlength=3).double() / tasks.numel()
    expected = torch.tensor([1 / 3, 2 / 3, 0.0], dtype=torch.float64)
    assert (mem.task[mem.valid()] == 2).any()  # task 2 is in memory, just not replayed
    assert torch.allclose(share, expected, atol=0.03), (share, expected)
    assert mem is b.feed.memory


# -- lock-step equivalence and isolation ---------------------------------------------------------


@pytest.mark.parametrize(
    "policy, schedule",
    [("reservoir", "uniform"), ("class_balanced", "power_law"), ("fifo", "spaced")],
)
def test_lockstep_matches_the_per_run_reference(policy, schedule):
    """One bucket of runs with different ratios and sizes trains each exactly as the plain
    per-run loop with a Python-list memory does (same parameters to float32 rounding)."""
    base = _spec(policy=policy, schedule=schedule, interval=4)
    specs = [
        wb.set_path(wb.set_path(wb.set_path(base, "replay.ratio", r), "replay.size", z), "seed", i)
        for i, (r, z) in enumerate([(0.0, 30), (0.25, 12), (0.5, 30)])
    ]
    b = Bucket(specs, device="cpu")
    b.advance(75)
    for i, spec in enumerate(specs):
        ref = train_reference(spec)
        assert torch.allclose(b.model.flat[i], ref["params"], atol=1e-5), (policy, i)


def test_ratio_zero_trains_as_no_replay():
    with_memory = wb.run([_spec(ratio=0.0)])
    plain = wb.run([wb.RunSpec(**{**_spec().__dict__, "replay": None})])
    np.testing.assert_array_equal(with_memory.train_loss.values, plain.train_loss.values)


def test_new_data_order_ignores_ratio_and_buffer():
    """A run's new examples come in its seed's order whatever its ratio or size: the examples
    a replay run trains on at new-data slots are the no-replay run's at the same slots."""
    specs = [_spec(ratio=r, size=z) for r, z in [(0.0, 30), (0.5, 10)]]
    b = Bucket(specs, device="cpu")
    x_seen = []
    for t in range(30):  # no training: only the batches matter
        b.feed.prepare(t)
        x, _ = b.feed.batch(torch.tensor(t))
        x_seen.append(x)
    m, switch = Replay.slots(0.5, 16), STREAM.starts[1]
    for x in x_seen[:switch]:  # the first task: nothing past to replay
        assert torch.equal(x[0], x[1])
    for x in x_seen[switch:]:  # then the first m slots rehearse task 0
        assert torch.equal(x[0, m:], x[1, m:])
        assert not torch.equal(x[0, :m], x[1, :m])


def test_a_run_replays_the_same_alone_or_in_a_bucket():
    spec = _spec(ratio=0.4, size=25)
    alone = wb.run([spec])
    crowd = wb.run([_spec(ratio=0.1, size=60), spec, _spec(ratio=0.0, size=5)])
    np.testing.assert_allclose(
        alone.train_loss.values[0], crowd.train_loss.values[1], rtol=1e-5, atol=1e-6
    )


# -- live ratio ----------------------------------------------------------------------------------


def test_a_live_ratio_change_is_recorded_and_effective():
    spec = _spec(ratio=0.1)
    s = wb.Session([spec], chunk_steps=10)
    s.pause(at_step=30)
    s.start()
    assert s.wait_paused()
    s.set_knob("replay_ratio", 0.5)
    s.resume()
    assert s.wait() == "done"
    ds = s.dataset()
    ratio = ds.replay_ratio.values[0]
    assert np.allclose(ratio[:30], 0.1) and np.allclose(ratio[30:], 0.5)
    assert [e["step"] for e in s.events if e["name"] == "replay_ratio"] == [30]
    trained = s.trained_specs()[0]
    assert trained.replay.ratio == wb.schedules.piecewise(boundaries=(30,), values=(0.1, 0.5))
    again = wb.run([trained])  # the export reproduces the run, so the change took effect
    np.testing.assert_allclose(again.train_loss.values, ds.train_loss.values, rtol=1e-6)
    unchanged = wb.run([spec])
    assert not np.allclose(unchanged.train_loss.values[0, 31:], ds.train_loss.values[0, 31:])
    assert wb.trained_specs(ds)[0].replay.ratio == trained.replay.ratio


def test_a_bad_live_ratio_is_a_message_not_a_crash():
    s = wb.Session([_spec()], chunk_steps=10)
    s.pause(at_step=10)
    s.start()
    assert s.wait_paused()
    s.set_knob("replay_ratio", 1.5)
    s.resume()
    assert s.wait() == "done"
    assert any("replay_ratio=1.5 must be in [0, 1)" in m for m in s.messages)


def test_replay_ratio_is_not_live_without_replay():
    plain = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=10, batch_size=8)
    s = wb.Session([plain])
    with pytest.raises(ValueError, match="knob 'replay_ratio' is not live"):
        s.set_knob("replay_ratio", 0.2)


def test_token_streams_replay_as_the_reference_does():
    """Sequence targets ``[B, T]`` are replayed whole (reservoir over sequences)."""
    lang = wb.sequence(
        [
            wb.data_spec("markov", vocab=8, context=16),
            wb.data_spec("markov", vocab=8, context=16, variant=1, distance=0.5),
        ],
        [0, 12],
    )
    specs = [
        wb.RunSpec(
            data=lang,
            model=wb.Transformer(layers=1, width=32, heads=2, context=16),
            optimizer=wb.AdamW(lr=3e-3),
            steps=24,
            batch_size=8,
            seed=i,
            replay=Replay(size=20, ratio=r),
        )
        for i, r in enumerate([0.25, 0.5])
    ]
    b = Bucket(specs, device="cpu")
    b.advance(24)
    for i, spec in enumerate(specs):  # attention in float32 differs by ~5e-5 even without replay
        ref = train_reference(spec)
        assert torch.allclose(b.model.flat[i], ref["params"], atol=2e-4)
    other = train_reference(wb.set_path(specs[0], "replay", None))["params"]
    assert (b.model.flat[0] - other).abs().max() > 1e-2  # replay changed what was trained
