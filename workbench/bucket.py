"""One lockstep bucket: specs of equal shapes trained as one stacked model.

Each step is a fixed sequence of device operations that reads the step number from a device
tensor: the batch comes from a per-epoch order buffer, the hyperparameters from precomputed
coefficient tables, and the metrics go into a device ring buffer. Nothing in a step copies to the
host, and because its shapes and addresses never change, on CUDA the whole step (forward,
backward, optimizer, bookkeeping) can be captured once in a CUDA graph and replayed, which removes
the launch overhead that dominates small sweeps. The host copies the ring buffer out once per
chunk.

The batches come from a :class:`~workbench.feed.Feed`: a run whose data is a
:class:`~workbench.streams.TaskStream` switches tasks between steps, on the host side of the loop
like a new epoch's order, by copying into the buffers the captured step reads.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from . import data as _data
from .capture import GraphedStep
from .chunk import COPY_METRICS as COPY_METRICS  # re-exported: the metric names, as before
from .chunk import EVAL_METRICS as EVAL_METRICS
from .chunk import RING, STEP_METRICS, Chunk, EvalLog, eval_shapes
from .chunk import TASK_METRICS as TASK_METRICS
from .evaluation import Evaluator, evaluate_runs
from .feed import Feed, epoch_order
from .hyper import HyperTables
from .models import StackedModel
from .optim import take_rows
from .penalty import StackedPenalty
from .slow import SlowState
from .spec import RunSpec
from .streams import TaskStream, as_stream
from .track import Tracker

__all__ = ["Bucket", "Chunk", "default_device", "epoch_order"]


def default_device() -> torch.device:
    """CUDA when available, otherwise CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# -- buckets -------------------------------------------------------------------------------------


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
    cuda_graph
        Capture the step in a CUDA graph and replay it (``"auto"``: on CUDA). The graph runs
        exactly the kernels of the eager step, so results are the same.
    """

    def __init__(
        self,
        specs: Sequence[RunSpec],
        *,
        runs: Sequence[int] | None = None,
        device: torch.device | str | None = None,
        index: int = 0,
        kernels: str = "auto",
        cuda_graph: bool | str = "auto",
    ) -> None:
        keys = {s.bucket_key() for s in specs}
        if len(keys) != 1:
            raise ValueError(f"Bucket: specs must share one bucket key, got {len(keys)} kinds")
        if cuda_graph not in (True, False, "auto"):
            raise ValueError(f"Bucket: cuda_graph={cuda_graph!r} must be True, False or 'auto'")
        self.specs = list(specs)
        self.runs = list(runs) if runs is not None else list(range(len(specs)))
        self.index = index
        self.device = torch.device(device) if device is not None else default_device()
        self.use_graph = self.device.type == "cuda" and cuda_graph in (True, "auto")
        s0 = self.specs[0]
        self.steps, self.batch_size, self.eval_every = s0.steps, s0.batch_size, s0.eval_every
        self.stream = as_stream(s0.data)
        self.is_stream = isinstance(s0.data, TaskStream)  # a plain dataset has no task metrics
        # a stream is also evaluated at every task switch (the model as task k-1 left it), so
        # an accuracy matrix is exact whatever eval_every is
        self._switches = frozenset(self.stream.starts[1:]) if self.is_stream else frozenset()
        seeds = torch.tensor([s.seed for s in self.specs], device=self.device)
        replays = [s.replay for s in self.specs] if s0.replay is not None else None
        self.feed = Feed(
            self.stream,
            s0.model,
            seeds,
            batch_size=self.batch_size,
            replay=replays,
            steps=self.steps,
        )
        in_dim, out_dim = s0.model.dims(_data.info(self.stream.tasks[0]))
        self.model = StackedModel(
            s0.model,
            in_dim=in_dim,
            out_dim=out_dim,
            seeds=[s.seed for s in self.specs],
            device=self.device,
        )
        self.opt = s0.optimizer.build(self.model.flat, self.model.layout, kernels=kernels)
        self.penalty: StackedPenalty | None = None  # L2/EWC toward the last task's weights
        if s0.penalty is not None:
            self.penalty = StackedPenalty([s.penalty for s in self.specs], self.model.flat)
        self.slow: SlowState | None = None  # Lookahead, EMAs, a slow backbone (workbench.slow)
        if s0.slow is not None:
            self.slow = SlowState(
                [s.slow for s in self.specs],
                [s.seed for s in self.specs],
                model=self.model,
                opt=self.opt,
                steps=self.steps,
                starts=self.stream.starts,
                ring=RING,
            )
        # each run's hyperparameters at each step, and the coefficients the step reads
        self.hyper = HyperTables(self.specs, steps=self.steps, device=self.device)
        self.hyper_names = self.hyper.names
        n = len(self.specs)
        self.alive = torch.ones(n, 1, dtype=torch.bool, device=self.device)
        self.diverged_step = torch.full((n,), -1, device=self.device)
        self.step = 0
        # static buffers the step reads and writes (fixed addresses, for graph replay)
        self._t = torch.zeros((), dtype=torch.int64, device=self.device)  # the step on device
        self._ring = torch.zeros(RING, len(STEP_METRICS), n, device=self.device)
        self._layer_ring: torch.Tensor | None = None  # (RING, N, L) once a step reports layers
        self._run = GraphedStep(self.device, enabled=self.use_graph)  # runs _step (or its graph)
        self._evaluator = Evaluator(self.feed, continual=self.is_stream)  # continual evaluation
        tracker = Tracker(self)
        self.tracker = tracker if tracker.active else None  # snapshots, sharpness

    # -- hyperparameter tables (workbench.hyper.HyperTables) -----------------------------------

    @property
    def tables(self) -> torch.Tensor:
        """``(K, N, T)`` float64: each hyperparameter of each run at each step."""
        return self.hyper.tables

    @property
    def unscaled(self) -> torch.Tensor:
        """``tables`` before the live multipliers."""
        return self.hyper.unscaled

    @property
    def multiplier(self) -> torch.Tensor:
        """``(K, N)`` float64: the live multipliers (the LR multiplier)."""
        return self.hyper.multiplier

    @property
    def coef(self) -> torch.Tensor:
        """``(T, C, N, 1)`` float32: the optimizer's coefficients at each step (the step reads
        them)."""
        return self.hyper.coef

    # -- live control ------------------------------------------------------------------------

    def set_hyper(
        self, name: str, rows: Sequence[int], values: torch.Tensor, *, scale: bool = False
    ) -> None:
        """From the current step on, set hyperparameter ``name`` of the bucket rows ``rows``
        (``values`` is ``[len(rows)]`` or ``[len(rows), T - step]``), or with ``scale`` set its
        live multiplier: an optimizer's (:meth:`~workbench.hyper.HyperTables.set` says how a
        multiplier combines with set values) or a slow mechanism's (:mod:`workbench.slow`)."""
        if self.slow is not None and name in self.slow.names and not scale:
            self.slow.set(name, rows, values, self.step)
            return
        self.hyper.set(name, rows, values, self.step, scale=scale)

    def set_replay_ratio(self, rows: Sequence[int], values: torch.Tensor) -> None:
        """From the current step on, the replay ratio of bucket rows ``rows`` is ``values``
        (``[len(rows)]`` or ``[len(rows), T - step]``); the next step uses it."""
        if self.feed.memory is None:
            raise ValueError(
                "set_knob: replay_ratio needs runs with a replay memory "
                "(RunSpec(replay=Replay(...)))"
            )
        idx = torch.as_tensor(list(rows), device=self.device, dtype=torch.long)
        self.feed.memory.set_ratio(idx, self.step, torch.as_tensor(values, device=self.device))

    @torch.no_grad()
    def fork(self, rows: Sequence[int], *, runs: Sequence[int]) -> None:
        """Append copies of bucket rows ``rows`` (as new runs ``runs``) at the current step.

        A branch starts with its parent's parameters, optimizer state, data order and
        hyperparameter tables, so its history up to now is the parent's; change its knobs with
        :meth:`set_hyper` afterwards.
        """
        n = self.n_runs
        for r in rows:
            if not 0 <= r < n:
                raise ValueError(f"fork: row {r} is not a run of this bucket (0..{n - 1})")
        index = torch.cat(
            [torch.arange(n, device=self.device), torch.as_tensor(list(rows), device=self.device)]
        )
        self.specs += [self.specs[r] for r in rows]
        self.runs += list(runs)
        self.model.take(index)
        take_rows(self.opt, index)
        self.hyper.take(index)
        self.feed.take(index)
        if self.penalty is not None:
            self.penalty.take(index)
        if self.tracker is not None:
            self.tracker.take(index)
        if self.slow is not None:
            self.slow.take(index)
        self.alive = self.alive.index_select(0, index).contiguous()
        self.diverged_step = self.diverged_step.index_select(0, index).contiguous()
        self._ring = self._ring.index_select(2, index).contiguous()
        if self._layer_ring is not None:
            self._layer_ring = self._layer_ring.index_select(1, index).contiguous()
        self._run.reset()  # new shapes: capture again

    @property
    def copies(self) -> tuple[str, ...]:
        """Names of the weight copies evaluated together (``()`` without slow copies)."""
        if self.slow is None or not self.slow.copies:
            return ()
        return ("fast", *self.slow.copies)

    @property
    def n_runs(self) -> int:
        return len(self.specs)

    @property
    def done(self) -> bool:
        return self.step >= self.steps

    def _step(self) -> None:
        """One training step of every run, reading the step number from the device."""
        t = self._t
        x, y = self.feed.batch(t)  # (N, B, ...)
        stats: dict[str, list] = {}
        slot = (t % RING).view(1)
        extra, cs = None, None
        if self.slow is not None:
            cs = self.slow.coef.index_select(0, t).squeeze(0)  # (R, N, 1)
            replayed = self.feed.memory.use if self.feed.memory is not None else None
            extra = self.slow.loss_hook(cs, x, y, replayed, slot)
        loss = self.model.loss_and_grad(x, y, stats, extra)  # (N,), fills grad (N, P)
        grad = self.model.grad
        if self.penalty is not None:
            self.penalty.add_to(grad, self.model.flat)
        gnorm = torch.linalg.vector_norm(grad, dim=1)
        ok = torch.isfinite(loss) & torch.isfinite(gnorm)
        self.diverged_step.copy_(torch.where(self.alive[:, 0] & ~ok, t, self.diverged_step))
        self.alive &= ok[:, None]
        c = self.coef.index_select(0, t).squeeze(0)  # (C, N, 1)
        if self.slow is None:
            unorm, pnorm = self.opt.step(self.model.flat, grad, c, self.alive)
        else:
            scale = self.slow.scale(cs)
            if scale is None:
                unorm, pnorm = self.opt.step(self.model.flat, grad, c, self.alive)
            else:
                unorm, pnorm = self.opt.step(self.model.flat, grad, c, self.alive, scale=scale)
            self.slow.after_step(cs, self.model.flat, self.alive)
        self._ring.index_copy_(0, slot, torch.stack([loss, gnorm, unorm, pnorm])[None])
        if "attn_logit_max" in stats:  # per-layer statistics of the model family
            layers = torch.stack(stats["attn_logit_max"], 1)  # (N, L)
            if self._layer_ring is None:
                self._layer_ring = torch.zeros(RING, *layers.shape, device=self.device)
            self._layer_ring.index_copy_(0, slot, layers[None])
        t += 1

    def _evaluate(self, step: int) -> dict[str, torch.Tensor]:
        """The metrics of the evaluation at ``step`` (:func:`~workbench.evaluation.evaluate_runs`,
        nothing copied to the host), of the task ``step`` trains on and, for a stream, of every
        task: one batched pass over the full test sets at step 0, at every task switch and at the
        end (so an accuracy matrix is exact), over the fixed probe subsets (``TaskStream.probe``)
        strictly inside a task; a plain dataset is always evaluated on its full test set."""
        full = not self.is_stream or step == 0 or step >= self.steps or step in self._switches
        current = self.stream.task_at(min(step, self.steps - 1))
        slow = self.slow if self.copies else None  # the slow copies evaluated with the fast
        return evaluate_runs(
            self._evaluator, self.model, full=full, current=current, n_runs=self.n_runs, slow=slow
        )

    def advance(self, n_steps: int) -> Chunk:
        """Train up to ``n_steps`` more steps and return their metrics (one host sync).

        A chunk holds at most ``RING`` steps; ask again for more.
        """
        t0, start = time.perf_counter(), self.step
        stop = min(self.steps, start + max(1, min(int(n_steps), RING)))
        shapes = eval_shapes(
            stream=self.is_stream,
            task_il=self._evaluator.task_il,
            n_copies=len(self.copies),
            tasks=len(self.stream),
        )
        evals = EvalLog(shapes, n_runs=self.n_runs)  # on the device until the host sync
        if start == 0:
            evals.add(0, self._evaluate(0))
            if self.tracker is not None:
                self.tracker.after(0)
        for t in range(start, stop):
            self.feed.prepare(t)  # a new task or epoch's order, outside the (captured) step
            if self.penalty is not None and t in self._switches:  # a task has just ended
                k = self.stream.task_at(t) - 1
                self.penalty.consolidate(self.model, *self.feed.sets[k][:2], task=k)
            self._run(self._step)  # eager, warm-up or the captured graph's replay
            done = t + 1
            ended = done in self._switches or (done == self.steps and self.is_stream)
            if ended and self.slow is not None and self.slow.align is not None:
                k = self.stream.task_at(t)  # classifier alignment before the task's evaluation
                self.slow.align.after_task(self.model, *self.feed.sets[k][:2], task=k)
            if done % self.eval_every == 0 or done == self.steps or done in self._switches:
                evals.add(done, self._evaluate(done))
            if self.tracker is not None:
                self.tracker.after(done)
        self.step = stop
        # The one host sync of the chunk.
        slots = torch.arange(start, stop, device=self.device) % RING
        ring = self._ring.index_select(0, slots).permute(1, 2, 0).cpu().numpy()  # (4, N, steps)
        metrics = dict(zip(STEP_METRICS, ring, strict=True))
        if self._layer_ring is not None:
            layers = self._layer_ring.index_select(0, slots).permute(1, 0, 2)  # (N, steps, L)
            metrics["attn_logit_max"] = layers.cpu().numpy()
        hyper = self.tables[:, :, start:stop].to(torch.float32).cpu().numpy()  # (K, N, steps)
        for i, h in enumerate(self.hyper_names):
            metrics[h] = hyper[i]
        if self.slow is not None:  # the slow knobs each step used, syncs, horizons
            metrics.update(self.slow.record(start, stop, slots))
        if self.feed.memory is not None:  # the replay ratio each step used
            ratio = self.feed.memory.ratio[:, start:stop]
            metrics["replay_ratio"] = ratio.to(torch.float32).cpu().numpy()
        return Chunk(
            bucket=self.index,
            runs=self.runs,
            start=start,
            stop=stop,
            total=self.steps,
            metrics=metrics,
            eval_steps=evals.steps,
            evals=evals.arrays(),
            diverged_step=self.diverged_step.cpu().numpy(),
            seconds=time.perf_counter() - t0,
            tracked=None if self.tracker is None else self.tracker.flush(),
            copies=self.copies,
        )
