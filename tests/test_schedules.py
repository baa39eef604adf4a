"""Tests for workbench.schedules: values at every boundary ±1 against hand-computed numbers,
shape properties (monotonicity), scalar/tensor agreement, composition, serialisation and
argument validation."""

import copy
import inspect
import json
import math
import pickle
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import schedules as sch
from workbench.schedules import (
    Schedule,
    as_schedule,
    constant,
    cosine,
    exponential,
    from_dict,
    inverse_sqrt,
    join,
    linear,
    one_minus_sqrt,
    piecewise,
    step,
    table,
    warmup,
    wsd,
)
from workbench.schedules.core import _REGISTRY

FAST = settings(max_examples=60, deadline=None)


def _cos_decay(peak, final, p):
    """Reference half-cosine: peak at p=0, final at p=1."""
    return final + (peak - final) * 0.5 * (1 + math.cos(math.pi * p))


def _wsd_shape(shape, p):
    """Reference WSD decay factor (1 at the start of the decay, 0 at its end)."""
    return {"linear": 1 - p, "cosine": 0.5 * (1 + math.cos(math.pi * p)), "1-sqrt": 1 - p**0.5}[
        shape
    ]


# (schedule, {step: hand-computed value}); every boundary ±1, the end and past the end.
CASES = [
    (constant(value=0.3), {-5: 0.3, 0: 0.3, 1: 0.3, 10**9: 0.3}),
    (constant(-2.5), {0: -2.5, 7: -2.5}),
    (
        linear(start=1.0, end=0.2, steps=8),
        {-1: 1.0, 0: 1.0, 1: 0.9, 4: 0.6, 7: 0.3, 8: 0.2, 9: 0.2, 1000: 0.2},
    ),
    (linear(start=0.0, end=1.0, steps=4), {0: 0.0, 1.5: 0.375, 4: 1.0, 5: 1.0}),
    (
        warmup(peak=2.0, steps=4, init=0.4),
        {-3: 0.4, 0: 0.4, 1: 0.8, 3: 1.6, 4: 2.0, 5: 2.0, 100: 2.0},
    ),
    (warmup(peak=1.0, steps=1), {0: 0.0, 1: 1.0, 2: 1.0}),
    (
        cosine(peak=1.0, steps=20, warmup=4, final=0.2),
        {
            -1: 0.0,
            0: 0.0,
            1: 0.25,
            3: 0.75,
            4: 1.0,
            5: _cos_decay(1.0, 0.2, 1 / 16),
            12: 0.6,
            19: _cos_decay(1.0, 0.2, 15 / 16),
            20: 0.2,
            21: 0.2,
            10**6: 0.2,
        },
    ),
    (
        cosine(peak=0.5, steps=10),
        {0: 0.5, 1: _cos_decay(0.5, 0.0, 0.1), 5: 0.25, 9: _cos_decay(0.5, 0.0, 0.9), 10: 0.0},
    ),
    # warmup == steps: no decay phase, so the value drops to final at `steps`.
    (cosine(peak=1.0, steps=4, warmup=4, final=0.1), {0: 0.0, 3: 0.75, 4: 0.1, 5: 0.1}),
    (
        one_minus_sqrt(peak=1.0, steps=16, final=0.2),
        {0: 1.0, 1: 0.8, 4: 0.6, 15: 0.2 + 0.8 * (1 - (15 / 16) ** 0.5), 16: 0.2, 17: 0.2},
    ),
    (
        inverse_sqrt(peak=1.0, warmup=4),
        {0: 0.0, 1: 0.25, 3: 0.75, 4: 1.0, 5: (4 / 5) ** 0.5, 16: 0.5, 400: 0.1},
    ),
    (inverse_sqrt(peak=2.0, warmup=4, timescale=9), {3: 1.5, 4: 2.0, 13: 2 * 0.5**0.5, 31: 1.0}),
    (inverse_sqrt(peak=1.0, warmup=0, timescale=1), {-1: 1.0, 0: 1.0, 3: 0.5, 15: 0.25}),
    (
        exponential(init=1.0, rate=0.5, steps=3, final=0.2),
        {0: 1.0, 1: 0.5, 2: 0.25, 3: 0.2, 4: 0.2},
    ),
    (exponential(init=1.0, rate=0.5, steps=2), {1: 0.5, 2: 0.25, 3: 0.25, 50: 0.25}),
    (exponential(init=1.0, rate=2.0, final=5.0), {0: 1.0, 2: 4.0, 3: 5.0, 100: 5.0}),
    (exponential(init=3.0, rate=0.9), {0: 3.0, 1: 2.7, 2: 3 * 0.81}),
    (
        piecewise(boundaries=[3, 7], values=[3.0, 2.0, 1.0]),
        {-1: 3.0, 0: 3.0, 2: 3.0, 3: 2.0, 4: 2.0, 6: 2.0, 7: 1.0, 8: 1.0},
    ),
    (piecewise(boundaries=[], values=[4.0]), {0: 4.0, 9: 4.0}),
    (piecewise(boundaries=[0], values=[9.0, 1.0]), {0: 1.0, 1: 1.0}),
    (
        step(init=1.0, boundaries=[2, 5], factor=0.1),
        {0: 1.0, 1: 1.0, 2: 0.1, 3: 0.1, 4: 0.1, 5: 0.01, 6: 0.01},
    ),
    (
        join([warmup(peak=1.0, steps=4), 0.5, linear(start=0.5, end=0.0, steps=10)], [4, 6]),
        {0: 0.0, 3: 0.75, 4: 0.5, 5: 0.5, 6: 0.5, 7: 0.45, 15: 0.05, 16: 0.0, 30: 0.0},
    ),
    # A second warmup restarts from 0 at the boundary: segments see relative steps.
    (
        join([constant(1.0), warmup(peak=1.0, steps=4)], [10]),
        {0: 1.0, 9: 1.0, 10: 0.0, 11: 0.25, 13: 0.75, 14: 1.0, 15: 1.0},
    ),
    (join([0.7], []), {0: 0.7, 5: 0.7}),
]

# steps=20, warmup=2, decay=0.25 -> decay phase [15, 20], i.e. 5 steps.
for _shape in ("linear", "cosine", "1-sqrt"):
    CASES.append(
        (
            wsd(peak=1.0, steps=20, warmup=2, decay=0.25, shape=_shape, final=0.1),
            {
                -1: 0.0,
                0: 0.0,
                1: 0.5,
                2: 1.0,
                3: 1.0,
                14: 1.0,
                15: 1.0,
                16: 0.1 + 0.9 * _wsd_shape(_shape, 1 / 5),
                19: 0.1 + 0.9 * _wsd_shape(_shape, 4 / 5),
                20: 0.1,
                21: 0.1,
            },
        )
    )
CASES += [
    (wsd(peak=1.0, steps=10), {0: 1.0, 7: 1.0, 8: 1.0, 9: 0.5, 10: 0.0, 11: 0.0}),
    # decay=0: no decay phase, the value drops to final at `steps`, like cosine above.
    (wsd(peak=1.0, steps=10, decay=0.0, final=0.3), {0: 1.0, 9: 1.0, 10: 0.3, 11: 0.3}),
    (wsd(peak=1.0, steps=4, decay=1.0, shape="1-sqrt"), {0: 1.0, 1: 0.5, 4: 0.0}),
]

EXAMPLES = [s for s, _ in CASES]
CASE_IDS = [repr(s) for s in EXAMPLES]


def test_cases_cover_every_kind():
    # the continual-learning and refined schedules have their cases in test_schedules_more.py
    more = {"sgdr", "wsd_s", "infinite", "rewarm", "tabulated"}
    assert {s.kind for s in EXAMPLES} | more == set(_REGISTRY)
    assert set(_REGISTRY) <= set(sch.__all__)


@pytest.mark.parametrize(("schedule", "expected"), CASES, ids=CASE_IDS)
def test_values_match_hand_computed(schedule, expected):
    for t, value in expected.items():
        got = schedule(t)
        assert isinstance(got, float)
        assert got == pytest.approx(value, rel=1e-12, abs=1e-15), f"step {t}"


@pytest.mark.parametrize(("schedule", "expected"), CASES, ids=CASE_IDS)
def test_tensor_call_matches_scalar_calls(schedule, expected):
    steps = list(expected)
    got = schedule(torch.tensor(steps, dtype=torch.float64))
    assert got.dtype == torch.float64
    assert got.tolist() == [schedule(t) for t in steps]  # same code path: exact equality


# Peaks and finals are hit exactly, not just approximately (a + (b - a) * 1 may not equal b).
@pytest.mark.parametrize(
    ("schedule", "t", "value"),
    [
        (cosine(peak=0.1, steps=30, warmup=7, final=0.3), 7, 0.1),
        (cosine(peak=0.1, steps=30, warmup=7, final=0.3), 30, 0.3),
        (linear(start=0.1, end=0.3, steps=3), 3, 0.3),
        (wsd(peak=0.7, steps=30, decay=0.3, shape="cosine", final=0.1), 30, 0.1),
        (one_minus_sqrt(peak=0.3, steps=7, final=0.1), 7, 0.1),
    ],
)
def test_endpoints_are_exact(schedule, t, value):
    assert schedule(t) == value


def test_negative_steps_clamp_to_zero():
    for s in EXAMPLES:
        assert s(-3) == s(0)
        assert s(torch.tensor([-7, -1])).tolist() == [s(0), s(0)]


def test_wsd_decay_start_uses_python_round():
    # round(2.5) == 2 (ties to even): decay is 2 steps, starting at step 8.
    s = wsd(peak=1.0, steps=10, decay=0.25)
    assert (s(8), s(9), s(10)) == (1.0, 0.5, 0.0)


@FAST
@given(
    steps=st.integers(1, 400),
    warm=st.floats(0, 1),
    decay=st.floats(0, 1),
    peak=st.floats(0, 10),
    final_frac=st.floats(0, 1),
)
def test_wsd_decay_start_and_end(steps, warm, decay, peak, final_frac):
    final = peak * final_frac
    decay_steps = round(decay * steps)
    warm_steps = int(warm * (steps - decay_steps))
    s = wsd(peak=peak, steps=steps, warmup=warm_steps, decay=decay, final=final)
    start = steps - decay_steps
    if warm_steps <= start - 1:
        assert s(start - 1) == peak
    assert s(start) == (peak if decay_steps else final)
    assert s(steps) == s(steps + 1) == final


# --------------------------------------------------------------------------- monotonicity


def _assert_monotone(values, *, increasing, what):
    d = torch.diff(values)
    tol = 1e-12 * max(1.0, values.abs().max().item())
    if increasing:
        assert (d >= -tol).all(), f"{what} decreases"
    else:
        assert (d <= tol).all(), f"{what} increases"


@FAST
@given(
    steps=st.integers(1, 300),
    warm=st.floats(0, 1),
    decay=st.floats(0, 1),
    shape=st.sampled_from(["linear", "cosine", "1-sqrt"]),
    peak=st.floats(0, 10),
    final_frac=st.floats(0, 1),
)
def test_wsd_warms_up_then_never_increases(steps, warm, decay, shape, peak, final_frac):
    decay_steps = round(decay * steps)
    # warmup < steps: with warmup == steps (decay 0) the drop to final at `steps` is not a decay.
    warm_steps = min(int(warm * (steps - decay_steps)), steps - 1)
    s = wsd(
        peak=peak,
        steps=steps,
        warmup=warm_steps,
        decay=decay,
        shape=shape,
        final=peak * final_frac,
    )
    values = s.table(steps + 5)
    _assert_monotone(values[: warm_steps + 1], increasing=True, what="warmup")
    _assert_monotone(values[warm_steps:], increasing=False, what="stable+decay")
    assert values.max().item() == pytest.approx(peak)


@FAST
@given(steps=st.integers(1, 300), warm=st.floats(0, 1), peak=st.floats(0, 10), f=st.floats(0, 1))
def test_cosine_warms_up_then_never_increases(steps, warm, peak, f):
    w = min(int(warm * steps), steps - 1)  # w == steps has no decay phase (see CASES)
    values = cosine(peak=peak, steps=steps, warmup=w, final=peak * f).table(steps + 5)
    _assert_monotone(values[: w + 1], increasing=True, what="warmup")
    _assert_monotone(values[w:], increasing=False, what="decay")


@FAST
@given(w=st.integers(1, 100), timescale=st.none() | st.floats(0.5, 1e3), peak=st.floats(0, 10))
def test_inverse_sqrt_warms_up_then_never_increases(w, timescale, peak):
    values = inverse_sqrt(peak=peak, warmup=w, timescale=timescale).table(3 * w + 50)
    _assert_monotone(values[: w + 1], increasing=True, what="warmup")
    _assert_monotone(values[w:], increasing=False, what="decay")
    assert values[w].item() == pytest.approx(peak)


@FAST
@given(
    steps=st.integers(1, 300),
    a=st.floats(0, 10),
    b=st.floats(0, 10),
    rate=st.floats(0.01, 1),
    factor=st.floats(0, 1),
)
def test_simple_shapes_are_monotone(steps, a, b, rate, factor):
    lo, hi = min(a, b), max(a, b)
    n = steps + 5
    _assert_monotone(warmup(peak=hi, steps=steps, init=lo).table(n), increasing=True, what="w")
    for s in (
        linear(start=hi, end=lo, steps=steps),
        one_minus_sqrt(peak=hi, steps=steps, final=lo),
        exponential(init=hi, rate=rate, steps=steps, final=min(lo, hi)),
        step(init=hi, boundaries=[steps // 3, steps // 3 + 1 + steps // 2], factor=factor),
    ):
        _assert_monotone(s.table(n), increasing=False, what=s.kind)


# --------------------------------------------------------------------------- scalar vs tensor


@FAST
@given(
    index=st.integers(0, len(EXAMPLES) - 1),
    steps=st.lists(st.integers(-5, 10**6) | st.floats(-5, 1e6), min_size=1, max_size=8),
)
def test_scalar_call_equals_tensor_call(index, steps):
    s = EXAMPLES[index]
    got = s(torch.tensor(steps, dtype=torch.float64))
    assert got.tolist() == [s(t) for t in steps]


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.float32, torch.float64])
def test_tensor_call_keeps_shape_and_gives_float64(dtype):
    steps = torch.arange(24).reshape(2, 3, 4).to(dtype)
    for s in EXAMPLES:
        got = s(steps)
        assert got.shape == (2, 3, 4) and got.dtype == torch.float64
        assert got.flatten().tolist() == [s(int(t)) for t in range(24)]
    assert EXAMPLES[0](torch.tensor(3)).shape == ()


# On CUDA a helper tensor built on the CPU by mistake fails loudly; where there is a GPU the
# same test runs there too (it passed on an H200).
@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_tensor_call_and_table_stay_on_device(device):
    for s in EXAMPLES:
        assert s(torch.arange(6, device=device)).device.type == device
        assert s.table(6, device=device).device.type == device
    if device == "cuda":
        for s in EXAMPLES:
            # sqrt/cos may differ from the CPU by an ulp
            torch.testing.assert_close(s.table(30, device="cuda").cpu(), s.table(30))


@pytest.mark.parametrize("schedule", EXAMPLES, ids=CASE_IDS)
def test_table_has_length_steps_and_matches_calls(schedule):
    values = schedule.table(25)
    assert values.shape == (25,) and values.dtype == torch.float64
    assert values.tolist() == [schedule(t) for t in range(25)]
    assert torch.equal(table(schedule, 25), values)


def test_table_helper_accepts_numbers():
    assert table(0.5, 3).tolist() == [0.5, 0.5, 0.5]
    assert table(2, 0).shape == (0,)
    with pytest.raises(ValueError, match=r"table: steps=-1"):
        table(0.5, -1)


def test_call_rejects_non_steps():
    s = constant(value=1.0)
    with pytest.raises(TypeError, match="step"):
        s("3")
    with pytest.raises(TypeError, match="bool"):
        s(torch.tensor([True]))


# --------------------------------------------------------------------------- join


def test_join_segments_see_relative_steps():
    inner = linear(start=0.0, end=1.0, steps=100)
    s = join([0.0, inner, inner], [5, 25])
    for t in range(5, 25):
        assert s(t) == inner(t - 5)
    for t in range(25, 200):
        assert s(t) == inner(t - 25)
    assert (s(4), s(5), s(24), s(25)) == (0.0, 0.0, 0.19, 0.0)


def test_join_of_warmup_and_cosine_is_cosine_with_warmup():
    # optax builds warmup_cosine_decay_schedule this way; ours must agree with the direct form.
    joined = join([warmup(peak=1.0, steps=10), cosine(peak=1.0, steps=90, final=0.1)], [10])
    direct = cosine(peak=1.0, steps=100, warmup=10, final=0.1)
    assert torch.allclose(joined.table(120), direct.table(120), rtol=0, atol=1e-15)


def test_join_nests():
    inner = join([1.0, 2.0], [3])
    s = join([inner, inner], [5])
    assert [s(t) for t in range(10)] == [1, 1, 1, 2, 2, 1, 1, 1, 2, 2]


def test_join_stores_schedules_and_boundaries_as_tuples():
    s = join([0.5, cosine(peak=1.0, steps=3)], np.array([2]))
    assert s.args == (
        ("schedules", (constant(value=0.5), cosine(peak=1.0, steps=3))),
        ("boundaries", (2,)),
    )
    assert type(s.boundaries[0]) is int


# --------------------------------------------------------------------------- value semantics


@pytest.mark.parametrize("schedule", EXAMPLES, ids=CASE_IDS)
def test_dict_round_trip_through_json(schedule):
    d = schedule.to_dict()
    assert d["kind"] == schedule.kind
    back = from_dict(json.loads(json.dumps(d)))
    assert back == schedule and hash(back) == hash(schedule)
    assert back.to_dict() == d


@pytest.mark.parametrize("schedule", EXAMPLES, ids=CASE_IDS)
def test_pickle_copy_and_repr_round_trip(schedule):
    assert pickle.loads(pickle.dumps(schedule)) == schedule
    assert copy.deepcopy(schedule) == schedule
    assert eval(repr(schedule), dict(vars(sch))) == schedule


def test_to_dict_of_nested_join():
    s = join([warmup(peak=1.0, steps=2), step(init=1.0, boundaries=(3,), factor=0.5)], [2])
    assert s.to_dict() == {
        "kind": "join",
        "schedules": [
            {"kind": "warmup", "peak": 1.0, "steps": 2, "init": 0.0},
            {"kind": "step", "init": 1.0, "boundaries": [3], "factor": 0.5},
        ],
        "boundaries": [2],
    }


@pytest.mark.parametrize("schedule", EXAMPLES, ids=CASE_IDS)
def test_args_in_signature_order(schedule):
    factory = getattr(sch, schedule.kind)
    assert schedule.fields == tuple(inspect.signature(factory).parameters)
    assert schedule.replace() == schedule


def test_equal_args_give_equal_schedules():
    a = cosine(peak=1, steps=10)
    b = cosine(steps=np.int64(10), peak=np.float32(1.0), final=0)
    assert a == b and hash(a) == hash(b) and a.to_dict() == b.to_dict()
    assert [type(v) for _, v in b.args] == [float, int, int, float]
    assert cosine(peak=1, steps=10) != cosine(peak=1, steps=11)
    assert cosine(peak=1, steps=10) != one_minus_sqrt(peak=1, steps=10)
    # Configs often write steps as 1e4.
    assert wsd(peak=1.0, steps=1e4) == wsd(peak=1.0, steps=10_000)


def test_frozen_dataclasses_holding_schedules_are_hashable():
    @dataclass(frozen=True)
    class Config:
        lr: Schedule

    assert len({Config(cosine(peak=1.0, steps=5)), Config(cosine(peak=1.0, steps=5))}) == 1
    with pytest.raises(AttributeError):
        cosine(peak=1.0, steps=5).kind = "linear"


def test_getattr_reads_factory_arguments():
    s = cosine(peak=1, steps=10)
    assert s.peak == 1 and s.steps == 10 and s.warmup == 0 and s.final == 0.0
    assert inverse_sqrt(peak=1.0, warmup=3).timescale is None
    assert "peak" in dir(s)
    with pytest.raises(AttributeError, match=r"cosine.*'peek'.*peak, steps, warmup, final"):
        s.peek  # noqa: B018
    assert not hasattr(s, "decay")


def test_replace_rebuilds_through_factory():
    s = wsd(peak=1.0, steps=100, warmup=5)
    r = s.replace(decay=0.1, shape="cosine")
    assert (r.decay, r.shape, r.warmup) == (0.1, "cosine", 5)
    assert s.decay == 0.2  # the original is untouched
    assert r(90) == 1.0 and r(95) == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"wsd: decay=1.5 must be in \[0, 1\]"):
        s.replace(decay=1.5)
    with pytest.raises(ValueError, match=r"wsd: warmup=90 plus decay steps"):
        s.replace(warmup=90)
    with pytest.raises(ValueError, match=r"wsd: shape='square'"):
        s.replace(shape="square")
    with pytest.raises(ValueError, match=r"wsd: cannot replace dcay; allowed: peak, steps"):
        s.replace(dcay=0.1)
    # The default timescale follows warmup because it is stored as None.
    assert inverse_sqrt(peak=1.0, warmup=4).replace(warmup=9)(36) == pytest.approx(0.5)


def test_from_dict_errors():
    with pytest.raises(ValueError, match=r"from_dict: kind='cosnie'.*constant, cosine"):
        from_dict({"kind": "cosnie", "peak": 1.0, "steps": 3})
    with pytest.raises(ValueError, match=r"from_dict: .*'kind'"):
        from_dict({"peak": 1.0})
    with pytest.raises(ValueError, match=r"from_dict: cosine has no argument\(s\) pk"):
        from_dict({"kind": "cosine", "pk": 1.0, "steps": 3})
    with pytest.raises(ValueError, match=r"cosine: steps=0"):
        from_dict({"kind": "cosine", "peak": 1.0, "steps": 0})


def test_schedule_constructor_checks_kind_and_names():
    with pytest.raises(ValueError, match="kind='nope'"):
        Schedule("nope", ())
    with pytest.raises(ValueError, match="must be named"):
        Schedule("constant", (("val", 1.0),))


def test_as_schedule():
    s = cosine(peak=1.0, steps=3)
    assert as_schedule(s) is s
    assert as_schedule(3e-4) == constant(value=3e-4)
    assert as_schedule(np.float64(2)) == constant(value=2.0)
    with pytest.raises(TypeError, match="as_schedule"):
        as_schedule(True)
    with pytest.raises(TypeError, match="as_schedule"):
        as_schedule("0.1")


# --------------------------------------------------------------------------- validation

INVALID = [
    (lambda: constant(value=math.nan), r"constant: value=nan must be finite"),
    (lambda: linear(start=math.inf, end=0.0, steps=3), r"linear: start=inf must be finite"),
    (lambda: linear(start=1.0, end=0.0, steps=0), r"linear: steps=0 must be an integer >= 1"),
    (lambda: linear(start=1.0, end=0.0, steps=2.5), r"linear: steps=2.5 must be an integer"),
    (lambda: warmup(peak=-1.0, steps=3), r"warmup: peak=-1.0 must be >= 0"),
    (lambda: warmup(peak=1.0, steps=3, init=-0.1), r"warmup: init=-0.1 must be >= 0"),
    (lambda: cosine(peak=1.0, steps=10, warmup=11), r"cosine: warmup=11 must be <= steps=10"),
    (lambda: cosine(peak=1.0, steps=10, warmup=-1), r"cosine: warmup=-1 must be an integer"),
    (lambda: cosine(peak=1.0, steps=10, final=-1), r"cosine: final=-1.0 must be >= 0"),
    (lambda: cosine(peak=math.nan, steps=10), r"cosine: peak=nan must be finite"),
    (lambda: one_minus_sqrt(peak=1.0, steps=-3), r"one_minus_sqrt: steps=-3 must be"),
    (lambda: one_minus_sqrt(peak=1.0, steps=3, final=-2), r"one_minus_sqrt: final=-2.0"),
    (lambda: inverse_sqrt(peak=1.0, warmup=0), r"inverse_sqrt: timescale=None .* warmup=0"),
    (lambda: inverse_sqrt(peak=1.0, warmup=3, timescale=0), r"inverse_sqrt: timescale=0.0 must"),
    (lambda: inverse_sqrt(peak=-1.0, warmup=3), r"inverse_sqrt: peak=-1.0 must be >= 0"),
    (lambda: exponential(init=1.0, rate=0.0), r"exponential: rate=0.0 must be > 0"),
    (lambda: exponential(init=1.0, rate=0.5, steps=0), r"exponential: steps=0 must be"),
    (lambda: exponential(init=1.0, rate=0.5, final=2.0), r"exponential: final=2.0 must be <="),
    (lambda: exponential(init=1.0, rate=2.0, final=0.5), r"exponential: final=0.5 must be >="),
    (lambda: exponential(init=-1.0, rate=0.5), r"exponential: init=-1.0 must be >= 0"),
    (
        lambda: piecewise(boundaries=[3, 3], values=[1, 2, 3]),
        r"piecewise: boundaries=\[3, 3\] must be strictly increasing",
    ),
    (
        lambda: piecewise(boundaries=[-1], values=[1, 2]),
        r"piecewise: boundaries\[0\]=-1 must be an integer >= 0",
    ),
    (lambda: piecewise(boundaries=[3], values=[1]), r"piecewise: values has 1 entries"),
    (lambda: piecewise(boundaries=[3], values=[1, math.inf]), r"piecewise: values\[1\]=inf"),
    (lambda: step(init=1.0, boundaries=[5, 2], factor=0.1), r"step: boundaries=\[5, 2\] must"),
    (lambda: step(init=1.0, boundaries=[2], factor=-0.1), r"step: factor=-0.1 must be >= 0"),
    (lambda: join([1.0, 2.0], [3, 4]), r"join: schedules has 2 entries"),
    (lambda: join([1.0, 2.0, 3.0], [4, 3]), r"join: boundaries=\[4, 3\] must"),
    (lambda: join([1.0, math.nan], [3]), r"constant: value=nan must be finite"),
    (lambda: wsd(peak=1.0, steps=10, decay=-0.1), r"wsd: decay=-0.1 must be in \[0, 1\]"),
    (lambda: wsd(peak=1.0, steps=10, warmup=11, decay=0), r"wsd: warmup=11 must be <= steps"),
    (lambda: wsd(peak=1.0, steps=10, warmup=9), r"wsd: warmup=9 plus decay steps"),
    (lambda: wsd(peak=1.0, steps=10, shape="sqrt"), r"wsd: shape='sqrt' must be one of"),
    (lambda: wsd(peak=1.0, steps=0), r"wsd: steps=0 must be an integer >= 1"),
    (lambda: wsd(peak=-1.0, steps=10), r"wsd: peak=-1.0 must be >= 0"),
    (lambda: wsd(peak=1.0, steps=10, final=math.inf), r"wsd: final=inf must be finite"),
]


@pytest.mark.parametrize(("build", "match"), INVALID, ids=[m for _, m in INVALID])
def test_invalid_arguments_raise_value_error(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    "build",
    [
        lambda: constant(value="0.1"),
        lambda: cosine(peak=1.0, steps=True),
        lambda: linear(start=None, end=0.0, steps=3),
        lambda: piecewise(boundaries=3, values=[1, 2]),
    ],
)
def test_wrong_types_raise_type_error(build):
    with pytest.raises(TypeError, match=r"^(constant|cosine|linear|piecewise): "):
        build()
