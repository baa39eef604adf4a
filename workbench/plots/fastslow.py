"""Figures of fast and slow weights: copies overlaid, drift recovery, the stability-plasticity
plane and the effective horizon.

- :func:`copy_curves`: test loss, test accuracy and the distance from the fast weights of every
  weight copy (fast solid, Lookahead's slow dashed, EMAs dotted...), median over seeds per group;
- :func:`memory_curves`, :func:`drift_recovery` and :func:`drift_table` (from :mod:`.drift`):
  the loss on each incoming batch of a slow model alone and with its error memory;
- :func:`plasticity_plane`: old-task accuracy at the end (stability) against accuracy on each
  task right after learning it (plasticity), one point per group and copy, the Pareto front;
- :func:`horizon_figure`: each slow copy's final test loss against its effective horizon.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from .. import continual
from ._common import _groups, _knob_marks, _layout, _median, _message
from .colours import Colours, colour_of
from .drift import KNOB_MARKS, drift_recovery, drift_table, memory_curves

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


def _dash(copy: str) -> str:
    return DASHES.get(copy, "dot")


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
