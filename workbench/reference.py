"""Single-run reference training: the slow, obvious twin of the lockstep engine.

One ``torch.nn`` model, one ``torch.optim`` optimizer, one run at a time, fed exactly the
batches the engine feeds that run (the same :func:`~workbench.engine.epoch_order`, task by task
for a :class:`~workbench.streams.TaskStream`, and a replay memory kept one example at a time
in Python lists, :class:`~workbench.replay.ReferenceMemory`). The lock-step tests compare the
engine against this loop, and ``bench/lockstep.py`` uses it as the sequential baseline.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import data as _data
from .engine import epoch_order
from .optim import SGD, AdamW
from .penalty import fisher_indices
from .replay import ReferenceMemory
from .slow.reference import ReferenceSlow, param_groups
from .spec import RunSpec
from .streams import TaskStream, as_stream

__all__ = ["train_reference", "flat_row"]


def flat_row(net: nn.Module) -> torch.Tensor:
    """A reference model's parameters in the engine's flat layout (weights stored ``[in, out]``)."""
    if hasattr(net, "flat_row"):
        return net.flat_row()
    parts = []
    for m in net:
        if isinstance(m, nn.Linear):
            parts += [m.weight.detach().t().reshape(-1), m.bias.detach().reshape(-1)]
    return torch.cat(parts)


def train_reference(
    spec: RunSpec, *, steps: int | None = None, device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    """Train one run the plain way and return ``{"train_loss": [T], "params": [P]}`` (and
    for AdamW ``"exp_avg_sq"`` ``[P]``, Adam's second moment ``v``; with slow mechanisms
    ``"copies"``: each slow copy's weights ``[P]`` by name, :mod:`workbench.slow.reference`).

    Examples
    --------
    >>> from workbench.models import MLP
    >>> spec = RunSpec(data="digits", model=MLP(hidden=(8,)), optimizer=AdamW(lr=1e-2),
    ...                steps=5, batch_size=16)
    >>> out = train_reference(spec)
    >>> out["train_loss"].shape, out["params"].shape
    (torch.Size([5]), torch.Size([610]))
    """
    spec.validate()
    steps = spec.steps if steps is None else steps
    stream = as_stream(spec.data)
    sets = []  # per task: the training set as the model reads it
    for task in stream.tasks:
        d = _data.load(task)
        sets.append((spec.model.prepare(d, d.x_train).to(device), d.y_train.to(device)))
    memory, offsets, all_x, all_y = None, [], None, None
    if spec.replay is not None:  # examples are named by global ids into the distinct sets
        same = stream.first_visits()
        distinct = sorted(set(same))
        sizes = [len(sets[i][1]) for i in distinct]
        start = dict(zip(distinct, np.cumsum([0, *sizes[:-1]]).tolist(), strict=True))
        offsets = [int(start[same[k]]) for k in range(len(stream))]
        all_x = torch.cat([sets[i][0] for i in distinct])
        all_y = torch.cat([sets[i][1] for i in distinct])
        memory = ReferenceMemory(
            spec.replay,
            spec.seed,
            starts=stream.starts,
            steps=spec.steps,
            batch_size=spec.batch_size,
        )
    dims = spec.model.dims(_data.info(stream.tasks[0]))
    net = spec.model.reference(*dims, spec.seed).to(device)
    tables = {h: t.tolist() for h, t in spec.optimizer.tables(spec.steps).items()}
    opt_spec = spec.optimizer
    groups = list(net.parameters())
    if spec.slow is not None and spec.slow.backbone_lr is not None:
        layout = spec.model.layout(*dims)
        head = layout.head_mask()
        groups = param_groups(net, [bool(head[o]) for o in layout.offsets])
    if isinstance(opt_spec, AdamW):
        opt = torch.optim.AdamW(groups, lr=tables["lr"][0])
    elif isinstance(opt_spec, SGD):
        opt = torch.optim.SGD(
            groups,
            lr=tables["lr"][0],
            momentum=tables["momentum"][0],
            nesterov=opt_spec.nesterov and tables["momentum"][0] > 0,
            weight_decay=0.0,
        )
    else:  # pragma: no cover - RunSpec validates the optimizer type
        raise ValueError(f"train_reference: optimizer {opt_spec!r} has no reference")
    seed = torch.tensor([spec.seed], device=device)
    slow, is_stream = None, isinstance(spec.data, TaskStream)
    if spec.slow is not None:
        slow = ReferenceSlow(
            spec.slow, net, opt, seed=spec.seed, steps=spec.steps, starts=stream.starts
        )
    kind = getattr(spec.model, "loss", "cross_entropy")
    losses = []
    order, seen = None, None
    pull = None  # (anchors, weights) per parameter once a task has ended (L2/EWC)
    fisher = [torch.zeros_like(p) for p in net.parameters()]
    for t in range(steps):
        if spec.penalty is not None and t > 0 and t in stream.starts:  # a task has just ended
            pull = _consolidate(net, spec.penalty, sets, stream.task_at(t) - 1, fisher, kind)
        k = stream.task_at(t)  # the task, and the position counted from its start
        x, y = sets[k]
        epoch, pos = divmod(t - stream.starts[k], x.shape[0] // spec.batch_size)
        if (k, epoch) != seen:
            order, seen = epoch_order(seed, epoch, x.shape[0], task=k)[0], (k, epoch)
        idx = order[pos * spec.batch_size : (pos + 1) * spec.batch_size]
        xb, yb = x[idx], y[idx]
        if memory is not None:
            labels = yb.tolist() if yb.dim() == 1 else [0] * len(idx)
            batch = [
                (offsets[k] + int(i), int(c)) for i, c in zip(idx.tolist(), labels, strict=True)
            ]
            ids = torch.tensor(memory.mix(t, batch, k), device=device)
            xb, yb = all_x[ids], all_y[ids]
        logits = net(xb)  # (B, C) or (B, T, C)
        if logits.dim() == yb.dim() + 2:  # sequence classification: the last position
            logits = logits[:, -1]
        loss = _plain_loss(kind, logits, yb)
        total = loss
        if slow is not None:
            replayed = memory.replayed if memory is not None else 0
            total = loss + slow.extra_loss(t, logits, xb, yb, replayed, kind)
        opt.zero_grad(set_to_none=True)
        total.backward()
        if pull is not None:  # the penalty's gradient: weight * (theta - anchor)
            for p, (anchor, weight) in zip(net.parameters(), pull, strict=True):
                p.grad += weight * (p.detach() - anchor)
        losses.append(loss.detach())
        if isinstance(opt_spec, AdamW):
            for group in opt.param_groups:
                factor = slow.lr_factor(group.get("part", ""), t) if slow is not None else 1.0
                group["lr"] = tables["lr"][t] * factor
                group["betas"] = (tables["beta1"][t], tables["beta2"][t])
                group["eps"] = tables["eps"][t]
                group["weight_decay"] = tables["weight_decay"][t]
            opt.step()
        else:
            for group in opt.param_groups:
                factor = slow.lr_factor(group.get("part", ""), t) if slow is not None else 1.0
                group["momentum"] = tables["momentum"][t]
                with torch.no_grad():  # decoupled decay by hand, at the group's LR
                    for p in group["params"]:
                        p.mul_(1 - tables["lr"][t] * factor * tables["weight_decay"][t])
                group["lr"] = tables["lr"][t] * factor
            opt.step()
        if slow is not None:
            slow.after_step(t)
            ended = (t + 1) in stream.starts[1:] or (t + 1 == spec.steps and is_stream)
            if spec.slow.align is not None and ended:
                slow.align.after_task(net, *sets[k], task=k, kind=kind)
    out = {"train_loss": torch.stack(losses).cpu(), "params": flat_row(net).cpu()}
    if slow is not None:
        out["copies"] = {k: v.cpu() for k, v in slow.copies(flat_row).items()}
        out.update({k: torch.tensor(v) for k, v in slow.log.items() if v})
    if isinstance(opt_spec, AdamW) and steps > 0:  # Adam's second moment, in the flat layout
        out["exp_avg_sq"] = _flat_state(net, opt, "exp_avg_sq").cpu()
    return out


def _flat_state(net: nn.Module, opt: torch.optim.Optimizer, key: str) -> torch.Tensor:
    """The optimizer state ``key`` of every parameter of ``net``, in the engine's flat layout."""
    ghost = copy.deepcopy(net)
    with torch.no_grad():
        for g, p in zip(ghost.parameters(), net.parameters(), strict=True):
            g.copy_(opt.state[p][key])
    return flat_row(ghost)


def _plain_loss(kind: str, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The batch's mean loss, written the plain way: cross-entropy, or for ``"mse"`` the mean
    over the batch of ``0.5 * ||logits - one_hot(y)||^2`` (summed over the classes)."""
    if kind == "mse":
        target = F.one_hot(y, logits.shape[-1]).to(logits.dtype)
        return 0.5 * F.mse_loss(logits, target, reduction="none").sum(-1).mean()
    return F.cross_entropy(logits.movedim(-1, 1), y)


def _consolidate(
    net: nn.Module, penalty, sets, k: int, fisher: list[torch.Tensor], kind: str
) -> list:
    """At the end of stream position ``k``: anchors at the current weights, and each
    parameter's weight ``λ`` (L2) or ``λ·F`` (EWC: ``fisher`` += the mean squared per-example
    gradient of the model's loss, ``kind``, on the Fisher's examples of task ``k``)."""
    x, y = sets[k]
    idx = fisher_indices(x.shape[0], penalty.samples, k).tolist()
    params = list(net.parameters())
    total = [torch.zeros_like(p) for p in params]
    for i in idx:
        logits = net(x[i : i + 1])
        if logits.dim() == y[i : i + 1].dim() + 2:
            logits = logits[:, -1]
        loss = _plain_loss(kind, logits, y[i : i + 1])
        grads = torch.autograd.grad(loss, params)
        for acc, g in zip(total, grads, strict=True):
            acc += g.square()
    for f, acc in zip(fisher, total, strict=True):
        f += acc / len(idx)
    lam = penalty.strength
    return [
        (p.detach().clone(), lam * f if penalty.kind == "ewc" else torch.full_like(p, lam))
        for p, f in zip(params, fisher, strict=True)
    ]
