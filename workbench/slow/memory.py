"""The fast error memory of :class:`~workbench.slow.ErrorMemory`, stacked over a bucket's runs.

Each run keeps a ring of its last ``size`` training inputs ``[S, D]`` and their residuals
``[S, C]`` (the bucket's buffer has the largest ``size``; a run writes modulo its own). At a
step, every example of the incoming batch finds its ``neighbours`` nearest valid entries (one
batched ``cdist`` and ``topk`` over ``[N, B, S]``; a run with fewer neighbours masks the rest),
its prediction is corrected by ``weight ×`` their mean residual, and the corrected loss is
returned; then the batch's inputs and residuals overwrite the oldest entries. No host sync, no
loop over runs, static shapes (the step can be captured in a CUDA graph).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .specs import ErrorMemory

__all__ = ["StackedErrorMemory", "corrected_losses"]

_FLOOR = 1e-6  # corrected probabilities are clipped here before renormalizing
_EXACT = "donot_use_mm_for_euclid_dist"  # exact distances: the same neighbours as the reference


def corrected_losses(
    logits: torch.Tensor, y: torch.Tensor, mean_residual: torch.Tensor, weight, loss: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example corrected losses ``[..., B]`` and residuals ``[..., B, C]`` of ``logits``.

    ``mse``: residual ``e_y − f``, loss ``0.5·‖f + λ·r̄ − e_y‖²``; cross-entropy: residual
    ``e_y − softmax(f)``, loss ``−log p̃_y`` with ``p̃`` the corrected probabilities clipped at
    1e-6 and renormalized.

    Examples
    --------
    >>> f, y = torch.tensor([[0.0, 0.0]]), torch.tensor([0])
    >>> loss, r = corrected_losses(f, y, torch.tensor([[0.5, 0.0]]), 1.0, "mse")
    >>> loss.tolist(), r.tolist()
    ([0.125], [[1.0, 0.0]])
    """
    onehot = F.one_hot(y, logits.shape[-1]).to(logits.dtype)
    if loss == "mse":
        residual = onehot - logits
        corrected = logits + weight * mean_residual
        return 0.5 * (corrected - onehot).square().sum(-1), residual
    p = torch.softmax(logits, -1)
    residual = onehot - p
    q = (p + weight * mean_residual).clamp(min=_FLOOR)
    q = q / q.sum(-1, keepdim=True)
    return -torch.log((q * onehot).sum(-1)), residual


class StackedErrorMemory:
    """Error memories of ``N`` runs (see the module docstring).

    Parameters
    ----------
    memories
        Each run's :class:`~workbench.slow.ErrorMemory`.
    in_dim, out_dim
        Input features (flattened) and outputs of the model.
    loss
        The model's loss (``"mse"`` or ``"cross_entropy"``), which fixes the residual's space.
    """

    def __init__(
        self,
        memories: Sequence[ErrorMemory],
        *,
        in_dim: int,
        out_dim: int,
        loss: str,
        device: torch.device,
    ) -> None:
        n, size = len(memories), max(m.size for m in memories)
        self.loss = loss
        self.keys = torch.zeros(n, size, in_dim, device=device)
        self.residuals = torch.zeros(n, size, out_dim, device=device)
        self.valid = torch.zeros(n, size, dtype=torch.bool, device=device)
        self.sizes = torch.tensor([m.size for m in memories], device=device)
        self.neighbours = torch.tensor([m.neighbours for m in memories], device=device)
        self.k = max(m.neighbours for m in memories)
        self.count = torch.zeros(n, dtype=torch.int64, device=device)

    @torch.no_grad()
    def step(
        self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        """Correct the batch from the memory, then store it; returns the corrected loss ``[N]``.

        ``logits`` ``[N, B, C]``, ``x`` ``[N, B, ...]``, ``y`` ``[N, B]``, ``weight`` ``[N, 1]``.
        """
        n, b = y.shape
        keys = x.reshape(n, b, -1).to(self.keys.dtype)
        dist = torch.cdist(keys, self.keys, compute_mode=_EXACT)  # (N, B, S)
        dist = dist.masked_fill(~self.valid[:, None, :], float("inf"))
        near, idx = dist.topk(self.k, dim=2, largest=False)  # (N, B, k)
        rank = torch.arange(self.k, device=idx.device)
        use = (rank < self.neighbours[:, None, None]) & torch.isfinite(near)
        c = self.residuals.shape[2]
        picked = self.residuals.gather(1, idx.reshape(n, -1, 1).expand(-1, -1, c)).view(n, b, -1, c)
        w = use.to(picked.dtype)[..., None]
        mean = (picked * w).sum(2) / w.sum(2).clamp(min=1)  # (N, B, C)
        per, residual = corrected_losses(logits, y, mean, weight[:, :, None], self.loss)
        pos = (self.count[:, None] + torch.arange(b, device=y.device)) % self.sizes[:, None]
        self.keys.scatter_(1, pos[..., None].expand(-1, -1, keys.shape[2]), keys)
        self.residuals.scatter_(1, pos[..., None].expand(-1, -1, c), residual)
        self.valid.scatter_(1, pos, True)
        self.count += b
        return per.mean(1)

    def take(self, index: torch.Tensor) -> None:
        """Keep rows ``index`` (a fork repeats its parent's memory)."""
        for name in ("keys", "residuals", "valid", "sizes", "neighbours", "count"):
            setattr(self, name, getattr(self, name).index_select(0, index).contiguous())
