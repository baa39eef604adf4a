"""Figures of forgetting over time: forgetting curves with their fits, the stability-plasticity
trade-off of a replay sweep, and a table of the stability gap.

- :func:`forgetting_figure`: accuracy on each task against the steps since it was last trained,
  a group's median thick, its runs thin, the fit AIC prefers dashed, the half-life in the legend;
- :func:`tradeoff_figure`: final forgetting, final accuracy on the newest task and ACC against
  the replay ratio, one line per buffer size;
- :func:`gap_table`: the stability gap at a task switch per group, with min-ACC measured at
  every evaluation and at task ends only (which hides the dip).

The measures come from :mod:`workbench.forgetting` and :mod:`workbench.continual`; this module
only draws them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from .. import continual
from ..forgetting import fit_curves, forgetting_curves, stability_gap
from .colours import ColourMap, colour_of
from .curves import MAX_COLUMNS, MAX_TASKS, RUN_POINTS, _legend_name, _thin, group_labels

__all__ = [
    "forgetting_figure",
    "gap_table",
    "half_life_text",
    "tradeoff_figure",
    "tradeoff_table",
]

SINCE_TITLE = "steps since the task was last trained"
FIT_POINTS = 120  # points of a fitted curve drawn
POOR_R2 = 0.5  # a fit explaining less of the curve's variance than this is marked "?"
MIN_DROP = 0.02  # a fitted drop R0 - R_inf below this (in accuracy) has no meaningful half-life
_GROUP = "_group"  # the temporary run coordinate the groups are fitted by
GAP_COLUMNS = (
    "switch",
    "old task",
    "before",
    "depth",
    "recovery time (steps)",
    "min-ACC per-step",
    "min-ACC task-ends-only",
)


# -- forgetting curves ----------------------------------------------------------------------------


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
    said so instead of a number (:func:`half_life_text`): ``"< 2"`` (gone before the first
    evaluation), ``"> 120"`` (slower than the curve reaches), ``"∞"`` (never halves: the fit
    levels off above ``R0 / 2``), ``"–"`` (no fit: too few points, a flat curve, or a fitted
    drop under ``MIN_DROP``); a half-life marked ``"?"`` comes from a poor fit (R² under
    ``POOR_R2``: the curve is not that shape, e.g. a dip that recovers).

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
    by = _by(ds, by)
    labels = group_labels(ds, by)
    curves = forgetting_curves(ds).assign_coords({_GROUP: ("run", labels)})
    panels = _curve_tasks(curves, tasks)
    if not panels:
        return _message(
            "No forgetting curve yet: a task's curve starts when the next task starts "
            "(two evaluations after it are needed).",
            title,
        )
    curves = curves.isel(task=panels)
    task_names = [str(n) for n in curves["task"].values]
    fits = fit_curves(curves, by=_GROUP) if fit else None
    cmap = colour_of(colours)
    seeds = ds.seed.values if "seed" in ds.coords else None
    since = curves["since"].values.astype(np.float64)
    values = curves.transpose("run", "task", "since").values
    n = len(panels)
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
        texts = [
            half_life_text(
                fits.isel({_GROUP: gi, "task": k}), since[np.isfinite(values[idx, k]).any(0)]
            )
            if fits is not None
            else None
            for k in range(n)
        ]
        legend = _legend_name(g, idx, seeds)
        if fit:
            if n == 1:
                legend += " · " + texts[0]["long"]
            else:
                legend += " · half-life " + " | ".join(t["short"] for t in texts) + " steps"
            poor |= any(t["short"].endswith("?") for t in texts)
        for k in range(n):
            x_runs, v_runs = _thin(since, values[:, k], RUN_POINTS)
            traces.append(_runs_trace(x_runs, v_runs, idx, ds, color, g, task_names[k], axes[k]))
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


def half_life_text(f: xr.Dataset, since: np.ndarray | None = None) -> dict:
    """What one fit of :func:`workbench.forgetting.fit_curves` (one group, one task) says of the
    half-life: ``{"value", "model", "r2", "short", "long"}``.

    ``value`` is the best model's half-life, the steps until the fit falls to half its value
    at ``0`` (``R(t) = R0 / 2``; :func:`workbench.forgetting.fit_forgetting`): ``inf`` when it
    never does (``R_inf >= R0 / 2``; ``short`` ``"∞"``, ``long`` ``"never halves: ..."``), NaN
    when the data do not pin it: no fit (``"–"``), a fitted drop ``R0 - R_inf`` under
    :data:`MIN_DROP` (``"–"``), a half-life before the first evaluation after ``0``
    (``"< t1"``) or beyond the last one (``"> t_max"``); a fit with R² under :data:`POOR_R2`
    keeps its number, marked ``"?"`` (``"7.3?"``). ``since`` are the curve's offsets (default:
    where ``fit_curves`` was given values, unknown here, so only the fit's own bounds count).
    ``long`` reads e.g. ``"half-life 34 steps (exp, R² 0.97)"``.

    Examples
    --------
    >>> f = xr.Dataset({"best": "exp", "best_half_life": 20.8,
    ...                 "R0": ("model", [0.9, 0.9]), "R_inf": ("model", [0.2, 0.2]),
    ...                 "r2": ("model", [0.97, 0.97]), "reason": ("model", ["", ""])},
    ...                coords={"model": ["exp", "power"]})
    >>> half_life_text(f, np.arange(0, 100, 2))["long"]
    'half-life 21 steps (exp, R² 0.97)'
    >>> half_life_text(f, np.arange(0, 12, 2))["short"]
    '> 10'
    >>> half_life_text(f.assign(best_half_life=np.inf, R_inf=("model", [0.6, 0.6])))["long"]
    'never halves: levels off at 0.60 of 0.90 (exp, R² 0.97)'
    """
    model = str(f["best"].values)
    out = {"value": np.nan, "model": model, "r2": np.nan}
    if not model:
        reasons = [str(r) for r in np.atleast_1d(f["reason"].values) if r]
        why = reasons[0].split(":")[0] if reasons else "nothing to fit"
        return out | {"short": "–", "long": f"no fit: {why}"}
    sel = f.sel(model=model)
    hl, r2 = float(f["best_half_life"]), float(sel["r2"])
    drop = float(sel["R0"] - sel["R_inf"])
    out["r2"] = r2
    tag = f"({model}, R² {r2:.2f})"
    if not drop >= MIN_DROP:
        return out | {"short": "–", "long": f"no decay: fitted drop {drop:.2f} {tag}"}
    if np.isposinf(hl):  # R_inf >= R0 / 2: the fit keeps more than half of the task
        r0, rinf = float(sel["R0"]), float(sel["R_inf"])
        return out | {
            "value": hl,
            "short": "∞",
            "long": f"never halves: levels off at {rinf:.2f} of {r0:.2f} {tag}",
        }
    if np.isnan(hl):  # R0 <= 0: nothing to halve
        return out | {"short": "–", "long": f"no half-life: fitted R0 {float(sel['R0']):.2f} {tag}"}
    t = np.asarray(since if since is not None else [], dtype=np.float64)
    t = t[np.isfinite(t)]
    first = t[t > 0].min() if (t > 0).any() else None
    last = t.max() if t.size else None
    if first is not None and hl < first:
        s = _steps(first)
        return out | {
            "short": f"< {s}",
            "long": f"half-life < {s} steps: gone by the first evaluation {tag}",
        }
    if last is not None and hl > last:
        s = _steps(last)
        return out | {
            "short": f"> {s}",
            "long": f"half-life > {s} steps: slower than the curve reaches {tag}",
        }
    out["value"] = hl
    if r2 < POOR_R2:  # a number, but the curve is not this shape (e.g. a dip that recovers)
        return out | {
            "short": f"{_steps(hl)}?",
            "long": f"half-life {_steps(hl)} steps ({model}, R² {r2:.2f}: a poor fit)",
        }
    return out | {"short": _steps(hl), "long": f"half-life {_steps(hl)} steps {tag}"}


def _steps(x: float) -> str:
    """A step count to two or three figures: ``7.3``, ``34``, ``106``."""
    return f"{x:.0f}" if abs(x) >= 10 or float(x).is_integer() else f"{x:.1f}"


def _by(ds: xr.Dataset, by: str | Sequence[str]) -> str | Sequence[str]:
    if by == "name" and "name" not in ds.coords:
        return "group" if "group" in ds.coords else "run"
    return by


def _curve_tasks(curves: xr.DataArray, tasks: Sequence[str | int] | None) -> list[int]:
    """Positions of the tasks drawn: ``tasks`` (names or positions), or those with a curve."""
    names = [str(n) for n in curves["task"].values]
    has = np.isfinite(curves.transpose("run", "task", "since").values).sum(axis=2).max(axis=0)
    with_curve = [p for p in range(len(names)) if has[p] >= 2]
    if tasks is None:
        return with_curve[:MAX_TASKS]
    out = []
    for t in tasks:
        if isinstance(t, (int, np.integer)) and not isinstance(t, bool) and 0 <= t < len(names):
            out.append(int(t))
        elif isinstance(t, str) and t in names:
            out.append(names.index(t))
        else:
            raise ValueError(
                f"forgetting_figure: tasks has {t!r}; allowed: a task name of {names} or a "
                f"position in [0, {len(names) - 1}]"
            )
    return out


def _runs_trace(x, values, members, ds, color, group, task, axes) -> dict:
    """The thin lines of ``members`` as one trace, NaN-separated, NaN points dropped (a
    curve's offsets are a subset of ``since``), each point tagged with its run's label."""
    run_labels = ds.label.values if "label" in ds.coords else np.arange(ds.sizes["run"])
    xs, ys, who = [], [], []
    for i in members:
        ok = np.isfinite(values[i])
        xs += [x[ok], [np.nan]]
        ys += [values[i][ok], [np.nan]]
        who += [str(run_labels[i])] * (int(ok.sum()) + 1)
    return dict(
        type="scatter",
        x=np.concatenate(xs),
        y=np.concatenate(ys),
        customdata=np.asarray(who, dtype=object),
        mode="lines",
        legendgroup=group,
        showlegend=False,
        connectgaps=False,
        opacity=0.35,
        line=dict(color=color, width=1),
        meta={"runs": group, "task": task},
        hovertemplate="%{customdata}<br>%{x} steps after: accuracy %{y:.3f}<extra></extra>",
        **axes,
    )


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


# -- the stability-plasticity trade-off -----------------------------------------------------------


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
    for line, part in table.groupby("line", sort=False):
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
    notes on what was left out."""
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
    lines = []
    for i in keep:
        lab = "no replay" if size[i] is None else f"buffer {size[i]}"
        if many_scheds and sched[i] is not None:
            lab += f" · {str(sched[i]).replace('_', '-')}"
        lines.append(lab)
    table = pd.DataFrame(
        {
            "run": keep,
            "ratio": np.asarray(ratio)[keep],
            "size": [size[i] for i in keep],
            "line": lines,
            "forgetting": forget,
            "newest": newest,
            "acc": accs,
        }
    )
    return table, notes


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


# -- the stability gap ----------------------------------------------------------------------------


def gap_table(
    ds: xr.Dataset, *, by: str | Sequence[str] = "name", switch: int | Sequence[int] = 1
) -> pd.DataFrame:
    """The stability gap at a task switch, per group: the median over its runs (seeds).

    One row per group and earlier task (at the first switch: the first task), indexed by the
    group label, with columns ``switch`` (the index of the task that starts), ``old task``,
    ``before`` (its accuracy at the switch), ``depth`` (the drop to its lowest point after the
    switch), ``recovery time (steps)`` (from that lowest point to halfway back), both from
    :func:`workbench.forgetting.stability_gap`, and min-ACC of the old task
    (:func:`workbench.continual.min_acc`, its lowest accuracy after it was learned, to the end)
    twice: ``per-step`` from every evaluation, ``task-ends-only`` from the evaluations at task
    switches and the final one alone, as a benchmark that evaluates at task ends sees it. The gap
    between the two is the dip that task-end evaluation hides.

    Medians skip NaN, except the recovery time: a run that never got halfway back within the
    task counts as ``inf`` (longer than any), so ``inf`` means most runs did not recover.

    Parameters
    ----------
    ds
        Results of runs on a task stream.
    by
        The run coordinate(s) making a group (``"name"``: ``"group"`` when ``ds`` has none).
    switch
        The switch(es), by the index of the task that starts (``1``: the first switch).

    Examples
    --------
    >>> import workbench as wb
    >>> stream = wb.class_incremental("digits", classes_per_task=5, task_steps=30)
    >>> spec = wb.RunSpec(data=stream, model=wb.MLP(hidden=(16,)), optimizer=wb.SGD(lr=0.1),
    ...                   steps=60, batch_size=32, eval_every=5)
    >>> t = gap_table(wb.run(wb.grid(spec, {"seed": [0, 1]})))
    >>> list(t.columns)[:4], t.index.name
    (['switch', 'old task', 'before', 'depth'], 'group')
    >>> bool((t["min-ACC task-ends-only"] >= t["min-ACC per-step"]).all())
    True
    """
    by = _by(ds, by)
    labels = group_labels(ds, by)
    switches = [switch] if isinstance(switch, (int, np.integer)) else list(switch)
    gap = stability_gap(ds, switch=[int(k) for k in switches])
    per_step = continual.min_acc(ds).values
    ends_only = continual.min_acc(_task_end_evaluations(ds)).values
    tasks = [str(t) for t in ds["task"].values]
    rows, index = [], []
    depth = gap["depth"].values  # (run, switch, task)
    rec = np.where(
        (depth > 0) & np.isnan(gap["recovery_time"].values), np.inf, gap["recovery_time"].values
    )
    for g in dict.fromkeys(labels):
        idx = [i for i, lab in enumerate(labels) if lab == g]
        for s, k in enumerate(switches):
            for j in range(int(k)):
                if not np.isfinite(gap["before"].values[idx, s, j]).any() and j != int(k) - 1:
                    continue  # a recurring task's earlier visit: counted at its latest one
                rows.append(
                    {
                        "switch": int(k),
                        "old task": tasks[j],
                        "before": _median(gap["before"].values[idx, s, j]),
                        "depth": _median(depth[idx, s, j]),
                        "recovery time (steps)": _median(rec[idx, s, j]),
                        "min-ACC per-step": _median(per_step[idx, j]),
                        "min-ACC task-ends-only": _median(ends_only[idx, j]),
                    }
                )
                index.append(g)
    names = [by] if isinstance(by, str) else list(by)
    return pd.DataFrame(rows, index=pd.Index(index, name=" · ".join(names)), columns=GAP_COLUMNS)


def _task_end_evaluations(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with ``task_acc`` kept only at each run's task ends: the evaluations at its task
    switches (``task_start`` > 0) and at its final step."""
    acc_ = continual._task_acc(ds, "gap_table")
    ends = continual._task_ends(ds, acc_)  # (run, task): next start or the run's end
    steps = ds["eval_step"].values
    keep = np.zeros((ds.sizes["run"], steps.size), dtype=bool)
    for r in range(ds.sizes["run"]):
        keep[r] = np.isin(steps, ends[r][ends[r] >= 0])
    mask = xr.DataArray(keep, dims=("run", "eval_step"), coords={"eval_step": ds["eval_step"]})
    return ds.assign(task_acc=ds["task_acc"].where(mask))


def _median(v: np.ndarray) -> float:
    v = np.asarray(v, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(np.median(v)) if v.size else np.nan


# -- helpers --------------------------------------------------------------------------------------


def _message(text: str, title: str | None) -> go.Figure:
    """An empty figure with ``text`` in its middle."""
    fig = go.Figure()
    fig.add_annotation(
        text=text,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font=dict(size=15, color="#555555"),
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title=title, template="plotly_white", height=300)
    return fig
