"""Stability thresholds and the sharpness they are about, per run of a results Dataset.

The edge of stability compares a run's sharpness with the largest curvature its update can
follow on a quadratic: :func:`stability_threshold` is that threshold at every step (from the LR
the run actually used, live changes included), :func:`sharpness_of` the matching sharpness
(the preconditioned one for Adam). Figures (:mod:`workbench.plots.sharpness`) and tables read
both from here.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

__all__ = ["stability_threshold", "sharpness_of", "is_adam"]


def is_adam(ds: xr.Dataset) -> np.ndarray:
    """Per run: whether it is an Adam(W) run (it records ``beta1``)."""
    if "beta1" not in ds:
        return np.zeros(ds.sizes["run"], bool)
    return np.isfinite(ds.beta1.values).any(axis=1)


def stability_threshold(ds: xr.Dataset) -> xr.DataArray:
    """``(run, step)``: the sharpness above which the run's update is unstable on a quadratic
    with the learning rate ``η(t)`` of that step (``ds.lr``, live LR changes included): ``2/η``
    for gradient descent, ``(2 + 2μ)/η`` with heavy-ball momentum ``μ``, and for Adam(W)
    ``(2 + 2β1)/((1 − β1)·η)`` (Cohen et al. 2022; compared with the *preconditioned*
    sharpness, see :func:`sharpness_of`). NaN where ``η = 0`` or the step is not reached yet.
    ``attrs["formula"]`` names it per run.

    Examples
    --------
    >>> ds = xr.Dataset({"lr": (("run", "step"), [[0.1, 0.1], [0.5, 0.0]])})
    >>> stability_threshold(ds).values.tolist()
    [[20.0, 20.0], [4.0, nan]]
    """
    lr = ds.lr.values.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = ds.momentum.values.astype(np.float64) if "momentum" in ds else np.zeros_like(lr)
        mu = np.where(np.isfinite(mu), mu, 0.0)
        thr = (2 + 2 * mu) / lr
        adam = is_adam(ds)
        if adam.any():
            b1 = ds.beta1.values.astype(np.float64)
            thr = np.where(adam[:, None], (2 + 2 * b1) / ((1 - b1) * lr), thr)
    thr = np.where(np.isfinite(thr) & (lr > 0), thr, np.nan)
    formula = [
        "(2 + 2β1)/((1 − β1)η)" if a else ("(2 + 2μ)/η" if np.nanmax(m, initial=0) > 0 else "2/η")
        for a, m in zip(is_adam(ds), mu, strict=True)
    ]
    return xr.DataArray(
        thr,
        dims=("run", "step"),
        coords={k: v for k, v in ds.lr.coords.items()},
        name="stability_threshold",
        attrs={"formula": json.dumps(formula, ensure_ascii=False)},
    )


def sharpness_of(ds: xr.Dataset) -> xr.DataArray:
    """``(run, sharp_step)``: the sharpness each run's threshold (:func:`stability_threshold`)
    is about: the top Hessian eigenvalue, or for Adam(W) runs the preconditioned one
    (``sharpness_pre``). Raises a ValueError if the runs recorded no sharpness."""
    if "sharpness" not in ds or ds.sizes.get("sharp_step", 0) == 0:
        raise ValueError(
            "sharpness_of: no sharpness in this Dataset; train with "
            "RunSpec(track=Track(sharpness_every=k))"
        )
    out = ds.sharpness.astype(np.float64)
    adam = is_adam(ds)
    if adam.any() and "sharpness_pre" in ds:
        out = xr.where(xr.DataArray(adam, dims="run"), ds.sharpness_pre, out)
    return out.rename("sharpness")
