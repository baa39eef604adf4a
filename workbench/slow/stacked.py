"""The slow mechanisms of a bucket's runs, stacked: extra ``[N, P]`` buffers beside the fast ones.

:class:`SlowState` holds Lookahead's slow weights (and, for ``momentum="pullback"``, the momentum
saved at the last sync), the EMAs' weights as one ``[C, N, P]`` buffer, and the backbone mask
of a layer-wise LR ratio. Its per-step work reads one row of a coefficient table indexed by the
step tensor, like the optimizer's, so it runs inside the bucket's (captured) step with no host
sync and no Python branch on the step:

- after the optimizer step, ``slow ← slow + s·α·(fast − slow)`` and ``fast ← fast + s·(slow −
  fast)`` (``s`` is 1 on a sync step, 0 otherwise: lerps with weights ``s·α`` and ``s``);
  ``reset`` multiplies the inner momentum by ``1 − s``; ``pullback`` lerps it toward the saved
  momentum by ``s·(1 − α)`` and then saves it where ``s`` is 1;
- every EMA at once: ``ema.lerp_(fast, w)`` with ``w`` ``[C, N, 1]`` (zero when no update is due);
- the optimizer receives ``(backbone mask, ratio)`` as its per-column LR scale;
- before the backward pass, :meth:`SlowState.loss_hook` adds CLS-ER's consistency loss toward
  the EMA copies on the replayed examples, and runs the error memory
  (:class:`~workbench.slow.memory.StackedErrorMemory`) on the incoming batch. Their per-step
  losses (``consistency_loss``, ``corrected_loss``) go into a device ring like the bucket's.

A frozen (diverged) run's weights are multiplied by ``alive`` so its buffers stop changing too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..models import StackedModel
from .align import StackedAlignment
from .memory import StackedErrorMemory
from .specs import Slow, knobs
from .tables import coefficient_rows, draws

__all__ = ["SlowState", "momentum_buffer"]

_MOMENTUM = {"StackedSGD": "buf", "StackedAdamW": "m", "StackedLion": "m"}


def momentum_buffer(opt) -> torch.Tensor:
    """The inner optimizer's momentum ``[N, P]`` (SGD's buffer, AdamW's and Lion's first moment).

    Raises a ValueError for an optimizer whose momentum is not one flat buffer (Muon's is per
    matrix), which Lookahead's ``reset``/``pullback`` cannot treat.
    """
    name = _MOMENTUM.get(type(opt).__name__)
    if name is None:
        allowed = "SGD, AdamW or Lion"
        raise ValueError(
            f"Lookahead: momentum 'reset'/'pullback' needs an optimizer with one momentum "
            f"buffer ({allowed}); {type(opt).__name__.removeprefix('Stacked')} keeps only 'keep'"
        )
    return getattr(opt, name)


class SlowState:
    """Slow buffers and per-step coefficients of the runs of one bucket.

    Parameters
    ----------
    slows
        Each run's :class:`~workbench.slow.Slow` (one bucket: equal ``structure()``).
    seeds
        Each run's seed (the EMAs' update draws).
    model, opt
        The bucket's stacked model (fast weights ``[N, P]``) and its stacked optimizer.
    steps, starts
        The run length and the stream's task starts (Lookahead's ``sync="tasks"``).
    ring
        Steps of per-step losses the device ring holds (the bucket's ``RING``).
    """

    METRICS = ("consistency_loss", "corrected_loss")  # per step, when the mechanism is on

    def __init__(
        self,
        slows: Sequence[Slow],
        seeds: Sequence[int],
        *,
        model: StackedModel,
        opt,
        steps: int,
        starts: Sequence[int],
        ring: int = 256,
    ) -> None:
        flat, layout = model.flat, model.layout
        self.config, self.layout = model.config, layout
        self.slow = slows[0]
        self.steps, self.starts, self.device = steps, tuple(starts), flat.device
        self.copies = self.slow.copies
        self.knobs = knobs(self.slow)  # names and ranges (shared by the bucket's runs)
        self.names = tuple(self.knobs)
        # float64 tables on the host: (K, N, T)
        per_run = [knobs(s) for s in slows]
        self.tables = (
            np.stack(
                [np.stack([own[k].table(k, steps).numpy() for own in per_run]) for k in self.names]
            )
            if self.names
            else np.zeros((0, len(slows), steps))
        )
        self.seeds = torch.tensor([int(s) for s in seeds], dtype=torch.int64)
        self.uniforms = [draws(self.seeds, i, steps).numpy() for i in range(len(self.slow.ema))]
        self.opt = opt
        la = self.slow.lookahead
        self.weights = flat.detach().clone() if la is not None else None  # Lookahead's slow
        self.saved_m = None
        if la is not None and la.momentum != "keep":
            momentum_buffer(opt)  # refuses an optimizer without one buffer
            if la.momentum == "pullback":
                self.saved_m = torch.zeros_like(flat)
        n_ema = len(self.slow.ema)
        self.ema = flat.detach().unsqueeze(0).repeat(n_ema, 1, 1) if n_ema else None
        self.backbone = None
        if self.slow.backbone_lr is not None:
            self.backbone = (~layout.head_mask()).to(flat.device, torch.float32)  # (P,)
        # rows of the coefficient table (see workbench.slow.tables.coefficient_rows)
        row = (3 if la is not None else 0) + n_ema
        self.rows: dict[str, int] = {}
        for name in ("backbone_lr", "consistency", "memory_weight"):
            if name in self.names:
                self.rows[name], row = row, row + 1
        self.memory = None
        if self.slow.error_memory is not None:
            in_dim = layout.params[0].shape[0]
            self.memory = StackedErrorMemory(
                [s.error_memory for s in slows],
                in_dim=in_dim,
                out_dim=layout.params[-1].shape[-1],
                loss=getattr(model.config, "loss", "cross_entropy"),
                device=flat.device,
            )
        self.align = None
        if self.slow.align is not None:
            self.align = StackedAlignment(
                self.slow.align,
                seeds,
                n_classes=layout.params[-1].shape[-1],
                dim=layout.params[-2].shape[0],
                device=flat.device,
            )
        self.metrics = tuple(
            m
            for m, on in zip(
                self.METRICS,
                (self.slow.consistency is not None, self.memory is not None),
                strict=True,
            )
            if on
        )
        self.ring = torch.zeros(ring, len(self.metrics), len(slows), device=flat.device)
        self.coef: torch.Tensor | None = None
        self.horizons: dict[str, np.ndarray] = {}
        self._refresh()

    # -- coefficients --------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Derive the coefficients ``[T, R, N, 1]`` (in place: a captured graph reads them)."""
        tables = dict(zip(self.names, self.tables, strict=True))
        coef, self.horizons = coefficient_rows(
            self.slow, tables, self.seeds, starts=self.starts, uniforms=self.uniforms
        )
        coef = torch.as_tensor(coef[..., None], dtype=torch.float32, device=self.device)
        if self.coef is not None and self.coef.shape == coef.shape:
            self.coef.copy_(coef)
        else:
            self.coef = coef.contiguous()

    def set(self, name: str, rows: Sequence[int], values, step: int) -> None:
        """From ``step`` on, knob ``name`` of bucket rows ``rows`` is ``values`` (``[len(rows)]``
        or ``[len(rows), T - step]``)."""
        if name not in self.names:
            raise ValueError(
                f"set_knob: {name!r} is not a knob of these runs' slow mechanisms; "
                f"allowed: {', '.join(self.names)}"
            )
        k = self.names.index(name)
        vals = np.asarray(torch.as_tensor(values, dtype=torch.float64).cpu(), dtype=np.float64)
        idx = np.asarray(list(rows), dtype=np.int64)
        new = np.broadcast_to(
            vals[:, None] if vals.ndim == 1 else vals, (len(idx), self.steps - step)
        )
        knob = self.knobs[name]
        bad = knob.bad(torch.as_tensor(np.ascontiguousarray(new)))
        if bool(bad.any()):
            raise ValueError(
                f"set_knob: {name} would become {float(new[bad.numpy()][0]):.6g}; "
                f"it must be {knob.allowed}"
            )
        self.tables[k, idx, step:] = new
        self._refresh()

    def current(self, name: str, row: int, step: int) -> float:
        """Knob ``name`` of bucket row ``row`` at ``step``."""
        return float(self.tables[self.names.index(name), row, min(step, self.steps - 1)])

    # -- the step --------------------------------------------------------------------------------

    def scale(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The optimizer's per-column LR scale ``(backbone [P], ratio [N, 1])`` at a step whose
        coefficients are ``c`` ``[R, N, 1]``, or ``None``."""
        return None if self.backbone is None else (self.backbone, c[self.rows["backbone_lr"]])

    def loss_hook(self, c: torch.Tensor, x: torch.Tensor, y: torch.Tensor, replayed, slot):
        """The ``extra`` loss of :meth:`~workbench.models.StackedModel.loss_and_grad` at a step
        (``c`` its coefficients, ``replayed`` ``[N, B]`` bool the replayed slots or ``None``),
        or ``None`` when no mechanism needs the logits. Logs into ring slot ``slot``."""
        if not self.metrics:
            return None
        target = None
        if self.slow.consistency is not None:
            target = self._teacher_logits(x, y)
        logged = []

        def extra(logits: torch.Tensor) -> torch.Tensor | None:
            out = None
            if target is not None:
                m = replayed.to(logits.dtype)  # (N, B)
                sq = (logits - target).square().mean(-1)  # (N, B)
                per = (sq * m).sum(1) / m.sum(1).clamp(min=1)
                out = c[self.rows["consistency"]][:, 0] * per
                logged.append(per.detach())
            if self.memory is not None:
                w = c[self.rows["memory_weight"]]
                logged.append(self.memory.step(logits.detach(), x, y, w))
            self.ring.index_copy_(0, slot, torch.stack(logged)[None])
            return out

        return extra

    @torch.no_grad()
    def _teacher_logits(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """CLS-ER's target ``[N, B, C]``: per example, the logits of the EMA copy that gives the
        true label the highest probability (ties to the earlier copy)."""
        n_copies, n = self.ema.shape[:2]
        teachers = StackedModel.of_rows(self.config, self.layout, self.ema.view(n_copies * n, -1))
        xs = x.unsqueeze(0).expand(n_copies, *x.shape).reshape(n_copies * n, *x.shape[1:])
        logits = teachers(xs).view(n_copies, *x.shape[:2], -1)  # (E, N, B, C)
        index = y[None, ..., None].expand(n_copies, *y.shape, 1)
        p_true = torch.softmax(logits, -1).gather(-1, index)[..., 0]  # (E, N, B)
        best = p_true.argmax(0)  # (N, B)
        pick = best[None, ..., None].expand(1, *best.shape, logits.shape[-1])
        return logits.gather(0, pick)[0]

    @torch.no_grad()
    def after_step(self, c: torch.Tensor, flat: torch.Tensor, alive: torch.Tensor) -> None:
        """Sync Lookahead and update the EMAs after the optimizer's step (``c`` ``[R, N, 1]``)."""
        a = alive.to(c.dtype)  # (N, 1)
        r = 0
        la = self.slow.lookahead
        if la is not None:
            s_alpha, s, s_pull = c[0] * a, c[1] * a, c[2] * a
            self.weights.lerp_(flat, s_alpha)
            flat.lerp_(self.weights, s)
            if la.momentum == "reset":
                momentum_buffer(self.opt).mul_(1 - s)
            elif la.momentum == "pullback":
                m = momentum_buffer(self.opt)
                m.lerp_(self.saved_m, s_pull)
                self.saved_m.lerp_(m, s)
            r = 3
        if self.ema is not None:
            self.ema.lerp_(flat.unsqueeze(0), c[r : r + len(self.ema)] * a)

    @torch.no_grad()
    def evaluate(self, evaluator, model: StackedModel, full: bool, current: int, stream: bool):
        """The fast weights and every slow copy evaluated as rows of one pass of ``evaluator``
        (:class:`~workbench.evaluation.Evaluator`). Returns the fast weights' results
        (``loss``/``acc`` ``[N, tasks]``) and the copies': ``copy_eval_loss``/``copy_eval_acc``
        ``[N, C]`` on task ``current``, ``copy_distance`` ``‖copy − fast‖`` ``[N, C]`` and, on a
        stream (``stream``), ``copy_task_loss``/``copy_task_acc`` ``[N, C, tasks]``; copy 0 is the
        fast weights."""
        n_copies, fast = 1 + len(self.copies), model.flat
        rows = torch.cat([fast, *self.copy_rows()])  # (C * N, P)
        every = {
            k: v.view(n_copies, fast.shape[0], -1)
            for k, v in evaluator(
                StackedModel.of_rows(self.config, self.layout, rows), full=full
            ).items()
        }  # (C, N, tasks) each
        out = {
            "copy_eval_loss": every["loss"][:, :, current].T,  # (N, C)
            "copy_eval_acc": every["acc"][:, :, current].T,
            "copy_distance": torch.stack(
                [torch.linalg.vector_norm(c - fast, dim=1) for c in rows.chunk(n_copies)], 1
            ),
        }
        if stream:
            out["copy_task_loss"] = every["loss"].transpose(0, 1)  # (N, C, tasks)
            out["copy_task_acc"] = every["acc"].transpose(0, 1)
        return {k: v[0] for k, v in every.items()}, out

    def copy_rows(self) -> list[torch.Tensor]:
        """The slow copies' weights ``[N, P]`` each, in :attr:`copies` order."""
        out = [self.weights] if self.weights is not None else []
        if self.ema is not None:
            out += list(self.ema.unbind(0))
        return out

    # -- bookkeeping -----------------------------------------------------------------------------

    def take(self, index: torch.Tensor) -> None:
        """Keep rows ``index`` (a fork repeats its parent's rows)."""
        dev = index.to(self.device)
        if self.weights is not None:
            self.weights = self.weights.index_select(0, dev).contiguous()
        if self.saved_m is not None:
            self.saved_m = self.saved_m.index_select(0, dev).contiguous()
        if self.ema is not None:
            self.ema = self.ema.index_select(1, dev).contiguous()
        host = index.cpu().numpy()
        self.tables = np.ascontiguousarray(self.tables[:, host])
        self.seeds = self.seeds[index.cpu()]
        if self.memory is not None:
            self.memory.take(dev)
        if self.align is not None:
            self.align.take(dev)
        self.ring = self.ring.index_select(2, dev).contiguous()
        self.uniforms = [u[host] for u in self.uniforms]
        self.coef = None
        self._refresh()

    def record(self, start: int, stop: int, slots: torch.Tensor) -> dict[str, np.ndarray]:
        """The knobs used at steps ``[start, stop)`` ``[N, steps]`` each, Lookahead's sync
        indicator, ``horizon`` ``[N, steps, copies]`` and the per-step losses (read from ring
        ``slots``)."""
        out = {
            k: self.tables[i, :, start:stop].astype(np.float32) for i, k in enumerate(self.names)
        }
        if self.slow.lookahead is not None:
            out["lookahead_sync"] = (
                self.coef[start:stop, 1, :, 0].T.cpu().numpy().astype(np.float32)
            )
        if self.horizons:
            h = np.stack([self.horizons[c][:, start:stop] for c in self.copies], -1)
            out["horizon"] = h.astype(np.float32)
        if self.metrics:
            ring = self.ring.index_select(0, slots).permute(1, 2, 0).cpu().numpy()
            out.update(zip(self.metrics, ring, strict=True))
        return out
