"""Figures of the continual lab: per-task curves with switches and live changes marked, the view
zoomed around one task switch (the stability gap), and the accuracy matrix as a heatmap."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from ._common import _knob_marks
from .colours import REFERENCE, ColourMap, colour_of
from .curves import MAX_TASKS, group_labels, training_curves

__all__ = ["task_curves", "switch_zoom", "accuracy_heatmap", "distinct_tasks", "ALL_TASKS"]

ALL_TASKS = "all tasks (mean)"
_TASK_VARS = ("task_acc", "task_loss", "task_acc_til")


def distinct_tasks(ds: xr.Dataset) -> list[str]:
    """The task names of a stream's first visits (a task that recurs is one task), in order."""
    from ..results import specs_of

    names = ds.task.values.tolist()
    try:
        specs = specs_of(ds)
    except (KeyError, ValueError):  # a hand-made Dataset: every position is its own task
        return names
    stream = specs[0].data
    if not hasattr(stream, "first_visits") or len(stream) != len(names):
        return names
    return [names[i] for i in sorted(set(stream.first_visits()))]


def _switches(ds: xr.Dataset) -> list[int]:
    """Steps at which some run switches task (from ``task_start``)."""
    if "task_start" not in ds.coords:
        return []
    starts = np.asarray(ds.task_start.values)
    return sorted({int(s) for s in starts[:, 1:].ravel() if s > 0})


def _with_mean(ds: xr.Dataset, tasks: Sequence[str]) -> xr.Dataset:
    """``ds`` with a pseudo-task ``ALL_TASKS``: the mean over ``tasks`` of each task variable."""
    have = [v for v in _TASK_VARS if v in ds]
    drop = [c for c, v in ds.coords.items() if "task" in v.dims and c != "task"]
    own = ds[have].drop_vars(drop)
    with warnings.catch_warnings():  # steps before any evaluation: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = own.sel(task=list(tasks)).mean("task", skipna=False)
    both = xr.concat([mean.expand_dims(task=[ALL_TASKS]), own], dim="task", coords="minimal")
    both = both.transpose(*ds[have[0]].dims)  # (run, eval_step, task) as the panels read it
    return ds.drop_vars(have + drop).drop_dims("task").assign(both[have])


def task_curves(
    ds: xr.Dataset,
    *,
    tasks: Sequence[str] | None = None,
    mean: bool = True,
    **kwargs,
) -> go.Figure:
    """Accuracy on every task against the step (loss on a token stream), the replay ratio in
    the last panel, dotted lines at task switches and dashed ones at live ratio changes.

    Parameters
    ----------
    ds
        Runs on a task stream.
    tasks
        The tasks that get a panel (default: the first distinct ones, at most
        :data:`~workbench.plots.curves.MAX_TASKS` minus one).
    mean
        A first panel with the mean over the distinct tasks (:data:`ALL_TASKS`): on a
        recurring stream, the accuracy on the whole class set climbing over repeats.
    kwargs
        Passed on to :func:`~workbench.plots.training_curves` (``by``, ``colours``,
        ``highlight``, ``previous``, ``window``, ``focus``...).

    Examples
    --------
    >>> import workbench as wb
    >>> from workbench.labs.continual import ContinualLab
    >>> lab = ContinualLab(replay_ratios=[0.0, 0.5], seeds=1, tasks=2, task_steps=10)
    >>> fig = task_curves(wb.run(lab.specs()))
    >>> [a.text for a in fig.layout.annotations][:4]
    ['training loss (smoothed)', 'test accuracy on all tasks (mean)', \
'test accuracy on classes 0-1', 'test accuracy on classes 2-3']
    """
    if "task_acc" not in ds:
        raise ValueError("task_curves: the runs are not on a task stream (no task_acc)")
    names = distinct_tasks(ds)
    metric = "loss" if _is_tokens(ds) else "acc"  # a token stream's accuracy is capped
    if tasks is None:
        tasks = names[: MAX_TASKS - 1] if mean else names[:MAX_TASKS]
    view = _with_mean(ds, names) if mean else ds
    shown = ([ALL_TASKS] if mean else []) + list(tasks)
    last = "replay_ratio" if "replay_ratio" in ds else "lr"
    kwargs.setdefault("accuracy", False)
    fig = training_curves(view, tasks=shown, task_metric=metric, last=last, **kwargs)
    for s in _switches(ds):
        fig.add_vline(x=s, line=dict(color=REFERENCE, width=1, dash="dot"), opacity=0.7)
    _knob_marks(fig, ds, {"replay_ratio": "ratio →", "backbone_lr": "backbone ratio →"})
    if mean:
        fig.update_yaxes(rangemode="tozero")
    return fig


def _is_tokens(ds: xr.Dataset) -> bool:
    from ..results import specs_of

    try:
        spec = specs_of(ds)[0]
    except (KeyError, ValueError):
        return False
    return type(spec.model).__name__ == "Transformer"


def switch_zoom(
    ds: xr.Dataset,
    *,
    switch: int = 1,
    by: str | Sequence[str] = "name",
    colours: ColourMap | Mapping[str, str] | None = None,
    before: int | None = None,
    after: int | None = None,
) -> go.Figure:
    """Accuracy on the tasks before switch ``switch`` around the step it starts: the stability
    gap (De Lange et al. 2023). One panel per earlier task (at most four, the latest first),
    the median over each group's seeds thick and each run thin, a dotted line at the switch
    and a grey line at each group's accuracy when the switch came (where the dip is measured
    from).

    ``before``/``after``: steps shown either side (default: a quarter of the task before, the
    whole new task after, so the recovery is in view).
    """
    if "task_start" not in ds.coords:
        raise ValueError("switch_zoom: the runs are not on a task stream (no task_start)")
    starts = np.asarray(ds.task_start.values[0])
    n_tasks = int((starts >= 0).sum())
    if not 1 <= switch < n_tasks:
        raise ValueError(f"switch_zoom: switch={switch} must be from 1 to {n_tasks - 1}")
    s = int(starts[switch])
    length = int(starts[switch] - starts[switch - 1])
    before = max(1, length // 4) if before is None else before
    nxt = int(starts[switch + 1]) if switch + 1 < n_tasks else int(ds.step.values[-1]) + 1
    after = max(1, nxt - s) if after is None else after
    names = ds.task.values.tolist()
    old = names[:switch][::-1][:4]
    x = ds.eval_step.values
    keep = (x >= s - before) & (x <= s + after)
    labels = group_labels(ds, by)
    cmap = colour_of(colours)
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(old), subplot_titles=[f"accuracy on {t}" for t in old])
    at = np.searchsorted(x, s)
    for k, task in enumerate(old):
        acc = ds.task_acc.values[:, :, names.index(task)]
        for g in dict.fromkeys(labels):
            idx = [i for i, lab in enumerate(labels) if lab == g]
            colour = cmap[g]
            for i in idx:
                fig.add_scatter(
                    x=x[keep],
                    y=acc[i, keep],
                    mode="lines",
                    line=dict(color=colour, width=1),
                    opacity=0.35,
                    showlegend=False,
                    hoverinfo="skip",
                    row=1,
                    col=k + 1,
                )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(acc[idx], 0)
            fig.add_scatter(
                x=x[keep],
                y=med[keep],
                mode="lines+markers",
                marker=dict(size=4),
                line=dict(color=colour, width=2.5),
                name=g,
                legendgroup=g,
                showlegend=k == 0,
                hovertemplate=f"{g}<br>step %{{x}}: %{{y:.3f}}<extra></extra>",
                row=1,
                col=k + 1,
            )
            if at < len(x) and x[at] == s and np.isfinite(med[at]):
                fig.add_hline(
                    y=float(med[at]),
                    line=dict(color=colour, width=1, dash="dot"),
                    opacity=0.6,
                    row=1,
                    col=k + 1,
                )
        fig.add_vline(x=s, line=dict(color=REFERENCE, width=1.5, dash="dot"), row=1, col=k + 1)
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02])
    fig.update_layout(
        template="plotly_white",
        height=380,
        title=f"Around the switch to {names[switch]} (step {s}): the stability gap",
        legend=dict(orientation="h", y=-0.25, x=0, title=dict(text="replay")),
        margin=dict(l=60, r=20, t=80, b=90),
    )
    return fig


def accuracy_heatmap(ds: xr.Dataset, *, runs: Sequence[int] | None = None, title: str = ""):
    """The accuracy matrix ``R[i, j]`` (after training task ``i``, accuracy on task ``j``) of
    ``runs`` (default all; the median over them), as a heatmap that fills in row by row as
    tasks end (rows not reached yet are blank).

    Examples
    --------
    >>> import workbench as wb
    >>> from workbench.labs.continual import ContinualLab
    >>> ds = wb.run(ContinualLab(replay_ratios=[0.0], seeds=1, tasks=2, task_steps=10).specs())
    >>> accuracy_heatmap(ds).data[0].z.shape
    (2, 2)
    """
    from ..continual import accuracy_matrix

    R = accuracy_matrix(ds, partial=True)
    if runs is not None:
        R = R.isel(run=list(runs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        z = np.nanmedian(R.values, 0)  # (trained, task)
    names = [str(t) for t in R.task.values]
    text = np.where(np.isfinite(z), np.char.mod("%.2f", np.nan_to_num(z)), "")
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=[f"after {t}" for t in names],
            zmin=0,
            zmax=1,
            colorscale="Viridis",
            text=text,
            texttemplate="%{text}",
            hovertemplate="%{y}<br>accuracy on %{x}: %{z:.3f}<extra></extra>",
            colorbar=dict(title="accuracy"),
        )
    )
    fig.update_yaxes(autorange="reversed", title_text="trained up to")
    fig.update_xaxes(title_text="evaluated on", side="top")
    fig.update_layout(
        template="plotly_white",
        height=120 + 48 * len(names),
        title=title or "Accuracy matrix (median over runs)",
        margin=dict(l=140, r=20, t=110, b=20),
    )
    return fig
