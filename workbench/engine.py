"""The lockstep engine: a sweep of N small runs trained at once as one stacked model.

``run(specs)`` groups specs into buckets (same data, architecture, optimizer kind, run length and
batch size), trains each bucket as one :class:`~workbench.models.StackedModel`, and returns an
``xarray.Dataset``. ``stream(specs)`` yields :class:`Chunk` objects every few steps for live
consumers (progress bars, dashboards).

Inside the step loop nothing is copied to the host: metrics stay on the device until a chunk
is complete, and a diverged run (non-finite loss or gradient) is frozen with a mask, not with a
branch on its value.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from . import data as _data
from .models import StackedModel
from .spec import RunSpec

__all__ = ["Chunk", "Bucket", "plan", "stream", "run", "epoch_order", "default_device"]

# Metrics recorded every step, with their meaning (units go into the Dataset attrs).
STEP_METRICS = ("train_loss", "grad_norm", "update_norm", "param_norm")
EVAL_METRICS = ("eval_loss", "eval_acc")


def default_device() -> torch.device:
    """CUDA when available, otherwise CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# -- per-run data order ------------------------------------------------------------------------

_M64 = (1 << 64) - 1


def _to_i64(c: int) -> int:
    return c - (1 << 64) if c >= 1 << 63 else c


_K1, _K2, _K3 = (
    _to_i64(0xBF58476D1CE4E5B9),
    _to_i64(0x94D049BB133111EB),
    _to_i64(0x9E3779B97F4A7C15),
)


def _mix(x: torch.Tensor) -> torch.Tensor:
    """splitmix64's finalizer on int64 tensors (wrapping multiply, logical shifts)."""
    x = x ^ ((x >> 30) & ((1 << 34) - 1))
    x = x * _K1
    x = x ^ ((x >> 27) & ((1 << 37) - 1))
    x = x * _K2
    return x ^ ((x >> 31) & ((1 << 33) - 1))


def epoch_order(seeds: torch.Tensor, epoch: int, n: int) -> torch.Tensor:
    """The order in which each run visits the ``n`` training examples in ``epoch``.

    Each row depends only on that run's seed and the epoch (a counter-based hash, sorted), so a
    run sees the same batches alone or in any bucket, on any device.

    Examples
    --------
    >>> a = epoch_order(torch.tensor([0, 1]), 0, 5)
    >>> sorted(a[0].tolist())
    [0, 1, 2, 3, 4]
    >>> bool(torch.equal(a[1], epoch_order(torch.tensor([1]), 0, 5)[0]))
    True
    """
    base = _mix(_mix(seeds.to(torch.int64) * _K3 + 0x632BE5AB) + epoch)  # (N,)
    idx = torch.arange(n, device=seeds.device, dtype=torch.int64)
    keys = _mix(base[:, None] + idx[None, :] * _K3)  # (N, n)
    return torch.argsort(keys, dim=1, stable=True)


# -- buckets -------------------------------------------------------------------------------------


@dataclass
class Chunk:
    """Metrics of one bucket over the steps ``[start, stop)``.

    ``metrics`` maps each per-step metric and each hyperparameter actually used to an array
    ``[n_runs, stop - start]``; ``evals`` maps ``eval_loss``/``eval_acc`` to ``[n_runs, k]`` at
    ``eval_steps`` (steps counted as updates done, so step 0 is the initial model). A model's
    per-layer statistics (the transformer's ``attn_logit_max``) are ``[n_runs, steps, layers]``.
    """

    bucket: int
    runs: list[int]
    start: int
    stop: int
    total: int
    metrics: dict[str, np.ndarray]
    eval_steps: np.ndarray
    evals: dict[str, np.ndarray]
    diverged_step: np.ndarray
    seconds: float = 0.0

    @property
    def done(self) -> bool:
        return self.stop >= self.total


class Bucket:
    """Training state of specs that share one lockstep model.

    Parameters
    ----------
    specs
        Specs with equal :meth:`~workbench.spec.RunSpec.bucket_key`.
    runs
        Their positions in the caller's list (carried into each :class:`Chunk`).
    device
        Where to train.
    index
        The bucket's number (carried into each :class:`Chunk`).
    kernels
        ``"auto"`` (fused Triton optimizer steps on CUDA, torch elsewhere), ``"triton"`` or
        ``"torch"`` to force either path.
    """

    def __init__(
        self,
        specs: Sequence[RunSpec],
        *,
        runs: Sequence[int] | None = None,
        device: torch.device | str | None = None,
        index: int = 0,
        kernels: str = "auto",
    ) -> None:
        keys = {s.bucket_key() for s in specs}
        if len(keys) != 1:
            raise ValueError(f"Bucket: specs must share one bucket key, got {len(keys)} kinds")
        self.specs = list(specs)
        self.runs = list(runs) if runs is not None else list(range(len(specs)))
        self.index = index
        self.device = torch.device(device) if device is not None else default_device()
        s0 = self.specs[0]
        self.steps, self.batch_size, self.eval_every = s0.steps, s0.batch_size, s0.eval_every
        d = _data.load(s0.data)
        self.x_train = s0.model.prepare(d, d.x_train).to(self.device)
        self.y_train = d.y_train.to(self.device)
        self.x_test = s0.model.prepare(d, d.x_test).to(self.device)
        self.y_test = d.y_test.to(self.device)
        self.seeds = torch.tensor([s.seed for s in self.specs], device=self.device)
        in_dim, out_dim = s0.model.dims(_data.info(s0.data))
        self.model = StackedModel(
            s0.model,
            in_dim=in_dim,
            out_dim=out_dim,
            seeds=[s.seed for s in self.specs],
            device=self.device,
        )
        self.opt = s0.optimizer.build(self.model.flat, self.model.layout, kernels=kernels)
        self.hyper_names = s0.optimizer.hyperparameters
        # (K, N, T) float64: each hyperparameter of each run at each step, as the specs schedule
        # it (what the Dataset records); and (T, C, N, 1) float32: the optimizer's per-step
        # coefficients derived from them in float64, so one index per step gives every run's
        # coefficients as [N, 1] columns.
        per_run = [s.optimizer.tables(self.steps) for s in self.specs]
        self.tables = torch.stack(
            [torch.stack([t[h] for t in per_run]) for h in self.hyper_names]
        ).to(self.device)
        self._refresh_coefficients()
        self.alive = torch.ones(len(self.specs), 1, dtype=torch.bool, device=self.device)
        self.diverged_step = torch.full((len(self.specs),), -1, device=self.device)
        self.step = 0
        self._order: torch.Tensor | None = None
        self._epoch = -1

    def _refresh_coefficients(self) -> None:
        h = {k: self.tables[i].T for i, k in enumerate(self.hyper_names)}  # (T, N) each
        coef = self.specs[0].optimizer.coefficients(h)  # (T, C, N) float64
        self.coef = coef[..., None].to(torch.float32).contiguous()

    @property
    def n_runs(self) -> int:
        return len(self.specs)

    @property
    def done(self) -> bool:
        return self.step >= self.steps

    def _batch(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        per_epoch = self.x_train.shape[0] // self.batch_size
        epoch, pos = divmod(t, per_epoch)
        if epoch != self._epoch:
            self._order = epoch_order(self.seeds, epoch, self.x_train.shape[0])
            self._epoch = epoch
        idx = self._order[:, pos * self.batch_size : (pos + 1) * self.batch_size]  # (N, B)
        flat_idx = idx.reshape(-1)  # index_select is several times faster than x[idx] on CPU
        x = self.x_train.index_select(0, flat_idx).view(*idx.shape, *self.x_train.shape[1:])
        y = self.y_train.index_select(0, flat_idx).view(*idx.shape, *self.y_train.shape[1:])
        return x, y  # (N, B, ...) each

    def _evaluate(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.evaluate(self.x_test, self.y_test)

    def advance(self, n_steps: int) -> Chunk:
        """Train up to ``n_steps`` more steps and return their metrics (one host sync)."""
        t0, start = time.perf_counter(), self.step
        stop = min(self.steps, start + max(1, int(n_steps)))
        rec: dict[str, list[torch.Tensor]] = defaultdict(list)
        ev_steps: list[int] = []
        ev: dict[str, list[torch.Tensor]] = defaultdict(list)
        if start == 0:
            ev_steps.append(0)
            for k, v in zip(EVAL_METRICS, self._evaluate(), strict=True):
                ev[k].append(v)
        flat, grad = self.model.flat, self.model.grad
        for t in range(start, stop):
            xb, yb = self._batch(t)
            stats: dict[str, list] = {}
            loss = self.model.loss_and_grad(xb, yb, stats)  # (N,), fills grad (N, P)
            for k, v in stats.items():  # per-layer statistics, e.g. attention logits
                rec[k].append(torch.stack(v, 1))  # (N, L)
            gnorm = grad.norm(dim=1)
            ok = torch.isfinite(loss) & torch.isfinite(gnorm)
            self.diverged_step = torch.where(self.alive[:, 0] & ~ok, t, self.diverged_step)
            self.alive &= ok[:, None]
            unorm, pnorm = self.opt.step(flat, grad, self.coef[t], self.alive)
            rec["train_loss"].append(loss)
            rec["grad_norm"].append(gnorm)
            rec["update_norm"].append(unorm)
            rec["param_norm"].append(pnorm)
            done = t + 1
            if done % self.eval_every == 0 or done == self.steps:
                ev_steps.append(done)
                for k, v in zip(EVAL_METRICS, self._evaluate(), strict=True):
                    ev[k].append(v)
        self.step = stop
        # The one host sync of the chunk.
        metrics = {k: torch.stack(v, 1).cpu().numpy() for k, v in rec.items()}  # (N, steps[, L])
        hyper = self.tables[:, :, start:stop].to(torch.float32).cpu().numpy()  # (K, N, steps)
        for i, h in enumerate(self.hyper_names):
            metrics[h] = hyper[i]
        evals = {
            k: (torch.stack(ev[k], 1).cpu().numpy() if ev_steps else np.zeros((self.n_runs, 0)))
            for k in EVAL_METRICS
        }
        return Chunk(
            bucket=self.index,
            runs=self.runs,
            start=start,
            stop=stop,
            total=self.steps,
            metrics=metrics,
            eval_steps=np.asarray(ev_steps, dtype=np.int64),
            evals=evals,
            diverged_step=self.diverged_step.cpu().numpy(),
            seconds=time.perf_counter() - t0,
        )


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


def _validated(specs: Iterable[RunSpec]) -> list[RunSpec]:
    specs = list(specs)
    if not specs:
        raise ValueError("run: specs is empty; pass at least one RunSpec")
    for i, s in enumerate(specs):
        if not isinstance(s, RunSpec):
            raise ValueError(f"run: specs[{i}]={s!r} is not a RunSpec")
        try:
            s.validate()
        except ValueError as e:
            raise ValueError(f"specs[{i}]: {e}") from None
    return specs


def stream(
    specs: Iterable[RunSpec],
    *,
    device: torch.device | str | None = None,
    chunk_steps: int = 50,
    kernels: str = "auto",
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
            [specs[i] for i in runs], runs=runs, device=device, index=b, kernels=kernels
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

    def record(self, r: int) -> dict:
        return {
            "metrics": {k: np.concatenate(v) for k, v in self.metrics[r].items()},
            "eval_steps": np.asarray(self.eval_steps[r], dtype=np.int64),
            "evals": {k: np.concatenate(v) for k, v in self.evals[r].items()},
            "diverged_step": self.diverged[r],
        }


def run(
    specs: Iterable[RunSpec],
    *,
    device: torch.device | str | None = None,
    cache=None,
    progress: bool = False,
    chunk_steps: int = 50,
    kernels: str = "auto",
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
        for c in stream(sub, device=dev, chunk_steps=chunk_steps, kernels=kernels):
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
