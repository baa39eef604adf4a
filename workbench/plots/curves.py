"""Training curves of a sweep: loss, accuracy and LR per run, grouped and coloured by a knob."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.colors import qualitative
from plotly.subplots import make_subplots

__all__ = ["MAX_POINTS", "RUN_POINTS", "group_labels", "smooth", "training_curves"]

MAX_POINTS = 600  # points per median or LR curve drawn; longer curves are strided
RUN_POINTS = 200  # points per single run's thin line (many runs: the browser draws them all)


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
) -> go.Figure:
    """Training loss (smoothed), test loss, test accuracy and learning rate against the step.

    Runs with the same value of the run coordinate(s) ``by`` share a colour (default: runs that
    differ only in their seed); the thick line is their median, the thin lines the individual
    runs (one trace per group and panel; ``customdata`` says which run a point belongs to).
    ``highlight`` (a run position) draws that run bold in every panel and fades the other
    groups. ``focus`` (a fraction of the steps, e.g. 0.3) fits the y axes of the loss and
    accuracy panels to the values after that point, where schedules differ, instead of to
    the first steps' large drop (double-click the plot to see everything). Diverged runs are
    drawn dotted. Training loss falling while test loss rises is
    overfitting: the two loss panels sit side by side to show it. For runs on a data stream
    (``task_loss``), the two middle panels are the test loss on the first two tasks (on the old
    data: forgetting). Curves longer than ``MAX_POINTS`` (a single run's thin line:
    ``RUN_POINTS``) are drawn at every k-th step (after smoothing), so a long sweep of many runs
    stays light to send and draw. Every trace carries ``meta``:
    ``{"runs": label}`` for a group's runs, ``{"group": label}`` for a median or LR line,
    ``{"run": i}`` for the highlighted run.

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=20, batch_size=32,
    ...                   eval_every=10)
    >>> fig = training_curves(wb.run(wb.grid(spec, {"seed": [0, 1]})))
    >>> len(fig.data)   # 3 panels x (the seeds' trace + the median), and the LR
    7
    >>> fig = training_curves(wb.run(wb.grid(spec, {"seed": [0, 1]})), by="seed", highlight=1)
    >>> [d.line.width for d in fig.data if d.meta == {"run": 1}]
    [3.5, 3.5, 3.5]
    """
    panels = [
        # (title, x coordinate, values per run, log y)
        ("training loss (smoothed)", "step", smooth(ds.train_loss.values, window), True),
        ("test loss", "eval_step", ds.eval_loss.values, True),
        ("test accuracy", "eval_step", ds.eval_acc.values, False),
    ]
    if "task_loss" in ds and ds.sizes.get("task", 0) >= 2:  # a data stream: loss per task
        panels[1:] = [
            (f"test loss on {name}", "eval_step", ds.task_loss.values[:, :, k], True)
            for k, name in enumerate(ds.task.values[:2].tolist())
        ]
    labels = group_labels(ds, by)
    lit = labels[highlight] if highlight is not None else None
    colors = qualitative.Plotly + qualitative.D3
    fig = make_subplots(
        rows=1,
        cols=4,
        subplot_titles=[p[0] for p in panels] + ["learning rate"],
        horizontal_spacing=0.06,
    )
    diverged = ds.diverged_step.values >= 0
    traces = []  # plain dicts, added at once: add_trace(row=, col=) per trace is slow
    for gi, g in enumerate(dict.fromkeys(labels)):
        idx = [i for i, lab in enumerate(labels) if lab == g]
        color = colors[gi % len(colors)]
        faded = lit is not None and g != lit
        for col, (_, xname, values, _) in enumerate(panels, start=1):
            x, v = _thin(ds[xname].values, values)
            axes = {"xaxis": f"x{col if col > 1 else ''}", "yaxis": f"y{col if col > 1 else ''}"}
            # every run of the group as one trace (NaN between runs; customdata: the run)
            xr_, vr = _thin(ds[xname].values, values, RUN_POINTS)
            for dots in (False, True):
                members = [i for i in idx if diverged[i] == dots]
                if members:
                    traces.append(_runs_trace(xr_, vr, members, color, g, faded, dots, axes))
            with np.errstate(all="ignore"):
                med = np.nanmedian(v[idx], axis=0)
            traces.append(
                dict(
                    type="scatter",
                    x=x,
                    y=med,
                    mode="lines",
                    legendgroup=g,
                    showlegend=col == 1,
                    name=f"{g} (median of {len(idx)})" if len(idx) > 1 else g,
                    opacity=0.25 if faded else 1.0,
                    line=dict(color=color, width=2.5),
                    meta={"group": g},
                    **axes,
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
                        line=dict(color=color, width=3.5),
                        meta={"run": highlight},
                        hovertemplate=f"{ds.label.values[highlight]}<br>step %{{x}}: %{{y:.4g}}"
                        "<extra></extra>",
                        **axes,
                    )
                )
        x, lr = _thin(ds.step.values, ds.lr.values)
        traces.append(
            dict(
                type="scatter",
                x=x,
                y=lr[idx[0] if highlight not in idx else highlight],
                mode="lines",
                legendgroup=g,
                showlegend=False,
                opacity=0.25 if faded else 1.0,
                line=dict(color=color, width=2),
                meta={"group": g},
                xaxis=f"x{len(panels) + 1}",
                yaxis=f"y{len(panels) + 1}",
            )
        )
    fig.add_traces(traces)
    fig.update_xaxes(title_text="step")
    for col, (_, xname, values, log) in enumerate(panels, start=1):
        if log:
            fig.update_yaxes(type="log", row=1, col=col)
        if focus is not None:
            fig.update_yaxes(
                range=_late_range(ds[xname].values, values, focus, log), row=1, col=col
            )
    fig.update_layout(
        title=title,
        template="plotly_white",
        height=420,
        legend=dict(orientation="h", yanchor="top", y=-0.2),
        margin=dict(l=50, r=20, t=70, b=40),
    )
    return fig


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


def _runs_trace(x, values, members, color, group, faded, dots, axes) -> dict:
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
        line=dict(color=color, width=1, dash="dot" if dots else "solid"),
        meta={"runs": group},
        hovertemplate="run %{customdata}<br>step %{x}: %{y:.4g}<extra></extra>",
        **axes,
    )
