"""Figures of a slow model with a fast error memory on a drifting stream
(:class:`~workbench.slow.ErrorMemory`): the loss on each incoming batch, before the step, of the
slow model alone (``train_loss``) and corrected by its memory (``corrected_loss``), over the
run (:func:`memory_curves`) and around each drift (:func:`drift_recovery`, :func:`drift_table`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xarray as xr

from ._common import _groups, _knob_marks, _layout, _median, _message
from .colours import Colours, colour_of

__all__ = ["KNOB_MARKS", "drift_recovery", "drift_table", "memory_curves"]

# live knob changes of the fast/slow mechanisms marked on curves, and how (workbench.slow.knobs)
KNOB_MARKS = {
    "lookahead_alpha": "α →",
    "lookahead_k": "k →",
    "ema_beta": "β →",
    "consistency": "consistency →",
    "memory_weight": "λ →",
    "backbone_lr": "ratio →",
}


def _smooth(v: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average along the last axis (NaN-aware, same length)."""
    if window <= 1:
        return v
    ok = np.isfinite(v)
    c = np.cumsum(np.where(ok, v, 0.0), -1)
    n = np.cumsum(ok, -1)
    c[..., window:] = c[..., window:] - c[..., :-window]
    n[..., window:] = n[..., window:] - n[..., :-window]
    with np.errstate(invalid="ignore"):
        return np.where(n > 0, c / np.maximum(n, 1), np.nan)


def memory_curves(
    ds: xr.Dataset,
    *,
    by="name",
    colours: Colours = None,
    window: int = 25,
    title: str | None = None,
    **_,
) -> go.Figure:
    """The loss on each incoming batch (before the step: test-then-train), smoothed over
    ``window`` steps, of the slow model alone (``train_loss``, solid) and with its error memory
    (``corrected_loss``, dashed), median per group; the drifts (task switches) dotted."""
    if "corrected_loss" not in ds:
        return _message("These runs have no error memory (Slow(error_memory=...)).", title)
    _, members, _, legend = _groups(ds, by)
    cmap = colour_of(colours)
    fig = go.Figure()
    x = ds.step.values
    for g, runs in members.items():
        for var, dash, what in (
            ("train_loss", "solid", "slow model alone"),
            ("corrected_loss", "dash", "with error memory"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=_median(_smooth(ds[var].values[runs], window)),
                    mode="lines",
                    name=f"{legend[g]} · {what}",
                    line=dict(color=cmap[g], dash=dash, width=2.5),
                    meta={"group": g, "var": var},
                )
            )
    for s in _drifts(ds):
        fig.add_vline(x=s, line=dict(color="#9ca3af", dash="dot", width=1))
    _knob_marks(fig, ds, KNOB_MARKS)
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text=f"loss on the incoming batch ({window}-step mean)")
    return _layout(fig, title)


def _drifts(ds: xr.Dataset) -> list[int]:
    """The steps where a new segment (a drift) starts, common to the runs."""
    if "task_start" not in ds.coords:
        return []
    starts = ds.task_start.values[0]
    return [int(s) for s in starts[1:] if s > 0]


def _windows(ds: xr.Dataset, var: str, before: int, after: int) -> np.ndarray:
    """``[run, before + after]``: ``var`` around each drift (steps ``s - before .. s + after - 1``),
    the mean over the drifts each run has reached."""
    out = np.full((ds.sizes["run"], before + after), np.nan)
    values = ds[var].values
    n = values.shape[1]
    stacks = []
    for s in _drifts(ds):
        lo, hi = s - before, s + after
        w = np.full((values.shape[0], before + after), np.nan)
        a, b = max(lo, 0), min(hi, n)
        if a < b:
            w[:, a - lo : b - lo] = values[:, a:b]
        stacks.append(w)
    if stacks:
        with warnings.catch_warnings():  # a run that has not reached a drift yet: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            out = np.nanmean(np.stack(stacks), 0)
    return out


def drift_recovery(
    ds: xr.Dataset,
    *,
    by="name",
    colours: Colours = None,
    before: int = 20,
    after: int = 150,
    window: int = 5,
    title: str | None = None,
) -> go.Figure:
    """The loss on the incoming batch around a drift (mean over the drifts, median over seeds
    per group, a ``window``-step moving average), slow model alone (solid) against the slow
    model with its error memory (dashed), against steps since the drift."""
    if "corrected_loss" not in ds or not _drifts(ds):
        return _message(
            "Drift recovery needs runs with an error memory on a drifting stream.", title
        )
    _, members, _, legend = _groups(ds, by)
    cmap = colour_of(colours)
    fig = go.Figure()
    x = np.arange(-before, after)
    for g, runs in members.items():
        for var, dash, what in (
            ("train_loss", "solid", "slow model alone"),
            ("corrected_loss", "dash", "with error memory"),
        ):
            y = _median(_smooth(_windows(ds, var, before, after)[runs], window))
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    mode="lines",
                    name=f"{legend[g]} · {what}",
                    line=dict(color=cmap[g], dash=dash, width=2.5),
                    meta={"group": g, "var": var},
                )
            )
    fig.add_vline(x=0, line=dict(color="#9ca3af", dash="dot"))
    fig.update_xaxes(title_text="steps since the drift")
    fig.update_yaxes(title_text="loss on the incoming batch")
    return _layout(fig, title or "Recovery after a drift")


def drift_table(ds: xr.Dataset, *, steps: int = 50, by="name") -> pd.DataFrame:
    """Per group: the mean loss over the first ``steps`` steps after a drift (mean over drifts,
    median over seeds), slow model alone and with the error memory, and their ratio."""
    if "corrected_loss" not in ds or not _drifts(ds):
        return pd.DataFrame()
    _, members, _, legend = _groups(ds, by)
    alone = np.nanmean(_windows(ds, "train_loss", 0, steps), 1)
    memory = np.nanmean(_windows(ds, "corrected_loss", 0, steps), 1)
    rows = []
    for g, runs in members.items():
        a, m = float(np.median(alone[runs])), float(np.median(memory[runs]))
        rows.append(
            {
                "runs": legend[g],
                f"slow alone, first {steps} steps": a,
                f"with memory, first {steps} steps": m,
                "ratio": m / a if a else np.nan,
            }
        )
    return pd.DataFrame(rows)
