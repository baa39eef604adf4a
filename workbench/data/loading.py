"""Building datasets: :func:`load` (memoised per process), :func:`info` and :func:`clear_memo`."""

from __future__ import annotations

import functools
from typing import Any

from . import views as _views
from .core import TensorData
from .registry import DATASETS
from .spec import DataSpec, _as_spec


def load(spec: DataSpec | str, **params: Any) -> TensorData:
    """Build a dataset, or return it from the in-process memo (and, for mnist1d, the disk cache).

    Parameters
    ----------
    spec : DataSpec or str
        A spec, or a dataset name made into one with ``params``.
    **params
        Params (and ``seed``) for a name, or changes applied to a spec with
        :meth:`DataSpec.replace`.

    Returns
    -------
    TensorData
        The same object for equal specs within a process; do not modify it in place.

    Examples
    --------
    >>> from workbench.data import data_spec
    >>> data = load("gaussian", classes=3, dim=2, n_train=30, n_test=9)
    >>> data.x_train.shape, data.y_train.dtype, data.n_classes
    (torch.Size([30, 2]), torch.int64, 3)
    >>> load(data_spec("gaussian", classes=3, dim=2, n_train=30, n_test=9)) is data
    True
    """
    return _load_memo(_as_spec(spec, params))


@functools.lru_cache(maxsize=32)
def _load_memo(spec: DataSpec) -> TensorData:
    if _views.has_views(spec):  # the plain dataset (memoised too), then the views
        return _views.apply(_load_memo(_views.base_spec(spec)), spec)
    return DATASETS[spec.name].build(spec)


def clear_memo() -> None:
    """Forget the in-process results of :func:`load` (the mnist1d disk cache stays).

    Examples
    --------
    >>> clear_memo()
    """
    _load_memo.cache_clear()


def info(spec: DataSpec | str, **params: Any) -> dict[str, Any]:
    """Sizes of a dataset, computed without generating it (a class subset or few shots load the
    labels).

    Parameters
    ----------
    spec : DataSpec or str
        As for :func:`load`.
    **params
        As for :func:`load`.

    Returns
    -------
    dict
        ``n_train``, ``n_test``, ``input_dim``, ``n_classes``, ``task`` (equal to the
        corresponding attributes of ``load(spec)``) and ``vocab`` (distinct input tokens, or
        ``None`` for float features).

    Examples
    --------
    >>> info("markov", vocab=8, context=16)
    {'n_train': 2000, 'n_test': 200, 'input_dim': 16, 'n_classes': 8, 'task': 'tokens',
     'vocab': 8}
    """
    spec = _as_spec(spec, params)
    sizes = DATASETS[spec.name].sizes(spec)
    if _views.counts_examples(spec):  # a class subset or few shots: counting needs the labels
        n_train, n_test = _views.subset_sizes(_load_memo(_views.base_spec(spec)), spec)
        sizes = {**sizes, "n_train": n_train, "n_test": n_test}
    return sizes
