"""The schedules lab as a dashboard: the shared lab page plus an LR preview that predicts the
loss of schedules not yet run, click-to-draw, and the river-valley toy.

Serve it with ``workbench serve`` (or ``panel serve apps/schedules.py``); import it and call
:func:`create_app` to get the viewer (tests do). All computing is in
:mod:`workbench.labs.schedules`; the page (knobs, presets, URL, export, live run, history) is
:class:`workbench.ui.LabPage`; this file only adds the schedules-specific panes.
"""

from __future__ import annotations

import numpy as np
import panel as pn
import param

from workbench.labs.schedules import SchedulesLab
from workbench.plots.schedules import CLICK_LAYER, schedule_preview
from workbench.plots.valley import river_valley_figure
from workbench.predict import FittedLaw
from workbench.toys import RiverValley
from workbench.ui import AnimatedPlotly, LabPage

pn.extension("plotly", "tabulator", "mathjax")

INTRO = """
Compare learning-rate schedules at one budget. Set the knobs (hover the **?** beside a label
for what it does) or **click the LR preview** to draw your own schedule; press **Run** to train
every schedule × seed as one lockstep sweep and see the curves arrive live (thick: median over
seeds; hover a thin line to follow one run in every panel). When a sweep ends, a loss-curve law
is fitted to it and the preview shows the loss it **predicts** for whatever schedule you set
next, before you train it. While it trains, scale the LR or **fork** the runs to start a decay
right now. The **Science** tab explains what to look for (also in the repository at
`docs/science/schedules.md`).
"""

VALLEY_TEXT = """
The same schedules (shapes from the knobs on the left) run SGD with noisy gradients on a 2-D
*river valley* (Wen et al. 2024): steep across, gentle along. Press **Play**: at the peak LR the
iterate bounces between the hillsides while it travels downstream; the decay calms the bounce
and reveals the progress. Right: the across-valley loss sits at the dashed level until the
decay, then collapses.
"""

_PROBLEM = ("workload", "batch_size")  # changing these makes a fitted law meaningless


class ValleyView(param.Parameterized):
    """The river-valley toy run with the lab's schedule shapes (its own LR and length)."""

    peak_lr = param.Number(
        default=0.1,
        bounds=(0.01, 0.19),
        step=0.01,
        label="Toy peak LR",
        doc="Peak LR on the toy (lr × curvature must stay below 2 for SGD to be stable).",
    )
    steps = param.Integer(default=2000, bounds=(200, 8000), step=100, label="Toy steps")
    seeds = param.Integer(default=4, bounds=(1, 32), label="Toy seeds")


class SchedulesApp(pn.viewable.Viewer):
    """The schedules dashboard for one browser session (its own lab, session and widgets)."""

    def __init__(self, **params):
        super().__init__(**params)
        self.lab = SchedulesLab()
        self.preview = pn.pane.Plotly(None, sizing_mode="stretch_width", height=560)
        self.preview_alert = pn.pane.Alert("", alert_type="warning", visible=False)
        self.law: FittedLaw | None = None
        self.law_runs: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # fitted-on medians
        self.valley = ValleyView()
        self.valley_plot = AnimatedPlotly(None, sizing_mode="stretch_width", height=500)
        valley = pn.Column(
            pn.pane.Markdown(VALLEY_TEXT, sizing_mode="stretch_width"),
            pn.Param(self.valley, show_name=False, default_layout=pn.Row),
            self.valley_plot,
            sizing_mode="stretch_width",
        )
        self.page = LabPage(
            self.lab,
            intro=INTRO,
            above=[self.preview_alert, self.preview],
            tabs=[("River valley", valley)],
            on_finish=self._fit_law,
        )
        self.live = self.page.live
        self.tabs = self.page.tabs
        self._update_preview()
        knobs = self.lab.knob_names()
        self.lab.param.watch(self._update_preview, knobs)
        self.lab.param.watch(self._update_valley, knobs)
        self.lab.param.watch(self._forget_law, list(_PROBLEM))
        self.valley.param.watch(self._update_valley, list(self.valley.param)[1:])
        self.tabs.param.watch(self._update_valley, "active")
        self.preview.param.watch(self._on_click, "click_data")

    # -- the law and the preview -------------------------------------------------------------

    def _fit_law(self, session) -> None:
        """Fit the multi-power law to the finished sweep (called on the page's thread)."""
        if session.state != "done":  # a stopped sweep's curves end early: nothing to fit
            self.law, self.law_runs = None, {}
            self._update_preview()
            step = int(session.steps_done().max())
            self.preview_alert.object = (
                f"**No loss-curve law fitted:** the sweep was {session.state} at step {step}; "
                "the law is fitted when a sweep runs to its end."
            )
            self.preview_alert.visible = True
            return
        try:
            ds = session.dataset()
            specs = [session.specs[r] for r in ds.session_run.values]
            self.law = self.lab.fit_law(ds, specs)
        except ValueError as e:  # stopped too early to fit: say so beside the preview
            self.law, self.law_runs = None, {}
            self._update_preview()
            self.preview_alert.object = f"**No loss-curve law fitted:** {e}"
            self.preview_alert.visible = True
            return
        names = np.asarray(self.lab.names(specs))
        full = np.asarray([spec.steps == self.lab.steps for spec in specs])
        use = (ds.parent.values < 0) & full
        x = ds.eval_step.values
        self.law_runs = {}
        for kind in dict.fromkeys(names[use].tolist()):
            if kind != "other":
                y = np.nanmedian(ds.eval_loss.values[(names == kind) & use], 0)
                self.law_runs[kind] = (x[np.isfinite(y)], y[np.isfinite(y)])
        self._update_preview()

    def _forget_law(self, *_events) -> None:
        if self.law is not None:
            self.law, self.law_runs = None, {}
            self._update_preview()

    def _update_preview(self, *_events) -> None:
        try:
            self.preview.object = self.figure()
        except ValueError as e:  # e.g. warmup longer than the budget: say so, keep the page
            self.preview_alert.object = f"**These knobs do not make a schedule:** {e}"
            self.preview_alert.visible = True
        else:
            self.preview_alert.visible = False

    def figure(self):
        """The LR preview, with the law's predictions under it once a sweep was fitted."""
        lrs = self.lab.preview()
        colours = self.page.colours
        if self.law is None:
            return schedule_preview(lrs, drawable=True, colours=colours)
        note = f" (fitted on the last sweep: R² {self.law.r2_fit:.2f}; thin grey: measured)"
        return schedule_preview(
            lrs,
            predicted=self.lab.predict(self.law),
            measured=self.law_runs,
            law_note=note,
            start=self.lab.warmup,
            drawable=True,
            colours=colours,
        )

    def _on_click(self, event) -> None:
        """A click on the LR preview adds a knot to the drawn schedule there."""
        points = (event.new or {}).get("points") or []
        fig = self.preview.object
        if not points or fig is None:
            return
        n = points[0].get("curveNumber")
        if not isinstance(n, int) or not 0 <= n < len(fig.data) or fig.data[n].name != CLICK_LAYER:
            return
        x, y = points[0].get("x"), points[0].get("y")
        if not isinstance(x, int | float) or not isinstance(y, int | float):
            return
        with param.parameterized.batch_call_watchers(self.lab):
            self.lab.add_knot(float(x), float(y))
            if "drawn" not in self.lab.schedules:
                self.lab.schedules = [*self.lab.schedules, "drawn"]

    # -- the river valley --------------------------------------------------------------------

    def _update_valley(self, *_events) -> None:
        if self.tabs.active != 1:  # computed when its tab is shown
            return
        v = self.valley
        try:
            sim = self.lab.river_valley(peak_lr=v.peak_lr, steps=v.steps, seeds=v.seeds)
        except ValueError as e:
            self.preview_alert.object = f"**River valley:** {e}"
            self.preview_alert.visible = True
            return
        self.valley_plot.object = river_valley_figure(
            RiverValley(),
            sim,
            list(self.lab.schedules),
            peak_lr=v.peak_lr,
            colours=self.page.colours,
        )

    def __panel__(self):
        return self.page


def create_app() -> SchedulesApp:
    """The dashboard as a viewer (``panel serve`` shows it; tests build it directly)."""
    return SchedulesApp()


if pn.state.served:
    create_app().servable(title="Schedules lab · workbench")
