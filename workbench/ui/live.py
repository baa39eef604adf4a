"""A live sweep on a page: run, pause, resume, stop, steer the LR and fork while it trains.

:class:`LiveRun` owns a :class:`~workbench.session.Session`. The session trains in its own
thread; this viewer never touches a Panel or Bokeh model from there. Instead a periodic
callback on the page's event loop polls ``session.dataset()`` and ``session.progress`` every
``refresh_ms`` and redraws, so every model update happens on the thread that owns the document.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import panel as pn
import param

from ..plots import training_curves
from ..session import Session
from ..spec import RunSpec

__all__ = ["LiveRun", "decay_to_zero", "leave_a_core_free"]

_TERMINAL = ("done", "stopped", "error")

# "Colour by" choices: a label and the run coordinates it groups by.
COLOUR_BY = {
    "schedule + branch": ("schedule", "branch"),
    "schedule": ("schedule",),
    "seed": ("seed",),
    "branch": ("branch",),
    "run": ("label",),
}


def leave_a_core_free() -> int:
    """Let training use all cores but one (at least one), so the page stays responsive while a
    sweep trains on a small machine; ``WORKBENCH_TRAIN_THREADS`` overrides. Returns the count.

    Torch's intra-op pool is process-wide: in a served app it is shared by every session.
    """
    import torch

    env = os.environ.get("WORKBENCH_TRAIN_THREADS")
    n = int(env) if env and env.isdigit() and int(env) > 0 else max(1, (os.cpu_count() or 2) - 1)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def decay_to_zero(step: int, remaining: int, current: float) -> np.ndarray:
    """The LR of a "start the decay now" branch: linear from ``current`` to 0 over what is left.

    Examples
    --------
    >>> decay_to_zero(10, 3, 0.2).tolist()
    [0.2, 0.1, 0.0]
    """
    return current * np.linspace(1.0, 0.0, remaining)


class LiveRun(pn.viewable.Viewer):
    """Buttons, a live LR multiplier, a progress bar and live curves for one sweep.

    ``specs`` is a list of :class:`~workbench.RunSpec` or a function returning one; a function
    is called on every press of Run, so an app can pass ``lab.specs`` and get the sweep of the
    knobs as they are at that moment. Errors (invalid specs, a knob the session rejects, a
    failed run) show in an alert; the page and anything already computed stay.
    """

    lr_scale = param.Number(
        default=1.0,
        bounds=(0.0, 10.0),
        softbounds=(0.0, 3.0),
        step=0.05,
        label="LR multiplier (live)",
        doc="Multiply every run's learning rate, schedule included, from the next chunk on.",
    )
    weight_decay = param.Number(
        default=None,
        allow_None=True,
        bounds=(0.0, 1.0),
        step=0.01,
        label="Weight decay (live)",
        doc="Set every run's weight decay from the next chunk on (empty: as the runs specify).",
    )
    chunk_steps = param.Integer(
        default=10, bounds=(1, None), doc="Steps between refreshes and points where knobs apply."
    )
    refresh_ms = param.Integer(
        default=400, bounds=(50, None), doc="How often the status line and progress update (ms)."
    )
    redraw_ms = param.Integer(
        default=1000,
        bounds=(50, None),
        doc="The curves redraw at most this often (ms): each redraw costs the browser a full "
        "re-render, which would otherwise delay its answers to the knobs.",
    )
    window = param.Integer(default=10, bounds=(1, None), doc="Training-loss smoothing window.")
    state = param.String(default="idle", constant=True, doc="The session's state, as shown.")
    colour_by = param.Selector(
        default="schedule + branch",
        objects=list(COLOUR_BY),
        label="Colour by",
        doc="Which runs share a colour (and a median line): same schedule, same seed, "
        "same branch (original or a fork), or every run on its own.",
    )
    zoom = param.Boolean(
        default=True,
        label="Zoom on the late phase",
        doc="Fit the loss axes to the last 70% of the budget, where schedules differ "
        "(double-click the plot to see everything).",
    )
    highlight = param.Integer(
        default=None,
        allow_None=True,
        doc="The run drawn bold in every panel (set by hovering one of its lines).",
    )

    def __init__(
        self,
        specs: Sequence[RunSpec] | Callable[[], Sequence[RunSpec]],
        *,
        name_runs: Callable[[list[RunSpec]], list[str]] | None = None,
        on_finish: Callable[[Session], None] | None = None,
        **params,
    ):
        super().__init__(**params)
        self._specs = specs
        self._name_runs = name_runs
        self._on_finish = on_finish
        self._ds = None  # the Dataset last drawn (hover redraws it without polling)
        self._drawn_at, self._draw_s = 0.0, 0.0  # when the last redraw ended, how long it took
        self._pool: ThreadPoolExecutor | None = None
        self._building: Future | None = None  # a figure being built in the helper thread
        self.session: Session | None = None
        self._callback = None
        self._seen_messages = 0
        self._drawn: tuple | None = None
        # Widgets live on the instance (one set per browser session), never on the class.
        self._run = pn.widgets.Button(label="Run", color="primary", width=90)
        self._pause = pn.widgets.Button(label="Pause", width=90, disabled=True)
        self._resume = pn.widgets.Button(label="Resume", width=90, disabled=True)
        self._stop = pn.widgets.Button(label="Stop", width=90, disabled=True)
        self._fork = pn.widgets.Button(
            label="Fork: start the decay now",
            color="warning",
            width=210,
            disabled=True,
            description="Branch every original run here, decaying its LR linearly to 0 "
            "over the remaining steps (the originals go on unchanged).",
        )
        self._scale = pn.widgets.FloatSlider.from_param(self.param.lr_scale, width=260)
        self._wd = pn.widgets.FloatInput.from_param(
            self.param.weight_decay, width=150, placeholder="as specified"
        )
        self._progress = pn.indicators.Progress(value=0, max=1, bar_color="primary", width=260)
        self._status = pn.pane.Markdown("Press **Run** to train the sweep.", css_classes=["status"])
        self._alert = pn.pane.Alert("", alert_type="danger", visible=False)
        self._plot = pn.pane.Plotly(None, sizing_mode="stretch_width", height=430, visible=False)
        self._colour = pn.widgets.Select.from_param(self.param.colour_by, width=170)
        self._zoom = pn.widgets.Checkbox.from_param(self.param.zoom)
        self._run.on_click(lambda _: self.start())
        self._pause.on_click(lambda _: self._command("pause"))
        self._resume.on_click(lambda _: self._command("resume"))
        self._stop.on_click(lambda _: self._command("stop"))
        self._fork.on_click(lambda _: self.fork_decay())
        self.param.watch(lambda e: self.apply_knob("lr_scale", e.new), "lr_scale")
        self.param.watch(
            lambda e: e.new is not None and self.apply_knob("weight_decay", e.new), "weight_decay"
        )
        self.param.watch(lambda _: self._redraw(), ["colour_by", "highlight", "zoom"])
        self._plot.param.watch(self._on_hover, "hover_data")
        served = pn.state.curdoc is not None and pn.state.curdoc.session_context is not None
        self._background = served  # build figures off the page's thread (when served)
        if served:
            pn.state.on_session_destroyed(lambda _ctx: self.close(final=True))

    # -- actions -----------------------------------------------------------------------------

    def start(self) -> None:
        """Train the sweep from scratch (stopping a sweep that is still running)."""
        self.close()
        leave_a_core_free()
        try:
            specs = self._specs() if callable(self._specs) else self._specs
            self.session = Session(specs, chunk_steps=self.chunk_steps)
        except ValueError as e:
            self.show_error(f"Cannot start: {e}")
            return
        self.hide_error()
        self._seen_messages, self._drawn, self._ds = 0, None, None
        self.highlight = None
        self._plot.object, self._plot.visible = None, False  # no empty axes before data
        self.session.start()
        if self.lr_scale != 1.0:
            self.apply_knob("lr_scale", self.lr_scale)
        if self.weight_decay is not None:
            self.apply_knob("weight_decay", self.weight_decay)
        self._callback = pn.state.add_periodic_callback(self.refresh, period=self.refresh_ms)
        self.refresh()

    def apply_knob(self, name: str, value) -> bool:
        """Send a live knob to the session; a rejected value shows in the alert."""
        if self.session is None or self.session.state in _TERMINAL:
            return False
        try:
            self.session.set_knob(name, value)
        except ValueError as e:
            self.show_error(str(e))
            return False
        return True

    def fork_decay(self) -> list[int]:
        """Branch every original run now, with its LR decaying linearly to 0 from here."""
        s = self.session
        if s is None or s.state in _TERMINAL:
            self.show_error("Fork: nothing is training; press Run first.")
            return []
        originals = [r for r, p in enumerate(s.parent) if p == -1]
        try:
            return s.fork(originals, knobs={"lr": decay_to_zero})
        except ValueError as e:
            self.show_error(str(e))
            return []

    def close(self, *, final: bool = False) -> None:
        """Stop the session (if any) and the page's refresh callback (``final``: the page is
        gone; also end the drawing thread)."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        if self.session is not None and self.session.state not in _TERMINAL:
            self.session.stop()
        if self._building is not None:
            self._building.cancel()
            self._building = None
        if final and self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def _command(self, what: str) -> None:
        if self.session is not None:
            getattr(self.session, what)()
        self.refresh()

    # -- the page ----------------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        self._alert.object = text
        self._alert.visible = True

    def hide_error(self) -> None:
        self._alert.object, self._alert.visible = "", False

    def refresh(self) -> None:
        """Poll the session and redraw (runs on the page's thread, from the periodic callback)."""
        s = self.session
        if s is None:
            return
        state = s.state
        with param.edit_constant(self):
            self.state = state
        done, total = s.progress
        self._progress.max = max(total, 1)
        self._progress.value = min(done, total)
        steps = max(spec.steps for spec in s.specs)
        step = steps * done // max(total, 1)  # buckets of one sweep advance in lockstep
        self._status.object = (
            f"**{state}** · step {step} / {steps} · {len(s.specs)} runs"
            f" · {done} / {total} run-steps"
        )
        if len(s.messages) > self._seen_messages:
            self.show_error(" ".join(s.messages[self._seen_messages :]))
            self._seen_messages = len(s.messages)
        if state == "error":
            self.show_error(f"Training failed: {s.error!r}. Curves so far are kept.")
        self._take_drawing()
        key = (done, len(s.specs), state)
        # Redraw at most every redraw_ms, and keep at least 3x a redraw's own time between two
        # (the final state is always drawn). Served, the figure is built in a helper thread, so
        # the page's event loop stays free for the knobs; it is shown on a later poll.
        gap = max(self.redraw_ms / 1000, 3 * self._draw_s)
        busy = time.perf_counter() - self._drawn_at < gap
        if key != self._drawn and self._building is None and (state in _TERMINAL or not busy):
            self._drawn = key
            if self._background:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(1, thread_name_prefix="workbench-draw")
                self._building = self._pool.submit(self._build)
            else:
                self._show(*self._build())
        running = state in ("running", "paused")
        self._pause.disabled = state != "running"
        self._resume.disabled = state != "paused"
        self._stop.disabled = not running
        self._fork.disabled = not running
        final = state in _TERMINAL and self._building is None and key == self._drawn
        if final and self._callback is not None:
            self._callback.stop()
            self._callback = None
            if self._on_finish is not None:
                try:
                    self._on_finish(s)
                except ValueError as e:  # e.g. too few steps to fit: say so, keep the page
                    self.show_error(str(e))

    def _build(self) -> tuple:
        """``(Dataset, figure)`` of everything computed so far (``(None, None)``: nothing yet),
        with when it was started; safe to call from a helper thread."""
        t0 = time.perf_counter()
        try:
            ds = self.session.dataset()
        except ValueError:  # no step computed yet
            return None, None, t0
        specs = [self.session.specs[r] for r in ds.session_run.values]
        names = self._name_runs(specs) if self._name_runs is not None else ds.group.values.tolist()
        # A branch is its own curve: named after its fork step.
        branch = [
            "original" if p < 0 else f"decay@{f}"
            for p, f in zip(ds.parent.values, ds.fork_step.values, strict=True)
        ]
        ds = ds.assign_coords(
            schedule=("run", np.asarray(names, dtype=object)),
            branch=("run", np.asarray(branch, dtype=object)),
        )
        return ds, self._figure(ds), t0

    def _show(self, ds, fig, t0: float) -> None:
        if ds is not None:
            self._ds = ds
            self._plot.object, self._plot.visible = fig, True
        self._drawn_at = time.perf_counter()
        self._draw_s = self._drawn_at - t0

    def _take_drawing(self) -> None:
        """Show a figure the helper thread has finished (on the page's thread)."""
        if self._building is None or not self._building.done():
            return
        job, self._building = self._building, None
        try:
            self._show(*job.result())
        except Exception as e:  # noqa: BLE001 - a failed redraw is reported, the page stays
            self.show_error(f"Could not draw the curves: {e!r}")

    def _redraw(self) -> None:
        """Draw the last Dataset again (colour or highlight changed), on the page's thread."""
        if self._ds is not None:
            self._plot.object = self._figure(self._ds)

    def _figure(self, ds):
        by = list(COLOUR_BY[self.colour_by])
        if by == ["schedule", "branch"] and (ds.branch.values == "original").all():
            by = ["schedule"]  # no forks yet: plain schedule names
        highlight = self.highlight
        if highlight is not None and highlight >= ds.sizes["run"]:
            highlight = None  # a run of an earlier sweep
        fig = training_curves(
            ds,
            window=self.window,
            by=by,
            highlight=highlight,
            focus=0.3 * max(spec.steps for spec in self.session.specs) / ds.step.values.max()
            if self.zoom and ds.sizes["step"] > 1
            else None,
        )
        # The x axes span the whole budget, so the curves visibly grow into it.
        fig.update_xaxes(range=[0, max(spec.steps for spec in self.session.specs)])
        fig.update_layout(uirevision="live", height=430)
        return fig

    def _on_hover(self, event) -> None:
        """Hovering a run's line highlights that run in every panel; leaving it clears."""
        run = None
        fig = self._plot.object
        points = (event.new or {}).get("points") or []
        if points and fig is not None:
            point = points[0]
            n = point.get("curveNumber")
            meta = fig.data[n].meta if isinstance(n, int) and 0 <= n < len(fig.data) else None
            if isinstance(meta, dict) and "runs" in meta and point.get("customdata") is not None:
                run = int(point["customdata"])  # a thin line: the point says which run
            elif isinstance(meta, dict):
                run = meta.get("run")  # the highlighted run's own line (or None: a median)
        if run is not None and run != self.highlight:
            self.highlight = run
        elif run is None and not points and self.highlight is not None:
            self.highlight = None

    def __panel__(self):
        buttons = pn.Row(self._run, self._pause, self._resume, self._stop, self._fork)
        status = pn.Row(
            pn.Column(self._scale, self._wd),
            pn.Column(self._progress, self._status),
            pn.Column(self._colour, self._zoom),
        )
        return pn.Column(buttons, status, self._alert, self._plot, sizing_mode="stretch_width")
