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
from dataclasses import dataclass

import numpy as np
import torch

from . import data as _data
from .evaluation import TASK_IL_METRIC, Evaluator
from .feed import Feed, epoch_order
from .models import StackedModel
from .optim import take_rows
from .penalty import StackedPenalty
from .slow import SlowState
from .spec import RunSpec
from .streams import TaskStream, as_stream
from .track import Tracker

__all__ = ["Bucket", "Chunk", "default_device", "epoch_order"]

# Metrics recorded every step (units go into the Dataset attrs).
STEP_METRICS = ("train_loss", "grad_norm", "update_norm", "param_norm")
EVAL_METRICS = ("eval_loss", "eval_acc")
TASK_METRICS = ("task_loss", "task_acc")  # of a stream: every task's test set, [N, k, tasks]
# every weight copy (fast, slow, EMAs), [N, k, copies] and [N, k, copies, tasks]
COPY_METRICS = (
    "copy_eval_loss",
    "copy_eval_acc",
    "copy_distance",
    "copy_task_loss",
    "copy_task_acc",
)
RING = 256  # steps of metrics the device ring buffer holds; chunks longer than this are split
_WARMUP = 3  # eager steps before a CUDA graph is captured


def default_device() -> torch.device:
    """CUDA when available, otherwise CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# -- buckets -------------------------------------------------------------------------------------


@dataclass
class Chunk:
    """Metrics of one bucket over the steps ``[start, stop)``.

    ``metrics`` maps each per-step metric and each hyperparameter actually used to an array
    ``[n_runs, stop - start]``; ``evals`` maps ``eval_loss``/``eval_acc`` to ``[n_runs, k]`` at
    ``eval_steps`` (steps counted as updates done, so step 0 is the initial model). A model's
    per-layer statistics (the transformer's ``attn_logit_max``) are ``[n_runs, steps, layers]``.
    For a task stream, ``eval_loss``/``eval_acc`` are on the test set of the task that step
    ``eval_step`` trains on (the last task at the final evaluation), and ``evals`` also maps
    ``task_loss``/``task_acc`` to ``[n_runs, k, tasks]``: every task's test set.
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
    tracked: list[dict] | None = None  # per run: "snapshots" and "track" (workbench.track)
    copies: tuple[str, ...] = ()  # weight copies of the copy_* evaluations ("fast" first)

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
        self.hyper_names = s0.optimizer.hyperparameters
        # (K, N, T) float64: each hyperparameter of each run at each step, as the specs schedule
        # it (what the Dataset records); and (T, C, N, 1) float32: the optimizer's per-step
        # coefficients derived from them in float64, so one index per step gives every run's
        # coefficients as [N, 1] columns.
        per_run = [s.optimizer.tables(self.steps) for s in self.specs]
        self.tables = torch.stack(
            [torch.stack([t[h] for t in per_run]) for h in self.hyper_names]
        ).to(self.device)
        # Live multipliers (the LR multiplier): ``tables = unscaled * multiplier`` from the step
        # a multiplier was set, so moving it back to 1 restores the schedule exactly.
        self.unscaled = self.tables.clone()
        self.multiplier = torch.ones(self.tables.shape[:2], dtype=torch.float64, device=self.device)
        self._refresh_coefficients()
        n = len(self.specs)
        self.alive = torch.ones(n, 1, dtype=torch.bool, device=self.device)
        self.diverged_step = torch.full((n,), -1, device=self.device)
        self.step = 0
        # static buffers the step reads and writes (fixed addresses, for graph replay)
        self._t = torch.zeros((), dtype=torch.int64, device=self.device)  # the step on device
        self._ring = torch.zeros(RING, len(STEP_METRICS), n, device=self.device)
        self._layer_ring: torch.Tensor | None = None  # (RING, N, L) once a step reports layers
        self._graph: torch.cuda.CUDAGraph | None = None
        self._warm = 0  # eager warm-up steps taken before capture
        self._evaluator = Evaluator(self.feed, continual=self.is_stream)  # continual evaluation
        tracker = Tracker(self)
        self.tracker = tracker if tracker.active else None  # snapshots, sharpness

    def _refresh_coefficients(self) -> None:
        h = {k: self.tables[i].T for i, k in enumerate(self.hyper_names)}  # (T, N) each
        coef = self.specs[0].optimizer.coefficients(h)  # (T, C, N) float64
        coef = coef[..., None].to(torch.float32)
        if getattr(self, "coef", None) is not None and self.coef.shape == coef.shape:
            self.coef.copy_(coef)  # in place: a captured CUDA graph reads this address
        else:
            self.coef = coef.contiguous()

    # -- live control ------------------------------------------------------------------------

    def set_hyper(
        self, name: str, rows: Sequence[int], values: torch.Tensor, *, scale: bool = False
    ) -> None:
        """From the current step on, set hyperparameter ``name`` of the bucket rows ``rows``
        (``values`` is ``[len(rows)]`` or ``[len(rows), T - step]``), or with ``scale`` set its
        live multiplier.

        A multiplier (one number per row) is absolute, not cumulative: the value used is the
        unscaled value times the latest multiplier, so 1.5 then 1.0 gives back the schedule.
        Per-step multipliers (``[len(rows), T - step]``) are folded into the unscaled values.
        A set value is the unscaled value (a multiplier in force keeps applying). The tables
        record what each run actually used, and the optimizer coefficients are recomputed from
        them (bias corrections included).
        """
        if self.slow is not None and name in self.slow.names and not scale:
            self.slow.set(name, rows, values, self.step)
            return
        if name not in self.hyper_names:
            raise ValueError(
                f"set_hyper: {name!r} is not a hyperparameter of "
                f"{type(self.specs[0].optimizer).__name__}; allowed: {', '.join(self.hyper_names)}"
            )
        k, t = self.hyper_names.index(name), self.step
        idx = torch.as_tensor(list(rows), device=self.device, dtype=torch.long)
        vals = torch.as_tensor(values, dtype=torch.float64, device=self.device)
        base = self.unscaled[k, idx, t:]
        mult = self.multiplier[k, idx]
        if scale and vals.dim() == 1:
            mult = vals
        elif scale:
            base = base * vals
        else:
            base = (vals[:, None] if vals.dim() == 1 else vals).expand_as(base)
        new = base * mult[:, None]
        lo, hi = self.specs[0].optimizer.ranges[name]
        bad = ~torch.isfinite(new) | (new < lo) | ((new > hi) if hi is not None else False)
        if bool(bad.any()):
            allowed = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
            raise ValueError(
                f"set_hyper: {name} would become {float(new[bad][0]):.6g}; it must stay {allowed}"
            )
        self.tables[k, idx, t:] = new
        self.unscaled[k, idx, t:] = base
        self.multiplier[k, idx] = mult
        self._refresh_coefficients()

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
        self.tables = self.tables.index_select(1, index).contiguous()
        self.unscaled = self.unscaled.index_select(1, index).contiguous()
        self.multiplier = self.multiplier.index_select(1, index).contiguous()
        self.coef = None
        self._refresh_coefficients()
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
        self._graph, self._warm = None, 0  # new shapes: capture again

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

    def _capture(self) -> None:
        """Record :meth:`_step` in a CUDA graph; recording runs nothing, replay runs it all.

        Called after a few eager steps on a side stream (the warm-up CUDA graphs need: they
        select cuBLAS and Triton-autotune choices and allocate every buffer the step uses).
        """
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._step()
        self._graph = graph

    def _warm_step(self) -> None:
        """An eager step on a side stream; after ``_WARMUP`` of them the step is captured."""
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            self._step()
        torch.cuda.current_stream(self.device).wait_stream(side)
        self._warm += 1
        if self._warm == _WARMUP:
            self._capture()

    def _evaluate(self, step: int) -> dict[str, torch.Tensor]:
        """``eval_loss``/``eval_acc`` ``[N]`` on the task ``step`` trains on; for a stream also
        ``task_loss``/``task_acc`` ``[N, tasks]`` on every task, ``task_acc_til`` (task-IL, when
        tasks keep class subsets) and ``eval_full`` ``[N]``.

        One batched pass over every distinct task (:class:`~workbench.evaluation.Evaluator`):
        the full test sets at step 0, at every task switch and at the end (so an accuracy matrix
        is exact), the fixed probe subsets (``TaskStream.probe``) strictly inside a task. A
        plain dataset is always evaluated on its full test set. Nothing is copied to the host.
        """
        full = not self.is_stream or step == 0 or step >= self.steps or step in self._switches
        current = self.stream.task_at(min(step, self.steps - 1))
        out = {}
        if self.copies:  # the fast weights and every slow copy as rows of one pass
            res, out = self.slow.evaluate(
                self._evaluator, self.model, full, current, self.is_stream
            )
        else:
            res = self._evaluator(self.model, full=full)  # (N, tasks) each
        out |= {"eval_loss": res["loss"][:, current], "eval_acc": res["acc"][:, current]}
        if self.is_stream:
            out["task_loss"], out["task_acc"] = res["loss"], res["acc"]
            if "acc_til" in res:
                out[TASK_IL_METRIC] = res["acc_til"]
            out["eval_full"] = res["loss"].new_full((self.n_runs,), float(full))
        return out

    def advance(self, n_steps: int) -> Chunk:
        """Train up to ``n_steps`` more steps and return their metrics (one host sync).

        A chunk holds at most ``RING`` steps; ask again for more.
        """
        t0, start = time.perf_counter(), self.step
        stop = min(self.steps, start + max(1, min(int(n_steps), RING)))
        per_task = TASK_METRICS + ((TASK_IL_METRIC,) if self._evaluator.task_il else ())
        names = EVAL_METRICS + ((*per_task, "eval_full") if self.is_stream else ())
        if self.copies:
            names += COPY_METRICS[: 5 if self.is_stream else 3]
        tasks, n_copies = len(self.stream), len(self.copies)
        trail = {k: (tasks,) for k in per_task} | {
            "copy_eval_loss": (n_copies,),
            "copy_eval_acc": (n_copies,),
            "copy_distance": (n_copies,),
            "copy_task_loss": (n_copies, tasks),
            "copy_task_acc": (n_copies, tasks),
        }
        ev_steps: list[int] = []
        ev: dict[str, list[torch.Tensor]] = {k: [] for k in names}
        if start == 0:
            ev_steps.append(0)
            for k, v in self._evaluate(0).items():
                ev[k].append(v)
            if self.tracker is not None:
                self.tracker.after(0)
        for t in range(start, stop):
            self.feed.prepare(t)  # a new task or epoch's order, outside the (captured) step
            if self.penalty is not None and t in self._switches:  # a task has just ended
                k = self.stream.task_at(t) - 1
                self.penalty.consolidate(self.model, *self.feed.sets[k][:2], task=k)
            if self._graph is not None:
                self._graph.replay()
            elif self.use_graph:
                self._warm_step()
            else:
                self._step()
            done = t + 1
            ended = done in self._switches or (done == self.steps and self.is_stream)
            if ended and self.slow is not None and self.slow.align is not None:
                k = self.stream.task_at(t)  # classifier alignment before the task's evaluation
                self.slow.align.after_task(self.model, *self.feed.sets[k][:2], task=k)
            if done % self.eval_every == 0 or done == self.steps or done in self._switches:
                ev_steps.append(done)
                for name, v in self._evaluate(done).items():
                    ev[name].append(v)
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
        evals = {
            k: (
                torch.stack(ev[k], 1).cpu().numpy()  # (N, k) or (N, k, tasks)
                if ev_steps
                else np.zeros((self.n_runs, 0, *trail.get(k, ())))
            )
            for k in names
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
            tracked=None if self.tracker is None else self.tracker.flush(),
            copies=self.copies,
        )
