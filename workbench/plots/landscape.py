"""Figures of the landscape lab: training loss with sharpness against its stability threshold
(the edge of stability), 2-D slices of the loss as contours or surfaces with the runs' paths
over them, 1-D interpolations with their barrier, and the distance travelled from init.

The numbers come from :mod:`workbench.landscape` and :mod:`workbench.track`; this module draws
them. Every figure takes ``colours`` (a :class:`~workbench.plots.ColourMap` shared by the page,
so an LR has one colour everywhere) and tags its traces with ``meta``.
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

from ..landscape.paths import distance_from_init
from ._common import _message
from .colours import DASHES, REFERENCE, ColourMap, colour_of, variants
from .curves import (
    STEP_TITLE,
    _late_range,
    _legend_name,
    _runs_trace,
    _thin,
    group_labels,
    smooth,
)

__all__ = [
    "COLOURSCALE",
    "complete_part",
    "contour_figure",
    "distance_figure",
    "line_figure",
    "loss_and_sharpness",
    "sharpness_of",
    "sharpness_table",
    "stability_threshold",
    "surface_figure",
]

#: The loss colour scale of contours and surfaces: light valleys, dark ridges, and no hue
#: (the runs' paths carry the page's colours on top of it).
COLOURSCALE = [
    [0.0, "#ffffff"],
    [0.35, "#d9dde3"],
    [0.7, "#8d96a3"],
    [1.0, "#343a44"],
]
_POINT = "#000000"  # named points (init, end of task 1, ...)


# -- grouping -------------------------------------------------------------------------------


def _names(ds: xr.Dataset, by: str | Sequence[str]) -> list[str]:
    """The run coordinates to group by: ``"name"`` falls back to ``"group"`` on a Dataset
    without it (a plain :func:`workbench.run` result)."""
    names = [by] if isinstance(by, str) else list(by)
    return ["group" if n == "name" and "name" not in ds.coords else n for n in names]


def _groups(ds: xr.Dataset, by) -> tuple[list[str], dict[str, list[int]], dict, dict]:
    """Per run its group label; per group its runs, ``(colour key, variant)`` and legend name
    (several ``by``: coloured by the first, dashed by the rest)."""
    names = _names(ds, by)
    labels = group_labels(ds, names)
    first = group_labels(ds, names[0]) if len(names) > 1 else labels
    key = dict(zip(labels, first, strict=True))
    styles = variants(labels, key.__getitem__)
    members = {g: [i for i, lab in enumerate(labels) if lab == g] for g in dict.fromkeys(labels)}
    if len(names) > 1:
        parts = [group_labels(ds, n) for n in names]
        shorts = {g: " · ".join(p) for g, *p in zip(labels, *parts, strict=True)}
    else:
        shorts = {g: g for g in labels}
    seeds = ds.seed.values if "seed" in ds.coords else None
    legend = {g: _legend_name(shorts[g], idx, seeds) for g, idx in members.items()}
    return labels, members, styles, legend


def _median(v: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():  # steps no run of the group reached yet: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(v, axis=0)


# -- the edge of stability ------------------------------------------------------------------


def _adam(ds: xr.Dataset) -> np.ndarray:
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
        adam = _adam(ds)
        if adam.any():
            b1 = ds.beta1.values.astype(np.float64)
            thr = np.where(adam[:, None], (2 + 2 * b1) / ((1 - b1) * lr), thr)
    thr = np.where(np.isfinite(thr) & (lr > 0), thr, np.nan)
    formula = [
        "(2 + 2β1)/((1 − β1)η)" if a else ("(2 + 2μ)/η" if np.nanmax(m, initial=0) > 0 else "2/η")
        for a, m in zip(_adam(ds), mu, strict=True)
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
    adam = _adam(ds)
    if adam.any() and "sharpness_pre" in ds:
        out = xr.where(xr.DataArray(adam, dims="run"), ds.sharpness_pre, out)
    return out.rename("sharpness")


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
    events = json.loads(ds.attrs.get("session_events", "[]") or "[]")
    for e in events:
        if e.get("name") != "lr_scale" or e.get("kind") not in (None, "knob"):
            continue
        value = e.get("value")
        text = f"LR × {value:g}" if isinstance(value, int | float) else "LR changed"
        fig.add_vline(x=e["step"], line=dict(color="#b91c1c", width=1.5, dash="dash"))
        fig.add_annotation(
            x=e["step"],
            y=1.0,
            xref="x",
            yref="paper",
            text=text,
            showarrow=False,
            yanchor="bottom",
            font=dict(size=11, color="#b91c1c"),
        )


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


# -- slices ---------------------------------------------------------------------------------


def complete_part(grid: xr.Dataset) -> xr.Dataset:
    """What of a grid filling in (:func:`workbench.landscape.grid.iter_plane`, coarse to fine)
    to draw: the finest sub-lattice (every 1st, 2nd or 4th point of each axis, the last
    included) with every point computed, else the coarsest one, its missing points NaN (drawn
    blank). A grid without ``done``/``total`` attrs, or a finished one, is drawn whole.

    Examples
    --------
    >>> loss = np.full((5, 5), np.nan); loss[::2, ::2] = 1.0
    >>> g = xr.Dataset({"loss": (("beta", "alpha"), loss)},
    ...                coords={"alpha": np.arange(5.0), "beta": np.arange(5.0)},
    ...                attrs={"done": 9, "total": 25})
    >>> complete_part(g).alpha.values.tolist()
    [0.0, 2.0, 4.0]
    """
    if "done" not in grid.attrs or grid.attrs["done"] >= grid.attrs.get("total", 0):
        return grid
    ok = np.isfinite(grid.loss.values)
    part = grid
    for s in (1, 2, 4):
        rows = np.unique(np.r_[np.arange(0, grid.sizes["beta"], s), grid.sizes["beta"] - 1])
        cols = np.unique(np.r_[np.arange(0, grid.sizes["alpha"], s), grid.sizes["alpha"] - 1])
        part = grid.isel(beta=rows, alpha=cols)
        if ok[np.ix_(rows, cols)].all():
            return part
    return part


def _zscale(z: np.ndarray, log: bool) -> tuple[np.ndarray, dict]:
    """The values drawn (log10 of the loss if ``log``) and a colour bar with ticks in loss."""
    if not log:
        return np.where(np.isfinite(z), z, np.nan), dict(title=dict(text="loss"))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        zl = np.log10(np.where((z > 0) & np.isfinite(z), z, np.nan))
    ok = zl[np.isfinite(zl)]
    bar = dict(title=dict(text="loss (log scale)"))
    if ok.size:
        bar.update(_log_ticks(float(ok.min()), float(ok.max())))
    return zl, bar


def _log_ticks(lo: float, hi: float) -> dict:
    """Colour-bar ticks over ``[lo, hi]`` (log10 of the loss) labelled in loss units: round
    values (1-2-5, then finer steps), else five evenly spaced ones.

    Examples
    --------
    >>> _log_ticks(np.log10(0.3), np.log10(3))["ticktext"]
    ['0.5', '1', '2']
    >>> _log_ticks(np.log10(1.49), np.log10(3))["ticktext"]
    ['1.5', '2', '2.5', '3']
    >>> _log_ticks(np.log10(2.07), np.log10(2.29))["ticktext"]
    ['2.07', '2.12', '2.18', '2.23', '2.29']
    """
    decades = range(int(np.floor(lo)) - 1, int(np.ceil(hi)) + 1)
    for mults in (
        (1, 2, 5),
        (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8),
        (
            1,
            1.1,
            1.2,
            1.3,
            1.4,
            1.5,
            1.6,
            1.7,
            1.8,
            1.9,
            2,
            2.2,
            2.4,
            2.6,
            2.8,
            3,
            3.5,
            4,
            4.5,
            5,
            6,
            7,
            8,
            9,
        ),
    ):
        ticks = [m * 10.0**e for e in decades for m in mults]
        ticks = [t for t in ticks if lo - 1e-9 <= np.log10(t) <= hi + 1e-9]
        if len(ticks) >= 3:
            break
    else:
        ticks = (10 ** np.linspace(lo, hi, 5)).tolist() if hi > lo else [10**lo]
    return dict(tickvals=np.log10(ticks).tolist(), ticktext=[f"{t:.3g}" for t in ticks])


def _axis_titles(attrs: Mapping) -> tuple[str, str]:
    """What α and β are, from a slice's provenance attrs."""
    how = str(attrs.get("directions", ""))

    def parse(key):
        try:
            return json.loads(str(attrs.get(key, "")).replace("'", '"'))
        except ValueError:
            return None

    if how in ("filter", "layer", "raw"):
        word = {"filter": "filter-normalized", "layer": "layer-normalized", "raw": "unscaled"}
        seeds = parse("seeds") or ["", ""]
        return tuple(
            f"α: random direction (seed {s}, {word[how]})"
            if k == 0
            else f"β: random direction (seed {s}, {word[how]})"
            for k, s in enumerate(seeds[:2])
        )
    if how == "pca":
        ex = parse("explained") or []
        parts = [
            f" ({100 * e:.0f}% of the path's variance)" if k < len(ex) else ""
            for k, e in enumerate((ex + [0, 0])[:2])
        ]
        return f"α: 1st principal direction{parts[0]}", f"β: 2nd principal direction{parts[1]}"
    if how == "hessian":
        ev = parse("eigenvalues") or []
        parts = [f" (λ = {e:.3g})" if k < len(ev) else "" for k, e in enumerate((ev + [0, 0])[:2])]
        return f"α: top Hessian eigenvector{parts[0]}", f"β: 2nd Hessian eigenvector{parts[1]}"
    if how == "three points":
        pts = parse("points") or {}
        names = list(pts) if isinstance(pts, dict) else []
        if len(names) == 3:
            return (
                f"α: from {names[0]} toward {names[1]} (1 = {names[1]})",
                f"β: toward {names[2]}, orthogonal to α",
            )
    return "α (direction 1)", "β (direction 2)"


def _points_of(grid: xr.Dataset, points) -> dict[str, tuple[float, float]]:
    if points is not None:
        return {str(k): (float(v[0]), float(v[1])) for k, v in points.items()}
    raw = grid.attrs.get("points")
    try:
        got = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
    return (
        {str(k): (float(v[0]), float(v[1])) for k, v in got.items()}
        if isinstance(got, dict)
        else {}
    )


def _path_styles(paths, groups, colours) -> dict[str, tuple[str, str]]:
    """``{path: (colour, dash)}``: coloured by its group, dashed by its rank in the group."""
    cmap = colour_of(colours)
    groups = dict(groups or {})
    styles = variants(list(paths), lambda name: groups.get(name, name))
    return {n: (cmap[k], DASHES[v % len(DASHES)]) for n, (k, v) in styles.items()}


def _steps_text(steps, name, n):
    s = None if steps is None else steps.get(name)
    return np.asarray(s) if s is not None and len(s) == n else np.arange(n)


def contour_figure(
    grid: xr.Dataset,
    *,
    paths: Mapping[str, np.ndarray] | None = None,
    points: Mapping[str, tuple[float, float]] | None = None,
    colours: ColourMap | Mapping[str, str] | None = None,
    groups: Mapping[str, str] | None = None,
    steps: Mapping[str, np.ndarray] | None = None,
    title: str | None = None,
    log: bool = True,
    var: str = "loss",
    height: int = 600,
    note: str | None = None,
) -> go.Figure:
    """The loss on a 2-D slice (``grid``: ``loss`` over ``(beta, alpha)``, e.g.
    :func:`workbench.landscape.plane`) as filled contours, with paths and named points on top.

    Parameters
    ----------
    grid
        The slice; a grid filling in is drawn by its finest complete part
        (:func:`complete_part`), points not computed yet blank.
    paths
        ``{name: coords [T, 2]}`` (:func:`workbench.landscape.paths.project_paths`): each a
        line with small markers, a ring at its start and a large dot at its end.
    points
        ``{name: (α, β)}`` marked with a star and their name (default: the grid's
        ``points`` attr, as a plane through three snapshots has).
    colours, groups
        A path's colour is that of its group (``groups[name]``, default the name itself) in
        ``colours``; the paths of one group after the first are dashed.
    steps
        ``{name: steps [T]}`` shown on hover.
    log
        Colour by ``log10`` of the loss (a colour bar in loss units): the basin's floor and
        the walls both show.
    note
        A line under the plot (default: on a random plane with paths, why they look short).

    Traces carry ``meta``: ``{"grid": var}``, ``{"path": name}``, ``{"end": name}``,
    ``{"start": name}``, ``{"point": name}``.

    Examples
    --------
    >>> g = xr.Dataset({"loss": (("beta", "alpha"), [[1.0, 2.0], [np.nan, 4.0]])},
    ...                coords={"alpha": [0.0, 1.0], "beta": [0.0, 1.0]})
    >>> fig = contour_figure(g, paths={"a": np.array([[0.0, 0.0], [0.5, 0.5]])})
    >>> [t.meta for t in fig.data]
    [{'grid': 'loss'}, {'path': 'a'}, {'start': 'a'}, {'end': 'a'}]
    """
    window = (grid.alpha.values, grid.beta.values)
    grid = complete_part(grid)
    z = np.asarray(grid[var].values, dtype=np.float64)
    z = np.where(np.isfinite(z), z, np.nan)  # an overflowed loss (a huge span) is blank
    alpha, beta = grid.alpha.values, grid.beta.values
    zc, bar = _zscale(z, log) if var == "loss" else (z, dict(title=dict(text=var)))
    ok = np.isfinite(zc)
    fig = go.Figure()
    fig.add_contour(
        x=alpha,
        y=beta,
        z=zc,
        customdata=z,
        colorscale=COLOURSCALE,
        reversescale=var == "acc",
        ncontours=24,
        connectgaps=False,
        contours=dict(coloring="heatmap", showlines=True),
        line=dict(width=0.6, color="rgba(60,60,60,0.45)"),
        colorbar=dict(**bar, len=0.85, thickness=14),
        hovertemplate=f"α %{{x:.3g}}, β %{{y:.3g}}<br>{var} %{{customdata:.4g}}<extra></extra>",
        meta={"grid": var},
        name=var,
        showscale=bool(ok.any()),
    )
    styles = _path_styles(paths or {}, groups, colours)
    for name, coords in (paths or {}).items():
        c = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
        colour, dash = styles[name]
        st = _steps_text(steps, name, len(c))
        common = dict(legendgroup=name, customdata=st)
        hover = f"{name}<br>step %{{customdata}}<br>α %{{x:.3g}}, β %{{y:.3g}}<extra></extra>"
        fig.add_scatter(
            x=c[:, 0],
            y=c[:, 1],
            mode="lines+markers",
            line=dict(color=colour, width=2.5, dash=dash),
            marker=dict(size=4, color=colour),
            name=name,
            meta={"path": name},
            hovertemplate=hover,
            **common,
        )
        for where, meta, marker in (
            (0, "start", dict(size=9, color="white", line=dict(color=colour, width=2.5))),
            (-1, "end", dict(size=13, color=colour, line=dict(color="white", width=1.5))),
        ):
            fig.add_scatter(
                x=c[where:][:1, 0],
                y=c[where:][:1, 1],
                mode="markers",
                marker=marker,
                showlegend=False,
                name=f"{name} ({meta})",
                meta={meta: name},
                hovertemplate=f"{name}: {meta} of the path<br>step %{{customdata}}<extra></extra>",
                legendgroup=name,
                customdata=st[where:][:1],
            )
    for name, (a, b) in _points_of(grid, points).items():
        fig.add_scatter(
            x=[a],
            y=[b],
            mode="markers+text",
            marker=dict(symbol="star", size=15, color=_POINT, line=dict(color="white", width=1)),
            text=[name],
            textposition="top center",
            textfont=dict(size=13, color=_POINT),
            showlegend=False,
            name=name,
            meta={"point": name},
            hovertemplate=f"{name}<br>α %{{x:.3g}}, β %{{y:.3g}}<extra></extra>",
        )
    if note is None and paths and str(grid.attrs.get("directions")) in ("filter", "layer", "raw"):
        note = (
            "A random direction is nearly orthogonal to any path, so paths look short on a "
            "random plane; the pca and three points planes contain them."
        )
    if note:
        fig.add_annotation(
            text=note,
            xref="paper",
            yref="paper",
            x=0,
            y=0,
            yshift=-62,
            xanchor="left",
            yanchor="top",
            showarrow=False,
            font=dict(size=12, color="#555555"),
        )
    xt, yt = _axis_titles(grid.attrs)
    fig.update_xaxes(title_text=xt, range=[float(window[0].min()), float(window[0].max())])
    fig.update_yaxes(title_text=yt, range=[float(window[1].min()), float(window[1].max())])
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=height,
        legend=dict(
            orientation="h",
            yanchor="top",
            y=-(88 if note else 62) / (height - 170),
            x=0,
            title=dict(text="path"),
        ),
        margin=dict(l=70, r=20, t=60 if title else 30, b=140),
    )
    return fig


def _bilinear(alpha, beta, z, pts: np.ndarray) -> np.ndarray:
    """``z [beta, alpha]`` at the points ``pts [T, 2]`` (NaN outside the grid)."""
    a, b = pts[:, 0], pts[:, 1]
    out = np.full(len(pts), np.nan)
    inside = (a >= alpha[0]) & (a <= alpha[-1]) & (b >= beta[0]) & (b <= beta[-1])
    if not inside.any():
        return out
    i = np.clip(np.searchsorted(alpha, a[inside]) - 1, 0, len(alpha) - 2)
    j = np.clip(np.searchsorted(beta, b[inside]) - 1, 0, len(beta) - 2)
    ta = (a[inside] - alpha[i]) / (alpha[i + 1] - alpha[i])
    tb = (b[inside] - beta[j]) / (beta[j + 1] - beta[j])
    out[inside] = (
        z[j, i] * (1 - ta) * (1 - tb)
        + z[j, i + 1] * ta * (1 - tb)
        + z[j + 1, i] * (1 - ta) * tb
        + z[j + 1, i + 1] * ta * tb
    )
    return out


def surface_figure(
    grid: xr.Dataset,
    *,
    paths: Mapping[str, np.ndarray] | None = None,
    points: Mapping[str, tuple[float, float]] | None = None,
    colours: ColourMap | Mapping[str, str] | None = None,
    groups: Mapping[str, str] | None = None,
    title: str | None = None,
    log: bool = True,
    height: int = 620,
) -> go.Figure:
    """The slice of :func:`contour_figure` as a 3-D surface, the paths and points lying on it
    (their height read off the grid; parts outside the grid are not drawn).

    Examples
    --------
    >>> g = xr.Dataset({"loss": (("beta", "alpha"), [[1.0, 2.0], [3.0, 4.0]])},
    ...                coords={"alpha": [0.0, 1.0], "beta": [0.0, 1.0]})
    >>> fig = surface_figure(g, paths={"a": np.array([[0.5, 0.5]])}, log=False)
    >>> fig.data[0].type, float(fig.data[1].z[0])
    ('surface', 2.5)
    """
    grid = complete_part(grid)
    z = np.asarray(grid.loss.values, dtype=np.float64)
    z = np.where(np.isfinite(z), z, np.nan)
    alpha, beta = grid.alpha.values.astype(float), grid.beta.values.astype(float)
    zc, bar = _zscale(z, log)
    fig = go.Figure()
    fig.add_surface(
        x=alpha,
        y=beta,
        z=zc,
        customdata=z,
        colorscale=COLOURSCALE,
        colorbar=dict(**bar, len=0.75, thickness=14),
        hovertemplate="α %{x:.3g}, β %{y:.3g}<br>loss %{customdata:.4g}<extra></extra>",
        meta={"grid": "loss"},
        name="loss",
        contours=dict(z=dict(show=True, usecolormap=False, color="#555555", width=1)),
    )
    styles = _path_styles(paths or {}, groups, colours)
    lift = 0.02 * (np.nanmax(zc) - np.nanmin(zc)) if np.isfinite(zc).any() else 0.0
    for name, coords in (paths or {}).items():
        c = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
        colour, dash = styles[name]
        h = _bilinear(alpha, beta, zc, c) + lift
        c = np.where(np.isfinite(h)[:, None], c, np.nan)  # off the grid: not drawn
        fig.add_scatter3d(
            x=c[:, 0],
            y=c[:, 1],
            z=h,
            mode="lines+markers",
            line=dict(color=colour, width=6, dash=dash),
            marker=dict(size=2, color=colour),
            name=name,
            meta={"path": name},
        )
    for name, (a, b) in _points_of(grid, points).items():
        h = _bilinear(alpha, beta, zc, np.array([[a, b]])) + 2 * lift
        fig.add_scatter3d(
            x=[a],
            y=[b],
            z=h,
            mode="markers+text",
            marker=dict(size=5, color=_POINT, symbol="diamond"),
            text=[name],
            showlegend=False,
            name=name,
            meta={"point": name},
        )
    xt, yt = _axis_titles(grid.attrs)
    ztitle = "loss (log scale)" if log else "loss"
    zaxis = dict(title=dict(text=ztitle))
    if log and "tickvals" in bar:
        zaxis.update(tickvals=bar["tickvals"], ticktext=bar["ticktext"])
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=height,
        scene=dict(
            xaxis=dict(title=dict(text=xt.split(":")[0]), range=[alpha[0], alpha[-1]]),
            yaxis=dict(title=dict(text=yt.split(":")[0]), range=[beta[0], beta[-1]]),
            zaxis=zaxis,
            camera=dict(eye=dict(x=1.5, y=-1.5, z=0.9)),
        ),
        legend=dict(orientation="h", yanchor="top", y=0.0, x=0, title=dict(text="path")),
        margin=dict(l=10, r=10, t=50 if title else 20, b=10),
    )
    return fig


def line_figure(
    lines: xr.Dataset | Mapping[str, xr.Dataset],
    *,
    ends: tuple[str, str] = ("α = 0", "α = 1"),
    colours: ColourMap | Mapping[str, str] | None = None,
    title: str | None = None,
    accuracy: bool = True,
) -> go.Figure:
    """Loss (left axis) and accuracy (right axis, dotted) along 1-D interpolations
    (:func:`workbench.landscape.line`), the straight chord between each line's end losses in
    grey and its **barrier** (the largest excess of the loss over the chord, for α from 0 to
    1 only: beyond the ends there is no chord) marked and written. ``lines``: one Dataset,
    or ``{name: Dataset}`` (coloured by name). ``ends`` names the two end points.

    Traces carry ``meta``: ``{"line": name, "var": "loss" | "chord" | "barrier" | "acc"}``.

    Examples
    --------
    >>> a = np.linspace(0, 1, 5)
    >>> ds = xr.Dataset({"loss": ("alpha", [1.0, 2.0, 3.0, 2.0, 1.0]),
    ...                  "acc": ("alpha", [0.9, 0.5, 0.1, 0.5, 0.9])},
    ...                 coords={"alpha": a}, attrs={"barrier": 2.0})
    >>> fig = line_figure(ds)
    >>> [t.meta["var"] for t in fig.data], fig.layout.annotations[0].text
    (['loss', 'chord', 'barrier', 'acc'], 'barrier 2')
    """
    if isinstance(lines, xr.Dataset):
        lines = {"loss": lines}
    if not lines:
        return _message("No line to draw.", title)
    cmap = colour_of(colours)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for name, ds in lines.items():
        colour = cmap[name]
        al = ds.alpha.values.astype(float)
        loss = ds.loss.values.astype(float)
        one = len(lines) == 1
        fig.add_scatter(
            x=al,
            y=loss,
            mode="lines+markers",
            marker=dict(size=4),
            line=dict(color=colour, width=2.5),
            name="loss" if one else f"{name}: loss",
            legendgroup=name,
            meta={"line": name, "var": "loss"},
            hovertemplate=f"{name}<br>α %{{x:.3g}}: loss %{{y:.4g}}<extra></extra>",
        )
        i0, i1 = np.argmin(np.abs(al)), np.argmin(np.abs(al - 1))
        chord = np.interp(al, [0.0, 1.0], [loss[i0], loss[i1]])
        inner = (al >= -1e-9) & (al <= 1 + 1e-9)
        fig.add_scatter(
            x=al[inner],
            y=chord[inner],
            mode="lines",
            line=dict(color=REFERENCE, width=1.2, dash="dot"),
            showlegend=False,
            name=f"{name}: chord",
            legendgroup=name,
            meta={"line": name, "var": "chord"},
            hoverinfo="skip",
        )
        excess = np.where(inner, loss - chord, -np.inf)
        k = int(np.argmax(excess))
        barrier = float(excess[k])
        j = list(lines).index(name)  # the j-th line's words sit below the ones before
        if np.isfinite(barrier) and barrier > 1e-3 * max(abs(loss[i0]), abs(loss[i1]), 1e-9):
            fig.add_scatter(
                x=[al[k], al[k]],
                y=[chord[k], loss[k]],
                mode="lines",
                line=dict(color=colour, width=1.5),
                showlegend=False,
                hoverinfo="skip",
                meta={"line": name, "var": "barrier"},
            )
            text = f"barrier {barrier:.3g}" if one else f"{name}: barrier {barrier:.3g}"
            fig.add_annotation(
                x=al[k],
                y=loss[k],
                text=text,
                showarrow=True,
                arrowhead=2,
                ax=40,
                ay=-30 - 26 * j,
                font=dict(color=colour, size=13),
                bgcolor="rgba(255,255,255,0.8)",
            )
        else:
            text = "no barrier" if one else f"{name}: no barrier"
            fig.add_annotation(
                x=0.01,
                y=0.99 - 0.08 * j,
                xref="paper",
                yref="paper",
                xanchor="left",
                yanchor="top",
                text=f"{text}: the loss stays under the chord",
                showarrow=False,
                font=dict(color=colour, size=13),
                bgcolor="rgba(255,255,255,0.8)",
            )
        if accuracy and "acc" in ds:
            fig.add_scatter(
                x=al,
                y=ds.acc.values,
                mode="lines",
                line=dict(color=colour, width=1.5, dash="dot"),
                name="accuracy" if one else f"{name}: accuracy",
                legendgroup=name,
                meta={"line": name, "var": "acc"},
                hovertemplate=f"{name}<br>α %{{x:.3g}}: accuracy %{{y:.3f}}<extra></extra>",
                secondary_y=True,
            )
    fig.update_xaxes(
        title_text=f"α: (1 − α)·{ends[0]} + α·{ends[1]}",
        tickvals=[0, 0.25, 0.5, 0.75, 1],
        ticktext=[ends[0], "0.25", "0.5", "0.75", ends[1]],
    )
    fig.update_yaxes(title_text="loss (nats)", secondary_y=False)
    if accuracy:
        fig.update_yaxes(
            title_text="accuracy (dotted)", range=[0, 1.02], secondary_y=True, showgrid=False
        )
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=420,
        legend=dict(orientation="h", yanchor="top", y=-0.2, x=0),
        margin=dict(l=70, r=70, t=60 if title else 30, b=100),
    )
    return fig


def distance_figure(
    ds: xr.Dataset,
    *,
    by: str | Sequence[str] = ("name",),
    colours: ColourMap | Mapping[str, str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """``‖w_t − w_0‖`` against the step on a log axis, per group (median over seeds thick, each
    run thin), from the runs' snapshots (:func:`workbench.landscape.paths.distance_from_init`).
    A straight line is logarithmic growth (Hoffer et al. 2017); the grey dotted curve is a
    random walk's ``√t`` through the first group's last point, for comparison. Step 0
    (distance 0) is off a log axis.

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=20, batch_size=32,
    ...                   track=wb.Track(snapshot_every=10))
    >>> fig = distance_figure(wb.run([spec]))
    >>> [t.meta for t in fig.data], fig.data[1].x.tolist()
    ([{'runs': 'all runs'}, {'group': 'all runs'}, {'reference': 'sqrt'}], [10, 20])
    """
    d = distance_from_init(ds)
    keep = d.snap_step.values > 0
    x, v = d.snap_step.values[keep], d.values[:, keep]
    if not x.size:
        return _message("No snapshot after step 0 yet: the distance needs two.", title)
    _, members, styles, legend = _groups(ds, by)
    cmap = colour_of(colours)
    fig = go.Figure()
    first = None
    for g, idx in members.items():
        idx = [i for i in idx if np.isfinite(v[i]).any()]
        if not idx:
            continue
        key, variant = styles[g]
        colour, dash = cmap[key], DASHES[variant % len(DASHES)]
        fig.add_trace(_runs_trace(x, v, idx, colour, g, False, dash, {}))
        med = _median(v[idx])
        fig.add_scatter(
            x=x,
            y=med,
            mode="lines+markers",
            marker=dict(size=4),
            connectgaps=True,
            line=dict(color=colour, width=2.5, dash=dash),
            name=legend[g],
            legendgroup=g,
            meta={"group": g},
            hovertemplate=f"{g}<br>step %{{x}}: distance %{{y:.4g}}<extra></extra>",
        )
        if first is None:
            first = med
    ok = np.isfinite(first)
    if ok.any():
        t_end, d_end = x[ok][-1], first[ok][-1]
        fig.add_scatter(
            x=x,
            y=d_end * np.sqrt(x / t_end),
            mode="lines",
            line=dict(color=REFERENCE, width=1.5, dash="dot"),
            name="√t (a random walk)",
            meta={"reference": "sqrt"},
            hoverinfo="skip",
        )
    fig.update_xaxes(type="log", title_text=STEP_TITLE + ", log scale")
    fig.update_yaxes(
        title_text="distance from init ‖w<sub>t</sub> − w<sub>0</sub>‖", rangemode="tozero"
    )
    names = _names(ds, by)
    fig.update_layout(
        title=title or "Distance from the initialization (straight on this axis: ∝ log t)",
        template="plotly_white",
        height=440,
        legend=dict(
            orientation="h", yanchor="top", y=-0.2, x=0, title=dict(text=" · ".join(names))
        ),
        margin=dict(l=70, r=20, t=60, b=100),
    )
    return fig
