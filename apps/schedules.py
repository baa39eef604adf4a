"""The schedules lab as a dashboard: knobs on the left, the LR preview and live curves right.

Serve it with ``workbench serve`` (or ``panel serve apps/schedules.py``); import it and call
:func:`create_app` to get the viewer (tests do). All computing is in
:mod:`workbench.labs.schedules`; this file only lays it out.
"""

from __future__ import annotations

import copy

import numpy as np
import panel as pn
import param

from workbench.labs.schedules import PRESETS, SchedulesLab
from workbench.plots.schedules import CLICK_LAYER, schedule_preview
from workbench.plots.valley import river_valley_figure
from workbench.predict import FittedLaw
from workbench.toys import RiverValley
from workbench.ui import AnimatedPlotly, LiveRun, export_pane, url_state

pn.extension("plotly")

INTRO = """
Compare learning-rate schedules at one budget. Set the knobs (hover a label for what it does) or
**click the LR preview** to draw your own schedule; press **Run** to train every schedule × seed
as one lockstep sweep and see the curves arrive live (thick: median over seeds; hover a thin line
to follow one run in every panel). When a sweep ends, a loss-curve law is fitted to it and the
preview shows the loss it **predicts** for whatever schedule you set next, before you train it.
While it trains, scale the LR or **fork** the runs to start a decay right now.
"""


def _typed(name: str, widget, **kw) -> dict:
    """A typed-in number: its limits are the knob's hard bounds (the soft bounds only suggest a
    slider's range; Panel would otherwise cap typed values at them)."""
    lo, hi = SchedulesLab.param[name].bounds
    return {"type": widget, "start": lo, "end": hi, **kw}


# Numbers that span decades or need exact values are typed; bounded fractions get sliders.
_WIDGETS = {
    "schedules": {
        "type": pn.widgets.CheckBoxGroup,
        "inline": True,
        "stylesheets": [".bk-input-group.bk-inline {flex-wrap: wrap; row-gap: 4px;}"],
    },
    "peak_lr": _typed("peak_lr", pn.widgets.FloatInput, step=1e-4, label="Peak LR"),
    "final_lr": _typed("final_lr", pn.widgets.FloatInput, step=1e-4, label="Final LR"),
    "warmup": _typed("warmup", pn.widgets.IntInput),
    "steps": _typed("steps", pn.widgets.IntInput, step=10),
    "seeds": _typed("seeds", pn.widgets.IntInput),
    "batch_size": _typed("batch_size", pn.widgets.IntInput),
    "drawn": {"type": pn.widgets.LiteralInput, "serializer": "json", "label": "Drawn knots"},
}
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

    preset = param.Selector(
        default="(none)",
        objects=["(none)", *PRESETS],
        doc="A named comparison: sets its knobs and explains what to watch.",
    )

    def __init__(self, **params):
        super().__init__(**params)
        self.lab = SchedulesLab()
        self.url_alert = url_state(self.lab)
        self.knobs = pn.Param(
            self.lab,
            parameters=[k for k in self.lab.param if k != "name"],
            widgets=_WIDGETS,
            show_name=False,
            sizing_mode="stretch_width",
        )
        self.explanation = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.preview = pn.pane.Plotly(None, sizing_mode="stretch_width", height=520)
        self.preview_alert = pn.pane.Alert("", alert_type="warning", visible=False)
        self.law: FittedLaw | None = None
        self.law_runs: dict[str, np.ndarray] = {}  # measured medians the law was fitted on
        self.live = LiveRun(self.lab.specs, name_runs=self._name_runs, on_finish=self._fit_law)
        self.valley = ValleyView()
        self.valley_plot = AnimatedPlotly(None, sizing_mode="stretch_width", height=460)
        self.tabs = pn.Tabs(dynamic=True, sizing_mode="stretch_width")
        self._update_preview()
        knobs = [k for k in self.lab.param if k != "name"]
        self.lab.param.watch(self._update_preview, knobs)
        self.lab.param.watch(self._update_valley, knobs)
        self.lab.param.watch(self._forget_law, list(_PROBLEM))
        self.valley.param.watch(self._update_valley, list(self.valley.param)[1:])
        self.tabs.param.watch(self._update_valley, "active")
        self.preview.param.watch(self._on_click, "click_data")
        self.param.watch(self._apply_preset, "preset")

    # -- the law and the preview -------------------------------------------------------------

    def _name_runs(self, specs) -> list[str]:
        return [self.lab.name_of(s) for s in specs]

    def _fit_law(self, session) -> None:
        """Fit the multi-power law to the finished sweep (called on the page's thread)."""
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
        names = np.asarray(self._name_runs(specs))
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
        if self.law is None:
            return schedule_preview(lrs, drawable=True)
        note = f" (fitted on the last sweep: R² {self.law.r2_fit:.2f}; thin grey: measured)"
        return schedule_preview(
            lrs,
            predicted=self.lab.predict(self.law),
            measured=self.law_runs,
            law_note=note,
            start=self.lab.warmup,
            drawable=True,
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
            RiverValley(), sim, list(self.lab.schedules), peak_lr=v.peak_lr
        )

    # -- presets and layout ------------------------------------------------------------------

    def _apply_preset(self, event) -> None:
        if event.new not in PRESETS:
            self.explanation.object = ""
            return
        knobs, text = PRESETS[event.new]
        self.lab.param.update(**copy.deepcopy({**DEFAULT_KNOBS, **knobs}))
        self.explanation.object = f"**{event.new}.** {text}"

    def __panel__(self):
        left = pn.Column(
            "### Knobs",
            pn.widgets.Select.from_param(self.param.preset, label="Preset"),
            self.explanation,
            self.knobs,
            export_pane(self.lab),
            width=340,
        )
        sweep = pn.Column(
            self.preview_alert,
            self.preview,
            "### Live training",
            self.live,
            sizing_mode="stretch_width",
        )
        valley = pn.Column(
            pn.pane.Markdown(VALLEY_TEXT, sizing_mode="stretch_width"),
            pn.Param(self.valley, show_name=False, default_layout=pn.Row),
            self.valley_plot,
            sizing_mode="stretch_width",
        )
        self.tabs[:] = [("Sweep", sweep), ("River valley", valley)]
        return pn.Column(
            "# Learning-rate schedules",
            pn.pane.Markdown(INTRO, sizing_mode="stretch_width"),
            self.url_alert,
            pn.Row(left, pn.Spacer(width=20), self.tabs, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
            margin=(0, 20),
        )


VALLEY_TEXT = """
The same schedules (shapes from the knobs on the left) run SGD with noisy gradients on a 2-D
*river valley* (Wen et al. 2024): steep across, gentle along. Press **Play**: at the peak LR the
iterate bounces between the hillsides while it travels downstream; the decay calms the bounce
and reveals the progress. Right: the across-valley loss sits at the dashed level until the
decay, then collapses.
"""

DEFAULT_KNOBS = {k: v.default for k, v in SchedulesLab.param.objects().items() if k != "name"}


def create_app() -> SchedulesApp:
    """The dashboard as a viewer (``panel serve`` shows it; tests build it directly)."""
    return SchedulesApp()


if pn.state.served:
    create_app().servable(title="Schedules lab · workbench")
