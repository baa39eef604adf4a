"""Cost estimates: measured per bucket shape, cached, scaled by steps, described in words.

No assertion here depends on how fast this machine is: only on how the measured speed is used.
"""

import pytest

import workbench as wb
from workbench import cost
from workbench.cost import Estimate, duration, estimate


def _spec(steps=100, **kw):
    fields = dict(
        data="digits",
        model=wb.MLP(hidden=(16,)),
        optimizer=wb.SGD(lr=0.1),
        steps=steps,
        batch_size=32,
        eval_every=20,
    )
    return wb.RunSpec(**{**fields, **kw})


def test_estimate_scales_with_steps_for_the_same_shape():
    seeds = {"seed": range(3)}
    short = estimate(wb.grid(_spec(steps=100), seeds), device="cpu")
    long = estimate(wb.grid(_spec(steps=2500), seeds), device="cpu")  # the cached speed
    assert (short.runs, short.run_steps, short.buckets, short.steps) == (3, 300, 1, (100,))
    assert long.run_steps == 7500 and short.seconds > 0
    assert long.seconds / short.seconds == pytest.approx(long.run_steps / short.run_steps)
    assert long.steps_per_second == pytest.approx(short.steps_per_second)
    assert short.device == "cpu"


def test_speed_is_measured_once_per_bucket_shape(monkeypatch):
    monkeypatch.setattr(cost, "_SPEEDS", {})  # what other tests measured does not count
    estimate([_spec(), _spec(seed=1)], device="cpu")

    def refuse(group, device):
        raise AssertionError(f"measured again: {len(group)} runs")

    monkeypatch.setattr(cost, "_measure", refuse)
    # another length, schedule or seed of the same shape and count: the cached speed
    other = [_spec(steps=700, seed=5), _spec(steps=700, optimizer=wb.SGD(lr=0.3))]
    assert estimate(other, device="cpu").buckets == 1
    # another number of runs is another shape (the cost is not linear in runs)
    with pytest.raises(AssertionError, match="measured again: 3 runs"):
        estimate(wb.grid(_spec(), {"seed": range(3)}), device="cpu")


def test_buckets_add_up_and_evaluations_count():
    a, b = _spec(), _spec(optimizer=wb.AdamW(lr=1e-3))  # two buckets (optimizer kinds)
    both = estimate([a, b], device="cpu")
    one_a, one_b = estimate([a], device="cpu"), estimate([b], device="cpu")
    assert both.buckets == 2 and both.runs == 2
    assert both.seconds == pytest.approx(one_a.seconds + one_b.seconds)
    # evaluating every step costs more than every 50 (the same measured speed)
    often = estimate([_spec(eval_every=1)], device="cpu")
    rarely = estimate([_spec(eval_every=50)], device="cpu")
    assert often.seconds > rarely.seconds


def test_describe_says_how_long_in_words():
    assert [duration(s) for s in (0.2, 1, 59.4, 60, 125, 3599, 3600, 3 * 3600 + 125)] == [
        "under 1 s",
        "1 s",
        "59 s",
        "1 min",
        "2 min 5 s",
        "59 min 59 s",
        "1 h",
        "3 h 2 min",
    ]
    assert duration(2 * 86400 + 5 * 3600) == "2 d 5 h"
    assert duration(3 * 3600 - 10) == "3 h"  # 2 h 60 min rounds up
    est = Estimate(
        seconds=5 * 3600 + 600,
        run_steps=128 * 100_000,
        steps_per_second=5.4,
        runs=128,
        buckets=1,
        device="cpu",
        steps=(100_000,),
    )
    assert (
        est.describe() == "about 5 h 10 min (128 runs x 100000 steps; measured 5.4 steps/s on cpu)"
    )
    real = estimate([_spec(steps=40), _spec(steps=80)], device="cpu")
    assert real.describe().startswith("about ") and "2 runs x 40-80 steps in 2 buckets" in (
        real.describe()
    )
    with pytest.raises(ValueError, match="duration: seconds=-1 must be a finite number >= 0"):
        duration(-1)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="estimate: specs is empty"):
        estimate([])
    with pytest.raises(ValueError, match=r"estimate: specs\[1\]='digits' is not a RunSpec"):
        estimate([_spec(), "digits"])
    with pytest.raises(ValueError, match="estimate: specs must be a list of RunSpec, got one"):
        estimate(_spec())
    with pytest.raises(ValueError, match=r"estimate: specs\[0\]: RunSpec: batch_size=5000"):
        estimate([_spec(batch_size=5000)])
    with pytest.raises(ValueError, match="estimate: specs=3 must be a list of RunSpec"):
        estimate(3)
