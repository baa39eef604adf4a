"""Results as ``xarray.Dataset``: assembly with provenance (save/load and the results cache
are in :mod:`workbench.store`, a Dataset's specs read back and written as Python source in
:mod:`workbench.spec_source`; both re-exported here).

A sweep's Dataset has dims ``run`` and ``step`` (per-step metrics and the hyperparameters
actually used) and ``eval_step`` (test-set evaluations). Every spec field that varies across
the sweep is a coordinate on ``run``; variables carry ``long_name`` and ``units``; the Dataset
attrs hold the full specs, library versions, device, git commit and creation time.

Runs on a :class:`~workbench.streams.TaskStream` add a ``task`` dim: ``task_loss`` and
``task_acc`` ``(run, eval_step, task)`` on every task's test set, the ``task`` coordinate (the
task names; where runs name a position differently, their names joined by ``/``), ``task_start``
``(run, task)`` (the step each task starts, -1 where a run has no such task) and ``task_index``
``(run, step)`` (the task each step trains on, -1 for none). Runs with fewer tasks are NaN in
the missing ones. Plain-dataset sweeps have no task dim. Stream runs also have ``eval_full``
``(run, eval_step)``: 1 where an evaluation used the full test sets, 0 where it used the fixed
probe subsets (:mod:`workbench.evaluation`); streams whose tasks keep class subsets add
``task_acc_til`` ``(run, eval_step, task)``, task-incremental accuracy (``task_acc`` is
class-incremental). Datasets made before these existed simply lack them.

Runs with slow weight copies (:mod:`workbench.slow`) add a ``copy`` dim (``"fast"`` first):
``copy_eval_loss``/``copy_eval_acc``/``copy_distance`` ``(run, eval_step, copy)``,
``copy_task_loss``/``copy_task_acc`` ``(run, eval_step, copy, task)`` on streams and ``horizon``
``(run, step, copy)``; NaN where a run lacks a copy.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from .spec import RunSpec, run_labels, varying
from .spec_source import spec_code, specs_of
from .store import Cache, as_cache, load, save
from .streams import TaskStream
from .track import TRACK_METRICS, Snapshots

__all__ = ["assemble", "save", "load", "Cache", "as_cache", "provenance", "specs_of", "spec_code"]

VARIABLES = {
    # name -> (long_name, units)
    "train_loss": (
        "training minibatch loss (the model's: cross-entropy, or MLP(loss='mse')'s squared "
        "error) before the step's update",
        "nats",
    ),
    "grad_norm": ("L2 norm of the minibatch gradient", "1"),
    "update_norm": ("L2 norm of the parameter update applied at the step", "1"),
    "param_norm": ("L2 norm of all parameters after the step's update", "1"),
    "lr": ("learning rate used at the step", "1"),
    "weight_decay": ("decoupled weight decay used at the step", "1"),
    "beta1": ("AdamW first-moment decay used at the step", "1"),
    "beta2": ("AdamW second-moment decay used at the step", "1"),
    "eps": ("AdamW epsilon used at the step", "1"),
    "momentum": ("SGD momentum used at the step", "1"),
    "replay_ratio": ("fraction of the step's batch drawn from the replay memory (as set)", "1"),
    "eval_loss": (
        "test-set loss (the model's, cross-entropy by default) after eval_step updates (a "
        "stream: of the task trained)",
        "nats",
    ),
    "eval_acc": (
        "test-set accuracy after eval_step updates (a stream: of the task trained)",
        "fraction",
    ),
    "task_loss": (
        "test-set loss (the model's, cross-entropy by default) of each task after eval_step "
        "updates",
        "nats",
    ),
    "task_acc": (
        "test-set accuracy of each task after eval_step updates (class-IL: argmax over every "
        "class)",
        "fraction",
    ),
    "task_acc_til": (
        "test-set accuracy of each task after eval_step updates (task-IL: argmax over the "
        "task's own classes)",
        "fraction",
    ),
    "eval_full": (
        "1 where the evaluation used every task's full test set (step 0, task switches, the "
        "end), 0 where it used the fixed probe subsets",
        "1",
    ),
    "task_index": ("index of the task whose data the step trains on (-1: none)", "1"),
    "attn_logit_max": ("largest pre-softmax attention logit of the layer in the step's batch", "1"),
    "sharpness": (
        "top Hessian eigenvalue of the training loss on a fixed probe of the task's training "
        "set after sharp_step updates (power iteration)",
        "1",
    ),
    "sharpness_residual": (
        "relative residual |Hv - lambda v| / |lambda| of the sharpness estimate (convergence)",
        "1",
    ),
    "sharpness_pre": (
        "AdamW: top eigenvalue of P^-1 H, P = diag(sqrt(v_hat) + eps) Adam's denominator "
        "(preconditioned sharpness)",
        "1",
    ),
    "diverged_step": (
        "step at which the run's loss or gradient became non-finite (-1: never)",
        "step",
    ),
    "copy_eval_loss": (
        "test-set loss of each weight copy (fast, Lookahead's slow, each EMA) after eval_step "
        "updates (a stream: of the task trained)",
        "nats",
    ),
    "copy_eval_acc": ("test-set accuracy of each weight copy after eval_step updates", "fraction"),
    "copy_task_loss": ("test-set loss of each weight copy on each task", "nats"),
    "copy_distance": ("L2 distance of each weight copy from the fast weights", "1"),
    "copy_task_acc": ("test-set accuracy of each weight copy on each task (class-IL)", "fraction"),
    "horizon": (
        "effective horizon of each slow copy at the step: k/alpha (Lookahead), "
        "every/((1-beta)*prob) (EMA)",
        "step",
    ),
    "lookahead_sync": ("1 where Lookahead synced after the step (fast <- slow), else 0", "1"),
    "lookahead_k": ("Lookahead fast steps between syncs, at the step", "step"),
    "lookahead_alpha": ("Lookahead slow step size alpha at the step", "1"),
    "backbone_lr": ("backbone learning rate as a multiple of the head's, at the step", "1"),
}


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(device: str = "cpu") -> dict[str, str]:
    """Library versions, device, git commit and time, for Dataset attrs."""
    import torch

    from . import __version__

    return {
        "workbench_version": __version__,
        "torch_version": str(torch.__version__),
        "numpy_version": np.__version__,
        "xarray_version": xr.__version__,
        "python_version": platform.python_version(),
        "device": device
        + (f" ({torch.cuda.get_device_name()})" if device.startswith("cuda") else ""),
        "git_commit": _git_commit(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def _coord_values(vals: list) -> np.ndarray:
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return np.asarray(
            vals, dtype=np.float64 if any(isinstance(v, float) for v in vals) else np.int64
        )
    if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in vals):
        return np.asarray([np.nan if v is None else v for v in vals], dtype=np.float64)
    return np.asarray(["" if v is None else str(v) for v in vals], dtype=object)


def _pad(rows: list[np.ndarray], length: int) -> np.ndarray:
    """Stack per-run rows ``[t]`` or ``[t, L]`` into ``[n, length(, L)]``, NaN where missing."""
    trail = max((r.shape[1:] for r in rows), key=len)
    width = tuple(max(r.shape[1 + i] for r in rows if r.ndim > i + 1) for i in range(len(trail)))
    out = np.full((len(rows), length, *width), np.nan, dtype=np.float32)
    for i, r in enumerate(rows):
        out[(i, slice(0, len(r)), *(slice(0, k) for k in r.shape[1:]))] = r
    return out


def assemble(
    specs: Sequence[RunSpec], records: Sequence[dict], *, device: str = "cpu"
) -> xr.Dataset:
    """Build the sweep's Dataset from per-run records (as produced by the engine)."""
    n_steps = max(len(r["metrics"]["train_loss"]) for r in records)
    eval_steps = sorted(set().union(*(r["eval_steps"].tolist() for r in records)))
    pos = {s: i for i, s in enumerate(eval_steps)}
    names = []
    for r in records:
        names.extend(k for k in r["metrics"] if k not in names)
    data_vars = {}
    copies, where = _copies(specs)
    for k in names:
        if k == "horizon":  # (steps, slow copies) per run, on the copy coordinate
            data_vars[k] = _on_copies(records, where, n_steps, k, "metrics", shift=1)
            continue
        rows = [r["metrics"].get(k, np.full(0, np.nan)) for r in records]
        arr = _pad(rows, n_steps)
        data_vars[k] = (("run", "step", "layer")[: arr.ndim], arr)
    for k in sorted({k for r in records for k in r["evals"]}):
        if k.startswith("copy_"):  # (evals, copies[, tasks]) per run
            data_vars[k] = _on_copies(records, where, None, k, "evals", eval_steps=eval_steps)
            continue
        # (k,) per run, or (k, tasks) for a stream's per-task evaluations
        rows = [r["evals"].get(k) for r in records]
        tasks = max((v.shape[1] for v in rows if v is not None and v.ndim == 2), default=0)
        shape = (len(records), len(eval_steps)) + ((tasks,) if tasks else ())
        arr = np.full(shape, np.nan, dtype=np.float32)
        for i, (r, v) in enumerate(zip(records, rows, strict=True)):
            if v is None:
                continue
            at = [pos[s] for s in r["eval_steps"].tolist()]
            if len(at) != len(v):
                raise ValueError(f"assemble: run {i}: {len(v)} values of {k} at {len(at)} steps")
            arr[(i, at, *(slice(0, v.shape[1]) for _ in v.shape[1:]))] = v
        data_vars[k] = (("run", "eval_step", "task")[: arr.ndim], arr)
    sharp_steps = _add_track(records, data_vars)
    data_vars["diverged_step"] = (
        ("run",),
        np.asarray([r["diverged_step"] for r in records], dtype=np.int64),
    )
    coords: dict = {
        "run": np.arange(len(specs)),
        "step": np.arange(n_steps),
        "eval_step": np.asarray(eval_steps, dtype=np.int64),
        "seed": ("run", np.asarray([s.seed for s in specs], dtype=np.int64)),
    }
    if sharp_steps is not None:
        coords["sharp_step"] = sharp_steps
    layers = max(
        (a.shape[2] for dims, a in data_vars.values() if dims[2:] == ("layer",)), default=0
    )
    if layers:
        coords["layer"] = np.arange(layers)
    if copies:
        coords["copy"] = np.asarray(copies, dtype=object)
    if any(isinstance(s.data, TaskStream) for s in specs):
        _add_tasks(specs, n_steps, data_vars, coords)
    vary = varying(specs)
    for k, vals in vary.items():
        if k != "seed":
            coords[k] = ("run", _coord_values(vals))
    coords["label"] = ("run", np.asarray(run_labels(specs), dtype=object))
    # runs that differ only in their seed share a group (plots draw their median)
    coords["group"] = ("run", np.asarray(run_labels(specs, exclude=("seed",)), dtype=object))
    ds = xr.Dataset(data_vars, coords=coords)
    ema_knobs = {
        f"{c}_{f}": (f"EMA copy {c!r}: {text} at the step", unit)
        for c in copies[1:]
        for f, text, unit in (
            ("beta", "decay beta (before warm-up)", "1"),
            ("every", "update interval", "step"),
            ("prob", "update probability at a due step", "1"),
        )
    }
    for k in ds.data_vars:
        if k in VARIABLES or k in ema_knobs:
            long_name, units = VARIABLES.get(k) or ema_knobs[k]
            ds[k].attrs.update(long_name=long_name, units=units)
    ds["step"].attrs.update(long_name="optimizer step (updates done before it)", units="step")
    ds["eval_step"].attrs.update(long_name="updates done before the evaluation", units="step")
    if sharp_steps is not None:
        ds["sharp_step"].attrs.update(long_name="updates done before the estimate", units="step")
    snaps = Snapshots(
        {i: r["snapshots"] for i, r in enumerate(records) if "snapshots" in r},
        copies={
            (i, name): (r["snapshots"][0], r["copy_snapshots"][:, j])
            for i, (r, s) in enumerate(zip(records, specs, strict=True))
            if "copy_snapshots" in r
            for j, name in enumerate(s.slow.copies)
        },
    )
    if snaps:
        ds.attrs["snapshots"] = snaps
    if "task" in ds.coords:
        ds["task"].attrs.update(long_name="task of the run's task stream")
        ds["task_start"].attrs.update(long_name="step at which the task starts (-1: none)")
    if any(getattr(s.model, "loss", "cross_entropy") != "cross_entropy" for s in specs):
        for k in ("train_loss", "eval_loss", "task_loss"):
            if k in ds:  # not all nats: name the loss of each kind of run
                ds[k].attrs["units"] = "nats (cross-entropy runs) or squared error (mse runs)"
    ds.attrs.update(provenance(device))
    ds.attrs["specs"] = json.dumps([s.to_dict() for s in specs])
    ds.attrs["spec_keys"] = json.dumps([s.key() for s in specs])
    ds.attrs["varying"] = json.dumps(list(vary))
    return ds


def _copies(specs: Sequence[RunSpec]) -> tuple[list[str], list[list[int]]]:
    """The weight copies evaluated (``"fast"`` first, then every slow copy name in order of
    appearance) and, per run, the position of each of its copies among them."""
    per_run = [
        ("fast", *s.slow.copies) if s.slow is not None and s.slow.copies else () for s in specs
    ]
    names = list(dict.fromkeys(c for cs in per_run for c in cs))
    return names, [[names.index(c) for c in cs] for cs in per_run]


def _on_copies(
    records: Sequence[dict],
    where: list[list[int]],
    n_steps: int | None,
    k: str,
    part: str,
    *,
    shift: int = 0,
    eval_steps: list[int] | None = None,
) -> tuple[tuple[str, ...], np.ndarray]:
    """A per-copy variable: ``metrics`` ``(run, step, copy)`` (``shift=1``: the record has no
    column for the fast weights) or ``evals`` ``(run, eval_step, copy[, task])``, NaN where a
    run lacks a copy, a step or a task."""
    n_copies = max((max(w) + 1 for w in where if w), default=0)
    rows = [r[part].get(k) for r in records]
    tasks = max((v.shape[2] for v in rows if v is not None and v.ndim == 3), default=0)
    length = n_steps if eval_steps is None else len(eval_steps)
    arr = np.full(
        (len(records), length, n_copies, *((tasks,) if tasks else ())), np.nan, np.float32
    )
    pos = None if eval_steps is None else {s: i for i, s in enumerate(eval_steps)}
    for i, (r, v) in enumerate(zip(records, rows, strict=True)):
        if v is None:
            continue
        at = np.arange(len(v)) if pos is None else [pos[s] for s in r["eval_steps"].tolist()]
        cols = where[i][shift:]
        for j, c in enumerate(cols):
            arr[(i, at, c, *(slice(0, v.shape[2]) for _ in v.shape[2:]))] = v[:, j]
    dims = ("run", "step" if eval_steps is None else "eval_step", "copy", "task")
    return dims[: arr.ndim], arr


def _add_track(records: Sequence[dict], data_vars: dict) -> np.ndarray | None:
    """``sharpness`` (and the rest of :data:`~workbench.track.TRACK_METRICS`) over
    ``(run, sharp_step)``, NaN where a run has no estimate; the steps, or None if no run has."""
    tracked = [r.get("track") for r in records]
    if not any(t and len(t.get("sharp_steps", ())) for t in tracked):
        return None
    steps = sorted(set().union(*(t["sharp_steps"].tolist() for t in tracked if t)))
    pos = {s: i for i, s in enumerate(steps)}
    for k in TRACK_METRICS:
        arr = np.full((len(records), len(steps)), np.nan, dtype=np.float32)
        for i, t in enumerate(tracked):
            if t and k in t:
                arr[i, [pos[s] for s in t["sharp_steps"].tolist()]] = t[k]
        if k != "sharpness_pre" or np.isfinite(arr).any():
            data_vars[k] = (("run", "sharp_step"), arr)
    return np.asarray(steps, dtype=np.int64)


def _add_tasks(specs: Sequence[RunSpec], n_steps: int, data_vars: dict, coords: dict) -> None:
    """The ``task`` coordinate, ``task_start`` and ``task_index`` of runs on task streams."""
    streams = [s.data if isinstance(s.data, TaskStream) else None for s in specs]
    n_tasks = max(len(st) for st in streams if st is not None)
    names = []
    for j in range(n_tasks):
        given = [st.names[j] for st in streams if st is not None and j < len(st)]
        names.append("/".join(dict.fromkeys(given)))  # distinct names, in run order
    starts = np.full((len(specs), n_tasks), -1, dtype=np.int64)
    index = np.full((len(specs), n_steps), -1, dtype=np.int64)
    for i, (spec, st) in enumerate(zip(specs, streams, strict=True)):
        if st is not None:
            starts[i, : len(st)] = st.starts
            m = min(n_steps, spec.steps)
            index[i, :m] = st.task_index(m)
    coords["task"] = np.asarray(names, dtype=object)
    coords["task_start"] = (("run", "task"), starts)
    data_vars["task_index"] = (("run", "step"), index)
