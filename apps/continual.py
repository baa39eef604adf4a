"""The continual lab as a dashboard: the shared lab page plus views of the same sweep, live:
the stability gap around a task switch, the accuracy matrix filling in as tasks end,
forgetting curves with their fits, and the replay trade-off across the sweep.

Serve it with ``workbench serve`` (``/continual``; or ``panel serve apps/continual.py``);
import it and call :func:`create_app` to get the viewer (tests do). All computing is in
:mod:`workbench.labs.continual` and the figures in :mod:`workbench.plots` (``continual``,
``forgetting``, ``tradeoff``, ``gap``); the page (knobs, presets, URL, export, live run, history)
is :class:`workbench.ui.LabPage`.
"""

from __future__ import annotations

import panel as pn
import param

from workbench.labs.continual import ContinualLab
from workbench.plots.continual import accuracy_heatmap, switch_zoom
from workbench.plots.forgetting import forgetting_figure
from workbench.plots.gap import gap_table
from workbench.plots.tradeoff import tradeoff_figure
from workbench.ui import LabPage

pn.extension("plotly", "tabulator", "mathjax")

INTRO = """
Train a stream of tasks and watch the old ones being forgotten, and replay holding them. Each
run keeps a small memory of past examples and draws a share of every batch from it (the
**replay ratio**); a sweep trains several ratios and buffer sizes × seeds at once, as one
lockstep model. While it trains, move the **replay ratio** slider: every run takes the new ratio
at the next chunk, and the change is marked on the curves. The tabs show the same sweep,
live: the dip right after a task switch (**Task switch**), the accuracy matrix
(**Accuracy matrix**), accuracy against steps since a task was trained (**Forgetting
curves**) and forgetting against the ratio (**Trade-off**). The **Science** tab explains what
to look for (also in the repository at `docs/science/continual.md`).
"""


class Views(param.Parameterized):
    """What the extra tabs show: which switch, which group."""

    switch = param.Integer(default=1, bounds=(1, 40), doc="Which task switch to zoom on.")
    group = param.Selector(default="all runs", objects=["all runs"], label="Runs")


class ContinualApp(pn.viewable.Viewer):
    """The continual dashboard for one browser session (its own lab, session and widgets)."""

    def __init__(self, **params):
        super().__init__(**params)
        self.lab = ContinualLab()
        self.views = Views()
        self.zoom = pn.pane.Plotly(None, sizing_mode="stretch_width", height=400)
        self.gap = pn.widgets.Tabulator(
            None, disabled=True, show_index=False, sizing_mode="stretch_width"
        )
        self.heatmap = pn.pane.Plotly(None, sizing_mode="stretch_width", height=420)
        self.forgetting = pn.pane.Plotly(None, sizing_mode="stretch_width", height=420)
        self.tradeoff = pn.pane.Plotly(None, sizing_mode="stretch_width", height=420)
        waiting = "Press **Run** on the Sweep tab; this view follows the sweep live."
        self.notes = {k: pn.pane.Markdown(waiting) for k in ("switch", "matrix", "fc", "trade")}
        switch_tab = pn.Column(
            self.notes["switch"],
            pn.widgets.IntInput.from_param(self.views.param.switch, width=160),
            self.zoom,
            "**Depth of the dip and recovery** (median over seeds; min-ACC from per-step "
            "evaluation beside min-ACC from task ends only):",
            self.gap,
            sizing_mode="stretch_width",
        )
        matrix_tab = pn.Column(
            self.notes["matrix"],
            pn.widgets.Select.from_param(self.views.param.group, width=240),
            self.heatmap,
            sizing_mode="stretch_width",
        )
        self.page = LabPage(
            self.lab,
            intro=INTRO,
            tabs=[
                ("Task switch", switch_tab),
                ("Accuracy matrix", matrix_tab),
                ("Forgetting curves", pn.Column(self.notes["fc"], self.forgetting)),
                ("Trade-off", pn.Column(self.notes["trade"], self.tradeoff)),
            ],
            on_data=self._update,
        )
        self.live = self.page.live
        self.tabs = self.page.tabs
        self.tabs.param.watch(lambda _: self._update(), "active")
        self.views.param.watch(lambda _: self._update(), ["switch", "group"])

    def _update(self, ds=None) -> None:
        """Redraw the view of the tab shown (the others wait until they are shown)."""
        ds = ds if ds is not None else self.live._ds
        if ds is None:
            return
        groups = ["all runs", *dict.fromkeys(ds.name.values.tolist())]
        if self.views.param.group.objects != groups:
            self.views.param.group.objects = groups
        tab = self.tabs._names[self.tabs.active] if self.tabs.active < len(self.tabs) else ""
        colours, by = self.page.colours, ["name"]
        try:
            if tab == "Task switch":
                n = int((ds.task_start.values[0] >= 0).sum())
                switch = min(self.views.switch, n - 1)
                self.zoom.object = switch_zoom(ds, switch=switch, by=by, colours=colours)
                self.gap.value = gap_table(ds, by="name", switch=switch).reset_index()
            elif tab == "Accuracy matrix":
                g = self.views.group
                runs = (
                    None if g == "all runs" else [i for i, n in enumerate(ds.name.values) if n == g]
                )
                self.heatmap.object = accuracy_heatmap(ds, runs=runs, title=f"Accuracy matrix: {g}")
            elif tab == "Forgetting curves":
                self.forgetting.object = forgetting_figure(ds, by="name", colours=colours)
            elif tab == "Trade-off":
                self.tradeoff.object = tradeoff_figure(ds, colours=colours)
            else:
                return
        except ValueError as e:  # e.g. no task has ended yet: say so, keep the page
            self.notes[_KEYS[tab]].object = f"*{e}*"
            return
        self.notes[_KEYS[tab]].object = ""

    def __panel__(self):
        return self.page


_KEYS = {
    "Task switch": "switch",
    "Accuracy matrix": "matrix",
    "Forgetting curves": "fc",
    "Trade-off": "trade",
}


def create_app() -> ContinualApp:
    """The dashboard as a viewer (``panel serve`` shows it; tests build it directly)."""
    return ContinualApp()


if pn.state.served:
    create_app().servable(title="Continual lab · workbench")
