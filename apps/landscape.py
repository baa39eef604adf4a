"""The landscape lab as a dashboard: the shared lab page plus the loss landscape around a run
with every run's path over it, 1-D interpolations with their barrier, sharpness against 2/η,
and the distance travelled from init.

Serve it with ``workbench serve`` (``/landscape``; or ``panel serve apps/landscape.py``);
import it and call :func:`create_app` to get the viewer (tests do). The computing is in
:mod:`workbench.labs.landscape` (the plane, its window, the end points of a line),
:mod:`workbench.landscape` (grids filled in coarse to fine and their cache, paths, lines) and
:mod:`workbench.plots.landscape`. Grids and lines are computed in a worker thread; a new
request cancels the one before; what is drawn stays until the next one arrives.
"""

from __future__ import annotations

import time
from concurrent.futures import Future

import numpy as np
import panel as pn

from workbench.labs.landscape import LandscapeLab
from workbench.landscape import line
from workbench.landscape.grid import GridCache, window_axes
from workbench.landscape.paths import path_names, path_steps, project_paths
from workbench.plots import landscape as plots
from workbench.ui import LabPage
from workbench.ui.worker import Worker

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
    """The landscape dashboard for one browser session (its own lab, session, cache, thread)."""

    def __init__(self, **params):
        super().__init__(**params)
        self.lab, self.cache = LandscapeLab(), GridCache(maxsize=32)
        self.worker, self._trained, self._title = Worker("workbench-landscape"), {}, ""
        self.plane = self.grid = self.base = self._used = self._session = self._ds = None
        self.notes = {k: pn.pane.Markdown(WAIT) for k in ("land", "line", "sharp", "dist")}
        self.run, self.run_a, self.run_b = (
            _select(n) for n in ("Plane around run", "Run A", "Run B")
        )
        self.evaluate = _select(
            "Evaluate on", ["task 1", "task 2"], 120, value="task 2", visible=False
        )
        self.kind = pn.widgets.RadioButtonGroup(options=["contour", "3-D surface"], value="contour")
        self.pair = _select("Between", {"init → end": "init"})
        self.draw_button = pn.widgets.Button(label="Draw", color="primary", width=90)
        self.line_button = pn.widgets.Button(label="Interpolate", color="primary", width=110)
        self.progress = pn.indicators.Progress(value=0, max=1, width=220, visible=False)
        self.status = pn.pane.Markdown("", css_classes=["grid-status"])
        self.contour = pn.pane.Plotly(None, sizing_mode="stretch_width", height=620)
        self.line_plot = pn.pane.Plotly(None, sizing_mode="stretch_width", height=440)
        self.sharp = pn.pane.Plotly(None, sizing_mode="stretch_width", height=700)
        self.table = pn.widgets.Tabulator(
            None, disabled=True, show_index=False, sizing_mode="stretch_width"
        )
        self.distance = pn.pane.Plotly(None, sizing_mode="stretch_width", height=460)
        self.draw_button.on_click(lambda _: self.draw())
        self.line_button.on_click(lambda _: self.interpolate())
        self.kind.param.watch(lambda _: self._render(), "value")
        self.evaluate.param.watch(
            lambda _: self.grid is not None and self.zoom(self.window()), "value"
        )
        self.contour.param.watch(self._relayout, "relayout_data")
        self.pair.param.watch(lambda e: setattr(self.run_b, "visible", e.new == "ab"), "value")
        self.run_b.visible = False
        n, progress = self.notes, pn.Row(self.progress, self.status)
        land = pn.Row(self.run, self.evaluate, self.kind, self.draw_button)
        between = pn.Row(self.pair, self.run_a, self.run_b, self.line_button)
        tabs = [
            ("Landscape", _col(n["land"], land, progress, self.contour)),
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
                self._render()
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

    def _render(self) -> None:
        """The grid (as far as it is computed) with every run's path projected on it."""
        if self.grid is None:
            return
        paths, steps, groups = {}, {}, {}
        try:
            at, when = project_paths(self.plane, self._ds), path_steps(self._ds)
            for r, (label, group) in path_names(self._ds).items():
                paths[label], steps[label], groups[label] = at[r], when[r], group
        except (ValueError, RuntimeError):  # a new sweep of another architecture: the grid alone
            paths = {}
        kw = dict(paths=paths, groups=groups, colours=self.page.colours, title=self._title)
        if self.kind.value == "contour":
            fig = plots.contour_figure(self.grid, steps=steps, **kw)
        else:
            fig = plots.surface_figure(self.grid, **kw).update_layout(uirevision=self._title)
        self.contour.object = fig

    # -- work in the background ---------------------------------------------------------------

    @property
    def job(self) -> Future | None:
        return self.worker.job

    def _submit(self, work, note="land") -> Future:
        """``work(stop)`` in the worker thread, the job before cancelled; an error is shown in
        the tab and what is drawn stays."""
        return self.worker.submit(work, on_error=lambda text: self._fail(note, text))

    def _post(self, fn) -> None:
        self.worker.post(fn)

    def _fail(self, note, text) -> None:
        self.progress.visible = False
        self.status.object = "" if note == "land" else self.status.object
        self.notes[note].object = f"**Could not draw:** {text}"

    def _say(self, done, total, text) -> None:
        self.progress.max, self.progress.value = max(total, 1), done
        self.progress.visible, self.status.object = done < total, text

    def draw(self) -> Future | None:
        """The plane the view knobs ask for around the chosen run, then its grid."""
        ds, run = self._ds, self.run.value
        if ds is None or run is None:
            self.notes["land"].object = "*Nothing to draw yet: train a sweep (Run) first.*"
            return None
        lab = LandscapeLab(**self._trained, **{k: getattr(self.lab, k) for k in VIEW})
        title = f"{lab.directions} plane around {_label(self.run)}"
        self.notes["land"].object = ""

        def work(stop):
            self._post(lambda: self._say(0, 1, f"Computing the {lab.directions} plane…"))
            plane = lab.plane(ds, run)
            window = lab.window(plane, project_paths(plane, ds))
            if not stop.is_set():  # the page takes the new plane before its first grid
                self._post(lambda: self._use(plane, window, lab, title))
                self._grid(stop, window, plane, lab)

        return self._submit(work)

    def window(self):
        """The window of the grid shown: ``((a0, a1), (b0, b1))``."""
        return tuple(self.grid.alpha.values[[0, -1]]), tuple(self.grid.beta.values[[0, -1]])

    def _use(self, plane, window, lab, title) -> None:
        self.plane, self.base, self._used, self._title = plane, window, lab, title

    def zoom(self, window) -> Future:
        """The drawn plane over ``window`` at full resolution (from the cache if seen)."""
        plane, lab = self.plane, self._used
        return self._submit(lambda stop: self._grid(stop, window, plane, lab))

    def _grid(self, stop, window, p, lab) -> None:
        """The grid of plane ``p`` over ``window``, shown as it fills in (at most every 0.4 s)."""
        alphas, betas = window_axes(*window, lab.resolution)
        data = lab.probe_data(0 if self.evaluate.value == "task 1" else lab.steps)
        model, shown = lab.base_spec().model, 0.0
        kw = dict(alphas=alphas, betas=betas, provenance=p.attrs(), block=64)
        for g in self.cache.iter_plane(model, p.center, p.d1, p.d2, data, **kw):
            if stop.is_set():
                return
            if g.attrs["done"] == g.attrs["total"] or time.perf_counter() - shown > 0.4:
                shown = time.perf_counter()
                self._post(lambda g=g: stop.is_set() or self._show(g))

    def _show(self, grid) -> None:
        self.grid = grid
        done, total, ((a0, a1), (b0, b1)) = grid.attrs["done"], grid.attrs["total"], self.window()
        where = f" over α {a0:.3g} to {a1:.3g}, β {b0:.3g} to {b1:.3g}"
        self._say(
            done, total, f"{done:,} / {total:,} points{where}" + ("…", " · done")[done == total]
        )
        self._render()

    def _relayout(self, event) -> None:
        """A box zoom on the contour: that window at full resolution; a double click: back."""
        r = event.new or {}
        if self.grid is None or self.kind.value != "contour":
            return
        if r.get("xaxis.autorange") or r.get("yaxis.autorange"):
            window = self.base
        elif "xaxis.range[0]" in r and "yaxis.range[0]" in r:
            window = (
                (r["xaxis.range[0]"], r["xaxis.range[1]"]),
                (r["yaxis.range[0]"], r["yaxis.range[1]"]),
            )
        else:
            return
        if not np.allclose(window, self.window(), rtol=1e-6, atol=1e-9):
            self.zoom(window)

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
                self._post(
                    lambda: (
                        setattr(self.line_plot, "object", fig)
                        or setattr(self.notes["line"], "object", "")
                    )
                )

        return self._submit(work, "line")

    def close(self) -> None:
        self.worker.close()

    def __panel__(self):
        return self.page


def create_app() -> LandscapeApp:
    """The dashboard as a viewer (``panel serve`` shows it; tests build it directly)."""
    return LandscapeApp()


if pn.state.served:
    create_app().servable(title="Landscape lab · workbench")
