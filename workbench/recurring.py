"""Streams that revisit tasks: draws from a fixed pool of small class-subset tasks.

Both builders first draw a *pool* of ``pool`` distinct class subsets of ``classes_per_task``
classes each (pool task ``A``, ``B``, ...), then a sequence of ``tasks`` tasks drawn from the
pool with repeats. A task that recurs is the very same :class:`~workbench.data.DataSpec` each
time, so its data and test set are those of its first visit. Task ``k`` starts at step
``k * task_steps``; the output layer keeps every class of the dataset.

- :func:`recurring`: each draw is uniform over the pool, as in SCoLe (Lesort et al., 2022,
  arXiv:2207.04543, "Scaling the number of tasks in continual learning"), where plain SGD
  accumulates knowledge as tasks recur.
- :func:`power_law`: the chance of revisiting a pool task decays as a power law of the time since
  it was last seen, the "naturalistic" environment of "Catastrophic interference is mitigated in
  naturalistic power-law learning environments" (2024).

The pool depends only on ``(data, pool, classes_per_task, seed)`` and the ``k``-th draw only on
the seed, the exponent and the draws before it, so both builders share the pool for a seed,
a longer stream extends a shorter one, and ``power_law(exponent=0)`` equals :func:`recurring`.

Examples
--------
>>> s = recurring("digits", pool=3, tasks=5, task_steps=100, seed=0)
>>> s.names
('B (classes 1,9)', 'C (classes 4,9)', 'C·2 (classes 4,9)', 'A (classes 5-6)', 'C·3 (classes 4,9)')
>>> s.tasks[1] == s.tasks[2], s.starts
(True, (0, 100, 200, 300, 400))
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import data as _data
from .stream_builders import _base, _check_int, _classes_name
from .streams import TaskStream, sequence

__all__ = ["recurring", "power_law"]

_POOL_KEY = 13  # the rng purpose of the pool's class subsets
_DRAW_KEY = 17  # the rng purpose of the draws from the pool


def recurring(
    data: _data.DataSpec | str = "digits",
    *,
    pool: int = 5,
    classes_per_task: int = 2,
    tasks: int = 20,
    task_steps: int = 200,
    seed: int = 0,
) -> TaskStream:
    """A long sequence of small tasks drawn uniformly, with repeats, from a fixed pool (SCoLe).

    The pool is ``pool`` distinct class subsets of ``classes_per_task`` classes, drawn once from
    ``seed``; each of the ``tasks`` tasks is then a uniform draw from the pool (Lesort et al.,
    2022, arXiv:2207.04543). Equal to :func:`power_law` with ``exponent=0``.

    Parameters
    ----------
    data : DataSpec or str
        A classification dataset with float features (``mnist1d``, ``digits``, ``gaussian``)
        and no class subset of its own.
    pool : int
        Number of pool tasks, >= 1 and at most the number of distinct class subsets.
    classes_per_task : int
        Classes per pool task, in ``[1, n_classes]``.
    tasks : int
        Number of tasks in the stream, >= 1.
    task_steps : int
        Steps per task, >= 1: task ``k`` starts at ``k * task_steps``.
    seed : int
        Seed of the pool and of the draws, >= 0.

    Returns
    -------
    TaskStream
        Tasks named after their pool letter and classes, ``"A (classes 0,3)"``, with the visit
        number from the second visit on: ``"A·2 (classes 0,3)"``. Every visit of a pool task is
        the same spec.

    Raises
    ------
    ValueError
        Naming the field, the value and what is allowed.

    Examples
    --------
    >>> s = recurring(pool=4, tasks=30, task_steps=10, seed=1)
    >>> len(s), len(set(s.tasks)), s.starts[-1]
    (30, 4, 290)
    >>> recurring(pool=46)
    Traceback (most recent call last):
    ...
    ValueError: recurring: pool=46 must be at most 45, the distinct subsets of 2 of 10 classes
    """
    return _build("recurring", data, pool, classes_per_task, tasks, task_steps, 0.0, seed)


def power_law(
    data: _data.DataSpec | str = "digits",
    *,
    pool: int = 5,
    classes_per_task: int = 2,
    tasks: int = 20,
    task_steps: int = 200,
    exponent: float = 1.0,
    seed: int = 0,
) -> TaskStream:
    """Tasks drawn from a fixed pool, revisiting each with a power law of the time since last seen.

    Draw ``n`` (``n = 0, 1, ...``, so ``n`` draws precede it) picks pool task ``i`` with
    probability proportional to

    ``(1 + a_i) ** -exponent``,  ``a_i = n - l_i``,

    where ``l_i`` is the draw at which ``i`` was last picked: ``a_i = 1`` for the task just
    trained, and a task never picked counts as last seen at draw ``-1`` (``a_i = n + 1``), just
    before the stream began. ``exponent = 0`` gives uniform draws (the stream equals
    :func:`recurring` with the same arguments); larger exponents revisit recent tasks more, and
    the task just trained most of all. Since that task keeps weight ``2 ** -exponent`` while the
    others' weights keep falling, long streams with ``exponent >= 1`` come to dwell on one task
    (2000 draws from a pool of 5: about half repeat the last task at exponent 1, nearly all at
    exponent 2); exponents below 1 keep revisiting the whole pool. The pool is that of
    :func:`recurring` for the same ``data``, ``pool``, ``classes_per_task`` and ``seed``
    ("Catastrophic interference is mitigated in naturalistic power-law learning environments",
    2024).

    Parameters
    ----------
    data : DataSpec or str
        A classification dataset with float features (``mnist1d``, ``digits``, ``gaussian``)
        and no class subset of its own.
    pool : int
        Number of pool tasks, >= 1 and at most the number of distinct class subsets.
    classes_per_task : int
        Classes per pool task, in ``[1, n_classes]``.
    tasks : int
        Number of tasks in the stream, >= 1.
    task_steps : int
        Steps per task, >= 1: task ``k`` starts at ``k * task_steps``.
    exponent : float
        The power law's exponent, finite and >= 0; 0 is uniform.
    seed : int
        Seed of the pool and of the draws, >= 0.

    Returns
    -------
    TaskStream
        Named as by :func:`recurring`: ``"A (classes 0,3)"``, ``"A·2 (classes 0,3)"``, ...

    Raises
    ------
    ValueError
        Naming the field, the value and what is allowed.

    Examples
    --------
    >>> s = power_law(pool=3, tasks=6, task_steps=50, exponent=2.0)
    >>> [n.split()[0] for n in s.names]
    ['B', 'C', 'C·2', 'B·2', 'C·3', 'C·4']
    >>> power_law(exponent=0, seed=3) == recurring(seed=3)
    True
    >>> power_law(exponent=-1)
    Traceback (most recent call last):
    ...
    ValueError: power_law: exponent=-1 must be a finite number >= 0
    """
    return _build("power_law", data, pool, classes_per_task, tasks, task_steps, exponent, seed)


def _build(
    builder: str,
    data: _data.DataSpec | str,
    pool: int,
    classes_per_task: int,
    tasks: int,
    task_steps: int,
    exponent: float,
    seed: int,
) -> TaskStream:
    for field, value in (
        ("pool", pool),
        ("classes_per_task", classes_per_task),
        ("tasks", tasks),
        ("task_steps", task_steps),
    ):
        _check_int(builder, field, value, 1)
    _check_int(builder, "seed", seed, 0)
    if (
        isinstance(exponent, bool)
        or not isinstance(exponent, numbers.Real)
        or not math.isfinite(exponent)
        or exponent < 0
    ):
        raise ValueError(f"{builder}: exponent={exponent!r} must be a finite number >= 0")
    base = _base(builder, data, ("subset",))
    n_classes = _data.info(base)["n_classes"]
    if classes_per_task > n_classes:
        raise ValueError(
            f"{builder}: classes_per_task={classes_per_task} must be in [1, {n_classes}], the "
            "classes of the dataset"
        )
    n_subsets = math.comb(n_classes, classes_per_task)
    if pool > n_subsets:
        raise ValueError(
            f"{builder}: pool={pool} must be at most {n_subsets}, the distinct subsets of "
            f"{classes_per_task} of {n_classes} classes"
        )
    subsets = _pool(n_classes, classes_per_task, pool, seed)
    specs = [base.replace(subset=s) for s in subsets]
    visits = [0] * pool
    names = []
    for i in _draws(pool, tasks, float(exponent), seed):
        visits[i] += 1
        label = _letter(i) + (f"·{visits[i]}" if visits[i] > 1 else "")
        names.append((i, f"{label} ({_classes_name(subsets[i])})"))
    return sequence(
        [specs[i] for i, _ in names],
        [k * task_steps for k in range(tasks)],
        names=[n for _, n in names],
    )


def _pool(n_classes: int, size: int, pool: int, seed: int) -> list[tuple[int, ...]]:
    """``pool`` distinct sorted class subsets of ``size`` classes, in the order drawn."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, _POOL_KEY]))
    subsets: list[tuple[int, ...]] = []
    while len(subsets) < pool:  # rejection: pool <= comb(n_classes, size) is checked
        s = tuple(sorted(int(c) for c in rng.choice(n_classes, size=size, replace=False)))
        if s not in subsets:
            subsets.append(s)
    return subsets


def _draws(pool: int, tasks: int, exponent: float, seed: int) -> list[int]:
    """The pool index of each of ``tasks`` draws: weights ``(1 + n - last_i) ** -exponent``.

    One uniform number per draw, inverted through the weights' cumulative sum, so draw ``n``
    depends only on the seed, the exponent and the draws before it; with ``exponent = 0`` the
    weights are exactly 1 and the draws uniform.

    Examples
    --------
    >>> _draws(3, 8, 0.0, seed=0)
    [1, 2, 2, 0, 2, 1, 0, 2]
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, _DRAW_KEY]))
    last = np.full(pool, -1.0)  # never seen: as if last seen just before the first draw
    out = []
    for n in range(tasks):
        weights = (1.0 + (n - last)) ** -exponent  # (pool,)
        cdf = np.cumsum(weights)
        i = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), pool - 1)
        last[i] = n
        out.append(i)
    return out


def _letter(i: int) -> str:
    """Pool task ``i``'s label: ``A`` .. ``Z``, then ``AA``, ``AB``, ... (spreadsheet columns)."""
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(ord("A") + r) + s
    return s
