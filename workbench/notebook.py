"""One call at the top of a notebook so its plotly figures survive export.

JupyterLab draws a plotly figure from its JSON (``application/vnd.plotly.v1+json``), but an HTML
export (``jupyter nbconvert --to html``), nbviewer or GitHub know nothing of that mimetype and
show an empty output. After :func:`setup`, every figure a notebook displays carries both: the
JSON for JupyterLab and an HTML ``<div>`` that draws it with plotly.js. plotly.js itself (about
5 MB) is embedded once, in the output of the cell that calls :func:`setup`, rather than in every
figure, and from the installed plotly package rather than a CDN: a notebook run offline still
exports figures that draw offline.
"""

from __future__ import annotations

from plotly.io.base_renderers import MimetypeRenderer

__all__ = ["RENDERER", "setup"]

RENDERER = "workbench_html"  # the name :func:`setup` registers with ``plotly.io.renderers``


class _FigureHtml(MimetypeRenderer):
    """``text/html`` of a figure without plotly.js (the page loads it once, see :func:`setup`)."""

    def to_mimebundle(self, fig_dict: dict) -> dict[str, str]:
        import plotly.io as pio

        # include_mathjax=False: no CDN script per figure; the labs' figures use no LaTeX.
        html = pio.to_html(
            fig_dict,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            validate=False,
        )
        return {"text/html": html}


def _plotlyjs_html() -> str:
    from plotly.offline import get_plotlyjs

    # window.PlotlyConfig is what plotly's own `notebook` renderer sets before loading the bundle.
    return (
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n"
        f"<script type='text/javascript'>{get_plotlyjs()}</script>"
    )


def setup() -> None:
    """Make every plotly figure shown from here on carry HTML as well as its JSON.

    Sets ``plotly.io.renderers.default`` to the JSON mimetype plus an HTML renderer whose
    figures leave plotly.js out, and, inside a kernel, displays plotly.js once (the figures'
    HTML calls it). Call it in the first code cell; :func:`workbench.widgets.interactive_plot`
    displays its figure through the same renderer.

    No ``notebook_connected`` renderer (it fetches plotly.js from a CDN: neither the test
    machines nor every reader is online), and no ``ipywidgets.Output`` for figures (see
    :func:`workbench.widgets.interactive_plot`).

    Examples
    --------
    >>> import plotly.graph_objects as go
    >>> import plotly.io as pio
    >>> before = pio.renderers.default
    >>> setup()  # outside a kernel: sets the renderer, displays nothing
    >>> bundle = go.Figure(go.Bar(y=[1, 2]))._repr_mimebundle_()
    >>> sorted(bundle)
    ['application/vnd.plotly.v1+json', 'text/html']
    >>> "plotly-graph-div" in bundle["text/html"], "plotly.js v" in bundle["text/html"]
    (True, False)
    >>> pio.renderers.default = before
    """
    import plotly.io as pio
    from IPython import get_ipython
    from IPython.display import display

    pio.renderers[RENDERER] = _FigureHtml()
    pio.renderers.default = f"plotly_mimetype+{RENDERER}"
    if get_ipython() is not None:  # outside a kernel there is no page to load plotly.js into
        display(
            {"text/html": _plotlyjs_html(), "text/plain": "plotly.js loaded for this notebook"},
            raw=True,
        )
