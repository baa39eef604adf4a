"""Landscape slices (issue 10, sections 1-2 in part): batched evaluation of parameter rows equals
a per-point loop, directions are normalized filter by filter, slices carry their provenance."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr

from workbench.data import data_spec
from workbench.landscape import (
    line,
    loss_of,
    plane,
    plane_through,
    probe_data,
    random_direction,
)
from workbench.landscape.evaluate import layout_of
from workbench.models import MLP, StackedModel, Transformer

MLP_SMALL = MLP(hidden=(16, 16))
TINY_T = Transformer(layers=1, width=32, heads=2, context=16)
MARKOV = data_spec("markov", vocab=16, context=16, n_train=512, n_test=128)


def _points(model, data, n, seed=0):
    layout = layout_of(model, data)
    torch.manual_seed(seed)
    rows = [model.init_row(layout, s) for s in range(n)]
    return layout, torch.stack(rows)


def test_a_grid_equals_setting_the_weights_of_a_torch_net_point_by_point():
    layout, rows = _points(MLP_SMALL, "digits", 3)
    d1, d2 = (random_direction(layout, s, theta=rows[0]) for s in (7, 8))
    g = plane(
        MLP_SMALL,
        rows[0],
        d1,
        d2,
        "digits",
        alphas=[-1, 0, 0.5],
        betas=[-0.5, 1],
        size=128,
        chunk=4,
    )  # chunks smaller than the grid: rows built in pieces
    x, y = probe_data(MLP_SMALL, "digits", size=128)
    net = MLP_SMALL.reference(64, 10, seed=0)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    for j, b in enumerate(g.beta.values):
        for i, a in enumerate(g.alpha.values):
            row = rows[0] + float(a) * d1 + float(b) * d2
            views = layout.views(row[None])
            with torch.no_grad():
                for k, lin in enumerate(linears):  # set the weights ([in, out] -> [out, in])
                    lin.weight.copy_(views[2 * k][0].T)
                    lin.bias.copy_(views[2 * k + 1][0])
                logits = net(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            acc = (logits.argmax(1) == y).float().mean()
            assert float(g.loss[j, i]) == pytest.approx(float(loss), abs=1e-5)
            assert float(g.acc[j, i]) == pytest.approx(float(acc), abs=1e-6)


def test_the_transformer_grid_equals_a_per_point_loop():
    layout, rows = _points(TINY_T, MARKOV, 2)
    d1 = random_direction(layout, 3, theta=rows[0])
    loss, acc = loss_of(
        TINY_T, rows[0] + torch.linspace(-1, 1, 5)[:, None] * d1, MARKOV, size=64, max_bytes=1 << 16
    )  # tiny groups: many passes
    x, y = probe_data(TINY_T, MARKOV, size=64)
    for k, a in enumerate(torch.linspace(-1, 1, 5)):
        single = StackedModel.of_rows(TINY_T, layout, (rows[0] + a * d1)[None].clone())
        l1, a1 = single.evaluate(x, y)
        assert float(loss[k]) == pytest.approx(float(l1[0]), abs=1e-5)
        assert float(acc[k]) == pytest.approx(float(a1[0]), abs=1e-6)


def test_filter_normalization_per_column_and_zero_biases():
    layout, rows = _points(MLP_SMALL, "digits", 1)
    theta = rows[0]
    d = random_direction(layout, 5, theta=theta, normalize="filter")
    for info, dv, wv in zip(
        layout.params, layout.views(d[None]), layout.views(theta[None]), strict=True
    ):
        if info.role == "bias":
            assert float(dv.abs().sum()) == 0.0
        else:  # weights [in, out]: every output column has the point's column norm
            torch.testing.assert_close(dv[0].norm(dim=0), wv[0].norm(dim=0))
    layer = random_direction(layout, 5, theta=theta, normalize="layer")
    for info, dv, wv in zip(
        layout.params, layout.views(layer[None]), layout.views(theta[None]), strict=True
    ):
        if info.role != "bias":
            torch.testing.assert_close(dv.norm(), wv.norm())


def test_embeddings_are_normalized_per_token_and_norm_parameters_zeroed():
    layout, rows = _points(TINY_T, MARKOV, 1)
    d = random_direction(layout, 1, theta=rows[0])
    roles = {info.role for info in layout.params}
    assert "embedding" in roles
    for info, dv, wv in zip(
        layout.params, layout.views(d[None]), layout.views(rows[0][None]), strict=True
    ):
        if info.role in ("bias", "norm"):
            assert float(dv.abs().sum()) == 0.0
        elif info.role == "embedding":
            torch.testing.assert_close(dv[0].norm(dim=1), wv[0].norm(dim=1))


def test_a_seed_is_the_same_direction_for_every_run():
    layout, rows = _points(MLP_SMALL, "digits", 2)
    raw = [random_direction(layout, 9, normalize=None) for _ in range(2)]
    assert torch.equal(*raw)
    a, b = (random_direction(layout, 9, theta=r) for r in rows)
    # normalized against different points, the same raw direction: equal up to per-filter scale
    w = layout.views(a[None])[0][0] / layout.views(b[None])[0][0]
    assert torch.allclose(w, w[0:1].expand_as(w), rtol=1e-4)


def test_line_endpoints_and_barrier():
    layout, rows = _points(MLP_SMALL, "digits", 2)
    ds = line(MLP_SMALL, rows[0], rows[1], "digits", alphas=7, size=128)
    ends, _ = loss_of(MLP_SMALL, rows, "digits", size=128)
    assert float(ds.loss[0]) == pytest.approx(float(ends[0]), abs=1e-6)
    assert float(ds.loss[-1]) == pytest.approx(float(ends[1]), abs=1e-6)
    straight = np.interp(ds.alpha, [0, 1], [float(ends[0]), float(ends[1])])
    assert ds.attrs["barrier"] == pytest.approx(float(np.max(ds.loss.values - straight)), abs=1e-6)
    flat = line(MLP_SMALL, rows[0], rows[0], "digits", alphas=3, size=64)
    assert flat.attrs["barrier"] == pytest.approx(0.0, abs=1e-6)
    # beyond the ends the loss may rise above the extended chord: not a barrier between them
    wide = line(MLP_SMALL, rows[0], rows[1], "digits", alphas=[-1.0, *ds.alpha.values, 2.0])
    assert wide.attrs["barrier"] == pytest.approx(ds.attrs["barrier"], abs=1e-5)


def test_plane_through_three_points_puts_them_where_it_says(tmp_path):
    layout, rows = _points(MLP_SMALL, "digits", 3)
    ds = plane_through(MLP_SMALL, *rows, "digits", resolution=7, size=128)
    (a0, b0), (a1, b1), (a2, b2) = json.loads(ds.attrs["points"])
    assert (a0, b0, a1, b1, b2) == (0.0, 0.0, 1.0, 0.0, 1.0)
    d1 = rows[1] - rows[0]
    coef = float((rows[2] - rows[0]) @ d1 / (d1 @ d1))
    assert a2 == pytest.approx(coef, abs=1e-5)
    ds.to_netcdf(tmp_path / "slice.nc")  # provenance survives a save
    assert xr.load_dataset(tmp_path / "slice.nc").attrs["points"] == ds.attrs["points"]
    with pytest.raises(ValueError, match="on one line"):
        plane_through(MLP_SMALL, rows[0], rows[1], 2 * rows[1] - rows[0], "digits")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda r: loss_of(MLP_SMALL, r[:, :10], "digits"), "must be \\[M, "),
        (lambda r: random_direction(layout_of(MLP_SMALL, "digits"), -1), "seed=-1"),
        (lambda r: random_direction(layout_of(MLP_SMALL, "digits"), 0), "needs theta"),
        (lambda r: probe_data(MLP_SMALL, "digits", split="val"), "split='val'"),
    ],
)
def test_bad_input_is_a_named_error(call, message):
    _, rows = _points(MLP_SMALL, "digits", 1)
    with pytest.raises(ValueError, match=message):
        call(rows)


def test_pca_of_a_trajectory_finds_the_plane_it_moves_in():
    """A path that moves in a random 2-D subspace of P = 200 (plus tiny noise): the two PCA
    directions span that subspace, explain almost all the variance, and the coordinates
    reproduce the path; a random direction explains almost none of it."""
    from workbench.landscape import pca_directions

    g = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(200, 2, generator=g, dtype=torch.float64))
    t = torch.linspace(0, 3, 40, dtype=torch.float64)
    coeffs = torch.stack([torch.cos(t) * (3 - t), torch.sin(t) * (3 - t)], 1)
    path = coeffs @ basis.T + 1e-6 * torch.randn(40, 200, generator=g, dtype=torch.float64)
    out = pca_directions(path)
    assert float(out["explained"].sum()) > 0.999
    proj = out["directions"] @ basis  # (2, 2): an orthogonal matrix when the spans agree
    torch.testing.assert_close(proj @ proj.T, torch.eye(2, dtype=proj.dtype), atol=1e-5, rtol=0)
    back = out["coords"] @ out["directions"] + path[-1]
    torch.testing.assert_close(back, path, atol=1e-4, rtol=0)
    rnd = torch.randn(200, generator=g, dtype=torch.float64)
    rnd /= rnd.norm()
    centred = path - path[-1]
    assert float(((centred @ rnd) ** 2).sum() / (centred**2).sum()) < 0.1
    with pytest.raises(ValueError, match="k=3 must be an int from 1 to"):
        pca_directions(path[:2], k=3)
