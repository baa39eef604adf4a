"""The fast/slow lab as a dashboard: the shared lab page plus views of the same sweep, live:
fast and slow weights on a loss landscape, the stability-plasticity plane, recovery after a
drift, and every slow copy on the axis of its effective horizon.

Serve it with ``workbench serve`` (``/fastslow``; or ``panel serve apps/fastslow.py``); import
it and call :func:`create_app` to get the viewer (tests do). The computing is in
:mod:`workbench.labs.fastslow` (the sweep of each setting, the plane through fast and slow
weights) and :mod:`workbench.slow`; the figures in :mod:`workbench.plots.fastslow`; the plane
pane is :class:`workbench.ui.PlaneView` and the page :class:`workbench.ui.LabPage`.
"""

from __future__ import annotations

import panel as pn

from workbench.labs.fastslow import FastSlowLab
from workbench.landscape.paths import copy_paths, copy_plane, tail_window
from workbench.plots import fastslow as plots
from workbench.track import snapshots
from workbench.ui import LabPage, PlaneView

pn.extension("plotly", "tabulator", "mathjax")

INTRO = """
Give a network **slow weights** beside its fast ones, or make one part of it learn more slowly,
and watch stability and plasticity trade off. Pick a **setting** (or a preset): Lookahead, an
EMA of the weights, a slow backbone under a fast head, CLS-ER's plastic and stable memories, a
fast memory of recent errors under drift. The sweep trains the setting's ratio × seeds as one
lockstep model, and the live curves overlay the fast weights (solid) and each slow copy
(dashed, dotted). While it trains, turn the setting's ratio on the left: every run takes it at
the next chunk. **Trajectories** draws the loss landscape through a run's fast and slow
weights with both paths on it; **Stability-plasticity**, **Drift recovery** and **Horizon**
are the settings' own views. The **Science** tab explains what to look for (also in the
repository at `docs/science/fastslow.md`).
"""
WAIT = "Press **Run** on the Sweep tab; this view follows the sweep live."
_TABS = {"Trajectories": "path", "Stability-plasticity": "plane", "Drift recovery": "drift"}
_TABS["Horizon"] = "horizon"


def _col(*items) -> pn.Column:
    return pn.Column(*items, sizing_mode="stretch_width")


class FastSlowApp(pn.viewable.Viewer):
    """The fast/slow dashboard for one browser session (its own lab, session and threads)."""

    def __init__(self, **params):
        super().__init__(**params)
        self.lab, self._ds, self._session = FastSlowLab(), None, None
        self.trained = self.lab  # the knobs the sweep shown was trained with
        self.view = PlaneView(self._paths, lambda: self.page.colours, name="workbench-fastslow")
        self.notes = {k: pn.pane.Markdown(WAIT) for k in ("plane", "drift", "horizon")}
        self.notes["path"] = self.view.note
        self.view.note.object = WAIT
        self.run = pn.widgets.Select(label="Run", options={}, width=240)
        self.copy = pn.widgets.Select(label="Slow copy", options=[], width=140)
        self.draw_button = pn.widgets.Button(label="Draw", color="primary", width=90)
        self.draw_button.on_click(lambda _: self.draw())
        self.figures = {
            k: pn.pane.Plotly(None, sizing_mode="stretch_width", height=480)
            for k in ("plane", "drift", "horizon")
        }
        self.tables = {
            k: pn.widgets.Tabulator(
                None, disabled=True, show_index=False, sizing_mode="stretch_width"
            )
            for k in ("plane", "drift")
        }
        v, f, t = self.view, self.figures, self.tables
        tabs = [
            (
                "Trajectories",
                _col(
                    v.note,
                    pn.Row(self.run, self.copy, v.kind, self.draw_button),
                    pn.Row(v.progress, v.status),
                    v.contour,
                ),
            ),
            ("Stability-plasticity", _col(self.notes["plane"], f["plane"], t["plane"])),
            ("Drift recovery", _col(self.notes["drift"], f["drift"], t["drift"])),
            ("Horizon", _col(self.notes["horizon"], f["horizon"])),
        ]
        self.page = LabPage(self.lab, intro=INTRO, tabs=tabs, on_data=self._on_data)
        self.live, self.tabs = self.page.live, self.page.tabs
        self.tabs.param.watch(lambda _: self._on_data(), "active")

    # -- following the sweep ------------------------------------------------------------------

    def _on_data(self, ds=None) -> None:
        """A new Dataset (or another tab shown): the run list, then the view shown."""
        ds = ds if ds is not None else self.live._ds
        if ds is None:
            return
        if self.live.session is not self._session:  # a new sweep: keep the knobs it trains with
            self._session, self.trained = self.live.session, FastSlowLab(**self.lab.knobs())
        self._ds = ds
        snaps = ds.attrs.get("snapshots") or {}
        runs = {
            f"{ds.name.values[r]} · seed {int(ds.seed.values[r])}": r
            for r in sorted(snaps)
            if r < ds.sizes["run"]
        }
        if self.run.options != runs:
            self.run.options = runs
        if runs and self.run.value not in runs.values():
            self.run.value = next(iter(runs.values()))
        copies = [str(c) for c in ds["copy"].values[1:]] if "copy" in ds.coords else []
        if self.copy.options != copies:
            self.copy.options = copies
        if copies and self.copy.value not in copies:
            self.copy.value = copies[0]
        tab = self.tabs._names[self.tabs.active] if self.tabs.active < len(self.tabs) else ""
        key, colours = _TABS.get(tab), self.page.colours
        try:
            if tab == "Trajectories":
                self.view.render()
                if not runs or not copies:
                    raise ValueError(
                        "Trajectories need runs with slow copies and snapshots (settings "
                        "lookahead, ema, horizon)."
                    )
            elif tab == "Stability-plasticity":
                acc = self.trained.accuracy()
                self.figures["plane"].object = plots.plasticity_plane(
                    ds, accuracy=acc, colours=colours
                )
                table = plots.plasticity_table(ds, accuracy=acc)
                if table.empty:
                    raise ValueError(
                        "The plane needs finished runs on a task stream (settings slow "
                        "learner, dual memory)."
                    )
                self.tables["plane"].value = (
                    table.groupby(["group", "copy"], sort=False)[["plasticity", "stability"]]
                    .median()
                    .round(3)
                    .reset_index()
                )
            elif tab == "Drift recovery":
                self.figures["drift"].object = plots.drift_recovery(ds, colours=colours)
                self.tables["drift"].value = plots.drift_table(ds).round(3)
            elif tab == "Horizon":
                self.figures["horizon"].object = plots.horizon_figure(ds, colours=colours)
            if key:
                self.notes[key].object = ""
        except ValueError as e:  # e.g. nothing finished yet: say so, keep the page
            self.notes[key].object = f"*{e}*"

    def _paths(self, plane) -> tuple[dict, dict, dict]:
        """The chosen run's fast path and its copies' paths on ``plane``, by label."""
        ds, run = self._ds, self.run.value
        if ds is None or run is None:
            return {}, {}, {}
        try:
            paths = copy_paths(ds, run, plane)
            steps = snapshots(ds, run)[0]
        except (ValueError, RuntimeError):  # a new sweep of another architecture: the grid alone
            return {}, {}, {}
        name = str(ds.name.values[run])
        return paths, dict.fromkeys(paths, steps), {k: f"{name} · {k}" for k in paths}

    def draw(self):
        """The plane the chosen run's fast and slow paths vary most in near the end."""
        ds, run, copy = self._ds, self.run.value, self.copy.value
        if ds is None or run is None or not copy:
            self.view.note.object = (
                "*Nothing to draw yet: train a lookahead, ema or horizon sweep (Run) first.*"
            )
            return None
        lab = self.trained

        def make():
            plane = copy_plane(ds, run, copy)
            return plane, tail_window(plane, copy_paths(ds, run, plane))

        base = lab.base_spec()
        spec = {"model": base.model, "resolution": 41, "data": lambda: base.data}
        title = (
            f"fast and {copy} weights of {ds.name.values[run]} (seed {int(ds.seed.values[run])})"
        )
        return self.view.draw(make, spec, title, what="plane")

    def close(self) -> None:
        self.view.close()

    def __panel__(self):
        return self.page


def create_app() -> FastSlowApp:
    """The dashboard as a viewer (``panel serve`` shows it; tests build it directly)."""
    return FastSlowApp()


if pn.state.served:
    create_app().servable(title="Fast/slow lab · workbench")
