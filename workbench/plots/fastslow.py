"""Figures of fast and slow weights: copies overlaid, drift recovery, the stability-plasticity
plane and the effective horizon.

- :func:`copy_curves`: test loss, test accuracy and the distance from the fast weights of every
  weight copy (fast solid, Lookahead's slow dashed, EMAs dotted...), median over seeds per group;
- :func:`memory_curves` and :func:`drift_recovery`: the loss on each incoming batch of a slow
  model alone (``train_loss``) and with its error memory (``corrected_loss``), over the run and
  around each drift; :func:`drift_table`, the mean over the first steps after a drift;
- :func:`plasticity_plane`: old-task accuracy at the end (stability) against accuracy on each
  task right after learning it (plasticity), one point per group and copy, the Pareto front;
- :func:`horizon_figure`: each slow copy's final test loss against its effective horizon.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from .. import continual
from ._common import _groups, _knob_marks, _median, _message
from .colours import ColourMap, colour_of

__all__ = [
    "copy_curves",
    "drift_recovery",
    "drift_table",
    "horizon_figure",
    "memory_curves",
    "plasticity_plane",
    "plasticity_table",
]

DASHES = {"fast": "solid", "slow": "dash", "ema": "dot", "plastic": "dashdot", "stable": "longdash"}
Colours = ColourMap | Mapping[str, str] | None
# live knob changes marked on the curves, and how (see workbench.slow.knobs)
KNOB_MARKS = {
    "lookahead_alpha": "α →",
    "lookahead_k": "k →",
    "ema_beta": "β →",
    "consistency": "consistency →",
    "memory_weight": "λ →",
    "backbone_lr": "ratio →",
}


def _dash(copy: str) -> str:
    return DASHES.get(copy, "dot")


def _layout(fig: go.Figure, title: str | None, height: int = 420) -> go.Figure:
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=height,
        legend=dict(orientation="h", yanchor="top", y=-0.18, x=0),
        margin=dict(t=60 if title else 40, b=40),
    )
    return fig


def copy_curves(
    ds: xr.Dataset,
    *,
    by="name",
    colours: Colours = None,
    highlight: int | None = None,
    title: str | None = None,
    **_,
) -> go.Figure:
    """Test loss, test accuracy and ``‖copy − fast‖`` of every weight copy against the step:
    one colour per group (median over its runs), one dash per copy. ``highlight`` (a run)
    adds that run's own lines. Every trace's ``meta`` is ``{"group": g, "copy": c, "panel": k}``.

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=20, batch_size=32,
    ...                   eval_every=10, slow=wb.Slow(ema=wb.EMA(beta=0.9)))
    >>> fig = copy_curves(wb.run([spec]))
    >>> sorted({(t.meta["copy"], t.meta["panel"]) for t in fig.data})[:3]
    [('ema', 'acc'), ('ema', 'distance'), ('ema', 'loss')]
    """
    if "copy_eval_loss" not in ds:
        return _message(
            "These runs have no slow weight copies (Slow(lookahead=..., ema=...)).", title
        )
    _, members, _, legend = _groups(ds, by)
    cmap = colour_of(colours)
    panels = (
        ("loss", "copy_eval_loss", "test loss"),
        ("acc", "copy_eval_acc", "test accuracy"),
        ("distance", "copy_distance", "‖copy − fast‖"),
    )
    fig = make_subplots(
        rows=1, cols=3, subplot_titles=[p[2] for p in panels], horizontal_spacing=0.07
    )
    x = ds.eval_step.values
    for g, runs in members.items():
        colour = cmap[g]
        for copy in ds["copy"].values.tolist():
            for k, (key, var, _) in enumerate(panels):
                if key == "distance" and copy == "fast":
                    continue
                values = ds[var].sel(copy=copy).values[runs]
                if not np.isfinite(values).any():
                    continue
                show = highlight is not None and highlight in runs
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=_median(values),
                        mode="lines",
                        name=f"{legend[g]} · {copy}",
                        legendgroup=f"{g}{copy}",
                        showlegend=key == "loss",
                        line=dict(color=colour, dash=_dash(copy), width=1.5 if show else 2.5),
                        opacity=0.5 if show else 1.0,
                        meta={"group": g, "copy": copy, "panel": key},
                    ),
                    row=1,
                    col=k + 1,
                )
                if show:
                    fig.add_trace(
                        go.Scatter(
                            x=x,
                            y=ds[var].sel(copy=copy).values[highlight],
                            mode="lines",
                            showlegend=False,
                            line=dict(color=colour, dash=_dash(copy), width=3.5),
                            meta={"run": highlight, "copy": copy, "panel": key},
                        ),
                        row=1,
                        col=k + 1,
                    )
    for k in range(3):
        fig.update_xaxes(title_text="step", row=1, col=k + 1)
    _knob_marks(fig, ds, KNOB_MARKS)
    return _layout(fig, title)


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
        with np.errstate(invalid="ignore"):
            import warnings

            with warnings.catch_warnings():
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


def plasticity_table(ds: xr.Dataset, *, accuracy: str = "task_acc", by="name") -> pd.DataFrame:
    """One row per finished run and weight copy: ``plasticity``, the mean accuracy on each task
    right after learning it (the diagonal of the accuracy matrix), and ``stability``, the mean
    accuracy on the tasks before the last at the end. ``accuracy`` is ``task_acc`` (class-IL)
    or ``task_acc_til`` (task-IL); copies (:mod:`workbench.slow`) are measured on class-IL."""
    if accuracy not in ds:
        return pd.DataFrame()
    labels, _, _, _ = _groups(ds, by)
    copies = ds["copy"].values.tolist() if "copy_task_acc" in ds else ["fast"]
    rows = []
    for copy in copies:
        if copy == "fast":
            acc = ds[accuracy]
        else:
            acc = ds["copy_task_acc"].sel(copy=copy, drop=True)
        R = continual.accuracy_matrix(ds.assign(task_acc=acc), partial=True).values
        for r in range(R.shape[0]):
            last = R[r, -1]
            if not np.isfinite(last).all():
                continue  # not finished
            rows.append(
                {
                    "run": r,
                    "group": labels[r],
                    "copy": copy,
                    "plasticity": float(np.nanmean(np.diag(R[r]))),
                    "stability": float(np.nanmean(last[:-1])),
                }
            )
    return pd.DataFrame(rows)


def _pareto(points: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both coordinates (higher is better),
    sorted by the first coordinate."""
    keep = [
        i for i, p in enumerate(points) if not any((q >= p).all() and (q > p).any() for q in points)
    ]
    return np.asarray(sorted(keep, key=lambda i: points[i][0]), dtype=int)


def plasticity_plane(
    ds: xr.Dataset,
    *,
    accuracy: str = "task_acc",
    by="name",
    colours: Colours = None,
    title: str | None = None,
) -> go.Figure:
    """Stability (old tasks at the end) against plasticity (each task right after learning it)
    of every finished run (small markers) and each group's median (large; one marker per
    weight copy), with the Pareto front of the medians: up and right is better on both."""
    table = plasticity_table(ds, accuracy=accuracy, by=by)
    if table.empty:
        return _message(
            "No run has finished yet: the plane needs each run's last evaluation.", title
        )
    cmap = colour_of(colours)
    symbols = {
        "fast": "circle",
        "slow": "diamond",
        "ema": "square",
        "plastic": "triangle-up",
        "stable": "star",
    }
    fig = go.Figure()
    med = (
        table.groupby(["group", "copy"], sort=False)[["plasticity", "stability"]]
        .median()
        .reset_index()
    )
    for row in table.itertuples():
        fig.add_trace(
            go.Scatter(
                x=[row.plasticity],
                y=[row.stability],
                mode="markers",
                showlegend=False,
                marker=dict(
                    color=cmap[row.group], size=6, opacity=0.4, symbol=symbols.get(row.copy, "x")
                ),
                meta={"run": int(row.run), "copy": row.copy},
                hovertemplate=f"run {row.run} · {row.group} · {row.copy}<extra></extra>",
            )
        )
    for row in med.itertuples():
        fig.add_trace(
            go.Scatter(
                x=[row.plasticity],
                y=[row.stability],
                mode="markers",
                name=f"{row.group} · {row.copy}",
                marker=dict(color=cmap[row.group], size=14, symbol=symbols.get(row.copy, "x")),
                meta={"group": row.group, "copy": row.copy},
            )
        )
    front = _pareto(med[["plasticity", "stability"]].to_numpy())
    if len(front) > 1:
        fig.add_trace(
            go.Scatter(
                x=med["plasticity"].to_numpy()[front],
                y=med["stability"].to_numpy()[front],
                mode="lines",
                name="Pareto front",
                line=dict(color="#6b7280", dash="dot"),
                meta={"front": True},
            )
        )
    kind = "task-IL" if accuracy == "task_acc_til" else "class-IL"
    fig.update_xaxes(title_text=f"plasticity: accuracy on each task right after it ({kind})")
    fig.update_yaxes(title_text=f"stability: accuracy on old tasks at the end ({kind})")
    return _layout(fig, title or "Stability and plasticity", height=480)


def horizon_figure(
    ds: xr.Dataset, *, by="name", colours: Colours = None, title: str | None = None
) -> go.Figure:
    """Each slow copy's final test loss against its effective horizon (steps, log axis), one
    marker per group (median over seeds; Lookahead diamonds, EMAs squares), the fast weights'
    median final loss dashed."""
    if "horizon" not in ds or "copy_eval_loss" not in ds:
        return _message("The horizon view needs runs with slow weight copies.", title)
    _, members, _, legend = _groups(ds, by)
    cmap = colour_of(colours)
    fig = go.Figure()
    last = ds.copy_eval_loss.isel(eval_step=-1)
    for kind, copy, symbol in (("Lookahead", "slow", "diamond"), ("EMA", "ema", "square")):
        if copy not in ds["copy"].values:
            continue
        xs, ys, names = [], [], []
        for g, runs in members.items():
            h = ds.horizon.sel(copy=copy).values[runs, -1]
            y = last.sel(copy=copy).values[runs]
            if not np.isfinite(h).any() or not np.isfinite(y).any():
                continue
            xs.append(float(np.nanmedian(h)))
            ys.append(float(np.nanmedian(y)))
            names.append(legend[g])
        order = np.argsort(xs)
        fig.add_trace(
            go.Scatter(
                x=np.asarray(xs)[order],
                y=np.asarray(ys)[order],
                mode="lines+markers",
                name=kind,
                text=np.asarray(names)[order],
                marker=dict(size=11, symbol=symbol, color=cmap[kind]),
                line=dict(color=cmap[kind], width=2.5),
                hovertemplate="%{text}: horizon %{x:.0f} steps, final loss %{y:.3f}<extra></extra>",
                meta={"mechanism": kind},
            )
        )
    fast = last.sel(copy="fast").values
    if np.isfinite(fast).any():
        fig.add_hline(
            y=float(np.nanmedian(fast)),
            line=dict(color="#6b7280", dash="dash"),
            annotation_text="fast weights",
        )
    fig.update_xaxes(type="log", title_text="effective horizon (steps the slow copy averages over)")
    fig.update_yaxes(title_text="final test loss")
    return _layout(fig, title or "One axis for all: the effective horizon")
