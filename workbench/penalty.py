"""Regularisation strategies against forgetting: an L2 or EWC pull toward earlier tasks' weights.

``RunSpec(penalty=Penalty(kind, strength))`` adds, from the end of the first task on, the
gradient of ``(λ/2)·Σ_i w_i·(θ_i − θ*_i)²`` to every step's gradient, ``θ*`` the parameters at
the end of the most recent task and ``w`` a weight per parameter:

- ``"l2"``: ``w = 1`` (a plain pull toward the last task's weights);
- ``"ewc"``: ``w = F``, the diagonal empirical Fisher information, ``F_i = mean over examples of
  (∂ℓ/∂θ_i)²``, per-example gradients on ``samples`` examples of the finished task's training
  set, summed over the tasks finished so far (online EWC without decay; Kirkpatrick et al.
  2017, Schwarz et al. 2018).

The examples are the first ``samples`` of a fixed, seed-independent permutation of the task's
training set, so every run estimates its Fisher on the same examples and
:mod:`workbench.reference` reproduces it. The Fisher is the empirical Fisher of the model's own
loss (:meth:`~workbench.models.StackedModel.loss_and_grad`): for an ``MLP(loss="mse")``, the
mean squared per-example gradient of the squared error. The recorded ``train_loss`` is the
model's loss alone (without the penalty); ``grad_norm`` is the norm of the full gradient.

Runs with different strengths and kinds (and without a penalty: ``strength=0``) stack in one
lockstep bucket.

Examples
--------
>>> Penalty(kind="ewc", strength=100.0).kind
'ewc'
>>> Penalty(kind="l1")
Traceback (most recent call last):
...
ValueError: Penalty: kind='l1' is not a penalty; allowed: l2, ewc
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch

from ._fields import check_keys

__all__ = ["Penalty", "KINDS", "StackedPenalty", "fisher_indices"]

KINDS = ("l2", "ewc")


@dataclass(frozen=True)
class Penalty:
    """A pull toward the weights the run had at the end of its last task.

    Parameters
    ----------
    kind
        ``"l2"`` or ``"ewc"``.
    strength
        ``λ >= 0`` (0: no penalty, the run trains as without one).
    samples
        EWC: examples of each finished task its Fisher information is estimated on (>= 1).
    """

    kind: str = "ewc"  # l2 | ewc
    strength: float = 1.0  # λ
    samples: int = 200  # ewc: examples per finished task for the Fisher

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"Penalty: kind={self.kind!r} is not a penalty; allowed: {', '.join(KINDS)}"
            )
        s = self.strength
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 <= s < math.inf:
            raise ValueError(f"Penalty: strength={s!r} must be a finite number >= 0")
        object.__setattr__(self, "strength", float(s))
        n = self.samples
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"Penalty: samples={n!r} must be an int >= 1")

    def structure(self) -> tuple:
        """What runs of one bucket must share (the Fisher's examples)."""
        return ("penalty", self.samples)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Penalty:
        check_keys(cls, d)
        return cls(**d)


def fisher_indices(n: int, samples: int, task: int) -> torch.Tensor:
    """The training examples of stream position ``task`` (``n`` of them) the Fisher uses: the
    first ``min(samples, n)`` of a fixed permutation (independent of any run's seed).

    Examples
    --------
    >>> fisher_indices(10, 3, 1).tolist() == fisher_indices(10, 3, 1).tolist()
    True
    >>> len(fisher_indices(10, 30, 0))
    10
    """
    g = torch.Generator().manual_seed(0x3EC0 + task)
    return torch.randperm(n, generator=g)[: min(samples, n)]


class StackedPenalty:
    """The penalties of a bucket's runs: anchors and weights ``[N, P]`` on the device."""

    def __init__(self, penalties: Sequence[Penalty | None], flat: torch.Tensor) -> None:
        device = flat.device
        ps = [p if p is not None else Penalty(kind="l2", strength=0.0) for p in penalties]
        self.samples = ps[0].samples
        self.strength = torch.tensor([[p.strength] for p in ps], device=device)  # (N, 1)
        self.ewc = torch.tensor([[p.kind == "ewc"] for p in ps], device=device)  # (N, 1)
        self.anchor = torch.zeros_like(flat)
        self.fisher = torch.zeros_like(flat)  # summed over finished tasks (EWC runs)
        self.weight = torch.zeros_like(flat)  # λ·F or λ; 0 until a task has finished

    def add_to(self, grad: torch.Tensor, flat: torch.Tensor) -> None:
        """``grad += weight · (flat − anchor)`` (in place; safe inside a captured step)."""
        grad.add_(self.weight * (flat - self.anchor))

    @torch.no_grad()
    def consolidate(self, model, x: torch.Tensor, y: torch.Tensor, task: int) -> None:
        """At the end of a task: anchor at the current weights; add the Fisher of the finished
        task (training inputs ``x``, targets ``y``, stream position ``task``)."""
        self.anchor.copy_(model.flat)
        idx = fisher_indices(x.shape[0], self.samples, task).to(x.device)
        n = model.n_runs
        total = torch.zeros_like(self.fisher)
        with torch.enable_grad():
            for i in idx.tolist():  # one example at a time: per-example gradients
                xi = x[i : i + 1].expand(n, 1, *x.shape[1:])
                yi = y[i : i + 1].expand(n, 1, *y.shape[1:])
                model.loss_and_grad(xi, yi)
                total += model.grad.square()
        self.fisher += total / len(idx)
        self.weight.copy_(self.strength * torch.where(self.ewc, self.fisher, 1.0))

    def take(self, index: torch.Tensor) -> None:
        """Keep (and repeat) the runs ``index`` (a fork copies its parent's penalty state)."""
        for name in ("strength", "ewc", "anchor", "fisher", "weight"):
            setattr(self, name, getattr(self, name).index_select(0, index).contiguous())
