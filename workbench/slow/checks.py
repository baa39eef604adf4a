"""The checks of a run's slow mechanisms that need the rest of its spec (data, model,
optimizer, length): :func:`check_run`, called by :meth:`workbench.RunSpec.validate`."""

from __future__ import annotations

from .. import data as _data
from ..models import MLP
from ..streams import TaskStream, as_stream
from .specs import knobs

__all__ = ["check_run"]

_ONE_MOMENTUM = ("SGD", "AdamW", "Lion")  # optimizers whose momentum is one [N, P] buffer


def check_run(spec) -> None:
    """Raise a ValueError naming the field, the value and what is allowed if ``spec.slow``
    cannot run with the rest of ``spec`` (a :class:`~workbench.RunSpec`)."""
    slow = spec.slow
    for name, knob in knobs(slow).items():
        try:
            knob.table(name, spec.steps)
        except ValueError as e:
            raise ValueError(f"RunSpec: {e}") from None
    la = slow.lookahead
    if la is not None and la.momentum != "keep" and spec.optimizer.name not in _ONE_MOMENTUM:
        raise ValueError(
            f"RunSpec: slow.lookahead.momentum={la.momentum!r} needs an optimizer with one "
            f"momentum buffer (SGD, AdamW or Lion); {spec.optimizer.name} allows only 'keep'"
        )
    stream = as_stream(spec.data)
    info = _data.info(stream.tasks[0])
    classifies = isinstance(spec.model, MLP) and info["task"] == "classification"
    if slow.consistency is not None and spec.replay is None:
        raise ValueError(
            "RunSpec: slow.consistency acts on the replayed examples and needs a replay "
            "memory (replay=Replay(...))"
        )
    if (slow.consistency is not None or slow.error_memory is not None) and not classifies:
        raise ValueError(
            "RunSpec: slow.consistency and slow.error_memory need an MLP on a classification "
            f"dataset (one label per example); got {type(spec.model).__name__} on "
            f"{stream.tasks[0].name!r} ({info['task']})"
        )
    streamed = isinstance(spec.data, TaskStream)
    if slow.align is not None and not (classifies and spec.model.hidden and streamed):
        raise ValueError(
            "RunSpec: slow.align retrains an MLP's head (it needs a hidden layer) from class "
            "statistics after each task of a classification TaskStream"
        )
    mem = slow.error_memory
    if mem is not None and mem.size < spec.batch_size:
        raise ValueError(
            f"RunSpec: slow.error_memory.size={mem.size} must be at least "
            f"batch_size={spec.batch_size} (a batch enters the memory at once)"
        )
    if la is not None and la.sync == "tasks" and not streamed:
        raise ValueError(
            "RunSpec: slow.lookahead.sync='tasks' syncs at task switches and needs a "
            "TaskStream as data; use sync='steps' on a plain dataset"
        )
