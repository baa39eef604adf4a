"""Schedule search on paper: the member of a schedule family with the lowest predicted loss.

:func:`best_in_family` tries every point of a grid of a schedule family's arguments;
:func:`best_wsd` searches the WSD family's decay fractions and shapes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from .. import schedules as _schedules
from ._common import _count_arg, _lr_array
from .fitting import FittedLaw


def best_in_family(
    fitted: FittedLaw,
    make_schedule: Callable[..., Any],
    grid: Mapping[str, Sequence[Any]],
    *,
    steps: int,
) -> dict[str, Any]:
    """The member of a schedule family with the lowest predicted final loss.

    Parameters
    ----------
    fitted : FittedLaw
    make_schedule : callable
        ``make_schedule(**point)`` for each point of ``grid`` returns a
        :class:`~workbench.schedules.Schedule` (or an array of ``steps`` learning rates). A
        point it rejects with ``ValueError`` is skipped (its predicted loss is NaN).
    grid : dict of str to sequence
        Values of each argument; every combination is tried.
    steps : int
        Training budget: the loss is predicted after ``steps`` updates.

    Returns
    -------
    dict
        ``best`` (the best point), ``predicted_final``, ``schedule``, ``table`` (its learning
        rates, ``[steps]``) and ``losses``: the predicted final loss at every point, an
        ``xarray.DataArray`` with one dim per key of ``grid``.

    Examples
    --------
    >>> from workbench import schedules
    >>> from workbench.predict import MultiPowerLaw
    >>> f = FittedLaw("multi_power", dict(L0=1.0, A=1.0, alpha=0.5, B=0.2, C=1.0, beta=1.0,
    ...                                   gamma=0.5), MultiPowerLaw())
    >>> out = best_in_family(f, lambda final: schedules.cosine(peak=1.0, steps=100, final=final),
    ...                      {"final": [0.0, 0.5, 1.0]}, steps=100)
    >>> out["best"], round(out["predicted_final"], 4)
    ({'final': 0.0}, 0.9669)
    """
    steps = _count_arg("best_in_family", "steps", steps, 1)
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("best_in_family: grid must be a non-empty dict of argument -> values")
    keys = list(grid)
    values = [list(grid[k]) for k in keys]
    if any(not v for v in values):
        raise ValueError(f"best_in_family: every grid entry needs values, got {dict(grid)}")
    losses = np.full([len(v) for v in values], np.nan)
    best = None
    first_error = None
    for idx in itertools.product(*(range(len(v)) for v in values)):
        point = {k: values[i][j] for i, (k, j) in enumerate(zip(keys, idx, strict=True))}
        try:
            schedule = make_schedule(**point)
        except ValueError as e:
            first_error = first_error or e
            continue
        table = _table_of(schedule, steps)
        final = float(fitted.predict(table, steps=[steps])[0])
        losses[idx] = final
        if best is None or final < best["predicted_final"]:
            best = dict(best=point, predicted_final=final, schedule=schedule, table=table)
    if best is None:
        raise ValueError(f"best_in_family: make_schedule rejected every point: {first_error}")
    coords = {k: _coord(v) for k, v in zip(keys, values, strict=True)}
    best["losses"] = xr.DataArray(losses, coords=coords, dims=keys, name="predicted_final")
    return best


def _coord(values: list) -> np.ndarray:
    try:
        return np.asarray(values)
    except ValueError:  # ragged or odd objects: label them by position
        return np.arange(len(values))


def _table_of(schedule: Any, steps: int) -> np.ndarray:
    if isinstance(schedule, _schedules.Schedule):
        return schedule.table(steps).numpy()
    table = _lr_array("best_in_family", "make_schedule(...)", schedule)
    if table.size != steps:
        raise ValueError(
            f"best_in_family: make_schedule returned {table.size} learning rates; steps={steps}"
        )
    return table


def best_wsd(
    fitted: FittedLaw,
    *,
    steps: int,
    peak: float,
    warmup: int = 0,
    decays: Sequence[float] = tuple(np.linspace(0.05, 0.5, 10)),
    shapes: Sequence[str] = _schedules.WSD_SHAPES,
    final: float = 0.0,
) -> dict[str, Any]:
    """The WSD decay fraction and shape with the lowest predicted final loss.

    Searches :func:`workbench.schedules.wsd` over ``decays`` x ``shapes`` with
    :func:`best_in_family`.

    Parameters
    ----------
    fitted : FittedLaw
    steps, peak, warmup, final
        As in :func:`~workbench.schedules.wsd`.
    decays : sequence of float
        Decay fractions to try (combinations that do not fit beside the warmup are skipped).
    shapes : sequence of str
        Decay shapes to try.

    Returns
    -------
    dict
        ``decay``, ``shape``, ``predicted_final``, ``table`` (the best schedule's learning
        rates, ``[steps]``), ``schedule`` and ``losses`` (``DataArray`` over ``shape, decay``).

    References
    ----------
    Luo et al. (2025) optimise the whole schedule under the multi-power law and find a
    WSD-like shape; this searches the WSD family only.

    Examples
    --------
    >>> from workbench.predict import MultiPowerLaw
    >>> f = FittedLaw("multi_power", dict(L0=1.0, A=1.0, alpha=0.5, B=0.2, C=1.0, beta=1.0,
    ...                                   gamma=0.5), MultiPowerLaw())
    >>> out = best_wsd(f, steps=200, peak=1.0, decays=[0.1, 0.3], shapes=["linear", "1-sqrt"])
    >>> out["shape"], out["decay"], out["losses"].dims
    ('1-sqrt', 0.3, ('shape', 'decay'))
    """
    peak = float(peak)

    def make(shape: str, decay: float):
        return _schedules.wsd(
            peak=peak, steps=steps, warmup=warmup, decay=float(decay), shape=shape, final=final
        )

    out = best_in_family(
        fitted, make, {"shape": list(shapes), "decay": [float(d) for d in decays]}, steps=steps
    )
    point = out.pop("best")
    return dict(
        decay=point["decay"],
        shape=point["shape"],
        predicted_final=out["predicted_final"],
        table=out["table"],
        schedule=out["schedule"],
        losses=out["losses"],
    )
