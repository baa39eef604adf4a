"""Runs' paths through parameter space, read from their snapshots: how far each has gone from
its initialization (:func:`distance_from_init`) and where it crosses a landscape plane
(:func:`project_paths`).

Both are cheap (a norm, a 2 x 2 solve per snapshot), so a live page recomputes them whenever
new snapshots arrive.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import xarray as xr

from ..track import snapshots
from .planes import Plane

__all__ = [
    "copy_paths",
    "copy_plane",
    "distance_from_init",
    "path_names",
    "path_steps",
    "project_paths",
    "snapshot_at",
    "tail_window",
]


def distance_from_init(ds: xr.Dataset) -> xr.DataArray:
    """``‖θ_t − θ_0‖`` over ``(run, snap_step)`` from the parameter snapshots of ``ds`` (the
    first snapshot of a run is its ``θ_0``); NaN where a run has no snapshot at that step (or
    none at all). Raises a ValueError if no run recorded snapshots.

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=20, batch_size=32,
    ...                   track=wb.Track(snapshot_every=10))
    >>> d = distance_from_init(wb.run([spec]))
    >>> d.dims, d.snap_step.values.tolist(), float(d[0, 0])
    (('run', 'snap_step'), [0, 10, 20], 0.0)
    """
    snaps = snapshots(ds)
    steps = np.asarray(sorted(set().union(*(s.tolist() for s, _ in snaps.values()))), np.int64)
    pos = {int(s): i for i, s in enumerate(steps)}
    n_runs = ds.sizes["run"]
    out = np.full((n_runs, len(steps)), np.nan)
    for r, (s, theta) in snaps.items():
        if r >= n_runs:
            continue
        theta = np.asarray(theta, dtype=np.float64)
        out[r, [pos[int(k)] for k in s]] = np.linalg.norm(theta - theta[0], axis=1)
    return xr.DataArray(
        out,
        dims=("run", "snap_step"),
        coords={"run": ds.run.values, "snap_step": steps},
        name="distance_from_init",
        attrs={"long_name": "distance from the initialization ‖θ_t − θ_0‖", "units": "1"},
    )


def _runs(ds: xr.Dataset, runs: Iterable[int] | None) -> list[int]:
    snaps = snapshots(ds)
    if runs is None:
        return [r for r in sorted(snaps) if r < ds.sizes["run"]]
    runs = [int(r) for r in runs]
    missing = [r for r in runs if r not in snaps]
    if missing:
        raise ValueError(
            f"project_paths: runs {missing} recorded no snapshots; runs with snapshots: "
            f"{sorted(snaps)}"
        )
    return runs


def project_paths(
    plane: Plane, ds: xr.Dataset, runs: Iterable[int] | None = None
) -> dict[int, np.ndarray]:
    """``{run: coords [T, 2]}``: every snapshot of each run (default: all runs with
    snapshots) projected on ``plane`` (:meth:`Plane.project`), in the order of its steps
    (:func:`path_steps`).

    Examples
    --------
    >>> import torch, workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=20, batch_size=32,
    ...                   track=wb.Track(snapshot_every=10))
    >>> ds = wb.run([spec])
    >>> theta = torch.as_tensor(snapshots(ds, 0)[1])
    >>> plane = Plane(theta[-1], theta[0] - theta[-1], theta[1] - theta[-1])
    >>> project_paths(plane, ds)[0].round(6).tolist()
    [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    """
    return {r: plane.project(snapshots(ds, r)[1]) for r in _runs(ds, runs)}


def path_steps(ds: xr.Dataset, runs: Iterable[int] | None = None) -> dict[int, np.ndarray]:
    """``{run: steps [T]}``: the steps of the snapshots :func:`project_paths` projects."""
    return {r: np.asarray(snapshots(ds, r)[0]) for r in _runs(ds, runs)}


def path_names(ds: xr.Dataset) -> dict[int, tuple[str, str]]:
    """``{run: (label, group)}`` of the runs with snapshots (none: ``{}``): the label names
    the run (``"lr 0.1 · seed 1"``: its ``name``, else its ``group``, and its seed, and its
    branch if forked), the group is what it is coloured by (its ``name`` or ``group``).

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=10, batch_size=32,
    ...                   track=wb.Track(snapshot_every=10))
    >>> path_names(wb.run(wb.grid(spec, {"seed": [0, 1]})))
    {0: ('all runs · seed 0', 'all runs'), 1: ('all runs · seed 1', 'all runs')}
    """
    snaps = ds.attrs.get("snapshots")
    if not isinstance(snaps, dict):
        return {}
    groups = ds["name" if "name" in ds.coords else "group"].values
    seeds = ds.seed.values if "seed" in ds.coords else np.zeros(ds.sizes["run"], int)
    branch = ds.branch.values if "branch" in ds.coords else ["original"] * ds.sizes["run"]
    out = {}
    for r in sorted(snaps):
        if r < ds.sizes["run"]:
            label = f"{groups[r]} · seed {seeds[r]}"
            out[r] = (
                label if branch[r] == "original" else f"{label} · {branch[r]}",
                str(groups[r]),
            )
    return out


def snapshot_at(ds: xr.Dataset, run: int, step: int | None = None) -> torch.Tensor:
    """Run ``run``'s parameters ``[P]`` at the snapshot of ``step`` (default: its last).

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=20, batch_size=32,
    ...                   track=wb.Track(snapshot_every=10))
    >>> ds = wb.run([spec])
    >>> bool((snapshot_at(ds, 0, 20) == snapshot_at(ds, 0)).all()), snapshot_at(ds, 0).shape
    (True, torch.Size([610]))
    """
    steps, theta = snapshots(ds, run)
    if step is None:
        return torch.as_tensor(theta[-1])
    hit = np.flatnonzero(steps == step)
    if not len(hit):
        raise ValueError(
            f"snapshot_at: run {run} has no snapshot at step {step}; its steps: {steps.tolist()}"
        )
    return torch.as_tensor(theta[int(hit[0])])


# -- fast and slow weights ------------------------------------------------------------------------


def copy_plane(ds: xr.Dataset, run: int, copy: str) -> Plane:
    """The plane run ``run``'s fast path and its slow copy ``copy``'s path (:mod:`workbench.slow`)
    vary most in near the end: centred at the copy's last weights, spanned by the two principal
    directions of the last half of both paths (orthonormal, so both axes are in the same units
    of parameter distance). On it the fast weights and the slow copy's smoother, trailing path
    lie side by side.
    """
    from .directions import pca_directions

    fast = torch.as_tensor(snapshots(ds, run)[1]).double()
    slow = torch.as_tensor(snapshots(ds, run, copy)[1]).double()
    half = len(fast) // 2
    pca = pca_directions(torch.cat([fast[half:], slow[half:]]), center=slow[-1])
    d1, d2 = pca["directions"].float()
    explained = ", ".join(f"{float(e):.0%}" for e in pca["explained"])
    kind = "pca of the last half of the fast and slow paths"
    plane = Plane(slow[-1].float(), d1, d2, provenance={"kind": kind, "explained": explained})
    a, b = plane.project(fast[-1])[0]
    plane.points = {f"{copy} end": (0.0, 0.0), "fast end": (float(a), float(b))}
    return plane


def copy_paths(ds: xr.Dataset, run: int, plane: Plane) -> dict[str, np.ndarray]:
    """Run ``run``'s fast path and each of its slow copies' paths on ``plane``:
    ``{"fast": [T, 2], "slow": [T, 2], ...}``."""
    out = {"fast": plane.project(snapshots(ds, run)[1])}
    for copy in ds["copy"].values[1:] if "copy" in ds.coords else ():
        try:
            out[str(copy)] = plane.project(snapshots(ds, run, str(copy))[1])
        except ValueError:  # a run without this copy (another bucket)
            continue
    return out


def tail_window(plane: Plane, paths: dict[str, np.ndarray]) -> tuple[tuple, tuple]:
    """A grid window covering the last half of every path on ``plane``, with a margin."""
    return plane.extent(np.concatenate([p[len(p) // 2 :] for p in paths.values()]))
