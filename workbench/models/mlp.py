"""The stacked multilayer perceptron."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..data import TensorData, one_hot_pairs
from .base import ACTIVATIONS, LOSSES, Layout, ParamInfo

__all__ = ["MLP"]


@dataclass(frozen=True)
class MLP:
    """A multilayer perceptron config; the stacked model is built by :class:`StackedModel`.

    Parameters
    ----------
    hidden
        Widths of the hidden layers (``()`` gives a linear model).
    activation
        One of ``relu``, ``gelu``, ``tanh``, ``silu``.
    in_dim, out_dim
        Input features and classes. ``None`` (default) takes them from the dataset; when given,
        they must match it.
    loss
        The training (and evaluation) loss: ``"cross_entropy"`` (default) or ``"mse"``, the
        mean over the batch of ``0.5 * ||f(x) - e_y||^2``, half the squared distance between
        the logits and the one-hot target summed over the classes
        (:func:`~workbench.models.example_losses`). Accuracy is the argmax either way. A spec
        at the default loss serializes without the field, so its cache key is the one it had
        before the field existed.

    Examples
    --------
    >>> m = MLP(hidden=(100, 100))
    >>> m.layout(40, 10).size   # 40*100 + 100 + 100*100 + 100 + 100*10 + 10
    15210
    """

    hidden: tuple[int, ...] = (100, 100)  # hidden widths
    activation: str = "relu"  # nonlinearity after each hidden layer
    in_dim: int | None = None  # None: from the dataset
    out_dim: int | None = None  # None: from the dataset
    # "cross_entropy" or "mse" (0.5 * squared distance to the one-hot target); left out of the
    # spec's dict at the default, so the cache keys of specs without it do not change
    loss: str = dataclasses.field(default="cross_entropy", metadata={"omit_default": True})

    def __post_init__(self) -> None:
        hidden = self.hidden
        if isinstance(hidden, int):
            hidden = (hidden,)
        try:
            hidden = tuple(hidden)
        except TypeError:
            raise ValueError(
                f"MLP: hidden={self.hidden!r} must be a sequence of positive ints"
            ) from None
        for w in hidden:
            if isinstance(w, bool) or not isinstance(w, int) or w < 1:
                raise ValueError(f"MLP: hidden={self.hidden!r} must hold positive ints, got {w!r}")
        object.__setattr__(self, "hidden", hidden)
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"MLP: activation={self.activation!r} is not one of {sorted(ACTIVATIONS)}"
            )
        if self.loss not in LOSSES:
            raise ValueError(f"MLP: loss={self.loss!r} is not one of {list(LOSSES)}")
        for field in ("in_dim", "out_dim"):
            v = getattr(self, field)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"MLP: {field}={v!r} must be a positive int or None")

    def check_data(self, info: Mapping) -> None:
        """An MLP reads features (token pairs become one-hot vectors) and predicts a class."""
        if info["task"] != "classification":
            raise ValueError(
                f"MLP: a {info['task']} dataset needs a sequence model (Transformer); "
                "MLP needs a classification dataset"
            )

    def dims(self, info: Mapping) -> tuple[int, int]:
        """Input features and classes of a dataset (from :func:`workbench.data.info`)."""
        vocab = info.get("vocab")
        in_dim = info["input_dim"] * vocab if vocab else info["input_dim"]
        return in_dim, info["n_classes"]

    def prepare(self, d: TensorData, x: torch.Tensor) -> torch.Tensor:
        """Inputs as the MLP reads them: flat float features; token pairs one-hot."""
        if d.vocab is not None:
            return one_hot_pairs(x, d.vocab)
        return x.reshape(x.shape[0], -1).float()

    def widths(self, in_dim: int, out_dim: int) -> tuple[int, ...]:
        """Layer widths from input to output, checking explicit dims against the data."""
        for field, given, data in (
            ("in_dim", self.in_dim, in_dim),
            ("out_dim", self.out_dim, out_dim),
        ):
            if given is not None and given != data:
                raise ValueError(f"MLP: {field}={given} does not match the dataset's {data}")
        return (in_dim, *self.hidden, out_dim)

    def layout(self, in_dim: int, out_dim: int) -> Layout:
        dims = self.widths(in_dim, out_dim)
        params = []
        last = len(dims) - 2
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            # Weights are stored [in, out] so the stacked forward is x @ W (one bmm per layer).
            params.append(
                ParamInfo(f"layers.{i}.weight", (a, b), a, "head" if i == last else "weight")
            )
            params.append(ParamInfo(f"layers.{i}.bias", (b,), a, "bias"))
        return Layout(tuple(params))

    def init_row(self, layout: Layout, seed: int) -> torch.Tensor:
        """The flat parameter row of one run, drawn exactly as ``nn.Linear`` draws it."""
        g = torch.Generator().manual_seed(int(seed))
        parts = []
        for p in layout.params:
            if p.name.endswith("weight"):
                fan_in, fan_out = p.shape
                w = torch.empty(fan_out, fan_in)  # nn.Linear's [out, in] order, for the same draws
                nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
                parts.append(w.t().reshape(-1))
            else:
                bound = 1 / math.sqrt(p.fan_in) if p.fan_in > 0 else 0.0
                parts.append(torch.empty(p.shape).uniform_(-bound, bound, generator=g))
        return torch.cat(parts)

    def forward(
        self, params: Sequence[torch.Tensor], x: torch.Tensor, stats: dict | None = None
    ) -> torch.Tensor:
        """Logits of all runs.

        ``x`` is ``[N, B, D]`` (a batch per run) or ``[B, D]`` (one batch shared by all runs);
        the result is ``[N, B, C]``.
        """
        act = ACTIVATIONS[self.activation][0]
        h = x
        n_layers = len(params) // 2
        for i in range(n_layers):
            w, b = params[2 * i], params[2 * i + 1]  # (N, in, out), (N, out)
            if h.dim() == 2:
                h = torch.matmul(h, w) + b.unsqueeze(1)  # (B, in) @ (N, in, out) -> (N, B, out)
            else:
                h = torch.baddbmm(b.unsqueeze(1), h, w)  # (N, B, out)
            if i < n_layers - 1:
                h = act(h)
        return h

    def reference(self, in_dim: int, out_dim: int, seed: int) -> nn.Module:
        """The single-run ``torch.nn`` twin of run ``seed`` (for tests and baselines).

        Examples
        --------
        >>> net = MLP(hidden=(8,)).reference(4, 3, seed=0)
        >>> from workbench.models import StackedModel
        >>> stacked = StackedModel(MLP(hidden=(8,)), in_dim=4, out_dim=3, seeds=[0])
        >>> bool(torch.equal(stacked.params[0][0], net[0].weight.t()))
        True
        """
        dims = self.widths(in_dim, out_dim)
        act_cls = ACTIVATIONS[self.activation][1]
        torch.manual_seed(int(seed))
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(act_cls())
        return nn.Sequential(*layers)
