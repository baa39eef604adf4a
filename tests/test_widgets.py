"""workbench.widgets: one ipywidget per knob, linked both ways, within the knob's bounds."""

import contextlib
import io
import json

import ipywidgets as w
import param
import plotly.graph_objects as go
import pytest

from workbench.labs.schedules import SchedulesLab
from workbench.widgets import controls, interactive_plot, widget_for


class Knobs(param.Parameterized):
    lr = param.Number(default=1e-3, bounds=(1e-6, 1.0), softbounds=(1e-5, 1e-1), doc="The LR.")
    frac = param.Number(default=0.3, bounds=(0.0, 1.0), doc="A fraction.")
    count = param.Integer(default=5, bounds=(1, 50), softbounds=(2, 20), step=2, doc="A count.")
    kind = param.Selector(default="a", objects=["a", "b", "c"], doc="A kind.")
    kinds = param.ListSelector(default=["a"], objects=["a", "b", "c"], doc="Some kinds.")
    flag = param.Boolean(default=False, doc="A flag.")


def widgets_of(lab, names=None):
    return dict(
        zip(
            names or [k for k in lab.param if k != "name"],
            controls(lab, names=names).children,
            strict=True,
        )
    )


def test_one_widget_per_knob_type():
    ws = widgets_of(Knobs())
    assert list(ws) == ["lr", "frac", "count", "kind", "kinds", "flag"]
    assert type(ws["lr"]) is w.FloatLogSlider
    assert type(ws["frac"]) is w.FloatSlider
    assert type(ws["count"]) is w.IntSlider
    assert type(ws["kind"]) is w.Dropdown and list(ws["kind"].options) == ["a", "b", "c"]
    assert type(ws["kinds"]) is w.SelectMultiple and ws["kinds"].value == ("a",)
    assert type(ws["flag"]) is w.Checkbox
    assert ws["lr"].tooltip == "The LR." and ws["kinds"].tooltip == "Some kinds."


def test_schedules_lab_gets_a_widget_for_every_knob():
    lab = SchedulesLab()
    ws = widgets_of(lab)
    assert set(ws) == set(lab.param) - {"name"}
    assert type(ws["peak_lr"]) is w.FloatLogSlider
    assert type(ws["schedules"]) is w.SelectMultiple
    for name, widget in ws.items():
        assert widget.tooltip == lab.param[name].doc
        value = getattr(lab, name)
        if name == "drawn":  # a List knob: its JSON text
            assert json.loads(widget.value) == value
        else:
            assert widget.value == (tuple(value) if isinstance(value, list) else value)


def test_ranges_come_from_softbounds_then_bounds():
    ws = widgets_of(Knobs())
    assert (ws["lr"].min, ws["lr"].max) == pytest.approx((-5.0, -1.0))  # log10 of softbounds
    assert (ws["frac"].min, ws["frac"].max) == (0.0, 1.0)  # no softbounds: the bounds
    assert (ws["count"].min, ws["count"].max, ws["count"].step) == (2, 20, 2)


def test_range_widens_to_hold_a_value_outside_the_softbounds():
    s = widget_for(Knobs(count=40, lr=0.5), "count")
    assert s.max == 40 and s.value == 40
    lr = widget_for(Knobs(lr=0.5), "lr")
    assert lr.value == pytest.approx(0.5)


def test_widget_change_sets_the_knob():
    lab = Knobs()
    ws = widgets_of(lab)
    ws["frac"].value = 0.7
    ws["count"].value = 10
    ws["kind"].value = "c"
    ws["kinds"].value = ("b", "c")
    ws["lr"].value = 1e-2
    ws["flag"].value = True
    assert (lab.frac, lab.count, lab.kind, lab.kinds, lab.flag) == (0.7, 10, "c", ["b", "c"], True)
    assert lab.lr == pytest.approx(1e-2)


def test_knob_change_moves_the_widget():
    lab = SchedulesLab()
    ws = widgets_of(lab)
    lab.param.update(
        steps=900, decay=0.35, decay_shape="1-sqrt", schedules=["cosine"], peak_lr=1e-2
    )
    assert ws["steps"].value == 900
    assert ws["decay"].value == pytest.approx(0.35)
    assert ws["decay_shape"].value == "1-sqrt"
    assert ws["schedules"].value == ("cosine",)
    assert ws["peak_lr"].value == pytest.approx(1e-2)


def test_sliders_stay_within_bounds_and_the_knob_stays_valid():
    lab = Knobs()
    ws = widgets_of(lab)
    ws["frac"].value = 5.0  # ipywidgets clamps to the slider range
    assert ws["frac"].value == 1.0 and lab.frac == 1.0
    ws["count"].value = -3
    assert ws["count"].value == 2 and lab.count == 2


def test_a_value_the_knob_refuses_puts_the_widget_back():
    lab = SchedulesLab()
    ws = widgets_of(lab, ["steps"])
    ws["steps"].max = 10**6  # widen the slider past the knob's hard bound (100_000)
    ws["steps"].value = 500_000
    assert lab.steps == 300 and ws["steps"].value == 300


def test_names_selects_and_orders_and_unknown_names_are_refused():
    box = controls(SchedulesLab(), names=["decay", "steps"])
    assert [c.description for c in box.children] == ["Decay", "Steps"]
    with pytest.raises(ValueError, match="'nope'.*allowed: workload"):
        controls(SchedulesLab(), names=["nope"])


def test_interactive_plot_redraws_on_a_knob_change():
    lab = SchedulesLab()
    calls = []

    def make(lab):
        calls.append(lab.steps)
        return go.Figure([go.Scatter(y=y, name=k) for k, y in lab.preview().items()])

    with contextlib.redirect_stdout(io.StringIO()):  # outside a kernel, display() prints
        box = interactive_plot(lab, make, names=["steps", "decay"])
        box.children[0].children[0].value = 600  # move the steps slider
        lab.decay = 0.5  # or set a knob in code
    assert calls == [300, 600, 600]
    assert box.children[1].value == ""


def test_interactive_plot_shows_an_error_and_keeps_going():
    lab = SchedulesLab()

    def make(lab):
        if lab.steps > 500:
            raise ValueError("too long")
        return "ok"

    with contextlib.redirect_stdout(io.StringIO()):
        box = interactive_plot(lab, make)
        lab.steps = 600
        assert "ValueError: too long" in box.children[1].value
        lab.steps = 300
    assert box.children[1].value == ""


def test_list_knob_is_json_text_and_bad_json_is_refused():
    lab = SchedulesLab()
    box = controls(lab, names=["drawn"])
    text = box.children[0]
    assert type(text).__name__ == "Text" and json.loads(text.value) == lab.drawn
    text.value = "[[0, 0], [1, 1]]"
    assert lab.drawn == [[0, 0], [1, 1]]
    for bad in ("[[0, 0]]", "not json", "[[0, 0], [2, 1]]"):
        text.value = bad
        assert lab.drawn == [[0, 0], [1, 1]] and json.loads(text.value) == lab.drawn
    lab.add_knot(150, 0.01)
    assert json.loads(text.value) == lab.drawn


def lr_figure(lab):
    return go.Figure([go.Scatter(y=y, name=k) for k, y in lab.preview().items()])


def widgets_in(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from widgets_in(child)


def test_interactive_plot_has_no_output_widget():
    """nbclient answers each output routed into an ``Output`` on the kernel's shell socket, which
    can hide the cell's reply until the cell timeout: headless runs stalled (and an HTML export
    drops a widget's view)."""
    plot = interactive_plot(SchedulesLab(), lr_figure, names=["steps"])
    assert not any(isinstance(x, w.Output) for x in widgets_in(plot))


@pytest.fixture
def displays(monkeypatch):
    """What ``IPython.display.display`` / ``update_display`` were called with, in order."""
    import IPython.display

    calls = []
    for name, kind in (("display", "show"), ("update_display", "update")):
        monkeypatch.setattr(
            IPython.display, name, lambda obj, _kind=kind, **kw: calls.append((_kind, obj, kw))
        )
    return calls


def test_displaying_shows_the_controls_then_the_figure_and_redraws_replace_it(displays):
    lab = SchedulesLab()
    plot = interactive_plot(lab, lr_figure, names=["steps"])
    lab.steps = 500  # not displayed yet: nothing to update
    assert displays == [] and len(plot.figure.data[0].y) == 500
    plot._ipython_display_()  # what IPython calls to display it
    (kind, bundle, kw), (kind2, fig, kw2) = displays
    assert kind == "show" and kw == {"raw": True}
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == plot.model_id
    assert kind2 == "show" and fig is plot.figure and kw2["display_id"]
    plot.children[0].children[0].value = 700  # move the slider: the figure is replaced in place
    kind3, fig3, kw3 = displays[2]
    assert (kind3, kw3) == ("update", {"display_id": kw2["display_id"]})
    assert fig3 is plot.figure and len(fig3.data[0].y) == 700


def test_an_error_keeps_the_figure_shown(displays):
    lab = SchedulesLab()

    def make(lab):
        if lab.steps > 500:
            raise ValueError("too long")
        return lr_figure(lab)

    plot = interactive_plot(lab, make, names=["steps"])
    plot._ipython_display_()
    shown = plot.figure
    lab.steps = 600
    assert plot.figure is shown and len(displays) == 2  # no update
    assert "ValueError: too long" in plot.children[1].value
