"""Stacked model families: N runs of one architecture as one model.

Every parameter carries a leading run axis and lives in one flat buffer ``[N, P]``: a run's
parameter vector is one row of that buffer (landscapes, PCA and interpolation use the row
directly), and an optimizer step over all runs is a few elementwise ops on ``[N, P]``.

Each layer is exposed as a view of the flat buffer (``[N, *shape]``), so the forward pass of
all runs is a handful of batched matrix products. Per-run initialization draws from a
``torch.Generator`` seeded with the run's seed, in the same order and with the same
distributions as the single-run ``torch.nn`` model that :meth:`MLP.reference` builds, so run
``i`` of a stack starts from exactly the weights of a single model made with its seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ACTIVATIONS", "MLP", "Layout", "ParamInfo", "StackedModel"]

ACTIVATIONS: dict[str, tuple] = {
    # name -> (functional form, nn.Module class for the single-run reference)
    "relu": (F.relu, nn.ReLU),
    "gelu": (F.gelu, nn.GELU),
    "tanh": (torch.tanh, nn.Tanh),
    "silu": (F.silu, nn.SiLU),
}


@dataclass(frozen=True)
class ParamInfo:
    """One parameter tensor of a single run: its name, shape and fan-in."""

    name: str
    shape: tuple[int, ...]
    fan_in: int

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
        for field in ("in_dim", "out_dim"):
            v = getattr(self, field)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"MLP: {field}={v!r} must be a positive int or None")

    def dims(self, in_dim: int, out_dim: int) -> tuple[int, ...]:
        """Layer widths from input to output, checking explicit dims against the data."""
        for field, given, data in (
            ("in_dim", self.in_dim, in_dim),
            ("out_dim", self.out_dim, out_dim),
        ):
            if given is not None and given != data:
                raise ValueError(f"MLP: {field}={given} does not match the dataset's {data}")
        return (in_dim, *self.hidden, out_dim)

    def layout(self, in_dim: int, out_dim: int) -> Layout:
        dims = self.dims(in_dim, out_dim)
        params = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            # Weights are stored [in, out] so the stacked forward is x @ W (one bmm per layer).
            params.append(ParamInfo(f"layers.{i}.weight", (a, b), a))
            params.append(ParamInfo(f"layers.{i}.bias", (b,), a))
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

    def forward(self, params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
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
        >>> stacked = StackedModel(MLP(hidden=(8,)), in_dim=4, out_dim=3, seeds=[0])
        >>> bool(torch.equal(stacked.params[0][0], net[0].weight.t()))
        True
        """
        dims = self.dims(in_dim, out_dim)
        act_cls = ACTIVATIONS[self.activation][1]
        torch.manual_seed(int(seed))
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(act_cls())
        return nn.Sequential(*layers)


class StackedModel:
    """N runs of one architecture, parameters in one flat ``[N, P]`` buffer.

    Parameters
    ----------
    config
        The architecture (for example :class:`MLP`).
    in_dim, out_dim
        Input features and output classes.
    seeds
        One init seed per run.
    device, dtype
        Where the buffer lives and its precision (fp32 by default).

    Examples
    --------
    >>> m = StackedModel(MLP(hidden=(16,)), in_dim=4, out_dim=3, seeds=[0, 1, 2])
    >>> m.flat.shape
    torch.Size([3, 131])
    >>> m(torch.randn(3, 5, 4)).shape   # (N, B, C)
    torch.Size([3, 5, 3])
    """

    def __init__(
        self,
        config: MLP,
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
        self.params = [v.detach().requires_grad_() for v in self.layout.views(self.flat)]
        self._grad_views = [g.view(g.shape[0], -1) for g in self.layout.views(self.grad)]

    @property
    def n_runs(self) -> int:
        return self.flat.shape[0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.config.forward(self.params, x)

    def loss_and_grad(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-run mean cross-entropy ``[N]`` of batches ``x [N, B, D]``, ``y [N, B]``.

        Fills :attr:`grad` (``[N, P]``) with each run's gradient of its own loss.
        """
        logits = self(x)  # (N, B, C)
        # classes in the middle (N, C, B): several times faster on CPU than (N*B, C) rows
        loss = F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1)  # (N,)
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
        """Mean loss and accuracy ``[N]`` of every run on one shared set ``x [M, D]``, ``y [M]``.

        Runs are processed in groups so that activations stay under ``max_elements`` floats.
        """
        n = self.n_runs
        width = max(self.layout.params[i].shape[-1] for i in range(0, len(self.params), 2))
        group = max(1, max_elements // max(1, x.shape[0] * width))
        losses, accs = [], []
        for lo in range(0, n, group):
            params = [p[lo : lo + group] for p in self.params]
            logits = self.config.forward(params, x)  # (n_g, M, C)
            ng, m, c = logits.shape
            ce = F.cross_entropy(logits.reshape(ng * m, c), y.repeat(ng), reduction="none").view(
                ng, m
            )
            losses.append(ce.mean(1))
            accs.append((logits.argmax(-1) == y).float().mean(1))
        return torch.cat(losses), torch.cat(accs)
