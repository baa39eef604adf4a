"""Stability gap, forgetting curves and their fits: hand-built results, synthetic curves, a run."""

import numpy as np
import pytest
import xarray as xr

import workbench as wb
from workbench.continual import accuracy_matrix
from workbench.forgetting import (
    bootstrap_half_life,
    fit_curves,
    fit_forgetting,
    forgetting_curves,
    stability_gap,
)

N = np.nan
STEPS = [0, 5, 10, 12, 14, 16, 20, 22, 24, 30]
# run 0: tasks a, b, c starting at 0, 10, 20, ending at 30
RUN0 = [
    [0.1, 0.0, 0.0],
    [0.6, 0.0, 0.0],
    [0.9, 0.0, 0.0],  # 10: end of a, switch 1
    [0.5, 0.3, 0.0],
    [0.3, 0.5, 0.0],  # a's minimum after switch 1
    [0.62, 0.7, 0.0],  # a back above 0.3 + 0.6 / 2
    [0.7, 0.8, 0.0],  # 20: end of b, switch 2
    [0.4, 0.75, 0.5],  # a's minimum after switch 2
    [0.65, 0.7, 0.8],  # a back above 0.4 + 0.3 / 2; b's minimum
    [0.66, 0.72, 0.9],  # 30: the end; b never back to 0.75
]
# run 1: tasks a, b (c is padding) starting at 0, 20; evaluated at 0, 10, 20, 30 only
RUN1 = [
    [0.1, 0.0, N],
    [N, N, N],
    [0.5, 0.0, N],
    [N, N, N],
    [N, N, N],
    [N, N, N],
    [0.8, 0.0, N],  # 20: end of a, switch 1
    [N, N, N],
    [N, N, N],
    [0.85, 0.6, N],  # 30: a only improved (depth < 0)
]


def _results():
    """A results Dataset shaped like ``wb.run``'s (class-incremental) for the runs above."""
    index = [[0] * 10 + [1] * 10 + [2] * 10, [0] * 20 + [1] * 10]
    return xr.Dataset(
        {
            "task_acc": (("run", "eval_step", "task"), np.array([RUN0, RUN1], dtype=np.float32)),
            "task_index": (("run", "step"), np.array(index)),
        },
        coords={
            "run": [0, 1],
            "eval_step": STEPS,
            "task": ["a", "b", "c"],
            "seed": ("run", [0, 1]),
            "label": ("run", ["seed=0", "seed=1"]),
            "group": ("run", ["all runs", "all runs"]),
            "task_start": (("run", "task"), [[0, 10, 20], [0, 20, -1]]),
        },
    )


# A recurring stream A, B, B·2, A·2 starting at 0, 10, 20, 30, ending at 40: visits of one task
# share a test set, so their columns are equal.
A = [0.1, 0.5, 0.9, 0.4, 0.3, 0.2, 0.26, 0.6, 0.95]  # 10: end of A; 30: A·2 starts
B = [0.0, 0.0, 0.0, 0.5, 0.8, 0.85, 0.9, 0.5, 0.45]  # 30: end of B·2


def _recurring(loss=None):
    acc = np.array([A, B, B, A], dtype=np.float32).T[None]  # (run, eval_step, task)
    ds = xr.Dataset(
        {"task_acc": (("run", "eval_step", "task"), acc)},
        coords={
            "eval_step": np.arange(0, 45, 5),
            "task": ["A", "B", "B·2", "A·2"],
            "task_start": (("run", "task"), [[0, 10, 20, 30]]),
        },
    )
    if loss is not None:
        ds["task_loss"] = (("run", "eval_step", "task"), np.array(loss, dtype=np.float32))
    return ds


def _close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), expected, atol=1e-6)


# -- the stability gap ---------------------------------------------------------------------------


def test_stability_gap_by_hand():
    g = stability_gap(_results())
    assert g.depth.dims == ("run", "switch", "task")
    assert g.switch.values.tolist() == [1, 2]
    assert g.switch_task.values.tolist() == ["b", "c"]
    assert g.switch_step.values.tolist() == [[10, 20], [20, -1]]
    # run 0, switch 1, task a: 0.9 -> 0.3 at 14, back to >= 0.6 at 16, 0.7 at the segment's end
    r0 = g.isel(run=0)
    _close(r0.before[0], [0.9, N, N])
    _close(r0.minimum[0], [0.3, N, N])
    _close(r0.depth[0], [0.6, N, N])
    _close(r0.min_step[0], [4, N, N])
    _close(r0.recovery_time[0], [2, N, N])
    _close(r0.recovered[0], [(0.7 - 0.3) / 0.6, N, N])
    # switch 2: a drops 0.7 -> 0.4 at 22 and is back at 24; b drops 0.8 -> 0.7 at 24, never back
    _close(r0.depth[1], [0.3, 0.1, N])
    _close(r0.min_step[1], [2, 4, N])
    _close(r0.recovery_time[1], [2, N, N])
    _close(r0.recovered[1], [(0.66 - 0.4) / 0.3, (0.72 - 0.7) / 0.1, N])
    _close(r0.end[1], [0.66, 0.72, N])
    # run 1 (evaluated at 0, 10, 20, 30; no task c): a only improved after its switch
    r1 = g.isel(run=1)
    _close(r1.depth[0], [-0.05, N, N])
    _close(r1.min_step[0], [10, N, N])
    assert np.isnan(r1.recovered[0, 0]) and np.isnan(r1.recovery_time[0, 0])
    assert np.isnan(r1.depth[1]).all()  # run 1 has no switch 2
    assert g.seed.values.tolist() == [0, 1] and g.task_start.dims == ("run", "task")


def test_stability_gap_selects_switches_and_rejects_others():
    ds = _results()
    one = stability_gap(ds, switch=2)
    assert one.depth.dims == ("run", "task") and int(one.switch) == 2
    _close(one.depth[0], [0.3, 0.1, N])
    assert stability_gap(ds, switch=[1]).depth.dims == ("run", "switch", "task")
    for bad in (0, 3, True):
        with pytest.raises(ValueError, match=r"switch=.* must be in \[1, 2\]"):
            stability_gap(ds, switch=bad)
    with pytest.raises(ValueError, match="no task_acc/task_start"):
        stability_gap(xr.Dataset())


def test_a_coarser_evaluation_grid_sees_a_shallower_gap():
    ds = _results()
    coarse = ds.drop_sel(eval_step=[12, 14])  # the bottom of a's first gap is no longer seen
    fine, rough = stability_gap(ds, switch=1), stability_gap(coarse, switch=1)
    _close(rough.depth[0, 0], 0.9 - 0.62)
    assert rough.depth[0, 0] < fine.depth[0, 0]
    _close(rough.min_step[0, 0], 6)


def test_stability_gap_counts_each_recurring_task_once_at_its_latest_visit():
    g = stability_gap(_recurring()).isel(run=0)
    # switch 1 (B starts at 10): A drops 0.9 -> 0.3 at 20 and never recovers within the segment
    _close(g.depth[0], [0.6, N, N, N])
    _close(g.min_step[0], [10, N, N, N])
    # switch 2 (B·2): A counts; B is the task being trained again
    _close(g.depth[1], [0.1, N, N, N])
    _close(g.recovered[1], [0.6, N, N, N])  # (0.26 - 0.2) / 0.1
    _close(g.recovery_time[1], [5, N, N, N])
    # switch 3 (A·2): only B·2, the latest visit of B, counts; A is being trained again
    _close(g.depth[2], [N, N, 0.45, N])
    _close(g.recovered[2], [N, N, 0.0, N])


# -- forgetting curves ---------------------------------------------------------------------------


def test_forgetting_curves_by_hand():
    c = forgetting_curves(_results())
    assert c.dims == ("run", "task", "since")
    assert c.since.values.tolist() == [0, 2, 4, 6, 10, 12, 14, 20]
    _close(c.task_end.values, [[10, 20, 30], [20, 30, -1]])
    r0 = c.isel(run=0).values
    _close(r0[0], [0.9, 0.5, 0.3, 0.62, 0.7, 0.4, 0.65, 0.66])  # a, from its end to the run's
    _close(r0[1], [0.8, 0.75, 0.7, N, 0.72, N, N, N])
    _close(r0[2], [0.9, N, N, N, N, N, N, N])  # the last task: only its end
    r1 = c.isel(run=1).values
    _close(r1[0], [0.8, N, N, N, 0.85, N, N, N])
    _close(r1[1], [0.6] + [N] * 7)
    assert np.isnan(r1[2]).all()  # padding
    # since 0 is the accuracy matrix's diagonal
    R = accuracy_matrix(_results())
    diag = np.diagonal(R.values, axis1=1, axis2=2)
    _close(c.sel(since=0).values, diag)


def test_forgetting_curves_of_a_recurring_task_are_one_per_gap():
    c = forgetting_curves(_recurring()).isel(run=0)
    assert c.same_as.values.tolist() == [0, 1, 1, 0]
    assert c.visit.values.tolist() == [1, 1, 2, 2]
    assert c.task_end.values.tolist() == [10, -1, 30, 40]
    assert c.since.values.tolist() == [0, 5, 10, 15, 20]
    _close(c.values[0], [0.9, 0.4, 0.3, 0.2, 0.26])  # A: from 10 until A·2 starts at 30
    assert np.isnan(c.values[1]).all()  # B is trained again at once (B·2): no gap
    _close(c.values[2], [0.9, 0.5, 0.45, N, N])  # B·2: from 30 to the end
    _close(c.values[3], [0.95, N, N, N, N])  # A·2: its end is the run's


def test_visits_are_counted_and_each_gap_ends_at_the_next_visit():
    acc = np.array([A, B, A, B, A], dtype=np.float32).T[None]  # A, B, A·2, B·2, A·3
    ds = xr.Dataset(
        {"task_acc": (("run", "eval_step", "task"), acc)},
        coords={
            "eval_step": np.arange(0, 45, 5),
            "task": ["A", "B", "A·2", "B·2", "A·3"],
            "task_start": (("run", "task"), [[0, 10, 20, 25, 30]]),
        },
    )
    c = forgetting_curves(ds).isel(run=0)
    assert c.visit.values.tolist() == [1, 1, 2, 2, 3]
    assert c.same_as.values.tolist() == [0, 1, 0, 1, 0]
    assert c.task_end.values.tolist() == [10, 20, 25, 30, 40]
    _close(
        c.values[:, :3],
        [[0.9, 0.4, 0.3], [0.8, 0.85, N], [0.2, 0.26, N], [0.9, 0.5, 0.45], [0.95, N, N]],
    )


def test_equal_accuracies_with_different_losses_are_different_tasks():
    loss = np.ones((1, 9, 4))
    loss[0, :, 3] = 2.0  # A·2 is another task after all
    c = forgetting_curves(_recurring(loss)).isel(run=0)
    assert c.same_as.values.tolist() == [0, 1, 1, 3]
    _close(c.values[0], [0.9, 0.4, 0.3, 0.2, 0.26, 0.6, 0.95])  # A: until the end now
    g = stability_gap(_recurring(loss)).isel(run=0)
    _close(g.depth[2], [0.26 - 0.6, N, 0.45, N])  # switch 3: A counts, and only improves


# -- fits ----------------------------------------------------------------------------------------

T_EXP = np.arange(0, 400, 10.0)
T_POW = np.arange(0, 1010, 10.0)


def _exp(t, R0, Rinf, tau):
    return Rinf + (R0 - Rinf) * np.exp(-t / tau)


def _pow(t, R0, Rinf, tau, c):
    return Rinf + (R0 - Rinf) * (1 + t / tau) ** -c


def test_fit_recovers_an_exponential_and_aic_picks_it():
    """Seed 0 of the noise; the power law nests the exponential (c, tau -> inf), so on other
    seeds its one extra parameter can win by AIC by chance (1 of seeds 0-4 here)."""
    noise = np.random.default_rng(0).normal(0, 0.005, T_EXP.size)
    f = fit_forgetting(T_EXP, _exp(T_EXP, 0.9, 0.3, 50.0) + noise).sel(model="exp")
    assert str(f.best.values) == "exp" and str(f.reason.values) == ""
    np.testing.assert_allclose([f.R0, f.R_inf, f.tau], [0.9, 0.3, 50.0], rtol=0.03)
    assert np.isnan(f.c) and f.r2 > 0.99 and int(f.n_points) == T_EXP.size
    assert not f.at_bound
    # down to 0.45: 50 ln((0.9 - 0.3) / (0.45 - 0.3)) = 50 ln 4; the excess halves in 50 ln 2
    np.testing.assert_allclose(float(f.best_half_life), 50 * np.log(4), rtol=0.03)
    np.testing.assert_allclose(float(f.best_time_scale), 50 * np.log(2), rtol=0.03)
    assert f.attrs["bounds"] == "[0, 1]"


def test_fit_recovers_a_power_law_and_aic_picks_it():
    noise = np.random.default_rng(0).normal(0, 0.005, T_POW.size)
    f = fit_forgetting(T_POW, _pow(T_POW, 0.9, 0.3, 20.0, 1.0) + noise)
    assert str(f.best.values) == "power"
    p = f.sel(model="power")
    np.testing.assert_allclose([p.R0, p.R_inf], [0.9, 0.3], atol=0.02)
    np.testing.assert_allclose([p.tau, p.c], [20.0, 1.0], rtol=0.15)
    # tau ((0.6 / 0.15) ** (1 / c) - 1) = 60 and tau (2 ** (1 / c) - 1) = 20
    np.testing.assert_allclose(float(f.best_half_life), 60.0, rtol=0.1)
    np.testing.assert_allclose(float(f.best_time_scale), 20.0, rtol=0.1)
    assert f.aic.sel(model="power") < f.aic.sel(model="exp") - 10


@pytest.mark.parametrize(
    "model, y",
    [("exp", _exp(T_EXP, 0.8, 0.1, 40.0)), ("power", _pow(T_POW[:60], 0.9, 0.2, 15.0, 0.6))],
)
def test_half_life_and_time_scale_are_where_the_fit_says(model, y):
    t = T_EXP if model == "exp" else T_POW[:60]
    f = fit_forgetting(t, y).sel(model=model)
    R0, Rinf, tau, c, h, s = (
        float(f[v]) for v in ("R0", "R_inf", "tau", "c", "half_life", "time_scale")
    )
    curve = (
        (lambda x: _exp(x, R0, Rinf, tau))
        if model == "exp"
        else (lambda x: _pow(x, R0, Rinf, tau, c))
    )
    np.testing.assert_allclose(curve(h), R0 / 2, rtol=1e-9)  # half the value at t = 0
    np.testing.assert_allclose(curve(s), (R0 + Rinf) / 2, rtol=1e-9)  # the excess halved
    ratio = (R0 - Rinf) / (R0 / 2 - Rinf)
    if model == "exp":
        np.testing.assert_allclose([h, s], [tau * np.log(ratio), tau * np.log(2)], rtol=1e-12)
        # noiseless: exact, and by hand 40 ln(0.7 / 0.3) and 40 ln 2
        np.testing.assert_allclose([R0, Rinf, tau], [0.8, 0.1, 40.0], rtol=1e-4)
        np.testing.assert_allclose([h, s], [33.8919, 27.7259], rtol=1e-4)
    else:
        expected = [tau * (ratio ** (1 / c) - 1), tau * (2 ** (1 / c) - 1)]
        np.testing.assert_allclose([h, s], expected, rtol=1e-12)
        # by hand from the truth: 15 ((0.7 / 0.25) ** (1 / 0.6) - 1), 15 (2 ** (1 / 0.6) - 1)
        np.testing.assert_allclose([h, s], [68.4362, 32.6220], rtol=1e-3)
    assert h > s  # with R_inf >= 0, half of R0 is at least halfway to R_inf


@pytest.mark.parametrize("model", ["exp", "power"])
def test_a_curve_that_keeps_more_than_half_never_halves(model):
    y = _exp(T_EXP, 0.9, 0.5, 30.0) if model == "exp" else _pow(T_EXP, 0.9, 0.5, 10.0, 1.0)
    f = fit_forgetting(T_EXP, y)
    g = f.sel(model=model)
    assert str(f.best.values) == model and str(g.reason.values) == ""
    assert float(g.R_inf) == pytest.approx(0.5, abs=1e-3) and g.r2 > 0.999
    assert np.isposinf(g.half_life) and np.isposinf(f.best_half_life)
    assert 0 < float(f.best_time_scale) < T_EXP.max()
    # exactly at R0 / 2 is never below it: inf too
    exact = fit_forgetting(T_EXP, _exp(T_EXP, 0.8, 0.4, 30.0)).sel(model="exp")
    assert float(exact.R_inf) == pytest.approx(0.4, abs=1e-6)


def test_a_straight_line_decay_is_fitted_within_the_bounds():
    """The bug: a curve decaying linearly over the data was fitted with R_inf = -13.9 and tau at
    its upper bound, a half-life of 10^4 steps (exp) or 10^16 (power)."""
    y = np.linspace(0.9, 0.5, T_EXP.size)  # 0.9 -> 0.5 over 0..390: 0.45 at t = 439
    f = fit_forgetting(T_EXP, y)
    for model in ("exp", "power"):
        g = f.sel(model=model)
        assert str(g.reason.values) == ""
        assert 0 <= float(g.R_inf) <= float(g.R0) <= 1
        assert float(g.R_inf) == 0.0  # it does not stop within the data: down to the floor
        assert 400 < float(g.half_life) < 600, model  # the line's own 439, give or take
        assert float(g.time_scale) <= float(g.half_life)
        assert g.r2 > 0.99
    assert 400 < float(f.best_half_life) < 600
    # unbounded (as for a loss), the same data give the nonsense the bounds prevent
    free = fit_forgetting(T_EXP, y, bounds=None)
    assert free.attrs["bounds"] == "[-inf, inf]"
    assert float(free.R_inf.sel(model="exp")) < -1 and free.at_bound.sel(model="exp")


def test_flat_curves_have_no_half_life():
    exact = fit_forgetting(T_EXP, np.full(T_EXP.size, 0.9))
    assert (exact.reason == "flat curve: nothing to fit").all()
    assert np.isnan(exact.half_life).all() and np.isnan(exact.best_half_life)
    noise = np.random.default_rng(0).normal(0, 0.005, T_EXP.size)
    for y in (0.9 + noise, np.linspace(0.9, 0.88, T_EXP.size) + noise):  # flat; a slight drift
        f = fit_forgetting(T_EXP, y)
        assert (f.reason == "").all()
        assert np.isposinf(f.half_life).all() and np.isposinf(f.best_half_life)
        assert (f.R_inf >= f.R0 / 2).all() and (f.R_inf <= 1).all()


def test_a_rising_curve_never_halves_and_stays_within_the_bounds():
    f = fit_forgetting(T_EXP, _exp(T_EXP, 0.5, 0.95, 60.0))  # recovers towards 0.95
    np.testing.assert_allclose(f.R_inf, 0.95, atol=1e-3)
    assert np.isposinf(f.half_life).all() and np.isfinite(f.time_scale).all()
    up = fit_forgetting(T_EXP, np.linspace(0.5, 0.99, T_EXP.size))  # would overshoot 1
    assert (up.R_inf == 1.0).all() and (up.R0 >= 0).all() and np.isposinf(up.half_life).all()


def test_half_life_is_nan_when_there_is_nothing_to_halve():
    f = fit_forgetting(T_EXP, _exp(T_EXP, -0.5, -0.9, 40.0), bounds=None)
    assert (f.reason == "").all() and (f.R0 < 0).all()
    assert np.isnan(f.half_life).all() and np.isfinite(f.time_scale).all()


def test_bounds_are_checked_and_can_be_one_sided():
    loss = _exp(T_EXP, 0.5, 2.3, 40.0)  # a loss rising to 2.3
    with pytest.raises(ValueError, match=r"outside bounds=\(0.0, 1.0\).*bounds=None"):
        fit_forgetting(T_EXP, loss)
    f = fit_forgetting(T_EXP, loss, bounds=(0, None))
    assert f.attrs["bounds"] == "[0, inf]"
    np.testing.assert_allclose(
        f.sel(model="exp")[["R0", "R_inf", "tau"]].to_array(), [0.5, 2.3, 40], rtol=1e-4
    )
    for bad in ((1, 0), (0, 0), (0,), "ab", (0, "x")):
        with pytest.raises(ValueError, match="must be \\(lo, hi\\) with lo < hi"):
            fit_forgetting(T_EXP, loss, bounds=bad)
    curves = xr.DataArray(loss[None, None], dims=("run", "task", "since"), coords={"since": T_EXP})
    with pytest.raises(ValueError, match="fit_curves: the curves span"):
        fit_curves(curves, by=None)
    with pytest.raises(ValueError, match="bootstrap_half_life: the curves span"):
        bootstrap_half_life(curves, n_boot=2, by=None)
    assert fit_curves(curves, by=None, bounds=None).attrs["bounds"] == "[-inf, inf]"


def test_the_bounded_least_squares_is_exact():
    """For each tau, the (R_inf, R0) of ``_profile`` is the box-constrained optimum: checked
    against scipy's bounded linear least squares on random curves."""
    from scipy.optimize import lsq_linear

    from workbench.forgetting import _basis, _profile

    rng = np.random.default_rng(5)
    t = np.arange(0, 60, 3.0)
    taus = np.exp(rng.uniform(np.log(0.3), np.log(600), 40))[:, None]
    for box in ((0.0, 1.0), (0.2, 0.7), (0.0, np.inf)):
        for _ in range(5):
            y = np.clip(rng.uniform(0, 1) + rng.normal(0, 0.3) * t / 60, 0, 1)
            y = np.clip(y + rng.normal(0, 0.05, t.size), max(box[0], 0), min(box[1], 1))
            phi = _basis(t, taus, "exp")
            rss, r_inf, r0 = _profile(phi, y, box)
            assert ((r_inf >= box[0]) & (r_inf <= box[1]) & (r0 >= box[0]) & (r0 <= box[1])).all()
            for i in range(len(taus)):
                A = np.stack([1 - phi[i], phi[i]], axis=1)
                ref = lsq_linear(A, y, bounds=box, tol=1e-12, method="bvls")
                assert rss[i] <= 2 * ref.cost + 1e-12  # cost is half the RSS
                np.testing.assert_allclose(rss[i], 2 * ref.cost, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize(
    "t, y, exp_reason, pow_reason",
    [
        ([0, 10, 20], [N, N, N], "no finite points", "no finite points"),
        ([], [], "no finite points", "no finite points"),
        ([0, 10, 20], [0.9, 0.5, 0.4], "too few points: 3 distinct t, exp needs 4", "too few"),
        ([0, 10, 20, 30], [0.9, 0.5, 0.4, 0.3], "", "too few points: 4 distinct t, power"),
        ([0, 0, 0, 0, 0], [0.9, 0.5, 0.4, 0.3, 0.2], "too few points: 1 distinct", "too few"),
        (np.arange(8), np.full(8, 0.7), "flat curve", "flat curve"),
        (np.arange(8) - 1, np.linspace(0.9, 0.2, 8), "t < 0", "t < 0"),
    ],
)
def test_degenerate_curves_give_nan_and_a_reason(t, y, exp_reason, pow_reason):
    f = fit_forgetting(t, y)
    for model, reason in (("exp", exp_reason), ("power", pow_reason)):
        g = f.sel(model=model)
        assert str(g.reason.values).startswith(reason)
        assert np.isnan(g.half_life) == bool(reason)
        assert np.isnan([g.R0, g.R_inf, g.tau, g.r2, g.aic, g.time_scale]).all() == bool(reason)
    if pow_reason and exp_reason:
        assert str(f.best.values) == "" and np.isnan(f.best_half_life)
        assert np.isnan(f.best_time_scale)
    with pytest.raises(ValueError, match="must be 1-D, same length"):
        fit_forgetting([0, 1], [0.5])


def test_fit_curves_averages_the_seeds_of_each_group():
    rng = np.random.default_rng(1)
    taus = {"x": (30.0, 34.0), "y": (60.0, 56.0)}
    rows = [_exp(T_EXP, 0.9, 0.2, tau) for g in taus for tau in taus[g]]
    curves = xr.DataArray(
        np.array(rows)[:, None] + rng.normal(0, 0.003, (4, 1, T_EXP.size)),
        dims=("run", "task", "since"),
        coords={"since": T_EXP, "task": ["a"], "group": ("run", ["x", "x", "y", "y"])},
    )
    f = fit_curves(curves)
    assert f.best_half_life.dims == ("group", "task") and f.tau.dims == ("group", "task", "model")
    assert f.group.values.tolist() == ["x", "y"] and f.n_runs.values.tolist() == [2, 2]
    # 0.9 -> 0.45 with R_inf = 0.2: tau ln(0.7 / 0.25)
    np.testing.assert_allclose(
        f.best_half_life[:, 0], [32 * np.log(2.8), 58 * np.log(2.8)], rtol=0.05
    )
    np.testing.assert_allclose(f.best_time_scale[:, 0], [32 * np.log(2), 58 * np.log(2)], rtol=0.05)
    each = fit_curves(curves, by=None)
    assert each.best_half_life.dims == ("run", "task") and each.group.dims == ("run",)
    np.testing.assert_allclose(each.tau.sel(model="exp")[:, 0], [30, 34, 60, 56], rtol=0.05)
    with pytest.raises(ValueError, match="'lr' is not a run coordinate"):
        fit_curves(curves, by="lr")
    with pytest.raises(ValueError, match=r"dims \(run, task, since\)"):
        fit_curves(curves.isel(run=0))


def test_fit_curves_of_results_with_short_curves_gives_reasons_not_errors():
    f = fit_curves(_results())
    assert f.group.values.tolist() == ["all runs"]
    assert str(f.reason.sel(task="c", model="exp").values[0]).startswith("too few points")
    assert str(f.best.sel(task="a").values[0]) in ("exp", "power")  # 8 points: fitted
    assert np.isnan(f.best_half_life.sel(task="c")).all()
    # b: the mean of 4 points (0.7, 0.75, 0.7, 0.72) is no decay: exp hits tau's lower bound
    assert bool(f.at_bound.sel(task="b", model="exp")[0]) and not f.at_bound.sel(task="c").any()
    assert np.isposinf(f.half_life.sel(task="b", model="exp")[0])
    empty = fit_curves(_results().isel(eval_step=[]), by=None)
    assert (empty.reason == "no finite points").all()


def test_bootstrap_half_life_is_deterministic_and_covers_the_truth():
    rng = np.random.default_rng(2)
    tau = rng.uniform(40, 60, 8)  # seeds forget at different rates around 50
    y = np.array([_exp(T_EXP, 0.9, 0.2, s) for s in tau]) + rng.normal(0, 0.01, (8, T_EXP.size))
    curves = xr.DataArray(
        y[:, None], dims=("run", "task", "since"), coords={"since": T_EXP, "task": ["a"]}
    )
    b = bootstrap_half_life(curves, n_boot=40, seed=3, level=0.9, by=None)
    assert b.half_life.dims == ("task",) and int(b.n_runs) == 8 and int(b.n_ok[0]) == 40
    assert int(b.n_inf[0]) == 0 and b.attrs["bounds"] == "[0, 1]"
    lo, med, hi = float(b.lo[0]), float(b.boot_median[0]), float(b.hi[0])
    assert lo < med < hi and lo < float(b.half_life[0]) < hi
    truth = 50 * np.log(0.7 / 0.25)  # 0.9 -> 0.45, R_inf = 0.2
    assert 0.8 * truth < med < 1.2 * truth
    again = bootstrap_half_life(curves, n_boot=40, seed=3, level=0.9, by=None)
    xr.testing.assert_identical(b, again)
    other = bootstrap_half_life(curves, n_boot=40, seed=4, level=0.9, by=None)
    assert float(other.lo[0]) != lo
    with pytest.raises(ValueError, match="0 < level"):
        bootstrap_half_life(curves, level=1.0, by=None)


def test_bootstrap_interval_reaches_inf_when_some_draws_never_halve():
    # two seeds forget down to 0.2, two keep 0.6 (> 0.45): the mean halves, some draws do not
    rows = [_exp(T_EXP, 0.9, r, 40.0) for r in (0.2, 0.2, 0.6, 0.6)]
    noise = np.random.default_rng(3).normal(0, 0.003, (4, T_EXP.size))
    curves = xr.DataArray(
        (np.array(rows) + noise)[:, None],
        dims=("run", "task", "since"),
        coords={"since": T_EXP, "task": ["a"]},
    )
    b = bootstrap_half_life(curves, n_boot=100, seed=0, by=None).isel(task=0)
    assert np.isfinite(b.half_life) and str(b.model.values) in ("exp", "power")
    assert int(b.n_ok) == 100 and 10 < int(b.n_inf) < 60  # P(3 or 4 of 4 keep 0.6) = 5/16
    assert np.isfinite(b.lo) and np.isfinite(b.boot_median) and np.isposinf(b.hi)
    assert float(b.lo) < float(b.boot_median)


def test_quantiles_with_inf_match_numpy_where_numpy_can():
    from workbench.forgetting import _quantiles

    q = [0.5, 0.05, 0.95, 0.0, 1.0]
    v = np.random.default_rng(0).normal(size=11)
    np.testing.assert_allclose(_quantiles(v, q), np.quantile(v, q), rtol=1e-12)
    inf = np.inf
    np.testing.assert_array_equal(
        _quantiles(np.array([3.0, inf, 1.0, inf]), q), [inf, 1.3, inf, 1.0, inf]
    )
    np.testing.assert_array_equal(_quantiles(np.array([inf, inf]), [0.5, 0.05]), [inf, inf])
    np.testing.assert_array_equal(_quantiles(np.array([2.0]), [0.5, 0.05]), [2.0, 2.0])


def test_bootstrap_of_degenerate_curves_is_nan():
    b = bootstrap_half_life(_results(), n_boot=5)  # task c: one point
    assert b.half_life.dims == ("group", "task")
    assert np.isnan(b.half_life.sel(task="c")).all() and np.isnan(b.hi.sel(task="c")).all()
    assert (b.n_ok.sel(task="c") == 0).all() and (b.model.sel(task="c") == "").all()


# -- a real run ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_split_digits_shows_a_stability_gap_on_the_first_task():
    """Naive fine-tuning on 2 class-incremental tasks, evaluated every 2 steps.

    Measured (3 seeds, CPU): task 0 at the switch 0.78, 0.90, 0.69; it falls to 0 within 14-18
    steps (its classes are no longer predicted) and does not come back (recovered 0); the mean
    forgetting curve is best fitted by the exponential, half-life about 8 steps.
    """
    stream = wb.class_incremental("digits", classes_per_task=5, task_steps=40)
    base = wb.RunSpec(
        data=stream,
        model=wb.MLP(hidden=(16,)),
        optimizer=wb.SGD(lr=0.1),
        steps=80,
        batch_size=32,
        eval_every=2,
    )
    ds = wb.run(wb.grid(base, {"seed": [0, 1, 2]}))
    g = stability_gap(ds, switch=1).isel(task=0)
    assert float(g.depth.median()) > 0.3
    assert (g.min_step > 0).all() and (g.min_step <= 40).all()
    c = forgetting_curves(ds)
    _close(c.sel(since=0).isel(task=0), g.before)
    f = fit_curves(c)
    assert np.isfinite(f.best_half_life.isel(task=0)).all()
    assert 0 < float(f.best_half_life.isel(group=0, task=0)) < 40
