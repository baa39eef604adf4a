"""Experience replay: a per-run memory of past examples mixed into every batch.

A run with ``RunSpec(replay=Replay(size, ratio, policy, schedule))`` keeps a memory of at most
``size`` **indices** into its stream's training sets (never copies of the data), and trains on
batches of fixed size ``B`` in which the first ``m = min(round(ratio·B), B − 1)`` examples are
drawn from memory and the other ``B − m`` are new data.

The convention, and how it differs from other libraries:

- **Fixed batch, a fraction from memory** (as Renate's ``batch_memory_frac``): the batch size
  never changes, so runs with different ratios stack in one lockstep bucket with static shapes,
  and the ratio can change during a run (a live knob) without recompiling anything. Avalanche's
  ``ReplayPlugin`` instead adds a memory batch *on top* of the data batch (by default as large,
  so the batch doubles); Mammoth concatenates a buffer batch onto each batch. Our ratio 0.5 is
  close to Avalanche's default in what a step sees, but a step here costs the same at any ratio.
- **New data keep their order.** The batch of new data at step ``t`` is the one a run without
  replay gets (the run's :func:`~workbench.feed.epoch_order`); replay overwrites its first ``m``
  slots. So the order of new data is a pure function of the seed, whatever the ratio or buffer,
  and ratio 0 trains exactly as a run without replay. The replayed slots' new examples are
  skipped, not postponed (an epoch still lasts as many steps).
- **Isolated random streams.** Memory keys and memory draws come from their own counter-based
  hashes of (seed, arrival count) and (seed, step, slot), so everything is a pure function of
  (seed, step): a run replays the same examples alone, in any bucket, on any device, and
  :mod:`workbench.reference` reproduces it run by run.

Memory policies (all "keep the ``size`` entries with the smallest key", so the memory of a
smaller buffer is always a prefix of a larger one's, and runs with different sizes share one
buffer of the bucket's largest size):

- ``"reservoir"``: each arriving example gets a uniform random key; the ``size`` smallest keys are
  a uniform random sample of everything seen so far (bottom-k sampling, the same distribution as
  Vitter's reservoir sampling).
- ``"class_balanced"``: a reservoir per class; with ``c`` classes seen, each keeps its
  ``size // c`` smallest keys, so the memory holds equal shares of every class seen.
- ``"fifo"``: the key is minus the arrival count: the ``size`` most recent examples.

Replay draws only from **past** tasks: the memory also collects the current task's examples,
but they are not replayed while it is trained (as in Avalanche, whose buffer is updated at the
end of each experience), so the ratio is the share of every batch that rehearses old tasks.
During the first task there is nothing to replay and every slot holds new data. How a draw
spreads over past tasks (a task's entries are drawn uniformly within it) is the replay
schedule: ``"uniform"`` gives every past task equal weight; ``"power_law"`` weighs task ``k``
by ``(1 + d)^(−exponent)``, ``d`` the number of tasks completed since ``k`` was last trained
(0 for the previous task; power-law rehearsal, after "Catastrophic interference is mitigated in
naturalistic power-law learning environments", 2024); ``"spaced"`` recalls a task at expanding
intervals after it was last trained (``interval·(2^i − 1)`` steps, ``i ≥ 1``, each window
``max(1, interval // 2)`` steps long, weight 1; past tasks outside their windows weigh ``0.1``),
after "Do your best and get enough rest" (2025).

Examples
--------
>>> r = Replay(size=200, ratio=0.25)
>>> r.slots(0.25, batch_size=32)
8
>>> Replay(size=200, ratio=1.5)
Traceback (most recent call last):
...
ValueError: Replay: ratio=1.5 must be in [0, 1)
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from ._fields import check_keys
from .schedules import Schedule, as_schedule, from_dict

__all__ = ["Replay", "POLICIES", "SCHEDULES", "StackedMemory", "ReferenceMemory", "task_weights"]

POLICIES = ("reservoir", "class_balanced", "fifo")
SCHEDULES = ("uniform", "power_law", "spaced")
EMPTY = torch.iinfo(torch.int64).max  # the key of an empty memory slot
_SALT_KEY, _SALT_DRAW = 0x5EED_0001, 0x5EED_0002
_OUTSIDE = 0.1  # a spaced schedule's weight of a task outside its recall windows


@dataclass(frozen=True)
class Replay:
    """A run's replay memory and how much of each batch it supplies.

    Parameters
    ----------
    size
        Memory slots (examples), ``>= 1``.
    ratio
        Fraction of every batch drawn from memory, in ``[0, 1)``; a number or a schedule. The
        memory slots of a step are ``min(round(ratio·B), B − 1)``: at least one new example.
    policy
        ``"reservoir"``, ``"class_balanced"`` or ``"fifo"`` (see the module docstring).
    schedule
        ``"uniform"``, ``"power_law"`` or ``"spaced"``: how draws are spread over past tasks.
    exponent
        The power law's exponent (``> 0``).
    interval
        The spaced schedule's first recall interval in steps (``>= 1``).
    """

    size: int = 200  # memory slots (examples)
    ratio: float | Schedule = 0.25  # fraction of each batch drawn from memory
    policy: str = "reservoir"  # reservoir | class_balanced | fifo
    schedule: str = "uniform"  # uniform | power_law | spaced (over past tasks)
    exponent: float = 1.0  # power_law: weight (1 + tasks since)^-exponent
    interval: int = 100  # spaced: first recall interval (steps)

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"Replay: size={self.size!r} must be an int >= 1")
        if isinstance(self.ratio, Schedule):
            pass  # checked on every step by ratio_table, once the run length is known
        elif isinstance(self.ratio, bool) or not isinstance(self.ratio, (int, float)):
            raise ValueError(f"Replay: ratio={self.ratio!r} must be a number or a Schedule")
        elif not (math.isfinite(self.ratio) and 0 <= self.ratio < 1):
            raise ValueError(f"Replay: ratio={self.ratio!r} must be in [0, 1)")
        else:
            object.__setattr__(self, "ratio", float(self.ratio))
        if self.policy not in POLICIES:
            raise ValueError(
                f"Replay: policy={self.policy!r} is not a policy; allowed: {', '.join(POLICIES)}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"Replay: schedule={self.schedule!r} is not a replay schedule; allowed: "
                f"{', '.join(SCHEDULES)}"
            )
        e = self.exponent
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not (0 < e < math.inf):
            raise ValueError(f"Replay: exponent={e!r} must be a finite number > 0")
        object.__setattr__(self, "exponent", float(e))
        i = self.interval
        if isinstance(i, bool) or not isinstance(i, int) or i < 1:
            raise ValueError(f"Replay: interval={i!r} must be an int >= 1")

    @staticmethod
    def slots(ratio: float, batch_size: int) -> int:
        """Memory slots of a batch at ``ratio``: ``min(round(ratio·B), B − 1)``."""
        return min(round(ratio * batch_size), batch_size - 1)

    def ratio_table(self, steps: int) -> torch.Tensor:
        """The ratio at every step, float64 ``[steps]``, each checked to lie in ``[0, 1)``."""
        t = as_schedule(self.ratio).table(steps)
        bad = ~torch.isfinite(t) | (t < 0) | (t >= 1)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"Replay: ratio at step {i} is {float(t[i]):.6g}; it must be in [0, 1)"
            )
        return t

    def structure(self) -> tuple:
        """What runs of one bucket must share (the memory's layout)."""
        return ("replay", self.policy == "class_balanced")

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if isinstance(self.ratio, Schedule):
            out["ratio"] = self.ratio.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Replay:
        d = dict(d)
        check_keys(cls, d)
        if isinstance(d.get("ratio"), dict):
            d["ratio"] = from_dict(d["ratio"])
        return cls(**d)


# -- per-task weights of the draws ---------------------------------------------------------------


def task_weights(replay: Replay, starts: Sequence[int], steps: int) -> np.ndarray:
    """Weight of each stream position ``k`` in the memory draws at every step, ``[steps, K]``.

    Only past positions weigh anything: the one being trained and those not trained yet weigh
    0. Tasks recur as new positions, so "tasks completed since ``k``" counts positions.

    Examples
    --------
    >>> task_weights(Replay(schedule="power_law", exponent=1.0), [0, 2, 4], 6).round(2).tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, 1.0, 0.0], \
[0.5, 1.0, 0.0]]
    """
    starts = np.asarray(starts, dtype=np.int64)
    k_count = len(starts)
    t = np.arange(steps)
    current = np.searchsorted(starts, t, side="right") - 1  # (T,)
    k = np.arange(k_count)
    past = k[None, :] < current[:, None]  # (T, K)
    if replay.schedule == "uniform":
        w = np.ones((steps, k_count))
    elif replay.schedule == "power_law":  # d = tasks completed since k: current - k - 1
        since = np.maximum(current[:, None] - k[None, :], 1)
        w = since.astype(np.float64) ** -replay.exponent
    else:  # spaced: recall windows at interval·(2^i − 1) steps after the task's end
        ends = np.append(starts[1:], np.iinfo(np.int64).max)
        since = t[:, None] - ends[None, :]  # steps since task k ended (< 0 while training it)
        width, w = max(1, replay.interval // 2), np.full((steps, k_count), _OUTSIDE)
        i = 1
        while replay.interval * (2**i - 1) < steps:
            lo = replay.interval * (2**i - 1)
            w[(since >= lo) & (since < lo + width)] = 1.0
            i += 1
    return np.where(past, w, 0.0)


# -- hashes --------------------------------------------------------------------------------------


def _keys(seeds: torch.Tensor, arrivals: torch.Tensor) -> torch.Tensor:
    """Random memory keys of examples by arrival count ``[N, B]`` (FIFO's key is ``-arrival``)."""
    from .feed import _K3, _mix

    h = _mix(_mix(seeds.to(torch.int64)[:, None] * _K3 + _SALT_KEY) + arrivals)
    return h & ((1 << 62) - 1)  # >= 0 and never EMPTY


def _uniform(seeds: torch.Tensor, step: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """A uniform number in [0, 1) per run and slot ``[N, B]``: the memory draw of step ``step``."""
    from .feed import _K3, _mix

    base = _mix(_mix(seeds.to(torch.int64) * _K3 + _SALT_DRAW) + step)  # (N,)
    h = _mix(base[:, None] + cols[None, :] * _K3)
    return ((h >> 11) & ((1 << 53) - 1)).to(torch.float64) / float(1 << 53)


# -- the stacked memory (engine) -----------------------------------------------------------------


class StackedMemory:
    """The replay memories of a bucket's runs, on the device, with static shapes.

    Entries are kept sorted by key in ``keys [N, G, S]`` (``G`` = 1, or one group per class for
    ``class_balanced``; ``S`` = the bucket's largest size), with their global example ids
    (``ids``, into the concatenated training sets of the stream) and stream positions (``task``).

    Parameters
    ----------
    replays
        Each run's :class:`Replay` (equal :meth:`Replay.structure`).
    seeds
        The runs' seeds ``[N]`` on the device.
    starts, steps, batch_size
        The stream's task starts, the run length and the batch size.
    n_classes
        Labels of a class-balanced memory.
    """

    def __init__(
        self,
        replays: Sequence[Replay],
        seeds: torch.Tensor,
        *,
        starts: Sequence[int],
        steps: int,
        batch_size: int,
        n_classes: int,
    ) -> None:
        device = seeds.device
        self.seeds, self.batch_size = seeds, batch_size
        self.balanced = replays[0].policy == "class_balanced"
        self.fifo = torch.tensor([r.policy == "fifo" for r in replays], device=device)
        n, s = len(replays), max(r.size for r in replays)
        g = n_classes if self.balanced else 1
        self.size = torch.tensor([r.size for r in replays], device=device)  # (N,)
        self.keys = torch.full((n, g, s), EMPTY, dtype=torch.int64, device=device)
        self.ids = torch.zeros((n, g, s), dtype=torch.int64, device=device)
        self.task = torch.zeros((n, g, s), dtype=torch.int64, device=device)
        self.arrived = torch.zeros(n, dtype=torch.int64, device=device)  # new examples seen
        # (N, T) float64 ratio per step (live: set_ratio), and (N, T, K) draw weights per task
        self.ratio = torch.stack([r.ratio_table(steps) for r in replays]).to(device)
        w = [torch.as_tensor(task_weights(r, starts, steps)) for r in replays]
        self.weights = torch.stack(w).to(device=device, dtype=torch.float64)
        self._slot = torch.arange(s, device=device)
        self._cols = torch.arange(batch_size, device=device)

    def m(self, t: torch.Tensor) -> torch.Tensor:
        """Memory slots per run at step ``t`` ``[N]`` (:meth:`Replay.slots`)."""
        r = self.ratio.index_select(1, t.view(1))[:, 0]
        return torch.clamp(torch.round(r * self.batch_size), max=self.batch_size - 1).long()

    def valid(self) -> torch.Tensor:
        """Which entries each run's memory holds now ``[N, G, S]``."""
        full = self.keys != EMPTY
        cap = self.size
        if self.balanced:  # equal shares of the classes seen so far
            seen = full[:, :, 0].sum(1).clamp(min=1)
            cap = self.size // seen
        return full & (self._slot[None, None, :] < cap[:, None, None])

    def mix(
        self,
        t: torch.Tensor,
        x_new: torch.Tensor,
        y_new: torch.Tensor,
        ids_new: torch.Tensor,
        task: torch.Tensor,
        all_x: torch.Tensor,
        all_y: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of step ``t``: memory draws in the first ``m`` slots, new data in the rest;
        then the step's new examples enter the memory. ``ids_new [N, B]`` are the new examples'
        global ids, ``task`` the stream position trained (a device scalar)."""
        n, b = ids_new.shape
        m = self.m(t)  # (N,)
        # -- draw: a task by its weight, then an entry uniformly within the task
        valid = self.valid().flatten(1)  # (N, G*S)
        etask = self.task.flatten(1)
        w = self.weights.index_select(1, t.view(1))[:, 0]  # (N, K)
        count = torch.zeros_like(w).scatter_add_(1, etask, valid.to(w.dtype))
        p = valid * (w / count.clamp(min=1)).gather(1, etask)  # (N, G*S)
        cdf = torch.cumsum(p, 1)
        total = cdf[:, -1:]
        u = _uniform(self.seeds, t, self._cols) * total  # (N, B)
        pick = torch.searchsorted(cdf, u, right=True).clamp(max=cdf.shape[1] - 1)
        mem_ids = self.ids.flatten(1).gather(1, pick)  # (N, B)
        use = (self._cols[None, :] < m[:, None]) & (total > 0)  # (N, B)
        self.use = use  # which slots of this step's batch were replayed (CLS-ER reads it)
        flat = mem_ids.reshape(-1)
        x_mem = all_x.index_select(0, flat).view(n, b, *all_x.shape[1:])
        y_mem = all_y.index_select(0, flat).view(n, b, *all_y.shape[1:])
        ux = use.view(n, b, *([1] * (x_new.dim() - 2)))
        uy = use.view(n, b, *([1] * (y_new.dim() - 2)))
        x, y = torch.where(ux, x_mem, x_new), torch.where(uy, y_mem, y_new)
        # -- insert the new examples (slots not replayed)
        new = ~use
        arrival = self.arrived[:, None] + torch.cumsum(new.long(), 1) - 1  # (N, B)
        keys = torch.where(self.fifo[:, None], -arrival, _keys(self.seeds, arrival))
        keys = torch.where(new, keys, EMPTY)
        groups = self.keys.shape[1]
        if self.balanced:  # each example competes in its class's group only
            label = y_new.view(n, b).long()
            own = label[:, None, :] == torch.arange(groups, device=label.device)[None, :, None]
            cand = torch.where(own, keys[:, None, :], EMPTY)  # (N, G, B)
        else:
            cand = keys[:, None, :]
        all_keys = torch.cat([self.keys, cand], 2)
        all_ids = torch.cat([self.ids, ids_new[:, None, :].expand(n, groups, b)], 2)
        all_task = torch.cat([self.task, task.expand(n, groups, b)], 2)
        order = torch.sort(all_keys, dim=2, stable=True).indices[:, :, : self.keys.shape[2]]
        self.keys.copy_(all_keys.gather(2, order))
        self.ids.copy_(all_ids.gather(2, order))
        self.task.copy_(all_task.gather(2, order))
        self.arrived += new.sum(1)
        return x, y

    def set_ratio(self, rows: torch.Tensor, step: int, values: torch.Tensor) -> None:
        """From ``step`` on, the ratio of ``rows`` is ``values`` (``[R]`` or ``[R, T - step]``)."""
        vals = values.to(self.ratio.dtype)
        bad = ~torch.isfinite(vals) | (vals < 0) | (vals >= 1)
        if bool(bad.any()):
            raise ValueError(
                f"replay_ratio={float(vals[bad][0]):.6g} must be in [0, 1) (the fraction of "
                "each batch drawn from memory)"
            )
        cur = self.ratio[rows, step:]
        self.ratio[rows, step:] = (vals[:, None] if vals.dim() == 1 else vals).expand_as(cur)

    def take(self, index: torch.Tensor) -> None:
        """Keep (and repeat) the runs ``index``: a fork copies its parent's memory."""
        for name in ("seeds", "fifo", "size", "keys", "ids", "task", "arrived", "ratio", "weights"):
            setattr(self, name, getattr(self, name).index_select(0, index).contiguous())


# -- the per-run reference -----------------------------------------------------------------------


class ReferenceMemory:
    """One run's replay memory, the plain way: Python lists, one example at a time.

    The same keys and draws as :class:`StackedMemory` (the same hashes), written as the
    definitions read, for the lock-step tests.
    """

    def __init__(self, replay: Replay, seed: int, *, starts, steps: int, batch_size: int):
        self.replay, self.seed, self.batch_size = replay, seed, batch_size
        self.entries: dict[int, list[tuple[int, int, int]]] = {}  # group -> [(key, id, task)]
        self.arrived = 0
        self.ratio = replay.ratio_table(steps).tolist()
        self.weights = task_weights(replay, starts, steps)

    def _valid(self) -> list[tuple[int, int, int]]:
        size = self.replay.size
        if self.replay.policy == "class_balanced":
            cap = size // max(1, len(self.entries))
            return [e for g in sorted(self.entries) for e in self.entries[g][:cap]]
        return self.entries.get(0, [])[:size]

    def mix(self, t: int, batch: list[tuple[int, int]], task: int) -> list[int]:
        """The global ids trained at step ``t``, given the new batch ``[(id, label)]``."""
        m = Replay.slots(self.ratio[t], self.batch_size)
        valid = self._valid()
        out = []
        w = self.weights[t]
        count: dict[int, int] = {}
        for _, _, k in valid:
            count[k] = count.get(k, 0) + 1
        p = [float(w[k] / count[k]) for _, _, k in valid]
        cdf = np.cumsum(np.asarray(p, dtype=np.float64))
        if len(cdf) and cdf[-1] > 0:  # something past to replay
            cols = torch.arange(self.batch_size)
            u = _uniform(torch.tensor([self.seed]), torch.tensor(t), cols)[0].numpy() * cdf[-1]
            for c in range(m):
                j = min(int(np.searchsorted(cdf, u[c], side="right")), len(valid) - 1)
                out.append(valid[j][1])
        else:
            m = 0
        self.replayed = m  # slots of this step's batch drawn from memory
        for gid, label in batch[m:]:
            out.append(gid)
            n = self.arrived
            if self.replay.policy == "fifo":
                key = -n
            else:
                key = int(_keys(torch.tensor([self.seed]), torch.tensor([[n]]))[0, 0])
            group = label if self.replay.policy == "class_balanced" else 0
            entries = self.entries.setdefault(group, [])
            bisect.insort(entries, (key, gid, task), key=lambda e: e[0])
            del entries[self.replay.size :]  # more than any share can use
            self.arrived += 1
        return out  # a replayed slot's new example is skipped
