"""Loss landscapes as batches: every point of a slice is a row of parameters, and the stacked
model evaluates the rows together.

- :mod:`.evaluate`: :func:`loss_of` (loss and accuracy of any parameter rows ``[M, P]`` on a
  fixed data subset, in chunks sized by activation memory) and :func:`probe_data`;
- :mod:`.directions`: random directions, filter- and layer-normalized (Li et al. 2018), with
  explicit seeds so runs can share them, and the principal directions of a trajectory;
- :mod:`.slices`: 1-D lines between two points (with the barrier height) and 2-D planes, as
  ``xarray`` objects with the directions' provenance in their attrs;
- :mod:`.hessian`: Hessian-vector products by double backward through the stacked forward, the
  top eigenvalues (power iteration with deflation, batched over rows) and Hutchinson's trace.
"""

from .directions import normalize_direction, pca_directions, random_direction
from .evaluate import layout_of, loss_of, probe_data
from .hessian import hutchinson_trace, hvp, top_eigenvalues
from .slices import line, plane, plane_through

__all__ = [
    "hutchinson_trace",
    "hvp",
    "layout_of",
    "line",
    "loss_of",
    "normalize_direction",
    "pca_directions",
    "plane",
    "plane_through",
    "probe_data",
    "random_direction",
    "top_eigenvalues",
]
