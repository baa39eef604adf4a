"""A live sweep on a page: run, pause, resume, stop, turn the lab's live knobs and press its
actions while it trains.

:class:`LiveRun` owns a :class:`~workbench.session.Session`. What it shows comes from the lab
(:class:`~workbench.labs.base.Lab`): its live knobs, its action buttons, its colour-by choices,
its figure (:meth:`Lab.curves`) and its run names; the curves are drawn by
:class:`~workbench.ui.live_curves.LiveCurves`. The session trains in its own thread; this viewer
never touches a Panel or Bokeh model from there. A periodic callback on the page's event loop
polls ``session.dataset()`` and the progress every ``refresh_ms`` and redraws, so every model
update happens on the thread that owns the document.

Before a sweep starts its cost is estimated from the engine's measured speed on this machine
(:func:`workbench.cost.estimate`); anything over ``confirm_s`` asks first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import panel as pn
import param

from ..cost import duration, estimate
from ..labs.base import Lab
from ..plots import ColourMap
from ..session import Session
from ..spec import RunSpec
from .inputs import KnobInput
from .live_curves import LiveCurves

__all__ = ["LiveRun", "leave_a_core_free"]

_TERMINAL = ("done", "stopped", "error")


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


class LiveRun(pn.viewable.Viewer):
    """Buttons, the lab's live knobs and actions, a progress line and live curves for one sweep.

    ``specs`` is a list of :class:`~workbench.RunSpec` or a function returning one (default:
    ``lab.specs``, called on every press of Run, so the sweep is that of the knobs as they are
    then). ``on_finish(session)`` runs on the page's thread when a sweep ends (done or
    stopped). ``on_data(ds)`` runs on the page's thread each time new curves are shown, with
    their Dataset (an app's other views of the sweep follow it live; a ValueError it raises is
    shown in the alert). ``guard() -> str | None`` may refuse to start (e.g. a knob box holds a
    refused value: Run must not train the old one silently). Errors (invalid specs, a knob the
    session rejects, a failed run) show in an alert; the page and anything already computed
    stay.
    """

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
    confirm_s = param.Number(
        default=180.0,
        bounds=(0, None),
        doc="Ask before starting a sweep estimated to take longer than this (seconds).",
    )
    window = param.Integer(default=10, bounds=(1, None), doc="Training-loss smoothing window.")
    state = param.String(default="idle", constant=True, doc="The session's state, as shown.")
    colour_by = param.Selector(default=None, objects=[], label="Colour by")
    zoom = param.Boolean(
        default=True,
        label="Zoom on the late phase",
        doc="Fit the loss axes to the late part of the budget, where runs differ "
        "(double-click the plot to see everything).",
    )
    highlight = param.Integer(
        default=None,
        allow_None=True,
        doc="The run drawn bold in every panel (set by hovering one of its lines).",
    )
    previous = param.Parameter(
        default=None, doc="A Dataset drawn in grey behind the curves (an earlier sweep)."
    )

    def __init__(
        self,
        lab: Lab,
        *,
        specs: Sequence[RunSpec] | Callable[[], Sequence[RunSpec]] | None = None,
        colours: ColourMap | None = None,
        on_finish: Callable[[Session], None] | None = None,
        guard: Callable[[], str | None] | None = None,
        on_data: Callable[[object], None] | None = None,
        **params,
    ):
        super().__init__(**params)
        self.lab = lab
        self._guard = guard
        self._specs = specs if specs is not None else lab.specs
        self.colours = colours if colours is not None else ColourMap(lab.colour_names)
        self._on_finish = on_finish
        self.session: Session | None = None
        self._callback = None
        self._seen_messages = 0
        self._pending: list[RunSpec] | None = None  # a sweep waiting for "Run anyway"
        self.branch_of: dict[int, str] = {}  # forked run -> the action that made it
        self.param.colour_by.objects = list(lab.colour_by)
        self.colour_by = next(iter(lab.colour_by))
        # Widgets live on the instance (one set per browser session), never on the class.
        self._run = pn.widgets.Button(label="Run", color="primary", width=90)
        self._pause = pn.widgets.Button(label="Pause", width=90, disabled=True)
        self._resume = pn.widgets.Button(label="Resume", width=90, disabled=True)
        self._stop = pn.widgets.Button(label="Stop", width=90, disabled=True)
        self._confirm = pn.widgets.Button(label="Run anyway", color="warning", width=120)
        self._cancel = pn.widgets.Button(label="Cancel", width=90)
        self._confirm_text = pn.pane.Markdown("", margin=(0, 10))
        self._confirm_row = pn.Row(
            self._confirm_text, self._confirm, self._cancel, visible=False, css_classes=["confirm"]
        )
        self._action_buttons = []
        for action in lab.actions:
            button = pn.widgets.Button(label=action.label, color="warning", disabled=True)
            button.on_click(lambda _e, a=action: self.act(a))
            self._action_buttons.append(button)
        self._action_help = pn.pane.Markdown(
            "\n".join(f"**{a.label}**: {a.doc}" for a in lab.actions),
            styles={"color": "#4b5563", "font-size": "90%"},
            sizing_mode="stretch_width",
        )
        # the lab's live knobs: parameters of a small object of this page's own
        declared = {k.name: k.parameter() for k in lab.live_knobs}
        self.knobs = type("LiveKnobs", (param.Parameterized,), declared)()
        self._knob_inputs = [
            KnobInput(self.knobs, k.name, slider=k.slider, width=260) for k in lab.live_knobs
        ]
        for k in lab.live_knobs:
            self.knobs.param.watch(self._on_live_knob, k.name)
        self._progress = pn.indicators.Progress(value=0, max=1, bar_color="primary", width=260)
        self._status = pn.pane.Markdown("Press **Run** to train the sweep.", css_classes=["status"])
        self._estimate = pn.pane.Markdown("", css_classes=["estimate"], margin=(0, 10))
        self._alert = pn.pane.Alert("", alert_type="danger", visible=False)
        served = pn.state.curdoc is not None and pn.state.curdoc.session_context is not None
        # the curves: served, figures are built off the page's thread
        self._curves = LiveCurves(self, on_data=on_data, background=served)
        self._colour = pn.widgets.Select.from_param(self.param.colour_by, width=170)
        self._zoom = pn.widgets.Checkbox.from_param(self.param.zoom, visible=lab.zoom is not None)
        self._run.on_click(lambda _: self.start())
        self._confirm.on_click(lambda _: self.start(confirmed=True))
        self._cancel.on_click(lambda _: self._ask(None))
        self._pause.on_click(lambda _: self._command("pause"))
        self._resume.on_click(lambda _: self._command("resume"))
        self._stop.on_click(lambda _: self._command("stop"))
        self.param.watch(
            lambda _: self._curves.redraw(), ["colour_by", "highlight", "zoom", "previous"]
        )
        if served:
            pn.state.on_session_destroyed(lambda _ctx: self.close(final=True))

    # -- actions -----------------------------------------------------------------------------

    def sweep(self) -> list[RunSpec]:
        """The sweep Run would train now (raises a ValueError naming a bad knob)."""
        return list(self._specs() if callable(self._specs) else self._specs)

    def describe_cost(self, specs: Sequence[RunSpec] | None = None) -> tuple[float, str]:
        """The estimated time of ``specs`` (default: :meth:`sweep`) in seconds and in words,
        measured with the thread count training will use (see :func:`leave_a_core_free`)."""
        leave_a_core_free()
        est = estimate(self.sweep() if specs is None else specs)
        return est.seconds, est.describe()

    def start(self, *, confirmed: bool = False) -> bool:
        """Train the sweep from scratch (stopping one that is still running). A sweep estimated
        over ``confirm_s`` waits for "Run anyway" unless ``confirmed``. Returns whether it
        started."""
        why = self._guard() if self._guard is not None else None
        if why is not None:
            self.show_error(f"Cannot start: {why}")
            return False
        try:
            specs = self._pending if confirmed and self._pending else self.sweep()
            seconds, words = self.describe_cost(specs)
        except ValueError as e:
            self.show_error(f"Cannot start: {e}")
            return False
        if seconds > self.confirm_s and not confirmed:
            self._ask(specs, f"**This sweep will take {words}.** Start it?")
            return False
        self._ask(None)
        self.close()
        leave_a_core_free()
        try:
            self.session = Session(specs, chunk_steps=self.chunk_steps)
        except ValueError as e:
            self.show_error(f"Cannot start: {e}")
            return False
        self.hide_error()
        self._seen_messages = 0
        self._curves.clear()
        self.branch_of = {}
        self.highlight = None
        self.show_estimate(f"Estimated: {words}.")
        self.session.start()
        for k in self.lab.live_knobs:
            value = getattr(self.knobs, k.name)
            if value is not None and value != k.default:
                self.apply_knob(k.name, value)
        self._callback = pn.state.add_periodic_callback(self.refresh, period=self.refresh_ms)
        self.refresh()
        return True

    def cancel_confirm(self) -> None:
        """Withdraw a pending "Run anyway?" (the knobs changed: it would train the old sweep)."""
        self._ask(None)

    def _ask(self, specs: list[RunSpec] | None, text: str = "") -> None:
        self._pending = specs
        self._confirm_text.object = text
        self._confirm_row.visible = specs is not None

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

    def show_live_knobs(self) -> None:
        """Show only the live knobs the lab's current settings have (:meth:`Lab.live_applies`)."""
        on = self.lab.live_applies()
        for k, box in zip(self.lab.live_knobs, self._knob_inputs, strict=True):
            box.visible = on.get(k.name, True)

    def _on_live_knob(self, event) -> None:
        if event.new is not None:
            self.apply_knob(event.name, event.new)

    def act(self, action) -> list[int]:
        """Press one of the lab's actions on the running session."""
        s = self.session
        if s is None or s.state in _TERMINAL:
            self.show_error(f"{action.label}: nothing is training; press Run first.")
            return []
        try:
            new = action.run(s)
        except ValueError as e:
            self.show_error(str(e))
            return []
        self.branch_of.update(dict.fromkeys(new, action.branch))
        return new

    def close(self, *, final: bool = False) -> None:
        """Stop the session (if any) and the page's refresh callback (``final``: the page is
        gone; also end the drawing thread)."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        if self.session is not None and self.session.state not in _TERMINAL:
            self.session.stop()
        self._curves.close(final=final)

    def _command(self, what: str) -> None:
        if self.session is not None:
            getattr(self.session, what)()
        self.refresh()

    # -- the page ----------------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        self._alert.object = text
        self._alert.visible = True

    def hide_error(self, *, start_only: bool = False) -> None:
        """Hide the alert (``start_only``: only a "Cannot start" one, once its cause is fixed)."""
        if start_only and not self._alert.object.startswith("Cannot start"):
            return
        self._alert.object, self._alert.visible = "", False

    def show_estimate(self, text: str) -> None:
        """The line beside Run: the sweep's estimated time (or why there is none)."""
        self._estimate.object = text

    def status_text(self) -> str:
        """``running · step 110 / 300 · 6 runs · 12 s · 540 steps/s``: the furthest step any
        unfinished run reached (runs of different lengths count on their own)."""
        s = self.session
        done = s.steps_done()
        totals = np.asarray([spec.steps for spec in s.specs])
        unfinished = done < totals
        step = int(done[unfinished].max()) if unfinished.any() else int(totals.max())
        text = f"**{s.state}** · step {step} / {int(totals.max())} · {len(s.specs)} runs"
        if s.elapsed > 0:
            text += f" · {duration(s.elapsed)} · {s.throughput:,.0f} steps/s"
        return text

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
        self._status.object = self.status_text()
        if len(s.messages) > self._seen_messages:
            self.show_error(" ".join(s.messages[self._seen_messages :]))
            self._seen_messages = len(s.messages)
        if state == "error":
            self.show_error(f"Training failed: {s.error!r}. Curves so far are kept.")
        self._curves.take()  # a figure the helper thread finished
        key = (done, len(s.specs), state)
        self._curves.draw(key, final=state in _TERMINAL)
        running = state in ("running", "paused")
        self._pause.disabled = state != "running"
        self._resume.disabled = state != "paused"
        self._stop.disabled = not running
        for button in self._action_buttons:
            button.disabled = not running
        final = state in _TERMINAL and self._curves.shows(key)
        if final and self._callback is not None:
            self._callback.stop()
            self._callback = None
            if self._on_finish is not None:
                try:
                    self._on_finish(s)
                except ValueError as e:  # e.g. too few steps to fit: say so, keep the page
                    self.show_error(str(e))

    def named(self, ds, specs: Sequence[RunSpec]):
        """``ds`` with its runs named as the curves group them (:meth:`.LiveCurves.named`)."""
        return self._curves.named(ds, specs)

    @property
    def _plot(self) -> pn.pane.Plotly:
        """The live curves' plot."""
        return self._curves.plot

    @property
    def _ds(self):
        """The Dataset last drawn (``None`` before the sweep's first step)."""
        return self._curves.ds

    def __panel__(self):
        buttons = pn.Row(self._run, self._pause, self._resume, self._stop, self._estimate)
        knobs = pn.Column(*self._knob_inputs, width=280)
        status = pn.Row(
            knobs,
            pn.Column(self._progress, self._status),
            pn.Column(self._colour, self._zoom),
        )
        actions = pn.Row(*self._action_buttons, self._action_help, sizing_mode="stretch_width")
        return pn.Column(
            buttons,
            self._confirm_row,
            status,
            actions,
            self._alert,
            self._plot,
            sizing_mode="stretch_width",
        )
