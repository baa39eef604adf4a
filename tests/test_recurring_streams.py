"""Recurring-task streams: uniform draws from a fixed pool (SCoLe) and power-law revisits."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import workbench as wb
from workbench.data import data_spec
from workbench.recurring import _DRAW_KEY, _draws
from workbench.stream_builders import _classes_name
from workbench.streams import TaskStream

BUILDERS = [wb.recurring, wb.power_law]


def _letters(s: TaskStream) -> list[str]:
    """The pool letter of each task: ``"A·2 (classes 0,3)"`` -> ``"A"``."""
    return [n.split(" ")[0].split("·")[0] for n in s.names]


@pytest.mark.parametrize("build", BUILDERS)
def test_streams_are_seeded_and_shaped(build):
    s = build("digits", pool=4, tasks=12, task_steps=30, seed=3)
    assert s == build("digits", pool=4, tasks=12, task_steps=30, seed=3)
    assert hash(s) == hash(build("digits", pool=4, tasks=12, task_steps=30, seed=3))
    assert s != build("digits", pool=4, tasks=12, task_steps=30, seed=4)
    assert len(s) == 12 and s.starts == tuple(k * 30 for k in range(12))
    assert TaskStream.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    # at most 4 distinct tasks, each a 2-class subset of digits (seed and size unchanged)
    assert len(set(s.tasks)) <= 4 and len(set(s.tasks)) < len(s)
    for t in s.tasks:
        assert t.replace(subset=()) == data_spec("digits") and len(t.subset) == 2
    # a longer stream extends a shorter one: same pool, same first draws
    longer = build("digits", pool=4, tasks=20, task_steps=30, seed=3)
    assert longer.tasks[:12] == s.tasks and longer.names[:12] == s.names


@pytest.mark.parametrize("build", BUILDERS)
def test_repeats_are_the_same_spec_and_names_say_which_visit(build):
    s = build("digits", pool=3, classes_per_task=3, tasks=15, task_steps=10, seed=0)
    assert len(set(s.names)) == len(s)  # TaskStream requires it; checked here as the contract
    letters = _letters(s)
    visits: dict[str, int] = {}
    for letter, name, task in zip(letters, s.names, s.tasks, strict=True):
        visits[letter] = visits.get(letter, 0) + 1
        label = letter if visits[letter] == 1 else f"{letter}·{visits[letter]}"
        assert name == f"{label} ({_classes_name(task.subset)})", name
    # same letter <=> same spec, and different letters are different class subsets
    by_letter = {}
    for letter, task in zip(letters, s.tasks, strict=True):
        assert by_letter.setdefault(letter, task) == task
    assert len(set(by_letter.values())) == len(by_letter)
    assert max(visits.values()) > 1  # 15 draws from 3 tasks must repeat one


def test_both_builders_share_the_pool_and_exponent_zero_is_recurring():
    kw = {"pool": 6, "tasks": 25, "task_steps": 5, "seed": 2}
    assert wb.power_law(exponent=0, **kw) == wb.recurring(**kw)
    pool_r = dict(zip(_letters(wb.recurring(**kw)), wb.recurring(**kw).tasks, strict=True))
    s = wb.power_law(exponent=2.0, **kw)
    for letter, task in zip(_letters(s), s.tasks, strict=True):
        assert pool_r.get(letter, task) == task
    g = wb.recurring(data_spec("gaussian", classes=6, seed=1), pool=2, classes_per_task=3, tasks=3)
    assert all(t.replace(subset=()) == data_spec("gaussian", classes=6, seed=1) for t in g.tasks)


def test_builders_draw_as_the_helper_does():
    s = wb.power_law(pool=5, tasks=40, task_steps=1, exponent=1.5, seed=7)
    # letters are pool indices: A = 0, B = 1, ...
    assert [ord(c) - ord("A") for c in _letters(s)] == _draws(5, 40, 1.5, seed=7)


def _draws_reference(pool: int, tasks: int, exponent: float, seed: int) -> list[int]:
    """Slow twin: the stated probabilities p_i = (1 + a_i)^-exponent / sum, a_i the draws since
    task i was last drawn (n + 1 if never), sampled with the same uniform number per draw."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, _DRAW_KEY]))
    history: list[int] = []
    for n in range(tasks):
        ages = []
        for i in range(pool):
            seen = [m for m, j in enumerate(history) if j == i]
            ages.append(n - seen[-1] if seen else n + 1)
        w = [(1 + a) ** -exponent for a in ages]
        p = [x / sum(w) for x in w]
        u, acc = rng.random(), 0.0
        pick = pool - 1
        for i, pi in enumerate(p):
            acc += pi
            if u < acc:
                pick = i
                break
        history.append(pick)
    return history


@pytest.mark.parametrize("exponent", [0.0, 0.7, 1.5, 4.0])
def test_draws_match_the_slow_reference(exponent):
    for seed in range(20):
        assert _draws(4, 25, exponent, seed) == _draws_reference(4, 25, exponent, seed)


def test_second_draw_repeats_the_first_with_the_power_law_probability():
    # At draw 1 the task just drawn has age 1, the 4 others (never seen) age 2, so
    # P(repeat) = 2^-a / (2^-a + 4 * 3^-a). Over 4000 seeds the frequency's standard error is
    # <= 0.008; the tolerance asked for is 0.03 (about 4 standard errors).
    for a in (0.0, 1.0, 3.0):
        p = 2**-a / (2**-a + 4 * 3**-a)
        freq = np.mean([d[0] == d[1] for d in (_draws(5, 2, a, s) for s in range(4000))])
        assert abs(freq - p) < 0.03, (a, freq, p)


def test_exponent_zero_is_uniform_and_a_large_exponent_revisits_recent_tasks():
    # 2000 draws from a pool of 5. Uniform: each count is Binomial(2000, 0.2), 400 +- 17.9; the
    # tolerance is +-72 (4 sd). The chance the next task repeats the last is 0.2 (sd of the
    # frequency over 1999 pairs about 0.009; tolerance 0.04).
    uniform = np.array(_draws(5, 2000, 0.0, seed=0))
    counts = np.bincount(uniform, minlength=5)
    assert np.all(np.abs(counts - 400) < 72), counts
    repeat_u = np.mean(uniform[1:] == uniform[:-1])
    assert abs(repeat_u - 0.2) < 0.04, repeat_u
    # exponent 3: the task just trained has weight 2^-3 against at most 3^-3 for any other, so
    # it recurs far more often than uniform: asked for > 2.5x the uniform rate (measured ~1.0)
    recent = np.array(_draws(5, 2000, 3.0, seed=0))
    assert np.mean(recent[1:] == recent[:-1]) > 2.5 * 0.2

    # and over a short stream (before it settles on one task), revisits come sooner than
    # uniform: mean gap between visits of the same task, over 500 seeds of 12 draws
    def mean_gap(a: float) -> float:
        gaps = []
        for s in range(500):
            last: dict[int, int] = {}
            for n, i in enumerate(_draws(5, 12, a, s)):
                if i in last:
                    gaps.append(n - last[i])
                last[i] = n
        return float(np.mean(gaps))

    assert mean_gap(3.0) < 0.6 * mean_gap(0.0), (mean_gap(3.0), mean_gap(0.0))


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda: wb.recurring(pool=0), r"recurring: pool=0 must be an integer >= 1"),
        (lambda: wb.recurring(pool=46), r"recurring: pool=46 must be at most 45, the distinct"),
        (lambda: wb.power_law(pool=11, classes_per_task=1), r"power_law: pool=11 .* most 10"),
        (lambda: wb.recurring(classes_per_task=0), r"classes_per_task=0 must be an integer >= 1"),
        (lambda: wb.recurring(classes_per_task=11), r"classes_per_task=11 must be in \[1, 10\]"),
        (lambda: wb.recurring(tasks=0), r"recurring: tasks=0 must be an integer >= 1"),
        (lambda: wb.recurring(tasks=2.5), r"recurring: tasks=2.5 must be an integer"),
        (lambda: wb.power_law(task_steps=0), r"power_law: task_steps=0 must be an integer >= 1"),
        (lambda: wb.recurring(seed=-1), r"recurring: seed=-1 must be an integer >= 0"),
        (lambda: wb.recurring(pool=True), r"recurring: pool=True must be an integer"),
        (lambda: wb.power_law(exponent=-1), r"power_law: exponent=-1 must be a finite number"),
        (lambda: wb.power_law(exponent=math.inf), r"exponent=inf must be a finite number >= 0"),
        (lambda: wb.power_law(exponent=math.nan), r"exponent=nan must be a finite number >= 0"),
        (lambda: wb.power_law(exponent="1"), r"power_law: exponent='1' must be a finite"),
        (lambda: wb.recurring(data=3), r"recurring: data=3 must be a DataSpec or a dataset"),
        (lambda: wb.recurring("markov"), r"markov: subset=.* is a view of"),
        (
            lambda: wb.power_law(data_spec("digits", subset=[0, 1])),
            r"power_law: data has subset=\(0, 1\); the builder sets subset itself",
        ),
    ],
)
def test_bad_input_is_named(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


@pytest.mark.parametrize("build", BUILDERS)
def test_a_tiny_run_trains_on_each(build):
    s = build("digits", pool=3, tasks=4, task_steps=20, seed=0)
    spec = wb.RunSpec(
        data=s,
        model=wb.MLP(hidden=(16,)),
        optimizer=wb.SGD(lr=0.1),
        steps=80,
        batch_size=32,
        eval_every=20,
    )
    spec.validate()
    ds = wb.run([spec])
    assert list(ds.task.values) == list(s.names)
    acc = ds.task_acc.isel(run=0).values  # (eval_step, task)
    assert np.all(np.isfinite(acc))
    # visits of one pool task are one test set: identical columns
    letters = _letters(s)
    for j, letter in enumerate(letters):
        first = letters.index(letter)
        np.testing.assert_array_equal(acc[:, j], acc[:, first])
    assert float(ds.eval_acc.isel(run=0)[-1]) > 0.5  # the task being trained is learned
