"""Panel building blocks shared by the apps (``apps/``) and notebooks.

The only part of the library that imports Panel; everything here is thin over the labs and
:class:`~workbench.session.Session`. A lab app composes :class:`LabPage`.
"""

from .inputs import KnobInput
from .lab_page import LabPage, Sweep, runs_table
from .live import LiveRun
from .panes import AnimatedPlotly
from .state import parse_search, url_state

__all__ = [
    "AnimatedPlotly",
    "KnobInput",
    "LabPage",
    "LiveRun",
    "Sweep",
    "parse_search",
    "runs_table",
    "url_state",
]
