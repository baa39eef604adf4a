"""The pieces of :func:`~.curves.training_curves`: the moving average and the run groups it
draws (:func:`smooth`, :func:`group_labels`, both public in :mod:`.curves`), the panels a sweep
gets, a previous sweep's grey lines, and the trace helpers the other sweep figures share: curves
thinned to a point budget, a group's runs as one trace, its legend name, a y range fitted to the
late steps.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr

from .colours import REFERENCE

MAX_POINTS = 600  # points per median or LR curve drawn; longer curves are strided
RUN_POINTS = 200  # points per single run's thin line (many runs: the browser draws them all)
MAX_TASKS = 4  # per-task loss panels drawn by default


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


@dataclasses.dataclass(frozen=True)
class _Panel:
    """One panel of :func:`~.curves.training_curves`: what it shows, where its values come from."""

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


RUN_HOVER = "run %{customdata}<br>step %{x}: %{y:.4g}<extra></extra>"


def _runs_trace(
    x: np.ndarray,
    values: np.ndarray,
    members: Sequence[int],
    color: str,
    group: str,
    faded: bool,
    dash: str | None,
    axes: dict,
    *,
    tags: np.ndarray | None = None,
    meta: dict | None = None,
    hover: str = RUN_HOVER,
    drop_nan: bool = False,
) -> dict:
    """The thin lines of ``members`` (rows of ``values``, over ``x``) as one trace,
    NaN-separated, each point tagged (``customdata``) with its run's entry in ``tags`` (per
    run; ``None``: its position). ``drop_nan`` leaves out a run's NaN points (a forgetting
    curve's offsets are a subset of ``since``); ``meta`` defaults to ``{"runs": group}``."""
    tags = np.arange(len(values), dtype=np.float64) if tags is None else np.asarray(tags)
    xs, ys = [], []
    for i in members:
        keep = np.isfinite(values[i]) if drop_nan else slice(None)
        xs.append(np.r_[x[keep], np.nan])
        ys.append(np.r_[values[i][keep], np.nan])
    return dict(
        type="scatter",
        x=np.concatenate(xs),
        y=np.concatenate(ys),
        customdata=np.repeat(tags[list(members)], [a.size for a in xs]),
        mode="lines",
        legendgroup=group,
        showlegend=False,
        connectgaps=False,
        opacity=0.08 if faded else 0.35,
        line=dict(color=color, width=1, dash=dash),
        meta={"runs": group} if meta is None else meta,
        hovertemplate=hover,
        **axes,
    )
