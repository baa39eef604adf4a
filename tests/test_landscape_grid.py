"""Landscape grids (issue 10): a batched grid equals a per-point loop over plain torch models
(MLP and transformer), an MLP's first-layer shortcut equals the plain path, bad input is a named
error, progressive grids fill in coarse to fine and end as ``plane``, and the cache of windows
returns a computed window without computing it again."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workbench.data import data_spec
from workbench.landscape import (
    MAX_GRID_POINTS,
    GridCache,
    SliceEvaluator,
    iter_plane,
    line,
    plane,
    plane_through,
    probe_data,
    random_direction,
    refinement_order,
    tensor_digest,
    window_axes,
)
from workbench.landscape.evaluate import layout_of
from workbench.models import MLP, Transformer

TINY_T = Transformer(layers=1, width=32, heads=2, context=16)
MARKOV = data_spec("markov", vocab=16, context=16, n_train=256, n_test=64)
MODULAR = data_spec("modular", p=11)


def _center_and_dirs(model, data, seed=0):
    layout = layout_of(model, data)
    center = model.init_row(layout, seed)
    d1, d2 = (random_direction(layout, s, theta=center) for s in (seed + 7, seed + 8))
    return layout, center, d1, d2


def _load(net: torch.nn.Module, model, layout, row: torch.Tensor) -> None:
    """Write the flat row into the plain per-run model (Linear weights ``[in, out]`` ->
    ``[out, in]``), as one would with ``param.copy_``."""
    views = [v[0] for v in layout.views(row[None])]
    if isinstance(model, MLP):
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        params = [p for lin in linears for p in (lin.weight, lin.bias)]
        names = [info.name for info in layout.params]
    else:
        names = [info.name for info in layout.params]
        params = [net.get_parameter("embed.weight" if n == "embed" else n) for n in names]
    with torch.no_grad():
        for name, p, v in zip(names, params, views, strict=True):
            linear = v.dim() == 2 and name not in ("embed", "pos")
            p.copy_(v.T if linear else v)


def _loop(model, data, layout, rows, x, y):
    """Loss and accuracy of each row, one plain ``torch.nn`` model at a time."""
    net = model.reference(*model.dims(_info(data)), seed=0)
    out = []
    for row in rows:
        _load(net, model, layout, row)
        with torch.no_grad():
            logits = net(x)
        if logits.dim() == y.dim() + 2:  # a sequence model answering at the last position
            logits = logits[:, -1]
        loss = F.cross_entropy(logits.flatten(0, -2), y.flatten())
        acc = (logits.argmax(-1) == y).float().mean()
        out.append((float(loss), float(acc)))
    return np.array(out)


def _info(data):
    from workbench.data import info

    return info(data_spec(data) if isinstance(data, str) else data)


@pytest.mark.parametrize(
    "model, data",
    [
        (MLP(hidden=(16, 16)), "digits"),
        (MLP(hidden=(12,), activation="gelu"), "digits"),  # no in-place gelu: the fallback
        (MLP(hidden=(), activation="tanh"), "digits"),  # a linear model: the first layer only
        (MLP(hidden=(16,), activation="silu"), MODULAR),  # one-hot token pairs
        (TINY_T, MARKOV),  # a token per position
        (TINY_T, MODULAR),  # answered at the last position
    ],
    ids=["mlp-relu", "mlp-gelu", "linear", "mlp-modular", "transformer-markov", "t-modular"],
)
def test_a_batched_grid_equals_a_per_point_loop(model, data):
    layout, center, d1, d2 = _center_and_dirs(model, data)
    alphas, betas = [-1.0, -0.25, 0.5, 1.0], [-0.5, 0.0, 0.75]
    g = plane(model, center, d1, d2, data, alphas=alphas, betas=betas, size=96, chunk=5)
    x, y = probe_data(model, data, size=96)
    rows = [center + a * d1 + b * d2 for b in betas for a in alphas]
    ref = _loop(model, data, layout, rows, x, y)
    np.testing.assert_allclose(g.loss.values.ravel(), ref[:, 0], rtol=0, atol=1e-5)
    np.testing.assert_allclose(g.acc.values.ravel(), ref[:, 1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("max_bytes", [1 << 30, 3000])  # one pass; many points x example chunks
def test_the_first_layer_shortcut_equals_the_plain_path(max_bytes):
    model = MLP(hidden=(20, 12))
    _, center, d1, d2 = _center_and_dirs(model, "digits", seed=3)
    coords = torch.randn(37, 2, generator=torch.Generator().manual_seed(0)) * 2
    kw = dict(size=200, chunk=8, max_bytes=max_bytes)
    fast = SliceEvaluator(model, "digits", center, [d1, d2], **kw)
    slow = SliceEvaluator(model, "digits", center, [d1, d2], first_layer=False, **kw)
    assert fast.uses_first_layer and not slow.uses_first_layer
    if max_bytes < 1 << 30:
        assert len(fast._parts) > 1  # the examples were split
    (lf, af), (ls, as_) = fast(coords), slow(coords)
    np.testing.assert_allclose(lf, ls, rtol=0, atol=1e-5)
    np.testing.assert_allclose(af, as_, rtol=0, atol=1e-6)
    # a line through two runs: alpha = 0 and 1 are the runs themselves
    b = model.init_row(layout_of(model, "digits"), 9)
    ds = line(model, center, b, "digits", alphas=3, size=200)
    plain = SliceEvaluator(model, "digits", center, [b - center], size=200, first_layer=False)
    np.testing.assert_allclose(ds.loss.values, plain([[0.0], [0.5], [1.0]])[0], atol=1e-5)


def test_tied_logits_count_as_argmax_counts_them():
    """The shortcut reads correctness from the class maxima (argmax over a short axis is slow
    on the CPU); ties must still go to the first tied class, as argmax does: at the zero point
    every class ties (correct iff the label is 0), along d classes 2 and 5 tie on top."""
    model = MLP(hidden=(8,))
    layout = layout_of(model, "digits")
    zero, d = torch.zeros(layout.size), torch.zeros(layout.size)
    d[layout.size - 10 + 2] = d[layout.size - 10 + 5] = 1.0  # the head's bias of classes 2, 5
    _, y = probe_data(model, "digits", size=300)
    fast = SliceEvaluator(model, "digits", zero, [d], size=300)
    slow = SliceEvaluator(model, "digits", zero, [d], size=300, first_layer=False)
    (_, af), (_, as_) = fast([[0.0], [1.0]]), slow([[0.0], [1.0]])
    expected = [float((y == 0).float().mean()), float((y == 2).float().mean())]
    np.testing.assert_allclose(af, expected, atol=1e-7)
    np.testing.assert_allclose(as_, expected, atol=1e-7)


def test_the_shortcut_is_for_mlps_only_whatever_their_loss():
    _, center, d1, d2 = _center_and_dirs(TINY_T, MARKOV)
    assert not SliceEvaluator(TINY_T, MARKOV, center, [d1], size=8).uses_first_layer
    with pytest.raises(ValueError, match="first_layer=True needs an MLP, not a Transformer"):
        SliceEvaluator(TINY_T, MARKOV, center, [d1], size=8, first_layer=True)
    mse = MLP(hidden=(8,), loss="mse")  # the squared loss goes through the shortcut too
    _, center, d1, _ = _center_and_dirs(mse, "digits")
    fast = SliceEvaluator(mse, "digits", center, [d1], size=32)
    plain = SliceEvaluator(mse, "digits", center, [d1], size=32, first_layer=False)
    assert fast.uses_first_layer and not plain.uses_first_layer
    coords = torch.linspace(-1, 1, 5)[:, None]
    for a, b in zip(fast(coords), plain(coords), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


_M = MLP(hidden=(8,))


def _bad(**kw):
    _, center, d1, d2 = _center_and_dirs(_M, "digits")
    args = dict(alphas=[-1, 0, 1], betas=[-1, 0, 1], size=16) | kw
    return center, d1, d2, args


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda c, d1, d2, kw: plane(
                _M, c, d1, d2, "digits", **kw | dict(alphas=np.arange(1000), betas=np.arange(1000))
            ),
            r"plane: alphas x betas = 1,000 x 1,000 = 1,000,000 points; at most "
            r"MAX_GRID_POINTS = 65,536 \(e.g. 256 x 256\)",
        ),
        (
            lambda c, d1, d2, kw: plane(_M, c, d1[:10], d2, "digits", **kw),
            r"plane: d1 of shape \(10,\) must be \[610\]",
        ),
        (
            lambda c, d1, d2, kw: plane(_M, c, d1, d2, "digits", **kw | dict(alphas=[0, np.nan])),
            r"plane: alphas\[1\]=nan must be finite",
        ),
        (
            lambda c, d1, d2, kw: plane(_M, c, d1, d2, "digits", **kw | dict(betas=[0, 1, 1])),
            r"plane: betas must be strictly increasing; betas\[2\]=1 follows betas\[1\]=1",
        ),
        (
            lambda c, d1, d2, kw: plane(_M, c, d1, d2, "digits", **kw | dict(alphas=[0.5])),
            r"plane: alphas of shape \(1,\) must be a 1-D sequence of at least 2 values",
        ),
        (
            lambda c, d1, d2, kw: line(_M, c, d1, "digits", alphas=1),
            r"line: alphas=1 must be an int >= 2",
        ),
        (
            lambda c, d1, d2, kw: line(_M, c, d1, "digits", alphas=10**6),
            r"line: alphas=1,000,000 points; at most MAX_GRID_POINTS = 65,536",
        ),
        (
            lambda c, d1, d2, kw: line(_M, c, torch.zeros(3), "digits"),
            r"line: b of shape \(3,\) must be \[610\]",
        ),
        (
            lambda c, d1, d2, kw: plane_through(_M, c, d1, d2, "digits", resolution=1),
            r"plane_through: resolution=1 must be an int >= 2",
        ),
        (
            lambda c, d1, d2, kw: plane_through(_M, c, d1, d2, "digits", resolution=1000),
            r"resolution=1000 gives 1,000,000 points; at most MAX_GRID_POINTS = 65,536 "
            r"\(resolution <= 256\)",
        ),
        (
            lambda c, d1, d2, kw: window_axes((-1, 1), (-1, 1), resolution=1),
            r"window_axes: resolution=1 must be an int >= 2",
        ),
        (
            lambda c, d1, d2, kw: window_axes((1, -1), (-1, 1)),
            r"window_axes: alpha_range=\(1, -1\) must be finite with lo < hi",
        ),
        (
            lambda c, d1, d2, kw: iter_plane(_M, c, d1, d2, "digits", **kw | dict(block=0)),
            r"iter_plane: block=0 must be an int >= 1",
        ),
        (
            lambda c, d1, d2, kw: iter_plane(_M, c, d1, d2, "digits", **kw | dict(order="spiral")),
            r"iter_plane: order='spiral'; allowed: 'coarse-to-fine', 'rows'",
        ),
        (
            lambda c, d1, d2, kw: iter_plane(_M, c, d1, d2[:-1], "digits", **kw),
            r"iter_plane: d2 of shape \(609,\) must be \[610\]",
        ),
        (lambda c, d1, d2, kw: GridCache(maxsize=0), r"GridCache: maxsize=0 must be an int >= 1"),
    ],
)
def test_bad_input_is_a_named_error_at_the_call(call, message):
    center, d1, d2, kw = _bad()
    with pytest.raises(ValueError, match=message):
        call(center, d1, d2, kw)  # iter_plane raises at the call, before any next()


def test_the_cap_is_a_256_by_256_grid():
    assert MAX_GRID_POINTS == 256 * 256
    a, b = window_axes((-1, 1), (0, 2), 256)
    assert a.size * b.size == MAX_GRID_POINTS


class _Counter:
    """Counts SliceEvaluator calls (blocks evaluated) and the points they evaluate."""

    def __init__(self, monkeypatch):
        self.calls, self.points = 0, 0
        original = SliceEvaluator.__call__

        def counting(ev, coords):
            self.calls += 1
            self.points += len(coords)
            return original(ev, coords)

        monkeypatch.setattr(SliceEvaluator, "__call__", counting)


def test_a_progressive_grid_fills_in_coarse_to_fine_and_ends_as_plane(monkeypatch):
    model = MLP(hidden=(16,))
    _, center, d1, d2 = _center_and_dirs(model, "digits")
    alphas, betas = window_axes((-1, 1), (-0.5, 1.5), 11)
    kw = dict(alphas=alphas, betas=betas, size=64)
    whole = plane(model, center, d1, d2, "digits", **kw)
    counter = _Counter(monkeypatch)
    grids = list(iter_plane(model, center, d1, d2, "digits", block=20, **kw))
    last = grids[-1]
    assert last.attrs["done"] == last.attrs["total"] == 121
    np.testing.assert_allclose(last.loss.values, whole.loss.values, rtol=0, atol=1e-6)
    np.testing.assert_allclose(last.acc.values, whole.acc.values, rtol=0, atol=1e-6)
    assert last.loss.dims == whole.loss.dims and (last.alpha == whole.alpha).all()
    assert {k: v for k, v in last.attrs.items() if k in whole.attrs} == whole.attrs
    done = [g.attrs["done"] for g in grids]
    assert done == sorted(set(done)) and done[0] > 0  # strictly increasing
    assert counter.calls == len(grids) and counter.points == 121  # every point once
    nans = [int(g.loss.isnull().sum()) for g in grids]
    assert nans == [121 - d for d in done] and nans[-1] == 0
    # the first yield is the coarse sketch: every 4th row and column, and the last ones
    first = ~np.isnan(grids[0].loss.values)
    keep = np.zeros(11, bool)
    keep[[0, 4, 8, 10]] = True
    assert (first == (keep[:, None] & keep[None, :])).all()
    for g in grids:  # a point computed early keeps its value
        seen = ~np.isnan(g.loss.values)
        np.testing.assert_array_equal(g.loss.values[seen], last.loss.values[seen])
    levels = refinement_order(11, 11)
    assert [lv.size for lv in levels] == [16, 20, 85]
    assert np.array_equal(np.sort(np.concatenate(levels)), np.arange(121))


def test_stopping_the_iteration_cancels_the_rest(monkeypatch):
    model = MLP(hidden=(16,))
    _, center, d1, d2 = _center_and_dirs(model, "digits")
    counter = _Counter(monkeypatch)
    alphas, betas = window_axes((-1, 1), (-1, 1), 9)
    it = iter_plane(
        model, center, d1, d2, "digits", alphas=alphas, betas=betas, size=32, block=8, order="rows"
    )
    first = next(it)
    assert first.attrs["done"] == 8 and not np.isnan(first.loss.values[0, :8]).any()
    it.close()  # the page's flag was set: stop
    assert counter.calls == 1


def test_the_cache_returns_a_computed_window_without_computing_it(monkeypatch):
    model = MLP(hidden=(16,))
    _, center, d1, d2 = _center_and_dirs(model, "digits")
    counter = _Counter(monkeypatch)
    cache = GridCache(maxsize=2)
    win = dict(zip(("alphas", "betas"), window_axes((-1, 1), (-1, 1), 5), strict=True))
    zoom = dict(zip(("alphas", "betas"), window_axes((-0.5, 0.5), (-0.5, 0.5), 5), strict=True))
    a = cache.plane(model, center, d1, d2, "digits", size=32, **win)
    assert counter.calls == 1
    again = cache.plane(model, center.clone(), d1.clone(), d2, "digits", size=32, **win)
    assert again is a and counter.calls == 1 and (cache.hits, cache.misses) == (1, 1)
    # through iter_plane: a stored window is yielded once, at once
    assert list(cache.iter_plane(model, center, d1, d2, "digits", size=32, **win)) == [a]
    assert counter.calls == 1
    # a new window: computed progressively, stored when done, then a hit
    grids = list(cache.iter_plane(model, center, d1, d2, "digits", size=32, block=4, **zoom))
    assert len(grids) > 1 and counter.calls == len(grids) + 1
    assert list(cache.iter_plane(model, center, d1, d2, "digits", size=32, **zoom)) == [grids[-1]]
    # anything that changes the grid is another key: the probe, a direction, the resolution
    calls = counter.calls
    cache.plane(model, center, d1, d2, "digits", size=48, **win)
    assert counter.calls == calls + 1 and len(cache) == 2  # LRU: maxsize 2
    assert cache.plane(model, center, d1, d2, "digits", size=32, **win) is not a  # evicted
    k = GridCache.key(model, center, d1, d2, "digits", size=32, **win)
    assert k != GridCache.key(model, center, d2, d1, "digits", size=32, **win)
    assert k != GridCache.key(
        model, center, d1, d2, "digits", size=32, alphas=np.linspace(-1, 1, 6), betas=win["betas"]
    )
    assert k == GridCache.key(model, center.clone(), d1, d2, data_spec("digits"), size=32, **win)
    # a cancelled window is not stored
    before = len(cache._items)
    it = cache.iter_plane(model, center, d1, d2, "digits", size=16, block=4, **win)
    next(it)
    it.close()
    assert (
        len(cache._items) == before
        and GridCache.key(model, center, d1, d2, "digits", size=16, **win) not in cache
    )


def test_tensor_digest_is_by_content():
    t = torch.arange(6.0)
    assert tensor_digest(t[::2]) == tensor_digest(torch.tensor([0.0, 2.0, 4.0]))
    assert tensor_digest(t) != tensor_digest(t.double())
    assert tensor_digest(t) != tensor_digest(t.view(2, 3))
    u = t.clone()
    u[5] += 1e-6
    assert tensor_digest(t) != tensor_digest(u)
