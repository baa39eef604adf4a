"""Fitting a law to the runs of a :func:`workbench.run` Dataset.

:func:`curves_of` picks the ``(lrs, losses, steps)`` curves of runs out of a Dataset (the median
over a group of seeds); :func:`fit_dataset` fits a law to them.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ._common import Curve
from .fitting import FittedLaw, _Law
from .laws import LAWS

_TARGETS = ("train_loss", "eval_loss")


def curves_of(
    ds: xr.Dataset, runs: Sequence[int | Sequence[int]], *, target: str = "train_loss"
) -> list[Curve]:
    """``(lrs, losses, steps)`` curves of runs of a :func:`workbench.run` Dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Results with ``lr`` and ``target``.
    runs : sequence of int or of sequences of int
        Positional run indices. A group of runs (e.g. the seeds of one schedule) gives one
        curve: the median over the group at each step (their LR schedules must agree).
    target : {"train_loss", "eval_loss"}
        ``train_loss`` is measured before each update (steps ``0 .. T-1``); ``eval_loss``
        after ``eval_step`` updates.

    Returns
    -------
    list of (lrs, losses, steps)

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), optimizer=wb.SGD(lr=0.1),
    ...                   steps=20, batch_size=32, eval_every=10)
    >>> ds = wb.run(wb.grid(spec, {"seed": [0, 1]}))
    >>> [(c[0].shape, c[2].tolist()) for c in curves_of(ds, [[0, 1]], target="eval_loss")]
    [((20,), [0, 10, 20])]
    """
    if target not in _TARGETS:
        raise ValueError(f"curves_of: target={target!r} must be one of {_TARGETS}")
    for var in ("lr", target):
        if var not in ds:
            raise ValueError(f"curves_of: the Dataset has no {var!r} variable")
    if isinstance(runs, numbers.Integral) or not isinstance(runs, Sequence) or not runs:
        raise ValueError(f"curves_of: runs={runs!r} must be a non-empty list of run indices")
    n = ds.sizes["run"]
    out = []
    for g in runs:
        group = [g] if isinstance(g, numbers.Integral) else list(g)
        if not group or not all(isinstance(r, numbers.Integral) and 0 <= r < n for r in group):
            raise ValueError(f"curves_of: runs entry {g!r} must be run indices in [0, {n})")
        diverged = [r for r in group if "diverged_step" in ds and ds.diverged_step[r] >= 0]
        if diverged:
            raise ValueError(f"curves_of: runs {diverged} diverged; their curves cannot be fitted")
        lrs = ds.lr.values[group].astype(np.float64)  # (runs, T)
        if not np.allclose(lrs, lrs[0], rtol=1e-6, atol=0.0):
            raise ValueError(f"curves_of: runs {group} have different LR schedules; group seeds")
        y = ds[target].values[group].astype(np.float64)
        if target == "train_loss":
            steps = np.arange(y.shape[1])
        else:
            steps = ds.eval_step.values.astype(np.int64)
            ok = np.isfinite(y).all(axis=0)  # eval steps of other runs are NaN here
            steps, y = steps[ok], y[:, ok]
        out.append((lrs[0], np.median(y, axis=0), steps))
    return out


def fit_dataset(
    ds: xr.Dataset,
    runs: Sequence[int | Sequence[int]],
    *,
    law: str | _Law = "multi_power",
    target: str = "train_loss",
    smooth: int | None = None,
    skip: int = 0,
    **fit_kwargs: Any,
) -> FittedLaw:
    """Fit a law to runs of a :func:`workbench.run` Dataset (see :func:`curves_of`).

    Parameters
    ----------
    ds : xarray.Dataset
    runs : sequence of int or of sequences of int
        Runs to fit jointly; a group of runs is fitted as its median curve.
    law : {"multi_power", "lr_annealing"} or a law object
    target : {"train_loss", "eval_loss"}
    smooth : int, optional
        Block size of the averaging (see :meth:`MultiPowerLaw.fit`); default 1 for
        ``eval_loss`` and ``T // 100`` (at least 1) for the noisy ``train_loss``.
    skip : int, default 0
        Leave out points measured after at most ``skip`` updates.
    **fit_kwargs
        Passed to the law's ``fit``.

    Returns
    -------
    FittedLaw

    Examples
    --------
    >>> import workbench as wb
    >>> lrs = [wb.schedules.constant(value=0.05), wb.schedules.cosine(peak=0.05, steps=60)]
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(16,)), optimizer=wb.SGD(lr=0.05),
    ...                   steps=60, batch_size=64, eval_every=5)
    >>> ds = wb.run(wb.grid(spec, {"optimizer.lr": lrs}))
    >>> f = fit_dataset(ds, [0, 1], law="lr_annealing", target="eval_loss", skip=5)
    >>> f.law, sorted(f.params)
    ('lr_annealing', ['A', 'C', 'L0', 'alpha', 'lam'])
    """
    if isinstance(law, str):
        if law not in LAWS:
            raise ValueError(f"fit_dataset: law={law!r} must be one of {list(LAWS)}")
        law = LAWS[law]()
    if smooth is None:
        smooth = 1 if target == "eval_loss" else max(1, ds.sizes.get("step", 1) // 100)
    return law.fit(curves_of(ds, runs, target=target), skip=skip, smooth=smooth, **fit_kwargs)
