"""Live sessions: train a sweep in a background thread and steer it while it runs.

A :class:`Session` trains its lockstep buckets round-robin, a chunk at a time, in a background
thread. Between chunks it applies what the caller asked for: pause, resume, stop, a change of a
live knob for some runs (an LR multiplier, or any hyperparameter of the optimizer set from now
on), or a **fork**: copies of runs that continue from the current step in the same bucket with
changed knobs ("start the WSD decay now"). Everything computed so far is always available as a
Dataset, also after a stop; a branch's history up to its fork step is its parent's, and the
Dataset records each run's ``parent`` and ``fork_step`` and the knob values actually used.

Commands take effect at the next chunk boundary (``chunk_steps`` apart). To apply them at one
exact step, hold there first: ``pause(at_step=k)`` (also before :meth:`Session.start`) trains
every bucket to step ``k`` exactly and holds, whatever the chunk size and however fast the
thread runs. :attr:`Session.events` logs every command applied, with its step, and
:meth:`Session.trained_specs` (or :func:`trained_specs` of a Dataset) writes what was actually
trained as specs that :func:`workbench.run` reproduces.
"""

from __future__ import annotations

import functools
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from . import results as _results
from .bucket import Bucket, Chunk, default_device
from .engine import _Collector, _validated, plan
from .live_knobs import check_knob, knob_targets, set_knob_row, used_values
from .spec import RunSpec
from .trained import _cuts, _trained_spec, trained_specs

__all__ = ["Session", "trained_specs"]

_STATES = ("idle", "running", "paused", "stopped", "done", "error")


class Session:
    """A sweep trained in the background with pause/resume/stop, live knobs and forks.

    Parameters
    ----------
    specs
        The runs (validated before anything starts).
    device, kernels, cuda_graph
        As for :func:`workbench.run`.
    chunk_steps
        Steps between host syncs, and so between the points where commands take effect.
    on_chunk
        Called from the training thread with every :class:`~workbench.bucket.Chunk`
        (``chunk.runs`` are session run ids). Keep it quick; errors in it stop the session.

    Attributes
    ----------
    events : list of dict
        Every command as applied, in order: ``{"step", "kind", "name", "value", "runs"}``.
        ``kind`` is ``"knob"`` (``name`` the knob, ``value`` the number set, or the name of
        the function a fork was given, ``runs`` the runs it applied to) or ``"fork"`` (``runs``
        the new branches, ``value`` their parents, ``name`` None). ``step`` is the step of
        the runs' bucket when it was applied: the first step that used it. A fork's knobs are
        logged as knob events of its branches right after it. Plain JSON values.
    messages : list of str
        Commands that could not be applied, in plain words (the session goes on).

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(16,)), optimizer=wb.SGD(lr=0.1),
    ...                   steps=40, batch_size=32, eval_every=20)
    >>> s = Session(wb.grid(spec, {"seed": [0, 1]}), chunk_steps=10)
    >>> s.start().wait()
    'done'
    >>> s.dataset().sizes["run"], s.dataset().sizes["step"]
    (2, 40)

    Hold at an exact step, change a knob there, and read back what was trained:

    >>> s = Session([spec], chunk_steps=8)
    >>> s.pause(at_step=20)
    >>> _ = s.start(); s.wait_paused()
    True
    >>> s.steps_done().tolist()
    [20]
    >>> s.set_knob("lr", 0.05); s.resume(); s.wait()
    'done'
    >>> s.events[0]["step"], s.events[0]["kind"], s.events[0]["value"]
    (20, 'knob', 0.05)
    >>> s.trained_specs()[0].optimizer.lr
    piecewise(boundaries=(20,), values=(0.1, 0.05))
    """

    def __init__(
        self,
        specs: Iterable[RunSpec],
        *,
        device: torch.device | str | None = None,
        chunk_steps: int = 25,
        kernels: str = "auto",
        cuda_graph: bool | str = "auto",
        on_chunk: Callable[[Chunk], None] | None = None,
    ) -> None:
        self.specs: list[RunSpec] = _validated(specs)
        if isinstance(chunk_steps, bool) or not isinstance(chunk_steps, int) or chunk_steps < 1:
            raise ValueError(f"Session: chunk_steps={chunk_steps!r} must be an int >= 1")
        self.device = torch.device(device) if device is not None else default_device()
        self.chunk_steps = chunk_steps
        self._bucket_opts = {"kernels": kernels, "cuda_graph": cuda_graph}
        self.on_chunk = on_chunk
        self.parent: list[int] = [-1] * len(self.specs)  # per run: the run it was forked from
        self.fork_step: list[int] = [-1] * len(self.specs)
        # Commands as applied, in order: {"step", "kind", "name", "value", "runs"} (see events).
        self.events: list[dict] = []
        self._groups = plan(self.specs)
        self._buckets: list[Bucket] = []
        self._collector = _Collector()
        self._commands: queue.Queue = queue.Queue()
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._state = "idle"
        self._paused = False
        self._hold_at: int | None = None  # pause(at_step=...): hold once every bucket is there
        self._stop = False
        self._elapsed = 0.0  # seconds of training before the current stretch
        self._since: float | None = None  # perf_counter() when the current stretch began
        self._trained = 0  # run-steps trained here (a branch's copied history not counted)
        self.error: BaseException | None = None
        self.messages: list[str] = []  # commands that could not be applied, in plain words
        self._thread: threading.Thread | None = None

    # -- state -------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """One of ``idle``, ``running``, ``paused``, ``stopped``, ``done``, ``error``."""
        return self._state

    @property
    def progress(self) -> tuple[int, int]:
        """Run-steps done and in total (all buckets); per run, see :meth:`steps_done`."""
        with self._lock:
            done = sum(b.step * b.n_runs for b in self._buckets)
            total = sum(b.steps * b.n_runs for b in self._buckets) or sum(
                s.steps for s in self.specs
            )
        return done, total

    def steps_done(self) -> np.ndarray:
        """Steps each run has completed, ``[n_runs]`` int64, as :meth:`dataset` holds them.

        A branch counts from its parent's history (its steps before the fork are the parent's);
        runs not started yet, and branches not yet applied, are 0. Compare with
        :meth:`steps_total`.
        """
        with self._lock:
            out = np.zeros(len(self.specs), dtype=np.int64)
            for r, m in self._collector.metrics.items():
                out[r] = sum(len(v) for v in m["train_loss"])
        return out

    def steps_total(self) -> np.ndarray:
        """Each run's length, ``[n_runs]`` int64 (``spec.steps``; branches included)."""
        with self._lock:
            return np.asarray([s.steps for s in self.specs], dtype=np.int64)

    @property
    def elapsed(self) -> float:
        """Seconds spent training so far (building the buckets included, pauses not)."""
        with self._lock:
            live = time.perf_counter() - self._since if self._since is not None else 0.0
            return self._elapsed + live

    @property
    def throughput(self) -> float:
        """Run-steps trained per second of :attr:`elapsed` (0.0 before the first chunk).

        Counts the steps this session trained: a branch's copied history is not counted.
        """
        with self._lock:
            elapsed, trained = self.elapsed, self._trained
        return trained / elapsed if elapsed > 0 else 0.0

    def start(self) -> Session:
        """Start training in a background thread (returns the session, for chaining)."""
        with self._lock:
            if self._thread is not None:
                raise ValueError(f"Session: start() called twice (state is {self._state!r})")
            # a daemon: a server shutting down (or a notebook kernel) does not wait for it
            self._thread = threading.Thread(
                target=self._main, name="workbench-session", daemon=True
            )
            self._state = "running"
            self._thread.start()
        return self

    def pause(self, *, at_step: int | None = None) -> None:
        """Hold at the next chunk boundary, or at step ``at_step`` exactly; see :meth:`resume`.

        With ``at_step``, every bucket trains on to step ``at_step`` (its last chunk is cut
        short to land there; a bucket already past it, or shorter, stops where it is) and then
        the session holds, so commands given while it holds apply at exactly that step. Set
        it while the session holds (or before :meth:`start`) to be exact: a chunk already
        under way when it is set may carry a bucket past ``at_step``, which then holds at that
        chunk's end. A later call replaces an earlier ``at_step``. Once reached, the hold is an
        ordinary pause: it lasts until :meth:`resume`. :meth:`wait_paused` waits for it.
        """
        if at_step is not None and (
            isinstance(at_step, bool) or not isinstance(at_step, int | np.integer) or at_step < 0
        ):
            raise ValueError(f"Session: pause(at_step={at_step!r}) must be an int >= 0")
        with self._lock:
            if at_step is None:
                self._paused = True
            else:
                self._hold_at = int(at_step)
            self._wake.notify_all()

    def resume(self) -> None:
        """Continue after a pause (a pending ``pause(at_step=...)`` still holds there)."""
        with self._lock:
            self._paused = False
            if self._state == "paused":
                # at once, so a wait_paused() right after a new pause() waits for the new hold
                self._state = "running"
            self._wake.notify_all()

    def stop(self) -> None:
        """Stop at the next chunk boundary; everything computed so far is kept."""
        with self._lock:
            self._stop = True
            self._wake.notify_all()

    def wait(self, timeout: float | None = None) -> str:
        """Block until the session is done, stopped or failed (or ``timeout``); return the state."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self._state == "error" and self.error is not None:
            raise RuntimeError(f"Session failed: {self.error!r}") from self.error
        return self._state

    def wait_paused(self, timeout: float = 60.0) -> bool:
        """After :meth:`pause`, block until the training thread is actually holding (or the
        session ended); False if ``timeout`` seconds passed first."""
        with self._lock:
            return self._wake.wait_for(
                lambda: self._state in ("paused", "done", "stopped", "error"), timeout
            )

    # -- commands ----------------------------------------------------------------------------

    def set_knob(
        self, name: str, value: float | Sequence[float], *, runs: Sequence[int] | None = None
    ) -> None:
        """Change a live knob from the next chunk on, for ``runs`` (default: all).

        ``name`` is ``"lr_scale"`` (multiply the learning rate, schedule included; the latest
        multiplier counts, so setting 1.0 again restores the schedule), any
        hyperparameter of the runs' optimizer (``"lr"``, ``"weight_decay"``, ``"momentum"``...),
        or ``"replay_ratio"`` (runs with a replay memory; in ``[0, 1)``), set to ``value`` from
        now on. ``value`` is a number or one number per run.
        """
        self._check_runs(runs)
        check_knob(self.specs, name, value)
        self._commands.put(("knob", name, value, runs))
        self._poke()

    def fork(
        self,
        runs: Sequence[int],
        *,
        knobs: dict[str, float | Sequence[float] | Callable] | None = None,
    ) -> list[int]:
        """Branch copies of ``runs`` at the next chunk boundary; return the new run ids.

        ``knobs`` maps a live knob (as for :meth:`set_knob`) to a value, or to a function
        ``f(step, remaining, current) -> np.ndarray [remaining]`` giving the branch's values
        from the fork on (``current`` is the parent's value there): e.g. a linear decay to zero
        is ``lambda step, n, cur: cur * np.linspace(1, 0, n)``.
        """
        self._check_runs(runs)
        if not runs:
            raise ValueError("Session: fork needs at least one run id")
        for name, value in (knobs or {}).items():
            check_knob(self.specs, name, value)
        with self._lock:
            new = list(range(len(self.specs), len(self.specs) + len(runs)))
            for r in runs:
                self.specs.append(self.specs[r])
                self.parent.append(r)
                self.fork_step.append(-2)  # set when applied
        self._commands.put(("fork", list(runs), new, dict(knobs or {})))
        self._poke()
        return new

    def _check_runs(self, runs: Sequence[int] | None) -> None:
        if runs is None:
            return
        n = len(self.specs)
        for r in runs:
            if isinstance(r, bool) or not isinstance(r, int | np.integer) or not 0 <= r < n:
                raise ValueError(f"Session: run {r!r} is not a run id (0..{n - 1})")

    def _poke(self) -> None:
        with self._lock:
            self._wake.notify_all()

    # -- results -----------------------------------------------------------------------------

    def dataset(self):
        """Everything computed so far as an ``xarray.Dataset`` (also while running).

        Runs that have not started yet are absent; ``parent`` and ``fork_step`` coordinates
        say where each branch came from (-1 for the original runs), ``session_run`` is each
        run's session id, and the ``session_events`` attr holds :attr:`events` as JSON.
        """
        with self._lock:
            ids = [r for r in range(len(self.specs)) if r in self._collector.metrics]
            records = [self._collector.record(r) for r in ids]
            specs = [self.specs[r] for r in ids]
            parent = [self.parent[r] for r in ids]
            fork = [self.fork_step[r] for r in ids]
            events = json.dumps(self.events)
        if not records:
            raise ValueError("Session: no step has been computed yet")
        ds = _results.assemble(specs, records, device=str(self.device))
        ds.attrs["session_events"] = events
        return ds.assign_coords(
            session_run=("run", np.asarray(ids)),
            parent=("run", np.asarray(parent)),
            fork_step=("run", np.asarray(fork)),
        )

    def trained_specs(self) -> list[RunSpec]:
        """What each run of :meth:`dataset` actually trained, as a spec :func:`workbench.run`
        reproduces (same order as the Dataset's runs).

        Read from the hyperparameter tables the runs used (float64, exactly); see
        :func:`trained_specs` for how they are written. A stopped session's runs end where
        they got to.
        """
        with self._lock:
            done = self.steps_done()
            out = []
            for r in range(len(self.specs)):
                if r not in self._collector.metrics:
                    continue
                bucket, row = self._bucket_of(r)
                used = used_values(bucket, row, done[r])
                cuts = functools.partial(
                    _cuts,
                    self.events,
                    dict(enumerate(self.parent)),
                    dict(enumerate(self.fork_step)),
                    r,
                )
                out.append(_trained_spec(self.specs[r], used, cuts, exact=True))
        return out

    # -- the training thread -----------------------------------------------------------------

    def _holding(self) -> bool:
        """Whether to hold now (under the lock); a reached ``at_step`` becomes a pause."""
        if self._paused:
            return True
        at = self._hold_at
        if at is not None and all(b.done or b.step >= at for b in self._buckets):
            self._paused, self._hold_at = True, None
            return True
        return False

    def _clock(self, running: bool) -> None:
        """Start or end a stretch of training time (under the lock)."""
        now = time.perf_counter()
        if self._since is not None:
            self._elapsed += now - self._since
        self._since = now if running else None

    def _main(self) -> None:
        try:
            with self._lock:
                self._clock(True)
            for b, runs in enumerate(self._groups):
                bucket = Bucket(
                    [self.specs[i] for i in runs],
                    runs=runs,
                    device=self.device,
                    index=b,
                    **self._bucket_opts,
                )
                with self._lock:
                    self._buckets.append(bucket)
            while True:
                with self._lock:
                    while self._holding() and not self._stop and self._commands.empty():
                        self._clock(False)
                        self._state = "paused"
                        self._wake.notify_all()
                        self._wake.wait()
                    self._apply_commands()
                    if self._holding() and not self._stop:
                        continue
                    if self._stop:
                        self._clock(False)
                        self._state = "stopped"
                        return
                    self._clock(True)
                    self._state = "running"
                    at = self._hold_at
                    active = [
                        b for b in self._buckets if not b.done and (at is None or b.step < at)
                    ]
                if not active:
                    with self._lock:
                        self._clock(False)
                        self._state = "done"
                    return
                for bucket in active:
                    n = self.chunk_steps if at is None else min(self.chunk_steps, at - bucket.step)
                    chunk = bucket.advance(n)
                    with self._lock:
                        self._collector.add(chunk)
                        self._trained += (chunk.stop - chunk.start) * len(chunk.runs)
                    if self.on_chunk is not None:
                        self.on_chunk(chunk)
        except BaseException as e:  # noqa: BLE001 - reported through state/error, not lost
            self.error = e
            self._state = "error"
        finally:
            with self._lock:
                self._clock(False)
                self._wake.notify_all()

    def _bucket_of(self, run: int) -> tuple[Bucket, int]:
        for b in self._buckets:
            if run in b.runs:
                return b, b.runs.index(run)
        raise ValueError(f"Session: run {run} has no bucket")

    def _apply_commands(self) -> None:
        while not self._commands.empty():
            cmd = self._commands.get()
            try:
                self._apply(cmd)
            except ValueError as e:  # bad input never ends a session: say it, keep going
                self.messages.append(str(e))

    def _apply(self, cmd: tuple) -> None:
        if cmd[0] == "knob":
            _, name, value, runs = cmd
            targets = knob_targets(self.specs, name, runs)
            self._set(name, value, [r for r in targets if self.fork_step[r] != -2])
            return
        _, parents, new, knobs = cmd
        for b in self._buckets:
            pairs = [(p, k) for p, k in zip(parents, new, strict=True) if p in b.runs]
            if not pairs:
                continue
            b.fork([b.runs.index(p) for p, _ in pairs], runs=[k for _, k in pairs])
            for p, k in pairs:
                if p in self._collector.metrics:  # the branch's past is its parent's
                    self._collector.copy_history(p, k)
                self.fork_step[k] = b.step
            self._log("fork", b.step, None, [int(p) for p, _ in pairs], [k for _, k in pairs])
        for name, value in knobs.items():
            self._set(name, value, new)

    def _log(self, kind: str, step: int, name: str | None, value, runs: Sequence[int]) -> None:
        self.events.append(
            {"step": int(step), "kind": kind, "name": name, "value": value, "runs": list(runs)}
        )

    def _set(self, name: str, value, runs: Sequence[int]) -> None:
        per_run = np.broadcast_to(np.asarray(value, dtype=object), (len(runs),))
        for r, v in zip(runs, per_run, strict=True):
            bucket, row = self._bucket_of(r)
            if bucket.done:
                continue
            logged = set_knob_row(bucket, row, name, v)
            last = self.events[-1] if self.events else None
            if (  # one event per command and step: runs given the same value at once
                last is not None
                and last["kind"] == "knob"
                and (last["step"], last["name"], last["value"]) == (bucket.step, name, logged)
                and r not in last["runs"]
            ):
                last["runs"].append(int(r))
            else:
                self._log("knob", bucket.step, name, logged, [int(r)])
