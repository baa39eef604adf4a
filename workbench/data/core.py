"""The built form of a dataset, and helpers shared by the dataset families."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True, eq=False, repr=False)
class TensorData:
    """A train/test split as CPU tensors.

    Attributes
    ----------
    x_train, x_test : torch.Tensor
        Classification: ``[n, *input_shape]`` float32 features (int64 tokens ``[n, 2]`` for
        ``modular``). Tokens: int64 ``[n, T]``.
    y_train, y_test : torch.Tensor
        Classification: int64 labels ``[n]``. Tokens: int64 next-token targets ``[n, T]``.
    n_classes : int
        Number of classes, or the vocabulary size for token data.
    task : str
        ``"classification"`` or ``"tokens"``.
    name : str
        The dataset name.
    meta : dict
        Dataset-specific extras (prototypes, transition matrix, modulus, ...).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    task: str
    name: str
    meta: dict = dataclasses.field(default_factory=dict)

    @property
    def input_dim(self) -> int:
        """Flattened feature size (classification) or context length (tokens)."""
        if self.task == "tokens":
            return int(self.x_train.shape[1])
        return math.prod(self.x_train.shape[1:])

    @property
    def vocab(self) -> int | None:
        """Distinct input tokens (token sequences, token pairs), or None for float features."""
        if self.task == "tokens":
            return self.n_classes
        return self.meta.get("vocab")

    @property
    def n_train(self) -> int:
        """Number of training examples (sequences for token data)."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test examples (sequences for token data)."""
        return int(self.x_test.shape[0])

    def __repr__(self) -> str:
        return (
            f"TensorData(name={self.name!r}, task={self.task!r}, n_train={self.n_train}, "
            f"n_test={self.n_test}, x={tuple(self.x_train.shape[1:])} {self.x_train.dtype}, "
            f"n_classes={self.n_classes})"
        )


def _sizes(
    n_train: int, n_test: int, input_dim: int, n_classes: int, task: str, vocab: int | None = None
) -> dict:
    # vocab: the number of distinct input tokens for token inputs, None for float features
    return {
        "n_train": n_train,
        "n_test": n_test,
        "input_dim": input_dim,
        "n_classes": n_classes,
        "task": task,
        "vocab": vocab,
    }


def _rng(seed: int, *keys: int) -> np.random.Generator:
    """An independent stream per (seed, purpose) so one param never shifts another's draws."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def _split_count(n: int, fraction: float) -> int:
    return int(n * fraction)
