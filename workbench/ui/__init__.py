"""Panel building blocks shared by the apps (``apps/``) and notebooks.

The only part of the library that imports Panel; everything here is thin over the labs and
:class:`~workbench.session.Session`.
"""

from .live import LiveRun, decay_to_zero
from .panes import AnimatedPlotly
from .state import export_pane, parse_search, url_state

__all__ = ["AnimatedPlotly", "LiveRun", "decay_to_zero", "export_pane", "parse_search", "url_state"]
