"""Plotly figure builders: results in, a Figure out (shared by the apps and the notebooks).

- :mod:`.colours`: :class:`ColourMap`, one colour per name shared by a page's figures;
- :mod:`.curves`: training curves of a sweep (:func:`training_curves`, :func:`smooth`);
- :mod:`.schedules`: the LR preview with the loss curves a fitted law predicts;
- :mod:`.valley`: the river-valley toy, its path animated over its contours;
- :mod:`.continual`: a task stream's per-task curves, the view around a task switch, the
  accuracy matrix as a heatmap;
- :mod:`.forgetting` and :mod:`.half_life`: forgetting curves with their fits and half-lives;
- :mod:`.tradeoff` (forgetting and newest-task accuracy against the replay ratio) and
  :mod:`.gap` (the stability gap as a table).
"""

from .colours import ColourMap
from .curves import group_labels, smooth, training_curves

__all__ = ["ColourMap", "group_labels", "smooth", "training_curves"]
