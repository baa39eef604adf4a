"""The stacked replay memory a bucket runs: :class:`StackedMemory`, ``[N, G, S]`` buffers on the
device with static shapes, and the counter-based hashes of its keys and draws (:func:`_keys`,
:func:`_uniform`), which :mod:`workbench.replay.reference` shares.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .specs import Replay, task_weights

__all__ = ["StackedMemory"]

EMPTY = torch.iinfo(torch.int64).max  # the key of an empty memory slot
_SALT_KEY, _SALT_DRAW = 0x5EED_0001, 0x5EED_0002


# -- hashes --------------------------------------------------------------------------------------


def _keys(seeds: torch.Tensor, arrivals: torch.Tensor) -> torch.Tensor:
    """Random memory keys of examples by arrival count ``[N, B]`` (FIFO's key is ``-arrival``)."""
    from ..feed import _K3, _mix

    h = _mix(_mix(seeds.to(torch.int64)[:, None] * _K3 + _SALT_KEY) + arrivals)
    return h & ((1 << 62) - 1)  # >= 0 and never EMPTY


def _uniform(seeds: torch.Tensor, step: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """A uniform number in [0, 1) per run and slot ``[N, B]``: the memory draw of step ``step``."""
    from ..feed import _K3, _mix

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
