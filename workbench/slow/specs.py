"""What fast/slow mechanisms a run uses: Lookahead, EMA slow weights and a slow backbone.

``RunSpec(slow=Slow(...))`` gives a run **slow weights** beside the fast ones it trains, or makes
one part of the network learn more slowly than another:

- :class:`Lookahead` (Zhang et al. 2019, arXiv:1907.08610): after every ``k`` steps of the inner
  optimizer, ``slow ← slow + α·(fast − slow)`` and ``fast ← slow``. With ``sync="tasks"`` the
  sync happens at every task switch instead, which is Reptile-style consolidation of fast
  weights trained on one episode (Nichol et al. 2018; few-shot continual learning with fast and
  slow weights) with ``α`` the step size ``ε``.
- :class:`EMA`: ``ema ← β·ema + (1 − β)·θ`` after a step (Polyak averaging, mean teacher), with an
  optional warm-up ``β_t = min(β, 1 − (1 + t/γ)^(−p))`` (ema-pytorch's; CLS-ER's
  ``min(1 − 1/(t + 1), β)`` is ``γ = 1, p = 1``), an update interval and an update probability
  (CLS-ER's plastic and stable models are two EMAs updated with probabilities 0.9 and 0.7).
- ``backbone_lr``: the backbone's learning rate is ``backbone_lr ×`` the head's (the slow learner
  of SLCA, Zhang et al. 2023, arXiv:2303.05118: ratios 0.01–0.1 on a pretrained backbone). The
  head is the output layer, its bias included (:meth:`~workbench.models.base.Layout.head_mask`).

Every number here except Lookahead's ``momentum``/``sync`` and an EMA's warm-up shape may be a
schedule, differs per run of a bucket, and is a **live knob** of a session
(:func:`knobs` names them: ``lookahead_k``, ``lookahead_alpha``, ``<ema name>_beta``,
``<ema name>_every``, ``<ema name>_prob``, ``backbone_lr``).

**Effective horizon.** To put different mechanisms on one axis, each slow copy reports the
number of steps its memory spans (:func:`horizon`): an EMA updated with probability ``p`` every
``e`` steps averages over about ``e / ((1 − β)·p)`` steps; Lookahead's slow weights are an EMA of
the fast weights at syncs with weight ``α`` every ``k`` steps, about ``k / α`` steps.

Examples
--------
>>> s = Slow(lookahead=Lookahead(k=5, alpha=0.5), ema=EMA(beta=0.99))
>>> s.copies
('slow', 'ema')
>>> sorted(knobs(s))
['ema_beta', 'ema_every', 'ema_prob', 'lookahead_alpha', 'lookahead_k']
>>> horizon(s)
{'slow': 10.0, 'ema': 100.0}
>>> Slow.from_dict(s.to_dict()) == s
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._fields import check_keys
from ..schedules import as_schedule
from .align import ClassifierAlignment
from .parts import EMA, ErrorMemory, Hyper, Knob, Lookahead, _check, _from_json, _to_json

__all__ = ["EMA", "ErrorMemory", "Knob", "Lookahead", "Slow", "horizon", "knobs"]


@dataclass(frozen=True)
class Slow:
    """The fast/slow mechanisms of one run (see the module docstring).

    Parameters
    ----------
    lookahead
        A :class:`Lookahead` (its slow weights are the copy ``"slow"``), or ``None``.
    ema
        An :class:`EMA` or a tuple of them with distinct names (each a copy), or ``()``.
    backbone_lr
        The backbone's learning rate as a multiple of the head's (>= 0; 0 freezes the backbone),
        or ``None``: one learning rate for the whole network. ``1.0`` trains as ``None`` but
        can be changed live.
    consistency
        CLS-ER's consistency weight (>= 0, a live knob), or ``None``: on the replayed examples
        of each batch, ``consistency × mean((f(x) − f_T(x))²)`` over examples and classes is
        added to the loss, ``f_T`` the logits of whichever EMA copy gives the true label the
        highest probability (Arani et al. 2022 use 0.1–0.15 with a plastic and a stable EMA).
        Needs ``ema`` and a replay memory.
    error_memory
        An :class:`ErrorMemory` correcting predictions from recent errors, or ``None``.
    align
        A :class:`~workbench.slow.align.ClassifierAlignment`: after every task of a stream, the
        head is retrained on features sampled from per-class Gaussians (SLCA), or ``None``.
    """

    lookahead: Lookahead | None = None
    ema: EMA | tuple[EMA, ...] = ()
    backbone_lr: Hyper | None = None
    consistency: Hyper | None = None
    error_memory: ErrorMemory | None = None
    align: ClassifierAlignment | None = None

    def __post_init__(self) -> None:
        if self.lookahead is not None and not isinstance(self.lookahead, Lookahead):
            raise ValueError(f"Slow: lookahead={self.lookahead!r} must be a Lookahead or None")
        ema = (self.ema,) if isinstance(self.ema, EMA) else self.ema
        if not isinstance(ema, tuple | list) or not all(isinstance(e, EMA) for e in ema):
            raise ValueError(f"Slow: ema={self.ema!r} must be an EMA or a tuple of EMAs")
        names = [e.name for e in ema]
        if len(set(names)) != len(names):
            raise ValueError(f"Slow: ema names {names} must be distinct")
        object.__setattr__(self, "ema", tuple(ema))
        if self.backbone_lr is not None:
            knob = Knob("slow.backbone_lr", self.backbone_lr, 0.0)
            object.__setattr__(
                self, "backbone_lr", _check("Slow", "backbone_lr", self.backbone_lr, knob)
            )
        if self.consistency is not None:
            knob = Knob("slow.consistency", self.consistency, 0.0)
            value = _check("Slow", "consistency", self.consistency, knob)
            object.__setattr__(self, "consistency", value)
            if not self.ema:
                raise ValueError(
                    "Slow: consistency needs EMA copies to be consistent with (CLS-ER: "
                    "ema=(EMA(name='plastic', ...), EMA(name='stable', ...)))"
                )
        if self.align is not None and not isinstance(self.align, ClassifierAlignment):
            raise ValueError(f"Slow: align={self.align!r} must be a ClassifierAlignment or None")
        if self.error_memory is not None and not isinstance(self.error_memory, ErrorMemory):
            raise ValueError(f"Slow: error_memory={self.error_memory!r} must be an ErrorMemory")
        if (
            self.lookahead is None
            and not self.ema
            and self.backbone_lr is None
            and self.error_memory is None
            and self.align is None
        ):
            raise ValueError(
                "Slow: nothing to do; give lookahead=Lookahead(...), ema=EMA(...), backbone_lr "
                "or error_memory=ErrorMemory(...)"
            )

    @property
    def copies(self) -> tuple[str, ...]:
        """Names of the weight copies evaluated beside the fast weights, in buffer order."""
        return (("slow",) if self.lookahead is not None else ()) + tuple(e.name for e in self.ema)

    def structure(self) -> tuple:
        """What runs of one bucket must share: which buffers exist and how syncs treat state."""
        la = self.lookahead
        return (
            "slow",
            None if la is None else (la.momentum, la.sync),
            tuple((e.name, e.gamma is not None) for e in self.ema),
            self.backbone_lr is not None,
            self.consistency is not None,
            self.error_memory is not None,  # sizes may differ: one buffer of the largest
            self.align,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.lookahead is not None:
            out["lookahead"] = self.lookahead.to_dict()
        if self.ema:
            out["ema"] = [e.to_dict() for e in self.ema]
        if self.backbone_lr is not None:
            out["backbone_lr"] = _to_json(self.backbone_lr)
        if self.consistency is not None:
            out["consistency"] = _to_json(self.consistency)
        if self.error_memory is not None:
            out["error_memory"] = self.error_memory.to_dict()
        if self.align is not None:
            out["align"] = self.align.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Slow:
        check_keys(cls, d)
        la, mem = d.get("lookahead"), d.get("error_memory")
        return cls(
            lookahead=None if la is None else Lookahead.from_dict(la),
            ema=tuple(EMA.from_dict(e) for e in d.get("ema", ())),
            backbone_lr=_from_json(d.get("backbone_lr")),
            consistency=_from_json(d.get("consistency")),
            error_memory=None if mem is None else ErrorMemory.from_dict(mem),
            align=None if d.get("align") is None else ClassifierAlignment(**d["align"]),
        )


def knobs(slow: Slow) -> dict[str, Knob]:
    """The per-step numbers of ``slow`` by knob name (what a session can change live)."""
    out: dict[str, Knob] = {}
    if slow.lookahead is not None:
        for f in ("k", "alpha"):
            out[f"lookahead_{f}"] = slow.lookahead._knob("slow.lookahead", f)
    for i, e in enumerate(slow.ema):
        for f in ("beta", "every", "prob"):
            out[f"{e.name}_{f}"] = e._knob(f"slow.ema.{i}", f)
    if slow.backbone_lr is not None:
        out["backbone_lr"] = Knob("slow.backbone_lr", slow.backbone_lr, 0.0)
    if slow.consistency is not None:
        out["consistency"] = Knob("slow.consistency", slow.consistency, 0.0)
    if slow.error_memory is not None:
        out["memory_weight"] = slow.error_memory._knob("slow.error_memory", "weight")
    return out


def horizon(slow: Slow, step: int = 0) -> dict[str, float]:
    """The effective horizon in steps of each slow copy at ``step`` (see the module docstring).

    ``k / α`` for Lookahead's slow weights (``sync="tasks"``: ``inf``, it depends on the
    stream), ``every / ((1 − β)·prob)`` for an EMA (``inf`` at ``β = 1``).
    """
    out = {}
    at = step + 1
    if slow.lookahead is not None:
        la = slow.lookahead
        k, alpha = (float(as_schedule(v).table(at)[step]) for v in (la.k, la.alpha))
        out["slow"] = k / alpha if la.sync == "steps" else math.inf
    for e in slow.ema:
        beta, every, prob = (
            float(as_schedule(v).table(at)[step]) for v in (e.beta, e.every, e.prob)
        )
        out[e.name] = every / ((1 - beta) * prob) if beta < 1 else math.inf
    return out
