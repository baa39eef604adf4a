"""A tiny decoder-only transformer, stacked over runs.

Pre-norm GPT-style blocks (LayerNorm -> causal multi-head attention -> residual, LayerNorm ->
GELU MLP -> residual), learned or sinusoidal positions, an untied linear head. Every parameter
has a leading run axis and lives in the flat ``[N, P]`` buffer like the MLP's, so all runs'
attention and MLPs are batched matrix products.

It reads token sequences: next-token prediction at every position on ``markov`` languages, and
answer-at-the-last-position classification on ``modular`` arithmetic (``a b =``, with ``=`` an
extra token). The forward pass records the largest pre-softmax attention logit of each layer
(Wortsman et al. 2023 watch it grow before small-scale instabilities).

Init follows GPT-2: weights and embeddings N(0, 0.02), the two residual projections of each
block N(0, 0.02 / sqrt(2 * layers)), biases zero, LayerNorm gains one. :meth:`Transformer.
reference` builds the plain single-run ``torch.nn`` twin, drawn in the same order from the same
generator, so run ``i`` of a stack starts from exactly the twin made with its seed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data import TensorData
from .base import Layout, ParamInfo

__all__ = ["Transformer", "TransformerReference"]

_POSITIONS = ("learned", "sinusoidal")
_INIT_STD = 0.02


@dataclass(frozen=True)
class Transformer:
    """A tiny decoder-only transformer config; the stacked model is a :class:`StackedModel`.

    Parameters
    ----------
    layers, width, heads
        Blocks, model width, attention heads (``width`` divisible by ``heads``).
    context
        Longest sequence the model reads (learned positions have this many rows).
    positions
        ``"learned"`` or ``"sinusoidal"`` (fixed, no parameters).
    mlp_ratio
        Hidden width of each block's MLP, in multiples of ``width``.

    Examples
    --------
    >>> t = Transformer(layers=2, width=32, heads=4, context=16)
    >>> t.layout(10, 10).size
    26624
    """

    layers: int = 2  # transformer blocks
    width: int = 128  # model width d
    heads: int = 4  # attention heads (width % heads == 0)
    context: int = 64  # maximum sequence length
    positions: str = "learned"  # learned | sinusoidal
    mlp_ratio: int = 4  # MLP hidden width = mlp_ratio * width

    def __post_init__(self) -> None:
        for field in ("layers", "width", "heads", "context", "mlp_ratio"):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Transformer: {field}={v!r} must be an int >= 1")
        if self.width % self.heads:
            raise ValueError(
                f"Transformer: width={self.width} must be divisible by heads={self.heads}"
            )
        if self.positions not in _POSITIONS:
            raise ValueError(
                f"Transformer: positions={self.positions!r} is not one of {list(_POSITIONS)}"
            )

    # -- data --------------------------------------------------------------------------------

    def check_data(self, info: Mapping) -> None:
        """A transformer reads token sequences or token pairs, up to ``context`` long."""
        if info.get("vocab") is None:
            raise ValueError(
                "Transformer: needs token inputs (markov, modular); this dataset has float "
                "features: use MLP"
            )
        length = info["input_dim"] + (info["task"] == "classification")
        if length > self.context:
            raise ValueError(
                f"Transformer: context={self.context} is shorter than the dataset's sequences "
                f"({length} tokens)"
            )

    def dims(self, info: Mapping) -> tuple[int, int]:
        """Input vocabulary (with ``=`` for classification) and output classes."""
        return info["vocab"] + (info["task"] == "classification"), info["n_classes"]

    def prepare(self, d: TensorData, x: torch.Tensor) -> torch.Tensor:
        """Token sequences as they are; token pairs get the ``=`` token (id ``vocab``) appended."""
        if d.task == "tokens":
            return x
        eq = torch.full((x.shape[0], 1), d.vocab, dtype=x.dtype)
        return torch.cat([x, eq], 1)

    # -- parameters --------------------------------------------------------------------------

    def layout(self, in_dim: int, out_dim: int) -> Layout:
        d, r = self.width, self.mlp_ratio * self.width
        ps = [ParamInfo("embed", (in_dim, d), d, "embedding")]
        if self.positions == "learned":
            ps.append(ParamInfo("pos", (self.context, d), d, "embedding"))
        for i in range(self.layers):
            b = f"blocks.{i}."
            ps += [
                ParamInfo(b + "ln1.weight", (d,), d, "norm"),
                ParamInfo(b + "ln1.bias", (d,), d, "norm"),
                ParamInfo(b + "qkv.weight", (d, 3 * d), d, "weight"),  # stored [in, out]
                ParamInfo(b + "qkv.bias", (3 * d,), d, "bias"),
                ParamInfo(b + "proj.weight", (d, d), d, "weight"),
                ParamInfo(b + "proj.bias", (d,), d, "bias"),
                ParamInfo(b + "ln2.weight", (d,), d, "norm"),
                ParamInfo(b + "ln2.bias", (d,), d, "norm"),
                ParamInfo(b + "fc.weight", (d, r), d, "weight"),
                ParamInfo(b + "fc.bias", (r,), d, "bias"),
                ParamInfo(b + "out.weight", (r, d), r, "weight"),
                ParamInfo(b + "out.bias", (d,), r, "bias"),
            ]
        ps += [
            ParamInfo("ln_f.weight", (d,), d, "norm"),
            ParamInfo("ln_f.bias", (d,), d, "norm"),
            ParamInfo("head.weight", (d, out_dim), d, "head"),
        ]
        return Layout(tuple(ps))

    def _init_std(self, name: str) -> float | None:
        """Std of the normal init, or None for constants (ones for gains, zeros for biases)."""
        if name.endswith(("ln1.weight", "ln2.weight", "ln_f.weight")) or name.endswith("bias"):
            return None
        if name.endswith(("proj.weight", "out.weight")):  # residual projections (GPT-2)
            return _INIT_STD / math.sqrt(2 * self.layers)
        return _INIT_STD

    def init_row(self, layout: Layout, seed: int) -> torch.Tensor:
        """The flat parameter row of one run, drawn as :class:`TransformerReference` draws it."""
        g = torch.Generator().manual_seed(int(seed))
        parts = []
        for p in layout.params:
            std = self._init_std(p.name)
            if std is None:
                parts.append(
                    torch.full(
                        p.shape, 1.0 if p.role == "norm" and "weight" in p.name else 0.0
                    ).reshape(-1)
                )
            elif p.role in ("weight", "head"):
                w = torch.empty(p.shape[1], p.shape[0]).normal_(0.0, std, generator=g)  # [out, in]
                parts.append(w.t().reshape(-1))
            else:
                parts.append(torch.empty(p.shape).normal_(0.0, std, generator=g).reshape(-1))
        return torch.cat(parts)

    # -- forward -----------------------------------------------------------------------------

    def forward(
        self, params: Sequence[torch.Tensor], x: torch.Tensor, stats: dict | None = None
    ) -> torch.Tensor:
        """Logits ``[N, B, T, C]`` of all runs for tokens ``x [N, B, T]`` (or shared ``[B, T]``).

        With ``stats``, appends each layer's largest attention logit per run (``[N]``) to
        ``stats["attn_logit_max"]``.
        """
        w = dict(zip(_names(self), params, strict=True))
        n, d = w["embed"].shape[0], self.width
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(n, -1, -1)  # one shared batch for every run
        b, t = x.shape[1:]
        idx = x.reshape(n, b * t, 1).expand(-1, -1, d)
        h = w["embed"].gather(1, idx)  # (N, B*T, d)
        if self.positions == "learned":
            h = (h.view(n, b, t, d) + w["pos"][:, None, :t]).view(n, b * t, d)
        else:
            h = h + _sinusoids(t, d, h.device, h.dtype).repeat(b, 1)
        heads, dh = self.heads, d // self.heads
        causal = torch.ones(t, t, dtype=torch.bool, device=h.device).triu(1)
        for i in range(self.layers):
            p = f"blocks.{i}."
            a = _layer_norm(h, w[p + "ln1.weight"], w[p + "ln1.bias"])
            qkv = torch.baddbmm(w[p + "qkv.bias"].unsqueeze(1), a, w[p + "qkv.weight"])
            q, k, v = qkv.view(n, b, t, 3, heads, dh).permute(3, 0, 1, 4, 2, 5)  # (N,B,H,T,dh)
            scores = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(dh))  # (N, B, H, T, T)
            scores = scores.masked_fill(causal, float("-inf"))
            if stats is not None:
                stats.setdefault("attn_logit_max", []).append(scores.detach().flatten(1).amax(1))
            o = (scores.softmax(-1) @ v).permute(0, 1, 3, 2, 4).reshape(n, b * t, d)
            h = h + torch.baddbmm(w[p + "proj.bias"].unsqueeze(1), o, w[p + "proj.weight"])
            a = _layer_norm(h, w[p + "ln2.weight"], w[p + "ln2.bias"])
            m = F.gelu(torch.baddbmm(w[p + "fc.bias"].unsqueeze(1), a, w[p + "fc.weight"]))
            h = h + torch.baddbmm(w[p + "out.bias"].unsqueeze(1), m, w[p + "out.weight"])
        h = _layer_norm(h, w["ln_f.weight"], w["ln_f.bias"])
        return torch.bmm(h, w["head.weight"]).view(n, b, t, -1)

    def reference(self, in_dim: int, out_dim: int, seed: int) -> TransformerReference:
        """The single-run ``torch.nn`` twin of run ``seed`` (for tests and baselines)."""
        return TransformerReference(self, in_dim, out_dim, seed)


@functools.lru_cache(maxsize=64)
def _names(config: Transformer) -> tuple[str, ...]:
    return tuple(p.name for p in config.layout(1, 1).params)  # names don't depend on dims


def _layer_norm(h: torch.Tensor, gain: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    # h (N, M, d); per-run gain and bias (N, d)
    return torch.addcmul(bias.unsqueeze(1), F.layer_norm(h, h.shape[-1:]), gain.unsqueeze(1))


def _sinusoids(t: int, d: int, device, dtype) -> torch.Tensor:
    """Vaswani et al. (2017) positions: sin on even, cos on odd features, ``[t, d]``."""
    pos = torch.arange(t, device=device, dtype=torch.float64)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, device=device) / d)
    out = torch.zeros(t, d, device=device, dtype=torch.float64)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq[: d // 2])
    return out.to(dtype)


class _Block(nn.Module):
    def __init__(self, d: int, heads: int, ratio: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, ratio * d), nn.Linear(ratio * d, d)

    def forward(self, h: torch.Tensor, logit_max: list) -> torch.Tensor:
        b, t, d = h.shape
        dh = d // self.heads
        q, k, v = self.qkv(self.ln1(h)).view(b, t, 3, self.heads, dh).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)  # (B, H, T, T)
        mask = torch.ones(t, t, dtype=torch.bool, device=h.device).triu(1)
        scores = scores.masked_fill(mask, float("-inf"))
        logit_max.append(scores.detach().max())
        o = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        h = h + self.proj(o)
        return h + self.out(F.gelu(self.fc(self.ln2(h))))


class TransformerReference(nn.Module):
    """One run of :class:`Transformer`, written plainly with ``torch.nn`` layers.

    ``forward(x [B, T]) -> logits [B, T, C]``; after a call, ``attn_logit_max`` holds each
    layer's largest attention logit.

    Examples
    --------
    >>> from workbench.models import StackedModel
    >>> cfg = Transformer(layers=1, width=8, heads=2, context=5)
    >>> ref = cfg.reference(7, 7, seed=3)
    >>> stacked = StackedModel(cfg, in_dim=7, out_dim=7, seeds=[3])
    >>> x = torch.randint(0, 7, (2, 5))
    >>> torch.allclose(stacked(x[None])[0], ref(x), atol=1e-6)
    True
    """

    def __init__(self, config: Transformer, in_dim: int, out_dim: int, seed: int) -> None:
        super().__init__()
        d = config.width
        self.config = config
        self.embed = nn.Embedding(in_dim, d)
        self.pos = (
            nn.Parameter(torch.zeros(config.context, d)) if config.positions == "learned" else None
        )
        self.blocks = nn.ModuleList(
            _Block(d, config.heads, config.mlp_ratio) for _ in range(config.layers)
        )
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, out_dim, bias=False)
        self.attn_logit_max: list[torch.Tensor] = []
        self._draw(seed)

    @torch.no_grad()
    def _draw(self, seed: int) -> None:
        # Same order and shapes as Transformer.init_row: embeddings as stored, Linear weights in
        # their own [out, in] layout, constants drawn from nothing.
        g = torch.Generator().manual_seed(int(seed))
        std, resid = _INIT_STD, _INIT_STD / math.sqrt(2 * self.config.layers)
        self.embed.weight.normal_(0.0, std, generator=g)
        if self.pos is not None:
            self.pos.normal_(0.0, std, generator=g)
        for blk in self.blocks:
            for lin, s in ((blk.qkv, std), (blk.proj, resid), (blk.fc, std), (blk.out, resid)):
                lin.weight.normal_(0.0, s, generator=g)
                lin.bias.zero_()
            for ln in (blk.ln1, blk.ln2):
                ln.weight.fill_(1.0)
                ln.bias.zero_()
        self.head.weight.normal_(0.0, std, generator=g)

    def flat_row(self) -> torch.Tensor:
        """The parameters in the stacked flat layout (Linear weights as ``[in, out]``)."""
        own = dict(self.named_parameters())
        parts = []
        for name in _names(self.config):
            p = own["embed.weight" if name == "embed" else name].detach()
            linear = p.dim() == 2 and name not in ("embed", "pos")
            parts.append((p.t() if linear else p).reshape(-1))
        return torch.cat(parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        h = self.embed(x)
        if self.pos is not None:
            h = h + self.pos[:t]
        else:
            h = h + _sinusoids(t, h.shape[-1], h.device, h.dtype)
        self.attn_logit_max = []
        for blk in self.blocks:
            h = blk(h, self.attn_logit_max)
        return self.head(self.ln_f(h))
