"""Builders of standard continual-learning streams: class-incremental, permuted and rotated tasks.

Each builder returns a :class:`~workbench.streams.TaskStream` made with
:func:`~workbench.streams.sequence` whose tasks are views of one dataset
(:mod:`workbench.data.views`), so every task keeps the dataset's input size and all its classes
at the output, and task ``k`` starts at step ``k * task_steps``. The three scenarios follow van
de Ven & Tolias (2019, arXiv:1904.07734): class-incremental splits (Split MNIST), permuted inputs
(Goodfellow et al., 2013, arXiv:1312.6211) and rotated inputs (Lopez-Paz & Ranzato, 2017,
arXiv:1706.08840).

Examples
--------
>>> s = class_incremental("digits", classes_per_task=2, task_steps=100)
>>> s.names
('classes 0-1', 'classes 2-3', 'classes 4-5', 'classes 6-7', 'classes 8-9')
>>> s.starts, s.tasks[1].subset
((0, 100, 200, 300, 400), (2, 3))
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from . import data as _data
from .streams import TaskStream, sequence

__all__ = ["class_incremental", "permuted", "rotated"]

_ORDER_KEY = 11  # the rng purpose of a shuffled class order


def class_incremental(
    data: _data.DataSpec | str = "digits",
    *,
    classes_per_task: int = 2,
    task_steps: int = 500,
    order: Sequence[int] | None = None,
    order_seed: int | None = None,
    pretrain_classes: int = 0,
    pretrain_steps: int | None = None,
) -> TaskStream:
    """Split a dataset's classes into tasks of ``classes_per_task`` classes each.

    Task ``k`` trains on the class subset ``order[k * c : (k + 1) * c]`` (``c`` the classes per
    task); the output layer keeps every class of the dataset, so the model must tell all classes
    seen so far apart (the class-incremental scenario of van de Ven & Tolias, 2019).

    Parameters
    ----------
    data : DataSpec or str
        A classification dataset with float features (``mnist1d``, ``digits``, ``gaussian``)
        and no class subset of its own.
    classes_per_task : int
        Classes per task, >= 1; must divide the number of classes in ``order``.
    task_steps : int
        Steps per task, >= 1: task ``k`` starts at ``k * task_steps``.
    order : sequence of int, optional
        The classes in the order they are learned: distinct, in ``[0, n_classes)``; may leave
        classes out. Default ``0 .. n_classes-1``.
    order_seed : int, optional
        Shuffle ``0 .. n_classes-1`` with this seed instead (not together with ``order``).
    pretrain_classes : int
        If > 0, the first ``pretrain_classes`` classes of ``order`` form a first, pretraining
        task of ``pretrain_steps`` steps (a backbone pretrained on some classes, then trained
        class-incrementally on the rest: the setting of slow learners, SLCA, Zhang et al.
        2023); ``classes_per_task`` must divide the classes left.
    pretrain_steps : int, optional
        Steps of the pretraining task (default ``task_steps``).

    Returns
    -------
    TaskStream
        Tasks named ``"classes 0-1"`` (consecutive classes), ``"classes 3,7"`` or ``"class 4"``;
        a pretraining task ``"pretrain 0-5"``.

    Raises
    ------
    ValueError
        Naming the field, the value and what is allowed.

    Examples
    --------
    >>> class_incremental("digits", classes_per_task=5, task_steps=50, order_seed=0).names
    ('classes 0,4,5,6,7', 'classes 1,2,3,8,9')
    >>> class_incremental("digits", classes_per_task=3)
    Traceback (most recent call last):
    ...
    ValueError: class_incremental: classes_per_task=3 must divide the 10 classes of order
    >>> s = class_incremental("digits", pretrain_classes=6, pretrain_steps=400, task_steps=100)
    >>> s.names, s.starts
    (('pretrain 0-5', 'classes 6-7', 'classes 8-9'), (0, 400, 500))
    """
    _check_int("class_incremental", "classes_per_task", classes_per_task, 1)
    _check_int("class_incremental", "task_steps", task_steps, 1)
    base = _base("class_incremental", data, ("subset",))
    n_classes = _data.info(base)["n_classes"]
    if order is not None and order_seed is not None:
        raise ValueError(
            f"class_incremental: order={order!r} and order_seed={order_seed!r}: give at most one"
        )
    if order_seed is not None:
        _check_int("class_incremental", "order_seed", order_seed, 0)
        rng = np.random.default_rng(np.random.SeedSequence([order_seed, _ORDER_KEY]))
        order = rng.permutation(n_classes).tolist()
    elif order is None:
        order = list(range(n_classes))
    else:
        if isinstance(order, (str, bytes)) or not isinstance(order, (Sequence, np.ndarray)):
            raise ValueError(f"class_incremental: order={order!r} must be a sequence of classes")
        order = list(order)
        bad = [
            c
            for c in order
            if isinstance(c, bool) or not isinstance(c, numbers.Integral) or not 0 <= c < n_classes
        ]
        if bad or not order or len(set(order)) != len(order):
            raise ValueError(
                f"class_incremental: order={order!r} must be distinct classes in [0, {n_classes})"
            )
        order = [int(c) for c in order]
    _check_int("class_incremental", "pretrain_classes", pretrain_classes, 0)
    if pretrain_classes >= len(order):
        raise ValueError(
            f"class_incremental: pretrain_classes={pretrain_classes} must leave classes of "
            f"order ({len(order)}) to learn incrementally"
        )
    pre_steps = task_steps if pretrain_steps is None else pretrain_steps
    _check_int("class_incremental", "pretrain_steps", pre_steps, 1)
    pre, order = order[:pretrain_classes], order[pretrain_classes:]
    if len(order) % classes_per_task:
        left = " left after pretrain_classes" if pre else ""
        raise ValueError(
            f"class_incremental: classes_per_task={classes_per_task} must divide the "
            f"{len(order)} classes of order{left}"
        )
    groups = [order[i : i + classes_per_task] for i in range(0, len(order), classes_per_task)]
    first = pre_steps if pre else 0
    return sequence(
        [base.replace(subset=g) for g in ([pre] if pre else []) + groups],
        ([0] if pre else []) + [first + k * task_steps for k in range(len(groups))],
        names=(["pretrain " + _classes_name(pre).split(" ", 1)[1]] if pre else [])
        + [_classes_name(g) for g in groups],
    )


def permuted(
    data: _data.DataSpec | str = "digits",
    *,
    tasks: int = 5,
    fraction: float = 1.0,
    task_steps: int = 500,
    seed: int = 0,
) -> TaskStream:
    """Tasks that see the same dataset through different fixed permutations of its features.

    Task 0 is the plain dataset (unpermuted, named ``"original"``, the same spec and batches as
    a plain run); task ``k >= 1`` permutes ``fraction`` of the features with permutation seed
    ``seed + k`` (:func:`workbench.data.views.feature_permutation`). Streams whose ``seed``
    differ by less than ``tasks`` share some permutations.

    Parameters
    ----------
    data : DataSpec or str
        A dataset with float features (``mnist1d``, ``digits``, ``gaussian``), not permuted.
    tasks : int
        Number of tasks, >= 1 (the original included).
    fraction : float
        Share of features each permutation moves, in [0, 1]: how unlike the tasks are.
    task_steps : int
        Steps per task, >= 1: task ``k`` starts at ``k * task_steps``.
    seed : int
        Base permutation seed, >= 0.

    Returns
    -------
    TaskStream
        Tasks named ``"original"``, ``"perm 1 (100%)"``, ``"perm 2 (100%)"``, ...

    Examples
    --------
    >>> s = permuted("mnist1d", tasks=3, fraction=0.5, task_steps=200)
    >>> s.names, s.tasks[2].permute_seed
    (('original', 'perm 1 (50%)', 'perm 2 (50%)'), 2)
    >>> permuted(tasks=0)
    Traceback (most recent call last):
    ...
    ValueError: permuted: tasks=0 must be an integer >= 1
    """
    _check_int("permuted", "tasks", tasks, 1)
    _check_int("permuted", "task_steps", task_steps, 1)
    _check_int("permuted", "seed", seed, 0)
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, numbers.Real)
        or not 0 <= fraction <= 1
    ):
        raise ValueError(f"permuted: fraction={fraction!r} must be a number in [0, 1]")
    base = _base("permuted", data, ("permute_seed", "permute_fraction"))
    specs = [base] + [
        base.replace(permute_seed=seed + k, permute_fraction=float(fraction))
        for k in range(1, tasks)
    ]
    names = ["original"] + [f"perm {k} ({fraction:.0%})" for k in range(1, tasks)]
    return sequence(specs, [k * task_steps for k in range(tasks)], names=names)


def rotated(
    data: _data.DataSpec | str = "digits",
    *,
    angles: Sequence[float] = (0, 45, 90),
    task_steps: int = 500,
) -> TaskStream:
    """Tasks that see the digits turned by each of ``angles`` (degrees, counter-clockwise).

    Task ``k`` rotates every 8x8 image by ``angles[k]`` degrees about its centre, bilinearly,
    zeros outside the grid (:func:`workbench.data.views.rotate_images`); an angle of 0 is the
    plain dataset.

    Parameters
    ----------
    data : DataSpec or str
        ``digits`` (the only image dataset), not rotated.
    angles : sequence of float
        Distinct angles in [-360, 360], one task each, in training order.
    task_steps : int
        Steps per task, >= 1: task ``k`` starts at ``k * task_steps``.

    Returns
    -------
    TaskStream
        Tasks named ``"rot 0°"``, ``"rot 45°"``, ...

    Examples
    --------
    >>> rotated(angles=(0, 22.5), task_steps=100).names
    ('rot 0°', 'rot 22.5°')
    >>> rotated("mnist1d")
    Traceback (most recent call last):
    ...
    ValueError: rotated: data='mnist1d' must be 'digits' (the only image dataset)
    """
    _check_int("rotated", "task_steps", task_steps, 1)
    base = _base("rotated", data, ("rotate",))
    if base.name != "digits":
        raise ValueError(f"rotated: data={base.name!r} must be 'digits' (the only image dataset)")
    if isinstance(angles, (str, bytes)) or not isinstance(angles, (Sequence, np.ndarray)):
        raise ValueError(f"rotated: angles={angles!r} must be a sequence of degrees")
    angles = list(angles)
    if not angles or any(isinstance(a, bool) or not isinstance(a, numbers.Real) for a in angles):
        raise ValueError(f"rotated: angles={angles!r} must be a non-empty sequence of numbers")
    if len({float(a) for a in angles}) != len(angles):
        raise ValueError(f"rotated: angles={angles!r} must be distinct")
    return sequence(
        [base.replace(rotate=a) for a in angles],
        [k * task_steps for k in range(len(angles))],
        names=[f"rot {float(a):g}°" for a in angles],
    )


def _base(builder: str, data: _data.DataSpec | str, views: tuple[str, ...]) -> _data.DataSpec:
    """``data`` as a spec, refusing one that already sets the views the builder sets."""
    if isinstance(data, str):
        data = _data.data_spec(data)
    if not isinstance(data, _data.DataSpec):
        raise ValueError(f"{builder}: data={data!r} must be a DataSpec or a dataset name")
    own = dict(data.params)
    for key in views:
        if key in own:
            raise ValueError(
                f"{builder}: data has {key}={own[key]!r}; the builder sets {key} itself, so "
                "data must not"
            )
    return data


def _check_int(builder: str, field: str, value: object, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise ValueError(f"{builder}: {field}={value!r} must be an integer >= {lo}")


def _classes_name(classes: Sequence[int]) -> str:
    c = sorted(classes)
    if len(c) == 1:
        return f"class {c[0]}"
    if c == list(range(c[0], c[-1] + 1)):
        return f"classes {c[0]}-{c[-1]}"
    return "classes " + ",".join(str(k) for k in c)
