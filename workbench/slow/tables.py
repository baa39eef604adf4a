"""Per-step coefficients of the slow mechanisms, derived from their knob tables on the host.

Every knob of a :class:`~workbench.slow.Slow` is a float64 table ``[N, T]`` (one value per run
and step, as scheduled and as changed live). The step on the device reads only coefficients
derived from them, so it never branches on the step (a CUDA graph replays it unchanged):

- Lookahead's sync indicator ``s_t`` (1 after the step that ends a run of ``k`` fast steps, or
  that ends a task), giving the rows ``s·α`` (the slow weights' lerp), ``s`` (the fast
  weights' reset to the slow ones) and ``s·(1 − α)`` (the momentum's pull-back);
- each EMA's update weight ``w_t = (1 − β_t)·due_t·draw_t``: ``β_t`` after warm-up, ``due_t`` on
  every ``every``-th step, ``draw_t`` a Bernoulli(``prob``) draw;
- the backbone's LR ratio.

A live change rewrites a knob's table from the current step on and the coefficients are derived
again from step 0 (the past is what was used, so it derives the same).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..feed import _K3, _mix
from .specs import Slow

__all__ = ["coefficient_rows", "draws", "ema_weights", "sync_table"]

_DRAW_KEY = 0x51_0E_A7  # the hash purpose of EMA update draws


def draws(seeds: torch.Tensor, copy: int, steps: int) -> torch.Tensor:
    """Uniform numbers in [0, 1), float64 ``[N, steps]``: a counter-based hash of each run's
    seed, the copy's position and the step (no generator state, so a run draws the same alone
    or in any bucket).

    Examples
    --------
    >>> u = draws(torch.tensor([0, 1]), 0, 1000)
    >>> u.shape, bool(((u >= 0) & (u < 1)).all()), abs(float(u.mean()) - 0.5) < 0.03
    (torch.Size([2, 1000]), True, True)
    >>> bool(torch.equal(u[1], draws(torch.tensor([1]), 0, 1000)[0]))
    True
    """
    base = _mix(_mix(seeds.to(torch.int64) * _K3 + _DRAW_KEY) + copy)  # (N,)
    t = torch.arange(steps, dtype=torch.int64, device=seeds.device)
    bits = _mix(base[:, None] + t[None, :] * _K3)  # (N, T)
    return ((bits >> 11) & ((1 << 53) - 1)).to(torch.float64) / float(1 << 53)


def sync_table(k: np.ndarray, *, starts: Sequence[int] | None = None) -> np.ndarray:
    """Lookahead's sync indicator ``[N, T]`` (1.0 after a step that syncs).

    ``k`` ``[N, T]`` holds each run's ``k`` at every step: a counter of fast steps since the
    last sync grows by one each step and a sync happens once it reaches the step's ``k``. With
    ``starts`` (a task stream's task starts, ``sync="tasks"``) the sync is after the last step
    of every task instead.

    Examples
    --------
    >>> sync_table(np.full((1, 7), 3.0))[0].tolist()
    [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    >>> sync_table(np.ones((1, 6)), starts=(0, 2, 5))[0].tolist()
    [0.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    """
    n, steps = k.shape
    out = np.zeros((n, steps))
    if starts is not None:
        ends = [s - 1 for s in starts[1:] if 0 < s <= steps]
        out[:, ends] = 1.0
        return out
    count = np.zeros(n)
    for t in range(steps):
        count += 1
        hit = count >= k[:, t]
        out[hit, t] = 1.0
        count[hit] = 0
    return out


def ema_weights(
    beta: np.ndarray,
    every: np.ndarray,
    prob: np.ndarray,
    u: np.ndarray,
    *,
    gamma: float | None,
    power: float,
) -> tuple[np.ndarray, np.ndarray]:
    """An EMA's update weight ``w = (1 − β_t)·due·draw`` and its ``β_t``, both ``[N, T]``.

    Examples
    --------
    >>> one = np.ones((1, 4))
    >>> w, b = ema_weights(0.5 * one, one, one, 0 * one, gamma=None, power=1.0)
    >>> w[0].tolist()
    [0.5, 0.5, 0.5, 0.5]
    >>> w, b = ema_weights(0.9 * one, 2 * one, one, 0 * one, gamma=1.0, power=1.0)
    >>> b[0].round(3).tolist(), w[0].round(3).tolist()   # CLS-ER's min(1 - 1/(t+1), beta)
    ([0.0, 0.5, 0.667, 0.75], [0.0, 0.5, 0.0, 0.25])
    """
    steps = beta.shape[1]
    t = np.arange(steps, dtype=np.float64)
    beta_t = beta
    if gamma is not None:
        beta_t = np.minimum(beta, 1.0 - (1.0 + t / gamma) ** (-power))
    due = ((t + 1) % every == 0) & (u < prob)
    return (1.0 - beta_t) * due, beta_t


def coefficient_rows(
    slow: Slow,
    tables: dict[str, np.ndarray],
    seeds: torch.Tensor,
    *,
    starts: Sequence[int] | None,
    uniforms: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The step's coefficients ``[T, R, N]`` (float64) and each copy's horizon ``[N, T]``.

    Rows, in order: Lookahead's ``s·α``, ``s``, ``s·(1 − α)`` (if any); one weight per EMA; the
    backbone LR ratio, the consistency weight and the error memory's weight (each if any).
    ``uniforms`` are the EMAs' draws (:func:`draws`, made once).
    """
    rows, horizons = [], {}
    la = slow.lookahead
    if la is not None:
        alpha = tables["lookahead_alpha"]
        s = sync_table(tables["lookahead_k"], starts=starts if la.sync == "tasks" else None)
        rows += [s * alpha, s, s * (1 - alpha)]
        horizons["slow"] = (
            tables["lookahead_k"] / alpha if la.sync == "steps" else np.full_like(alpha, np.inf)
        )
    for i, e in enumerate(slow.ema):
        beta, every, prob = (tables[f"{e.name}_{f}"] for f in ("beta", "every", "prob"))
        u = uniforms[i] if uniforms is not None else draws(seeds, i, beta.shape[1]).numpy()
        w, _ = ema_weights(beta, every, prob, u, gamma=e.gamma, power=e.power)
        rows.append(w)
        with np.errstate(divide="ignore"):
            horizons[e.name] = every / ((1 - beta) * prob)
    for name in ("backbone_lr", "consistency", "memory_weight"):
        if name in tables:
            rows.append(tables[name])
    coef = np.stack(rows, 0).transpose(2, 0, 1)  # (T, R, N)
    return coef, horizons
