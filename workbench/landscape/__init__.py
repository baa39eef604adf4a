"""Loss landscapes as batches: every point of a slice is a row of parameters, and the stacked
model evaluates the rows together.

- :mod:`.evaluate`: :func:`loss_of` (loss and accuracy of any parameter rows ``[M, P]`` on a
  fixed data subset, in chunks sized by activation memory) and :func:`probe_data`;
- :mod:`.directions`: random directions, filter- and layer-normalized (Li et al. 2018), with
  explicit seeds so runs can share them, and the principal directions of a trajectory;
- :mod:`.slices`: 1-D lines between two points (with the barrier height) and 2-D planes, as
  ``xarray`` objects with the directions' provenance in their attrs (an MLP's points by its
  first-layer products, :class:`SliceEvaluator`; at most ``MAX_GRID_POINTS`` points);
- :mod:`.grid`: planes that fill in block by block, coarse to fine (:func:`iter_plane`, for a
  page that must not wait), and :class:`GridCache`, an LRU of the windows already computed;
- :mod:`.hessian`: Hessian-vector products by double backward through the stacked forward, the
  top eigenvalues (power iteration with deflation, batched over rows; optionally of Adam's
  preconditioned ``P⁻¹H``) and Hutchinson's trace;
- :mod:`.spectrum`: Lanczos batched over rows and the spectral density by stochastic Lanczos
  quadrature;
- :mod:`.sharpness`: each run's stability threshold (2/η, with momentum, Adam's) and the
  sharpness it is about;
- :mod:`.planes`: :class:`Plane` (a centre, two directions, the projection of any path onto
  them) and :func:`plane_of`, the plane a lab asks for from a run's snapshots.
"""

from .directions import normalize_direction, pca_directions, random_direction
from .evaluate import SliceEvaluator, layout_of, loss_of, probe_data
from .grid import GridCache, iter_plane, refinement_order, tensor_digest, window_axes
from .hessian import hutchinson_trace, hvp, top_eigenvalues
from .planes import DIRECTIONS, Plane, plane_of
from .sharpness import sharpness_of, stability_threshold
from .slices import MAX_GRID_POINTS, line, plane, plane_through
from .spectrum import lanczos, spectral_density

__all__ = [
    "DIRECTIONS",
    "GridCache",
    "Plane",
    "lanczos",
    "plane_of",
    "sharpness_of",
    "spectral_density",
    "stability_threshold",
    "MAX_GRID_POINTS",
    "SliceEvaluator",
    "hutchinson_trace",
    "hvp",
    "iter_plane",
    "layout_of",
    "line",
    "loss_of",
    "normalize_direction",
    "pca_directions",
    "plane",
    "plane_through",
    "probe_data",
    "random_direction",
    "refinement_order",
    "tensor_digest",
    "top_eigenvalues",
    "window_axes",
]
