"""What a run records besides its metrics: parameter snapshots and sharpness during training.

``RunSpec(track=Track(snapshot_every=k, sharpness_every=j))`` asks the engine to

- copy the run's parameters (its row of the bucket's flat buffer) at step 0, every ``k``
  steps, at every task switch and at the end: the **trajectory** a landscape plane projects
  (:func:`snapshots` reads them back);
- estimate the **sharpness**, the largest-magnitude eigenvalue of the Hessian of the training
  loss (negative only near a saddle, e.g. sometimes at init), at step 0, every ``j`` steps and
  at the end, on a fixed probe of ``probe`` examples of the training set of the task being
  trained (train mode; our models have no batch norm, so train and eval mode are the same
  function), by ``iters`` power iterations warm-started from the last estimate's eigenvector
  (the first estimate, from a random start, takes three times as many). For AdamW runs also
  the **preconditioned sharpness**, the top eigenvalue of ``P⁻¹H`` with
  ``P = diag(sqrt(v̂) + ε)`` Adam's denominator, what the adaptive edge of stability compares
  with ``(2 + 2β1) / ((1 − β1)·η)`` (Cohen et al. 2022).

Both happen between steps, outside the (captured) step, like evaluations; nothing is copied to
the host until the chunk ends. Runs of one bucket may track differently (or not at all): a
snapshot copies only the rows due, the Hessian runs batched over only the rows due.

In the Dataset the sharpness is ``sharpness`` (and ``sharpness_pre``, ``sharpness_residual``)
over ``(run, sharp_step)``. Snapshots are not a netCDF variable (a parameter dim of thousands
would swamp the file): they ride beside the Dataset in ``ds.attrs["snapshots"]``, a
:class:`Snapshots`; :func:`workbench.results.save` writes them to a ``.snapshots.npz`` next to
the ``.nc`` and :func:`workbench.results.load` reads them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from ._fields import check_keys

__all__ = ["Track", "Snapshots", "snapshots", "Tracker", "TRACK_METRICS"]

#: Per-run series recorded at ``sharp_step`` s.
TRACK_METRICS = ("sharpness", "sharpness_residual", "sharpness_pre")


def _cadence(name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Track: {name}={value!r} must be None (never) or an int >= 1 (steps)")
    return value


@dataclass(frozen=True)
class Track:
    """Snapshots and sharpness a run records (see the module docstring).

    Parameters
    ----------
    snapshot_every
        Copy the parameters every this many steps (also at step 0, task switches and the
        end); ``None``: no snapshots.
    sharpness_every
        Estimate the top Hessian eigenvalue at step 0, every this many steps and at the end;
        ``None``: never. Edge-of-stability code tracks it every 50–100 steps.
    probe
        Training examples the Hessian is measured on (a fixed subset; ``>=`` the training
        set: all of it). PyHessian's 128 examples made the top eigenvalue vary 10× across
        runs; the edge-of-stability code uses 5,000.
    iters
        Power iterations per estimate (warm-started, so fewer are needed than from scratch).

    Examples
    --------
    >>> Track(snapshot_every=10).to_dict()
    {'snapshot_every': 10, 'sharpness_every': None, 'probe': 1000, 'iters': 20}
    >>> Track(sharpness_every=0)
    Traceback (most recent call last):
    ...
    ValueError: Track: sharpness_every=0 must be None (never) or an int >= 1 (steps)
    """

    snapshot_every: int | None = None
    sharpness_every: int | None = None
    probe: int = 1000
    iters: int = 20

    def __post_init__(self) -> None:
        _cadence("snapshot_every", self.snapshot_every)
        _cadence("sharpness_every", self.sharpness_every)
        for name, lo in (("probe", 1), ("iters", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"Track: {name}={v!r} must be an int >= {lo}")

    def structure(self) -> tuple:
        """What runs of one bucket must share (the Hessian's batch and iterations)."""
        return ("track", self.probe, self.iters)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Track:
        check_keys(cls, d)
        return cls(**d)


def bucket_structure(track: Track | None) -> tuple:
    """A spec's part of the bucket key: runs without tracking share buckets with default ones."""
    return (track or Track()).structure()


class Snapshots(dict):
    """``{run: (steps [T] int64, theta [T, P] float32)}``: the parameter snapshots of the runs
    of a Dataset that recorded them (runs are positions along the Dataset's ``run`` dim).

    Runs with slow weight copies (:mod:`workbench.slow`) also snapshot every copy at the same
    steps: :attr:`copies` maps ``(run, copy name)`` to ``(steps, theta)``.
    """

    def __init__(self, *args, copies: dict | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.copies: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = dict(copies or {})

    def __repr__(self) -> str:
        if not self:
            return "Snapshots(none)"
        t = sum(len(s) for s, _ in self.values())
        p = next(iter(self.values()))[1].shape[1]
        return f"Snapshots({len(self)} runs, {t} snapshots of {p:,} parameters)"

    def save(self, path) -> None:
        arrays = {}
        for r, (steps, theta) in self.items():
            arrays[f"steps_{r}"], arrays[f"theta_{r}"] = steps, theta
        for (r, name), (steps, theta) in self.copies.items():
            arrays[f"csteps_{r}_{name}"], arrays[f"ctheta_{r}_{name}"] = steps, theta
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path) -> Snapshots:
        out, copies = {}, {}
        with np.load(path, allow_pickle=False) as z:
            for k in z.files:
                if k.startswith("steps_"):
                    r = int(k[6:])
                    out[r] = (z[k], z[f"theta_{r}"])
                elif k.startswith("csteps_"):
                    r, name = k[7:].split("_", 1)
                    copies[(int(r), name)] = (z[k], z[f"ctheta_{r}_{name}"])
        return cls(sorted(out.items()), copies=copies)


def snapshots(ds, run: int | None = None, copy: str = "fast"):
    """The parameter snapshots of ``ds`` (a :class:`Snapshots`), or of one ``run``:
    ``(steps [T], theta [T, P])``; ``copy`` names a slow weight copy of the run (``"slow"``,
    an EMA's name) instead of its fast weights. Raises a ValueError saying how to record them
    if absent.

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=20, batch_size=32,
    ...                   track=wb.Track(snapshot_every=10))
    >>> steps, theta = snapshots(wb.run([spec]), 0)
    >>> steps.tolist(), theta.shape
    ([0, 10, 20], (3, 610))
    """
    snaps = ds.attrs.get("snapshots")
    if not isinstance(snaps, Snapshots) or not snaps:
        raise ValueError(
            "snapshots: this Dataset has no parameter snapshots; train the runs with "
            "RunSpec(track=Track(snapshot_every=k))"
        )
    if run is None:
        return snaps
    if run not in snaps:
        raise ValueError(
            f"snapshots: run={run!r} recorded none; runs with snapshots: {sorted(snaps)}"
        )
    if copy != "fast":
        have = [c for r, c in snaps.copies if r == run]
        if (run, copy) not in snaps.copies:
            raise ValueError(
                f"snapshots: run {run} has no weight copy {copy!r}; it has: "
                f"{', '.join(['fast', *have])}"
            )
        return snaps.copies[(run, copy)]
    return snaps[run]


class Tracker:
    """The engine side of :class:`Track` for one bucket: what is due after each step, and the
    records of one chunk (device tensors until :meth:`flush`)."""

    def __init__(self, bucket):
        self.bucket, self.feed, self.steps = bucket, bucket.feed, bucket.steps
        self.tracks = [s.track for s in bucket.specs]
        self._cadences()
        first = next((t for t in self.tracks if t is not None), None)
        self.probe, self.iters = (first.probe, first.iters) if first else (0, 0)
        self.switches = frozenset(self.feed.stream.starts[1:])
        self._vectors: dict[str, torch.Tensor] = {}  # last eigenvectors, [N, 1, P] each
        self._warm: dict[str, list[bool]] = {}  # which rows of each have one
        self._batches: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.reset()

    @property
    def model(self):
        return self.bucket.model

    @property
    def active(self) -> bool:
        return any(t is not None for t in self.tracks)

    def reset(self) -> None:
        n = len(self.tracks)
        self.snap: list[list[tuple[int, torch.Tensor]]] = [[] for _ in range(n)]
        self.sharp: list[list[tuple[int, dict]]] = [[] for _ in range(n)]

    def take(self, index: torch.Tensor) -> None:
        """Rows ``index`` (a fork appends copies): the tracks and warm-start vectors follow."""
        idx = index.tolist()
        self.tracks = [self.tracks[i] for i in idx]
        self._cadences()
        self._vectors = {k: v.index_select(0, index) for k, v in self._vectors.items()}
        self._warm = {k: [w[i] for i in idx] for k, w in self._warm.items()}
        self.snap = [list(self.snap[i]) for i in idx]
        self.sharp = [list(self.sharp[i]) for i in idx]

    def _cadences(self) -> None:
        """Each row's cadences as arrays (0: never), so a step's check is a few array ops."""
        self._every = {
            name: np.asarray([(getattr(t, name) if t else None) or 0 for t in self.tracks])
            for name in ("snapshot_every", "sharpness_every")
        }

    def _due(self, every: str, done: int, *, switches: bool) -> list[int]:
        """The rows that record ``every`` after ``done`` updates (called after every step)."""
        k = self._every[every]
        if done == self.steps or (switches and done in self.switches):
            due = k > 0
        else:
            due = (k > 0) & (done % np.maximum(k, 1) == 0)
        return np.flatnonzero(due).tolist()

    def after(self, done: int) -> None:
        """Record what is due after ``done`` updates (``done = 0``: the initial model)."""
        flat = self.model.flat
        rows = self._due("snapshot_every", done, switches=True)
        if rows:
            idx = torch.as_tensor(rows, device=flat.device)
            theta = flat.index_select(0, idx)
            slow = self.bucket.slow.copy_rows() if self.bucket.slow is not None else []
            copies = torch.stack([c.index_select(0, idx) for c in slow], 1) if slow else None
            for j, r in enumerate(rows):
                self.snap[r].append((done, theta[j], None if copies is None else copies[j]))
        rows = self._due("sharpness_every", done, switches=False)
        if rows:
            for r, values in zip(rows, self._sharpness(rows, done).unbind(1), strict=True):
                self.sharp[r].append((done, values))

    def _batch(self, done: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The probe of the training set of the task the last step trained on."""
        from .evaluation import probe_indices

        task = self.feed.same[self.feed.stream.task_at(max(done - 1, 0))]
        if task not in self._batches:
            x, y = self.feed.sets[task][:2]
            idx = probe_indices(x.shape[0], self.probe).to(x.device)
            self._batches[task] = (x.index_select(0, idx), y.index_select(0, idx))
        return self._batches[task]

    def _sharpness(self, rows: list[int], done: int) -> torch.Tensor:
        """``[3, len(rows)]``: sharpness, its residual, preconditioned sharpness (NaN: none)."""
        from .landscape.hessian import top_eigenvalues
        from .optim.adamw import StackedAdamW

        idx = torch.as_tensor(rows, device=self.model.flat.device)
        theta = self.model.flat.index_select(0, idx)
        batch = self._batch(done)
        config, layout = self.model.config, self.model.layout
        init = self._init("h", rows)
        out = top_eigenvalues(config, layout, theta, batch, iters=self._iters(init), init=init)
        self._keep("h", rows, out["vectors"])
        pre = torch.full_like(out["values"][:, 0], float("nan"))
        if isinstance(self.bucket.opt, StackedAdamW) and done > 0:  # v is 0 before a step
            p = self._adam_denominator(idx, done)
            init = self._init("p", rows)
            o = top_eigenvalues(
                config, layout, theta, batch, iters=self._iters(init), precondition=p, init=init
            )
            self._keep("p", rows, o["vectors"])
            pre = o["values"][:, 0]
        return torch.stack([out["values"][:, 0], out["residual"][:, 0], pre])

    def _adam_denominator(self, idx: torch.Tensor, done: int) -> torch.Tensor:
        """``sqrt(v̂) + ε`` of rows ``idx`` after ``done`` steps (``v̂ = v / (1 − Πβ2)``)."""
        b = self.bucket
        b2 = b.tables[b.hyper_names.index("beta2"), :, :done].index_select(0, idx)
        eps = b.tables[b.hyper_names.index("eps"), :, done - 1].index_select(0, idx)
        c = (1 - torch.prod(b2, 1)).to(self.model.flat.dtype)  # bias correction, [n]
        v = b.opt.v.index_select(0, idx)
        return (v / c[:, None]).sqrt() + eps[:, None].to(v.dtype)

    def _iters(self, init) -> int:
        """Power iterations: ``iters`` from a warm start, three times as many from a random one
        (the first estimate of a run, e.g. at step 0, starts far from the top eigenvector)."""
        return self.iters if init is not None else 3 * self.iters

    def _init(self, key: str, rows: list[int]) -> torch.Tensor | None:
        """The last eigenvectors of ``rows`` (a warm start), if every one of them has one."""
        warm = self._warm.get(key)
        if warm is None or not all(warm[r] for r in rows):
            return None
        return self._vectors[key].index_select(
            0, torch.as_tensor(rows, device=self.model.flat.device)
        )

    def _keep(self, key: str, rows: list[int], vectors: torch.Tensor) -> None:
        n, p = self.model.flat.shape
        if key not in self._vectors:
            self._vectors[key] = vectors.new_zeros(n, 1, p)
            self._warm[key] = [False] * n
        idx = torch.as_tensor(rows, device=self.model.flat.device)
        self._vectors[key].index_copy_(0, idx, vectors[:, :1])
        for r in rows:
            self._warm[key][r] = True

    def flush(self) -> list[dict]:
        """Per row: this chunk's ``{"snapshots": (steps, theta)}`` and ``{"track": {...}}``
        as numpy (one host copy), then an empty record for the next chunk."""
        out = []
        for snap, sharp in zip(self.snap, self.sharp, strict=True):
            rec: dict = {}
            if snap:
                rec["snapshots"] = (
                    np.asarray([s for s, _, _ in snap], dtype=np.int64),
                    torch.stack([t for _, t, _ in snap]).float().cpu().numpy(),
                )
                if snap[0][2] is not None:  # [T, copies, P]
                    copies = torch.stack([c for _, _, c in snap]).float().cpu().numpy()
                    rec["copy_snapshots"] = copies
            if sharp:
                vals = torch.stack([v for _, v in sharp], 1).cpu().numpy()  # (3, k)
                rec["track"] = {"sharp_steps": np.asarray([s for s, _ in sharp], np.int64)}
                rec["track"].update(
                    {k: vals[i].astype(np.float32) for i, k in enumerate(TRACK_METRICS)}
                )
            out.append(rec)
        self.reset()
        return out
