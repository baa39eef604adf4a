"""The workloads of ``bench/lockstep.py`` and the three ways it trains N runs of one.

(a) ``Sequential``: N plain ``torch.nn`` models, each with its own ``torch.optim.AdamW``;
(b) ``Vmap``: ``torch.func`` over the stacked parameters with a hand-written batched AdamW;
(c) ``Lockstep``: the engine's ``Bucket``. All three see the same batches and learning rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from _common import ensure_kernels_importable
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from workbench import data as wb_data
from workbench import schedules
from workbench.engine import Bucket, epoch_order
from workbench.models import MLP, Transformer
from workbench.optim import AdamW
from workbench.spec import RunSpec

ensure_kernels_importable()


# -- the workloads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    model: str  # for the header and the JSON
    arch: MLP | Transformer
    data: wb_data.DataSpec
    batch: int
    lr_peaks: tuple[float, float]  # per-run peaks, log-spaced across the runs
    methods: tuple[str, ...]
    weight_decay: float = 0.01
    tol: float = 1e-4  # allowed loss difference from sequential after the warm-up

    @property
    def dims(self) -> tuple[int, int]:
        return self.arch.dims(wb_data.info(self.data))

    @property
    def params(self) -> int:
        return self.arch.layout(*self.dims).size

    def counted(self, n: int) -> dict[str, int]:
        """What one lockstep step of ``n`` runs does at least: ``bytes`` (W1) or ``flops`` (T1).

        W1, a lower bound on the DRAM bytes (fp32): the AdamW traffic, 7 passes over N*P floats
        (param read+write, grad read, m read+write, v read+write); the weights read by the
        forward and again by the backward and the gradient written by it (3 N*P); each activation
        (input and every layer's output, N*B*A floats, A = 40+100+100+10) written or read once in
        the forward and its gradient once in the backward (3 N*B*A). Not counted: the metric
        norms, batch gathers, temporaries, cache re-reads.

        T1, the matmul FLOPs of forward and backward: 6 x tokens x (L (4 + 2 r) d^2 + d V) for
        the weight matmuls (qkv, proj, MLP with ratio r, head) and 12 L B T^2 d for attention
        scores and values (full T x T, masking ignored).
        """
        if isinstance(self.arch, MLP):
            p = self.params
            a = sum(self.arch.widths(*self.dims))
            return {"bytes": 4 * n * (7 * p + 3 * p + 3 * self.batch * a)}
        t, d, layers = self.data.context, self.arch.width, self.arch.layers
        tokens = self.batch * t
        weights = layers * (4 + 2 * self.arch.mlp_ratio) * d * d + d * self.dims[1]
        attention = 12 * layers * self.batch * t * t * d
        return {"flops": n * (6 * tokens * weights + attention)}


WORKLOADS = {
    "W1": Workload(
        name="W1",
        model="MLP 40-100-100-10 (relu)",
        arch=MLP(hidden=(100, 100)),
        data=wb_data.data_spec("mnist1d"),
        batch=128,
        lr_peaks=(1e-4, 1e-2),
        methods=("sequential", "vmap", "lockstep"),
    ),
    "T1": Workload(
        name="T1",
        model="Transformer: 2 layers, width 128, 4 heads, context 64, learned positions",
        arch=Transformer(layers=2, width=128, heads=4, context=64),
        data=wb_data.data_spec("markov", vocab=64, context=64, n_train=2048, n_test=64),
        batch=32,
        lr_peaks=(1e-4, 3e-3),
        methods=("sequential", "lockstep"),
    ),
}


def make_specs(wl: Workload, n: int, total_steps: int) -> list[RunSpec]:
    """N runs of ``wl`` that differ in seed and peak learning rate.

    The engine evaluates at step 0 (warm-up) and when ``done == steps``; the specs run one step
    longer than the benchmark trains, so no evaluation falls inside the timed steps.
    """
    steps = total_steps + 1
    peaks = torch.logspace(math.log10(wl.lr_peaks[0]), math.log10(wl.lr_peaks[1]), n).tolist()
    return [
        RunSpec(
            data=wl.data,
            model=wl.arch,
            optimizer=AdamW(
                lr=schedules.cosine(peak=peak, steps=steps, warmup=max(1, steps // 10)),
                weight_decay=wl.weight_decay,
            ),
            steps=steps,
            batch_size=wl.batch,
            seed=i,
            eval_every=steps,
        )
        for i, peak in enumerate(peaks)
    ]


class Batches:
    """The training data on the device and the per-run learning rates of a list of specs."""

    def __init__(self, wl: Workload, specs: list[RunSpec], device: torch.device) -> None:
        d = wb_data.load(wl.data)
        self.batch = wl.batch
        self.x = wl.arch.prepare(d, d.x_train).to(device)  # (n_train, D) or (n_train, T)
        self.y = d.y_train.to(device)  # (n_train,) or (n_train, T)
        self.seeds = torch.tensor([s.seed for s in specs], device=device)  # (N,)
        self.lr = torch.stack([s.optimizer.tables(s.steps)["lr"] for s in specs], dim=1).to(
            device, torch.float32
        )  # (T, N)
        self._key: tuple[int, int | None] | None = None
        self._order = torch.empty(0)

    def index(self, t: int, run: int | None = None) -> torch.Tensor:
        """Indices of the batch at step ``t`` of every run ``[N, B]``, or of one run ``[B]``.

        The order is the engine's :func:`epoch_order`, computed when the epoch (or the run)
        changes, for all runs at once or, given ``run``, for that run alone (as a single-run
        training loop would).
        """
        epoch, pos = divmod(t, self.x.shape[0] // self.batch)
        if self._key != (epoch, run):
            seeds = self.seeds if run is None else self.seeds[run : run + 1]
            self._order = epoch_order(seeds, epoch, self.x.shape[0])  # (N or 1, n_train)
            self._key = (epoch, run)
        idx = self._order[:, pos * self.batch : (pos + 1) * self.batch]
        return idx if run is None else idx[0]


class Trainer(Protocol):
    """A method set up on a list of runs: ``train(t_from, t_to)`` and the runs' last losses."""

    def train(self, t_from: int, t_to: int) -> None: ...

    def final_loss(self) -> torch.Tensor: ...


# -- (a) sequential ------------------------------------------------------------------------------


class Sequential(Trainer):
    """One reference model + ``torch.optim.AdamW`` per run, trained one after another."""

    def __init__(self, wl: Workload, specs: list[RunSpec], device: torch.device, **_) -> None:
        self.w = w = Batches(wl, specs, device)
        self.nets = [wl.arch.reference(*wl.dims, seed).to(device) for seed in w.seeds.tolist()]
        self.opts = [
            torch.optim.AdamW(net.parameters(), weight_decay=wl.weight_decay) for net in self.nets
        ]
        self.lr = w.lr.T.cpu().tolist()  # [N][T] Python floats, as one sets them in param_groups
        self.losses: list[list[torch.Tensor]] = [[] for _ in self.nets]

    def train(self, t_from: int, t_to: int) -> None:
        w = self.w
        for i, (net, opt) in enumerate(zip(self.nets, self.opts, strict=True)):
            for t in range(t_from, t_to):
                idx = w.index(t, run=i)  # (B,)
                logits = net(w.x[idx])  # (B, C) or (B, T, C)
                loss = F.cross_entropy(logits.flatten(0, -2), w.y[idx].flatten())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.param_groups[0]["lr"] = self.lr[i][t]
                opt.step()
                self.losses[i].append(loss.detach())

    def final_loss(self) -> torch.Tensor:
        return torch.stack([run[-1] for run in self.losses]).cpu()


# -- (b) vmap --------------------------------------------------------------------------------


class BatchedAdamW:
    """``torch.optim.AdamW`` on stacked parameters ``[N, ...]`` with a per-run learning rate.

    Same update as torch's (decoupled decay, bias-corrected moments, ``eps`` outside the root);
    betas, eps and weight decay are shared by all runs, the learning rate is a vector ``[N]``.
    """

    def __init__(
        self,
        params: list[torch.Tensor],
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.params = params
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.t = 0

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], lr: torch.Tensor) -> None:
        """One update of every run; ``lr`` is ``[N]``."""
        self.t += 1
        b1, b2 = self.betas
        bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
        torch._foreach_lerp_(self.m, grads, 1 - b1)
        torch._foreach_mul_(self.v, b2)
        torch._foreach_addcmul_(self.v, grads, grads, value=1 - b2)
        denom = torch._foreach_sqrt(self.v)
        torch._foreach_div_(denom, math.sqrt(bc2))
        torch._foreach_add_(denom, self.eps)
        for p, m, d in zip(self.params, self.m, denom, strict=True):  # one per layer tensor
            col = lr.view(-1, *(1,) * (p.dim() - 1))  # (N, 1, ...)
            p.mul_(1 - col * self.weight_decay)
            p.addcdiv_(m * (-col / bc1), d)


class Vmap(Trainer):
    """``torch.func``: vmapped per-run gradients and a batched AdamW on stacked tensors."""

    def __init__(self, wl: Workload, specs: list[RunSpec], device: torch.device, **_) -> None:
        self.w = w = Batches(wl, specs, device)
        nets = [wl.arch.reference(*wl.dims, seed).to(device) for seed in w.seeds.tolist()]
        stacked, _ = stack_module_state(nets)
        names = list(stacked)
        self.params = [stacked[k].detach() for k in names]  # (N, out, in), (N, out), ...
        self.opt = BatchedAdamW(self.params, weight_decay=wl.weight_decay)
        base = wl.arch.reference(*wl.dims, 0).to("meta")

        def loss_fn(p: tuple[torch.Tensor, ...], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            logits = functional_call(base, dict(zip(names, p, strict=True)), (x,))  # (B, C)
            return F.cross_entropy(logits, y)

        self.grads_and_losses = vmap(grad_and_value(loss_fn))
        self.losses: list[torch.Tensor] = []

    def train(self, t_from: int, t_to: int) -> None:
        w = self.w
        for t in range(t_from, t_to):
            idx = w.index(t)  # (N, B)
            grads, loss = self.grads_and_losses(tuple(self.params), w.x[idx], w.y[idx])
            self.opt.step(list(grads), w.lr[t])
            self.losses.append(loss)  # (N,)

    def final_loss(self) -> torch.Tensor:
        return self.losses[-1].cpu()


# -- (c) lockstep --------------------------------------------------------------------------------


class Lockstep(Trainer):
    """The engine: one ``Bucket``, advanced ``CHUNK`` steps per host sync (``run``'s default)."""

    CHUNK = 50

    def __init__(
        self,
        wl: Workload,
        specs: list[RunSpec],
        device: torch.device,
        kernels: str = "auto",
        cuda_graph: bool | str = "auto",
    ) -> None:
        self.bucket = Bucket(specs, device=device, kernels=kernels, cuda_graph=cuda_graph)
        self.fused = bool(self.bucket.opt.fused)
        self.graph = bool(self.bucket.use_graph)
        self.last = None

    def train(self, t_from: int, t_to: int) -> None:
        assert self.bucket.step == t_from, (self.bucket.step, t_from)
        while self.bucket.step < t_to:
            self.last = self.bucket.advance(min(self.CHUNK, t_to - self.bucket.step))

    def final_loss(self) -> torch.Tensor:
        return torch.from_numpy(self.last.metrics["train_loss"][:, -1])


METHODS: dict[str, type[Trainer]] = {"sequential": Sequential, "vmap": Vmap, "lockstep": Lockstep}
