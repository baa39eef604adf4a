"""Lanczos and the spectral density of the landscape package against the dense Hessian of a
tiny model (torch.autograd.functional.hessian of one row's loss as a function of its flat
parameters, as in test_hessian.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench.data import data_spec
from workbench.landscape import layout_of, probe_data
from workbench.landscape import spectrum as spectrum_module
from workbench.landscape.spectrum import lanczos, spectral_density
from workbench.models import MLP
from workbench.models.base import cross_entropy

TINY = MLP(hidden=(6,))
DATA = data_spec("gaussian", classes=3, dim=5)  # P = 5*6 + 6 + 6*3 + 3 = 57


def _setup(n=3, size=128, dtype=torch.float64):
    layout = layout_of(TINY, DATA)
    theta = torch.stack([TINY.init_row(layout, s) for s in range(n)]).to(dtype)
    x, y = probe_data(TINY, DATA, size=size)
    return layout, theta, (x.to(dtype), y)


def _dense_eigenvalues(layout, theta, batch) -> list[torch.Tensor]:
    """Ascending eigenvalues of every row's dense Hessian, in float64."""
    x, y = batch
    x = x.double()

    def f(flat):
        logits = TINY.forward(layout.views(flat[None]), x[None], None)
        return cross_entropy(logits, y[None])[0]

    return [
        torch.linalg.eigvalsh(torch.autograd.functional.hessian(f, row.double())) for row in theta
    ]


@pytest.fixture(scope="module")
def tiny():
    layout, theta, batch = _setup()
    return layout, theta, batch, _dense_eigenvalues(layout, theta, batch)


def test_top_ritz_values_match_the_dense_spectrum(tiny):
    """30 steps on P = 57: the three largest Ritz values of every row to 1e-8 relative (measured
    ~1e-15); 10 steps: the largest to 1e-3 (measured <= 3e-5). Every Ritz value lies within
    its reported Lanczos bound of a dense eigenvalue, and the weights sum to 1."""
    layout, theta, batch, evs = tiny
    out = lanczos(TINY, layout, theta, batch, steps=30, k=3)
    short = lanczos(TINY, layout, theta, batch, steps=10, k=1)
    assert out["steps"] == 30 and out["top"].shape == (3, 3) and out["beta"].shape == (3, 29)
    for i, ev in enumerate(evs):
        top = ev.flip(0)[:3]
        torch.testing.assert_close(out["top"][i], top, rtol=1e-8, atol=0)
        torch.testing.assert_close(short["top"][i, 0], top[0], rtol=1e-3, atol=0)
        gap = (out["ritz"][i][:, None] - ev[None]).abs().min(1).values
        assert (gap <= out["residual"][i] + 1e-10).all()
        gap = (short["ritz"][i][:, None] - ev[None]).abs().min(1).values
        assert (gap <= short["residual"][i] + 1e-10).all()
    torch.testing.assert_close(out["weights"].sum(1), torch.ones(3, dtype=torch.float64))


def test_batched_rows_equal_each_row_alone(tiny):
    """Every row starts from the same vector, so a row's tridiagonal does not depend on the
    other rows of the batch."""
    layout, theta, batch, _ = tiny
    out = lanczos(TINY, layout, theta, batch, steps=12, k=2, seed=5)
    for i in range(theta.shape[0]):
        one = lanczos(TINY, layout, theta[i : i + 1], batch, steps=12, k=2, seed=5)
        for key in ("alpha", "beta", "ritz", "weights", "top"):
            torch.testing.assert_close(one[key][0], out[key][i], rtol=1e-9, atol=1e-12)


def test_steps_at_least_p_give_the_whole_spectrum(tiny):
    """With steps >= P the basis spans everything: the Ritz values are all P eigenvalues. The
    tiny MLP's Hessian has repeated (zero) eigenvalues, so the Krylov space breaks down on the
    way; those rows record beta = 0 and go on from a fresh direction."""
    layout, theta, batch, evs = tiny
    p = layout.size
    out = lanczos(TINY, layout, theta, batch, steps=p + 5)
    assert out["steps"] == p and out["ritz"].shape == (3, p)
    assert (out["beta"] == 0).any()  # breakdowns happened and were handled
    for i, ev in enumerate(evs):
        torch.testing.assert_close(out["ritz"][i], ev, rtol=0, atol=1e-12 * float(ev.abs().max()))


@pytest.mark.parametrize("diag", ["zero", "scaled identity", "three values"])
def test_breakdown_is_masked_without_nans(monkeypatch, diag):
    """Hessians whose Krylov spaces are invariant almost at once (a stand-in ``hvp``): the
    rows restart and the Ritz values are still exactly the spectrum, nothing NaN."""
    layout, theta, batch = _setup(n=2, size=8)
    p = layout.size
    d = {
        "zero": torch.zeros(p),
        "scaled identity": torch.full((p,), 2.0),
        "three values": torch.tensor([3.0] * 10 + [1.0] * 20 + [-0.5] * (p - 30)),
    }[diag].double()
    monkeypatch.setattr(spectrum_module, "hvp", lambda model, layout, theta, batch, v: v * d)
    out = lanczos(TINY, layout, theta, batch, steps=p)
    for key in ("alpha", "beta", "ritz", "weights", "residual"):
        assert torch.isfinite(out[key]).all(), key
    ref = d.sort().values
    for i in range(2):
        torch.testing.assert_close(out["ritz"][i], ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(out["weights"].sum(1), torch.ones(2, dtype=torch.float64))
    short = lanczos(TINY, layout, theta, batch, steps=6)
    assert torch.isfinite(short["ritz"]).all()
    for v in short["ritz"][0]:  # every Ritz value is an eigenvalue
        assert float((d - v).abs().min()) < 1e-12


def test_float32_rows_find_the_top_eigenvalue(tiny):
    layout, theta, batch, evs = tiny
    out = lanczos(TINY, layout, theta.float(), (batch[0].float(), batch[1]), steps=20)
    for i, ev in enumerate(evs):
        assert abs(float(out["top"][i, 0]) - float(ev[-1])) <= 1e-3 * float(ev[-1])


def test_spectral_density_integrates_to_one_and_matches_the_dense_spectrum(tiny):
    """16 probes x 3 runs of 30 steps (one batch of 48 rows). The density integrates to 1,
    its L1 distance to the dense spectrum smoothed by the same sigma is small (measured
    0.06-0.12; 0.28-0.35 with 4 probes), and the fraction of its mass above a third of the top
    eigenvalue is the dense fraction of eigenvalues above it to 0.05 (measured within 0.005)."""
    layout, theta, batch, evs = tiny
    sigma = 0.02
    ds = spectral_density(TINY, layout, theta, batch, steps=30, probes=16, sigma=sigma)
    assert ds.density.dims == ("run", "eigenvalue")
    assert ds.attrs == {"steps": 30, "probes": 16, "sigma": sigma, "seed": 0}
    assert ds.ritz.shape == ds.weight.shape == (3, 16, 30)
    lam = ds.eigenvalue.values
    np.testing.assert_allclose(ds.density.integrate("eigenvalue").values, 1.0, atol=1e-4)
    for i, ev in enumerate(evs):
        ev = ev.numpy()
        exact = np.exp(-0.5 * ((lam[:, None] - ev[None]) / sigma) ** 2).sum(1)
        exact /= ev.size * sigma * math.sqrt(2 * math.pi)
        phi = ds.density[i].values
        assert np.trapezoid(np.abs(phi - exact), lam) < 0.25
        t = ev[-1] / 3
        above = np.trapezoid(np.where(lam > t, phi, 0.0), lam)
        assert abs(above - (ev > t).mean()) < 0.05


def test_spectral_density_defaults_and_grids(tiny):
    """Default sigma (span of the Ritz values over the steps) and grid (± 4 sigma about them);
    an explicit grid is used as given; the same seed gives the same density."""
    layout, theta, batch, _ = tiny
    ds = spectral_density(TINY, layout, theta[:2], batch, steps=8, probes=2)
    span = float(ds.ritz.max() - ds.ritz.min())
    assert ds.attrs["sigma"] == pytest.approx(span / 8)
    assert ds.eigenvalue[0] == pytest.approx(float(ds.ritz.min()) - 4 * ds.attrs["sigma"])
    np.testing.assert_allclose(ds.density.integrate("eigenvalue").values, 1.0, atol=1e-3)
    grid = np.linspace(-3, 3, 61)
    again = spectral_density(TINY, layout, theta[:2], batch, steps=8, probes=2, grid=grid)
    np.testing.assert_array_equal(again.eigenvalue.values, grid)
    np.testing.assert_allclose(again.ritz.values, ds.ritz.values)


@pytest.mark.parametrize(
    "fn, kw, message",
    [
        (lanczos, {"steps": 1}, "lanczos: steps=1 must be an int >= 2"),
        (lanczos, {"steps": 2.5}, "lanczos: steps=2.5 must be an int >= 2"),
        (lanczos, {"k": 0}, "lanczos: k=0 must be an int >= 1"),
        (lanczos, {"steps": 4, "k": 5}, r"lanczos: k=5 must be <= .* min\(steps, P\)=4"),
        (spectral_density, {"steps": 1}, "spectral_density: steps=1 must be an int >= 2"),
        (spectral_density, {"probes": 0}, "spectral_density: probes=0 must be an int >= 1"),
        (spectral_density, {"sigma": 0.0}, r"spectral_density: sigma=0.0 must be .* > 0"),
        (spectral_density, {"grid": 1}, "spectral_density: grid=1 must be an int >= 2"),
        (spectral_density, {"grid": [1.0, 0.0]}, "grid=.* must be .* increasing"),
    ],
)
def test_bad_arguments_name_the_field(fn, kw, message):
    layout, theta, batch = _setup(n=1, size=8)
    with pytest.raises(ValueError, match=message):
        fn(TINY, layout, theta, batch, **kw)


def test_theta_of_the_wrong_shape_is_refused():
    layout, theta, batch = _setup(n=1, size=8)
    with pytest.raises(ValueError, match=r"theta of shape \(57,\) must be \[N, 57\]"):
        lanczos(TINY, layout, theta[0], batch)
