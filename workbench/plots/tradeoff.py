"""The stability-plasticity trade-off of a replay sweep: :func:`tradeoff_figure`, final
forgetting, final accuracy on the newest task and ACC against the replay ratio, one line per
buffer size; :func:`tradeoff_table`, the numbers behind it, one row per finished run.

The measures come from :mod:`workbench.continual`; this module only draws them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from .. import continual
from ._common import _message
from .colours import ColourMap, colour_of

__all__ = ["tradeoff_figure", "tradeoff_table"]


def tradeoff_figure(
    ds: xr.Dataset,
    *,
    colours: ColourMap | Mapping[str, str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """The stability-plasticity trade-off of a replay sweep, from the runs' accuracy matrices.

    Three panels against the replay ratio, one line per buffer size (and replay schedule, when
    the sweep varies it), the median over the other runs (seeds) with min–max error bars:

    - final forgetting: :func:`workbench.continual.forgetting` ``(R).average`` with the default
      definition (FACIL's: the drop from a task's best accuracy before the last task to its
      accuracy at the end, averaged over all tasks but the last); lower is more stable;
    - final accuracy on the newest task, ``R[T, T]``: how well the last task was learned with
      part of every batch spent on memory; higher is more plastic;
    - ACC, :func:`workbench.continual.acc`: the mean over all tasks at the end.

    Ratio and buffer size come from the ``replay.ratio`` / ``replay.size`` run coordinates, or
    from the specs (:func:`workbench.results.specs_of`) when the sweep does not vary them; a run
    without replay has ratio 0 and is drawn as ``"no replay"``; a run whose ratio follows a
    schedule is left out (a note says so). Only finished runs count (their final evaluation, at
    ``spec.steps``, exists); a sweep with one ratio is drawn as points with a note that a ratio
    sweep is needed; before any run finished, the figure says so.

    Every trace carries ``meta``: ``{"line": label, "panel": "forgetting" | "newest" | "acc"}``,
    with ``x`` the ratios and ``y`` the medians.

    Examples
    --------
    >>> from workbench.labs.continual import ContinualLab
    >>> import workbench as wb
    >>> lab = ContinualLab(replay_ratios=[0.0, 0.5], seeds=1, tasks=2, task_steps=20)
    >>> fig = tradeoff_figure(wb.run(lab.specs()))
    >>> [(t.meta["line"], t.meta["panel"]) for t in fig.data][:2]
    [('buffer 200', 'forgetting'), ('buffer 200', 'newest')]
    >>> list(fig.data[0].x)
    [0.0, 0.5]
    """
    table, notes = tradeoff_table(ds)
    if table.empty:
        return _message(
            "No run has finished yet: the trade-off needs each run's accuracy matrix at its "
            "last step.",
            title,
        )
    panels = (
        ("forgetting", "final forgetting", "forgetting (FACIL: best before last − final)"),
        ("newest", "final accuracy on the newest task", "accuracy on the last task"),
        ("acc", "ACC (mean over tasks)", "ACC"),
    )
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=[p[1] for p in panels],
        column_widths=[0.38, 0.38, 0.24],
        horizontal_spacing=0.08,
    )
    cmap = colour_of(colours)
    ratios = sorted(table["ratio"].unique())
    mode = "lines+markers" if len(ratios) > 1 else "markers"
    traces = []
    for line, part in table.groupby("line", observed=True):  # no replay, then by buffer size
        color = cmap[line]
        stats = part.groupby("ratio")
        for k, (key, _, _) in enumerate(panels):
            med = stats[key].median()
            lo, hi = stats[key].min(), stats[key].max()
            n = stats[key].count()
            x = med.index.to_numpy(dtype=np.float64).tolist()
            traces.append(
                dict(
                    type="scatter",
                    x=x,
                    y=med.to_numpy(),
                    error_y=dict(
                        type="data",
                        symmetric=False,
                        array=(hi - med).to_numpy(),
                        arrayminus=(med - lo).to_numpy(),
                        thickness=1.2,
                        width=4,
                        color=color,
                    ),
                    customdata=np.stack([lo.to_numpy(), hi.to_numpy(), n.to_numpy()], axis=1),
                    mode=mode,
                    name=line,
                    legendgroup=line,
                    showlegend=k == 0,
                    line=dict(color=color, width=2.5),
                    marker=dict(color=color, size=8),
                    meta={"line": line, "panel": key},
                    hovertemplate=f"{line} · ratio %{{x:g}}<br>median %{{y:.3f}} of "
                    "%{customdata[2]} runs (min %{customdata[0]:.3f}, max %{customdata[1]:.3f})"
                    "<extra></extra>",
                    xaxis=f"x{k + 1 if k else ''}",
                    yaxis=f"y{k + 1 if k else ''}",
                )
            )
    fig.add_traces(traces)
    fig.update_annotations(font_size=14)
    pad = 0.08 * (ratios[-1] - ratios[0]) or 0.05
    for k, (_, _, ytitle) in enumerate(panels):
        fig.update_xaxes(
            title_text="replay ratio (share of each batch from memory)"
            if k < 2
            else "replay ratio",
            range=[ratios[0] - pad, ratios[-1] + pad],
            row=1,
            col=k + 1,
        )
        fig.update_yaxes(title_text=ytitle, row=1, col=k + 1)
    if len(ratios) == 1:
        notes.append("One replay ratio: sweep two or more to see the trade-off.")
    if notes:
        fig.add_annotation(
            text="<br>".join(notes),
            xref="paper",
            yref="paper",
            x=0.5,
            y=1.0,
            yshift=38,
            showarrow=False,
            font=dict(size=12, color="#555555"),
        )
    sizes = table["line"].unique()
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=440 + (30 if notes else 0),
        legend=dict(
            orientation="h",
            yanchor="top",
            y=-0.25,
            x=0,
            title=dict(text="buffer size" if len(sizes) else None),
        ),
        margin=dict(l=60, r=20, t=(80 if title else 60) + (30 if notes else 0), b=110),
    )
    return fig


def tradeoff_table(ds: xr.Dataset) -> tuple[pd.DataFrame, list[str]]:
    """One row per finished run with a numeric replay ratio: ``run``, ``ratio``, ``size``,
    ``line`` (its line in :func:`tradeoff_figure`), ``forgetting``, ``newest``, ``acc``; and the
    notes on what was left out.

    ``line`` is an ordered categorical: ``"no replay"`` first, then by buffer size as a number
    (``"buffer 50"`` before ``"buffer 200"``), then by replay schedule, so ``groupby("line")``
    and ``sort_values("line")`` follow the sizes (and the figure's legend does); the rows are
    sorted by line, ratio and run.

    Examples
    --------
    >>> from workbench.labs.continual import ContinualLab
    >>> import workbench as wb
    >>> lab = ContinualLab(replay_ratios=[0.5], buffer_sizes=[200, 50], seeds=1, tasks=2,
    ...                    task_steps=10)
    >>> table, notes = tradeoff_table(wb.run(lab.specs()))
    >>> list(table.groupby("line", observed=True).groups), notes
    (['buffer 50', 'buffer 200'], [])
    """
    n_runs = ds.sizes["run"]
    specs = _run_specs(ds)
    ratio, size, sched = [], [], []
    for i, spec in enumerate(specs):
        rep = getattr(spec, "replay", None)
        r = _coord(ds, "replay.ratio", i, getattr(rep, "ratio", 0.0) if spec is not None else None)
        ratio.append(float(r) if isinstance(r, (int, float, np.number)) else np.nan)
        size.append(_coord(ds, "replay.size", i, getattr(rep, "size", None)) if rep else None)
        sched.append(
            _coord(ds, "replay.schedule", i, getattr(rep, "schedule", None)) if rep else None
        )
    steps = [getattr(s, "steps", None) for s in specs]
    finished = np.array([_finished(ds, i, steps[i]) for i in range(n_runs)], dtype=bool)
    notes = []
    scheduled = finished & ~np.isfinite(ratio)
    if scheduled.any():
        notes.append(f"{int(scheduled.sum())} run(s) with a scheduled replay ratio left out.")
    if (~finished).any() and finished.any():
        notes.append(f"{int((~finished).sum())} run(s) not finished: left out.")
    keep = np.flatnonzero(finished & np.isfinite(ratio))
    cols = ["run", "ratio", "size", "line", "forgetting", "newest", "acc"]
    if not keep.size:
        return pd.DataFrame(columns=cols), notes
    sub = ds.isel(run=keep)
    R = continual.accuracy_matrix(sub)
    forget = continual.forgetting(R).average.values
    accs = continual.acc(R).values
    T = np.isfinite(np.diagonal(R.values, axis1=1, axis2=2)).sum(axis=1) - 1
    newest = np.array([R.values[r, t, t] if t >= 0 else np.nan for r, t in enumerate(T)])
    many_scheds = len({sched[i] for i in keep}) > 1
    lines, order = [], {}
    for i in keep:
        lab = "no replay" if size[i] is None else f"buffer {size[i]}"
        if many_scheds and sched[i] is not None:
            lab += f" · {str(sched[i]).replace('_', '-')}"
        lines.append(lab)
        order.setdefault(lab, _line_order(size[i], sched[i] if many_scheds else None))
    table = pd.DataFrame(
        {
            "run": keep,
            "ratio": np.asarray(ratio)[keep],
            "size": [size[i] for i in keep],
            "line": pd.Categorical(lines, categories=sorted(order, key=order.get), ordered=True),
            "forgetting": forget,
            "newest": newest,
            "acc": accs,
        }
    )
    return table.sort_values(["line", "ratio", "run"], kind="stable", ignore_index=True), notes


def _line_order(size, schedule) -> tuple:
    """Where a line of :func:`tradeoff_figure` goes: no replay (``size`` None) first, then by
    buffer size as a number, then by schedule."""
    try:
        n = float(size)
    except (TypeError, ValueError):
        n = np.nan
    n = n if np.isfinite(n) else np.inf
    return (size is not None, n, str(size), "" if schedule is None else str(schedule))


def _run_specs(ds: xr.Dataset) -> list:
    """Each run's spec (``None`` where unknown). ``specs_of`` gives the specs of the runs the
    Dataset was made with; a selection of runs (``ds.isel(run=...)``) keeps them all, and its
    ``run`` coordinate says which."""
    from ..results import specs_of

    n_runs = ds.sizes["run"]
    try:
        specs = specs_of(ds)
    except (KeyError, ValueError):
        return [None] * n_runs
    if len(specs) == n_runs:
        return specs
    ids = ds["run"].values if "run" in ds.coords else np.zeros(0)
    if ids.dtype.kind in "iu" and ids.size == n_runs and ((ids >= 0) & (ids < len(specs))).all():
        return [specs[int(i)] for i in ids]
    return [None] * n_runs


def _coord(ds: xr.Dataset, name: str, i: int, default):
    """Run ``i``'s value of the run coordinate ``name``, or ``default`` when ``ds`` has none."""
    if name in ds.coords and ds[name].dims == ("run",):
        v = ds[name].values[i]
        return v.item() if hasattr(v, "item") else v
    return default


def _finished(ds: xr.Dataset, i: int, steps: int | None) -> bool:
    """Whether run ``i`` reached its last step: its final evaluation (at ``steps``) is there."""
    acc_ = ds["task_acc"].isel(run=i)
    if steps is None:  # no specs: the run's last step with a task, evaluated
        if "task_index" not in ds:
            return bool(np.isfinite(acc_.values).any())
        steps = int((ds["task_index"].isel(run=i).values >= 0).sum())
    if steps not in ds["eval_step"].values:
        return False
    return bool(np.isfinite(acc_.sel(eval_step=steps).values).any())
