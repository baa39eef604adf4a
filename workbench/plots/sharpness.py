"""The edge of stability as figures: training loss over sharpness against its stability
threshold (:func:`loss_and_sharpness`, the landscape lab's live figure) and a per-group table
(:func:`sharpness_table`). Thresholds and sharpness come from :mod:`workbench.landscape.sharpness`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from ..landscape.sharpness import is_adam as _adam
from ..landscape.sharpness import sharpness_of, stability_threshold
from ._common import _groups, _knob_marks, _log_ticks, _median, _names
from ._curve_parts import _late_range, _runs_trace, _thin
from .colours import DASHES, REFERENCE, ColourMap, colour_of
from .curves import STEP_TITLE, smooth

__all__ = ["loss_and_sharpness", "sharpness_table"]


def _threshold_at(thr: np.ndarray, steps: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``thr [run, step]`` at the steps ``at`` (a sharpness estimate at step s follows s
    updates, the last made with the LR of step s − 1)."""
    col = np.clip(np.asarray(at, int) - 1, 0, len(steps) - 1)
    return thr[:, col]


def _sharp_title(adam: np.ndarray) -> tuple[str, str]:
    if adam.all():
        return "preconditioned sharpness λmax(P⁻¹H) vs (2 + 2β1)/((1 − β1)η)", "λmax(P⁻¹H)"
    if adam.any():
        return "sharpness (Adam runs: preconditioned) vs its stability threshold", "λmax"
    return "sharpness λmax (top Hessian eigenvalue) vs 2/η", "λmax"


def loss_and_sharpness(
    ds: xr.Dataset,
    *,
    by: str | Sequence[str] = ("name",),
    colours: ColourMap | Mapping[str, str] | None = None,
    window: int = 10,
    highlight: int | None = None,
    focus: float | None = None,
    previous: xr.Dataset | None = None,
    title: str | None = None,
) -> go.Figure:
    """Training loss (top) and sharpness against its stability threshold (bottom), per group.

    Runs with the same value of ``by`` (default their ``name``, else their ``group``) form a
    group: its median over seeds is the thick line, each run a thin one (``customdata``: the
    run). In the bottom panel each group's threshold (:func:`stability_threshold`: ``2/η(t)``,
    or Adam's) is a dashed line of the group's colour, following the LR as it changes (a
    schedule, the live LR multiplier); at the edge of stability the sharpness rises to it and
    hovers there (Cohen et al. 2021). The sharpness axis is logarithmic, so a sharpness far
    below its threshold (a small LR) and one at it are both readable. Live LR changes and task
    switches are marked. Works on a sweep still training (NaN beyond the steps reached) and on
    runs without sharpness (the loss panel alone). ``window``, ``highlight``, ``focus`` and
    ``previous`` are as in :func:`~workbench.plots.training_curves`.

    Traces carry ``meta``: ``{"runs": g}`` (a group's thin lines), ``{"group": g, "panel":
    "loss" | "sharpness"}`` (medians), ``{"threshold": g}`` (a threshold line, ``y`` its
    values over ``x`` the steps), ``{"run": i}`` (the highlighted run), ``{"previous": g}``.

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=20, batch_size=32,
    ...                   optimizer=wb.SGD(lr=0.1), track=wb.Track(sharpness_every=10))
    >>> fig = loss_and_sharpness(wb.run([spec]))
    >>> [t.meta for t in fig.data if "threshold" in t.meta][0], float(round(fig.data[-1].y[0], 4))
    ({'threshold': 'all runs'}, 20.0)
    """
    labels, members, styles, legend = _groups(ds, by)
    cmap = colour_of(colours)
    sharp = "sharpness" in ds and ds.sizes.get("sharp_step", 0) > 0
    adam = _adam(ds)
    top = "training loss (smoothed)"
    titles = [top, _sharp_title(adam)[0]] if sharp else [top]
    rows = len(titles)
    fig = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.14, subplot_titles=titles
    )
    lit = labels[highlight] if highlight is not None and highlight < len(labels) else None
    steps = ds.step.values
    loss = smooth(ds.train_loss.values, window)
    traces: list[dict] = []
    if previous is not None:
        traces += _previous(previous, by, window, sharp)
    if sharp:
        values = sharpness_of(ds).values
        sx = ds.sharp_step.values
        thr = stability_threshold(ds).values
    for g, idx in members.items():
        key, variant = styles[g]
        colour, dash = cmap[key], DASHES[variant % len(DASHES)]
        faded = lit is not None and g != lit
        xr_, vr = _thin(steps, loss, 200)
        traces.append(_runs_trace(xr_, vr, idx, colour, g, faded, dash, dict(xaxis="x", yaxis="y")))
        x, v = _thin(steps, loss)
        traces.append(
            dict(
                type="scatter",
                x=x,
                y=_median(v[idx]),
                mode="lines",
                name=legend[g],
                legendgroup=g,
                showlegend=True,
                opacity=0.25 if faded else 1.0,
                line=dict(color=colour, width=2.5, dash=dash),
                meta={"group": g, "panel": "loss"},
                hovertemplate=f"{g}<br>step %{{x}}: loss %{{y:.4g}}<extra></extra>",
            )
        )
        if highlight in idx:
            traces.append(_bold(ds, highlight, x, v[highlight], colour, dash, "x", "y"))
        if not sharp:
            continue
        axes = dict(xaxis="x2", yaxis="y2")
        traces.append(_runs_trace(sx, values, idx, colour, g, faded, dash, axes))
        traces.append(
            dict(
                type="scatter",
                x=sx,
                y=_median(values[idx]),
                mode="lines+markers",
                marker=dict(size=5),
                name=legend[g],
                legendgroup=g,
                showlegend=False,
                connectgaps=True,
                opacity=0.25 if faded else 1.0,
                line=dict(color=colour, width=2.5, dash=dash),
                meta={"group": g, "panel": "sharpness"},
                hovertemplate=f"{g}<br>step %{{x}}: λmax %{{y:.4g}}<extra></extra>",
                **axes,
            )
        )
        if highlight in idx:
            traces.append(_bold(ds, highlight, sx, values[highlight], colour, dash, "x2", "y2"))
        formulas = json.loads(stability_threshold(ds.isel(run=idx[:1])).attrs["formula"])
        seen: set[bytes] = set()
        for i in idx:  # one dashed line per distinct threshold curve of the group
            tx, ty = _thin(steps, thr[i])
            sig = np.nan_to_num(np.round(ty, 6), nan=-1).tobytes()
            if sig in seen:
                continue
            seen.add(sig)
            traces.append(
                dict(
                    type="scatter",
                    x=tx,
                    y=ty,
                    mode="lines",
                    name=f"{formulas[0]} · {g}",
                    legendgroup=g,
                    showlegend=False,
                    opacity=0.25 if faded else 0.9,
                    line=dict(color=colour, width=1.5, dash="dash"),
                    meta={"threshold": g},
                    hovertemplate=f"{g}: {formulas[0]}<br>step %{{x}}: %{{y:.4g}}<extra></extra>",
                    **axes,
                )
            )
    if sharp:  # one legend entry says what the dashed lines are
        words = "(2 + 2β1)/((1 − β1)η)" if adam.all() else "2/η"
        traces.insert(
            0,
            dict(
                type="scatter",
                x=[None],
                y=[None],
                mode="lines",
                name=f"dashed: {words}, the stability threshold",
                line=dict(color=REFERENCE, width=1.5, dash="dash"),
                legendrank=1000,
                hoverinfo="skip",
                meta={"key": "threshold"},
                xaxis="x2",
                yaxis="y2",
            ),
        )
    fig.add_traces(traces)
    _marks(fig, ds)
    span = _late_range(steps, loss, focus, True) if focus is not None else None
    positive = loss[np.isfinite(loss) & (loss > 0)]
    shown = span or (
        [np.log10(positive.min()), np.log10(positive.max())] if positive.size else None
    )
    fig.update_yaxes(type="log", title_text="loss (nats)", range=span, row=1, col=1)
    if shown is not None:  # round values labelled (plotly's own log ticks read "2, 1, 9, 8")
        ticks = _log_ticks(*shown)
        fig.update_yaxes(
            tickvals=[10**v for v in ticks["tickvals"]], ticktext=ticks["ticktext"], row=1, col=1
        )
    fig.update_xaxes(title_text=STEP_TITLE, row=rows, col=1)
    if sharp:
        span = _sharp_range(values, thr)
        ticks = _log_ticks(*span) if span else {}
        fig.update_yaxes(
            type="log",
            title_text=f"{_sharp_title(adam)[1]} (log scale)",
            range=span,
            tickvals=[10**v for v in ticks.get("tickvals", [])] or None,
            ticktext=ticks.get("ticktext"),
            row=2,
            col=1,
        )
    height = 330 * rows + 150
    names = _names(ds, by)
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=height,
        legend=dict(
            orientation="h",
            yanchor="top",
            y=-60 / (height - 200),
            x=0,
            title=dict(text=" · ".join(names)),
        ),
        margin=dict(l=70, r=20, t=70 if title else 50, b=150),
    )
    fig.update_annotations(font_size=14)
    return fig


def _bold(ds, run, x, y, colour, dash, xaxis, yaxis) -> dict:
    return dict(
        type="scatter",
        x=x,
        y=y,
        mode="lines",
        name=str(ds.label.values[run]) if "label" in ds.coords else f"run {run}",
        showlegend=False,
        connectgaps=True,
        line=dict(color=colour, width=3.5, dash=dash),
        meta={"run": int(run)},
        xaxis=xaxis,
        yaxis=yaxis,
    )


def _sharp_range(values: np.ndarray, thr: np.ndarray) -> list[float] | None:
    """A log-axis range (log10 units) holding every positive sharpness estimate and each run's
    typical threshold (its median over steps: an LR decaying to 0 sends 2/η to infinity at the
    end, which would flatten everything else)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        typical = np.nanmedian(thr, axis=1)
    seen = np.concatenate([values[np.isfinite(values) & (values > 0)], typical[typical > 0]])
    if not seen.size:
        return None
    return [float(np.log10(seen.min() / 1.5)), float(np.log10(seen.max() * 1.5))]


def _marks(fig: go.Figure, ds: xr.Dataset) -> None:
    """Dotted lines at task switches; dashed red ones at live LR changes, with the factor."""
    if "task_start" in ds.coords:
        starts = np.asarray(ds.task_start.values)
        for s in sorted({int(v) for v in starts[:, 1:].ravel() if v > 0}):
            fig.add_vline(x=s, line=dict(color=REFERENCE, width=1, dash="dot"), opacity=0.8)
    _knob_marks(fig, ds, {"lr_scale": "LR ×"})


def _previous(previous: xr.Dataset, by, window: int, sharp: bool) -> list[dict]:
    """An earlier sweep's group medians, thin and grey (one legend entry)."""
    _, members, _, _ = _groups(
        previous, by if all(n in previous.coords for n in _names(previous, by)) else "group"
    )
    out = []
    loss = smooth(previous.train_loss.values, window)
    have_sharp = sharp and "sharpness" in previous and previous.sizes.get("sharp_step", 0) > 0
    for g, idx in members.items():
        x, v = _thin(previous.step.values, loss)
        panels = [(x, _median(v[idx]), "x", "y")]
        if have_sharp:
            panels.append(
                (
                    previous.sharp_step.values,
                    _median(sharpness_of(previous).values[idx]),
                    "x2",
                    "y2",
                )
            )
        for px, py, xa, ya in panels:
            out.append(
                dict(
                    type="scatter",
                    x=px,
                    y=py,
                    mode="lines",
                    name="previous sweep",
                    legendgroup="previous",
                    legendrank=1001,
                    showlegend=not out,
                    line=dict(color=REFERENCE, width=1.5),
                    opacity=0.7,
                    meta={"previous": g},
                    hovertemplate=f"previous: {g}<br>step %{{x}}: %{{y:.4g}}<extra></extra>",
                    xaxis=xa,
                    yaxis=ya,
                )
            )
    return out


def sharpness_table(ds: xr.Dataset, *, by: str | Sequence[str] = ("name",)) -> pd.DataFrame:
    """Per group: its last sharpness estimate (median over seeds), the stability threshold at
    that step, and their ratio (about 1 at the edge of stability, well below it before).

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=20, batch_size=32,
    ...                   optimizer=wb.SGD(lr=0.1), track=wb.Track(sharpness_every=10))
    >>> t = sharpness_table(wb.run([spec]))
    >>> list(t.columns), t["threshold"].round(4).tolist()
    (['group', 'step', 'sharpness', 'threshold', 'formula', 'ratio'], [20.0])
    """
    values = sharpness_of(ds).values
    sx = ds.sharp_step.values
    thr_da = stability_threshold(ds)
    thr = _threshold_at(thr_da.values, ds.step.values, sx)
    formulas = json.loads(thr_da.attrs["formula"])
    _, members, _, _ = _groups(ds, by)
    rows = []
    names = _names(ds, by)
    for g, idx in members.items():
        v = values[idx]
        seen = np.isfinite(v).any(axis=0)
        if not seen.any():
            continue
        last = int(np.flatnonzero(seen)[-1])
        s = _median(v[:, last])
        t = _median(thr[idx, last])
        rows.append(
            {
                " · ".join(names): g,
                "step": int(sx[last]),
                "sharpness": float(s),
                "threshold": float(t),
                "formula": formulas[idx[0]],
                "ratio": float(s / t) if np.isfinite(t) and t > 0 else np.nan,
            }
        )
    cols = [" · ".join(names), "step", "sharpness", "threshold", "formula", "ratio"]
    return pd.DataFrame(rows, columns=cols)
