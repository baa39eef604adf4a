"""A loss-landscape plane on a page: computed in the background, drawn as it fills in, zoomable.

:class:`PlaneView` is the pane a lab app puts a 2-D slice in (the landscape lab's around a run;
the fast/slow lab's through fast and slow weights). Given a :class:`~workbench.landscape.Plane`
and a window, it computes the grid coarse to fine in a :class:`~workbench.ui.worker.Worker`
(through a :class:`~workbench.landscape.GridCache`, so a window seen before comes back at once),
shows progress, and redraws the contour (or 3-D surface) with the paths the app supplies. A box
zoom on the contour recomputes that window at full resolution; a double click goes back to the
window first drawn. Nothing here blocks the page, and a failure is shown in ``note`` while what
is drawn stays.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np
import panel as pn

from ..landscape.grid import GridCache, window_axes
from ..plots import landscape as plots
from .worker import Worker

__all__ = ["PlaneView"]


class PlaneView:
    """The plane pane: ``note``, ``kind`` (contour / 3-D), ``progress``/``status`` and
    ``contour`` widgets for the app to lay out, and :meth:`draw`, :meth:`zoom`, :meth:`render`.

    Parameters
    ----------
    paths
        ``paths(plane) -> (paths, steps, groups)``: the runs' paths projected on the plane
        (``{label: [T, 2]}``), their steps and colour groups, drawn over the grid (an empty
        dict when none apply).
    colours
        ``colours() -> ColourMap``: the page's colours (read at each redraw).
    """

    def __init__(self, paths: Callable, colours: Callable, *, name: str = "workbench-plane"):
        self.paths_of, self.colours = paths, colours
        self.cache, self.worker = GridCache(maxsize=32), Worker(name)
        self.plane = self.grid = self.base = self.spec = None
        self.title = ""
        self.note = pn.pane.Markdown("")
        self.kind = pn.widgets.RadioButtonGroup(options=["contour", "3-D surface"], value="contour")
        self.progress = pn.indicators.Progress(value=0, max=1, width=220, visible=False)
        self.status = pn.pane.Markdown("", css_classes=["grid-status"])
        # A double click always asks for autorange (plotly's default may instead "reset" to
        # whichever range it first saw, which after a zoom can be the zoomed one).
        self.contour = pn.pane.Plotly(
            None, sizing_mode="stretch_width", height=620, config={"doubleClick": "autosize"}
        )
        self.kind.param.watch(lambda _: self.render(), "value")
        self.contour.param.watch(self._relayout, "relayout_data")

    @property
    def job(self) -> Future | None:
        return self.worker.job

    def fail(self, text: str) -> None:
        self.progress.visible, self.status.object = False, ""
        self.note.object = f"**Could not draw:** {text}"

    def _say(self, done: int, total: int, text: str) -> None:
        self.progress.max, self.progress.value = max(total, 1), done
        self.progress.visible, self.status.object = done < total, text

    def draw(self, make: Callable, spec: dict, title: str, what: str = "plane") -> Future:
        """In the background: ``make() -> (plane, window)``, then the grid of ``spec``
        (``model``, ``data`` (a callable giving the data to evaluate on), ``resolution``)."""
        self.note.object = ""

        def work(stop):
            self.worker.post(lambda: self._say(0, 1, f"Computing the {what}…"))
            plane, window = make()
            if not stop.is_set():  # the page takes the new plane before its first grid
                self.worker.post(lambda: self._use(plane, window, spec, title))
                self._grid(stop, window, plane, spec)

        return self.worker.submit(work, on_error=self.fail)

    def _use(self, plane, window, spec, title) -> None:
        self.plane, self.base, self.spec, self.title = plane, window, spec, title

    def window(self) -> tuple:
        """The window of the grid shown: ``((a0, a1), (b0, b1))``."""
        return tuple(self.grid.alpha.values[[0, -1]]), tuple(self.grid.beta.values[[0, -1]])

    def zoom(self, window) -> Future:
        """The drawn plane over ``window`` at full resolution (from the cache if seen)."""
        plane, spec = self.plane, self.spec
        return self.worker.submit(lambda stop: self._grid(stop, window, plane, spec), self.fail)

    def _grid(self, stop, window, p, spec) -> None:
        """The grid of plane ``p`` over ``window``, shown as it fills in (at most every 0.4 s)."""
        alphas, betas = window_axes(*window, spec["resolution"])
        kw = dict(alphas=alphas, betas=betas, provenance=p.attrs(), block=64)
        shown = 0.0
        for g in self.cache.iter_plane(spec["model"], p.center, p.d1, p.d2, spec["data"](), **kw):
            if stop.is_set():
                return
            if g.attrs["done"] == g.attrs["total"] or time.perf_counter() - shown > 0.4:
                shown = time.perf_counter()
                self.worker.post(lambda g=g: stop.is_set() or self._show(g))

    def _show(self, grid) -> None:
        self.grid = grid
        done, total, ((a0, a1), (b0, b1)) = grid.attrs["done"], grid.attrs["total"], self.window()
        where = f" over α {a0:.3g} to {a1:.3g}, β {b0:.3g} to {b1:.3g}"
        end = " · done" if done == total else "…"
        self._say(done, total, f"{done:,} / {total:,} points{where}{end}")
        self.render()

    def render(self) -> None:
        """The grid (as far as it is computed) with the paths projected on it."""
        if self.grid is None:
            return
        paths, steps, groups = self.paths_of(self.plane)
        kw = dict(paths=paths, groups=groups, colours=self.colours(), title=self.title)
        if self.kind.value == "contour":
            fig = plots.contour_figure(self.grid, steps=steps, **kw)
        else:
            fig = plots.surface_figure(self.grid, **kw).update_layout(uirevision=self.title)
        self.contour.object = fig

    def _relayout(self, event) -> None:
        """A box zoom on the contour: that window at full resolution; a double click: back.

        Plotly states a range as ``xaxis.range[0]``/``[1]`` (a box zoom) or as a pair
        ``xaxis.range`` (the mode bar's reset); both are read."""
        r = event.new or {}
        if self.grid is None or self.kind.value != "contour":
            return
        if r.get("xaxis.autorange") or r.get("yaxis.autorange"):
            window = self.base
        else:
            window = tuple(_axis_range(r, axis) for axis in ("xaxis", "yaxis"))
            if None in window:
                return
        if not np.allclose(window, self.window(), rtol=1e-6, atol=1e-9):
            self.zoom(window)

    def close(self) -> None:
        self.worker.close()


def _axis_range(relayout: dict, axis: str) -> tuple[float, float] | None:
    """``(lo, hi)`` of ``axis`` in a plotly relayout event, or None when it has no full range."""
    pair = relayout.get(f"{axis}.range")
    if pair is None:
        pair = relayout.get(f"{axis}.range[0]"), relayout.get(f"{axis}.range[1]")
    if len(pair) != 2 or any(v is None for v in pair):
        return None
    return float(pair[0]), float(pair[1])
