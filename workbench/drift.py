"""Streams for fast and slow learning: a drifting input-label relation, and few-shot episodes.

- :func:`drifting`: one dataset seen through a feature space that turns over time (the
  ``drift_angle`` view, :func:`workbench.data.views.drift_rotation`), so the relation between
  inputs and labels a model has learned stops holding: an *abrupt* drift turns it by a large
  angle at once, a *gradual* one by a few degrees per segment (sudden and incremental concept
  drift in the terms of Gama et al., 2014, "A survey on concept drift adaptation").
- :func:`episodic`: a sequence of few-shot episodes, each ``ways`` classes of the dataset with
  ``shots`` training examples per class (the ``subset`` and ``shots`` views), as in the
  N-way K-shot episodes of meta-learning (Vinyals et al., 2016, arXiv:1606.04080).

Both return a :class:`~workbench.streams.TaskStream` whose tasks keep the dataset's input size
and all its classes at the output; task ``k`` starts at step ``k * segment_steps`` (or
``episode_steps``), so ``stream.starts[1:]`` are the steps at which the data change: the drift
steps of a drifting stream, where a model trained before meets data it was not trained on.

Examples
--------
>>> s = drifting("gaussian", drift=90, segments=3, segment_steps=100)
>>> s.names, s.starts, s.starts[1:]
(('drift 0°', 'drift 90°', 'drift 180°'), (0, 100, 200), (100, 200))
>>> s.tasks[0] == _data.data_spec("gaussian"), s.tasks[2].drift_angle
(True, 180.0)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import data as _data
from .stream_builders import _base, _check_int
from .streams import TaskStream, sequence

__all__ = ["drifting", "episodic"]

_EPISODE_KEY = 23  # the rng purpose of the episodes' class subsets
KINDS = ("abrupt", "gradual")
_SEGMENTS = {"abrupt": 2, "gradual": 10}  # the default number of segments of each kind


def drifting(
    data: _data.DataSpec | str = "gaussian",
    *,
    kind: str = "abrupt",
    drift: float = 90.0,
    segments: int | None = None,
    segment_steps: int = 200,
    seed: int = 0,
) -> TaskStream:
    """One dataset seen through a feature space that turns by ``drift`` degrees over time.

    Segment ``k`` (``k = 0 .. segments-1``, starting at step ``k * segment_steps``) sees the
    inputs turned by a cumulative angle ``a_k`` by the rotation of drift seed ``seed``
    (:func:`workbench.data.views.drift_rotation`): every input turns by ``a_k``
    (``x . R x = cos(a_k) |x|^2``, exactly so for an even input size), norms and distances are
    kept, so each segment is as easy to learn as the plain data, but the decision boundary turns
    with it (for ``gaussian``, the class prototypes move). Segment 0 is the plain dataset, the
    same spec and batches as a plain run.

    - ``kind="abrupt"``: the angle jumps by ``drift`` at every switch, ``a_k = k * drift``; the
      default ``segments=2`` is a single jump at step ``segment_steps``. A jump of 90 degrees
      turns every input (and prototype) orthogonal to where it was, so a model trained before
      the jump is near chance after it; 180 degrees maps ``x`` to ``-x`` (with an even input
      size), so it is mostly wrong. Since 360 degrees is the identity, ``drift=180`` alternates
      between two relations (the third segment is the plain dataset again: the same spec, one
      test set) and ``drift=120`` cycles through three: recurring concepts.
    - ``kind="gradual"``: the angle grows by ``drift / segments`` per segment,
      ``a_k = k * drift / segments``, a staircase under the line from 0 at step 0 to ``drift``
      at the stream's end (``segments * segment_steps``); use many short segments (the default
      is 10) for a slow drift, a few degrees per switch.

    Consecutive segments differ by a rotation through the angle between them (the rotations of
    one seed form a one-parameter group), so every switch of a stream is the same size.

    Parameters
    ----------
    data : DataSpec or str
        A classification dataset with float features (``gaussian``, ``mnist1d``, ``digits`` as
        64 flat features, ``features``) of at least 2 features, with no drift of its own.
    kind : str
        ``"abrupt"`` or ``"gradual"``.
    drift : float
        Degrees, nonzero, in (-360, 360): the jump at each switch (abrupt) or the angle reached
        at the stream's end (gradual). Negative turns the other way.
    segments : int, optional
        Number of segments (tasks), >= 2; default 2 for abrupt, 10 for gradual.
    segment_steps : int
        Steps per segment, >= 1: segment ``k`` starts at ``k * segment_steps``.
    seed : int
        The drift seed, >= 0: which planes turn (the same for every segment, every run and
        every data seed).

    Returns
    -------
    TaskStream
        Tasks named after the cumulative angle, ``"drift 0°"``, ``"drift 90°"``, ...; a task's
        ``drift_angle`` is that angle modulo 360 (in [0, 360), so a full turn is the plain
        dataset again) and its ``drift_seed`` is ``seed``. ``stream.starts[1:]`` are the
        drift steps.

    Raises
    ------
    ValueError
        Naming the field, the value and what is allowed.

    Examples
    --------
    >>> s = drifting(kind="gradual", drift=30, segments=4, segment_steps=50, seed=2)
    >>> s.names, s.starts
    (('drift 0°', 'drift 7.5°', 'drift 15°', 'drift 22.5°'), (0, 50, 100, 150))
    >>> s.tasks[3].drift_angle, s.tasks[3].drift_seed
    (22.5, 2)
    >>> c = drifting(drift=-120, segments=4)
    >>> c.names[1:], c.tasks[1].drift_angle, c.tasks[3] == c.tasks[0]
    (('drift -120°', 'drift -240°', 'drift -360°'), 240.0, True)
    >>> drifting(kind="sudden")
    Traceback (most recent call last):
    ...
    ValueError: drifting: kind='sudden' must be one of ['abrupt', 'gradual']
    """
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"drifting: kind={kind!r} must be one of {list(KINDS)}")
    if (
        isinstance(drift, bool)
        or not isinstance(drift, numbers.Real)
        or not math.isfinite(drift)
        or not 0 < abs(drift) < 360
    ):
        raise ValueError(
            f"drifting: drift={drift!r} must be a nonzero number of degrees in (-360, 360)"
        )
    if segments is None:
        segments = _SEGMENTS[kind]
    if isinstance(segments, bool) or not isinstance(segments, numbers.Integral) or segments < 2:
        raise ValueError(
            f"drifting: segments={segments!r} must be an integer >= 2 (one segment does not drift)"
        )
    _check_int("drifting", "segment_steps", segment_steps, 1)
    _check_int("drifting", "seed", seed, 0)
    base = _base("drifting", data, ("drift_angle", "drift_seed"))
    drift, segments = float(drift), int(segments)
    if kind == "abrupt":
        angles = [k * drift + 0.0 for k in range(segments)]  # + 0.0: no "-0°"
    else:
        angles = [drift * k / segments for k in range(segments)]
    specs = [
        base.replace(drift_angle=a % 360.0, drift_seed=int(seed)) if a % 360.0 else base
        for a in angles
    ]
    return sequence(specs, [k * segment_steps for k in range(segments)], names=_angle_names(angles))


def episodic(
    data: _data.DataSpec | str = "digits",
    *,
    ways: int = 5,
    shots: int = 5,
    episodes: int = 10,
    episode_steps: int = 100,
    seed: int = 0,
) -> TaskStream:
    """Few-shot episodes: each task is ``ways`` classes with ``shots`` training examples each.

    Episode ``k`` draws a class subset of ``ways`` classes from ``seed``, distinct from those of
    the episodes before it, and trains on the first ``shots`` training examples of each of its
    classes in the dataset's order (the ``subset`` and ``shots`` views), so a class brings the
    same examples to every episode it is in; its test set is every test example of its
    classes. Labels are not remapped: the output layer keeps every class of the dataset, as in
    :func:`~workbench.stream_builders.class_incremental`. A run's ``batch_size`` may be at most
    ``ways * shots``, the training set of an episode (``RunSpec.validate`` checks; it is less
    where a class has fewer than ``shots`` training examples, which keeps all of them). The
    ``k``-th draw depends only on ``seed`` and the draws before it, so a longer stream extends
    a shorter one with the same seed, ``ways`` and dataset.

    Parameters
    ----------
    data : DataSpec or str
        A classification dataset with float features (``digits``, ``mnist1d``, ``gaussian``,
        ``features``), with no class subset or shots of its own.
    ways : int
        Classes per episode, in ``[1, n_classes]``.
    shots : int
        Training examples kept per class, >= 1.
    episodes : int
        Number of episodes (tasks), >= 1 and at most the number of distinct class subsets.
    episode_steps : int
        Steps per episode, >= 1: episode ``k`` starts at ``k * episode_steps``.
    seed : int
        Seed of the class draws, >= 0.

    Returns
    -------
    TaskStream
        Tasks named ``"ep 0: 1,4,7,8,9"`` (the episode's index and sorted classes).

    Raises
    ------
    ValueError
        Naming the field, the value and what is allowed.

    Examples
    --------
    >>> s = episodic("digits", ways=3, shots=4, episodes=3, episode_steps=20)
    >>> s.starts, len(set(s.tasks)), s.tasks[0].shots, _data.info(s.tasks[0])["n_train"]
    ((0, 20, 40), 3, 4, 12)
    >>> episodic(ways=11)
    Traceback (most recent call last):
    ...
    ValueError: episodic: ways=11 must be an integer in [1, 10], the classes of digits
    """
    _check_int("episodic", "shots", shots, 1)
    _check_int("episodic", "episodes", episodes, 1)
    _check_int("episodic", "episode_steps", episode_steps, 1)
    _check_int("episodic", "seed", seed, 0)
    base = _base("episodic", data, ("subset", "shots"))
    n_classes = _data.info(base)["n_classes"]
    if (
        isinstance(ways, bool)
        or not isinstance(ways, numbers.Integral)
        or not 1 <= ways <= n_classes
    ):
        raise ValueError(
            f"episodic: ways={ways!r} must be an integer in [1, {n_classes}], the classes of "
            f"{base.name}"
        )
    distinct = math.comb(n_classes, ways)
    if episodes > distinct:
        raise ValueError(
            f"episodic: episodes={episodes} must be at most {distinct}, the distinct subsets of "
            f"{ways} of {n_classes} classes"
        )
    rng = np.random.default_rng(np.random.SeedSequence([seed, _EPISODE_KEY]))
    drawn: dict[tuple[int, ...], None] = {}  # the distinct subsets, in the order drawn
    while len(drawn) < episodes:
        drawn.setdefault(tuple(sorted(rng.choice(n_classes, size=ways, replace=False).tolist())))
    return sequence(
        [base.replace(subset=c, shots=int(shots)) for c in drawn],
        [k * episode_steps for k in range(episodes)],
        names=[f"ep {k}: " + ",".join(str(c) for c in cs) for k, cs in enumerate(drawn)],
    )


def _angle_names(angles: list[float]) -> list[str]:
    """``"drift 30°"`` per angle, with as many significant digits as keep the names distinct."""
    for digits in range(6, 18):
        names = [f"drift {a:.{digits}g}°" for a in angles]
        if len(set(names)) == len(names):
            return names
    return [f"drift {a!r}°" for a in angles]
