"""How long a sweep will take, measured on this machine before it runs.

:func:`estimate` groups the specs into lockstep buckets as the engine does, builds each
bucket's stacked model on the device, times a few real training steps and one evaluation
(after warm-up steps, which are not counted), and scales by the steps to go. A probe takes a
fraction of a second; its speed is kept per bucket signature (data, model, optimizer kind,
batch size, number of runs, device) for the life of the process, so estimating the same shapes
again (another budget, other schedules or seeds of the same count) costs nothing.

The estimate covers training and evaluation; building the buckets (generating data, the
first-step set-up) is a few seconds at most and is not included. Apps ask before starting
anything estimated over a few minutes.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from .bucket import Bucket, default_device
from .engine import _validated, plan
from .spec import RunSpec
from .track import Tracker

__all__ = ["Estimate", "estimate"]

_WARM_STEPS = 2  # untimed steps first (allocation, kernel selection); CUDA adds its graph capture
_PROBE_SECONDS = 0.15  # time the steps of a probe for about this long ...
_PROBE_STEPS = 64  # ... or this many steps, whichever comes first
_PROBE_BLOCKS = 4  # but at least this many timed blocks: the fastest one counts

# bucket signature -> (seconds per lockstep step, seconds per evaluation of every task)
_SPEEDS: dict[tuple, tuple[float, float]] = {}
_SPEEDS_LOCK = threading.Lock()


@dataclass(frozen=True)
class Estimate:
    """The estimated cost of a sweep (see :func:`estimate`).

    Parameters
    ----------
    seconds
        Estimated wall time of training and evaluation.
    run_steps
        Steps summed over runs.
    steps_per_second
        Lockstep steps per second (every run of a bucket steps at once), over all buckets.
    runs, buckets
        How many runs, in how many lockstep buckets.
    device
        Where it was measured (and will train).
    steps
        The distinct run lengths, ascending.
    """

    seconds: float
    run_steps: int
    steps_per_second: float
    runs: int
    buckets: int
    device: str = "cpu"
    steps: tuple[int, ...] = ()

    def describe(self) -> str:
        """The estimate in words.

        Examples
        --------
        >>> Estimate(seconds=18600.0, run_steps=12_800_000, steps_per_second=5.4, runs=128,
        ...          buckets=1, device="cpu", steps=(100000,)).describe()
        'about 5 h 10 min (128 runs x 100000 steps; measured 5.4 steps/s on cpu)'
        >>> Estimate(seconds=3.2, run_steps=1800, steps_per_second=94.0, runs=6, buckets=2,
        ...          device="cpu", steps=(100, 400)).describe()
        'about 3 s (6 runs x 100-400 steps in 2 buckets; measured 94 steps/s on cpu)'
        """
        if len(self.steps) == 1:
            size = f"{self.runs} runs x {self.steps[0]} steps"
        elif self.steps:
            size = f"{self.runs} runs x {self.steps[0]}-{self.steps[-1]} steps"
        else:
            size = f"{self.runs} runs, {self.run_steps} run-steps"
        if self.buckets > 1:
            size += f" in {self.buckets} buckets"
        rate = _rate(self.steps_per_second)
        return f"about {duration(self.seconds)} ({size}; measured {rate} steps/s on {self.device})"


def duration(seconds: float) -> str:
    """A duration in words, rounded to its two largest units.

    Examples
    --------
    >>> [duration(s) for s in (0.3, 12.4, 200, 3 * 3600 + 125, 3 * 86400 + 7200)]
    ['under 1 s', '12 s', '3 min 20 s', '3 h 2 min', '3 d 2 h']
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"duration: seconds={seconds!r} must be a finite number >= 0")
    if seconds < 1:
        return "under 1 s"
    s = round(seconds)
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "min", 60)):
        if s >= size:
            big, rest = divmod(s, size)
            small = round(rest / sub_size)
            if small * sub_size == size:  # 2 h 60 min -> 3 h
                big, small = big + 1, 0
            return f"{big} {unit} {small} {sub}" if small else f"{big} {unit}"
    if s >= 60:
        m, rest = divmod(s, 60)
        return f"{m} min {rest} s" if rest else f"{m} min"
    return f"{s} s"


def _rate(x: float) -> str:
    return f"{x:.2g}" if x < 10 else f"{x:,.0f}"


def estimate(specs: Iterable[RunSpec], *, device: torch.device | str | None = None) -> Estimate:
    """Estimate how long training ``specs`` takes here, from the engine's measured speed.

    Each lockstep bucket (as :func:`workbench.engine.plan` groups the specs) is built with
    its real number of runs, a few warm-up steps are taken, then real steps and one evaluation
    are timed; the estimate is ``steps x (time per step + time per evaluation / eval_every)``
    summed over buckets, plus, for runs that track their sharpness
    (:class:`~workbench.track.Track`), one timed estimate per ``sharpness_every`` steps. The
    measured speed is cached per bucket signature (data, model, optimizer kind, batch size,
    runs, device, tracking) in this process, so only the first estimate of a shape trains (a
    fraction of a second); the seconds of a cached shape are proportional to its steps.

    Parameters
    ----------
    specs
        The runs, as for :func:`workbench.run` (validated here, with the same errors).
    device
        Where the sweep will train (default: CUDA when available).

    Returns
    -------
    Estimate

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(16,)), optimizer=wb.SGD(lr=0.1),
    ...                   steps=500, batch_size=32, eval_every=50)
    >>> est = estimate(wb.grid(spec, {"seed": range(4)}))
    >>> est.runs, est.run_steps, est.buckets
    (4, 2000, 1)
    >>> est.seconds > 0 and est.describe().startswith("about ")
    True
    """
    specs = _checked(specs)
    dev = torch.device(device) if device is not None else default_device()
    seconds, bucket_steps = 0.0, 0
    groups = plan(specs)
    for runs in groups:
        group = [specs[i] for i in runs]
        s0 = group[0]
        per_step, per_eval, per_sharp = _speed(group, dev)
        seconds += s0.steps * (per_step + per_eval / s0.eval_every)
        every = [s.track.sharpness_every for s in group if s.track and s.track.sharpness_every]
        if every:  # tracked sharpness: one batched estimate whenever any run is due
            seconds += per_sharp * s0.steps / min(every)
        bucket_steps += s0.steps
    return Estimate(
        seconds=seconds,
        run_steps=sum(s.steps for s in specs),
        steps_per_second=bucket_steps / seconds if seconds > 0 else math.inf,
        runs=len(specs),
        buckets=len(groups),
        device=dev.type,
        steps=tuple(sorted({s.steps for s in specs})),
    )


def _checked(specs: Iterable[RunSpec]) -> list[RunSpec]:
    if isinstance(specs, RunSpec):
        raise ValueError("estimate: specs must be a list of RunSpec, got one RunSpec")
    try:
        specs = list(specs)
    except TypeError:
        raise ValueError(f"estimate: specs={specs!r} must be a list of RunSpec") from None
    return _validated(specs, who="estimate")


def _signature(group: list[RunSpec], device: torch.device) -> tuple:
    s0 = group[0]
    sharp = any(s.track and s.track.sharpness_every for s in group)
    track = s0.track.structure() if sharp and s0.track else None
    return (
        s0.data,
        s0.model,
        s0.optimizer.structure(),
        s0.batch_size,
        len(group),
        str(device),
        track,
    )


def _speed(group: list[RunSpec], device: torch.device) -> tuple[float, float, float]:
    """Seconds per lockstep step, per evaluation (every task) and per sharpness estimate (0 if
    no run tracks it) of this bucket (cached)."""
    key = _signature(group, device)
    with _SPEEDS_LOCK:
        if key in _SPEEDS:
            return _SPEEDS[key]
    measured = _measure(group, device)
    with _SPEEDS_LOCK:
        return _SPEEDS.setdefault(key, measured)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _measure(group: list[RunSpec], device: torch.device) -> tuple[float, float, float]:
    """Build the bucket (real runs, a short run length) and time steps, an evaluation and
    (for runs that track it) a sharpness estimate."""
    warm = _WARM_STEPS + (4 if device.type == "cuda" else 0)  # CUDA: warm-up, then capture
    steps = warm + _PROBE_STEPS + 1
    # the same runs, only shorter, with no evaluation or tracking in the timed steps
    probe = [dataclasses.replace(s, steps=steps, eval_every=steps, track=None) for s in group]
    bucket = Bucket(probe, device=device)
    bucket.advance(warm)  # evaluates step 0 too: the evaluation path is warm as well
    # Time blocks of steps and keep the fastest block's rate: other load on a small machine
    # only ever adds time, and a burst of it during a short probe made estimates 30x too long.
    timed, start, n, rates = 0, time.perf_counter(), 1, []
    while timed < _PROBE_STEPS:
        n = min(n, _PROBE_STEPS - timed)
        t0 = time.perf_counter()
        bucket.advance(n)  # one host sync per call, as in a real chunk
        rates.append((time.perf_counter() - t0) / n)
        timed += n
        if time.perf_counter() - start > _PROBE_SECONDS and len(rates) >= _PROBE_BLOCKS:
            break
        n = min(2 * n, 8)
    per_step = min(rates)
    t0 = time.perf_counter()
    bucket._evaluate(1)  # one evaluation inside the first task: every task, probes, one pass
    _sync(device)
    per_eval = time.perf_counter() - t0
    return per_step, per_eval, _time_sharpness(group, bucket, device)


def _time_sharpness(group: list[RunSpec], bucket: Bucket, device: torch.device) -> float:
    """Seconds of one sharpness estimate of every run (as :class:`~workbench.track.Tracker`
    makes it: the same probe and iterations, twice for AdamW), or 0 if no run tracks it."""
    tracks = [s.track for s in group if s.track and s.track.sharpness_every]
    if not tracks:
        return 0.0
    bucket.specs = [dataclasses.replace(s, track=tracks[0]) for s in bucket.specs]
    tracker, rows = Tracker(bucket), list(range(bucket.n_runs))
    tracker._sharpness(rows, bucket.step)  # the first, cold start (3x the iterations)
    _sync(device)
    t0 = time.perf_counter()
    tracker._sharpness(rows, bucket.step)  # warm-started, as every later estimate
    _sync(device)
    return time.perf_counter() - t0
