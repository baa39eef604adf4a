"""Stacked model families: N runs of one architecture as one model.

Every family's parameters carry a leading run axis and live in one flat ``[N, P]`` buffer
(:class:`StackedModel`); each has a plain single-run ``torch.nn`` twin built by
``config.reference(in_dim, out_dim, seed)`` with exactly the same initial weights.
"""

from .base import (
    ACTIVATIONS,
    LOSSES,
    Layout,
    ParamInfo,
    StackedModel,
    cross_entropy,
    example_losses,
    loss_name,
    mean_loss,
)
from .mlp import MLP
from .transformer import Transformer, TransformerReference

MODELS: dict[str, type] = {"MLP": MLP, "Transformer": Transformer}

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "Layout",
    "MLP",
    "MODELS",
    "ParamInfo",
    "StackedModel",
    "Transformer",
    "TransformerReference",
    "cross_entropy",
    "example_losses",
    "loss_name",
    "mean_loss",
]
