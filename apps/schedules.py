"""The schedules lab as a dashboard: knobs on the left, the LR preview and live curves right.

Serve it with ``workbench serve`` (or ``panel serve apps/schedules.py``); import it and call
:func:`create_app` to get the viewer (tests do). All computing is in
:mod:`workbench.labs.schedules`; this file only lays it out.
"""

from __future__ import annotations

import panel as pn
import param
import plotly.graph_objects as go
from plotly.colors import qualitative

from workbench.labs.schedules import PRESETS, SchedulesLab
from workbench.ui import LiveRun, export_pane, url_state

pn.extension("plotly")

INTRO = """
Compare learning-rate schedules at one budget. Set the knobs (hover a label for what it does),
watch the **LR preview**, then press **Run** to train every schedule × seed as one lockstep
sweep and see the curves arrive live: thick lines are the median over seeds, thin lines each
seed. While it trains, scale the LR or **fork** the runs to start a decay right now.
"""

# Numbers that span decades or need exact values are typed; bounded fractions get sliders.
_WIDGETS = {
    "schedules": pn.widgets.CheckButtonGroup,
    "peak_lr": {"type": pn.widgets.FloatInput, "step": 1e-4, "label": "Peak LR"},
    "final_lr": {"type": pn.widgets.FloatInput, "step": 1e-4, "label": "Final LR"},
    "warmup": pn.widgets.IntInput,
    "steps": {"type": pn.widgets.IntInput, "step": 10},
    "seeds": pn.widgets.IntInput,
    "batch_size": pn.widgets.IntInput,
}


def lr_preview(lab: SchedulesLab) -> go.Figure:
    """Each selected schedule's LR against the step (what Run will train)."""
    fig = go.Figure()
    # Same colour order as the live curves (training_curves colours groups in spec order).
    for i, (kind, lr) in enumerate(lab.preview().items()):
        color = qualitative.Plotly[i % len(qualitative.Plotly)]
        fig.add_trace(go.Scatter(y=lr, mode="lines", name=kind, line=dict(color=color)))
    fig.update_layout(
        title="LR preview",
        template="plotly_white",
        height=260,
        xaxis_title="step",
        yaxis_title="learning rate",
        margin=dict(l=60, r=20, t=40, b=40),
        legend=dict(orientation="h", y=1.12, x=1, xanchor="right"),
    )
    return fig


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
        self.preview = pn.pane.Plotly(None, sizing_mode="stretch_width", height=260)
        self.preview_alert = pn.pane.Alert("", alert_type="warning", visible=False)
        self.live = LiveRun(self.lab.specs)
        self._update_preview()
        self.lab.param.watch(self._update_preview, [k for k in self.lab.param if k != "name"])
        self.param.watch(self._apply_preset, "preset")

    def _update_preview(self, *_events) -> None:
        try:
            self.preview.object = lr_preview(self.lab)
        except ValueError as e:  # e.g. warmup longer than the budget: say so, keep the page
            self.preview_alert.object = f"**These knobs do not make a schedule:** {e}"
            self.preview_alert.visible = True
        else:
            self.preview_alert.visible = False

    def _apply_preset(self, event) -> None:
        if event.new not in PRESETS:
            self.explanation.object = ""
            return
        knobs, text = PRESETS[event.new]
        self.lab.param.update(**knobs)
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
        right = pn.Column(
            self.preview_alert,
            self.preview,
            "### Live training",
            self.live,
            sizing_mode="stretch_width",
        )
        return pn.Column(
            "# Learning-rate schedules",
            pn.pane.Markdown(INTRO, sizing_mode="stretch_width"),
            self.url_alert,
            pn.Row(left, pn.Spacer(width=20), right, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
            margin=(0, 20),
        )


def create_app() -> SchedulesApp:
    """The dashboard as a viewer (``panel serve`` shows it; tests build it directly)."""
    return SchedulesApp()


if pn.state.served:
    create_app().servable(title="Schedules lab · workbench")
