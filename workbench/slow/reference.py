"""The plain per-run twin of :mod:`workbench.slow.stacked`, for the lock-step tests.

One ``torch.nn`` model and one ``torch.optim`` optimizer (:func:`workbench.reference.
train_reference`), with the slow mechanisms written the obvious way: a Python counter and an
``if`` for Lookahead's sync, ``torch.optim`` param groups for the backbone's LR ratio, one EMA
model per copy updated in a loop over parameters. Only the random draws of the EMAs' update
probability are shared with the engine (:func:`~workbench.slow.tables.draws`: they are the
definition of which steps update, like the data order).
"""

from __future__ import annotations

import torch
from torch import nn

from .align import ReferenceAlignment
from .memory import corrected_losses
from .specs import Slow, knobs
from .tables import draws

__all__ = ["ReferenceSlow", "param_groups"]

_MOMENTUM_KEY = {"SGD": "momentum_buffer", "AdamW": "exp_avg"}


def param_groups(net: nn.Module, head: list[bool]) -> list[dict]:
    """The network's parameters as ``[backbone group, head group]`` (``head``: per parameter
    tensor, in ``net.parameters()`` order, whether it belongs to the output layer)."""
    params = list(net.parameters())
    return [
        {"params": [p for p, h in zip(params, head, strict=True) if not h], "part": "backbone"},
        {"params": [p for p, h in zip(params, head, strict=True) if h], "part": "head"},
    ]


class ReferenceSlow:
    """Lookahead, EMAs and the backbone LR ratio of one run, step by step.

    Parameters
    ----------
    slow
        The run's :class:`~workbench.slow.Slow`.
    net, opt
        The run's reference model and optimizer (built over :func:`param_groups` when the run
        has a backbone LR ratio).
    seed, steps, starts
        The run's seed, length and task starts.
    """

    def __init__(self, slow: Slow, net: nn.Module, opt, *, seed: int, steps: int, starts) -> None:
        self.slow, self.net, self.opt = slow, net, opt
        self.values = {k: knob.table(k, steps).tolist() for k, knob in knobs(slow).items()}
        self.ends = {s - 1 for s in starts[1:]}
        self.count = 0
        params = list(net.parameters())
        self.slow_weights = [p.detach().clone() for p in params]
        self.saved_m = [torch.zeros_like(p) for p in params]
        self.emas = [[p.detach().clone() for p in params] for _ in slow.ema]
        self.u = [draws(torch.tensor([seed]), i, steps)[0].tolist() for i in range(len(slow.ema))]
        self.memory: list[tuple[torch.Tensor, torch.Tensor]] = []  # (input, residual), oldest first
        self.log: dict[str, list[float]] = {"consistency_loss": [], "corrected_loss": []}
        self.align = None if slow.align is None else ReferenceAlignment(slow.align, seed)

    def lr_factor(self, part: str, t: int) -> float:
        """The multiple of the LR a param group ``part`` uses at step ``t``."""
        if part == "backbone" and self.slow.backbone_lr is not None:
            return self.values["backbone_lr"][t]
        return 1.0

    def extra_loss(
        self, t: int, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor, replayed: int, kind
    ):
        """CLS-ER's consistency loss on the ``replayed`` first examples of the batch (0 when
        the run has none), after running the error memory on the batch (logged)."""
        mem = self.slow.error_memory
        if mem is not None:
            with torch.no_grad():
                losses, new = [], []
                for i in range(len(y)):  # the whole batch is corrected before it is stored
                    near = sorted(
                        range(len(self.memory)),
                        key=lambda j: float(torch.linalg.vector_norm(x[i] - self.memory[j][0])),
                    )[: mem.neighbours]
                    mean = torch.zeros_like(logits[i])
                    if near:
                        mean = sum(self.memory[j][1] for j in near) / len(near)
                    loss, residual = corrected_losses(
                        logits[i], y[i], mean, self.values["memory_weight"][t], kind
                    )
                    losses.append(float(loss))
                    new.append((x[i].flatten().clone(), residual.detach().clone()))
                self.memory = (self.memory + new)[-mem.size :]
                self.log["corrected_loss"].append(sum(losses) / len(losses))
        if self.slow.consistency is None:
            return 0.0
        if replayed == 0:
            self.log["consistency_loss"].append(0.0)
            return 0.0
        with torch.no_grad():
            teacher_logits = []
            ghost = _ghost(self.net)
            for weights in self.emas:
                for g, w in zip(ghost.parameters(), weights, strict=True):
                    g.copy_(w)
                teacher_logits.append(ghost(x[:replayed]))
            target = []
            for i in range(replayed):
                p = [torch.softmax(tl[i], -1)[y[i]] for tl in teacher_logits]
                best = max(range(len(p)), key=lambda e: (float(p[e]), -e))  # ties: earlier copy
                target.append(teacher_logits[best][i])
            target = torch.stack(target)
        cons = (logits[:replayed] - target).square().mean()
        self.log["consistency_loss"].append(float(cons.detach()))
        return self.values["consistency"][t] * cons

    @torch.no_grad()
    def after_step(self, t: int) -> None:
        """Lookahead's sync and the EMA updates after the optimizer's step ``t``."""
        params = list(self.net.parameters())
        la = self.slow.lookahead
        if la is not None:
            self.count += 1
            if la.sync == "tasks":
                sync = t in self.ends
            else:
                sync = self.count >= self.values["lookahead_k"][t]
            if sync:
                self.count = 0
                alpha = self.values["lookahead_alpha"][t]
                for p, s in zip(params, self.slow_weights, strict=True):
                    s += alpha * (p - s)
                    p.copy_(s)
                if la.momentum != "keep":
                    key = _MOMENTUM_KEY[type(self.opt).__name__]
                    for p, saved in zip(params, self.saved_m, strict=True):
                        m = self.opt.state[p][key]
                        if la.momentum == "reset":
                            m.zero_()
                        else:  # pullback
                            m.mul_(alpha).add_((1 - alpha) * saved)
                            saved.copy_(m)
        for i, e in enumerate(self.slow.ema):
            beta = self.values[f"{e.name}_beta"][t]
            every = self.values[f"{e.name}_every"][t]
            prob = self.values[f"{e.name}_prob"][t]
            if e.gamma is not None:
                beta = min(beta, 1 - (1 + t / e.gamma) ** (-e.power))
            if (t + 1) % every == 0 and self.u[i][t] < prob:
                for avg, p in zip(self.emas[i], params, strict=True):
                    avg.mul_(beta).add_((1 - beta) * p)

    def copies(self, flat_row) -> dict[str, torch.Tensor]:
        """Each slow copy's weights in the engine's flat layout (``flat_row(net)`` reads a
        model's), by copy name."""
        out = {}
        ghost = _ghost(self.net)
        lists = ([self.slow_weights] if self.slow.lookahead is not None else []) + self.emas
        for name, weights in zip(self.slow.copies, lists, strict=True):
            with torch.no_grad():
                for g, w in zip(ghost.parameters(), weights, strict=True):
                    g.copy_(w)
            out[name] = flat_row(ghost)
        return out


def _ghost(net: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(net)
