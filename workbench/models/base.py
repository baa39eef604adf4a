"""What every stacked model family shares: the flat parameter layout and the stacked model.

Every parameter carries a leading run axis and lives in one flat buffer ``[N, P]``: a run's
parameter vector is one row of that buffer (landscapes, PCA and interpolation use the row
directly), and an optimizer step over all runs is a few elementwise ops on ``[N, P]``.

Each layer is exposed as a view of the flat buffer (``[N, *shape]``), so the forward pass of
all runs is a handful of batched matrix products. Per-run initialization draws from a
``torch.Generator`` seeded with the run's seed, in the same order and with the same
distributions as the family's single-run ``torch.nn`` twin (``config.reference``), so run
``i`` of a stack starts from exactly the weights of a single model made with its seed.

A model family is a frozen config dataclass with: ``check_data(info)`` (which datasets it can
read), ``dims(info) -> (in_dim, out_dim)``, ``prepare(data, x)`` (inputs as the model reads
them), ``layout(in_dim, out_dim)``, ``init_row(layout, seed)``, ``forward(params, x, stats)``
and ``reference(in_dim, out_dim, seed)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ACTIVATIONS", "Layout", "ParamInfo", "StackedModel", "cross_entropy"]

ACTIVATIONS: dict[str, tuple] = {
    # name -> (functional form, nn.Module class for the single-run reference)
    "relu": (F.relu, nn.ReLU),
    "gelu": (F.gelu, nn.GELU),
    "tanh": (torch.tanh, nn.Tanh),
    "silu": (F.silu, nn.SiLU),
}


@dataclass(frozen=True)
class ParamInfo:
    """One parameter tensor of a single run: its name, shape, fan-in and role.

    ``role`` tells optimizers what the tensor is: ``"weight"`` (a hidden 2-D matrix, the kind
    Muon orthogonalizes), ``"head"`` (the output layer), ``"embedding"``, ``"bias"`` or
    ``"norm"`` (gains and offsets of normalization layers).
    """

    name: str
    shape: tuple[int, ...]
    fan_in: int
    role: str = "weight"

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Layout:
    """Where each parameter of one run sits in a flat row of length ``size``."""

    params: tuple[ParamInfo, ...]

    @property
    def offsets(self) -> tuple[int, ...]:
        out, pos = [], 0
        for p in self.params:
            out.append(pos)
            pos += p.numel
        return tuple(out)

    @property
    def size(self) -> int:
        return sum(p.numel for p in self.params)

    def views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Views ``[N, *shape]`` of each parameter into a flat ``[N, P]`` buffer (no copies)."""
        n = flat.shape[0]
        return [
            flat[:, off : off + p.numel].view(n, *p.shape)
            for p, off in zip(self.params, self.offsets, strict=True)
        ]


class StackedModel:
    """N runs of one architecture, parameters in one flat ``[N, P]`` buffer.

    Parameters
    ----------
    config
        The architecture (for example :class:`~workbench.models.MLP`).
    in_dim, out_dim
        Input features and output classes.
    seeds
        One init seed per run.
    device, dtype
        Where the buffer lives and its precision (fp32 by default).

    Examples
    --------
    >>> from workbench.models import MLP
    >>> m = StackedModel(MLP(hidden=(16,)), in_dim=4, out_dim=3, seeds=[0, 1, 2])
    >>> m.flat.shape
    torch.Size([3, 131])
    >>> m(torch.randn(3, 5, 4)).shape   # (N, B, C)
    torch.Size([3, 5, 3])
    """

    def __init__(
        self,
        config,
        *,
        in_dim: int,
        out_dim: int,
        seeds: Sequence[int],
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.config = config
        self.layout = config.layout(in_dim, out_dim)
        rows = [config.init_row(self.layout, s) for s in seeds]
        self.flat = torch.stack(rows).to(device=device, dtype=dtype)  # (N, P)
        self.grad = torch.zeros_like(self.flat)  # (N, P), filled by loss_and_grad
        # Leaves that autograd differentiates: views sharing storage with the flat buffer, so an
        # in-place optimizer step on `flat` is what the next forward pass sees.
        self._make_views()

    def _make_views(self) -> None:
        self.params = [v.detach().requires_grad_() for v in self.layout.views(self.flat)]
        self._grad_views = [g.view(g.shape[0], -1) for g in self.layout.views(self.grad)]

    @torch.no_grad()
    def take(self, index: torch.Tensor) -> None:
        """Keep the runs ``index`` (rows may repeat: a fork copies its parent's parameters)."""
        self.flat = self.flat.index_select(0, index).contiguous()
        self.grad = torch.zeros_like(self.flat)
        self._make_views()

    @property
    def n_runs(self) -> int:
        return self.flat.shape[0]

    def __call__(self, x: torch.Tensor, stats: dict | None = None) -> torch.Tensor:
        return self.config.forward(self.params, x, stats)

    def loss_and_grad(
        self, x: torch.Tensor, y: torch.Tensor, stats: dict | None = None
    ) -> torch.Tensor:
        """Per-run mean cross-entropy ``[N]`` of one batch per run.

        ``x`` is ``[N, B, ...]`` and ``y`` ``[N, B]`` (a label per example) or ``[N, B, T]`` (a
        label per position). Fills :attr:`grad` (``[N, P]``) with each run's gradient of its
        own loss; the family's per-step statistics (e.g. attention logits) go into ``stats``.
        """
        logits = self(x, stats)  # (N, B, [T,] C)
        loss = cross_entropy(logits, y)  # (N,)
        # The runs are independent, so d(sum)/d(theta_i) is run i's own gradient.
        grads = torch.autograd.grad(loss.sum(), self.params)
        n = logits.shape[0]
        for dst, g in zip(self._grad_views, grads, strict=True):
            dst.copy_(g.view(n, -1))
        return loss.detach()

    @torch.no_grad()
    def evaluate(
        self, x: torch.Tensor, y: torch.Tensor, *, max_elements: int = 2**26
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean loss and accuracy ``[N]`` of every run on one shared set ``x [M, ...]``.

        ``y`` is ``[M]`` or ``[M, T]`` (accuracy per position). Runs are processed in groups
        of at most ``max_elements // (M * P)`` (a rough bound on activations per run).
        """
        group = max(1, max_elements // max(1, x.shape[0] * self.layout.size))
        losses, accs = [], []
        for lo in range(0, self.n_runs, group):
            params = [p[lo : lo + group] for p in self.params]
            logits = self.config.forward(params, x, None)  # (n_g, M, [T,] C)
            yy = y.expand(logits.shape[0], *y.shape)
            losses.append(cross_entropy(logits, yy))
            accs.append((_align(logits, yy).argmax(-1) == yy).float().flatten(1).mean(1))
        return torch.cat(losses), torch.cat(accs)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-run mean cross-entropy of ``logits [N, B, ..., C]`` against ``y [N, B, ...]``.

    Classes go to dim 1 (``[N, C, B, ...]``): several times faster on CPU than ``[N*B, C]``
    rows. Logits with one more position axis than ``y`` (a sequence model on a classification
    task) are read at the last position.
    """
    logits = _align(logits, y)
    ce = F.cross_entropy(logits.movedim(-1, 1), y, reduction="none")  # (N, B, ...)
    return ce.flatten(1).mean(1)


def _align(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A sequence model classifying a whole sequence answers at its last position."""
    return logits[..., -1, :] if logits.dim() == y.dim() + 2 else logits
