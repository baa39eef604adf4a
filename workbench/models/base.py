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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "EVAL_MAX_BYTES",
    "LOSSES",
    "Layout",
    "ParamInfo",
    "StackedModel",
    "cross_entropy",
    "example_losses",
    "loss_name",
    "mean_loss",
]

EVAL_MAX_BYTES = 256 * 2**20  # default bound on the activations of one evaluation pass
# On CPU, runs are grouped into passes of about this size (never splitting a run's examples for
# it): a 15-run split-digits bucket often took up to 2x as long in one ~3 MB pass as in two
# ~1.5 MB passes (the allocator can map and unmap the larger buffers at every evaluation:
# ~1,400 page faults each), while splitting examples into small chunks slowed a transformer
# down 2-3x.
EVAL_CPU_PASS_BYTES = 2 * 2**20


# The training losses a model config may name in its ``loss`` field (see :func:`example_losses`).
LOSSES = ("cross_entropy", "mse")

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

    def head_mask(self) -> torch.Tensor:
        """``[P]`` bool: the columns of the output layer, its weight (role ``"head"``) and the
        bias of the same layer (whose role stays ``"bias"`` for filter normalization).

        Examples
        --------
        >>> from workbench.models import MLP
        >>> lay = MLP(hidden=(4,)).layout(3, 2)
        >>> [int(lay.head_mask()[o]) for o in lay.offsets]   # W0, b0, W1 (head), b1 (head)
        [0, 0, 1, 1]
        """
        heads = {p.name.rsplit(".", 1)[0] for p in self.params if p.role == "head"}
        mask = torch.zeros(self.size, dtype=torch.bool)
        for p, off in zip(self.params, self.offsets, strict=True):
            if p.role == "head" or p.name.rsplit(".", 1)[0] in heads:
                mask[off : off + p.numel] = True
        return mask

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

    @classmethod
    def of_rows(cls, config, layout: Layout, rows: torch.Tensor) -> StackedModel:
        """A stacked model whose runs are the parameter rows ``rows [M, P]`` (shared, not
        copied), for evaluation only: any row of the layout's size is a model, e.g. the points
        of a loss-landscape grid. It has no gradient buffer (``loss_and_grad`` needs a model
        made the usual way).

        Examples
        --------
        >>> from workbench.models import MLP
        >>> m = StackedModel(MLP(hidden=(8,)), in_dim=4, out_dim=3, seeds=[0])
        >>> twin = StackedModel.of_rows(m.config, m.layout, m.flat.repeat(5, 1))
        >>> twin.n_runs, bool(torch.equal(twin(torch.ones(2, 4))[3], m(torch.ones(2, 4))[0]))
        (5, True)
        """
        if rows.dim() != 2 or rows.shape[1] != layout.size:
            raise ValueError(
                f"of_rows: rows of shape {tuple(rows.shape)} must be [M, {layout.size}] "
                "(one parameter row of this layout per model)"
            )
        self = cls.__new__(cls)
        self.config, self.layout, self.flat, self.grad = config, layout, rows, None
        self.params = layout.views(rows)
        self._grad_views = []
        return self

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
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        stats: dict | None = None,
        extra: Callable[[torch.Tensor], torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        """Per-run mean loss ``[N]`` of one batch per run (the config's ``loss``:
        cross-entropy unless it names another, :func:`example_losses`).

        ``x`` is ``[N, B, ...]`` and ``y`` ``[N, B]`` (a label per example) or ``[N, B, T]`` (a
        label per position). Fills :attr:`grad` (``[N, P]``) with each run's gradient of its
        own loss; the family's per-step statistics (e.g. attention logits) go into ``stats``.
        ``extra``, given the logits, returns a per-run loss ``[N]`` added to the one
        differentiated (a consistency loss) or ``None``; the loss returned is the model's own.
        """
        logits = self(x, stats)  # (N, B, [T,] C)
        loss = mean_loss(logits, y, loss_name(self.config))  # (N,)
        more = extra(logits) if extra is not None else None
        total = loss if more is None else loss + more
        # The runs are independent, so d(sum)/d(theta_i) is run i's own gradient.
        grads = torch.autograd.grad(total.sum(), self.params)
        n = logits.shape[0]
        for dst, g in zip(self._grad_views, grads, strict=True):
            dst.copy_(g.view(n, -1))
        return loss.detach()

    @torch.no_grad()
    def evaluate(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        max_bytes: int = EVAL_MAX_BYTES,
        max_elements: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean loss and accuracy ``[N]`` of every run on one shared set ``x [M, ...]``.

        ``y`` is ``[M]`` or ``[M, T]`` (means over every position). Runs go in groups of about
        ``max_bytes`` of activations (:meth:`evaluate_examples`); ``max_elements`` is the old
        name of the bound, in 4-byte elements (kept for callers that still pass it).
        """
        if max_elements is not None:
            max_bytes = 4 * max_elements
        loss, correct, _ = self.evaluate_examples(x, y, max_bytes=max_bytes)
        n = y.numel()
        return loss.sum(1) / n, correct.sum(1) / n

    @torch.no_grad()
    def evaluate_examples(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
        max_bytes: int = EVAL_MAX_BYTES,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Per-example loss and correctness of every run on one shared set ``x [M, ...]``.

        Returns ``(loss, correct, correct_masked)``, each ``[N, M]`` in the model's dtype: the
        loss (the config's, :func:`example_losses`) and the number of correct argmax
        predictions of each example, both summed over positions when ``y`` is ``[M, T]`` (a
        target per position), so the mean over a set is the sum over its examples divided by
        its number of targets, and accuracy sums are exact integers. With ``mask`` (``[M, C]``
        bool, the classes each example may be predicted as), ``correct_masked`` counts the
        argmax over the allowed logits only (task-IL accuracy); otherwise it is ``None``.

        Runs are forwarded in groups whose estimated activations (:meth:`activation_bytes`)
        stay within ``max_bytes``; when one run's pass over all ``M`` examples is larger than
        that, the examples are split into chunks too. On CPU, groups of runs are also kept
        to about ``EVAL_CPU_PASS_BYTES`` (2 MiB; cache-sized passes are faster there), which
        never splits a run's examples. Every group computes the same per-run values, so results
        do not depend on ``max_bytes`` (up to the rounding of a matrix product of another
        shape). No host sync: the groups are fixed by the shapes alone.
        """
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"evaluate: max_bytes={max_bytes!r} must be an int >= 1")
        m, per_example = x.shape[0], self.activation_bytes(x[:1])
        chunk = min(m, max(1, max_bytes // per_example))  # examples per pass
        if self.flat.device.type == "cpu":
            max_bytes = min(max_bytes, EVAL_CPU_PASS_BYTES)
        group = max(1, max_bytes // (chunk * per_example))  # runs per pass
        rows: list[list[tuple]] = []
        for lo in range(0, self.n_runs, group):
            params = [p[lo : lo + group] for p in self.params]
            rows.append(
                [
                    self._examples(params, x[a : a + chunk], y[a : a + chunk], mask, a, chunk)
                    for a in range(0, m, chunk)
                ]
            )
        out = []
        for q in range(3):
            if q == 2 and mask is None:
                out.append(None)
                continue
            parts = [torch.cat([c[q] for c in r], 1) if len(r) > 1 else r[0][q] for r in rows]
            out.append(torch.cat(parts) if len(parts) > 1 else parts[0])
        return out[0], out[1], out[2]

    def _examples(self, params, x, y, mask, a: int, chunk: int) -> tuple:
        """Per-example sums ``[n_g, m]`` of one group of runs on one chunk of examples."""
        logits = self.config.forward(params, x, None)  # (n_g, m, [T,] C)
        yy = y.expand(logits.shape[0], *y.shape)
        logits = _align(logits, yy)
        ce = example_losses(logits.movedim(-1, 1), yy, loss_name(self.config))  # (n_g, m, [T])
        loss = ce.flatten(2).sum(2) if ce.dim() > 2 else ce
        correct = _count_correct(logits, yy)
        masked = None
        if mask is not None:
            allowed = mask[a : a + chunk].view(-1, *[1] * (logits.dim() - 3), logits.shape[-1])
            masked = _count_correct(logits.masked_fill(~allowed, float("-inf")), yy)
        return loss, correct, masked

    def activation_bytes(self, x: torch.Tensor) -> int:
        """Estimated activation bytes of one run's evaluation pass over the examples ``x``.

        Per position of an example: the output width of every matrix of the layout (every
        layer's output counted once, as if none were freed), the logits four times (the
        logits, their class-first copy for the loss, its log-softmax and a masked copy), and
        for a family with attention (``heads``, ``layers``) two ``heads x T`` score rows per
        layer (scores and their softmax). Positions are ``x``'s second axis for token inputs
        (``[M, T]`` integers), else 1. An estimate for grouping, not a measurement.
        """
        tokens = not torch.is_floating_point(x) and x.dim() == 2
        positions = x.shape[1] if tokens else 1
        widths = sum(p.shape[-1] for p in self.layout.params if len(p.shape) == 2)
        classes = self.layout.params[-1].shape[-1]  # the head's (or last bias's) width
        attention = 2 * getattr(self.config, "heads", 0) * getattr(self.config, "layers", 0)
        per_position = widths + 4 * classes + attention * positions
        return max(1, x.shape[0] * positions * per_position * self.flat.element_size())


def loss_name(config) -> str:
    """The training loss a model config names (its ``loss`` field; cross-entropy without one)."""
    return getattr(config, "loss", "cross_entropy")


def example_losses(
    logits: torch.Tensor, y: torch.Tensor, loss: str = "cross_entropy"
) -> torch.Tensor:
    """Per-example losses ``[N, B, ...]`` of logits with the classes at dim 1 (``[N, C, B,
    ...]``) against integer labels ``y [N, B, ...]``.

    ``loss`` is one of :data:`LOSSES`: ``"cross_entropy"`` (of the softmax, in nats) or
    ``"mse"``, half the squared distance between the logits and the one-hot target,
    ``0.5 * ||f(x) - e_y||^2`` summed over the classes (its gradient in the logits is ``f(x) -
    e_y``).

    Examples
    --------
    >>> logits = torch.tensor([[[2.0], [0.0], [0.0]]])   # [N=1, C=3, B=1]
    >>> example_losses(logits, torch.tensor([[0]]), "mse")   # 0.5 * ((2-1)^2 + 0 + 0)
    tensor([[0.5000]])
    """
    if loss == "cross_entropy":
        return F.cross_entropy(logits, y, reduction="none")
    if loss == "mse":
        target = torch.zeros_like(logits).scatter_(1, y.unsqueeze(1), 1.0)
        return 0.5 * (logits - target).square().sum(1)
    raise ValueError(f"example_losses: loss={loss!r} is not one of {list(LOSSES)}")


def mean_loss(logits: torch.Tensor, y: torch.Tensor, loss: str = "cross_entropy") -> torch.Tensor:
    """Per-run mean loss (:func:`example_losses`) of ``logits [N, B, ..., C]`` against ``y [N,
    B, ...]``.

    Classes go to dim 1 (``[N, C, B, ...]``): several times faster on CPU than ``[N*B, C]``
    rows. Logits with one more position axis than ``y`` (a sequence model on a classification
    task) are read at the last position.
    """
    logits = _align(logits, y)
    per = example_losses(logits.movedim(-1, 1), y, loss)  # (N, B, ...)
    return per.flatten(1).mean(1)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-run mean cross-entropy of ``logits [N, B, ..., C]`` against ``y [N, B, ...]``
    (:func:`mean_loss` with ``loss="cross_entropy"``)."""
    return mean_loss(logits, y, "cross_entropy")


def _count_correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Correct argmax predictions ``[N, M]`` per example (summed over positions)."""
    hit = (logits.argmax(-1) == y).to(logits.dtype)
    return hit.flatten(2).sum(2) if hit.dim() > 2 else hit


def _align(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A sequence model classifying a whole sequence answers at its last position."""
    return logits[..., -1, :] if logits.dim() == y.dim() + 2 else logits
