"""Loss and accuracy of arbitrary parameter rows: the primitive every landscape slice uses."""

from __future__ import annotations

import torch

from .. import data as _data
from ..evaluation import probe_indices
from ..models import MLP, StackedModel, Transformer
from ..models.base import EVAL_MAX_BYTES

__all__ = ["loss_of", "probe_data", "layout_of"]


def probe_data(
    model: MLP | Transformer,
    data: _data.DataSpec | str,
    *,
    split: str = "train",
    size: int = 512,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed subset of ``data`` as ``model`` reads it: the first ``size`` examples of a
    fixed permutation of the ``split`` set (:func:`~workbench.evaluation.probe_indices`, the
    same for every caller), so every point of every slice is measured on the same examples.

    Examples
    --------
    >>> x, y = probe_data(MLP(), "digits", size=100)
    >>> x.shape, y.shape
    (torch.Size([100, 64]), torch.Size([100]))
    """
    if split not in ("train", "test"):
        raise ValueError(f"probe_data: split={split!r} must be 'train' or 'test'")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"probe_data: size={size!r} must be an int >= 1")
    spec = _data.data_spec(data) if isinstance(data, str) else data
    d = _data.load(spec)
    x, y = (d.x_train, d.y_train) if split == "train" else (d.x_test, d.y_test)
    idx = probe_indices(x.shape[0], size)
    return model.prepare(d, x[idx]).to(device), y[idx].to(device)


def layout_of(model: MLP | Transformer, data: _data.DataSpec | str):
    """The parameter layout of ``model`` on ``data`` (what a row of ``theta`` must follow)."""
    spec = _data.data_spec(data) if isinstance(data, str) else data
    return model.layout(*model.dims(_data.info(spec)))


def loss_of(
    model: MLP | Transformer,
    theta: torch.Tensor,
    data: _data.DataSpec | str,
    *,
    split: str = "train",
    size: int = 512,
    batch: tuple[torch.Tensor, torch.Tensor] | None = None,
    max_bytes: int = EVAL_MAX_BYTES,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and accuracy ``[M]`` of the parameter rows ``theta [M, P]`` on a fixed subset.

    Every row is a model of architecture ``model`` on ``data`` (the engine's flat layout:
    weights stored ``[in, out]``); all rows are evaluated together by the stacked forward, in
    groups sized by activation memory (``max_bytes``), so a 51 x 51 grid is one call. The
    examples are :func:`probe_data` (``size`` of the ``split`` set), or ``batch`` (``(x, y)``
    already prepared for the model, e.g. one :func:`probe_data` reused across calls).

    Examples
    --------
    >>> from workbench.models import StackedModel
    >>> m = StackedModel(MLP(hidden=(8,)), in_dim=64, out_dim=10, seeds=[0, 1])
    >>> loss, acc = loss_of(MLP(hidden=(8,)), m.flat, "digits", size=64)
    >>> loss.shape, bool((acc >= 0).all() and (acc <= 1).all())
    (torch.Size([2]), True)
    """
    layout = layout_of(model, data)
    if theta.dim() == 1:
        theta = theta[None]
    if theta.dim() != 2 or theta.shape[1] != layout.size:
        raise ValueError(
            f"loss_of: theta of shape {tuple(theta.shape)} must be [M, {layout.size}] "
            f"(rows of {type(model).__name__}'s layout on this data)"
        )
    x, y = (
        batch
        if batch is not None
        else probe_data(model, data, split=split, size=size, device=theta.device)
    )
    rows = StackedModel.of_rows(model, layout, theta)
    return rows.evaluate(x, y, max_bytes=max_bytes)
