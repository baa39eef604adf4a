"""Classifier alignment (SLCA, Zhang et al. 2023): per-class feature Gaussians retrain the head.

After each task of a class-incremental stream, the mean and covariance of every class's
penultimate features (the MLP's last hidden layer, after its activation) are computed on that
task's training set with the backbone as the task left it, and kept. Then the head (the output
layer's weight and bias) is retrained on features *sampled* from the Gaussians of every class seen
so far, ``samples`` per class, with ``steps`` full-batch gradient steps at ``lr`` on the model's
loss, so classes learned in different tasks are calibrated against each other without keeping
any old example. The backbone is untouched.

Stacked over a bucket's runs (features ``[N, M, H]``, statistics ``[N, C, H]`` and
``[N, C, H, H]``, head steps batched); the samples come from a generator seeded by each run's seed
and the task, so a run aligns the same alone or in any bucket. It happens between steps, after
the last step of a task and before that task's evaluation, so the accuracy matrix records the
aligned head. :class:`ReferenceAlignment` is the per-run twin the lock-step test compares.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["ClassifierAlignment", "ReferenceAlignment", "StackedAlignment", "gaussian_draws"]

_JITTER = 1e-4  # added to every covariance's diagonal (a class's features may be degenerate)


@dataclass(frozen=True)
class ClassifierAlignment:
    """SLCA's classifier alignment after every task (see the module docstring).

    Parameters
    ----------
    samples
        Features sampled per class seen (SLCA: 256).
    steps
        Full-batch gradient steps on the head (SLCA: 5 epochs of its sampled features).
    lr
        The head's learning rate for them (plain gradient descent).
    """

    samples: int = 256
    steps: int = 50
    lr: float = 0.1

    def __post_init__(self) -> None:
        for name in ("samples", "steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"ClassifierAlignment: {name}={v!r} must be an int >= 1")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ValueError(f"ClassifierAlignment: lr={self.lr!r} must be a number > 0")
        object.__setattr__(self, "lr", float(self.lr))

    def to_dict(self) -> dict:
        return {"samples": self.samples, "steps": self.steps, "lr": self.lr}


def gaussian_draws(seed: int, task: int, n: int, dim: int) -> torch.Tensor:
    """Standard normal draws ``[n, dim]`` of one run after task ``task`` (its own generator)."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + 7919 * int(task) + 17)
    return torch.randn(n, dim, generator=g, dtype=torch.float64)


def _features(config, params, x: torch.Tensor) -> torch.Tensor:
    """Penultimate features ``[N, M, H]`` of an MLP (its last hidden layer, activated)."""
    from ..models.base import ACTIVATIONS

    h = config.forward(params[:-2], x)
    return ACTIVATIONS[config.activation][0](h)


class StackedAlignment:
    """Class statistics and head retraining of a bucket's runs."""

    def __init__(self, align: ClassifierAlignment, seeds, *, n_classes: int, dim: int, device):
        self.align, self.seeds = align, [int(s) for s in seeds]
        n = len(self.seeds)
        self.mean = torch.zeros(n, n_classes, dim, dtype=torch.float64, device=device)
        self.chol = torch.zeros(n, n_classes, dim, dim, dtype=torch.float64, device=device)
        self.seen = torch.zeros(n_classes, dtype=torch.bool)

    @torch.no_grad()
    def after_task(self, model, x: torch.Tensor, y: torch.Tensor, task: int) -> None:
        """Keep the statistics of the classes of ``(x, y)`` (the task just ended), then retrain
        every run's head on samples of all classes seen."""
        feats = _features(model.config, model.params, x).double()  # (N, M, H)
        for c in torch.unique(y).tolist():
            f = feats[:, y == c]  # (N, m, H)
            mu = f.mean(1)
            d = f - mu[:, None]
            cov = d.transpose(1, 2) @ d / max(f.shape[1] - 1, 1)
            cov = cov + _JITTER * torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
            self.mean[:, c], self.chol[:, c] = mu, torch.linalg.cholesky(cov)
            self.seen[c] = True
        self._retrain(model, task)

    def _retrain(self, model, task: int) -> None:
        classes = torch.nonzero(self.seen).flatten().tolist()
        s, dim = self.align.samples, self.mean.shape[-1]
        z = torch.stack(
            [gaussian_draws(seed, task, s * len(classes), dim) for seed in self.seeds]
        ).to(self.mean.device)  # (N, S*C, H)
        z = z.view(len(self.seeds), len(classes), s, dim)
        idx = torch.tensor(classes, device=self.mean.device)
        mu, chol = self.mean[:, idx], self.chol[:, idx]  # (N, C, H), (N, C, H, H)
        feats = (mu[:, :, None] + (chol[:, :, None] @ z[..., None])[..., 0]).flatten(1, 2)
        labels = idx.repeat_interleave(s)  # (C*S,)
        w, b = model.params[-2], model.params[-1]  # views into the flat buffer
        train_head(w, b, feats.to(w.dtype), labels, self.align, model.config)

    def take(self, index: torch.Tensor) -> None:
        self.mean = self.mean.index_select(0, index.to(self.mean.device))
        self.chol = self.chol.index_select(0, index.to(self.chol.device))
        self.seeds = [self.seeds[i] for i in index.tolist()]


def train_head(w, b, feats, labels, align: ClassifierAlignment, config) -> None:
    """``align.steps`` of full-batch gradient descent of every run's head ``w [N, H, C]``,
    ``b [N, C]`` (updated in place) on features ``[N, S, H]`` with ``labels [S]``."""
    from ..models.base import loss_name, mean_loss

    head_w, head_b = w.detach().clone(), b.detach().clone()
    y = labels.expand(feats.shape[0], -1)
    for _ in range(align.steps):
        head_w.requires_grad_(True)
        head_b.requires_grad_(True)
        with torch.enable_grad():
            logits = torch.baddbmm(head_b.unsqueeze(1), feats, head_w)
            loss = mean_loss(logits, y, loss_name(config)).sum()
            gw, gb = torch.autograd.grad(loss, (head_w, head_b))
        head_w = (head_w - align.lr * gw).detach()
        head_b = (head_b - align.lr * gb).detach()
    w.data.copy_(head_w)
    b.data.copy_(head_b)


class ReferenceAlignment:
    """The per-run twin: a Python dict of class statistics and a ``torch.nn`` head trained with
    ``torch.optim.SGD``."""

    def __init__(self, align: ClassifierAlignment, seed: int) -> None:
        self.align, self.seed, self.stats = align, seed, {}

    @torch.no_grad()
    def after_task(self, net, x: torch.Tensor, y: torch.Tensor, task: int, kind: str) -> None:
        body, head = net[:-1], net[-1]
        feats = body(x).double()
        for c in sorted(set(y.tolist())):
            f = feats[y == c]
            cov = torch.cov(f.T) + _JITTER * torch.eye(f.shape[1], dtype=f.dtype)
            self.stats[c] = (f.mean(0), torch.linalg.cholesky(cov))
        classes = sorted(self.stats)
        s = self.align.samples
        z = gaussian_draws(self.seed, task, s * len(classes), feats.shape[1]).view(
            len(classes), s, -1
        )
        sampled = torch.cat(
            [self.stats[c][0] + z[i] @ self.stats[c][1].T for i, c in enumerate(classes)]
        ).to(x.dtype)
        labels = torch.tensor(classes).repeat_interleave(s)
        opt = torch.optim.SGD(head.parameters(), lr=self.align.lr)
        for _ in range(self.align.steps):
            with torch.enable_grad():
                logits = head(sampled)
                if kind == "mse":
                    target = F.one_hot(labels, logits.shape[-1]).to(logits.dtype)
                    loss = 0.5 * (logits - target).square().sum(-1).mean()
                else:
                    loss = F.cross_entropy(logits, labels)
                opt.zero_grad()
                loss.backward()
            opt.step()
