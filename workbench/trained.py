"""What a live session actually trained, written as specs that :func:`workbench.run` reproduces.

A live session changes runs while they train (an LR multiplier, a weight-decay change, forks);
the Dataset records every hyperparameter actually used at every step. :func:`trained_specs`
(and :meth:`workbench.Session.trained_specs`, from the exact float64 tables) write each run as
a spec trained from step 0 whose schedules give exactly the recorded values, compact where a
constant or linear piece does (exports on the lab page use them).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from . import results as _results
from .schedules import Schedule, as_schedule, join, linear, piecewise, tabulated
from .slow import knobs as slow_knobs
from .spec import RunSpec, set_path
from .streams import TaskStream

__all__ = ["trained_specs"]


def trained_specs(ds) -> list[RunSpec]:
    """What each run of a results Dataset actually trained, as specs that reproduce it.

    Live sessions change runs as they train (:meth:`Session.set_knob`, :meth:`Session.fork`);
    the Dataset records every hyperparameter actually used at every step. Each run becomes a
    spec trained from step 0 (a branch with its parent's values before its fork step, which is
    the same run: batches are a pure function of the run's seed and the step) with:

    - the run's own spec where every hyperparameter it used equals the spec's schedule;
    - otherwise that hyperparameter as a compact schedule giving the recorded values: a
      ``piecewise`` of constants (``set_knob("weight_decay", 0.1)`` on a constant),
      ``join([original, ...], [step, ...])`` of the original schedule and constant or linear
      pieces (a fork's decay to zero), and ``tabulated`` values only for stretches that no
      constant or linear piece reproduces (an LR multiplier on a cosine);
    - ``steps`` as recorded (a stopped session's runs end where they got to).

    Changes are looked for at the steps :attr:`Session.events` logged (the Dataset's
    ``session_events`` attr), at fork steps and where a run first leaves its spec. A compact
    form is used only where it gives the recorded (float32) values to the last unit;
    :meth:`workbench.Session.trained_specs` reads the exact float64 tables instead.

    Parameters
    ----------
    ds
        A Dataset of :meth:`workbench.Session.dataset` (or of :func:`workbench.run`).

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(16,)), optimizer=wb.SGD(lr=0.1),
    ...                   steps=30, batch_size=32, eval_every=10)
    >>> s = wb.Session([spec], chunk_steps=10)
    >>> s.pause(at_step=10)
    >>> _ = s.start(); _ = s.wait_paused()
    >>> branch, = s.fork([0], knobs={"lr": lambda step, n, cur: cur * np.linspace(1, 0, n)})
    >>> s.resume(); s.wait()
    'done'
    >>> trained_specs(s.dataset())[1].optimizer.lr
    join(schedules=(constant(value=0.1), linear(start=0.1, end=0.0, steps=19)), boundaries=(10,))
    """
    specs = _results.specs_of(ds)
    events = json.loads(ds.attrs.get("session_events", "[]"))
    ids = (
        ds["session_run"].values.tolist() if "session_run" in ds.coords else list(range(len(specs)))
    )
    parent = (
        dict(zip(ids, ds["parent"].values.tolist(), strict=True)) if "parent" in ds.coords else {}
    )
    fork = (
        dict(zip(ids, ds["fork_step"].values.tolist(), strict=True))
        if "fork_step" in ds.coords
        else {}
    )
    out = []
    for i, spec in enumerate(specs):
        names = spec.optimizer.hyperparameters
        missing = [h for h in names if h not in ds.data_vars]
        if missing:
            raise ValueError(
                f"trained_specs: the Dataset has no {missing[0]!r} per step for run {i}; "
                "it needs the hyperparameters the engine records"
            )
        used = {h: ds[h].values[i].astype(np.float64) for h in names}
        if spec.replay is not None and "replay_ratio" in ds.data_vars:
            used["replay_ratio"] = ds["replay_ratio"].values[i].astype(np.float64)
        for name in slow_knobs(spec.slow) if spec.slow is not None else ():
            if name in ds.data_vars:
                used[name] = ds[name].values[i].astype(np.float64)
        n = int(np.isfinite(used[names[0]]).sum())
        used = {h: v[:n] for h, v in used.items()}
        cuts = functools.partial(_cuts, events, parent, fork, ids[i])
        out.append(_trained_spec(spec, used, cuts, exact=False))
    return out


def _cuts(
    events: list[dict], parent: Mapping[int, int], fork: Mapping[int, int], r: int, h: str
) -> set:
    """Steps at which hyperparameter ``h`` of run ``r`` may change: its knob events, its fork
    step, and its ancestors' changes up to the fork (a branch copies its parent's tables)."""
    knobs = {h, "lr_scale"} if h == "lr" else {h}
    cuts = {e["step"] for e in events if e["name"] in knobs and r in e["runs"]}
    p, at = parent.get(r, -1), fork.get(r, -1)
    if p >= 0 and at >= 0:
        cuts |= {at} | {c for c in _cuts(events, parent, fork, p, h) if c <= at}
    return cuts


def _trained_spec(
    spec: RunSpec, used: dict[str, np.ndarray], cuts: Callable[[str], set], *, exact: bool
) -> RunSpec:
    """``spec`` with each hyperparameter refit to the values ``used`` ``[steps]`` (see
    :func:`trained_specs`) and ``steps`` the number of steps recorded."""
    steps = len(next(iter(used.values())))
    if steps == 0:
        raise ValueError("trained_specs: a run has no recorded step")
    used = dict(used)
    ratio = used.pop("replay_ratio", None)
    if ratio is not None and spec.replay is not None:  # a live replay ratio, fitted the same way
        fit = _fit(spec.replay.ratio, ratio, cuts("replay_ratio"), exact=exact)
        spec = dataclasses.replace(spec, replay=dataclasses.replace(spec.replay, ratio=fit))
    for name, knob in slow_knobs(spec.slow).items() if spec.slow is not None else ():
        if name in used:  # a live slow knob (Lookahead, EMA, backbone ratio)
            fit = _fit(knob.value, used.pop(name), cuts(name), exact=exact)
            if fit is not knob.value:
                spec = set_path(spec, knob.path, fit)
    opt = spec.optimizer
    changes = {}
    for h, values in used.items():
        fit = _fit(getattr(opt, h), values, cuts(h), exact=exact)
        if fit is not getattr(opt, h):
            changes[h] = fit
    if steps != spec.steps:
        for h in opt.hyperparameters:  # a warmup longer than the run is refused by validate()
            value = changes.get(h, getattr(opt, h))
            if isinstance(value, Schedule) and "warmup" in value.fields and value.warmup > steps:
                changes[h] = _tabulated(used[h], exact=exact)
    if changes:
        spec = dataclasses.replace(spec, optimizer=dataclasses.replace(opt, **changes))
    if steps != spec.steps:
        data = spec.data
        if isinstance(data, TaskStream) and data.starts[-1] >= steps:  # tasks never reached
            k = sum(s < steps for s in data.starts)
            data = dataclasses.replace(
                data, tasks=data.tasks[:k], starts=data.starts[:k], names=data.names[:k]
            )
        spec = dataclasses.replace(spec, data=data, steps=steps)
    return spec


def _close(a: np.ndarray, b: np.ndarray, scale: float, *, exact: bool) -> np.ndarray:
    """Elementwise: ``a`` gives the recorded ``b`` (float64 to 1e-12 of the values' scale, or
    float32 to one unit in the last place)."""
    if exact:
        return np.abs(a - b) <= 1e-12 * scale
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    return np.abs(a32.astype(np.float64) - b32) <= np.spacing(np.abs(b32)).astype(np.float64)


def _nice(x: float, *, exact: bool) -> float:
    """The shortest decimal that stands for ``x`` (``0.015`` for ``0.01 * 1.5``)."""
    for digits in range(1, 18):
        y = float(f"{x:.{digits}g}")
        if (abs(y - x) <= 1e-12 * abs(x)) if exact else np.float32(y) == np.float32(x):
            return y
    return float(x)


def _tabulated(values: np.ndarray, *, exact: bool) -> Schedule:
    return tabulated(values=[float(v) if exact else _nice(float(v), exact=False) for v in values])


def _pieces(values: np.ndarray, scale: float, *, exact: bool) -> Schedule | float:
    """A constant, a linear ramp (holding its end), or the values tabulated."""
    m = len(values)
    first = _nice(float(values[0]), exact=exact)
    if _close(np.full(m, first), values, scale, exact=exact).all():
        return first
    diffs = np.diff(values)
    noise = 1e-12 * scale if exact else 4 * float(np.spacing(np.float32(scale)))
    ramp = int(np.argmax(np.abs(diffs - diffs[0]) > noise)) or m - 1  # steps of the ramp
    end = _nice(float(values[ramp]), exact=exact)
    candidate = linear(start=first, end=end, steps=ramp)
    if _close(candidate.table(m).numpy(), values, scale, exact=exact).all():
        return candidate
    return _tabulated(values, exact=exact)


def _fit(original, used: np.ndarray, cuts: Iterable[int], *, exact: bool):
    """``original`` if it gives ``used`` ``[n]``, else the most compact schedule that does,
    changing only at ``cuts`` (and where ``used`` first leaves ``original``)."""
    n = len(used)
    scale = float(np.abs(used).max()) or 1.0
    base = as_schedule(original).table(n).numpy()
    same = _close(base, used, scale, exact=exact)
    if same.all():
        return original
    cuts = {0, n} | {int(c) for c in cuts if 0 < c < n}
    leaves = int(np.argmin(same))  # the first step off the original
    if max(c for c in cuts if c <= leaves) == 0:  # no logged change explains it: a cut there
        cuts.add(leaves)
    cuts = sorted(cuts)
    pieces: list[tuple[int, object]] = []  # (start, piece); pieces[0] may be the original
    for lo, hi in zip(cuts, cuts[1:], strict=False):
        if same[:hi].all():  # still the original schedule (only ever the first piece)
            pieces[:1] = [(0, original)]
            continue
        piece = _pieces(used[lo:hi], scale, exact=exact)
        prev = pieces[-1][1] if pieces else None
        if isinstance(piece, float) and isinstance(prev, float) and piece == prev:
            continue  # the same constant goes on
        if _is_tab(piece) and _is_tab(prev) and len(prev.values) == lo - pieces[-1][0]:
            pieces[-1] = (pieces[-1][0], tabulated(values=prev.values + piece.values))
            continue
        pieces.append((lo, piece))
    first = pieces[0][1]
    if isinstance(first, Schedule) and first.kind == "constant":
        pieces[0] = (0, first.value)
    if len(pieces) == 1:
        fit = pieces[0][1]
    elif all(isinstance(p, int | float) for _, p in pieces):
        fit = piecewise(boundaries=[a for a, _ in pieces[1:]], values=[p for _, p in pieces])
    else:
        fit = join([p for _, p in pieces], [a for a, _ in pieces[1:]])
    if not _close(as_schedule(fit).table(n).numpy(), used, scale, exact=exact).all():
        return _tabulated(used, exact=exact)  # never wrong: the values themselves
    return fit


def _is_tab(x) -> bool:
    return isinstance(x, Schedule) and x.kind == "tabulated"
