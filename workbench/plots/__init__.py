"""Plotly figure builders: results in, a Figure out (shared by the apps and the notebooks).

- :mod:`.curves`: training curves of a sweep (:func:`training_curves`, :func:`smooth`);
- :mod:`.schedules`: the LR preview with the loss curves a fitted law predicts;
- :mod:`.valley`: the river-valley toy, its path animated over its contours.
"""

from .curves import group_labels, smooth, training_curves

__all__ = ["group_labels", "smooth", "training_curves"]
