"""The plain per-run twin of :mod:`workbench.replay.stacked`, for the lock-step tests:
:class:`ReferenceMemory`, one run's memory in Python lists (:mod:`workbench.reference` uses it).
"""

from __future__ import annotations

import bisect

import numpy as np
import torch

from .specs import Replay, task_weights
from .stacked import _keys, _uniform

__all__ = ["ReferenceMemory"]


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
