"""Panel building blocks shared by the apps (``apps/``) and notebooks.

The only part of the library that imports Panel; everything here is thin over the labs and
:class:`~workbench.session.Session`. A lab app composes :class:`LabPage`; long computations on
a page run in a :class:`Worker`, and a loss-landscape plane is a :class:`PlaneView`.
"""

from .inputs import KnobInput
from .lab_page import LabPage, Sweep, runs_table
from .live import LiveRun
from .panes import AnimatedPlotly
from .plane_view import PlaneView
from .state import parse_search, url_state
from .worker import Worker

__all__ = [
    "AnimatedPlotly",
    "KnobInput",
    "LabPage",
    "LiveRun",
    "PlaneView",
    "Sweep",
    "Worker",
    "parse_search",
    "runs_table",
    "url_state",
]
