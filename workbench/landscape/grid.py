"""Grids that show themselves while they fill in, and a cache of the windows already computed.

A dashboard cannot wait for a whole 51 x 51 plane: :func:`iter_plane` computes it block by
block and yields the grid after every block, NaN where no point is computed yet, so the page
can redraw as it goes. In ``"coarse-to-fine"`` order every 4th point of each axis comes first
(with the last row and column, so the first picture spans the whole window), then every 2nd,
then the rest: a 51 x 51 grid shows its 14 x 14 sketch after 196 of its 2,601 points.
Cancelling is stopping the iteration (run it in a thread, check a flag between blocks): the
points not reached are never computed.

:class:`GridCache` keeps the last few windows computed (a bounded LRU), keyed by what
determines a grid: the architecture, the data and its probe (split, size), the center and the
directions (hashed by content, so an equal tensor is the same key), the axes (window ranges and
resolution) and the provenance. Zooming back to a window already seen returns it at once.

Examples
--------
>>> import threading
>>> from workbench.models import MLP, StackedModel
>>> from workbench.landscape import random_direction
>>> m = StackedModel(MLP(hidden=(8,)), in_dim=64, out_dim=10, seeds=[0])
>>> d1, d2 = (random_direction(m.layout, s, theta=m.flat[0]) for s in (1, 2))
>>> alphas, betas = window_axes((-1, 1), (-1, 1), 9)
>>> stop = threading.Event()  # set by the page to cancel
>>> for ds in iter_plane(MLP(hidden=(8,)), m.flat[0], d1, d2, "digits", alphas=alphas,
...                      betas=betas, size=64, block=16):
...     print(ds.attrs["done"], ds.attrs["total"], int(ds.loss.isnull().sum()))
...     if stop.is_set():
...         break
9 81 72
25 81 56
41 81 40
57 81 24
73 81 8
81 81 0
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence

import numpy as np
import torch
import xarray as xr

from .. import data as _data
from ..models import MLP, Transformer
from .evaluate import SliceEvaluator
from .slices import (
    MAX_GRID_POINTS,
    _plane_coords,
    _plane_dataset,
    _plane_inputs,
    _resolution,
)

__all__ = ["ORDERS", "GridCache", "iter_plane", "refinement_order", "tensor_digest", "window_axes"]

#: The orders :func:`iter_plane` computes a grid in.
ORDERS = ("coarse-to-fine", "rows")
_STRIDES = (4, 2, 1)  # coarse-to-fine: every 4th point, every 2nd, the rest


def window_axes(
    alpha_range: tuple[float, float], beta_range: tuple[float, float], resolution: int = 51
) -> tuple[np.ndarray, np.ndarray]:
    """The axes ``(alphas, betas)`` of a window: ``resolution`` evenly spaced values over each
    range (``lo < hi``, finite; ``resolution`` from 2 to 256).

    Examples
    --------
    >>> a, b = window_axes((-1, 1), (0, 2), 5)
    >>> a.tolist(), b.tolist()
    ([-1.0, -0.5, 0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 1.5, 2.0])
    """
    _resolution("window_axes", "resolution", resolution)
    side = int(MAX_GRID_POINTS**0.5)
    if resolution > side:
        raise ValueError(
            f"window_axes: resolution={resolution} gives {resolution**2:,} points; at most "
            f"MAX_GRID_POINTS = {MAX_GRID_POINTS:,} (resolution <= {side})"
        )
    axes = []
    for name, r in (("alpha_range", alpha_range), ("beta_range", beta_range)):
        try:
            lo, hi = (float(v) for v in r)
        except (TypeError, ValueError):
            raise ValueError(f"window_axes: {name}={r!r} must be a pair (lo, hi)") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"window_axes: {name}={r!r} must be finite with lo < hi")
        axes.append(np.linspace(lo, hi, resolution))
    return axes[0], axes[1]


def refinement_order(n_beta: int, n_alpha: int, order: str = "coarse-to-fine") -> list[np.ndarray]:
    """The flat indices (``beta``-major, as the grid's ``loss.values.ravel()``) of a
    ``n_beta x n_alpha`` grid, level by level: ``"coarse-to-fine"`` gives the points on every
    4th row and column (the last row and column included), then every 2nd, then the rest;
    ``"rows"`` one level, row after row. Every point appears once.

    Examples
    --------
    >>> [len(level) for level in refinement_order(51, 51)]
    [196, 480, 1925]
    >>> refinement_order(3, 3, "rows")[0].tolist()
    [0, 1, 2, 3, 4, 5, 6, 7, 8]
    """
    if order not in ORDERS:
        raise ValueError(f"iter_plane: order={order!r}; allowed: {', '.join(map(repr, ORDERS))}")
    if order == "rows":
        return [np.arange(n_beta * n_alpha)]
    done = np.zeros((n_beta, n_alpha), dtype=bool)
    levels = []
    for s in _STRIDES:
        rows = np.zeros(n_beta, dtype=bool)
        cols = np.zeros(n_alpha, dtype=bool)
        rows[::s], cols[::s] = True, True
        rows[-1], cols[-1] = True, True
        new = rows[:, None] & cols[None, :] & ~done
        done |= new
        if new.any():
            levels.append(np.flatnonzero(new))
    return levels


def iter_plane(
    model: MLP | Transformer,
    center: torch.Tensor,
    d1: torch.Tensor,
    d2: torch.Tensor,
    data,
    *,
    alphas: Sequence[float],
    betas: Sequence[float],
    split: str = "train",
    size: int = 512,
    chunk: int = 256,
    block: int = 128,
    order: str = "coarse-to-fine",
    provenance: dict | None = None,
) -> Iterator[xr.Dataset]:
    """:func:`~workbench.landscape.plane`, computed ``block`` points at a time: yields the grid
    after every block (a new Dataset each time, dims ``(beta, alpha)``, NaN where not computed
    yet, ``attrs["done"]`` and ``attrs["total"]`` the points computed and in all,
    ``attrs["order"]``); the last one is the whole plane. A block never spans two levels of
    :func:`refinement_order`, so a yield after a level shows that level complete.

    Inputs are checked at the call (the ValueErrors of :func:`~workbench.landscape.plane`,
    and ``block`` an int >= 1, ``order`` one of ``ORDERS``); the probe batch and an MLP's
    first-layer products are computed at the first ``next()`` and shared by all blocks. Stop
    iterating to cancel.
    """
    al, be = _plane_inputs("iter_plane", model, data, center, d1, d2, alphas, betas, chunk)
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"iter_plane: block={block!r} must be an int >= 1")
    levels = refinement_order(be.size, al.size, order)  # checks order
    return _iter_plane(
        model, center, d1, d2, data, al, be, levels, split, size, chunk, block, order, provenance
    )


def _iter_plane(
    model, center, d1, d2, data, al, be, levels, split, size, chunk, block, order, provenance
) -> Iterator[xr.Dataset]:
    ev = SliceEvaluator(model, data, center, [d1, d2], split=split, size=size, chunk=chunk)
    coords = _plane_coords(al, be)
    total = coords.shape[0]
    dtype = np.float64 if center.dtype == torch.float64 else np.float32
    loss = np.full(total, np.nan, dtype=dtype)
    acc = np.full(total, np.nan, dtype=dtype)
    done = 0
    shape = (be.size, al.size)
    for idx in levels:
        for lo in range(0, idx.size, block):
            part = idx[lo : lo + block]
            loss[part], acc[part] = ev(coords[part])
            done += part.size
            yield _plane_dataset(
                al,
                be,
                loss.reshape(shape).copy(),
                acc.reshape(shape).copy(),
                split,
                size,
                provenance,
                done=done,
                total=total,
                order=order,
            )


# -- the cache of windows ----------------------------------------------------------------------


def tensor_digest(t: torch.Tensor) -> str:
    """A content hash of a tensor: its dtype, shape and bytes (BLAKE2b, 128 bits), so equal
    tensors anywhere (any device, any storage) have equal digests.

    Examples
    --------
    >>> tensor_digest(torch.ones(3)) == tensor_digest(torch.ones(6)[::2])
    True
    >>> tensor_digest(torch.ones(3)) == tensor_digest(torch.ones(3, dtype=torch.float64))
    False
    """
    flat = t.detach().reshape(-1).contiguous().cpu()
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{flat.dtype}{tuple(t.shape)}".encode())
    h.update(flat.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class GridCache:
    """The last ``maxsize`` planes computed, least recently used dropped first.

    :meth:`plane` and :meth:`iter_plane` are :func:`~workbench.landscape.plane` and
    :func:`iter_plane` that look the grid up first and store what they finish; a hit returns
    the stored Dataset itself (treat it as read-only). Keys (:meth:`key`) are the
    architecture, the data, the probe (``split``, ``size``), the content hashes of the center
    and both directions, the exact ``alphas`` and ``betas`` and the provenance. Safe to share
    between a page's thread and a worker thread.

    Examples
    --------
    >>> from workbench.models import MLP, StackedModel
    >>> from workbench.landscape import random_direction
    >>> m = StackedModel(MLP(hidden=(8,)), in_dim=64, out_dim=10, seeds=[0])
    >>> d1, d2 = (random_direction(m.layout, s, theta=m.flat[0]) for s in (1, 2))
    >>> cache = GridCache(maxsize=4)
    >>> kw = dict(alphas=[-1, 0, 1], betas=[-1, 0, 1], size=64)
    >>> first = cache.plane(MLP(hidden=(8,)), m.flat[0], d1, d2, "digits", **kw)
    >>> again = cache.plane(MLP(hidden=(8,)), m.flat[0].clone(), d1, d2, "digits", **kw)
    >>> again is first, cache.hits, cache.misses
    (True, 1, 1)
    """

    def __init__(self, maxsize: int = 32) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"GridCache: maxsize={maxsize!r} must be an int >= 1")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Hashable, xr.Dataset] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    @staticmethod
    def key(
        model: MLP | Transformer,
        center: torch.Tensor,
        d1: torch.Tensor,
        d2: torch.Tensor,
        data,
        *,
        alphas: Sequence[float],
        betas: Sequence[float],
        split: str = "train",
        size: int = 512,
        provenance: dict | None = None,
    ) -> tuple:
        """What determines a plane, as a hashable tuple (tensors by content)."""
        spec = _data.data_spec(data) if isinstance(data, str) else data
        return (
            model,
            spec,
            split,
            size,
            tensor_digest(center),
            tensor_digest(d1),
            tensor_digest(d2),
            tuple(np.asarray(alphas, dtype=float).tolist()),
            tuple(np.asarray(betas, dtype=float).tolist()),
            tuple(sorted((str(k), str(v)) for k, v in (provenance or {}).items())),
        )

    def get(self, key: Hashable) -> xr.Dataset | None:
        """The stored grid of ``key`` (now the most recently used), or None; counts the hit or
        miss."""
        with self._lock:
            ds = self._items.get(key)
            if ds is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return ds

    def put(self, key: Hashable, ds: xr.Dataset) -> None:
        """Store ``ds`` under ``key``, dropping the least recently used beyond ``maxsize``."""
        with self._lock:
            self._items[key] = ds
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def plane(
        self,
        model: MLP | Transformer,
        center: torch.Tensor,
        d1: torch.Tensor,
        d2: torch.Tensor,
        data,
        *,
        alphas: Sequence[float],
        betas: Sequence[float],
        split: str = "train",
        size: int = 512,
        chunk: int = 256,
        provenance: dict | None = None,
    ) -> xr.Dataset:
        """The stored plane, or :func:`~workbench.landscape.plane` computed and stored."""
        grids = self.iter_plane(
            model,
            center,
            d1,
            d2,
            data,
            alphas=alphas,
            betas=betas,
            split=split,
            size=size,
            chunk=chunk,
            block=MAX_GRID_POINTS,
            order="rows",
            provenance=provenance,
        )
        *_, ds = grids  # one block: a hit, or the whole plane
        return ds

    def iter_plane(
        self,
        model: MLP | Transformer,
        center: torch.Tensor,
        d1: torch.Tensor,
        d2: torch.Tensor,
        data,
        *,
        alphas: Sequence[float],
        betas: Sequence[float],
        split: str = "train",
        size: int = 512,
        chunk: int = 256,
        block: int = 128,
        order: str = "coarse-to-fine",
        provenance: dict | None = None,
    ) -> Iterator[xr.Dataset]:
        """:func:`iter_plane` through the cache: a stored window is yielded once, at once; a
        new one yields its partial grids and is stored when its last block is done (a
        cancelled one is not stored)."""
        al, be = _plane_inputs("iter_plane", model, data, center, d1, d2, alphas, betas, chunk)
        key = self.key(
            model,
            center,
            d1,
            d2,
            data,
            alphas=al,
            betas=be,
            split=split,
            size=size,
            provenance=provenance,
        )
        hit = self.get(key)
        if hit is not None:
            return iter((hit,))
        grids = iter_plane(
            model,
            center,
            d1,
            d2,
            data,
            alphas=al,
            betas=be,
            split=split,
            size=size,
            chunk=chunk,
            block=block,
            order=order,
            provenance=provenance,
        )
        return self._storing(key, grids)

    def _storing(self, key: Hashable, grids: Iterator[xr.Dataset]) -> Iterator[xr.Dataset]:
        for ds in grids:
            if ds.attrs["done"] == ds.attrs["total"]:
                self.put(key, ds)
            yield ds
