"""Schedules from data: explicit per-step tables, and refinement from observed gradient norms."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .checks import _finite, _fraction, _nonnegative, _sequence
from .core import Schedule, _build, _register

# --------------------------------------------------------------------------- tabulated


def _eval_tabulated(t: torch.Tensor, *, values: tuple[float, ...]) -> torch.Tensor:
    levels = torch.tensor(values, dtype=torch.float64, device=t.device)
    # Fractional steps take the value of the step they fall in, like piecewise().
    return levels[t.floor().clamp(max=len(values) - 1).long()]


@_register(_eval_tabulated)
def tabulated(*, values: Sequence[float]) -> Schedule:
    """A schedule given step by step: ``values[t]`` at step ``t``, then ``values[-1]``.

    For schedules computed elsewhere (e.g. by :func:`refined`) or read from a log. A
    fractional step ``t`` gives ``values[floor(t)]``. The values are stored in the schedule,
    so they travel with it through :meth:`~Schedule.to_dict` and :func:`from_dict`.

    Parameters
    ----------
    values : sequence of float
        Finite values for steps ``0 .. len(values) - 1``; at least one. A tensor or array
        of one dimension is accepted.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> s = tabulated(values=[0.5, 1.0, 0.25])
    >>> [s(t) for t in (0, 1, 1.5, 2, 100)]
    [0.5, 1.0, 1.0, 0.25, 0.25]
    >>> s.values
    (0.5, 1.0, 0.25)
    """
    values = tuple(
        _finite("tabulated", f"values[{i}]", v)
        for i, v in enumerate(_sequence("tabulated", "values", values))
    )
    if not values:
        raise ValueError("tabulated: values is empty; it needs at least one value")
    return _build("tabulated", values=values)


# --------------------------------------------------------------------------- refined


def _median_filter(x: torch.Tensor, half: int) -> torch.Tensor:
    """Running median over windows of ``2 * half + 1`` entries, edges padded with the nearest
    entry, so the output has the length of ``x``."""
    if half == 0:
        return x
    padded = F.pad(x[None, None], (half, half), mode="replicate")[0, 0]
    windows = padded.unfold(0, 2 * half + 1, 1)  # (T, 2 * half + 1), a view
    # In chunks: the median copies its windows, T * (2 * half + 1) values in one go.
    rows = max(1, 2**22 // (2 * half + 1))
    return torch.cat([windows[i : i + rows].median(dim=1).values for i in range(0, len(x), rows)])


def refined(
    *,
    grad_norms: Sequence[float] | torch.Tensor,
    peak: float,
    smooth: float = 0.05,
    warmup_floor: float = 0.0,
) -> Schedule:
    """Schedule refined from the gradient norms of a previous run (Defazio et al. 2023).

    The paper's Algorithm 1 (schedule refinement for SGD), with steps counted from 0: with
    ``T = len(grad_norms)`` and ``ĝ`` the gradient norms smoothed by a running median,

    ``w_t = ĝ_t**-2 * sum(ĝ_s**2 for s in t+1 .. T-1)``,    ``eta_t = peak * w_t / max(w)``.

    This is the step size that minimises the paper's last-iterate bound given the observed
    norms. With constant norms it is linear decay, ``peak * (1 - t / (T - 1))`` (the paper's
    worst-case-optimal schedule, ``1 - t/T`` in its 1-based steps; the last step gets 0). Large
    norms early in the run give a warmup by themselves, and norms that grow towards the end
    give a faster final anneal than linear decay.

    Notes on the formula, checked against the paper: the median filter smooths the *gradient
    norms* before ``w`` is computed (Algorithm 1, line 2), not ``w`` afterwards; the sum is
    strictly after ``t``, so ``w`` is 0 at the last step; and the result is normalised by its
    maximum, which need not be at step 0. This is the SGD rule; the paper derives a separate
    rule for Adam-type methods, not implemented here.

    Parameters
    ----------
    grad_norms : sequence of float or tensor
        Gradient norms ``‖g_t‖`` at steps ``0 .. T-1`` of the previous run; finite, ``> 0``,
        at least two.
    peak : float
        Maximum of the refined schedule, ``>= 0``.
    smooth : float, default 0.05
        Width of the median filter as a fraction of ``T``, in ``[0, 1]`` (the paper's ``tau``):
        the window has ``2 * round(smooth * T / 2) + 1`` steps, so 0 means no smoothing. Edges
        are padded with the nearest norm.
    warmup_floor : float, default 0.0
        Fraction in ``[0, 1]``: before the schedule reaches its maximum, its value is raised to
        at least ``warmup_floor * peak``. Very large norms at initialisation can make the
        automatic warmup start near 0; this bounds how low. 0 keeps the paper's schedule.

    Returns
    -------
    Schedule
        A :func:`tabulated` schedule of ``T`` values; it holds 0 after step ``T - 1``.

    References
    ----------
    Defazio, Cutkosky, Mehta & Mishchenko (2023), "When, why and how much? Adaptive learning
    rate scheduling by refinement" (later "Optimal linear decay learning rate schedules and
    further refinements"), Algorithm 1.

    Examples
    --------
    >>> refined(grad_norms=[2.0] * 5, peak=1.0).values  # constant norms: linear decay
    (1.0, 0.75, 0.5, 0.25, 0.0)
    >>> s = refined(grad_norms=[4.0, 2.0, 1.0, 1.0, 1.0, 1.0], peak=1.0, smooth=0.0)
    >>> [round(v, 4) for v in s.values]  # large early norms: a warmup
    [0.1667, 0.3333, 1.0, 0.6667, 0.3333, 0.0]
    """
    norms = _sequence("refined", "grad_norms", grad_norms)
    norms = tuple(_finite("refined", f"grad_norms[{i}]", g) for i, g in enumerate(norms))
    if len(norms) < 2:
        raise ValueError(f"refined: grad_norms has {len(norms)} entries; it needs at least 2")
    for i, g in enumerate(norms):
        if g <= 0:
            raise ValueError(f"refined: grad_norms[{i}]={g} must be > 0")
    peak = _nonnegative("refined", "peak", peak)
    smooth = _fraction("refined", "smooth", smooth)
    warmup_floor = _fraction("refined", "warmup_floor", warmup_floor)

    half = round(smooth * len(norms) / 2)
    g2 = _median_filter(torch.tensor(norms, dtype=torch.float64), half) ** 2  # ĝ_t², (T,)
    # sum over s > t of ĝ_s²: reversed cumulative sum shifted by one step, 0 at the last step.
    later = torch.cat([g2[1:].flip(0).cumsum(0).flip(0), g2.new_zeros(1)])
    w = later / g2
    top = int(torch.argmax(w))  # first maximum
    w = w / w[top]
    w[:top] = w[:top].clamp(min=warmup_floor)
    return tabulated(values=(peak * w).tolist())
