"""Tests for workbench.toys: the river-valley toy of the Schedules lab (Wen et al. 2024).

Statistical claims use the median over 3 seeds, with the margin stated in each test; the toy's
defaults are h = 10, σ = 2, so η = 0.05 and 0.15 are ηh = 0.5 and 1.5. Speed is measured and
reported, not asserted here.
"""

import numpy as np
import pytest

from workbench.schedules import cosine, wsd
from workbench.toys import (
    RiverValley,
    _noise,
    _simulate_reference,
    contours,
    excess_loss_prediction,
    simulate,
)

SEEDS = [0, 1, 2]
VALLEY = RiverValley()


def _median_over_seeds(da):
    return float(np.median(da.values))


# --------------------------------------------------------------------------- fast path vs twin


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_simulate_matches_reference_lock_step(momentum):
    # Odd sizes, along-river noise on, a decaying schedule: every term of the update is active.
    valley = RiverValley(noise_along=0.3, amplitude=1.3, period=7.0)
    ds = simulate(
        valley, [0.12, cosine(peak=0.15, steps=97)], steps=97, seeds=[3, 11], momentum=momentum
    )
    noise = _noise([3, 11], 97)
    for r in range(ds.sizes["run"]):
        x, y = _simulate_reference(valley, ds.lr.values[r, :97], noise[r % 2], momentum)
        np.testing.assert_allclose(ds.x.values[r], x, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ds.y.values[r], y, rtol=1e-12, atol=1e-12)


def test_dataset_layout_and_loss_split():
    ds = simulate(VALLEY, [0.1, wsd(peak=0.1, steps=50)], steps=50, seeds=[4, 5, 6])
    assert dict(ds.sizes) == {"run": 6, "step": 51}
    assert ds.seed.values.tolist() == [4, 5, 6] * 2
    assert ds.schedule_index.values.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.schedule.values[0] == "constant(value=0.1)"
    assert ds.x.values[:, 0].tolist() == [VALLEY.x0] * 6
    np.testing.assert_allclose(ds.loss, ds.along + ds.across, rtol=1e-14)
    np.testing.assert_allclose(ds.across, VALLEY.across(ds.x.values, ds.y.values), rtol=1e-14)
    np.testing.assert_allclose(ds.lr.values[3], wsd(peak=0.1, steps=50).table(51).numpy())
    assert ds.attrs["steps"] == 50 and ds.attrs["momentum"] == 0.0
    assert '"curvature": 10.0' in ds.attrs["valley"]


# --------------------------------------------------------------------------- (1) the formula


def test_excess_loss_prediction_values():
    # ησ²/(2(2 - ηh)) by hand, and the heavy-ball form reduces to it at μ = 0.
    assert excess_loss_prediction(VALLEY, 0.1) == pytest.approx(0.1 * 4 / (2 * 1.0))
    assert excess_loss_prediction(VALLEY, 0.15) == pytest.approx(0.15 * 4 / (2 * 0.5))
    assert excess_loss_prediction(VALLEY, 0.0) == 0.0
    mu = 0.5  # (1 + μ)ησ² / (2(1 - μ)(2(1 + μ) - ηh))
    assert excess_loss_prediction(VALLEY, 0.1, momentum=mu) == pytest.approx(
        1.5 * 0.1 * 4 / (2 * 0.5 * (3.0 - 1.0))
    )


def test_stationary_variance_matches_the_1d_recursion():
    # The derivation's own recursion u ← u - η(hu + σξ), iterated directly (no toy involved).
    rng = np.random.default_rng(0)
    h, sigma, eta = 10.0, 2.0, 0.15
    u, acc = 0.0, []
    for xi in rng.standard_normal(40_000):
        u -= eta * (h * u + sigma * xi)
        acc.append(0.5 * h * u * u)
    expected = excess_loss_prediction(RiverValley(curvature=h, noise=sigma), eta)
    assert np.mean(acc[1000:]) == pytest.approx(expected, rel=0.05)  # ~2% sampling error


def test_constant_lr_across_valley_loss_matches_prediction_and_grows_with_lr():
    lrs = [0.05, 0.15]  # ηh = 0.5 and 1.5
    ds = simulate(VALLEY, lrs, steps=2000, seeds=SEEDS)
    # Stable phase: drop the first 500 steps (the start is up a hillside; relaxation takes ~10).
    per_run = ds.across.isel(step=slice(500, None)).mean("step")
    measured = [_median_over_seeds(per_run[i * 3 : (i + 1) * 3]) for i in range(2)]
    predicted = [excess_loss_prediction(VALLEY, lr) for lr in lrs]
    for m, p in zip(measured, predicted, strict=True):
        # Margin 15%: sampling error of a 1,500-step mean is ~5%; the meander adds ~2-3%.
        assert m == pytest.approx(p, rel=0.15)
    assert measured[1] > 2 * measured[0]  # predicted ratio 9x; it grows with η


def test_straight_river_prediction_with_momentum():
    valley = RiverValley(amplitude=0.0)
    ds = simulate(valley, [0.1], steps=3000, seeds=SEEDS, momentum=0.5)
    measured = _median_over_seeds(ds.across.isel(step=slice(500, None)).mean("step"))
    assert measured == pytest.approx(excess_loss_prediction(valley, 0.1, momentum=0.5), rel=0.15)


# --------------------------------------------------------------------------- (2) the WSD claim


@pytest.fixture(scope="module")
def wsd_vs_cosine():
    steps, peak = 2000, 0.15  # ηh = 1.5: the across-valley excess is large in the stable phase
    schedules = [wsd(peak=peak, steps=steps, decay=0.2), cosine(peak=peak, steps=steps)]
    ds = simulate(VALLEY, schedules, steps=steps, seeds=SEEDS)
    return ds.isel(run=slice(0, 3)), ds.isel(run=slice(3, 6))


def test_wsd_decay_damps_the_across_valley_component(wsd_vs_cosine):
    w, _ = wsd_vs_cosine
    stable = w.across.isel(step=slice(200, 1600)).mean("step")  # decay starts at step 1600
    last = w.across.isel(step=slice(1900, None)).mean("step")  # last 5% of the 2,000 steps
    ratio = _median_over_seeds(last / stable)
    assert ratio < 0.2  # measured ~0.03


def test_wsd_progress_along_the_river_continues_in_the_stable_phase(wsd_vs_cosine):
    w, _ = wsd_vs_cosine
    # Median over seeds of x averaged over 100-step windows, steps 0..1599 (stable phase).
    x = w.x.isel(step=slice(0, 1600)).coarsen(step=100).mean().median("run").values
    assert np.all(np.diff(x) > 0.3)  # measured: every window >= 0.8 further downstream


def test_wsd_loss_curve_against_cosine(wsd_vs_cosine):
    w, c = wsd_vs_cosine

    def loss(ds, a, b):
        return _median_over_seeds(ds.loss.isel(step=slice(a, b)).mean("step"))

    # Stable phase: WSD's loss sits above cosine's (measured ~1.3 vs ~1.0 at steps 1000-1200).
    for a in (600, 1000, 1400):
        assert loss(w, a, a + 200) > loss(c, a, a + 200) + 0.1
    # Sharp drop in the decay (measured ~0.99 -> ~0.33).
    assert loss(w, 1900, None) < 0.5 * loss(w, 1500, 1600)
    # Final loss at least as good as cosine's at the same budget. In this toy WSD is far better
    # (measured ~0.31 vs ~0.76): its larger LR area moves it further down a river that still
    # slopes, and both end with the across-valley part near 0.
    final_w = _median_over_seeds(w.loss.isel(step=-1))
    final_c = _median_over_seeds(c.loss.isel(step=-1))
    assert final_w <= final_c + 0.02


# --------------------------------------------------------------------------- (3) determinism


def test_deterministic_per_seed_and_independent_of_the_batch():
    a = simulate(VALLEY, [0.1, 0.05], steps=300, seeds=[0, 1, 2])
    b = simulate(VALLEY, [0.1, 0.05], steps=300, seeds=[0, 1, 2])
    np.testing.assert_array_equal(a.x.values, b.x.values)
    np.testing.assert_array_equal(a.y.values, b.y.values)
    alone = simulate(VALLEY, [0.05], steps=300, seeds=[1])
    np.testing.assert_array_equal(alone.y.values[0], a.y.values[4])  # (0.05, seed 1)
    assert not np.array_equal(a.y.values[0], a.y.values[1])  # seeds differ


def test_shorter_run_is_a_prefix_of_a_longer_one():
    # Both cross the 512-step noise block boundary; the longer one crosses a second.
    short = simulate(VALLEY, [0.1], steps=600, seeds=[7])
    long = simulate(VALLEY, [0.1], steps=1100, seeds=[7])
    np.testing.assert_array_equal(short.y.values[0], long.y.values[0, :601])


# --------------------------------------------------------------------------- contours


def test_contours_grid():
    X, Y, Z = contours(VALLEY, (-20.0, 5.0), (-2.0, 2.0), n=7)
    assert X.shape == Y.shape == Z.shape == (7, 7)
    assert X[0, 0] == -20.0 and X[0, -1] == 5.0 and Y[0, 0] == -2.0 and Y[-1, 0] == 2.0
    np.testing.assert_allclose(Z, VALLEY.loss(X, Y))
    # The valley floor is the minimum across each column.
    xs = np.linspace(-20, 5, 9)
    assert np.all(VALLEY.loss(xs, VALLEY.centre(xs)) < VALLEY.loss(xs, VALLEY.centre(xs) + 0.1))


# --------------------------------------------------------------------------- (5) validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 0.0}, r"RiverValley: width=0.0 must be > 0"),
        ({"period": -1.0}, r"RiverValley: period=-1.0 must be > 0"),
        ({"curvature": 0.0}, r"RiverValley: curvature=0.0 must be > 0"),
        ({"noise": -0.1}, r"RiverValley: noise=-0.1 must be >= 0"),
        ({"slope": -1.0}, r"RiverValley: slope=-1.0 must be >= 0"),
        ({"x0": float("nan")}, r"RiverValley: x0=nan must be finite"),
    ],
)
def test_valley_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RiverValley(**kwargs)


def test_prediction_validation():
    with pytest.raises(ValueError, match=r"lr=0.2 gives lr·h=2 >= 2·\(1 \+ momentum\)=2.*diverges"):
        excess_loss_prediction(VALLEY, 0.2)
    with pytest.raises(ValueError, match=r"lr=-0.1 must be >= 0"):
        excess_loss_prediction(VALLEY, -0.1)
    with pytest.raises(ValueError, match=r"momentum=1.0 must be in \[0, 1\)"):
        excess_loss_prediction(VALLEY, 0.1, momentum=1.0)
    assert excess_loss_prediction(VALLEY, 0.25, momentum=0.5) > 0  # ηh = 2.5 < 2(1 + μ) = 3


def test_simulate_validation():
    with pytest.raises(ValueError, match=r"lrs\[1\] \(max over the run\)=0.2 .* diverges"):
        simulate(VALLEY, [0.1, wsd(peak=0.2, steps=10)], steps=10)
    with pytest.raises(ValueError, match=r"lrs\[0\].*must be >= 0"):
        simulate(VALLEY, [-0.1], steps=10)
    with pytest.raises(ValueError, match=r"lrs=\[\] is empty"):
        simulate(VALLEY, [], steps=10)
    with pytest.raises(ValueError, match=r"seeds=\[\] is empty"):
        simulate(VALLEY, [0.1], steps=10, seeds=[])
    with pytest.raises(ValueError, match=r"seeds\[1\]=-1 must be an integer >= 0"):
        simulate(VALLEY, [0.1], steps=10, seeds=[0, -1])
    with pytest.raises(ValueError, match=r"steps=0 must be an integer >= 1"):
        simulate(VALLEY, [0.1], steps=0)
    with pytest.raises(ValueError, match=r"momentum=-0.5 must be in \[0, 1\)"):
        simulate(VALLEY, [0.1], steps=10, momentum=-0.5)
    with pytest.raises(TypeError, match=r"lrs must be a sequence"):
        simulate(VALLEY, "0.1", steps=10)
    # Momentum raises the stability limit to 2(1 + μ)/h: 0.25 is fine with μ = 0.5.
    assert np.isfinite(simulate(VALLEY, [0.25], steps=50, momentum=0.5).loss).all()


def test_contours_validation():
    with pytest.raises(ValueError, match=r"xlim=\(1.0, 1.0\) must have low < high"):
        contours(VALLEY, (1.0, 1.0), (0.0, 1.0))
    with pytest.raises(ValueError, match=r"ylim=\(0.0,\) must be a pair"):
        contours(VALLEY, (0.0, 1.0), (0.0,))
    with pytest.raises(ValueError, match=r"n=1 must be an integer >= 2"):
        contours(VALLEY, (0.0, 1.0), (0.0, 1.0), n=1)
