"""Task streams: a run that trains on a sequence of datasets ("tasks"), switching at given steps.

A :class:`TaskStream` names the tasks (each a :class:`~workbench.data.DataSpec`), the step at
which each one starts, and a label per task. It goes where a dataset goes, as ``RunSpec.data``:
the run trains on task ``k`` from ``starts[k]`` until the next task starts, and every evaluation
measures every task's test set (``task_loss``/``task_acc`` in the results, dims ``(run,
eval_step, task)``), while ``eval_loss``/``eval_acc`` keep meaning "on the test set of the task
being trained". Besides every ``eval_every`` steps, a stream is evaluated at every task switch
(the model as the previous task left it), so an accuracy matrix is exact whatever
``eval_every`` is. Evaluations strictly inside a task measure each task on a fixed *probe*
subset of its test set (``probe`` examples, the same for every run and every evaluation);
evaluations at step 0, at task switches and at the end use the full test sets
(:mod:`workbench.evaluation`). Make one with :func:`sequence`.

The data order of a run within task ``k`` is a pure function of (run seed, ``k``, epoch counted
from the task's start) (:func:`~workbench.feed.epoch_order`), so task 0 of a stream sees the
batches a plain run on that dataset sees, and a run trains the same alone or in any bucket.

Examples
--------
>>> import json
>>> from workbench.data import data_spec
>>> s = sequence([data_spec("markov", vocab=8, context=16),
...               data_spec("markov", vocab=8, context=16, variant=1, distance=0.5)],
...              starts=(0, 300), names=("base", "shifted"))
>>> s.names, s.task_at(299), s.task_at(300)
(('base', 'shifted'), 0, 1)
>>> TaskStream.from_dict(json.loads(json.dumps(s.to_dict()))) == s
True
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import data as _data

__all__ = ["TaskStream", "sequence", "as_stream", "data_from_dict", "SHARED"]

# What every task of a stream must agree on (the model's input and output shapes).
SHARED = ("task", "input_dim", "n_classes", "vocab")
PROBE = 500  # TaskStream.probe's default: examples per task in evaluations inside a task


@dataclass(frozen=True)
class TaskStream:
    """A sequence of tasks with the step at which each starts.

    Construction validates and canonicalises (dataset names become specs, lists become tuples,
    missing names become ``"task0"``, ``"task1"``, ...), so equal streams are equal and hash
    equal. Prefer :func:`sequence`.

    Parameters
    ----------
    tasks : tuple of DataSpec (or dataset names)
        The datasets, in training order; they must share the input and output shapes (the
        ``task`` kind, ``input_dim``, ``n_classes`` and ``vocab`` of :func:`workbench.data.info`).
    starts : tuple of int
        The step at which each task starts: ``0`` first, strictly increasing.
    names : tuple of str
        A distinct, non-empty label per task (the ``task`` coordinate of the results); empty
        means ``("task0", "task1", ...)``.
    probe : int
        Examples per task in evaluations strictly inside a task (>= 1): the first
        ``min(probe, n_test)`` examples of a fixed permutation of the task's test set that
        depends on nothing but the test set's size
        (:func:`~workbench.evaluation.probe_indices`), so every run and every evaluation sees
        the same ones. Evaluations at step 0, at task switches and at the end use the full test
        sets. Left out of :meth:`to_dict` at its default (500), so specs made before it existed
        keep their keys; ``grid``/``set_path`` reach it as ``data.probe``.

    Examples
    --------
    >>> s = TaskStream(("digits", "digits"), (0, 10))
    >>> s.names, s.tasks[1].name
    (('task0', 'task1'), 'digits')
    >>> TaskStream(("digits", "gaussian"), (0, 10))
    Traceback (most recent call last):
    ...
    ValueError: TaskStream: tasks[1]='gaussian' has input_dim=20, but tasks[0]='digits' has \
input_dim=64; every task must share task, input_dim, n_classes, vocab
    """

    tasks: tuple[_data.DataSpec, ...]  # the datasets, in training order
    starts: tuple[int, ...] = (0,)  # step at which each task starts (0 first, increasing)
    names: tuple[str, ...] = ()  # task labels; empty -> "task0", "task1", ...
    probe: int = PROBE  # examples per task in evaluations inside a task (fixed subset)

    def __post_init__(self) -> None:
        tasks = _as_tuple("tasks", self.tasks)
        if not tasks:
            raise ValueError("TaskStream: tasks=() must hold at least one dataset")
        specs = []
        for i, t in enumerate(tasks):
            if isinstance(t, str):
                t = _data.data_spec(t)
            if not isinstance(t, _data.DataSpec):
                raise ValueError(
                    f"TaskStream: tasks[{i}]={t!r} must be a DataSpec or a dataset name"
                )
            specs.append(t)
        first = _data.info(specs[0])
        for i, t in enumerate(specs[1:], 1):
            info = _data.info(t)
            for key in SHARED:
                if info[key] != first[key]:
                    raise ValueError(
                        f"TaskStream: tasks[{i}]={t.name!r} has {key}={info[key]!r}, but "
                        f"tasks[0]={specs[0].name!r} has {key}={first[key]!r}; every task must "
                        f"share {', '.join(SHARED)}"
                    )
        starts = _as_tuple("starts", self.starts)
        if len(starts) != len(specs):
            raise ValueError(
                f"TaskStream: starts={starts!r} must give one step per task ({len(specs)})"
            )
        for i, s in enumerate(starts):
            if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
                raise ValueError(f"TaskStream: starts[{i}]={s!r} must be an int >= 0")
        starts = tuple(int(s) for s in starts)
        if starts[0] != 0:
            raise ValueError(f"TaskStream: starts={starts!r} must begin at 0 (the first task)")
        for i in range(1, len(starts)):
            if starts[i] <= starts[i - 1]:
                raise ValueError(
                    f"TaskStream: starts={starts!r} must be strictly increasing; starts[{i}]="
                    f"{starts[i]} is not after starts[{i - 1}]={starts[i - 1]}"
                )
        names = _as_tuple("names", self.names) or tuple(f"task{i}" for i in range(len(specs)))
        if len(names) != len(specs):
            raise ValueError(
                f"TaskStream: names={names!r} must give one name per task ({len(specs)})"
            )
        for i, n in enumerate(names):
            if not isinstance(n, str) or not n:
                raise ValueError(f"TaskStream: names[{i}]={n!r} must be a non-empty string")
        if len(set(names)) != len(names):
            raise ValueError(f"TaskStream: names={names!r} must be distinct")
        probe = self.probe
        if isinstance(probe, bool) or not isinstance(probe, (int, np.integer)) or probe < 1:
            raise ValueError(
                f"TaskStream: probe={probe!r} must be an int >= 1 (test examples per task in "
                "evaluations inside a task)"
            )
        object.__setattr__(self, "probe", int(probe))
        object.__setattr__(self, "tasks", tuple(specs))
        object.__setattr__(self, "starts", starts)
        object.__setattr__(self, "names", tuple(names))

    def __len__(self) -> int:
        return len(self.tasks)

    def task_at(self, step: int) -> int:
        """The index of the task whose data step ``step`` trains on (the last task after it).

        Examples
        --------
        >>> s = TaskStream(("digits",) * 3, (0, 5, 9))
        >>> [s.task_at(t) for t in (0, 4, 5, 8, 9, 100)]
        [0, 0, 1, 1, 2, 2]
        """
        return bisect.bisect_right(self.starts, step) - 1

    def task_index(self, steps: int) -> np.ndarray:
        """:meth:`task_at` of steps ``0 .. steps-1`` as an int64 array ``[steps]``.

        Examples
        --------
        >>> TaskStream(("digits",) * 2, (0, 2)).task_index(4).tolist()
        [0, 0, 1, 1]
        """
        steps_ = np.arange(steps)
        return np.searchsorted(np.asarray(self.starts), steps_, side="right").astype(np.int64) - 1

    def first_visits(self) -> tuple[int, ...]:
        """Per position, the first position with the same task (a task that recurs is the same
        spec: one training set, one test set, one device copy).

        Examples
        --------
        >>> from workbench.data import data_spec
        >>> a, b = data_spec("digits", subset=[0, 1]), data_spec("digits", subset=[2, 3])
        >>> TaskStream((a, b, a, b, b), (0, 5, 9, 12, 20)).first_visits()
        (0, 1, 0, 1, 1)
        """
        first: dict = {}
        return tuple(first.setdefault(t, k) for k, t in enumerate(self.tasks))

    def to_dict(self) -> dict[str, Any]:
        """``{"tasks": [DataSpec dicts], "starts": [...], "names": [...]}``: plain JSON values,
        plus ``"probe"`` when it is not the default (so older specs keep their keys)."""
        return {
            "tasks": [t.to_dict() for t in self.tasks],
            "starts": list(self.starts),
            "names": list(self.names),
            **({"probe": self.probe} if self.probe != PROBE else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TaskStream:
        """Inverse of :meth:`to_dict`."""
        if "tasks" not in d:
            raise ValueError(f"TaskStream.from_dict: d={dict(d)!r} has no 'tasks'")
        unknown = sorted(set(d) - {"tasks", "starts", "names", "probe"})
        if unknown:
            raise ValueError(
                f"TaskStream.from_dict: unknown key {unknown[0]!r}; allowed: tasks, starts, "
                "names, probe"
            )
        return cls(
            tuple(_data.DataSpec.from_dict(t) for t in d["tasks"]),
            tuple(d.get("starts", (0,))),
            tuple(d.get("names", ())),
            d.get("probe", PROBE),
        )


def sequence(
    tasks: Sequence[_data.DataSpec | str],
    starts: Sequence[int],
    *,
    names: Sequence[str] | None = None,
    probe: int = PROBE,
) -> TaskStream:
    """A :class:`TaskStream`: train on ``tasks[k]`` from step ``starts[k]`` on.

    Parameters
    ----------
    tasks
        Data specs or dataset names, in training order, sharing input and output shapes.
    starts
        The step at which each task starts: ``0`` first, strictly increasing; each must come
        before the end of the run it is used in (``RunSpec.validate`` checks).
    names
        One distinct label per task (default ``"task0"``, ``"task1"``, ...).
    probe
        Test examples per task in evaluations inside a task (:attr:`TaskStream.probe`).

    Raises
    ------
    ValueError
        Naming the field, the value and what is allowed.

    Examples
    --------
    >>> s = sequence(["digits", "digits"], [0, 100], names=["a", "b"])
    >>> s.starts, s.names
    ((0, 100), ('a', 'b'))
    >>> sequence(["digits", "digits"], [0, 0])
    Traceback (most recent call last):
    ...
    ValueError: TaskStream: starts=(0, 0) must be strictly increasing; starts[1]=0 is not \
after starts[0]=0
    """
    return TaskStream(
        _as_tuple("tasks", tasks), _as_tuple("starts", starts), tuple(names or ()), probe
    )


def as_stream(data: _data.DataSpec | TaskStream) -> TaskStream:
    """``data`` itself if it is a stream, else a one-task stream of it.

    Examples
    --------
    >>> as_stream(_data.data_spec("digits")).starts
    (0,)
    """
    if isinstance(data, TaskStream):
        return data
    return TaskStream((data,))


def data_from_dict(d: Mapping[str, Any]) -> _data.DataSpec | TaskStream:
    """A DataSpec or TaskStream from its ``to_dict`` form (a stream has ``"tasks"``).

    Examples
    --------
    >>> data_from_dict({"name": "digits"}).name
    'digits'
    """
    if "tasks" in d:
        return TaskStream.from_dict(d)
    return _data.DataSpec.from_dict(d)


def _as_tuple(field: str, value: Any) -> tuple:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)):
        raise ValueError(f"TaskStream: {field}={value!r} must be a sequence (tuple or list)")
    return tuple(value)
