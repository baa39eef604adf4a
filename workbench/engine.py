"""The lockstep engine: a sweep of N small runs trained at once as one stacked model.

``run(specs)`` groups specs into buckets (same data, architecture, optimizer kind, run length and
batch size), trains each bucket as one :class:`~workbench.bucket.Bucket`, and returns an
``xarray.Dataset``. ``stream(specs)`` yields :class:`~workbench.bucket.Chunk` objects every few
steps for live consumers (progress bars, dashboards).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .bucket import Bucket, Chunk, default_device, epoch_order
from .spec import RunSpec

__all__ = ["Chunk", "Bucket", "plan", "stream", "run", "epoch_order", "default_device"]


def plan(specs: Sequence[RunSpec]) -> list[list[int]]:
    """Group spec positions into lockstep buckets (first-appearance order).

    Examples
    --------
    >>> from workbench.spec import grid
    >>> from workbench.optim import SGD
    >>> specs = grid(RunSpec(), {"seed": [0, 1]}) + [RunSpec(optimizer=SGD())]
    >>> plan(specs)
    [[0, 1], [2]]
    """
    groups: dict[tuple, list[int]] = {}
    for i, s in enumerate(specs):
        groups.setdefault(s.bucket_key(), []).append(i)
    return list(groups.values())


def _validated(specs: Iterable[RunSpec], *, who: str = "run") -> list[RunSpec]:
    """``specs`` as a list, each validated; errors name ``who`` asked and which spec."""
    specs = list(specs)
    if not specs:
        raise ValueError(f"{who}: specs is empty; pass at least one RunSpec")
    for i, s in enumerate(specs):
        if not isinstance(s, RunSpec):
            raise ValueError(f"{who}: specs[{i}]={s!r} is not a RunSpec")
        try:
            s.validate()
        except ValueError as e:
            raise ValueError(
                f"specs[{i}]: {e}" if who == "run" else f"{who}: specs[{i}]: {e}"
            ) from None
    return specs


def stream(
    specs: Iterable[RunSpec],
    *,
    device: torch.device | str | None = None,
    chunk_steps: int = 50,
    kernels: str = "auto",
    cuda_graph: bool | str = "auto",
) -> Iterator[Chunk]:
    """Train ``specs`` bucket by bucket and yield a :class:`Chunk` every ``chunk_steps`` steps.

    Every spec is validated before any training starts.

    Examples
    --------
    >>> from workbench.models import MLP
    >>> from workbench.optim import SGD
    >>> spec = RunSpec(data="digits", model=MLP(hidden=(16,)), optimizer=SGD(lr=0.1),
    ...                steps=20, batch_size=32, eval_every=10)
    >>> [(c.start, c.stop) for c in stream([spec], chunk_steps=8)]
    [(0, 8), (8, 16), (16, 20)]
    """
    specs = _validated(specs)
    if isinstance(chunk_steps, bool) or not isinstance(chunk_steps, int) or chunk_steps < 1:
        raise ValueError(f"stream: chunk_steps={chunk_steps!r} must be an int >= 1")
    for b, runs in enumerate(plan(specs)):
        bucket = Bucket(
            [specs[i] for i in runs],
            runs=runs,
            device=device,
            index=b,
            kernels=kernels,
            cuda_graph=cuda_graph,
        )
        while not bucket.done:
            yield bucket.advance(chunk_steps)


@dataclass
class _Collector:
    """Accumulates chunks into per-run arrays (what the results module assembles)."""

    metrics: dict[int, dict[str, list]] = field(default_factory=dict)
    evals: dict[int, dict[str, list]] = field(default_factory=dict)
    eval_steps: dict[int, list] = field(default_factory=dict)
    diverged: dict[int, int] = field(default_factory=dict)
    tracked: dict[int, dict[str, list]] = field(default_factory=dict)  # snapshots, sharpness

    def add(self, c: Chunk) -> None:
        for j, r in enumerate(c.runs):
            m = self.metrics.setdefault(r, defaultdict(list))
            for k, v in c.metrics.items():
                m[k].append(v[j])
            e = self.evals.setdefault(r, defaultdict(list))
            for k, v in c.evals.items():
                e[k].append(v[j])
            self.eval_steps.setdefault(r, []).extend(c.eval_steps.tolist())
            self.diverged[r] = int(c.diverged_step[j])
            rec = c.tracked[j] if c.tracked is not None else {}
            if rec:
                t = self.tracked.setdefault(r, defaultdict(list))
                if "snapshots" in rec:
                    t["snap_steps"].append(rec["snapshots"][0])
                    t["snap_theta"].append(rec["snapshots"][1])
                if "copy_snapshots" in rec:
                    t["snap_copies"].append(rec["copy_snapshots"])
                for k, v in rec.get("track", {}).items():
                    t[k].append(v)

    def copy_history(self, parent: int, child: int) -> None:
        """A forked run's history up to the fork is its parent's."""
        self.metrics[child] = defaultdict(
            list, {k: list(v) for k, v in self.metrics[parent].items()}
        )
        self.evals[child] = defaultdict(list, {k: list(v) for k, v in self.evals[parent].items()})
        self.eval_steps[child] = list(self.eval_steps[parent])
        self.diverged[child] = self.diverged[parent]
        if parent in self.tracked:
            self.tracked[child] = defaultdict(
                list, {k: list(v) for k, v in self.tracked[parent].items()}
            )

    def record(self, r: int) -> dict:
        out = {
            "metrics": {k: np.concatenate(v) for k, v in self.metrics[r].items()},
            "eval_steps": np.asarray(self.eval_steps[r], dtype=np.int64),
            "evals": {k: np.concatenate(v) for k, v in self.evals[r].items()},
            "diverged_step": self.diverged[r],
        }
        t = self.tracked.get(r)
        if t:
            out["track"] = {
                k: np.concatenate(v)
                for k, v in t.items()
                if k not in ("snap_steps", "snap_theta", "snap_copies")
            }
            if t.get("snap_steps"):
                out["snapshots"] = (
                    np.concatenate(t["snap_steps"]),
                    np.concatenate(t["snap_theta"]),
                )
            if t.get("snap_copies"):
                out["copy_snapshots"] = np.concatenate(t["snap_copies"])
        return out


def run(
    specs: Iterable[RunSpec],
    *,
    device: torch.device | str | None = None,
    cache=None,
    progress: bool = False,
    chunk_steps: int = 50,
    kernels: str = "auto",
    cuda_graph: bool | str = "auto",
):
    """Train every spec (in lockstep buckets) and return the results as an ``xarray.Dataset``.

    Parameters
    ----------
    specs
        The runs; make sweeps with :func:`~workbench.spec.grid`.
    device
        ``"cuda"``, ``"cpu"`` or ``None`` (CUDA when available).
    cache
        ``None`` (no cache), a directory path, or a :class:`~workbench.results.Cache`: runs
        found there are not trained again, new runs are stored.
    progress
        Show a tqdm progress bar over all steps.
    chunk_steps
        Steps between host syncs.
    kernels
        Optimizer step path: ``"auto"`` (fused Triton kernels on CUDA, torch elsewhere),
        ``"triton"`` or ``"torch"``.
    cuda_graph
        On CUDA, capture each bucket's step in a CUDA graph and replay it (``"auto"``, the
        default, does; ``False`` runs eagerly). Same kernels, same results, far fewer launches.

    Examples
    --------
    >>> from workbench.models import MLP
    >>> from workbench.optim import SGD
    >>> from workbench.spec import grid
    >>> base = RunSpec(data="digits", model=MLP(hidden=(16,)), optimizer=SGD(lr=0.1),
    ...                steps=30, batch_size=32, eval_every=10)
    >>> ds = run(grid(base, {"optimizer.lr": [0.05, 0.2], "seed": [0, 1]}))
    >>> ds.train_loss.dims, ds.train_loss.shape
    (('run', 'step'), (4, 30))
    >>> ds["optimizer.lr"].values.tolist()
    [0.05, 0.05, 0.2, 0.2]
    """
    from . import results as _results

    specs = _validated(specs)
    store = _results.as_cache(cache)
    records: dict[int, dict] = {}
    if store is not None:
        for i, s in enumerate(specs):
            rec = store.get(s)
            if rec is not None:
                records[i] = rec
    todo = [i for i in range(len(specs)) if i not in records]
    dev = torch.device(device) if device is not None else default_device()
    if todo:
        collector = _Collector()
        total = sum(specs[i].steps for i in todo)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="run-step", desc=f"{len(todo)} runs")
        sub = [specs[i] for i in todo]
        chunks = stream(
            sub, device=dev, chunk_steps=chunk_steps, kernels=kernels, cuda_graph=cuda_graph
        )
        for c in chunks:
            c.runs = [todo[j] for j in c.runs]
            collector.add(c)
            if bar is not None:
                bar.update((c.stop - c.start) * len(c.runs))
            if c.done:
                for r in c.runs:
                    records[r] = collector.record(r)
                    if store is not None:
                        store.put(specs[r], records[r])
        if bar is not None:
            bar.close()
    return _results.assemble(specs, [records[i] for i in range(len(specs))], device=str(dev))
