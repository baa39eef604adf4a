"""Continual evaluation: every task of a stream, seen and unseen, in one batched pass.

A :class:`~workbench.bucket.Bucket` evaluates its runs at step 0, every ``eval_every`` steps, at
every task switch and at the end. Each evaluation measures every task of the stream (``task_loss``
/``task_acc``, dims ``(run, eval_step, task)``) with one forward pass of all runs over one
concatenated test set. The conventions:

Probe sets
    An evaluation strictly inside a task measures each task on its *probe*: the first
    ``min(probe, n_test)`` examples of a fixed permutation of that task's test set
    (:func:`probe_indices`, ``probe`` from :attr:`~workbench.streams.TaskStream.probe`), taken in
    test-set order. The permutation depends only on ``n_test``, never on a run's seed or the
    step, so every run and every evaluation of a bucket sees the same examples: a minimum over
    evaluations (min-ACC) is then a minimum over one model's accuracy on one fixed set, not over
    fresh draws, which would bias it low. A probe at least as large as the test set is the whole
    test set.
Full sets
    Evaluations at step 0, at every task switch (the model as the previous task left it) and at
    the end measure every task's whole test set, so the accuracy matrix
    (:func:`workbench.continual.accuracy_matrix`) is exact. ``eval_full`` (``(run, eval_step)``,
    1 or 0) says which evaluations were full. A plain dataset (no stream) is always evaluated on
    its full test set.
One pass
    The distinct tasks' probe sets (a recurring task is one spec, evaluated once:
    :attr:`~workbench.feed.Feed.same`) are concatenated once per bucket, on first use, into one
    device tensor with a task segment id per example, and likewise the full sets. Every run's
    per-example loss and correctness come from :meth:`~workbench.models.StackedModel.
    evaluate_examples` (runs grouped by activation memory, ``max_bytes``), and are reduced per
    task without a Python loop over tasks: each example's value is written to its own slot of a
    zero-padded ``[runs, tasks, longest task]`` buffer (``index_copy_``: no accumulation, so the
    sums are deterministic on CUDA too, unlike an atomic ``index_add_``) and summed over the
    last axis. Nothing in the pass copies to the host.
Class-IL and task-IL
    ``task_acc`` is class-incremental accuracy: the argmax over every class of the output layer.
    For streams whose tasks keep a class subset (``DataSpec.subset``, e.g.
    :func:`~workbench.stream_builders.class_incremental`), ``task_acc_til`` is task-incremental
    accuracy: the argmax over the logits of the task's own classes (the others masked to
    ``-inf``), so it is at least ``task_acc``. A task without a subset keeps every class there.
Means
    Loss and accuracy are means over a task's examples; with a target per position (a sequence
    task) over every (example, position) pair, as the training loss is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from . import data as _data
from .feed import Feed, _mix
from .models import StackedModel
from .models.base import EVAL_MAX_BYTES

if TYPE_CHECKING:
    from .slow import SlowState

__all__ = ["TASK_IL_METRIC", "Evaluator", "evaluate_runs", "probe_indices"]

TASK_IL_METRIC = "task_acc_til"  # task-IL accuracy, (run, eval_step, task)
_PROBE_KEY = 0x5EED_9B0BE  # the hash purpose of probe permutations (no run seed enters)


def probe_indices(n: int, size: int) -> torch.Tensor:
    """The probe of a test set of ``n`` examples: ``min(size, n)`` indices, ascending.

    The first ``size`` entries of a fixed permutation of ``0 .. n-1`` (a counter-based hash of
    the index, sorted, as :func:`~workbench.feed.epoch_order` draws data orders, so the same on
    every device and platform), then sorted. The permutation depends on ``n`` only: no seed,
    step or run enters, so every run and every evaluation shares the probe, and a larger
    ``size`` keeps the smaller probe's examples. ``size >= n`` gives ``arange(n)``.

    Examples
    --------
    >>> probe_indices(5, 9).tolist()
    [0, 1, 2, 3, 4]
    >>> p = probe_indices(100, 10)
    >>> len(p), bool(torch.equal(p, probe_indices(100, 10)))
    (10, True)
    >>> set(p.tolist()) <= set(probe_indices(100, 20).tolist())
    True
    """
    if size >= n:
        return torch.arange(n)
    idx = torch.arange(n, dtype=torch.int64)
    keys = _mix(_mix(idx + _PROBE_KEY) + n)
    return torch.argsort(keys, stable=True)[:size].sort().values


@dataclass
class _EvalSet:
    """The distinct tasks' test examples, concatenated on the device."""

    x: torch.Tensor  # (M, ...) inputs as the model reads them
    y: torch.Tensor  # (M,) or (M, T) targets
    slot: torch.Tensor  # (M,) int64: segment * longest + position within the segment
    count: torch.Tensor  # (D,) float: targets per distinct task (examples x positions)
    mask: torch.Tensor | None  # (M, C) bool: the classes of the example's task (task-IL)
    longest: int  # examples of the largest segment
    sizes: tuple[int, ...]  # examples per distinct task


class Evaluator:
    """Every task of a bucket's stream, evaluated for all runs in one batched pass.

    Parameters
    ----------
    feed
        The bucket's :class:`~workbench.feed.Feed`: its stream, its test sets on the device
        and :attr:`~workbench.feed.Feed.same` (a recurring task is evaluated once).
    continual
        A task stream: evaluations with ``full=False`` use the probe sets
        (``feed.stream.probe``), and task-IL accuracy is computed when a task keeps a class
        subset. ``False`` (a plain dataset): every evaluation is full, class-IL only.
    max_bytes
        Bound on the activations of one pass (a group of runs, or a chunk of examples of one
        run; see :meth:`~workbench.models.StackedModel.evaluate_examples`), 256 MiB by default.
        Results do not depend on it.

    Examples
    --------
    >>> import workbench as wb
    >>> from workbench.bucket import Bucket
    >>> stream = wb.class_incremental("digits", classes_per_task=5, task_steps=10)
    >>> spec = wb.RunSpec(data=stream, model=wb.MLP(hidden=(8,)), steps=20, batch_size=16)
    >>> b = Bucket(wb.grid(spec, {"seed": [0, 1, 2]}), device="cpu")
    >>> ev = Evaluator(b.feed)
    >>> out = ev(b.model, full=True)
    >>> sorted(out), tuple(out["acc"].shape)
    (['acc', 'acc_til', 'loss'], (3, 2))
    >>> bool((out["acc_til"] >= out["acc"]).all())
    True
    """

    def __init__(
        self, feed: Feed, *, continual: bool = True, max_bytes: int = EVAL_MAX_BYTES
    ) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"Evaluator: max_bytes={max_bytes!r} must be an int >= 1")
        self.feed, self.continual, self.max_bytes = feed, continual, max_bytes
        stream = feed.stream
        self.distinct = sorted(set(feed.same))  # stream positions evaluated (first occurrences)
        where = {k: i for i, k in enumerate(self.distinct)}
        self.probe = stream.probe if continual else None
        self.task_il = continual and any(_subset(t) for t in stream.tasks)
        self._n_classes = _data.info(stream.tasks[0])["n_classes"]
        device = feed.seeds.device
        # (K,): the distinct segment each stream position reads
        self._column = torch.tensor([where[k] for k in feed.same], device=device)
        self._sets: dict[bool, _EvalSet] = {}  # full -> its concatenation, built on first use

    def examples(self, *, full: bool) -> int:
        """Examples one evaluation forwards per run (all distinct tasks together)."""
        return sum(self._set(full).sizes)

    def _set(self, full: bool) -> _EvalSet:
        full = full or self.probe is None
        if full not in self._sets:
            parts = [self.feed.test_set(k) for k in self.distinct]
            if full:
                index = [None] * len(parts)
            else:
                index = [probe_indices(x.shape[0], self.probe) for x, _ in parts]
                if all(len(i) == x.shape[0] for i, (x, _) in zip(index, parts, strict=True)):
                    self._sets[False] = self._set(True)  # every probe is its whole test set
                    return self._sets[False]
            self._sets[full] = self._build(parts, index)
        return self._sets[full]

    def _build(self, parts: list, index: list) -> _EvalSet:
        device = parts[0][0].device
        xs, ys = [], []
        for (x, y), i in zip(parts, index, strict=True):
            if i is not None:
                i = i.to(device)
                x, y = x.index_select(0, i), y.index_select(0, i)
            xs.append(x)
            ys.append(y)
        sizes = tuple(x.shape[0] for x in xs)
        longest = max(sizes)
        seg = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))  # (M,)
        within = torch.cat([torch.arange(s) for s in sizes])
        positions = ys[0][0].numel()  # targets per example (1, or a sequence's length)
        mask = None
        if self.task_il:
            classes = torch.ones(len(sizes), self._n_classes, dtype=torch.bool)
            for d, k in enumerate(self.distinct):
                subset = _subset(self.feed.stream.tasks[k])
                if subset:
                    classes[d] = False
                    classes[d, list(subset)] = True
            mask = classes[seg].to(device)
        return _EvalSet(
            x=torch.cat(xs),
            y=torch.cat(ys),
            slot=(seg * longest + within).to(device),
            count=torch.tensor(sizes, dtype=torch.float32, device=device) * positions,
            mask=mask,
            longest=longest,
            sizes=sizes,
        )

    @torch.no_grad()
    def __call__(self, model: StackedModel, *, full: bool) -> dict[str, torch.Tensor]:
        """Mean loss and accuracy ``[N, K]`` of every run on every one of the stream's ``K`` tasks.

        ``full`` selects the whole test sets (else the probes; a plain dataset is always full).
        Returns ``loss``, ``acc`` (class-IL) and, for a stream with class subsets, ``acc_til``
        (task-IL), all on the device; a recurring task's columns repeat its first occurrence.
        """
        s = self._set(full)
        values = model.evaluate_examples(s.x, s.y, mask=s.mask, max_bytes=self.max_bytes)
        q = torch.stack([v for v in values if v is not None])  # (Q, N, M) per-example sums
        n_q, n = q.shape[:2]
        buf = q.new_zeros(n_q, n, len(s.sizes) * s.longest).index_copy_(2, s.slot, q)
        means = buf.view(n_q, n, len(s.sizes), s.longest).sum(-1) / s.count  # (Q, N, D)
        means = means.index_select(2, self._column)  # (Q, N, K)
        names = ("loss", "acc", "acc_til")[:n_q]
        return dict(zip(names, means.unbind(0), strict=True))


def evaluate_runs(
    evaluator: Evaluator,
    model: StackedModel,
    *,
    full: bool,
    current: int,
    n_runs: int,
    slow: SlowState | None = None,
) -> dict[str, torch.Tensor]:
    """One evaluation of a bucket's ``n_runs`` runs, as its chunk records it (on the device).

    ``eval_loss``/``eval_acc`` ``[N]`` on the task ``current``; for a stream
    (``evaluator.continual``) also ``task_loss``/``task_acc`` ``[N, tasks]`` on every task,
    ``task_acc_til`` (task-IL, when tasks keep class subsets) and ``eval_full`` ``[N]`` (1 if
    ``full``, else 0). With ``slow``, the fast weights and every slow copy are rows of one pass
    (:meth:`~workbench.slow.SlowState.evaluate`), which adds the ``copy_*`` metrics.
    """
    stream = evaluator.continual
    out = {}
    if slow is not None:  # the fast weights and every slow copy as rows of one pass
        res, out = slow.evaluate(evaluator, model, full, current, stream)
    else:
        res = evaluator(model, full=full)  # (N, tasks) each
    out |= {"eval_loss": res["loss"][:, current], "eval_acc": res["acc"][:, current]}
    if stream:
        out["task_loss"], out["task_acc"] = res["loss"], res["acc"]
        if "acc_til" in res:
            out[TASK_IL_METRIC] = res["acc_til"]
        out["eval_full"] = res["loss"].new_full((n_runs,), float(full))
    return out


def _subset(task: _data.DataSpec) -> tuple[int, ...]:
    """The classes a task keeps (``()``: all)."""
    return tuple(dict(task.params).get("subset", ()))
