"""The fitting engine behind :mod:`.fits`: an exponential or a power law fitted to one curve by
variable projection, the bounded least squares in ``(R_inf, R0)``, and the half-life and time
scale of a fit."""

from __future__ import annotations

import numpy as np

MODELS = ("exp", "power")
N_PARAMS = {"exp": 3, "power": 4}  # R0, R_inf, tau (and c)
RSS_FLOOR = 1e-18  # per point: a residual RMS of 1e-9, far below any accuracy's resolution
FLAT = 1e-9  # a curve whose range is below this has nothing to fit
FIT_VARS = ("R0", "R_inf", "tau", "c", "r2", "aic", "at_bound", "half_life", "time_scale")
HALF, SCALE = FIT_VARS.index("half_life"), FIT_VARS.index("time_scale")
TAU_MAX = 10  # tau is at most this many times the curve's last t


def _fit_both(
    t: np.ndarray, y: np.ndarray, box: tuple[float, float]
) -> tuple[np.ndarray, list[str], int]:
    """Both models: params ``(model, FIT_VARS)``, reasons, the best model's index (-1: none)."""
    fits = [_fit_one(t, y, m, box) for m in MODELS]
    params = np.array([p for p, _ in fits])
    aic = params[:, FIT_VARS.index("aic")]
    aic = np.where(np.isfinite(aic), aic, np.inf)
    best = int(np.argmin(aic)) if np.isfinite(aic).any() else -1
    return params, [r for _, r in fits], best


def _fit_one(
    t: np.ndarray, y: np.ndarray, model: str, box: tuple[float, float]
) -> tuple[np.ndarray, str]:
    """One model's ``FIT_VARS`` by variable projection, or ``NaN`` and why not."""
    nan = np.full(len(FIT_VARS), np.nan)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    k = N_PARAMS[model]
    if not y.size:
        return nan, "no finite points"
    if (t < 0).any():
        return nan, "t < 0"
    if np.unique(t).size <= k:
        return nan, f"too few points: {np.unique(t).size} distinct t, {model} needs {k + 1}"
    if np.ptp(y) < FLAT:
        return nan, "flat curve: nothing to fit"
    from scipy.optimize import minimize

    lo, hi = np.log(t[t > 0].min() / 10), np.log(TAU_MAX * t.max())
    grid = [np.linspace(lo, hi, 81)] + (
        [np.linspace(np.log(0.02), np.log(50), 41)] if k == 4 else []
    )
    mesh = np.stack([g.ravel() for g in np.meshgrid(*grid, indexing="ij")], axis=1)
    rss = _profile(_basis(t, np.exp(mesh), model), y, box)[0]
    fit = minimize(
        lambda x: _profile(_basis(t, np.exp(x)[None], model), y, box)[0][0],
        mesh[np.argmin(rss)],
        method="Nelder-Mead",
        bounds=[(g[0], g[-1]) for g in grid],
        options={"xatol": 1e-6, "fatol": 1e-15, "maxiter": 400 * (k - 2)},
    )
    x = fit.x if fit.fun <= rss.min() else mesh[np.argmin(rss)]  # never worse than the grid
    theta = np.exp(x)
    rss, r_inf, r0 = (v[0] for v in _profile(_basis(t, theta[None], model), y, box))
    tau, c = theta[0], theta[1] if k == 4 else np.nan
    n = y.size
    r2 = 1 - rss / (n * y.var())
    aic = n * np.log(max(rss, n * RSS_FLOOR) / n) + 2 * k
    edge = any(min(v - g[0], g[-1] - v) < 1e-3 for v, g in zip(x, grid, strict=True))
    half, scale = _half_lives(r0, r_inf, tau, c, model)
    out = np.array([r0, r_inf, tau, c, r2, aic, float(edge), half, scale])
    needed = [FIT_VARS.index(v) for v in ("R0", "R_inf", "tau", "r2", "aic", "time_scale")]
    return (out, "") if np.isfinite(out[needed]).all() else (nan, "fit failed")


def _half_lives(r0: float, r_inf: float, tau: float, c: float, model: str) -> tuple[float, float]:
    """``(half_life, time_scale)`` of a fit, as :func:`fit_forgetting` defines them."""
    ln_scale = np.log(2.0)  # ln of the factor by which R - R_inf falls at the time scale
    if r0 <= 0:
        half = np.nan  # nothing to halve
    elif r_inf >= r0 / 2:
        half = np.inf  # never falls to R0 / 2
    else:
        ln_half = np.log((r0 - r_inf) / (r0 / 2 - r_inf))
        half = tau * ln_half if model == "exp" else tau * _expm1_over(ln_half, c)
    scale = tau * ln_scale if model == "exp" else tau * _expm1_over(ln_scale, c)
    return float(half), float(scale)


def _expm1_over(x: float, c: float) -> float:
    """``exp(x / c) - 1``, ``inf`` past the float range (a power law with a tiny ``c``)."""
    with np.errstate(over="ignore"):
        return float(np.expm1(x / c))


def _basis(t: np.ndarray, theta: np.ndarray, model: str) -> np.ndarray:
    """``(G, n)``: ``exp(-t / tau)`` or ``(1 + t / tau) ** -c`` for each row ``(tau[, c])``."""
    tau = theta[:, :1]
    if model == "exp":
        return np.exp(-t / tau)
    return (1 + t / tau) ** -theta[:, 1:2]


def _profile(phi: np.ndarray, y: np.ndarray, box: tuple[float, float]):
    """Least squares of ``y ≈ R_inf + (R0 - R_inf) · phi`` per row of ``phi``, ``R_inf`` and
    ``R0`` within ``box``: ``(rss, R_inf, R0)``, each ``(G,)``.

    A convex quadratic in ``(R_inf, R0)`` over a box: its minimum is the unconstrained one when
    that is inside, else on an edge, where one variable is fixed at a bound and the other's
    1-variable least squares, clamped to the box, is the edge's minimum. Of these candidates
    the feasible one with the least RSS is exact."""
    lo, hi = box
    tiny = 1e-14
    # unconstrained: y ≈ a + b · phi
    mean_phi = phi.mean(axis=1)
    dphi = phi - mean_phi[:, None]
    dy = y - y.mean()
    var = (dphi**2).sum(axis=1)
    b = np.where(var > tiny, (dphi @ dy) / np.where(var > tiny, var, 1), 0.0)
    a = y.mean() - b * mean_phi
    cands = [(a, a + b)]
    feasible = [(a >= lo) & (a <= hi) & (a + b >= lo) & (a + b <= hi)]
    q = 1 - phi  # y ≈ R_inf · q + R0 · phi
    s_pp, s_py = (phi**2).sum(axis=1), phi @ y
    s_qq, s_qy, s_qp = (q**2).sum(axis=1), q @ y, (q * phi).sum(axis=1)
    for v in (lo, hi):
        if not np.isfinite(v):
            continue
        # R_inf = v: y - v ≈ (R0 - v) · phi
        r0 = v + np.where(s_pp > tiny, (s_py - v * phi.sum(axis=1)) / np.maximum(s_pp, tiny), 0)
        cands.append((np.full_like(a, v), np.clip(r0, lo, hi)))
        # R0 = v: y - v · phi ≈ R_inf · q (q ≈ 0: R_inf is not pinned; take R_inf = R0)
        r_inf = np.where(s_qq > tiny, (s_qy - v * s_qp) / np.maximum(s_qq, tiny), v)
        cands.append((np.clip(r_inf, lo, hi), np.full_like(a, v)))
        feasible += [np.ones_like(a, dtype=bool)] * 2
    r_inf = np.stack([c[0] for c in cands])  # (candidate, G)
    r0 = np.stack([c[1] for c in cands])
    res = y - r_inf[..., None] - (r0 - r_inf)[..., None] * phi
    rss = np.where(np.stack(feasible), (res**2).sum(axis=2), np.inf)
    i = np.argmin(rss, axis=0)
    cols = np.arange(phi.shape[0])
    return rss[i, cols], r_inf[i, cols], r0[i, cols]
