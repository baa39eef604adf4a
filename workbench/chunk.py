"""What a :class:`~workbench.bucket.Bucket` records: the metric names, the device ring's length,
and the :class:`Chunk` of metrics the host receives from each ``advance``.

A chunk's evaluations stay on the device (:class:`EvalLog`) until the chunk's one host sync.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .evaluation import TASK_IL_METRIC

__all__ = [
    "COPY_METRICS",
    "EVAL_METRICS",
    "RING",
    "STEP_METRICS",
    "TASK_METRICS",
    "Chunk",
    "EvalLog",
    "eval_shapes",
]

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


def eval_shapes(
    *, stream: bool, task_il: bool, n_copies: int, tasks: int
) -> dict[str, tuple[int, ...]]:
    """The evaluation metrics a chunk records, each with its shape after ``[n_runs, k]``.

    >>> eval_shapes(stream=False, task_il=False, n_copies=0, tasks=1)
    {'eval_loss': (), 'eval_acc': ()}
    >>> list(eval_shapes(stream=True, task_il=True, n_copies=2, tasks=3).items())[2:5]
    [('task_loss', (3,)), ('task_acc', (3,)), ('task_acc_til', (3,))]
    """
    per_task = TASK_METRICS + ((TASK_IL_METRIC,) if task_il else ())
    names = EVAL_METRICS + ((*per_task, "eval_full") if stream else ())
    if n_copies:
        names += COPY_METRICS[: 5 if stream else 3]
    trail = {k: (tasks,) for k in per_task} | {
        "copy_eval_loss": (n_copies,),
        "copy_eval_acc": (n_copies,),
        "copy_distance": (n_copies,),
        "copy_task_loss": (n_copies, tasks),
        "copy_task_acc": (n_copies, tasks),
    }
    return {k: trail.get(k, ()) for k in names}


class EvalLog:
    """The evaluations of one chunk, kept on the device until :meth:`arrays` reads them out.

    ``shapes`` is :func:`eval_shapes`: the metrics recorded (each evaluation must give exactly
    these) and their trailing shapes, which an empty log (no evaluation) keeps.

    >>> log = EvalLog({"eval_loss": ()}, n_runs=2)
    >>> log.arrays()["eval_loss"].shape
    (2, 0)
    >>> log.add(5, {"eval_loss": torch.tensor([0.5, 0.25])})
    >>> log.steps.tolist(), log.arrays()["eval_loss"].tolist()
    ([5], [[0.5], [0.25]])
    """

    def __init__(self, shapes: dict[str, tuple[int, ...]], *, n_runs: int) -> None:
        self.shapes, self.n_runs = shapes, n_runs
        self._steps: list[int] = []
        self._values: dict[str, list[torch.Tensor]] = {k: [] for k in shapes}

    def add(self, step: int, values: dict[str, torch.Tensor]) -> None:
        """Record the evaluation ``values`` (each ``[n_runs, ...]``) at ``step``."""
        self._steps.append(step)
        for k, v in values.items():
            self._values[k].append(v)

    @property
    def steps(self) -> np.ndarray:
        """The evaluated steps, ``[k]`` int64."""
        return np.asarray(self._steps, dtype=np.int64)

    def arrays(self) -> dict[str, np.ndarray]:
        """Each metric as ``[n_runs, k, ...]`` on the host (copies from the device)."""
        return {
            k: (
                torch.stack(self._values[k], 1).cpu().numpy()  # (N, k) or (N, k, tasks)
                if self._steps
                else np.zeros((self.n_runs, 0, *shape))
            )
            for k, shape in self.shapes.items()
        }
