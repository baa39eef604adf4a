"""The page every lab app composes: knobs, presets, the link, export, a live sweep and history.

:class:`LabPage` builds everything from a :class:`~workbench.labs.base.Lab`:

- a knob column (one :class:`~workbench.ui.inputs.KnobInput` per knob; knobs that do not apply
  under the current settings are hidden, a refused value is explained under its box), a preset
  selector with its explanation, a reset button, and export as Python;
- the page URL holds the preset and every knob that differs from its default;
- a check of the knobs on every change ("these knobs do not make a sweep: ...", gone as soon
  as they do) and the estimated time of the sweep (measured on this machine);
- the live run (:class:`~workbench.ui.live.LiveRun`) with the lab's live knobs and actions;
- the history of this browser session's sweeps: a sortable table of every run's final
  metrics, the previous sweep in grey behind the curves, and downloads (netCDF, HTML).

A lab app adds its own panes above the live run (``above``) and its own tabs (``tabs``).
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn
import param

from ..labs.base import Lab
from ..plots import ColourMap
from ..results import save
from ..session import Session
from ..spec import RunSpec
from .inputs import KnobInput
from .live import LiveRun
from .state import url_state

__all__ = ["LabPage", "Sweep", "runs_table"]

_NONE = "(none)"


@dataclasses.dataclass
class Sweep:
    """One finished (or stopped) sweep of a page: what was trained and what came out."""

    number: int
    ds: object  # xarray.Dataset with ``name`` and ``branch`` coordinates
    specs: list[RunSpec]  # as requested (one per run of ``ds``)
    trained: list[RunSpec] | None  # as trained, where live changes or forks made them differ
    names: list[str]
    lab: str  # the lab's constructor call: ``SchedulesLab(steps=120)``
    state: str


def runs_table(sweeps: Sequence[Sweep]) -> pd.DataFrame:
    """One row per run of every sweep: its name, seed, branch and final metrics.

    Final training loss is the mean of the last 10 recorded steps (one step is noisy); test
    loss and accuracy are the last evaluation's.
    """
    rows = []
    for sw in sweeps:
        ds = sw.ds
        last_eval = ds.eval_loss.values[:, -1] if "eval_loss" in ds else None
        for i in range(ds.sizes["run"]):
            train = ds.train_loss.values[i]
            train = train[np.isfinite(train)]
            row = {
                "sweep": sw.number,
                "run": i,
                "name": str(ds.name.values[i]),
                "seed": int(ds.seed.values[i]) if "seed" in ds.coords else 0,
                "branch": str(ds.branch.values[i]),
                "steps": int(np.isfinite(ds.train_loss.values[i]).sum()),
                "train loss": float(train[-10:].mean()) if train.size else np.nan,
            }
            if last_eval is not None:
                row["test loss"] = float(last_eval[i])
                row["test accuracy"] = float(ds.eval_acc.values[i, -1])
            row["diverged"] = bool(ds.diverged_step.values[i] >= 0)
            rows.append(row)
    return pd.DataFrame(rows)


class LabPage(pn.viewable.Viewer):
    """A lab's whole page for one browser session (its own lab state, widgets and sweeps)."""

    preset = param.Selector(
        default=_NONE,
        objects=[_NONE],
        doc="A named comparison: sets its knobs and explains what to watch.",
    )
    overlay = param.Boolean(
        default=True,
        label="Show the previous sweep in grey",
        doc="Draw the previous sweep's medians in grey behind the live curves.",
    )

    def __init__(
        self,
        lab: Lab,
        *,
        intro: str,
        above: Sequence = (),
        tabs: Sequence[tuple[str, object]] = (),
        on_finish: Callable[[Session], None] | None = None,
        on_data: Callable[[object], None] | None = None,
        colours: ColourMap | None = None,
        **params,
    ):
        super().__init__(**params)
        self.lab = lab
        self.param.preset.objects = [_NONE, *lab.presets]
        self.colours = colours if colours is not None else ColourMap(lab.colour_names)
        self.intro = intro
        self.above, self.extra_tabs = list(above), list(tabs)
        self._on_finish_app = on_finish
        self.sweeps: list[Sweep] = []
        self.inputs = {
            k: KnobInput(lab, k, slider=k in lab.sliders, check=lab.check_value)
            for k in lab.knob_names()
        }
        self.explanation = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.knob_alert = pn.pane.Alert("", alert_type="warning", visible=False)
        self.live = LiveRun(
            lab,
            colours=self.colours,
            on_finish=self._finished,
            guard=self._refusals,
            on_data=on_data,
        )
        self._reset = pn.widgets.Button(label="Reset knobs", width=120)
        self._reset.on_click(lambda _: self.reset())
        self.export_code = pn.pane.Markdown(
            "", visible=False, sizing_mode="stretch_width", css_classes=["export"]
        )
        self._export = pn.widgets.Button(label="Export as Python", width=150)
        self._export.on_click(lambda _: self.show_export())
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(),
            disabled=True,
            sizing_mode="stretch_width",
            height=320,
            show_index=False,
            pagination=None,
        )
        self._pick = pn.widgets.Select(label="Sweep", options=[], width=120)
        self._nc = pn.widgets.FileDownload(
            callback=self._netcdf,
            filename="sweep.nc",
            label="Download data (netCDF)",
            color="default",
            width=220,
        )
        self._html = pn.widgets.FileDownload(
            callback=self._figure_html,
            filename="sweep.html",
            label="Download figure (HTML)",
            color="default",
            width=220,
        )
        self._pick.param.watch(self._name_downloads, "value")
        self.history_note = pn.pane.Markdown("No sweep yet: press **Run**.")
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="workbench-estimate")
        self._estimating = None
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.on_session_destroyed(lambda _ctx: self._pool.shutdown(wait=False))
        self.url_alert = url_state(lab, page=self)
        self.param.watch(self._apply_preset, "preset")
        self.param.watch(lambda _: self._update_overlay(), "overlay")
        lab.param.watch(self._knobs_changed, lab.knob_names())
        for box in self.inputs.values():
            box.param.watch(self._knobs_changed, "invalid")
        self._knobs_changed()
        self._layout = self._build_layout()
        if self.preset != _NONE:  # from the URL: show what the preset is about
            self.explanation.object = f"**{self.preset}.** {lab.presets[self.preset][1]}"

    # -- knobs -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Every knob to its default, no preset."""
        with param.parameterized.discard_events(self):
            self.preset = _NONE
        self.explanation.object = ""
        self.lab.reset()

    def _apply_preset(self, event) -> None:
        if event.new not in self.lab.presets:
            self.explanation.object = ""
            return
        text = self.lab.apply_preset(event.new)
        self.explanation.object = f"**{event.new}.** {text}"

    def _knobs_changed(self, *_events) -> None:
        """Hide the knobs that do not apply; check the sweep; re-estimate its cost."""
        self.live.cancel_confirm()
        for k, on in self.lab.applies().items():
            self.inputs[k].visible = on
        self.live.show_live_knobs()
        try:
            specs = self.live.sweep()
        except ValueError as e:
            self.knob_alert.object = f"**These knobs do not make a sweep:** {e}"
            self.knob_alert.visible = True
            self.live.show_estimate("")
            return
        self.knob_alert.visible = False
        if not self.invalid:
            self.live.hide_error(start_only=True)  # the knobs that made it are fixed
        self._estimate(specs)
        if self.export_code.visible:
            self.show_export()

    def _estimate(self, specs) -> None:
        """Estimate the sweep's time off the page's thread (a first estimate of a new shape
        times a few real steps); the latest request wins."""
        if self._estimating is not None:
            self._estimating.cancel()
        doc = pn.state.curdoc

        def work():
            try:
                _, words = self.live.describe_cost(specs)
                text = f"Estimated: {words}."
            except ValueError as e:
                text = f"No estimate: {e}"
            if doc is not None and doc.session_context is not None:
                doc.add_next_tick_callback(lambda: self.live.show_estimate(text))
            else:
                self.live.show_estimate(text)

        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            self._estimating = self._pool.submit(work)
        else:
            work()

    @property
    def invalid(self) -> list[str]:
        """Knobs whose box holds a refused value."""
        return [k for k, w in self.inputs.items() if w.invalid]

    def _refusals(self) -> str | None:
        if not self.invalid:
            return None
        labels = [self.lab.param[k].label or k for k in self.invalid]
        return f"fix {', '.join(labels)} first (the box holds a value the knob refused)"

    # -- sweeps ------------------------------------------------------------------------------

    def _finished(self, session: Session) -> None:
        try:
            ds = session.dataset()
        except ValueError:  # stopped before the first chunk: nothing to keep
            return
        specs = [session.specs[r] for r in ds.session_run.values]
        ds = self.live.named(ds, specs)
        changed = bool(session.events) or bool((ds.parent.values >= 0).any())
        sweep = Sweep(
            number=len(self.sweeps) + 1,
            ds=ds,
            specs=specs,
            trained=session.trained_specs() if changed else None,
            names=[
                str(n) if b == "original" else f"{n} · {b}"
                for n, b in zip(ds.name.values, ds.branch.values, strict=True)
            ],
            lab=self.lab.constructor(),
            state=session.state,
        )
        self.sweeps.append(sweep)
        table = runs_table(self.sweeps)
        self.table.value = table.rename(columns={"name": self.lab.name_label})
        self._pick.options = [s.number for s in self.sweeps]
        self._pick.value = sweep.number
        self.history_note.object = (
            f"{len(self.sweeps)} sweep(s) this session. Sort the table by clicking a column; "
            "the previous sweep is drawn in grey behind the next one's curves."
        )
        self._update_overlay()
        if self.export_code.visible:
            self.show_export()
        if self._on_finish_app is not None:
            self._on_finish_app(session)

    def _update_overlay(self) -> None:
        """The latest finished sweep is drawn in grey behind a new one (not behind itself)."""
        current = self.live.session
        last = self.sweeps[-1] if self.sweeps else None
        if last is None or not self.overlay:
            self.live.previous = None
        elif current is not None and current.state in ("running", "paused"):
            self.live.previous = last.ds
        elif len(self.sweeps) >= 2:
            self.live.previous = self.sweeps[-2].ds
        else:
            self.live.previous = None

    def _sweep(self) -> Sweep | None:
        return next((s for s in self.sweeps if s.number == self._pick.value), None)

    def _name_downloads(self, *_events) -> None:
        n = self._pick.value
        self._nc.filename, self._html.filename = f"sweep-{n}.nc", f"sweep-{n}.html"

    def _netcdf(self) -> io.BytesIO:
        sw = self._sweep()
        ds = sw.ds.assign_coords(
            name=("run", [str(v) for v in sw.ds.name.values]),
            branch=("run", [str(v) for v in sw.ds.branch.values]),
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "sweep.nc")
            save(ds, path)
            with open(path, "rb") as f:
                return io.BytesIO(f.read())

    def _figure_html(self) -> io.BytesIO:
        sw = self._sweep()
        fig = self.lab.curves(sw.ds, by=["name"], colours=self.colours)
        return io.BytesIO(fig.to_html(include_plotlyjs=True, full_html=True).encode())

    # -- export ------------------------------------------------------------------------------

    def export(self) -> str:
        """The Markdown the export button shows: the current knobs' sweep, and the last sweep
        as trained where live changes or forks made it differ."""
        text = f"```python\n{self.lab.export()}```"
        last = self.sweeps[-1] if self.sweeps else None
        if last is not None and last.trained is not None:
            code = self.lab.export(trained=last.trained, names=last.names)
            text += (
                f"\n\nSweep {last.number} was changed while it trained (live knobs or forks); "
                f"this reproduces it as trained:\n\n```python\n{code}```"
            )
        return text

    def show_export(self) -> None:
        self.export_code.object = self.export()
        self.export_code.visible = True

    # -- layout ------------------------------------------------------------------------------

    def science(self) -> pn.pane.Markdown:
        """The lab's page of the science guide (``docs/science/``), read from the repository."""
        path = Path(__file__).resolve().parents[2] / self.lab.science
        try:
            text = path.read_text()
        except OSError:
            text = f"The science guide is in the repository at `{self.lab.science}`."
        # Panel's Markdown renders math between $$ only; the guide (written for GitHub) also
        # uses $...$ inline
        text = re.sub(r"(?<![$\\])\$(?!\$)([^$\n]+?)(?<![$\\])\$(?!\$)", r"$$\1$$", text)
        # ... and reads "\," or "\{" in it as Markdown escapes: double them inside math
        text = re.sub(
            r"\$\$(.+?)\$\$",
            lambda m: "$$" + re.sub(r"\\([!-/:-@\[-`{-~])", r"\\\\\1", m.group(1)) + "$$",
            text,
            flags=re.S,
        )
        return pn.pane.Markdown(text, sizing_mode="stretch_width", max_width=900)

    def __panel__(self):
        return self._layout

    def _build_layout(self):
        left = pn.Column(
            "### Knobs",
            pn.widgets.Select.from_param(self.param.preset, label="Preset"),
            self.explanation,
            self._reset,
            *self.inputs.values(),
            self._export,
            self.export_code,
            width=340,
        )
        sweep = pn.Column(
            self.knob_alert,
            *self.above,
            "### Live training",
            self.live,
            sizing_mode="stretch_width",
        )
        history = pn.Column(
            self.history_note,
            pn.widgets.Checkbox.from_param(self.param.overlay),
            self.table,
            pn.Row(self._pick, self._nc, self._html),
            sizing_mode="stretch_width",
        )
        tabs = pn.Tabs(
            ("Sweep", sweep),
            *self.extra_tabs,
            ("History", history),
            ("Science", self.science()),
            dynamic=True,
            sizing_mode="stretch_width",
        )
        self.tabs = tabs
        return pn.Column(
            f"# {self.lab.title}",
            pn.pane.Markdown(self.intro, sizing_mode="stretch_width"),
            self.url_alert,
            pn.Row(left, pn.Spacer(width=20), tabs, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
            margin=(0, 20),
        )
