"""What each step of a bucket trains on: per-run data order and the task of a stream.

:func:`epoch_order` fixes the order in which a run visits a training set, as a pure function of
(run seed, task index, epoch counted from the task's start), so a run sees the same batches
alone or in any bucket, on any device. A :class:`Feed` holds a bucket's training sets on the
device and hands the captured step its batch: the host calls :meth:`Feed.prepare` before each
step (a new task or epoch is copied into fixed buffers there), and the step calls
:meth:`Feed.batch`, which reads only those buffers and device scalars, so a CUDA graph of the step
stays valid across task switches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from . import data as _data
from .models import MLP, Transformer
from .replay import Replay, StackedMemory
from .streams import TaskStream

__all__ = ["Feed", "epoch_order"]


# -- per-run data order ------------------------------------------------------------------------


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


def epoch_order(seeds: torch.Tensor, epoch: int, n: int, *, task: int = 0) -> torch.Tensor:
    """The order in which each run visits the ``n`` training examples in ``epoch`` of ``task``.

    Each row depends only on that run's seed, the task's index in its stream and the epoch
    counted from the task's start (a counter-based hash, sorted), so a run sees the same batches
    alone or in any bucket, on any device. Task 0 is the order of a plain (one-dataset) run.

    Examples
    --------
    >>> a = epoch_order(torch.tensor([0, 1]), 0, 5)
    >>> sorted(a[0].tolist())
    [0, 1, 2, 3, 4]
    >>> bool(torch.equal(a[1], epoch_order(torch.tensor([1]), 0, 5)[0]))
    True
    >>> sorted(epoch_order(torch.tensor([0]), 0, 5, task=1)[0].tolist())
    [0, 1, 2, 3, 4]
    """
    base = _mix(_mix(seeds.to(torch.int64) * _K3 + 0x632BE5AB) + epoch)  # (N,)
    if task:  # a later task of a stream draws its own orders
        base = _mix(base + task)
    idx = torch.arange(n, device=seeds.device, dtype=torch.int64)
    keys = _mix(base[:, None] + idx[None, :] * _K3)  # (N, n)
    return torch.argsort(keys, dim=1, stable=True)


# -- the feed ------------------------------------------------------------------------------------


class Feed:
    """The training batches of a bucket's runs, task by task.

    Parameters
    ----------
    stream
        The runs' tasks (a plain dataset is a one-task stream).
    model
        The model config; its ``prepare`` turns a dataset's inputs into what it reads.
    seeds
        The runs' seeds ``[N]``, on the device.
    batch_size
        Examples per step and run.

    Examples
    --------
    >>> from workbench.models import MLP
    >>> from workbench.streams import sequence
    >>> feed = Feed(sequence(["digits"] * 2, [0, 5]), MLP(), torch.tensor([0, 1]), batch_size=4)
    >>> feed.prepare(5)
    >>> x, y = feed.batch(torch.tensor(5))
    >>> x.shape, y.shape, feed.task
    (torch.Size([2, 4, 64]), torch.Size([2, 4]), 1)
    """

    def __init__(
        self,
        stream: TaskStream,
        model: MLP | Transformer,
        seeds: torch.Tensor,
        *,
        batch_size: int,
        replay: Sequence[Replay] | None = None,
        steps: int | None = None,
    ) -> None:
        self.stream, self.seeds, self.batch_size = stream, seeds, batch_size
        device = seeds.device
        # per task: (x_train, y_train, x_test, y_test) on the device, as the model reads them
        # (a task that recurs is the same spec: one device copy, and ``same[k]`` is the first
        # task with task k's spec, so its test set is evaluated once)
        self.sets: list[tuple[torch.Tensor, ...]] = []
        self.same: list[int] = list(stream.first_visits())
        for k, task in enumerate(stream.tasks):
            if self.same[k] != k:
                self.sets.append(self.sets[self.same[k]])
                continue
            d = _data.load(task)
            xs = (model.prepare(d, d.x_train), d.y_train, model.prepare(d, d.x_test), d.y_test)
            self.sets.append(tuple(t.to(device) for t in xs))
        # the training set the step reads: padded to the largest task (one task: itself)
        self.x, self.y = self.sets[0][:2]
        if len(stream) > 1:
            size = max(x.shape[0] for x, *_ in self.sets)
            self.x = self.x.new_zeros(size, *self.x.shape[1:])
            self.y = self.y.new_zeros(size, *self.y.shape[1:])
        self.task = -1  # the task whose training set the buffers hold
        self._epoch = (-1, -1)  # (task, epoch within it) of the order in self.order
        self._t0 = torch.zeros((), dtype=torch.int64, device=device)  # the task's start step
        self._per_epoch = torch.ones((), dtype=torch.int64, device=device)  # its batches
        self._cols = torch.arange(batch_size, device=device)
        self.order = torch.empty(len(seeds), self.x.shape[0], dtype=torch.int64, device=device)
        self.memory: StackedMemory | None = None
        if replay is not None:
            self._init_replay(replay, steps, model)

    def _init_replay(self, replay: Sequence[Replay], steps: int | None, model) -> None:
        """Replay memories index one concatenation of the stream's distinct training sets."""
        if steps is None:
            raise ValueError("Feed: replay needs the run length (steps)")
        device = self.seeds.device
        firsts = sorted(set(self.same))
        sizes = [self.sets[k][0].shape[0] for k in firsts]
        start = dict(zip(firsts, np.cumsum([0, *sizes[:-1]]).tolist(), strict=True))
        # the global id of example i of stream position k is offsets[k] + i
        self.offsets = [int(start[self.same[k]]) for k in range(len(self.stream))]
        self.all_x = torch.cat([self.sets[k][0] for k in firsts])
        self.all_y = torch.cat([self.sets[k][1] for k in firsts])
        self._offset = torch.zeros((), dtype=torch.int64, device=device)
        self._pos = torch.zeros((), dtype=torch.int64, device=device)
        n_classes = _data.info(self.stream.tasks[0]).get("n_classes") or 1
        self.memory = StackedMemory(
            replay,
            self.seeds,
            starts=self.stream.starts,
            steps=steps,
            batch_size=self.batch_size,
            n_classes=n_classes,
        )

    def prepare(self, t: int) -> None:
        """Before step ``t`` (host side): load its task and its epoch's order, if new."""
        k = self.stream.task_at(t)
        n = self.sets[k][0].shape[0]
        epoch = (t - self.stream.starts[k]) // (n // self.batch_size)
        if (k, epoch) == self._epoch:
            return
        if k != self.task:  # in place: a captured step reads these addresses
            x, y = self.sets[k][:2]
            if x is not self.x:
                self.x[: x.shape[0]].copy_(x)
                self.y[: y.shape[0]].copy_(y)
            self._t0.fill_(self.stream.starts[k])
            self._per_epoch.fill_(n // self.batch_size)
            if self.memory is not None:
                self._offset.fill_(self.offsets[k])
                self._pos.fill_(k)
            self.task = k
        self.order[:, :n].copy_(epoch_order(self.seeds, epoch, n, task=k))
        self._epoch = (k, epoch)

    def batch(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch ``(x [N, B, ...], y [N, B, ...])`` of step ``t`` (a device scalar)."""
        cols = ((t - self._t0) % self._per_epoch) * self.batch_size + self._cols  # (B,)
        idx = self.order.index_select(1, cols).reshape(-1)  # (N*B,)
        n, b = self.order.shape[0], self.batch_size
        # index_select is several times faster than x[idx] on CPU
        x = self.x.index_select(0, idx).view(n, b, *self.x.shape[1:])
        y = self.y.index_select(0, idx).view(n, b, *self.y.shape[1:])
        if self.memory is not None:  # memory draws replace the first slots
            ids = idx.view(n, b) + self._offset
            x, y = self.memory.mix(t, x, y, ids, self._pos, self.all_x, self.all_y)
        return x, y

    def take(self, index: torch.Tensor) -> None:
        """Keep (and repeat) the runs ``index`` (a fork): their seeds and current orders."""
        self.seeds = self.seeds.index_select(0, index)
        self.order = self.order.index_select(0, index).contiguous()
        if self.memory is not None:
            self.memory.take(index)

    def test_set(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Task ``k``'s test inputs and targets, as the model reads them."""
        return self.sets[k][2], self.sets[k][3]
