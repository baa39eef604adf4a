"""Results on disk: a Dataset saved and loaded (with its parameter snapshots beside it), and the
per-run results cache.

Both write atomically: a file is written to a temporary name and renamed into place, so an
interrupted write leaves nothing that is later read as valid. The cache stores one entry per
run, keyed by the spec's hash and the library version; an unreadable entry is treated as
missing.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from .spec import RunSpec
from .track import Snapshots

__all__ = ["Cache", "as_cache", "load", "save"]


def _atomic_path(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def save(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to a netCDF file atomically (temporary file, then rename).

    Examples
    --------
    >>> import tempfile, xarray as xr
    >>> ds = xr.Dataset({"x": ("run", [1.0, 2.0])}, attrs={"note": "demo"})
    >>> p = save(ds, tempfile.mkdtemp() + "/demo.nc")
    >>> load(p).identical(ds)
    True
    """
    path = Path(path)
    snaps = ds.attrs.get("snapshots")
    if snaps is not None:  # beside the file, not in it (see workbench.track)
        ds = ds.copy()
        del ds.attrs["snapshots"]
        side = _snapshots_path(path)
        tmp = _atomic_path(side)
        try:
            with open(tmp, "wb") as f:
                snaps.save(f)
            os.replace(tmp, side)
        finally:
            if tmp.exists():
                tmp.unlink()
    tmp = _atomic_path(path)
    try:
        ds.to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _snapshots_path(path: Path) -> Path:
    return path.with_name(path.name + ".snapshots.npz")


def load(path: str | os.PathLike) -> xr.Dataset:
    """Read a Dataset written by :func:`save` (fully into memory; the file is closed), with
    its parameter snapshots if :func:`save` wrote them beside it."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = ds.load()
    side = _snapshots_path(Path(path))
    if side.exists():
        ds.attrs["snapshots"] = Snapshots.load(side)
    return ds


class Cache:
    """Per-run results cache in a directory, keyed by spec hash and library version.

    Examples
    --------
    >>> import tempfile
    >>> c = Cache(tempfile.mkdtemp())
    >>> spec = RunSpec(steps=3)
    >>> c.get(spec) is None
    True
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def path(self, spec: RunSpec) -> Path:
        from . import __version__

        return self.root / f"{spec.key()}-v{__version__}.npz"

    def get(self, spec: RunSpec) -> dict | None:
        p = self.path(spec)
        if not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                if str(z["spec"]) != json.dumps(spec.to_dict(), sort_keys=True):
                    return None
                metrics = {k[2:]: z[k] for k in z.files if k.startswith("m_")}
                evals = {k[2:]: z[k] for k in z.files if k.startswith("e_")}
                rec = {
                    "metrics": metrics,
                    "eval_steps": z["eval_steps"],
                    "evals": evals,
                    "diverged_step": int(z["diverged_step"]),
                }
                track = {k[2:]: z[k] for k in z.files if k.startswith("t_")}
                if track:
                    rec["track"] = track
                if "snap_steps" in z.files:
                    rec["snapshots"] = (z["snap_steps"], z["snap_theta"])
                if "snap_copies" in z.files:
                    rec["copy_snapshots"] = z["snap_copies"]
                return rec
        except Exception:  # noqa: BLE001 - any unreadable entry is a miss, never a result
            p.unlink(missing_ok=True)
            return None

    def put(self, spec: RunSpec, record: dict) -> Path:
        p = self.path(spec)
        tmp = _atomic_path(p)
        arrays = {f"m_{k}": v for k, v in record["metrics"].items()}
        arrays.update({f"e_{k}": v for k, v in record["evals"].items()})
        arrays.update({f"t_{k}": v for k, v in record.get("track", {}).items()})
        if "snapshots" in record:
            arrays["snap_steps"], arrays["snap_theta"] = record["snapshots"]
        if "copy_snapshots" in record:
            arrays["snap_copies"] = record["copy_snapshots"]
        try:
            with open(tmp, "wb") as f:
                np.savez(
                    f,
                    spec=np.asarray(json.dumps(spec.to_dict(), sort_keys=True)),
                    eval_steps=record["eval_steps"],
                    diverged_step=np.asarray(record["diverged_step"]),
                    **arrays,
                )
            os.replace(tmp, p)
        finally:
            if tmp.exists():
                tmp.unlink()
        return p


def as_cache(cache) -> Cache | None:
    """``None`` -> no cache; a path -> :class:`Cache` there; a Cache -> itself."""
    if cache is None or isinstance(cache, Cache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return Cache(cache)
    raise ValueError(f"run: cache={cache!r} must be None, a directory path or a Cache")
