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

This package: the spec (:class:`Replay`, :func:`task_weights`) is in
:mod:`workbench.replay.specs`, the stacked memory a bucket runs (:class:`StackedMemory`, with the
hashes of its keys and draws) in :mod:`workbench.replay.stacked`, and its plain per-run twin
(:class:`ReferenceMemory`) in :mod:`workbench.replay.reference`.

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

from .reference import ReferenceMemory
from .specs import POLICIES, SCHEDULES, Replay, task_weights
from .stacked import EMPTY as EMPTY
from .stacked import StackedMemory
from .stacked import _keys as _keys
from .stacked import _uniform as _uniform

__all__ = ["Replay", "POLICIES", "SCHEDULES", "StackedMemory", "ReferenceMemory", "task_weights"]
