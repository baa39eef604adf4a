"""Hessian tools of the landscape package against the dense Hessian of a tiny model
(torch.autograd.functional.hessian of one row's loss as a function of its flat parameters)."""

from __future__ import annotations

import pytest
import torch

from workbench.data import data_spec
from workbench.landscape import hutchinson_trace, hvp, layout_of, probe_data, top_eigenvalues
from workbench.models import MLP, Transformer
from workbench.models.base import cross_entropy

TINY = MLP(hidden=(6,))
DATA = data_spec("gaussian", classes=3, dim=5)


def _setup(model=TINY, data=DATA, n=3, size=64):
    layout = layout_of(model, data)
    theta = torch.stack([model.init_row(layout, s) for s in range(n)]).double()
    x, y = probe_data(model, data, size=size)
    return layout, theta, (x.double() if x.is_floating_point() else x, y)


def _dense(model, layout, row, batch):
    x, y = batch

    def f(flat):
        params = layout.views(flat[None])
        logits = model.forward(params, x[None], None)
        return cross_entropy(logits, y[None])[0]

    return torch.autograd.functional.hessian(f, row)


def test_hvp_equals_the_dense_hessian_times_v_for_every_row():
    layout, theta, batch = _setup()
    v = torch.randn(theta.shape, dtype=theta.dtype, generator=torch.Generator().manual_seed(1))
    hv = hvp(TINY, layout, theta, batch, v)
    for i in range(theta.shape[0]):
        H = _dense(TINY, layout, theta[i], batch)
        torch.testing.assert_close(hv[i], H @ v[i], rtol=1e-6, atol=1e-9)


def test_hvp_on_the_transformer_matches_forward_over_reverse():
    """Double backward through the stacked transformer equals torch.func's forward-mode
    derivative of the single-row gradient (an independent way to the same product)."""
    model = Transformer(layers=1, width=16, heads=2, context=8)
    data = data_spec("markov", vocab=8, context=8, n_train=256, n_test=64)
    layout, theta, batch = _setup(model, data, n=2, size=16)
    v = torch.randn(theta.shape, dtype=theta.dtype, generator=torch.Generator().manual_seed(2))
    hv = hvp(model, layout, theta, batch, v)
    x, y = batch

    def f(flat):
        logits = model.forward(layout.views(flat[None]), x[None], None)
        return cross_entropy(logits, y[None])[0]

    for i in range(theta.shape[0]):
        _, ref = torch.func.jvp(torch.func.grad(f), (theta[i],), (v[i],))
        torch.testing.assert_close(hv[i], ref, rtol=1e-6, atol=1e-9)


def test_top_eigenvalues_match_the_dense_spectrum():
    """The largest-magnitude eigenvalue of every row to 1e-6 relative; and every value found
    is within its reported residual of a true eigenvalue (for a symmetric matrix some
    eigenvalue lies within ``‖Hv − λv‖`` of ``λ``), so the convergence report is honest even
    where a small gap slows the second value."""
    layout, theta, batch = _setup(size=128)
    out = top_eigenvalues(TINY, layout, theta, batch, k=2, iters=300, seed=0)
    for i in range(theta.shape[0]):
        ev = torch.linalg.eigvalsh(_dense(TINY, layout, theta[i], batch))
        top = ev[ev.abs().argmax()]
        torch.testing.assert_close(out["values"][i, 0], top, rtol=1e-6, atol=0)
        for j in range(2):
            lam, res = out["values"][i, j], out["residual"][i, j]
            assert float((ev - lam).abs().min()) <= float(res * lam.abs()) + 1e-12
    assert (out["residual"][:, 0] < 1e-4).all()
    v = out["vectors"]
    gram = v @ v.transpose(1, 2)  # orthonormal per row
    torch.testing.assert_close(
        gram, torch.eye(2, dtype=gram.dtype).expand_as(gram), atol=1e-6, rtol=0
    )


def test_hutchinson_trace_is_within_its_stated_error():
    """With 400 probes the estimate is within 4 standard errors of the dense trace."""
    layout, theta, batch = _setup()
    est = hutchinson_trace(TINY, layout, theta, batch, samples=400, seed=3)
    for i in range(theta.shape[0]):
        tr = torch.trace(_dense(TINY, layout, theta[i], batch))
        assert abs(float(est["trace"][i] - tr)) < 4 * float(est["stderr"][i]) + 1e-9


@pytest.mark.parametrize(
    "kw, message",
    [({"k": 0}, "k=0 must be an int >= 1"), ({"iters": 0}, "iters=0 must be an int >= 1")],
)
def test_bad_arguments_name_the_field(kw, message):
    layout, theta, batch = _setup(n=1)
    with pytest.raises(ValueError, match=message):
        top_eigenvalues(TINY, layout, theta, batch, **kw)
