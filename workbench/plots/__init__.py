"""Plotly figure builders: results in, a Figure out (shared by the apps and the notebooks).

- :mod:`.colours`: :class:`ColourMap`, one colour per name shared by a page's figures;
- :mod:`.curves`: training curves of a sweep (:func:`training_curves`, :func:`smooth`);
- :mod:`.schedules`: the LR preview with the loss curves a fitted law predicts;
- :mod:`.valley`: the river-valley toy, its path animated over its contours.
"""

from .colours import ColourMap
from .curves import group_labels, smooth, training_curves

__all__ = ["ColourMap", "group_labels", "smooth", "training_curves"]
