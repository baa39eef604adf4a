"""The curves of a live sweep: :class:`LiveCurves` draws what a
:class:`~workbench.ui.live.LiveRun`'s session has computed so far.

It owns the plot, the Dataset last drawn and the drawing thread. A figure is built from
``session.dataset()`` with the runs named (:meth:`LiveCurves.named`) and the live run's view
settings (colour by, highlight, zoom, the earlier sweep in grey); served, it is built in a helper
thread and shown on a later poll of the live run, on the page's thread, so the page's event loop
stays free for the knobs. Hovering a run's line highlights that run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import panel as pn

from ..spec import RunSpec

if TYPE_CHECKING:
    from .live import LiveRun

__all__ = ["LiveCurves"]


class LiveCurves:
    """The live figure of one :class:`~workbench.ui.live.LiveRun` (``live``), which refreshes it.

    ``on_data(ds)`` runs on the page's thread each time new curves are shown, with their
    Dataset; a ValueError it raises is shown in the live run's alert. ``background``: build
    figures in a helper thread (when served).
    """

    def __init__(
        self,
        live: LiveRun,
        *,
        on_data: Callable[[object], None] | None = None,
        background: bool = False,
    ):
        self.live = live
        self.on_data = on_data
        self.background = background
        self.ds = None  # the Dataset last drawn (hover redraws it without polling)
        self.drawn: tuple | None = None  # (steps done, runs, state) last drawn or being built
        self.drawn_at, self.draw_s = 0.0, 0.0  # when the last redraw ended, how long it took
        self.pool: ThreadPoolExecutor | None = None
        self.building: Future | None = None  # a figure being built in the helper thread
        self.plot = pn.pane.Plotly(None, sizing_mode="stretch_width", height=450, visible=False)
        self.plot.param.watch(self._on_hover, "hover_data")

    def clear(self) -> None:
        """Forget what was drawn and hide the plot (a new sweep: no empty axes before data)."""
        self.drawn, self.ds = None, None
        self.plot.object, self.plot.visible = None, False

    def take(self) -> None:
        """Show a figure the helper thread has finished (on the page's thread)."""
        if self.building is None or not self.building.done():
            return
        job, self.building = self.building, None
        try:
            self._show(*job.result())
        except Exception as e:  # noqa: BLE001 - a failed redraw is reported, the page stays
            self.live.show_error(f"Could not draw the curves: {e!r}")

    def draw(self, key: tuple, *, final: bool) -> None:
        """Draw the session as of ``key`` (on the page's thread; served, start building it in
        the helper thread: :meth:`take` shows it on a later poll). Only if ``key`` changed, and
        at most every ``redraw_ms`` with at least 3x a redraw's own time between two, unless
        ``final`` (the last state is always drawn)."""
        gap = max(self.live.redraw_ms / 1000, 3 * self.draw_s)
        busy = time.perf_counter() - self.drawn_at < gap
        if key != self.drawn and self.building is None and (final or not busy):
            self.drawn = key
            if self.background:
                if self.pool is None:
                    self.pool = ThreadPoolExecutor(1, thread_name_prefix="workbench-draw")
                self.building = self.pool.submit(self._build)
            else:
                self._show(*self._build())

    def shows(self, key: tuple) -> bool:
        """Whether the plot shows the session as of ``key`` (no figure still being built)."""
        return self.building is None and key == self.drawn

    def close(self, *, final: bool = False) -> None:
        """Drop a figure being built (``final``: the page is gone; also end the drawing thread)."""
        if self.building is not None:
            self.building.cancel()
            self.building = None
        if final and self.pool is not None:
            self.pool.shutdown(wait=False)
            self.pool = None

    def named(self, ds, specs: Sequence[RunSpec]):
        """``ds`` with the coordinates the colour-by choices group by: ``name`` (the lab's run
        names) and ``branch`` (``original``, or the action and step a fork was made at)."""
        names = self.live.lab.names(specs)
        branch = [
            "original" if p < 0 else f"{self.live.branch_of.get(int(r), 'branch')}@{f}"
            for r, p, f in zip(
                ds.session_run.values, ds.parent.values, ds.fork_step.values, strict=True
            )
        ]
        return ds.assign_coords(
            name=("run", np.asarray(names, dtype=object)),
            branch=("run", np.asarray(branch, dtype=object)),
        )

    def _build(self) -> tuple:
        """``(Dataset, figure)`` of everything computed so far (``(None, None)``: nothing yet),
        with when it was started; safe to call from a helper thread."""
        t0 = time.perf_counter()
        try:
            ds = self.live.session.dataset()
        except ValueError:  # no step computed yet
            return None, None, t0
        ds = self.named(ds, [self.live.session.specs[r] for r in ds.session_run.values])
        return ds, self.figure(ds), t0

    def _show(self, ds, fig, t0: float) -> None:
        if ds is not None:
            self.ds = ds
            self.plot.object, self.plot.visible = fig, True
            self.plot.height = int(fig.layout.height or 450)
            if self.on_data is not None:  # the app's own views of the same Dataset
                try:
                    self.on_data(ds)
                except ValueError as e:
                    self.live.show_error(str(e))
        self.drawn_at = time.perf_counter()
        self.draw_s = self.drawn_at - t0

    def redraw(self) -> None:
        """Draw the last Dataset again (colour, highlight or overlay changed)."""
        if self.ds is not None:
            self.plot.object = self.figure(self.ds)

    def figure(self, ds):
        """The lab's curves of ``ds`` as the live run's view settings ask."""
        live, lab = self.live, self.live.lab
        by = list(lab.colour_by[live.colour_by])
        if "branch" in by and len(by) > 1 and (ds.branch.values == "original").all():
            by.remove("branch")  # no forks yet: plain names
        highlight = live.highlight
        if highlight is not None and highlight >= ds.sizes["run"]:
            highlight = None  # a run of an earlier sweep
        budget = max(spec.steps for spec in live.session.specs)
        focus = None
        if live.zoom and lab.zoom is not None and ds.sizes["step"] > 1:
            focus = lab.zoom * budget / ds.step.values.max()
        fig = lab.curves(
            ds,
            window=live.window,
            by=by,
            highlight=highlight,
            focus=focus,
            colours=live.colours,
            previous=live.previous,
        )
        if fig.layout.legend.title.text:  # "name · branch": say what the lab's names are
            words = [lab.name_label if w == "name" else w for w in by]
            fig.update_layout(legend_title_text=" · ".join(words))
        # The x axes span the whole budget, so the curves visibly grow into it.
        fig.update_xaxes(range=[0, budget])
        fig.update_layout(uirevision="live")
        return fig

    def _on_hover(self, event) -> None:
        """Hovering a run's line highlights that run in every panel; leaving it clears."""
        run = None
        fig = self.plot.object
        points = (event.new or {}).get("points") or []
        if points and fig is not None:
            point = points[0]
            n = point.get("curveNumber")
            meta = fig.data[n].meta if isinstance(n, int) and 0 <= n < len(fig.data) else None
            if isinstance(meta, dict) and "runs" in meta and point.get("customdata") is not None:
                run = int(point["customdata"])  # a thin line: the point says which run
            elif isinstance(meta, dict):
                run = meta.get("run")  # the highlighted run's own line (or None: a median)
        live = self.live
        if run is not None and run != live.highlight:
            live.highlight = run
        elif run is None and not points and live.highlight is not None:
            live.highlight = None
