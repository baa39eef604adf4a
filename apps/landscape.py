"""The landscape lab as a dashboard: the shared lab page plus the loss landscape around a run
with every run's path over it, 1-D interpolations with their barrier, sharpness against 2/η,
and the distance travelled from init.

Serve it with ``workbench serve`` (``/landscape``; or ``panel serve apps/landscape.py``);
import it and call :func:`create_app` to get the viewer (tests do). The computing is in
:mod:`workbench.labs.landscape` (the plane, its window, the end points of a line),
:mod:`workbench.landscape` (grids filled in coarse to fine and their cache, paths, lines) and
:mod:`workbench.plots.landscape`; the plane pane (background grid, progress, zoom, cache) is
:class:`workbench.ui.PlaneView`. Lines are computed in a worker thread too; a new request
cancels the one before; what is drawn stays until the next one arrives.
"""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import panel as pn

from workbench.labs.landscape import LandscapeLab
from workbench.landscape import line
from workbench.landscape.paths import path_names, path_steps, project_paths
from workbench.plots import landscape as plots
from workbench.ui import LabPage, PlaneView, Worker

pn.extension("plotly", "tabulator", "mathjax")

INTRO = """
Train a few learning rates with every run's parameters copied along the way, then look at the
loss around them. **Landscape** draws a 2-D slice (the plane of the *Directions* knob) around a
run, filled in coarse to fine, with every run's path on it; drag a box to zoom in (computed
again at full resolution; double-click to go back). **Interpolation** walks the straight line
between two points. **Sharpness** is the edge of stability: the top Hessian eigenvalue rising
to 2/η. **Distance** is how far each run has gone from its initialization.
"""
VIEW = ("directions", "direction_seed", "span", "resolution")  # knobs read at Draw time
WAIT = "Press **Run** on the Sweep tab; this view follows the sweep live."


def _select(name, options=None, width=220, **kw):
    return pn.widgets.Select(label=name, options=options or {}, width=width, **kw)


def _col(*items) -> pn.Column:
    return pn.Column(*items, sizing_mode="stretch_width")


def _label(select) -> str:
    """The label shown for a Select's value."""
    return select.labels[select.values.index(select.value)]


class LandscapeApp(pn.viewable.Viewer):
    """The landscape dashboard for one browser session (its own lab, session, cache, threads)."""

    def __init__(self, **params):
        super().__init__(**params)
        self.lab, self.worker, self._trained = LandscapeLab(), Worker("workbench-line"), {}
        self._session = self._ds = None
        self.view = PlaneView(self._paths, lambda: self.page.colours, name="workbench-landscape")
        self.notes = {k: pn.pane.Markdown(WAIT) for k in ("line", "sharp", "dist")}
        self.notes["land"] = self.view.note
        self.view.note.object = WAIT
        self.run, self.run_a, self.run_b = (
            _select(n) for n in ("Plane around run", "Run A", "Run B")
        )
        self.evaluate = _select(
            "Evaluate on", ["task 1", "task 2"], 120, value="task 2", visible=False
        )
        self.pair = _select("Between", {"init → end": "init"})
        self.draw_button = pn.widgets.Button(label="Draw", color="primary", width=90)
        self.line_button = pn.widgets.Button(label="Interpolate", color="primary", width=110)
        self.line_plot = pn.pane.Plotly(None, sizing_mode="stretch_width", height=440)
        self.sharp = pn.pane.Plotly(None, sizing_mode="stretch_width", height=700)
        self.table = pn.widgets.Tabulator(
            None, disabled=True, show_index=False, sizing_mode="stretch_width"
        )
        self.distance = pn.pane.Plotly(None, sizing_mode="stretch_width", height=460)
        self.draw_button.on_click(lambda _: self.draw())
        self.line_button.on_click(lambda _: self.interpolate())
        self.evaluate.param.watch(
            lambda _: self.view.grid is not None and self.view.zoom(self.view.window()), "value"
        )
        self.pair.param.watch(lambda e: setattr(self.run_b, "visible", e.new == "ab"), "value")
        self.run_b.visible = False
        v, n = self.view, self.notes
        land = pn.Row(self.run, self.evaluate, v.kind, self.draw_button)
        between = pn.Row(self.pair, self.run_a, self.run_b, self.line_button)
        tabs = [
            ("Landscape", _col(v.note, land, pn.Row(v.progress, v.status), v.contour)),
            ("Interpolation", _col(n["line"], between, self.line_plot)),
            ("Sharpness", _col(n["sharp"], self.sharp, self.table)),
            ("Distance", _col(n["dist"], self.distance)),
        ]
        self.page = LabPage(self.lab, intro=INTRO, tabs=tabs, on_data=self._on_data)
        self.live, self.tabs = self.page.live, self.page.tabs
        self.tabs.param.watch(lambda _: self._on_data(), "active")

    # -- following the sweep ------------------------------------------------------------------

    def _on_data(self, ds=None) -> None:
        """A new Dataset (or another tab shown): the run lists, the view shown, the paths."""
        ds = ds if ds is not None else self.live._ds
        if ds is None:
            return
        if self.live.session is not self._session:  # a new sweep: the knobs it trains with
            self._session = self.live.session
            self._trained = {
                k: getattr(self.lab, k) for k in self.lab.knob_names() if k not in VIEW
            }
            self.pair.options = LandscapeLab(**self._trained).line_pairs()
        self._ds = ds
        self.evaluate.visible = self._trained.get("data") == "two tasks"
        runs = {label: r for r, (label, _) in path_names(ds).items()}
        for w in (self.run, self.run_a, self.run_b):
            if w.options != runs:
                w.options = runs
            if runs and w.value not in runs.values():
                w.value = next(iter(runs.values()))
        if len(runs) > 1 and self.run_b.value == self.run_a.value:
            self.run_b.value = list(runs.values())[-1]
        tab = self.tabs._names[self.tabs.active] if self.tabs.active < len(self.tabs) else ""
        key = {"Landscape": "land", "Sharpness": "sharp", "Distance": "dist"}.get(tab)
        try:
            if tab == "Landscape":
                self.view.render()
                if not runs:
                    raise ValueError("No run has snapshots yet.")
            elif tab == "Sharpness":
                fig = plots.loss_and_sharpness(ds, by=["name"], colours=self.page.colours)
                self.sharp.object, self.sharp.height = fig, int(fig.layout.height)
                self.table.value = plots.sharpness_table(ds).round(4) if "sharpness" in ds else None
            elif tab == "Distance":
                self.distance.object = plots.distance_figure(ds, colours=self.page.colours)
            if key:
                self.notes[key].object = ""
        except ValueError as e:  # e.g. no snapshot yet: say so, keep the page
            self.notes[key].object = f"*{e}*"

    def _paths(self, plane) -> tuple[dict, dict, dict]:
        """Every run's path on ``plane``, its steps and colour group, by label."""
        paths, steps, groups = {}, {}, {}
        try:
            at, when = project_paths(plane, self._ds), path_steps(self._ds)
            for r, (label, group) in path_names(self._ds).items():
                paths[label], steps[label], groups[label] = at[r], when[r], group
        except (ValueError, RuntimeError):  # a new sweep of another architecture: the grid alone
            return {}, {}, {}
        return paths, steps, groups

    # -- drawing ------------------------------------------------------------------------------

    def draw(self) -> Future | None:
        """The plane the view knobs ask for around the chosen run, then its grid."""
        ds, run = self._ds, self.run.value
        if ds is None or run is None:
            self.view.note.object = "*Nothing to draw yet: train a sweep (Run) first.*"
            return None
        lab = LandscapeLab(**self._trained, **{k: getattr(self.lab, k) for k in VIEW})

        def make():
            plane = lab.plane(ds, run)
            return plane, lab.window(plane, project_paths(plane, ds))

        spec = {
            "model": lab.base_spec().model,
            "resolution": lab.resolution,
            "data": lambda: lab.probe_data(0 if self.evaluate.value == "task 1" else lab.steps),
        }
        title = f"{lab.directions} plane around {_label(self.run)}"
        return self.view.draw(make, spec, title, what=f"{lab.directions} plane")

    def interpolate(self) -> Future | None:
        """The loss along the line the "Between" choice names (on two tasks: both tasks')."""
        ds, a, b = self._ds, self.run_a.value, self.run_b.value
        if ds is None or a is None:
            self.notes["line"].object = "*Nothing to interpolate yet: train a sweep (Run) first.*"
            return None
        lab, pair = LandscapeLab(**self._trained), self.pair.value
        group = path_names(ds)[a][1]
        title = f"{_label(self.pair)}: {_label(self.run_a)}"

        def work(stop):
            p, q, ends = lab.line_points(ds, pair, a, b)
            two, model = lab.data == "two tasks", lab.base_spec().model
            tasks = {"on task 1": 0, "on task 2": lab.steps} if two else {group: None}
            alphas = np.linspace(-0.25, 1.25, 31)
            lines = {
                k: line(model, p, q, lab.probe_data(s), alphas=alphas) for k, s in tasks.items()
            }
            fig = plots.line_figure(lines, ends=ends, colours=self.page.colours, title=title)
            if not stop.is_set():
                self.worker.post(lambda: self._line(fig))

        fail = lambda text: setattr(self.notes["line"], "object", f"**Could not draw:** {text}")  # noqa: E731
        return self.worker.submit(work, on_error=fail)

    def _line(self, fig) -> None:
        self.line_plot.object, self.notes["line"].object = fig, ""

    def close(self) -> None:
        self.view.close()
        self.worker.close()

    def __panel__(self):
        return self.page


def create_app() -> LandscapeApp:
    """The dashboard as a viewer (``panel serve`` shows it; tests build it directly)."""
    return LandscapeApp()


if pn.state.served:
    create_app().servable(title="Landscape lab · workbench")
