"""Training curves of a sweep: loss, accuracy and LR per run, grouped and coloured by a knob.

:func:`training_curves` draws the figure in steps: its panels (:mod:`._curve_parts`), one group
of runs in every panel, the last panel's LR, then the axes and what goes under the panels.
"""

from __future__ import annotations

import dataclasses
import textwrap
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from ._curve_parts import (
    MAX_POINTS,
    MAX_TASKS,
    RUN_POINTS,
    _late_range,
    _legend_name,
    _Panel,
    _panels,
    _previous_traces,
    _runs_trace,
    _short_labels,
    _thin,
    group_labels,
    smooth,
)
from .colours import DASHES, ColourMap, colour_of, variants

__all__ = [
    "MAX_COLUMNS",
    "MAX_POINTS",
    "MAX_TASKS",
    "RUN_POINTS",
    "group_labels",
    "smooth",
    "training_curves",
]

MAX_COLUMNS = 5  # panels per row; more panels wrap onto another row
STEP_TITLE = "step (optimizer updates)"
NOTE_CHARS = 48  # characters per line of a note under a panel
LAST_TITLES = {"lr": "learning rate", "replay_ratio": "replay ratio"}  # last panel: its title


def training_curves(
    ds: xr.Dataset,
    *,
    window: int = 25,
    title: str | None = None,
    by: str | Sequence[str] = "group",
    highlight: int | None = None,
    focus: float | None = None,
    colours: ColourMap | Mapping[str, str] | None = None,
    colour_key: Callable[[str], str] | None = None,
    accuracy: bool | str | None = None,
    tasks: Sequence[str] | None = None,
    previous: xr.Dataset | None = None,
    previous_label: str = "previous sweep",
    task_metric: str = "loss",
    last: str = "lr",
) -> go.Figure:
    """Training loss (smoothed), test loss, test accuracy and learning rate against the step.

    Runs with the same value of the run coordinate(s) ``by`` form a group (default: runs that
    differ only in their seed); the thick line is their median, the thin lines the individual
    runs (one trace per group and panel; ``customdata`` says which run a point belongs to), and
    the legend says how many runs the median is over (``"wsd · 3 seeds"``). ``highlight`` (a
    run position) draws that run bold in every panel and fades the other groups. ``focus`` (a
    fraction of the steps, e.g. 0.3) fits the y axes of the loss and accuracy panels to the
    values after that point, where schedules differ, instead of to the first steps' large
    drop (double-click the plot to see everything). Diverged runs are drawn dotted. Training
    loss falling while test loss rises is overfitting: the two loss panels sit side by side to
    show it. Curves longer than ``MAX_POINTS`` (a single run's thin line: ``RUN_POINTS``) are
    drawn at every k-th step (after smoothing), so a long sweep of many runs stays light to
    send and draw. Every trace carries ``meta``: ``{"runs": label}`` for a group's runs,
    ``{"group": label}`` for a median or LR line, ``{"run": i}`` for the highlighted run,
    ``{"previous": label}`` for a line of ``previous``.

    Parameters
    ----------
    ds
        A sweep (:func:`workbench.run`, :meth:`Session.dataset`).
    window
        Moving-average window of the training loss, in steps.
    title
        The figure's title.
    by
        The run coordinate(s) whose values make a group (:func:`group_labels`).
    highlight
        A run's position in ``ds``, drawn bold.
    focus
        Fit the y axes to the steps after this fraction of the last step.
    colours
        A colour per name, shared with the page's other figures (:class:`ColourMap`; a plain
        mapping keeps its colours; ``None``: a fresh map, in the order the groups come).
    colour_key
        The name a group label is coloured by. Groups with the same name share its colour;
        the first is drawn solid, the others dashed (e.g. a schedule's forks: ``lambda s:
        s.split(" · ")[0]``). ``None``: the label itself, or, with several ``by`` coordinates,
        the value of the first (``by=["schedule", "branch"]``: the schedule).
    accuracy
        ``None``: a test-accuracy panel, except on a data stream, where the per-task loss
        panels take its place; ``False``: none, the other panels get its room; ``True``: one;
        a sentence: one, with the sentence as a note under it (e.g. why its values stay far
        below 1).
    tasks
        On a data stream (``task_loss``): the tasks whose test loss gets a panel each, in this
        order (``None``: every task, at most the first :data:`MAX_TASKS`; ``[]``: one panel,
        the test loss of the task being trained). One panel per task rather than one dash
        per task: colour already says which schedule and dash which branch, and the old
        tasks' loss rises (forgetting) while the new one's falls, each on its own scale.
    previous
        An earlier sweep, drawn thin and light grey behind this one (its group medians, by
        ``by`` where it has those coordinates, else by its own groups) in every panel it has
        too: "press Run again and compare".
    previous_label
        Its legend entry (one, for all its lines).
    task_metric
        What a task's panel shows: ``"loss"`` (test loss) or ``"acc"`` (test accuracy).
    last
        The per-step variable of the last panel: ``"lr"`` or ``"replay_ratio"``.

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=20, batch_size=32,
    ...                   eval_every=10)
    >>> ds = wb.run(wb.grid(spec, {"seed": [0, 1]}))
    >>> fig = training_curves(ds)
    >>> len(fig.data)   # 3 panels x (the seeds' trace + the median), and the LR
    7
    >>> [t.name for t in fig.data if t.showlegend]
    ['all runs · 2 seeds']
    >>> fig = training_curves(ds, by="seed", highlight=1, accuracy=False)
    >>> [d.line.width for d in fig.data if d.meta == {"run": 1}]
    [3.5, 3.5]
    >>> fig = training_curves(ds, previous=ds, previous_label="last run")
    >>> [t.name for t in fig.data if t.showlegend]
    ['last run', 'all runs · 2 seeds']
    """
    if task_metric not in ("loss", "acc"):
        raise ValueError(f"training_curves: task_metric={task_metric!r}; allowed: 'loss', 'acc'")
    if last not in LAST_TITLES or last not in ds:
        have = [v for v in LAST_TITLES if v in ds]
        raise ValueError(f"training_curves: last={last!r} is not in the Dataset; allowed: {have}")
    panels = _panels(ds, window=window, accuracy=accuracy, tasks=tasks, metric=task_metric)
    names = [by] if isinstance(by, str) else list(by)
    groups = _groups(ds, by, highlight=highlight, colours=colours, colour_key=colour_key)
    titles = [p.title for p in panels] + [LAST_TITLES[last]]
    fig, rows, cols = _grid(titles)
    axes = [
        {"xaxis": f"x{k + 1 if k else ''}", "yaxis": f"y{k + 1 if k else ''}"}
        for k in range(len(titles))
    ]
    traces = []  # plain dicts, added at once: add_trace(row=, col=) per trace is slow
    if previous is not None:
        traces += _previous_traces(
            previous, panels, names, window, previous_label, axes, last, task_metric
        )
    for group in groups:
        traces += _group_traces(ds, group, panels, axes, highlight)
        traces.append(_last_trace(ds, group, last, highlight, axes[-1]))
    fig.add_traces(traces)
    _style_axes(fig, ds, panels, cols, LAST_TITLES[last], focus)
    _notes_and_legend(fig, panels, rows, title, names)
    return fig


@dataclasses.dataclass(frozen=True)
class _Group:
    """One group of runs as :func:`training_curves` draws it."""

    label: str
    runs: list[int]  # their positions in the Dataset
    solid: list[int]  # those drawn solid (or dashed, by ``dash``), and
    dotted: list[int]  # those drawn dotted: they diverged
    colour: str
    dash: str
    faded: bool  # another group's run is highlighted
    legend: str  # its legend entry: "wsd · 3 seeds"


def _groups(
    ds: xr.Dataset,
    by: str | Sequence[str],
    *,
    highlight: int | None,
    colours: ColourMap | Mapping[str, str] | None,
    colour_key: Callable[[str], str] | None,
) -> list[_Group]:
    """The groups of runs by ``by``, in the order they come, with their colours and dashes."""
    labels = group_labels(ds, by)
    names = [by] if isinstance(by, str) else list(by)
    shorts = _short_labels(ds, names, labels)
    if colour_key is None:
        first = group_labels(ds, names[0]) if len(names) > 1 else labels
        keys = dict(zip(labels, first, strict=True))
        colour_key = keys.__getitem__
    cmap = colour_of(colours)
    styles = variants(labels, colour_key)
    lit = labels[highlight] if highlight is not None else None
    diverged = ds.diverged_step.values >= 0
    seeds = ds.seed.values if "seed" in ds.coords else None
    out = []
    for g in dict.fromkeys(labels):
        idx = [i for i, lab in enumerate(labels) if lab == g]
        key, variant = styles[g]
        out.append(
            _Group(
                label=g,
                runs=idx,
                solid=[i for i in idx if not diverged[i]],
                dotted=[i for i in idx if diverged[i]],
                colour=cmap[key],
                dash=DASHES[variant % len(DASHES)],
                faded=lit is not None and g != lit,
                legend=_legend_name(shorts[g], idx, seeds),
            )
        )
    return out


def _grid(titles: list[str]) -> tuple[go.Figure, int, int]:
    """An empty figure of one panel per title, at most :data:`MAX_COLUMNS` to a row; its
    numbers of rows and columns."""
    n = len(titles)
    rows = -(-n // MAX_COLUMNS)
    cols = -(-n // rows)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=titles,
        horizontal_spacing=0.06 if cols > 4 else 0.07 if cols > 3 else 0.08,
        vertical_spacing=0.22 if rows > 1 else 0.0,
    )
    return fig, rows, cols


def _group_traces(
    ds: xr.Dataset, group: _Group, panels: list[_Panel], axes: list[dict], highlight: int | None
) -> list[dict]:
    """A group's lines in each panel: its runs thin (as one trace, NaN between runs;
    ``customdata``: the run), their median thick, and the highlighted run bold."""
    traces = []
    for k, panel in enumerate(panels):
        x, v = _thin(ds[panel.x].values, panel.values)
        xr_, vr = _thin(ds[panel.x].values, panel.values, RUN_POINTS)
        for members, dash in ((group.solid, group.dash), (group.dotted, "dot")):
            if members:
                traces.append(
                    _runs_trace(
                        xr_, vr, members, group.colour, group.label, group.faded, dash, axes[k]
                    )
                )
        with warnings.catch_warnings():  # steps no run of the group reached yet: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(v[group.runs], axis=0)
        traces.append(
            dict(
                type="scatter",
                x=x,
                y=med,
                mode="lines",
                legendgroup=group.label,
                showlegend=k == 0,
                name=group.legend,
                opacity=0.25 if group.faded else 1.0,
                line=dict(color=group.colour, width=2.5, dash=group.dash),
                meta={"group": group.label},
                **axes[k],
            )
        )
        if highlight in group.runs:
            traces.append(_highlight_trace(ds, x, v[highlight], highlight, group, axes[k]))
    return traces


def _highlight_trace(
    ds: xr.Dataset, x: np.ndarray, y: np.ndarray, run: int, group: _Group, axes: dict
) -> dict:
    """The highlighted run's line, bold in its group's colour and dash."""
    label = ds.label.values[run]
    return dict(
        type="scatter",
        x=x,
        y=y,
        mode="lines",
        name=str(label),
        showlegend=False,
        line=dict(color=group.colour, width=3.5, dash=group.dash),
        meta={"run": run},
        hovertemplate=f"{label}<br>step %{{x}}: %{{y:.4g}}<extra></extra>",
        **axes,
    )


def _last_trace(
    ds: xr.Dataset, group: _Group, last: str, highlight: int | None, axes: dict
) -> dict:
    """The group's line in the last panel (``last``: the LR or the replay ratio): its
    highlighted run's, else its first run's."""
    x, values = _thin(ds.step.values, ds[last].values)
    return dict(
        type="scatter",
        x=x,
        y=values[group.runs[0] if highlight not in group.runs else highlight],
        mode="lines",
        name=group.legend,
        legendgroup=group.label,
        showlegend=False,
        opacity=0.25 if group.faded else 1.0,
        line=dict(color=group.colour, width=2, dash=group.dash),
        meta={"group": group.label},
        **axes,
    )


def _style_axes(
    fig: go.Figure,
    ds: xr.Dataset,
    panels: list[_Panel],
    cols: int,
    last_title: str,
    focus: float | None,
) -> None:
    """Panel titles sized to fit, axis titles, one step range zoomed together, log axes, and
    the y ranges fitted to the steps after ``focus``."""
    fig.update_annotations(font_size=14)  # the panel titles: five fit side by side
    n = len(panels) + 1  # and the last panel
    for k in range(n):
        row, col = divmod(k, cols)
        # one step range in every panel, zoomed together
        fig.update_xaxes(
            title_text=STEP_TITLE, matches="x" if k else None, row=row + 1, col=col + 1
        )
        ytitle = panels[k].y_title if k < n - 1 else last_title
        fig.update_yaxes(title_text=ytitle, row=row + 1, col=col + 1)
    for k, panel in enumerate(panels):
        row, col = divmod(k, cols)
        if panel.log:
            fig.update_yaxes(type="log", row=row + 1, col=col + 1)
        if focus is not None:
            fig.update_yaxes(
                range=_late_range(ds[panel.x].values, panel.values, focus, panel.log),
                row=row + 1,
                col=col + 1,
            )


def _notes_and_legend(
    fig: go.Figure, panels: list[_Panel], rows: int, title: str | None, names: list[str]
) -> None:
    """Under the panels: the x titles, a panel's note (if any), then the legend, in pixels;
    the figure's height to fit them."""
    notes = [(k, textwrap.wrap(p.note, NOTE_CHARS)) for k, p in enumerate(panels) if p.note]
    note_px = max((14 * len(lines) + 8 for _, lines in notes), default=0)
    for k, lines in notes:
        fig.add_annotation(
            text="<br>".join(lines),
            xref=f"x{k + 1 if k else ''} domain",
            yref=f"y{k + 1 if k else ''} domain",
            x=0.5,
            y=0,
            yshift=-62,
            yanchor="top",
            showarrow=False,
            font=dict(size=11, color="#555555"),
        )
    panel_px = 300
    top, bottom = 70 if title else 50, 110 + note_px
    height = top + bottom + rows * panel_px + (rows - 1) * 90
    plot_px = height - top - bottom
    legend_title = " · ".join(names) if names != ["group"] else None
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=height,
        legend=dict(
            orientation="h",
            yanchor="top",
            y=-(62 + note_px + 4) / plot_px,
            x=0,
            title=dict(text=legend_title) if legend_title else None,
        ),
        margin=dict(l=60, r=20, t=top, b=bottom),
    )
