"""Forgetting curves as a figure: :func:`forgetting_figure`, accuracy on each task against the
steps since it was last trained, a group's median thick, its runs thin, the fit AIC prefers
dashed, the half-life in the legend.

The curves and fits come from :mod:`workbench.forgetting`, the half-lives are read by
:mod:`.half_life` (:func:`half_life_text`; as a table: :func:`half_life_table`); this module
only draws them. The replay trade-off is in :mod:`.tradeoff`, the stability gap's table in
:mod:`.gap`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from ..forgetting import fit_curves
from ._common import _message
from ._curve_parts import _legend_name, _runs_trace, _thin
from .colours import ColourMap, colour_of
from .curves import MAX_COLUMNS, RUN_POINTS
from .half_life import _GROUP, POOR_R2, _group_curves, _texts

__all__ = ["forgetting_figure"]

SINCE_TITLE = "steps since the task was last trained"
FIT_POINTS = 120  # points of a fitted curve drawn
RUNS_HOVER = "%{customdata}<br>%{x} steps after: accuracy %{y:.3f}<extra></extra>"


def forgetting_figure(
    ds: xr.Dataset,
    *,
    by: str | Sequence[str] = "name",
    colours: ColourMap | Mapping[str, str] | None = None,
    tasks: Sequence[str | int] | None = None,
    fit: bool = True,
    title: str | None = None,
) -> go.Figure:
    """Forgetting curves: accuracy on a task against the steps since it was last trained.

    One panel per task that has a curve (two evaluations or more after its training ended, in
    some run; the last task of a finished run has none), the earliest first. Runs with the same
    value of ``by`` are a group: its median over runs is the thick line, each run a thin faded
    one. With ``fit``, the curve :func:`workbench.forgetting.fit_curves` fits to the group's
    *mean* over runs (exponential or power law, whichever AIC prefers) is drawn dashed in the
    group's colour, a diamond marking its half-life (the step where the fit has fallen to half
    its value at ``0``, ``R0 / 2``; :func:`workbench.forgetting.fit_forgetting`); the legend
    lists each group's half-life per panel, left to right, and the hover of a fit says
    ``"ratio 0.25 · half-life 34 steps (exp, R² 0.97)"``. A half-life the data do not pin is
    said so instead of a number (:func:`~.half_life.half_life_text`): ``"< 2"`` (gone before
    the first evaluation), ``"> 120"`` (slower than the curve reaches), ``"∞"`` (never halves:
    the fit levels off above ``R0 / 2``), ``"–"`` (no fit: too few points, a flat curve, or a
    fitted drop under ``MIN_DROP``); a half-life marked ``"?"`` comes from a poor fit (R² under
    ``POOR_R2``: the curve is not that shape, e.g. a dip that recovers). The same half-lives as
    a table: :func:`~.half_life.half_life_table`.

    Works on a sweep still being trained: a curve with few points has no fit (its ``"–"``),
    and before any task has a curve the figure says so.

    Every trace carries ``meta``: ``{"runs": g, "task": t}`` for a group's thin lines,
    ``{"group": g, "task": t}`` for its median, ``{"fit": g, "task": t, "model", "half_life",
    "r2", "text"}`` for its fit (``half_life`` NaN when not pinned, inf when it never halves),
    ``{"half_life": g, "task":
    t}`` for the diamond.

    Parameters
    ----------
    ds
        Results of runs on a task stream (:func:`workbench.run`, :meth:`Session.dataset`).
    by
        The run coordinate(s) whose values make a group (:func:`~.curves.group_labels`);
        ``"name"`` falls back to ``"group"`` (runs differing only in their seed) when ``ds``
        has no ``name`` coordinate.
    colours
        A colour per group label, shared with the page's other figures (:class:`ColourMap`).
    tasks
        The tasks drawn, by name or position, in this order (``None``: those with a curve, at
        most the first :data:`~.curves.MAX_TASKS`).
    fit
        Draw the fits and give the half-lives.
    title
        The figure's title.

    Examples
    --------
    >>> import workbench as wb
    >>> stream = wb.class_incremental("digits", classes_per_task=5, task_steps=30)
    >>> spec = wb.RunSpec(data=stream, model=wb.MLP(hidden=(16,)), optimizer=wb.SGD(lr=0.1),
    ...                   steps=60, batch_size=32, eval_every=5)
    >>> fig = forgetting_figure(wb.run(wb.grid(spec, {"seed": [0, 1]})))
    >>> [a.text for a in fig.layout.annotations]
    ['classes 0-4']
    >>> [t.meta["fit"] for t in fig.data if "fit" in t.meta]
    ['all runs']
    """
    by, labels, curves = _group_curves(ds, by, tasks, "forgetting_figure")
    if not curves.sizes["task"]:
        return _message(
            "No forgetting curve yet: a task's curve starts when the next task starts "
            "(two evaluations after it are needed).",
            title,
        )
    task_names = [str(n) for n in curves["task"].values]
    fits = fit_curves(curves, by=_GROUP) if fit else None
    cmap = colour_of(colours)
    seeds = ds.seed.values if "seed" in ds.coords else None
    run_labels = ds.label.values if "label" in ds.coords else np.arange(ds.sizes["run"])
    tags = np.asarray([str(lab) for lab in run_labels], dtype=object)
    since = curves["since"].values.astype(np.float64)
    values = curves.transpose("run", "task", "since").values
    n = curves.sizes["task"]
    rows = -(-n // MAX_COLUMNS)
    cols = -(-n // rows)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=task_names,
        horizontal_spacing=0.07 if cols > 3 else 0.08,
        vertical_spacing=0.22 if rows > 1 else 0.0,
    )
    axes = [
        {"xaxis": f"x{k + 1 if k else ''}", "yaxis": f"y{k + 1 if k else ''}"} for k in range(n)
    ]
    traces, poor = [], False
    for gi, g in enumerate(dict.fromkeys(labels)):
        idx = [i for i, lab in enumerate(labels) if lab == g]
        color = cmap[g]
        texts = _texts(fits, gi, since, values[idx]) if fits is not None else [None] * n
        legend = _legend_name(g, idx, seeds)
        if fit:
            if n == 1:
                legend += " · " + texts[0]["long"]
            else:
                legend += " · half-life " + " | ".join(t["short"] for t in texts) + " steps"
            poor |= any(t["short"].endswith("?") for t in texts)
        for k in range(n):
            x_runs, v_runs = _thin(since, values[:, k], RUN_POINTS)
            traces.append(
                _runs_trace(
                    x_runs,
                    v_runs,
                    idx,
                    color,
                    g,
                    faded=False,
                    dash=None,
                    axes=axes[k],
                    tags=tags,
                    meta={"runs": g, "task": task_names[k]},
                    hover=RUNS_HOVER,
                    drop_nan=True,
                )
            )
            with warnings.catch_warnings():  # offsets no run of the group reached: NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(values[idx, k], axis=0)
            ok = np.isfinite(med)
            x, y = _thin(since[ok], med[ok])
            note = f"<br>{texts[k]['long']}" if fit else ""
            traces.append(
                dict(
                    type="scatter",
                    x=x,
                    y=y,
                    mode="lines",
                    name=legend,
                    legendgroup=g,
                    showlegend=k == 0,
                    line=dict(color=color, width=2.5),
                    meta={"group": g, "task": task_names[k]},
                    hovertemplate=f"{g} · median of {len(idx)}{note}<br>"
                    "%{x} steps after: accuracy %{y:.3f}<extra></extra>",
                    **axes[k],
                )
            )
            if fit and texts[k]["model"]:
                traces += _fit_traces(
                    fits.isel({_GROUP: gi, "task": k}),
                    texts[k],
                    x,
                    color,
                    g,
                    task_names[k],
                    axes[k],
                )
    fig.add_traces(traces)
    fig.update_annotations(font_size=14)
    for k in range(n):
        row, col = divmod(k, cols)
        fig.update_xaxes(title_text=SINCE_TITLE, row=row + 1, col=col + 1)
        fig.update_yaxes(
            title_text="accuracy" if col == 0 else None,
            range=[-0.03, 1.03],
            matches="y" if k else None,
            row=row + 1,
            col=col + 1,
        )
    names = [by] if isinstance(by, str) else list(by)
    legend_title = " · ".join(names) if names != ["group"] else ""
    if fit and n > 1:
        legend_title += (" · " if legend_title else "") + "half-life per panel, left to right"
        if poor:
            legend_title += f" (?: R² < {POOR_R2:g})"
    panel_px, top, bottom = 300, 70 if title else 50, 110
    height = top + bottom + rows * panel_px + (rows - 1) * 90
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=height,
        legend=dict(
            orientation="h",
            yanchor="top",
            y=-66 / (height - top - bottom),
            x=0,
            title=dict(text=legend_title) if legend_title else None,
        ),
        margin=dict(l=60, r=20, t=top, b=bottom),
    )
    return fig


def _fit_traces(f: xr.Dataset, text: dict, x: np.ndarray, color, group, task, axes) -> list:
    """The fitted curve (dashed, over the median's span) and a diamond at its half-life."""
    sel = f.sel(model=text["model"])
    r0, rinf, tau, c = (float(sel[v]) for v in ("R0", "R_inf", "tau", "c"))
    t = np.linspace(0.0, float(x.max()) if x.size else 0.0, FIT_POINTS)
    y = _model_curve(t, text["model"], r0, rinf, tau, c)
    label = f"{group} · {text['long']}"
    out = [
        dict(
            type="scatter",
            x=t,
            y=y,
            mode="lines",
            name=label,
            legendgroup=group,
            showlegend=False,
            line=dict(color=color, width=1.5, dash="dash"),
            meta={
                "fit": group,
                "task": task,
                "model": text["model"],
                "half_life": text["value"],
                "r2": text["r2"],
                "text": text["long"],
            },
            hovertemplate=f"{label}<br>fit to the mean of the runs<br>"
            "%{x:.0f} steps after: %{y:.3f}<extra></extra>",
            **axes,
        )
    ]
    hl = text["value"]
    if np.isfinite(hl):
        out.append(
            dict(
                type="scatter",
                x=[hl],
                y=[r0 / 2],
                mode="markers",
                name=label,
                legendgroup=group,
                showlegend=False,
                marker=dict(
                    color=color, size=9, symbol="diamond", line=dict(color="white", width=1)
                ),
                meta={"half_life": group, "task": task},
                hovertemplate=f"{label}<extra></extra>",
                **axes,
            )
        )
    return out


def _model_curve(t, model, r0, rinf, tau, c) -> np.ndarray:
    """``R(t)`` of :func:`workbench.forgetting.fit_forgetting`'s models."""
    if model == "exp":
        return rinf + (r0 - rinf) * np.exp(-t / tau)
    return rinf + (r0 - rinf) * (1 + t / tau) ** -c
