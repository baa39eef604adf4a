"""workbench.notebook.setup: figures carry HTML and JSON; plotly.js displayed once in a kernel."""

import IPython
import IPython.display
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from workbench import notebook


@pytest.fixture
def renderer():
    """Restore plotly's default renderer after the test (setup changes it for the process)."""
    before = pio.renderers.default
    yield
    pio.renderers.default = before


def test_figures_carry_their_json_and_html_without_plotlyjs(renderer):
    notebook.setup()
    fig = go.Figure(go.Scatter(y=[3, 1, 2]), layout={"title": "t"})
    bundle = fig._repr_mimebundle_()
    assert set(bundle) == {"application/vnd.plotly.v1+json", "text/html"}
    assert bundle["application/vnd.plotly.v1+json"]["data"][0]["y"] == [3, 1, 2]
    html = bundle["text/html"]
    assert html.count('class="plotly-graph-div"') == 1 and "Plotly.newPlot" in html
    assert "plotly.js v" not in html and "cdn" not in html.lower()  # no bundle, no CDN


def test_in_a_kernel_plotlyjs_is_displayed_once(renderer, monkeypatch):
    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, kw)))
    notebook.setup()
    [(bundle, kw)] = shown
    assert kw == {"raw": True}
    assert bundle["text/html"].count("* plotly.js v") == 1


def test_outside_a_kernel_nothing_is_displayed(renderer, capsys):
    notebook.setup()
    assert capsys.readouterr().out == ""
    assert pio.renderers.default == f"plotly_mimetype+{notebook.RENDERER}"
