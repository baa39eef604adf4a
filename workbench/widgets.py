"""ipywidgets controls for notebooks, built from a lab's ``param`` knobs.

A lab declares its knobs once (bounds, defaults, docs); the Panel app builds its widgets from them
and so does a notebook, through :func:`controls`. Each widget is linked to its knob both ways:
moving the widget sets the knob (so the lab validates it), and setting the knob in code moves the
widget. :func:`interactive_plot` re-draws a figure whenever a knob changes, as a plain display
output (not an ``Output`` widget), so it survives an HTML export and never stalls a headless run.
This is the only module of the library besides ``workbench/ui/`` that imports a UI toolkit.

Examples
--------
>>> from workbench.labs.schedules import SchedulesLab
>>> lab = SchedulesLab()
>>> box = controls(lab, names=["peak_lr", "steps"])
>>> [type(w).__name__ for w in box.children]
['FloatLogSlider', 'IntSlider']
>>> box.children[1].value = 800
>>> lab.steps
800
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Sequence

import ipywidgets as w
import param

__all__ = ["InteractivePlot", "controls", "interactive_plot", "widget_for"]

_STYLE = {"description_width": "initial"}
_LAYOUT = {"width": "420px"}
_LOG_DECADES = 2.0  # a Number whose positive range spans this many decades gets a log slider


def _range(p: param.Parameter) -> tuple[float | None, float | None]:
    """The slider range of a numeric knob: its soft bounds where given, else its hard bounds."""
    hard = p.bounds or (None, None)
    soft = getattr(p, "softbounds", None) or (None, None)
    lo = soft[0] if soft[0] is not None else hard[0]
    hi = soft[1] if soft[1] is not None else hard[1]
    return lo, hi


def _is_log(lo: float | None, hi: float | None) -> bool:
    return lo is not None and hi is not None and lo > 0 and math.log10(hi / lo) >= _LOG_DECADES


def widget_for(lab: param.Parameterized, name: str) -> w.ValueWidget:
    """One unlinked widget for the knob ``name`` of ``lab``, at the knob's current value.

    ``Integer`` gives an ``IntSlider``; ``Number`` a ``FloatSlider``, or a ``FloatLogSlider``
    when its range is positive and spans several decades (learning rates); ``Selector`` a
    ``Dropdown``; ``ListSelector`` a ``SelectMultiple``; ``Boolean`` a ``Checkbox``; ``List``
    (e.g. a drawn schedule's knots) a ``Text`` holding JSON. The
    slider range is the knob's soft bounds, else its hard bounds, widened to hold the current
    value. The knob's doc becomes the widget's tooltip.

    Examples
    --------
    >>> from workbench.labs.schedules import SchedulesLab
    >>> s = widget_for(SchedulesLab(), "decay")
    >>> type(s).__name__, s.min, s.max, s.value
    ('FloatSlider', 0.0, 1.0, 0.2)
    """
    p = lab.param[name]
    value = getattr(lab, name)
    common = dict(description=p.label or name, tooltip=p.doc or "", style=_STYLE, layout=_LAYOUT)
    if isinstance(p, param.ListSelector):
        options = list(p.objects)
        rows = min(len(options), 6)
        return w.SelectMultiple(options=options, value=tuple(value or ()), rows=rows, **common)
    if isinstance(p, param.Selector):
        return w.Dropdown(options=list(p.objects), value=value, **common)
    if isinstance(p, param.Boolean):
        return w.Checkbox(value=bool(value), **common)
    if isinstance(p, param.List):
        return w.Text(value=json.dumps(value), continuous_update=False, **common)
    if isinstance(p, param.Integer):
        lo, hi = _range(p)
        lo = int(min(lo if lo is not None else 0, value))
        hi = int(max(hi if hi is not None else max(10 * abs(value), 100), value))
        step = int(p.step or 1)
        return w.IntSlider(
            value=value, min=lo, max=hi, step=step, continuous_update=False, **common
        )
    if isinstance(p, param.Number):
        lo, hi = _range(p)
        if _is_log(lo, hi):
            lo, hi = min(lo, value) if value > 0 else lo, max(hi, value)
            return w.FloatLogSlider(
                value=value,
                base=10,
                min=math.log10(lo),
                max=math.log10(hi),
                step=0.05,
                readout_format=".2e",
                continuous_update=False,
                **common,
            )
        lo = min(lo if lo is not None else 0.0, value)
        hi = max(hi if hi is not None else max(10 * abs(value), 1.0), value)
        step = p.step or (hi - lo) / 100
        fmt = ".2e" if 0 < hi < 1e-2 else ".3g"
        return w.FloatSlider(
            value=value,
            min=lo,
            max=hi,
            step=step,
            readout_format=fmt,
            continuous_update=False,
            **common,
        )
    raise ValueError(
        f"widget_for: knob {name!r} is a {type(p).__name__}; allowed: Number, Integer, "
        "Selector, ListSelector, Boolean, List"
    )


def _link(lab: param.Parameterized, name: str, widget: w.ValueWidget) -> None:
    """Two-way link: the widget sets the knob; a change of the knob moves the widget."""
    p = lab.param[name]

    def to_lab(change: dict) -> None:
        try:
            if isinstance(p, param.ListSelector):
                value = list(change["new"])
            elif isinstance(p, param.List):
                value = json.loads(change["new"])
            else:
                value = change["new"]
            if value == getattr(lab, name):
                return
            setattr(lab, name, value)
        except (ValueError, TypeError):  # the knob refused it: put the widget back
            widget.value = _widget_value(lab, name)

    def to_widget(event: param.parameterized.Event) -> None:
        value = _widget_value(lab, name)
        if widget.value != value:
            widget.value = value

    widget.observe(to_lab, names="value")
    lab.param.watch(to_widget, [name])


def _widget_value(lab: param.Parameterized, name: str):
    value, p = getattr(lab, name), lab.param[name]
    if isinstance(p, param.ListSelector):
        return tuple(value or ())
    return json.dumps(value) if isinstance(p, param.List) else value


def controls(lab: param.Parameterized, *, names: Sequence[str] | None = None) -> w.VBox:
    """A box of widgets, one per knob of ``lab``, each linked to its knob both ways.

    Parameters
    ----------
    lab : param.Parameterized
        A lab's knobs object (e.g. :class:`~workbench.labs.schedules.SchedulesLab`).
    names : sequence of str, optional
        Which knobs, in this order; default every knob but ``name``.

    Returns
    -------
    ipywidgets.VBox
        Its ``children`` are the widgets, in the order of ``names``.

    Examples
    --------
    >>> from workbench.labs.schedules import SchedulesLab
    >>> lab = SchedulesLab()
    >>> box = controls(lab, names=["decay_shape"])
    >>> lab.decay_shape = "cosine"
    >>> box.children[0].value
    'cosine'
    """
    knobs = [k for k in lab.param if k != "name"]
    if names is None:
        names = knobs
    unknown = [n for n in names if n not in knobs]
    if unknown:
        raise ValueError(
            f"controls: names={unknown} are not knobs of {type(lab).__name__}; "
            f"allowed: {', '.join(knobs)}"
        )
    widgets = []
    for name in names:
        widget = widget_for(lab, name)
        _link(lab, name, widget)
        widgets.append(widget)
    return w.VBox(widgets)


class InteractivePlot(w.VBox):
    """Controls and a message line; displaying it also displays a figure under them.

    What :func:`interactive_plot` returns. The figure is not a widget: it is an ordinary
    display output with a ``display_id``, replaced in place (``update_display``) on every
    re-draw, so it carries whatever mimetypes the plotly renderer gives it (JSON and HTML after
    :func:`workbench.notebook.setup`) and survives an HTML export. ``figure`` is the figure
    shown now.
    """

    def __init__(self, children: Sequence[w.Widget], figure: object) -> None:
        super().__init__(children)
        self.figure = figure
        self._display_id = uuid.uuid4().hex
        self._displayed = False

    def show(self, figure: object) -> None:
        """Replace the figure, in every output that displays this plot."""
        from IPython.display import update_display

        self.figure = figure
        if self._displayed:
            update_display(figure, display_id=self._display_id)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)  # the controls (a widget view)
        display(self.figure, display_id=self._display_id)
        self._displayed = True


def interactive_plot(
    lab: param.Parameterized,
    make_figure: Callable[[param.Parameterized], object],
    *,
    names: Sequence[str] | None = None,
) -> InteractivePlot:
    """The knobs' controls above a figure that is re-drawn whenever a knob changes.

    ``make_figure(lab)`` returns a plotly figure (or any displayable object). Displayed in a
    notebook, the result shows the controls and, under them, the figure as an ordinary output
    that each re-draw replaces in place (an ``update_display_data`` message). An error in
    ``make_figure`` is shown under the controls instead, and the previous figure stays.

    The figure is deliberately not an ``ipywidgets.Output`` nor a ``FigureWidget``: a widget's
    view is lost in an HTML export, and nbclient answers every output routed into an ``Output``
    widget with a message on the kernel's shell socket, which can swallow the wake-up of the
    cell's own ``execute_reply``; headless runs then sat idle until the cell timeout
    (jupyter/nbclient#312).

    Parameters
    ----------
    lab : param.Parameterized
    make_figure : callable
        Called with ``lab``; quick enough to run on every knob change.
    names : sequence of str, optional
        Which knobs get controls (see :func:`controls`); every knob change re-draws.

    Returns
    -------
    InteractivePlot
        A ``VBox`` whose ``children`` are the controls box and a message ``HTML``; its
        ``figure`` is the current figure.

    Examples
    --------
    >>> import plotly.graph_objects as go
    >>> from workbench.labs.schedules import SchedulesLab
    >>> lab = SchedulesLab()
    >>> def lr_figure(lab):
    ...     return go.Figure([go.Scatter(y=y, name=k) for k, y in lab.preview().items()])
    >>> plot = interactive_plot(lab, lr_figure, names=["steps"])
    >>> plot.children[0].children[0].value = 600  # move the steps slider
    >>> lab.steps, len(plot.figure.data[0].y)
    (600, 600)
    """
    panel = controls(lab, names=names)
    message = w.HTML()
    plot = InteractivePlot([panel, message], make_figure(lab))

    def redraw(*_events) -> None:
        try:
            fig = make_figure(lab)
        except Exception as e:  # noqa: BLE001 - show the problem, keep the previous figure
            message.value = f"<span style='color:#b00'>{type(e).__name__}: {e}</span>"
            return
        message.value = ""
        plot.show(fig)

    lab.param.watch(redraw, [k for k in lab.param if k != "name"])
    return plot
