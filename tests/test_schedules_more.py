"""Tests for the cyclic, continual and data-driven schedules (workbench.schedules.cycles,
continual, refine): values at every boundary ±1 against hand-computed numbers, slow references
(PyTorch's SGDR scheduler, joins of the simple schedules, a loop version of schedule
refinement), monotone pieces, scalar/tensor agreement, serialisation and validation."""

import copy
import inspect
import json
import math
import pickle
import statistics

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import schedules as sch
from workbench.schedules import (
    ANNEAL_SHAPES,
    cosine,
    exponential,
    from_dict,
    infinite,
    join,
    linear,
    refined,
    rewarm,
    sgdr,
    tabulated,
    warmup,
    wsd,
    wsd_s,
)
from workbench.schedules.core import _REGISTRY

FAST = settings(max_examples=60, deadline=None)
NEW_KINDS = {"sgdr", "wsd_s", "infinite", "rewarm", "tabulated"}


def _cos(peak, final, p):
    """Reference half-cosine: peak at p=0, final at p=1."""
    return final + (peak - final) * 0.5 * (1 + math.cos(math.pi * p))


# (schedule, {step: hand-computed value}); every boundary ±1, the end and past the end.
CASES = [
    # warmup [0, 2); cycles of 4, 8, 16 steps start at steps 2, 6, 14, 30.
    (
        sgdr(peak=1.0, period=4, mult=2, final=0.2, warmup=2),
        {
            -1: 0.0,
            0: 0.0,
            1: 0.5,
            2: 1.0,
            3: _cos(1.0, 0.2, 1 / 4),
            5: _cos(1.0, 0.2, 3 / 4),
            6: 1.0,
            7: _cos(1.0, 0.2, 1 / 8),
            10: 0.6,
            13: _cos(1.0, 0.2, 7 / 8),
            14: 1.0,
            29: _cos(1.0, 0.2, 15 / 16),
            30: 1.0,
            31: _cos(1.0, 0.2, 1 / 32),
        },
    ),
    # Equal cycles of 3; each restart halves the top.
    (
        sgdr(peak=2.0, period=3, decay_peak=0.5),
        {
            0: 2.0,
            1: _cos(2.0, 0.0, 1 / 3),
            2: _cos(2.0, 0.0, 2 / 3),
            3: 1.0,
            4: _cos(1.0, 0.0, 1 / 3),
            6: 0.5,
            9: 0.25,
            300: 2.0 * 0.5**100,
        },
    ),
    # period 1, mult 3: restarts at 0, 1, 4, 13, 40, 121 (where log() rounding could bite).
    (
        sgdr(peak=1.0, period=1, mult=3),
        {
            0: 1.0,
            1: 1.0,
            2: _cos(1.0, 0.0, 1 / 3),
            3: _cos(1.0, 0.0, 2 / 3),
            4: 1.0,
            12: _cos(1.0, 0.0, 8 / 9),
            13: 1.0,
            39: _cos(1.0, 0.0, 26 / 27),
            40: 1.0,
            120: _cos(1.0, 0.0, 80 / 81),
            121: 1.0,
        },
    ),
    (sgdr(peak=1.0, period=2, decay_peak=0.0), {0: 1.0, 1: 0.5, 2: 0.0, 3: 0.0, 100: 0.0}),
    # WSD-S: segments [0, 10), [10, 20), [20, 30); each decays linearly over its last 2 steps
    # and the next one restarts at the peak; warmup [0, 2) in the first.
    (
        wsd_s(peak=1.0, steps=30, checkpoints=3, warmup=2, decay=0.2, shape="linear", final=0.1),
        {
            0: 0.0,
            1: 0.5,
            2: 1.0,
            8: 1.0,
            9: 0.55,
            10: 1.0,
            18: 1.0,
            19: 0.55,
            20: 1.0,
            29: 0.55,
            30: 0.1,
            40: 0.1,
        },
    ),
    # uneven segments: ends at round(10/3)=3, round(20/3)=7, 10; decay=1: all decay, 1-sqrt
    (
        wsd_s(peak=1.0, steps=10, checkpoints=3, decay=1.0),
        {0: 1.0, 1: 1 - math.sqrt(1 / 3), 3: 1.0, 5: 1 - math.sqrt(1 / 2), 7: 1.0, 10: 0.0},
    ),
    # warmup [0, 4), cooldown [4, 12], then constant for ever.
    (
        infinite(peak=1.0, warmup=4, cooldown=8, constant=0.2),
        {
            -1: 0.0,
            0: 0.0,
            1: 0.25,
            3: 0.75,
            4: 1.0,
            5: _cos(1.0, 0.2, 1 / 8),
            8: 0.6,
            11: _cos(1.0, 0.2, 7 / 8),
            12: 0.2,
            13: 0.2,
            10**9: 0.2,
        },
    ),
    (
        infinite(
            peak=1.0,
            warmup=4,
            cooldown=8,
            constant=0.2,
            anneal_at=20,
            anneal_steps=4,
            shape="linear",
        ),
        {12: 0.2, 19: 0.2, 20: 0.2, 21: 0.15, 22: 0.1, 23: 0.05, 24: 0.0, 25: 0.0, 10**6: 0.0},
    ),
    (
        infinite(peak=1.0, warmup=4, cooldown=8, constant=0.2, anneal_at=20, anneal_steps=4),
        {19: 0.2, 20: 0.2, 21: _cos(0.2, 0.0, 1 / 4), 22: 0.1, 23: _cos(0.2, 0.0, 3 / 4), 24: 0.0},
    ),
    (
        infinite(
            peak=1.0,
            warmup=0,
            cooldown=4,
            constant=0.2,
            anneal_at=10,
            anneal_steps=4,
            final=0.002,
            shape="exponential",
        ),
        {
            0: 1.0,
            2: 0.6,
            4: 0.2,
            9: 0.2,
            10: 0.2,
            11: 0.2 * 0.01**0.25,
            12: 0.02,
            13: 0.2 * 0.01**0.75,
            14: 0.002,
            15: 0.002,
        },
    ),
    # The anneal may start right at the end of the cooldown.
    (
        infinite(
            peak=1.0,
            warmup=2,
            cooldown=2,
            constant=0.5,
            anneal_at=4,
            anneal_steps=2,
            shape="1-sqrt",
        ),
        {1: 0.5, 2: 1.0, 3: 0.75, 4: 0.5, 5: 0.5 * (1 - 0.5**0.5), 6: 0.0, 7: 0.0},
    ),
    # Zero-length phases: the value steps to the next phase's end value.
    (
        infinite(peak=1.0, warmup=0, cooldown=0, constant=0.5, anneal_at=3, final=0.1),
        {0: 0.5, 2: 0.5, 3: 0.1, 4: 0.1},
    ),
    # base reaches 0.2 at step 8; re-warm [10, 14] from 0.2 to 0.8; re-decay [14, 22].
    (
        rewarm(base=cosine(peak=1.0, steps=8, final=0.2), at=10, peak=0.8, warmup=4, decay_steps=8),
        {
            -1: 1.0,
            0: 1.0,
            4: 0.6,
            8: 0.2,
            9: 0.2,
            10: 0.2,
            11: 0.35,
            13: 0.65,
            14: 0.8,
            15: _cos(0.8, 0.0, 1 / 8),
            18: 0.4,
            21: _cos(0.8, 0.0, 7 / 8),
            22: 0.0,
            23: 0.0,
            10**6: 0.0,
        },
    ),
    # Re-warm in the middle of the base decay starts from base(at), with no jump.
    (
        rewarm(
            base=linear(start=1.0, end=0.0, steps=100),
            at=50,
            peak=1.0,
            warmup=5,
            decay_steps=10,
            final=0.1,
            shape="linear",
        ),
        {49: 0.51, 50: 0.5, 51: 0.6, 54: 0.9, 55: 1.0, 56: 0.91, 60: 0.55, 64: 0.19, 65: 0.1},
    ),
    (
        rewarm(base=0.3, at=2, peak=0.6, warmup=0, decay_steps=3, shape="linear"),
        {0: 0.3, 1: 0.3, 2: 0.6, 3: 0.4, 4: 0.2, 5: 0.0, 6: 0.0},
    ),
    (rewarm(base=0.3, at=2, peak=0.6, warmup=0, decay_steps=0, final=0.05), {1: 0.3, 2: 0.05}),
    # Two re-warms, one per new dataset.
    (
        rewarm(
            base=rewarm(base=0.5, at=4, peak=1.0, warmup=2, decay_steps=4, shape="linear"),
            at=12,
            peak=0.5,
            warmup=2,
            decay_steps=2,
            shape="linear",
        ),
        {3: 0.5, 4: 0.5, 5: 0.75, 6: 1.0, 8: 0.5, 10: 0.0, 12: 0.0, 13: 0.25, 14: 0.5, 16: 0.0},
    ),
    (
        tabulated(values=[0.5, 1.0, 0.25]),
        {-1: 0.5, 0: 0.5, 0.5: 0.5, 1: 1.0, 1.5: 1.0, 2: 0.25, 3: 0.25, 1e18: 0.25},
    ),
    (tabulated(values=[-2.0]), {0: -2.0, 7: -2.0}),
]

EXAMPLES = [s for s, _ in CASES]
CASE_IDS = [repr(s)[:80] for s in EXAMPLES]


def test_cases_cover_every_new_kind():
    assert {s.kind for s in EXAMPLES} == NEW_KINDS
    assert NEW_KINDS <= set(_REGISTRY) and NEW_KINDS | {"refined"} <= set(sch.__all__)


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


@pytest.mark.parametrize(
    ("schedule", "t", "value"),
    [
        (sgdr(peak=0.1, period=7, mult=3, warmup=3, final=0.3, decay_peak=0.7), 10, 0.1 * 0.7),
        (infinite(peak=0.7, warmup=3, cooldown=7, constant=0.1), 10, 0.1),
        (infinite(peak=0.7, warmup=3, cooldown=7, constant=0.1), 3, 0.7),
        (
            infinite(
                peak=0.7,
                warmup=3,
                cooldown=7,
                constant=0.3,
                anneal_at=11,
                anneal_steps=3,
                final=0.1,
                shape="exponential",
            ),
            14,
            0.1,
        ),
        (rewarm(base=0.3, at=5, peak=0.7, warmup=3, decay_steps=7, final=0.1), 8, 0.7),
        (rewarm(base=0.3, at=5, peak=0.7, warmup=3, decay_steps=7, final=0.1), 15, 0.1),
    ],
)
def test_endpoints_are_exact(schedule, t, value):
    assert schedule(t) == value


def test_negative_steps_clamp_to_zero():
    for s in EXAMPLES:
        assert s(-3) == s(0)
        assert s(torch.tensor([-7, -1])).tolist() == [s(0), s(0)]


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.float32, torch.float64])
def test_tensor_call_keeps_shape_and_gives_float64(dtype):
    steps = torch.arange(24).reshape(2, 3, 4).to(dtype)
    for s in EXAMPLES:
        got = s(steps)
        assert got.shape == (2, 3, 4) and got.dtype == torch.float64
        assert got.flatten().tolist() == [s(int(t)) for t in range(24)]
        assert s(torch.tensor(3)).shape == ()


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_tensor_call_and_table_stay_on_device(device):
    for s in EXAMPLES:
        assert s(torch.arange(6, device=device)).device.type == device
        assert s.table(6, device=device).device.type == device
    if device == "cuda":
        for s in EXAMPLES:
            torch.testing.assert_close(s.table(30, device="cuda").cpu(), s.table(30))


@FAST
@given(
    index=st.integers(0, len(EXAMPLES) - 1),
    steps=st.lists(st.integers(-5, 10**6) | st.floats(-5, 1e6), min_size=1, max_size=8),
)
def test_scalar_call_equals_tensor_call(index, steps):
    s = EXAMPLES[index]
    assert s(torch.tensor(steps, dtype=torch.float64)).tolist() == [s(t) for t in steps]


# --------------------------------------------------------------------------- sgdr


def _sgdr_reference(t, *, peak, period, mult, final, warmup, decay_peak):
    """SGDR by walking the cycles one by one."""
    if t < warmup:
        return peak * t / warmup
    u, start, length, top = t - warmup, 0, period, peak
    while u >= start + length:
        start, length, top = start + length, length * mult, top * decay_peak
    return _cos(top, final, (u - start) / length)


@pytest.mark.parametrize(("period", "mult", "final"), [(3, 2, 0.1), (5, 1, 0.0), (1, 3, 0.2)])
def test_sgdr_matches_torch_cosine_annealing_warm_restarts(period, mult, final):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.5)
    torch_sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        opt, T_0=period, T_mult=mult, eta_min=final
    )
    expected = []
    for _ in range(200):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        torch_sched.step()
    got = sgdr(peak=1.5, period=period, mult=mult, final=final).table(200)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=0)


@FAST
@given(
    period=st.integers(1, 50),
    mult=st.integers(1, 4),
    warm=st.integers(0, 20),
    decay_peak=st.floats(0, 1),
    final=st.floats(0, 0.5),
    steps=st.lists(st.integers(0, 10**5), min_size=1, max_size=10),
)
def test_sgdr_matches_cycle_walking_reference(period, mult, warm, decay_peak, final, steps):
    kw = dict(peak=1.0, period=period, mult=mult, final=final, warmup=warm, decay_peak=decay_peak)
    s = sgdr(**kw)
    for t in steps:
        assert s(t) == pytest.approx(_sgdr_reference(t, **kw), rel=1e-9, abs=1e-12)


def _assert_monotone(values, *, increasing, what):
    if values.numel() < 2:
        return
    d = torch.diff(values)
    tol = 1e-12 * max(1.0, values.abs().max().item())
    if increasing:
        assert (d >= -tol).all(), f"{what} decreases"
    else:
        assert (d <= tol).all(), f"{what} increases"


@FAST
@given(period=st.integers(1, 30), mult=st.integers(1, 3), warm=st.integers(0, 10))
def test_sgdr_decays_within_each_cycle_and_restarts_to_peak(period, mult, warm):
    s = sgdr(peak=1.0, period=period, mult=mult, warmup=warm, final=0.1)
    values = s.table(warm + 400)
    _assert_monotone(values[: warm + 1], increasing=True, what="warmup")
    start, length = warm, period
    while start + length < len(values):
        _assert_monotone(values[start : start + length], increasing=False, what="cycle")
        assert values[start] == 1.0
        assert length == 1 or values[start + length - 1] < 1.0
        start, length = start + length, length * mult


# --------------------------------------------------------------------------- infinite


@pytest.mark.parametrize("shape", ["linear", "cosine", "1-sqrt"])
def test_wsd_s_with_one_checkpoint_is_wsd(shape):
    kw = dict(peak=0.3, steps=97, warmup=7, decay=0.25, shape=shape, final=0.01)
    assert torch.equal(wsd_s(checkpoints=1, **kw).table(120), wsd(**kw).table(120))


@given(
    steps=st.integers(20, 400),
    k=st.integers(1, 6),
    decay=st.floats(0.0, 1.0),
)
@FAST
def test_wsd_s_reaches_final_at_every_checkpoint_and_restarts_at_peak(steps, k, decay):
    s = wsd_s(peak=1.0, steps=steps, checkpoints=k, decay=decay, final=0.0)
    table = s.table(steps + 1)
    ends = [round(steps * (i + 1) / k) for i in range(k)]
    for end in ends[:-1]:
        assert table[end] == 1.0  # the next segment starts at the peak
        assert table[end - 1] <= 1.0
    assert table[steps] == 0.0
    assert float(table.max()) == 1.0 and float(table.min()) >= 0.0


@pytest.mark.parametrize("shape", ["linear", "cosine", "1-sqrt"])
def test_infinite_equals_join_of_simple_schedules(shape):
    kw = dict(peak=1.0, warmup=10, cooldown=30, constant=0.3, anneal_steps=20, final=0.05)
    s = infinite(**kw, anneal_at=100, shape=shape)
    reference = join(
        [
            warmup(peak=1.0, steps=10),
            cosine(peak=1.0, steps=30, final=0.3),
            wsd(peak=0.3, steps=20, decay=1.0, shape=shape, final=0.05),
        ],
        [10, 100],
    )
    torch.testing.assert_close(s.table(150), reference.table(150), rtol=1e-12, atol=1e-15)
    # Without an anneal it is the first two pieces for ever.
    torch.testing.assert_close(
        s.replace(anneal_at=None).table(150), join(reference.schedules[:2], [10]).table(150)
    )


def test_infinite_exponential_anneal_is_geometric():
    s = infinite(
        peak=1.0,
        warmup=0,
        cooldown=0,
        constant=0.1,
        anneal_at=0,
        anneal_steps=50,
        final=1e-4,
        shape="exponential",
    )
    reference = exponential(init=0.1, rate=(1e-3) ** (1 / 50), steps=50)
    torch.testing.assert_close(s.table(60), reference.table(60), rtol=1e-12, atol=0)


def test_infinite_anneal_on_demand_forks_share_the_main_run():
    main = infinite(peak=1.0, warmup=10, cooldown=40, constant=0.25, anneal_steps=20)
    assert main.anneal_at is None and main(10**7) == 0.25
    for s in (60, 200, 1000):
        fork = main.replace(anneal_at=s)
        assert torch.equal(fork.table(s + 1)[:s], main.table(s))  # identical up to the fork
        assert fork(s) == 0.25 and fork(s + 20) == 0.0 and fork(s + 21) == 0.0


@FAST
@given(
    warm=st.integers(0, 30),
    cool=st.integers(0, 30),
    gap=st.integers(0, 30),
    anneal=st.integers(0, 30),
    shape=st.sampled_from(ANNEAL_SHAPES),
    constant=st.floats(0.01, 1),
    final_frac=st.floats(0.001, 1),
)
def test_infinite_warms_up_then_never_increases(
    warm, cool, gap, anneal, shape, constant, final_frac
):
    s = infinite(
        peak=1.0,
        warmup=warm,
        cooldown=cool,
        constant=constant,
        anneal_at=warm + cool + gap,
        anneal_steps=anneal,
        final=constant * final_frac,
        shape=shape,
    )
    values = s.table(warm + cool + gap + anneal + 10)
    # With cooldown=0 the value steps down to `constant` at step `warmup` itself.
    _assert_monotone(values[: warm + (cool > 0)], increasing=True, what="warmup")
    _assert_monotone(values[warm:], increasing=False, what="cooldown+constant+anneal")
    assert values[-1].item() == pytest.approx(constant * final_frac)


# --------------------------------------------------------------------------- rewarm


@pytest.mark.parametrize("shape", ["linear", "cosine", "1-sqrt"])
def test_rewarm_equals_join_of_simple_schedules(shape):
    base = cosine(peak=1.0, steps=80, warmup=5, final=0.1)
    s = rewarm(base=base, at=100, peak=0.6, warmup=10, decay_steps=40, final=0.02, shape=shape)
    reference = join(
        [
            base,
            warmup(peak=0.6, steps=10, init=0.1),
            wsd(peak=0.6, steps=40, decay=1.0, shape=shape, final=0.02),
        ],
        [100, 110],
    )
    torch.testing.assert_close(s.table(170), reference.table(170), rtol=1e-12, atol=1e-15)


@FAST
@given(
    at=st.integers(0, 60),
    warm=st.integers(0, 20),
    decay=st.integers(0, 40),
    shape=st.sampled_from(["linear", "cosine", "1-sqrt"]),
    peak=st.floats(0.5, 2),
)
def test_rewarm_follows_base_then_rises_then_falls(at, warm, decay, shape, peak):
    base = cosine(peak=0.5, steps=50, final=0.05)
    s = rewarm(base=base, at=at, peak=peak, warmup=warm, decay_steps=decay, shape=shape)
    values = s.table(at + warm + decay + 5)
    assert torch.equal(values[:at], base.table(at))
    if warm:
        assert values[at] == base(at)  # no jump at the re-warm
    # With decay_steps=0 the value steps down to `final` at step `at + warmup` itself.
    _assert_monotone(values[at : at + warm + (decay > 0)], increasing=True, what="re-warm")
    _assert_monotone(values[at + warm :], increasing=False, what="re-decay")


# --------------------------------------------------------------------------- tabulated


def test_tabulated_stores_floats_and_accepts_tensors():
    s = tabulated(values=torch.tensor([1, 2, 3]))
    assert s.values == (1.0, 2.0, 3.0) and all(type(v) is float for v in s.values)
    assert tabulated(values=(0.1, 0.2)) == tabulated(values=[0.1, 0.2])
    assert s.table(5).tolist() == [1.0, 2.0, 3.0, 3.0, 3.0]


def test_tabulated_reproduces_any_schedule_table():
    source = sgdr(peak=1.0, period=7, mult=2, warmup=3)
    s = tabulated(values=source.table(100).tolist())
    assert torch.equal(s.table(100), source.table(100))
    assert s(10**6) == source(99)


# --------------------------------------------------------------------------- refined


def _refined_reference(norms, *, peak, smooth, warmup_floor=0.0):
    """Algorithm 1 of Defazio et al. with plain loops: median filter, then the double sum."""
    n = len(norms)
    half = round(smooth * n / 2)
    padded = [norms[0]] * half + list(norms) + [norms[-1]] * half
    g = [statistics.median(padded[t : t + 2 * half + 1]) for t in range(n)]
    w = [sum(g[s] ** 2 for s in range(t + 1, n)) / g[t] ** 2 for t in range(n)]
    top = w.index(max(w))
    w = [max(v / w[top], warmup_floor) if t < top else v / w[top] for t, v in enumerate(w)]
    return [peak * v for v in w]


@FAST
@given(
    norms=st.lists(st.floats(0.01, 100), min_size=2, max_size=80),
    smooth=st.floats(0, 0.5),
    floor=st.floats(0, 1),
)
def test_refined_matches_loop_reference(norms, smooth, floor):
    got = refined(grad_norms=norms, peak=2.0, smooth=smooth, warmup_floor=floor)
    assert got.kind == "tabulated"
    expected = _refined_reference(norms, peak=2.0, smooth=smooth, warmup_floor=floor)
    assert list(got.values) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_refined_median_filter_ignores_spikes():
    # smooth=0.05 of 40 steps is a window of 3: a lone spike in it is not its median.
    norms = [1.0] * 40
    norms[10] = norms[25] = 1000.0
    assert refined(grad_norms=norms, peak=1.0, smooth=0.05).values == pytest.approx(
        linear(start=1.0, end=0.0, steps=39).table(40).tolist(), abs=1e-12
    )
    assert refined(grad_norms=norms, peak=1.0, smooth=0.0).values[10] < 1e-5  # unsmoothed


@FAST
@given(n=st.integers(2, 300), norm=st.floats(1e-3, 1e3), smooth=st.floats(0, 1))
def test_refined_constant_norms_give_linear_decay(n, norm, smooth):
    # The paper's point: without information about the norms the refinement is linear decay,
    # peak * (1 - t/(T-1)) on steps 0..T-1 (1 - t/T in the paper's 1-based steps).
    s = refined(grad_norms=[norm] * n, peak=0.3, smooth=smooth)
    expected = linear(start=0.3, end=0.0, steps=n - 1).table(n + 5)
    torch.testing.assert_close(s.table(n + 5), expected, rtol=1e-12, atol=1e-15)


def test_refined_is_scale_invariant_in_the_norms():
    norms = torch.rand(50, dtype=torch.float64) + 0.1
    a = refined(grad_norms=norms, peak=1.0, smooth=0.1)
    b = refined(grad_norms=norms * 37.0, peak=1.0, smooth=0.1)
    assert a.values == pytest.approx(b.values, rel=1e-12)


T = 1000
STEPS = torch.arange(T, dtype=torch.float64)
LINEAR = 1 - STEPS / (T - 1)


def test_refined_falling_norms_give_a_warmup():
    # Norms high at the start and settling (typical early in training): the refined schedule
    # starts low and rises to its maximum, a warmup nobody asked for.
    norms = 1 + 9 * torch.exp(-STEPS / 30)
    values = refined(grad_norms=norms, peak=1.0).table(T)
    top = int(values.argmax())
    assert 20 < top < 200
    assert values[0] < 0.1
    _assert_monotone(values[: top + 1], increasing=True, what="refined warmup")
    _assert_monotone(values[top:], increasing=False, what="refined decay")


def test_refined_rising_norms_give_a_fast_final_anneal():
    # Norms flat, then rising over the last 20% (typical late in training): the schedule stays
    # well above linear decay and then anneals much faster than it at the end.
    ramp = torch.clamp((STEPS - 0.8 * T) / (0.2 * T), min=0)
    values = refined(grad_norms=1 + 2 * ramp, peak=1.0).table(T)
    assert values.argmax() == 0
    _assert_monotone(values, increasing=False, what="refined")
    k = int(0.8 * T)
    assert values[k] > 2 * LINEAR[k]  # about 0.5 where linear decay is at 0.2
    assert (values[k] - values[-1]) / (T - 1 - k) > 2 * (1 / (T - 1))  # > 2x linear's slope
    assert (values[: k + 1] >= LINEAR[: k + 1]).all()


def test_refined_u_shaped_noisy_norms_give_both():
    # Norms high early, flat, rising late, with 10% log-normal noise on every step.
    clean = 1 + 9 * torch.exp(-STEPS / 30) + 2 * torch.clamp((STEPS - 0.8 * T) / (0.2 * T), 0)
    rng = torch.Generator().manual_seed(0)
    noisy = clean * torch.exp(0.1 * torch.randn(T, generator=rng, dtype=torch.float64))
    values = refined(grad_norms=noisy, peak=1.0).table(T)
    top = int(values.argmax())
    assert values[0] < 0.1 and 100 < top < 300  # warmup
    k = int(0.8 * T)
    assert values[k] > 2 * LINEAR[k] and values[-1] == 0.0  # late, fast anneal
    # The median filter is what makes noisy norms usable: w_t divides by the local norm
    # squared, so unsmoothed noise goes straight into the schedule.
    clean_values = refined(grad_norms=clean, peak=1.0).table(T)
    raw = refined(grad_norms=noisy, peak=1.0, smooth=0.0).table(T)
    assert (values - clean_values).abs().max() < 0.2
    assert (raw - clean_values).abs().max() > 0.5


def test_refined_warmup_floor_only_lifts_the_start():
    norms = 1 + 9 * torch.exp(-STEPS / 30)
    plain = refined(grad_norms=norms, peak=2.0).table(T)
    lifted = refined(grad_norms=norms, peak=2.0, warmup_floor=0.5).table(T)
    top = int(plain.argmax())
    assert torch.equal(lifted[top:], plain[top:])
    assert torch.equal(lifted[:top], plain[:top].clamp(min=1.0))
    assert lifted[0] == 1.0


# --------------------------------------------------------------------------- value semantics

ROUND_TRIP = EXAMPLES + [
    rewarm(base=sgdr(peak=1.0, period=5), at=3, peak=1.0, warmup=1, decay_steps=2),
    refined(grad_norms=[3.0, 2.0, 1.0, 1.5], peak=0.1),
]


@pytest.mark.parametrize("schedule", ROUND_TRIP, ids=[repr(s)[:80] for s in ROUND_TRIP])
def test_dict_round_trip_through_json(schedule):
    d = schedule.to_dict()
    back = from_dict(json.loads(json.dumps(d)))
    assert back == schedule and hash(back) == hash(schedule)
    assert back.to_dict() == d
    assert torch.equal(back.table(40), schedule.table(40))


@pytest.mark.parametrize("schedule", ROUND_TRIP, ids=[repr(s)[:80] for s in ROUND_TRIP])
def test_pickle_copy_repr_and_signature(schedule):
    assert pickle.loads(pickle.dumps(schedule)) == schedule
    assert copy.deepcopy(schedule) == schedule
    assert eval(repr(schedule), dict(vars(sch))) == schedule
    assert schedule.fields == tuple(inspect.signature(getattr(sch, schedule.kind)).parameters)
    assert schedule.replace() == schedule


def test_rewarm_stores_base_as_schedule():
    s = rewarm(base=0.25, at=3, peak=1.0, warmup=1, decay_steps=1)
    assert s.base == sch.constant(value=0.25)
    assert s.to_dict()["base"] == {"kind": "constant", "value": 0.25}


def test_replace_revalidates():
    inf = infinite(peak=1.0, warmup=10, cooldown=20, constant=0.2)
    assert inf.replace(anneal_at=30, anneal_steps=5)(35) == 0.0
    with pytest.raises(ValueError, match=r"infinite: anneal_at=29 must be None or >= .* 30"):
        inf.replace(anneal_at=29)
    with pytest.raises(ValueError, match=r"infinite: shape='exponential' needs .* final=0.0"):
        inf.replace(shape="exponential")
    with pytest.raises(ValueError, match=r"infinite: cannot replace steps; allowed: peak, warmup"):
        inf.replace(steps=10)
    with pytest.raises(ValueError, match=r"sgdr: mult=0 must be an integer >= 1"):
        sgdr(peak=1.0, period=3).replace(mult=0)
    r = rewarm(base=0.1, at=5, peak=1.0, warmup=2, decay_steps=3)
    with pytest.raises(ValueError, match=r"rewarm: shape='exponential' must be one of"):
        r.replace(shape="exponential")
    assert r.replace(at=7)(7) == 0.1
    with pytest.raises(ValueError, match=r"tabulated: values is empty"):
        tabulated(values=[1.0]).replace(values=[])


INVALID = [
    (lambda: wsd_s(peak=1.0, steps=10, checkpoints=11), r"wsd_s: checkpoints=11 must be <= "),
    (lambda: wsd_s(peak=1.0, steps=10, checkpoints=0), r"wsd_s: checkpoints=0 must be an integ"),
    (lambda: wsd_s(peak=1.0, steps=30, decay=1.2), r"wsd_s: decay=1.2 must be in \[0, 1\]"),
    (lambda: wsd_s(peak=1.0, steps=30, shape="step"), r"wsd_s: shape='step' must be one of"),
    (
        lambda: wsd_s(peak=1.0, steps=30, checkpoints=3, warmup=9, decay=0.2),
        r"wsd_s: warmup=9 plus the first decay .* must fit in the first segment \(10 steps\)",
    ),
    (lambda: sgdr(peak=-1.0, period=3), r"sgdr: peak=-1.0 must be >= 0"),
    (lambda: sgdr(peak=1.0, period=0), r"sgdr: period=0 must be an integer >= 1"),
    (lambda: sgdr(peak=1.0, period=3, mult=1.5), r"sgdr: mult=1.5 must be an integer >= 1"),
    (lambda: sgdr(peak=1.0, period=3, final=math.nan), r"sgdr: final=nan must be finite"),
    (lambda: sgdr(peak=1.0, period=3, warmup=-1), r"sgdr: warmup=-1 must be an integer >= 0"),
    (lambda: sgdr(peak=1.0, period=3, decay_peak=1.5), r"sgdr: decay_peak=1.5 must be in \[0, 1\]"),
    (
        lambda: infinite(peak=1.0, warmup=-1, cooldown=3, constant=0.1),
        r"infinite: warmup=-1 must be an integer >= 0",
    ),
    (
        lambda: infinite(peak=1.0, warmup=1, cooldown=2.5, constant=0.1),
        r"infinite: cooldown=2.5 must be an integer",
    ),
    (
        lambda: infinite(peak=1.0, warmup=1, cooldown=3, constant=-0.1),
        r"infinite: constant=-0.1 must be >= 0",
    ),
    (
        lambda: infinite(peak=1.0, warmup=2, cooldown=3, constant=0.1, anneal_at=4),
        r"infinite: anneal_at=4 must be None or >= warmup \+ cooldown = 5",
    ),
    (
        lambda: infinite(peak=1.0, warmup=2, cooldown=3, constant=0.1, anneal_steps=-2),
        r"infinite: anneal_steps=-2 must be an integer >= 0",
    ),
    (
        lambda: infinite(peak=1.0, warmup=2, cooldown=3, constant=0.1, shape="step"),
        r"infinite: shape='step' must be one of 'linear', 'cosine', '1-sqrt', 'exponential'",
    ),
    (
        lambda: infinite(
            peak=1.0, warmup=2, cooldown=3, constant=0.0, final=0.1, shape="exponential"
        ),
        r"infinite: shape='exponential' needs constant > 0 and final > 0",
    ),
    (
        lambda: infinite(peak=math.inf, warmup=2, cooldown=3, constant=0.1),
        r"infinite: peak=inf must be finite",
    ),
    (
        lambda: rewarm(base=0.1, at=-1, peak=1.0, warmup=2, decay_steps=3),
        r"rewarm: at=-1 must be an integer >= 0",
    ),
    (
        lambda: rewarm(base=0.1, at=1, peak=-1.0, warmup=2, decay_steps=3),
        r"rewarm: peak=-1.0 must be >= 0",
    ),
    (
        lambda: rewarm(base=0.1, at=1, peak=1.0, warmup=2, decay_steps=-3),
        r"rewarm: decay_steps=-3 must be an integer >= 0",
    ),
    (
        lambda: rewarm(base=0.1, at=1, peak=1.0, warmup=2, decay_steps=3, final=-0.1),
        r"rewarm: final=-0.1 must be >= 0",
    ),
    (
        lambda: rewarm(base=0.1, at=1, peak=1.0, warmup=2, decay_steps=3, shape="cos"),
        r"rewarm: shape='cos' must be one of 'linear', 'cosine', '1-sqrt'",
    ),
    (
        lambda: rewarm(base=math.nan, at=1, peak=1.0, warmup=2, decay_steps=3),
        r"constant: value=nan must be finite",
    ),
    (lambda: tabulated(values=[]), r"tabulated: values is empty"),
    (lambda: tabulated(values=[1.0, math.inf]), r"tabulated: values\[1\]=inf must be finite"),
    (lambda: refined(grad_norms=[1.0], peak=1.0), r"refined: grad_norms has 1 entries"),
    (lambda: refined(grad_norms=[1.0, 0.0], peak=1.0), r"refined: grad_norms\[1\]=0.0 must be > 0"),
    (lambda: refined(grad_norms=[1.0, -2.0], peak=1.0), r"refined: grad_norms\[1\]=-2.0 must"),
    (lambda: refined(grad_norms=[1.0, math.nan], peak=1.0), r"refined: grad_norms\[1\]=nan must"),
    (lambda: refined(grad_norms=[1.0, 2.0], peak=-1.0), r"refined: peak=-1.0 must be >= 0"),
    (
        lambda: refined(grad_norms=[1.0, 2.0], peak=1.0, smooth=2.0),
        r"refined: smooth=2.0 must be in \[0, 1\]",
    ),
    (
        lambda: refined(grad_norms=[1.0, 2.0], peak=1.0, warmup_floor=-0.5),
        r"refined: warmup_floor=-0.5 must be in \[0, 1\]",
    ),
]


@pytest.mark.parametrize(("build", "match"), INVALID, ids=[m for _, m in INVALID])
def test_invalid_arguments_raise_value_error(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    "build",
    [
        lambda: sgdr(peak="1", period=3),
        lambda: infinite(peak=1.0, warmup=True, cooldown=3, constant=0.1),
        lambda: rewarm(base="0.1", at=1, peak=1.0, warmup=2, decay_steps=3),
        lambda: tabulated(values=3.0),
        lambda: refined(grad_norms="123", peak=1.0),
    ],
)
def test_wrong_types_raise_type_error(build):
    with pytest.raises(TypeError, match=r"^(sgdr|infinite|rewarm|tabulated|refined): "):
        build()
