"""Half-lives of forgetting curves: what the fit of a group's forgetting curve says of how fast
the task is forgotten, as text (:func:`half_life_text`, what :func:`.forgetting_figure` writes in
its legend and hovers) and as a table per group and task (:func:`half_life_table`).

The curves and fits come from :mod:`workbench.forgetting`; this module only reads them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..forgetting import fit_curves, forgetting_curves
from ._common import _by
from .curves import MAX_TASKS, group_labels

__all__ = ["HALF_LIFE_COLUMNS", "half_life_table", "half_life_text"]

POOR_R2 = 0.5  # a fit explaining less of the curve's variance than this is marked "?"
MIN_DROP = 0.02  # a fitted drop R0 - R_inf below this (in accuracy) has no meaningful half-life
_GROUP = "_group"  # the temporary run coordinate the groups are fitted by
HALF_LIFE_COLUMNS = ("group", "task", "model", "half-life", "time scale", "R²", "note")


def half_life_table(
    ds: xr.Dataset,
    *,
    by: str | Sequence[str] = "name",
    tasks: Sequence[str | int] | None = None,
) -> pd.DataFrame:
    """The half-life of each group's forgetting curve on each task, as
    :func:`.forgetting_figure` gives it (the same fits, read the same way).

    One row per group and task with a curve (two evaluations or more after its training ended,
    in some run), groups in order of appearance, tasks in order; columns:

    - ``group``: the group label (runs with the same value of ``by``);
    - ``task``: the task's name;
    - ``model``: the fit AIC prefers, ``"exp"`` or ``"power"`` (``""``: no fit), of
      :func:`workbench.forgetting.fit_curves` to the group's *mean* curve over its runs;
    - ``half-life``: steps until the fit has fallen to half its value at ``0``
      (:func:`half_life_text`'s ``value``): ``inf`` when it never halves, NaN when the data do
      not pin it (no fit, a fitted drop under :data:`MIN_DROP`, a half-life before the first
      evaluation or beyond the last);
    - ``time scale``: the fit's excess half-life, steps until it has come halfway down to the
      level it decays to (``best_time_scale``; NaN: no fit);
    - ``R²``: the fit's (under :data:`POOR_R2`: the curve is not that shape);
    - ``note``: the half-life in words, as in the figure's hover (``"half-life 21 steps (exp,
      R² 0.97)"``, ``"half-life > 120 steps: slower than the curve reaches (...)"``,
      ``"no fit: too few points"``).

    No task has a curve yet (e.g. while the first task is trained): no rows.

    Parameters
    ----------
    ds
        Results of runs on a task stream (:func:`workbench.run`, :meth:`Session.dataset`).
    by
        The run coordinate(s) whose values make a group; ``"name"`` falls back to ``"group"``
        when ``ds`` has no ``name`` coordinate.
    tasks
        The tasks, by name or position, in this order (``None``: every task with a curve).

    Examples
    --------
    >>> import workbench as wb
    >>> stream = wb.class_incremental("digits", classes_per_task=5, task_steps=30)
    >>> spec = wb.RunSpec(data=stream, model=wb.MLP(hidden=(16,)), optimizer=wb.SGD(lr=0.1),
    ...                   steps=60, batch_size=32, eval_every=5)
    >>> t = half_life_table(wb.run(wb.grid(spec, {"seed": [0, 1]})))
    >>> list(t.columns)
    ['group', 'task', 'model', 'half-life', 'time scale', 'R²', 'note']
    >>> t[["group", "task"]].values.tolist(), bool(t["model"].isin(["exp", "power"]).all())
    ([['all runs', 'classes 0-4']], True)
    """
    _, labels, curves = _group_curves(ds, by, tasks, "half_life_table", limit=None)
    rows = []
    if curves.sizes["task"]:
        fits = fit_curves(curves, by=_GROUP)
        since = curves["since"].values.astype(np.float64)
        values = curves.transpose("run", "task", "since").values
        task_names = [str(n) for n in curves["task"].values]
        for gi, g in enumerate(dict.fromkeys(labels)):
            idx = [i for i, lab in enumerate(labels) if lab == g]
            scale = fits["best_time_scale"].isel({_GROUP: gi}).values
            for k, text in enumerate(_texts(fits, gi, since, values[idx])):
                rows.append(
                    {
                        "group": g,
                        "task": task_names[k],
                        "model": text["model"],
                        "half-life": text["value"],
                        "time scale": float(scale[k]),
                        "R²": text["r2"],
                        "note": text["long"],
                    }
                )
    return pd.DataFrame(rows, columns=HALF_LIFE_COLUMNS).astype(
        {"half-life": float, "time scale": float, "R²": float}
    )


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


def _texts(fits: xr.Dataset, g: int, since: np.ndarray, values: np.ndarray) -> list[dict]:
    """:func:`half_life_text` of the fits of group ``g`` (its position) on each task, the
    offsets where one of its runs' curves ``values`` ``(run, task, since)`` has a value."""
    return [
        half_life_text(fits.isel({_GROUP: g, "task": k}), since[np.isfinite(values[:, k]).any(0)])
        for k in range(values.shape[1])
    ]


def _group_curves(
    ds: xr.Dataset,
    by: str | Sequence[str],
    tasks: Sequence[str | int] | None,
    who: str,
    limit: int | None = MAX_TASKS,
) -> tuple[str | Sequence[str], list[str], xr.DataArray]:
    """``(by, labels, curves)``: ``by`` resolved, each run's group label, and the forgetting
    curves of the tasks ``tasks`` (:func:`_curve_tasks`) with the labels as the run coordinate
    :data:`_GROUP`, which :func:`workbench.forgetting.fit_curves` fits them by."""
    by = _by(ds, by)
    labels = group_labels(ds, by)
    curves = forgetting_curves(ds).assign_coords({_GROUP: ("run", labels)})
    return by, labels, curves.isel(task=_curve_tasks(curves, tasks, who, limit))


def _curve_tasks(
    curves: xr.DataArray, tasks: Sequence[str | int] | None, who: str, limit: int | None
) -> list[int]:
    """Positions of the tasks shown: ``tasks`` (names or positions), or those with a curve (the
    first ``limit``; ``None``: all)."""
    names = [str(n) for n in curves["task"].values]
    has = np.isfinite(curves.transpose("run", "task", "since").values).sum(axis=2).max(axis=0)
    with_curve = [p for p in range(len(names)) if has[p] >= 2]
    if tasks is None:
        return with_curve[:limit]
    out = []
    for t in tasks:
        if isinstance(t, (int, np.integer)) and not isinstance(t, bool) and 0 <= t < len(names):
            out.append(int(t))
        elif isinstance(t, str) and t in names:
            out.append(names.index(t))
        else:
            raise ValueError(
                f"{who}: tasks has {t!r}; allowed: a task name of {names} or a "
                f"position in [0, {len(names) - 1}]"
            )
    return out
