"""Training curves of a sweep: loss, accuracy and LR per run, grouped and coloured by a knob."""

from __future__ import annotations

import dataclasses
import textwrap
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from .colours import DASHES, REFERENCE, ColourMap, colour_of, variants

__all__ = [
    "MAX_COLUMNS",
    "MAX_POINTS",
    "MAX_TASKS",
    "RUN_POINTS",
    "group_labels",
    "smooth",
    "training_curves",
]

MAX_POINTS = 600  # points per median or LR curve drawn; longer curves are strided
RUN_POINTS = 200  # points per single run's thin line (many runs: the browser draws them all)
MAX_COLUMNS = 5  # panels per row; more panels wrap onto another row
MAX_TASKS = 4  # per-task loss panels drawn by default
STEP_TITLE = "step (optimizer updates)"
NOTE_CHARS = 48  # characters per line of a note under a panel


def smooth(y: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average along the last axis (NaN-aware; the first points average less).

    Examples
    --------
    >>> smooth(np.array([1.0, 3.0, 5.0, 7.0]), 2).tolist()
    [1.0, 2.0, 4.0, 6.0]
    """
    if window <= 1:
        return y
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(y)
    csum = np.cumsum(np.where(ok, y, 0.0), axis=-1)
    ccount = np.cumsum(ok, axis=-1)
    pad = [(0, 0)] * (y.ndim - 1) + [(window, 0)]
    csum = np.pad(csum, pad)
    ccount = np.pad(ccount, pad)
    total = csum[..., window:] - csum[..., :-window]
    count = ccount[..., window:] - ccount[..., :-window]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def group_labels(ds: xr.Dataset, by: str | Sequence[str] = "group") -> list[str]:
    """One label per run naming its values of the run coordinates ``by`` (``"group"``: the
    Dataset's own grouping, runs that differ only in their seed).

    Examples
    --------
    >>> ds = xr.Dataset(coords={"run": [0, 1, 2], "seed": ("run", [0, 1, 0]),
    ...                         "kind": ("run", ["wsd", "wsd", "cos"])})
    >>> group_labels(ds, "kind"), group_labels(ds, ["kind", "seed"])[1]
    (['wsd', 'wsd', 'cos'], 'kind=wsd, seed=1')
    """
    names = [by] if isinstance(by, str) else list(by)
    for name in names:
        if name not in ds.coords or ds[name].dims != ("run",):
            allowed = [k for k, c in ds.coords.items() if c.dims == ("run",) and k != "run"]
            raise ValueError(
                f"group_labels: by={name!r} is not a run coordinate; allowed: {allowed}"
            )
    if len(names) == 1:
        return [str(v) for v in ds[names[0]].values.tolist()]
    return [
        ", ".join(f"{n}={v}" for n, v in zip(names, vals, strict=True))
        for vals in zip(*(ds[n].values.tolist() for n in names), strict=True)
    ]


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
    if last not in ("lr", "replay_ratio") or last not in ds:
        have = [v for v in ("lr", "replay_ratio") if v in ds]
        raise ValueError(f"training_curves: last={last!r} is not in the Dataset; allowed: {have}")
    last_title = {"lr": "learning rate", "replay_ratio": "replay ratio"}[last]
    panels = _panels(ds, window=window, accuracy=accuracy, tasks=tasks, metric=task_metric)
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
    n = len(panels) + 1  # and the learning rate
    rows = -(-n // MAX_COLUMNS)
    cols = -(-n // rows)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[p.title for p in panels] + [last_title],
        horizontal_spacing=0.06 if cols > 4 else 0.07 if cols > 3 else 0.08,
        vertical_spacing=0.22 if rows > 1 else 0.0,
    )
    axes = [
        {"xaxis": f"x{k + 1 if k else ''}", "yaxis": f"y{k + 1 if k else ''}"} for k in range(n)
    ]
    traces = []  # plain dicts, added at once: add_trace(row=, col=) per trace is slow
    if previous is not None:
        traces += _previous_traces(
            previous, panels, names, window, previous_label, axes, last, task_metric
        )
    diverged = ds.diverged_step.values >= 0
    seeds = ds.seed.values if "seed" in ds.coords else None
    for g in dict.fromkeys(labels):
        idx = [i for i, lab in enumerate(labels) if lab == g]
        key, variant = styles[g]
        color, dash = cmap[key], DASHES[variant % len(DASHES)]
        faded = lit is not None and g != lit
        legend = _legend_name(shorts[g], idx, seeds)
        for k, panel in enumerate(panels):
            x, v = _thin(ds[panel.x].values, panel.values)
            # every run of the group as one trace (NaN between runs; customdata: the run)
            xr_, vr = _thin(ds[panel.x].values, panel.values, RUN_POINTS)
            for dots in (False, True):
                members = [i for i in idx if diverged[i] == dots]
                if members:
                    run_dash = "dot" if dots else dash
                    traces.append(_runs_trace(xr_, vr, members, color, g, faded, run_dash, axes[k]))
            with warnings.catch_warnings():  # steps no run of the group reached yet: NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(v[idx], axis=0)
            traces.append(
                dict(
                    type="scatter",
                    x=x,
                    y=med,
                    mode="lines",
                    legendgroup=g,
                    showlegend=k == 0,
                    name=legend,
                    opacity=0.25 if faded else 1.0,
                    line=dict(color=color, width=2.5, dash=dash),
                    meta={"group": g},
                    **axes[k],
                )
            )
            if highlight in idx:
                traces.append(
                    dict(
                        type="scatter",
                        x=x,
                        y=v[highlight],
                        mode="lines",
                        name=str(ds.label.values[highlight]),
                        showlegend=False,
                        line=dict(color=color, width=3.5, dash=dash),
                        meta={"run": highlight},
                        hovertemplate=f"{ds.label.values[highlight]}<br>step %{{x}}: %{{y:.4g}}"
                        "<extra></extra>",
                        **axes[k],
                    )
                )
        x, lr = _thin(ds.step.values, ds[last].values)
        traces.append(
            dict(
                type="scatter",
                x=x,
                y=lr[idx[0] if highlight not in idx else highlight],
                mode="lines",
                name=legend,
                legendgroup=g,
                showlegend=False,
                opacity=0.25 if faded else 1.0,
                line=dict(color=color, width=2, dash=dash),
                meta={"group": g},
                **axes[n - 1],
            )
        )
    fig.add_traces(traces)
    fig.update_annotations(font_size=14)  # the panel titles: five fit side by side
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
    # Under the panels: the x titles, a panel's note (if any), then the legend, in pixels.
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
    return fig


@dataclasses.dataclass(frozen=True)
class _Panel:
    """One panel of :func:`training_curves`: what it shows, where its values come from."""

    key: str  # what it shows, to find the same panel in a previous sweep
    title: str
    x: str  # the x coordinate (step or eval_step)
    values: np.ndarray  # (run, x)
    y_title: str
    log: bool
    note: str = ""


def _panels(
    ds: xr.Dataset,
    *,
    window: int,
    accuracy: bool | str | None,
    tasks: Sequence[str] | None,
    metric: str = "loss",
) -> list[_Panel]:
    """The panels of ``ds`` before the learning rate's, in order."""
    stream = _is_stream(ds)
    names = ds.task.values.tolist() if stream else []
    if tasks is not None and not stream:
        raise ValueError(
            f"training_curves: tasks={list(tasks)} but the runs are not on a data stream "
            "(no task_loss); allowed: None"
        )
    if tasks is None:
        tasks = names[:MAX_TASKS]
    for name in tasks:
        if name not in names:
            raise ValueError(f"training_curves: tasks has {name!r}; allowed: {names}")
    train = smooth(ds.train_loss.values, window)
    out = [_Panel("train_loss", "training loss (smoothed)", "step", train, "loss (nats)", True)]
    if tasks:
        words, y_title = ("loss", "loss (nats)") if metric == "loss" else ("accuracy", "accuracy")
        out += [
            _Panel(
                f"task_{metric}:{name}",
                f"test {words} on {name}",
                "eval_step",
                ds[f"task_{metric}"].values[:, :, names.index(name)],
                y_title,
                metric == "loss",
            )
            for name in tasks
        ]
    else:
        out.append(
            _Panel("eval_loss", "test loss", "eval_step", ds.eval_loss.values, "loss (nats)", True)
        )
    if accuracy is None:
        accuracy = not stream
    if accuracy is not False:
        title = "test accuracy" + (" (current task)" if stream else "")
        note = accuracy if isinstance(accuracy, str) else ""
        out.append(
            _Panel("eval_acc", title, "eval_step", ds.eval_acc.values, "accuracy", False, note)
        )
    return out


def _is_stream(ds: xr.Dataset) -> bool:
    """Whether ``ds`` holds runs on a data stream of several tasks (a ``task_loss`` each)."""
    return "task_loss" in ds and ds.sizes.get("task", 0) >= 2


def _short_labels(ds: xr.Dataset, names: list[str], labels: list[str]) -> dict[str, str]:
    """A short legend name per group label: the values of several ``by`` coordinates joined
    by " · " (the legend's title names them), one coordinate's value as it is."""
    if len(names) == 1:
        return {g: g for g in labels}
    parts = [group_labels(ds, name) for name in names]
    return {g: " · ".join(p) for g, *p in zip(labels, *parts, strict=True)}


def _legend_name(short: str, idx: list[int], seeds: np.ndarray | None) -> str:
    """``"wsd · 3 seeds"`` (or ``"· 3 runs"`` when they are not one run per seed); a group of
    one run is just its name."""
    if len(idx) == 1:
        return short
    distinct = seeds is not None and len(set(seeds[idx].tolist())) == len(idx)
    return f"{short} · {len(idx)} {'seeds' if distinct else 'runs'}"


def _previous_traces(
    previous: xr.Dataset,
    panels: list[_Panel],
    names: list[str],
    window: int,
    label: str,
    axes: list[dict],
    last: str = "lr",
    metric: str = "loss",
) -> list[dict]:
    """The group medians (and LR, or the last panel's variable) of a previous sweep, thin and
    grey, in the panels it shares with this one; one legend entry for all."""
    by = names if all(n in previous.coords for n in names) else "group"
    labels = group_labels(previous, by)
    tasks = previous.task.values.tolist() if _is_stream(previous) else None  # all it has
    theirs = {
        p.key: p
        for p in _panels(previous, window=window, accuracy=True, tasks=tasks, metric=metric)
    }
    pairs = [(k, theirs.get(p.key)) for k, p in enumerate(panels)]
    if last in previous:
        pairs.append((len(panels), _Panel("lr", "", "step", previous[last].values, "", False)))
    out = []
    for g in dict.fromkeys(labels):
        idx = [i for i, lab in enumerate(labels) if lab == g]
        for k, panel in pairs:
            if panel is None:
                continue
            x, v = _thin(previous[panel.x].values, panel.values)
            with warnings.catch_warnings():  # steps no run of the group reached yet: NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(v[idx], axis=0) if panel.key != "lr" else v[idx[0]]
            out.append(
                dict(
                    type="scatter",
                    x=x,
                    y=med,
                    mode="lines",
                    name=label,
                    legendgroup="previous",
                    legendrank=1001,  # after the current sweep's entries
                    showlegend=not out,
                    line=dict(color=REFERENCE, width=1.5),
                    opacity=0.7,
                    meta={"previous": g},
                    hovertemplate=f"{label}: {g}<br>step %{{x}}: %{{y:.4g}}<extra></extra>",
                    **axes[k],
                )
            )
    return out


def _late_range(x: np.ndarray, values: np.ndarray, focus: float, log: bool) -> list | None:
    """A y range holding every value after ``focus`` of the x span (axis units: log10 if
    ``log``), with a little room; ``None`` (autoscale) when there is nothing there yet."""
    late = values[:, x >= focus * np.nanmax(x)] if x.size else values[:, :0]
    ok = late[np.isfinite(late) & ((late > 0) if log else True)]
    if ok.size == 0:
        return None
    lo, hi = float(ok.min()), float(ok.max())
    if log:
        lo, hi = np.log10(lo), np.log10(hi)
    pad = 0.08 * (hi - lo) or 0.01 * max(abs(hi), 1e-3)
    return [lo - pad, hi + pad]


def _thin(
    x: np.ndarray, values: np.ndarray, limit: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Every k-th point (and the last) of curves longer than ``limit``."""
    n = x.size
    k = -(-n // limit)
    if k <= 1:
        return x, values
    keep = np.unique(np.r_[np.arange(0, n, k), n - 1])
    return x[keep], values[..., keep]


def _runs_trace(x, values, members, color, group, faded, dash, axes) -> dict:
    """The thin lines of ``members`` as one trace, NaN-separated, each point tagged with its run."""
    n = x.size
    xs = np.concatenate([np.r_[x, np.nan] for _ in members])
    ys = np.concatenate([np.r_[values[i], np.nan] for i in members])
    runs = np.repeat(np.asarray(members, dtype=np.float64), n + 1)
    return dict(
        type="scatter",
        x=xs,
        y=ys,
        customdata=runs,
        mode="lines",
        legendgroup=group,
        showlegend=False,
        connectgaps=False,
        opacity=0.08 if faded else 0.35,
        line=dict(color=color, width=1, dash=dash),
        meta={"runs": group},
        hovertemplate="run %{customdata}<br>step %{x}: %{y:.4g}<extra></extra>",
        **axes,
    )
