"""Every workshop notebook runs top to bottom (with tiny sweeps), headless and without stalls, its
figures survive an HTML export, it links the science guide, and it is committed stripped."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# With WORKBENCH_FAST a cell takes seconds (under 25 s on 2 busy cores); a cell that needs more
# has stalled, and the test says so at once rather than sitting idle for the suite's budget.
CELL_TIMEOUT_S = 90
# After a cell's reply, how long its last outputs (the kernel's "idle") may take to arrive; a
# miss is an error, not a warning and a silently truncated output list.
IOPUB_TIMEOUT_S = 15
PLOTLY_JSON = "application/vnd.plotly.v1+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PLOTLY_DIV = 'class="plotly-graph-div"'
DISPLAYED = ("display_data", "execute_result")
CHROMIUM = "/usr/bin/chromium"  # Debian's, as the app tests use
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
SCIENCE_LINK = re.compile(r"\]\((\.\./docs/science/[\w\-]+\.md)(#[\w\-]*)?\)")


def execute(path: Path, workdir: Path) -> nbformat.NotebookNode:
    """``path`` run top to bottom in a fresh kernel with ``WORKBENCH_FAST=1``, in ``workdir``.

    Raises ``pytest.fail`` naming the cell if one runs past :data:`CELL_TIMEOUT_S`.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        iopub_timeout=IOPUB_TIMEOUT_S,
        raise_on_iopub_timeout=True,
        shutdown_kernel="immediate",
        allow_errors=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    running = []  # index of the cell being run, for the message if it stalls
    client.on_cell_execute = lambda cell, cell_index: running.append(cell_index)
    env = {**os.environ, "WORKBENCH_FAST": "1"}  # tiny sweeps; the kernel gets this environment
    try:
        client.execute(env=env)  # raises CellExecutionError naming the cell on the first error
    except CellTimeoutError as e:
        pytest.fail(
            f"{path.name}: cell {running[-1]} ran past {CELL_TIMEOUT_S} s (or its last output "
            f"past {IOPUB_TIMEOUT_S} s after its reply). With WORKBENCH_FAST every cell takes "
            "seconds: this is a stall, not slowness. Known cause: an ipywidgets.Output in the "
            f"cell's output (jupyter/nbclient#312).\n{e}",
            pytrace=False,
        )
    return nb


@pytest.fixture(scope="module", params=NOTEBOOKS, ids=lambda p: p.name)
def executed(request, tmp_path_factory):
    """``(path, executed notebook)`` for each notebook, run once for the tests below."""
    path = request.param
    workdir = tmp_path_factory.mktemp(path.stem)
    shutil.copy(path, workdir / path.name)
    return path, execute(workdir / path.name, workdir)


def code_outputs(nb: nbformat.NotebookNode):
    """``(cell index, cell, output)`` for every output of every code cell."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for out in cell.outputs:
                yield i, cell, out


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert "01_schedules.ipynb" in names and "02_forgetting_and_replay.ipynb" in names
    assert "03_loss_landscapes.ipynb" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {i} has stored outputs"
            assert cell.execution_count is None, f"{path.name}: cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_links_the_science_guide(path):
    """Users have ``docs/science/``; the internal notes file is never named."""
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "PHENOMENA" not in text, f"{path.name} names PHENOMENA.md (users never have it)"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and SCIENCE_LINK.search(first.source), (
        f"{path.name}: the first markdown cell must link a ../docs/science/*.md page"
    )
    for target, anchor in SCIENCE_LINK.findall(text):
        page = path.parent / target
        assert page.is_file(), f"{path.name} links {target}, which is missing"
        if anchor:
            slugs = [slug(h) for h in re.findall(r"^#+ (.+)$", page.read_text(), re.M)]
            assert anchor[1:] in slugs, f"{path.name} links {target}{anchor}: no such heading"


def slug(heading: str) -> str:
    """The anchor GitHub gives a markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.slow
def test_notebook_runs(executed):
    path, nb = executed
    errors = [o for _, _, o in code_outputs(nb) if o.output_type == "error"]
    assert errors == []
    shown = [o for _, _, o in code_outputs(nb) if o.output_type in DISPLAYED]
    assert shown, f"{path.name} displayed nothing"


@pytest.mark.slow
def test_no_output_widgets(executed):
    """nbclient answers every output routed into an ``ipywidgets.Output`` with a message on the
    kernel's shell socket; that send can swallow the wake-up of the cell's own reply, and the run
    then sits idle until the cell timeout (2 runs in 6 under load). No notebook may create one."""
    path, nb = executed
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    outputs = [k for k, v in state.items() if v.get("model_name") == "OutputModel"]
    assert outputs == [], f"{path.name} created {len(outputs)} ipywidgets.Output widget(s)"


@pytest.mark.slow
def test_every_figure_carries_html_and_its_json(executed):
    path, nb = executed
    figures = [(i, o) for i, _, o in code_outputs(nb) if PLOTLY_JSON in o.get("data", {})]
    assert figures, f"{path.name} showed no plotly figure"
    for i, out in figures:
        assert PLOTLY_DIV in out.data.get("text/html", ""), f"cell {i}: a figure without HTML"
    # the cells that build an interactive plot show its figure under the controls
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "interactive_plot(" in cell.source:
            kinds = [sorted(o.get("data", {})) for o in cell.outputs]
            assert any(PLOTLY_JSON in k for k in kinds), f"cell {i}: no figure under the controls"


@pytest.mark.slow
def test_figures_survive_html_export(executed):
    """``jupyter nbconvert --to html``: plotly.js embedded once, before a div per figure shown."""
    from nbconvert import HTMLExporter

    path, nb = executed
    html, _ = HTMLExporter().from_notebook_node(nb)
    figures = sum(PLOTLY_JSON in o.get("data", {}) for _, _, o in code_outputs(nb))
    assert html.count("* plotly.js v") == 1, "plotly.js must be embedded exactly once"
    assert html.count(PLOTLY_DIV) == figures
    assert html.index("* plotly.js v") < html.index(PLOTLY_DIV), "plotly.js after a figure"


@pytest.mark.slow
def test_exported_figures_draw_offline(executed, tmp_path):
    """The exported page, opened in Chromium with the network cut, draws every figure."""
    from nbconvert import HTMLExporter
    from playwright.sync_api import sync_playwright

    path, nb = executed
    page_file = tmp_path / f"{path.stem}.html"
    page_file.write_text(HTMLExporter().from_notebook_node(nb)[0])
    figures = sum(PLOTLY_JSON in o.get("data", {}) for _, _, o in code_outputs(nb))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route(  # offline: only the file itself loads (CDN scripts of the template fail)
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith("file:") else route.abort()
                ),
            )
            page.goto(page_file.as_uri(), wait_until="load")
            drawn = page.locator("div.plotly-graph-div.js-plotly-plot")
            page.wait_for_function(
                f"document.querySelectorAll('div.js-plotly-plot .main-svg').length >= {figures}",
                timeout=30_000,
            )
            assert drawn.count() == figures, errors
        finally:
            browser.close()
