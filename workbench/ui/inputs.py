"""One Panel input per knob, linked both ways, that says why a value is refused.

Panel's own ``pn.Param`` widgets drop a value the parameter refuses without a word (a typed
Peak LR of 5 stayed in the box, changed nothing, and the refusal went to the server log). A
:class:`KnobInput` checks every value first (:func:`workbench.labs.base.check_knob`): a refused
value stays visible in the box with a message under it naming the knob, the value and what is
allowed, the knob keeps its last good value, and :attr:`KnobInput.invalid` is set so the page
can refuse to train until it is fixed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import panel as pn
import param

from ..labs.base import check_knob

__all__ = ["KnobInput"]

_CHECKBOX_CSS = [".bk-input-group.bk-inline {flex-wrap: wrap; row-gap: 4px;}"]


class KnobInput(pn.viewable.Viewer):
    """The widget for knob ``name`` of ``owner`` plus its message line.

    ``slider``: a bounded number as a slider (its soft bounds, else its bounds); otherwise
    numbers are typed (any value may be typed; out-of-range ones are refused with a message).
    ``check(name, value) -> str | None`` may add refusals (default: the knob's own bounds).
    """

    invalid = param.Boolean(default=False, doc="The box holds a value the knob refused.")

    def __init__(
        self,
        owner: param.Parameterized,
        name: str,
        *,
        slider: bool = False,
        check: Callable[[str, Any], str | None] | None = None,
        width: int | None = None,
        **params,
    ):
        super().__init__(**params)
        self.owner, self.knob = owner, name
        self._check = check or (lambda k, v: check_knob(owner, k, v))
        self._syncing = False
        self._box = None  # the row or column around the widget, once laid out
        p = owner.param[name]
        self._json = isinstance(p, param.List) and not isinstance(p, param.ListSelector)
        self.widget = _widget(p, getattr(owner, name), slider=slider, width=width)
        self.message = pn.pane.Markdown(
            "",
            visible=False,
            css_classes=["knob-error"],
            styles={"color": "#b42318", "font-size": "90%"},
            margin=(0, 10, 6, 10),
            sizing_mode="stretch_width",
        )
        self.widget.param.watch(self._on_widget, "value")
        owner.param.watch(self._on_knob, name)

    def _on_widget(self, event) -> None:
        if self._syncing:
            return
        value = event.new
        if self._json:
            try:
                value = json.loads(value) if isinstance(value, str) else value
            except json.JSONDecodeError:
                label = self.owner.param[self.knob].label or self.knob
                self._refuse(f"{label}: {event.new!r} is not JSON; write it like [[0, 0], [1, 1]]")
                return
        if isinstance(self.owner.param[self.knob], param.ListSelector):
            value = list(value)
        why = self._check(self.knob, value)
        if why is None:
            try:
                setattr(self.owner, self.knob, value)
            except (ValueError, TypeError) as e:  # a check the knob makes beyond its bounds
                why = f"{self.owner.param[self.knob].label or self.knob}: {e}"
        if why is not None:
            self._refuse(why)
            return
        self._accept()

    def _refuse(self, why: str) -> None:
        now = getattr(self.owner, self.knob)
        shown = json.dumps(now) if self._json else repr(now)
        self.message.object = f"⚠ {why}. Still using {shown}."
        self.message.visible = True
        self.invalid = True

    def _accept(self) -> None:
        self.message.object, self.message.visible = "", False
        self.invalid = False

    def _on_knob(self, event) -> None:
        """The knob changed in code (a preset, the URL, a click on a plot): show it."""
        value = json.dumps(event.new) if self._json else event.new
        self._syncing = True
        try:
            self.widget.value = value
        finally:
            self._syncing = False
        self._accept()

    @property
    def visible(self) -> bool:
        return self.widget.visible

    @visible.setter
    def visible(self, show: bool) -> None:
        self.widget.visible = show
        if self._box is not None:
            self._box.visible = show
        self.message.visible = show and self.invalid

    def __panel__(self):
        widget = self.widget
        if "description" not in widget.param:  # sliders, check boxes: a "?" beside them
            doc = self.owner.param[self.knob].doc or ""
            tip = pn.widgets.TooltipIcon(value=doc, margin=(5, 0), visible=bool(doc))
            if isinstance(widget, pn.widgets.CheckBoxGroup):
                label = pn.pane.Markdown(f"**{widget.label}**", margin=(0, 10))
                widget = pn.Column(pn.Row(label, tip), widget, margin=0)
            else:
                widget = pn.Row(widget, tip, margin=0)
            widget.visible = self.widget.visible
            self._box = widget
        return pn.Column(widget, self.message, margin=0, sizing_mode="stretch_width")


def _widget(p: param.Parameter, value: Any, *, slider: bool, width: int | None):
    """The Panel widget for one parameter (unlinked; :class:`KnobInput` links it)."""
    kw: dict[str, Any] = {"label": p.label, "description": p.doc or None}
    kw["sizing_mode"] = "stretch_width" if width is None else None
    if width is not None:
        kw["width"] = width
    if isinstance(p, param.ListSelector):  # no tooltip of its own: KnobInput adds one
        kw.pop("description")
        return pn.widgets.CheckBoxGroup(
            options=list(p.objects),
            value=list(value),
            inline=True,
            stylesheets=_CHECKBOX_CSS,
            **kw,
        )
    if isinstance(p, param.Selector):
        return pn.widgets.Select(options=list(p.objects), value=value, **kw)
    if isinstance(p, param.Boolean):
        kw.pop("description")
        return pn.widgets.Checkbox(value=bool(value), **kw)
    if isinstance(p, param.List):
        return pn.widgets.TextInput(value=json.dumps(value), **kw)
    if isinstance(p, param.Number):
        whole = isinstance(p, param.Integer)
        if slider:
            kw.pop("description")
            lo, hi = _slider_range(p)
            cls = pn.widgets.IntSlider if whole else pn.widgets.FloatSlider
            return cls(start=lo, end=hi, step=p.step or (1 if whole else 0.01), value=value, **kw)
        cls = pn.widgets.IntInput if whole else pn.widgets.FloatInput
        step = p.step if p.step is not None else (1 if whole else None)
        return cls(value=value, **({"step": step} if step is not None else {}), **kw)
    return pn.widgets.TextInput(value=str(value), disabled=True, **kw)


def _slider_range(p: param.Number) -> tuple[float, float]:
    soft = p.softbounds or (None, None)
    hard = p.bounds or (None, None)
    lo = soft[0] if soft[0] is not None else hard[0]
    hi = soft[1] if soft[1] is not None else hard[1]
    if lo is None or hi is None:
        raise ValueError(f"{p.name}: a slider needs bounds or softbounds")
    return lo, hi
