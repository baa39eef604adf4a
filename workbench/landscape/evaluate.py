"""Loss and accuracy of arbitrary parameter rows: the primitive every landscape slice uses.

:func:`loss_of` evaluates any rows ``[M, P]``; :class:`SliceEvaluator` evaluates the points
``center + coords @ dirs`` of a slice, and for an MLP it never builds the first layer of a
point: the first layer is linear in the parameters, ``X (W + Σ c_j D_j) + (b + Σ c_j e_j) =
(X W + b) + Σ c_j (X D_j + e_j)``, so ``X W + b`` and every ``X D_j + e_j`` are computed once on
the probe batch and each point's first-layer output is their combination (a ``[K, 1 + D] @
[1 + D, B·h]`` product instead of ``K`` matrix products ``[B, in] @ [in, h]``); the remaining
layers run batched over the points as usual. On W1 (40-100-100-10, mnist1d's 1,000 test
examples, one CPU thread) a 51 x 51 grid takes about 0.5 ms a point this way, about 1.5x
faster than building and forwarding every point's row (1.2x-2x over runs on a shared 2-core
machine; ``bench/landscape.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .. import data as _data
from ..evaluation import probe_indices
from ..models import MLP, StackedModel, Transformer
from ..models.base import ACTIVATIONS, EVAL_MAX_BYTES, Layout, example_losses

__all__ = ["loss_of", "probe_data", "layout_of", "SliceEvaluator", "SLICE_CPU_PASS_BYTES"]

# On the CPU the first-layer path forwards about this many bytes of activations per pass. W1 on
# mnist1d's 1,000 test examples is about 1 MiB a point; 1,300 points of its grid took 1.05 s in
# passes of 1 point, 0.70-0.84 s of 2, 0.55-0.68 s of 4 to 16 and 0.60-0.80 s of 32 (fastest
# and median of 5; one thread of a shared 2-core machine, 2 MiB of L2 per core).
SLICE_CPU_PASS_BYTES = 8 * 2**20


def probe_data(
    model: MLP | Transformer,
    data: _data.DataSpec | str,
    *,
    split: str = "train",
    size: int = 512,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed subset of ``data`` as ``model`` reads it: the first ``size`` examples of a
    fixed permutation of the ``split`` set (:func:`~workbench.evaluation.probe_indices`, the
    same for every caller), so every point of every slice is measured on the same examples.

    Examples
    --------
    >>> x, y = probe_data(MLP(), "digits", size=100)
    >>> x.shape, y.shape
    (torch.Size([100, 64]), torch.Size([100]))
    """
    if split not in ("train", "test"):
        raise ValueError(f"probe_data: split={split!r} must be 'train' or 'test'")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"probe_data: size={size!r} must be an int >= 1")
    spec = _data.data_spec(data) if isinstance(data, str) else data
    d = _data.load(spec)
    x, y = (d.x_train, d.y_train) if split == "train" else (d.x_test, d.y_test)
    idx = probe_indices(x.shape[0], size)
    return model.prepare(d, x[idx]).to(device), y[idx].to(device)


def layout_of(model: MLP | Transformer, data: _data.DataSpec | str):
    """The parameter layout of ``model`` on ``data`` (what a row of ``theta`` must follow)."""
    spec = _data.data_spec(data) if isinstance(data, str) else data
    return model.layout(*model.dims(_data.info(spec)))


def loss_of(
    model: MLP | Transformer,
    theta: torch.Tensor,
    data: _data.DataSpec | str,
    *,
    split: str = "train",
    size: int = 512,
    batch: tuple[torch.Tensor, torch.Tensor] | None = None,
    max_bytes: int = EVAL_MAX_BYTES,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and accuracy ``[M]`` of the parameter rows ``theta [M, P]`` on a fixed subset.

    Every row is a model of architecture ``model`` on ``data`` (the engine's flat layout:
    weights stored ``[in, out]``); all rows are evaluated together by the stacked forward, in
    groups sized by activation memory (``max_bytes``), so a 51 x 51 grid is one call. The
    examples are :func:`probe_data` (``size`` of the ``split`` set), or ``batch`` (``(x, y)``
    already prepared for the model, e.g. one :func:`probe_data` reused across calls).

    Examples
    --------
    >>> from workbench.models import StackedModel
    >>> m = StackedModel(MLP(hidden=(8,)), in_dim=64, out_dim=10, seeds=[0, 1])
    >>> loss, acc = loss_of(MLP(hidden=(8,)), m.flat, "digits", size=64)
    >>> loss.shape, bool((acc >= 0).all() and (acc <= 1).all())
    (torch.Size([2]), True)
    """
    layout = layout_of(model, data)
    if theta.dim() == 1:
        theta = theta[None]
    if theta.dim() != 2 or theta.shape[1] != layout.size:
        raise ValueError(
            f"loss_of: theta of shape {tuple(theta.shape)} must be [M, {layout.size}] "
            f"(rows of {type(model).__name__}'s layout on this data)"
        )
    x, y = (
        batch
        if batch is not None
        else probe_data(model, data, split=split, size=size, device=theta.device)
    )
    rows = StackedModel.of_rows(model, layout, theta)
    return rows.evaluate(x, y, max_bytes=max_bytes)


class SliceEvaluator:
    """Loss and accuracy at the points ``center + coords @ dirs`` of a slice, ``coords [K, D]``
    given call by call (a whole grid, or one block of it at a time).

    The probe batch (:func:`probe_data`, or ``batch``) is read once. For an :class:`~workbench.
    models.MLP` (``first_layer=None``: automatically) the first layer's products with the
    center and with each direction are computed once here (module docstring), and a call only
    combines them and runs the remaining layers over the points, in passes of about
    ``SLICE_CPU_PASS_BYTES`` of activations on the CPU (``max_bytes`` elsewhere): about a
    quarter of W1's forward FLOPs (40-100-100-10) are saved. Any other family (the
    transformer) builds the rows, ``chunk`` at a time, and evaluates them with
    :func:`loss_of`. Both give the same numbers up to float rounding (tested to 1e-5).

    Parameters
    ----------
    model, data
        The architecture and the dataset the rows are laid out for.
    center
        The point ``[P]`` at the origin of the slice.
    dirs
        The directions, ``[D, P]`` or a sequence of ``D`` tensors ``[P]``.
    split, size, batch
        The probe examples (as :func:`loss_of` takes them).
    chunk
        Rows built at once on the plain path (``chunk x P`` numbers at most), and points per
        pass at most on the first-layer path.
    first_layer
        ``None`` (an MLP uses the first-layer trick, whatever its loss), ``True`` (required:
        an MLP only) or ``False`` (the plain path, e.g. to time one against the other).
    max_bytes
        Bound on one pass's activations (:meth:`~workbench.models.StackedModel.evaluate`).

    Examples
    --------
    >>> from workbench.models import StackedModel
    >>> m = StackedModel(MLP(hidden=(8,)), in_dim=64, out_dim=10, seeds=[0, 1, 2])
    >>> ev = SliceEvaluator(MLP(hidden=(8,)), "digits", m.flat[0], m.flat[1:] - m.flat[0],
    ...                     size=64)
    >>> loss, acc = ev([[0, 0], [1, 0], [0, 1]])  # the three runs themselves
    >>> bool(np.allclose(loss, loss_of(MLP(hidden=(8,)), m.flat, "digits", size=64)[0], atol=1e-5))
    True
    >>> ev.uses_first_layer
    True
    """

    def __init__(
        self,
        model: MLP | Transformer,
        data: _data.DataSpec | str,
        center: torch.Tensor,
        dirs: torch.Tensor | Sequence[torch.Tensor],
        *,
        split: str = "train",
        size: int = 512,
        batch: tuple[torch.Tensor, torch.Tensor] | None = None,
        chunk: int = 256,
        first_layer: bool | None = None,
        max_bytes: int = EVAL_MAX_BYTES,
    ) -> None:
        layout = layout_of(model, data)
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"SliceEvaluator: chunk={chunk!r} must be an int >= 1")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"SliceEvaluator: max_bytes={max_bytes!r} must be an int >= 1")
        if first_layer not in (None, True, False):
            raise ValueError(
                f"SliceEvaluator: first_layer={first_layer!r} must be None, True or False"
            )
        if first_layer and not isinstance(model, MLP):
            raise ValueError(
                f"SliceEvaluator: first_layer=True needs an MLP, not a {type(model).__name__}"
            )
        if center.shape != (layout.size,):
            raise ValueError(
                f"SliceEvaluator: center of shape {tuple(center.shape)} must be [{layout.size}] "
                f"(one row of {type(model).__name__}'s layout on this data)"
            )
        d = torch.stack(list(dirs)) if not isinstance(dirs, torch.Tensor) else dirs
        if d.dim() != 2 or d.shape[0] < 1 or d.shape[1] != layout.size:
            raise ValueError(
                f"SliceEvaluator: dirs of shape {tuple(d.shape)} must be [D >= 1, {layout.size}]"
            )
        self.model, self.data, self.layout, self.chunk = model, data, layout, chunk
        self.max_bytes = max_bytes
        self.center = center
        self.dirs = d.to(center)  # (D, P)
        self.batch = (
            batch
            if batch is not None
            else probe_data(model, data, split=split, size=size, device=center.device)
        )
        self.uses_first_layer = isinstance(model, MLP) if first_layer is None else first_layer
        if self.uses_first_layer:
            self._prepare_first_layer()

    @property
    def n_dirs(self) -> int:
        return self.dirs.shape[0]

    def __call__(self, coords) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and accuracy ``[K]`` (numpy arrays in the model's dtype) at every row of
        ``coords [K, D]``."""
        c = torch.as_tensor(np.asarray(coords, dtype=np.float64), device=self.center.device)
        if c.dim() != 2 or c.shape[1] != self.n_dirs:
            raise ValueError(
                f"SliceEvaluator: coords of shape {tuple(c.shape)} must be [K, {self.n_dirs}]"
            )
        c = c.to(self.center.dtype)
        run = self._first_layer if self.uses_first_layer else self._plain
        losses, accs = [], []
        for lo in range(0, c.shape[0], self.chunk):
            loss, acc = run(c[lo : lo + self.chunk])
            losses.append(loss.cpu())
            accs.append(acc.cpu())
        if not losses:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        return torch.cat(losses).numpy(), torch.cat(accs).numpy()

    # -- the plain path: build the rows, evaluate them -------------------------------------------

    def _plain(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.addmm(self.center[None], c, self.dirs)  # (k, P)
        return loss_of(self.model, rows, self.data, batch=self.batch, max_bytes=self.max_bytes)

    # -- the first-layer path (MLP) ---------------------------------------------------------------

    def _prepare_first_layer(self) -> None:
        x, y = self.batch
        x = x.to(self.center.dtype)
        first = self.layout.params[0].numel + self.layout.params[1].numel  # W0 [in, h], b0 [h]
        both = torch.cat([self.center[None], self.dirs])  # (1 + D, P)
        w, b = Layout(self.layout.params[:2]).views(both[:, :first].contiguous())
        pre = torch.matmul(x, w) + b.unsqueeze(1)  # (1 + D, B, h): the forward's own op
        m = pre.shape[1]
        self._widths = [p.shape[-1] for p in self.layout.params if len(p.shape) == 2]
        self._deep = len(self._widths) > 1
        if self._deep:
            # A column of ones (the center's coefficient is 1, the directions' columns are 0):
            # the next layer's bias rides in its matrix product, since a flat row stores a
            # layer's weight [in, out] and then its bias [out], i.e. the matrix [W; b] of
            # shape [in + 1, out], and [h, 1] @ [W; b] = h W + b.
            ones = torch.zeros(1 + self.n_dirs, m, 1, dtype=pre.dtype, device=pre.device)
            ones[0] = 1.0
            pre = torch.cat([pre, ones], 2)  # (1 + D, B, h + 1)
        # examples per pass: one point's activations over them within max_bytes; points per
        # pass: about SLICE_CPU_PASS_BYTES on the CPU
        per_example = (sum(self._widths) + 1 + 4 * self._widths[-1]) * pre.element_size()
        ex = min(m, max(1, self.max_bytes // per_example))
        pass_bytes = self.max_bytes
        if self.center.device.type == "cpu":
            pass_bytes = min(pass_bytes, SLICE_CPU_PASS_BYTES)
        self._group = max(1, min(self.chunk, pass_bytes // (ex * per_example)))
        self._ex = ex
        # per chunk of examples: [X W + b; X D_j + e_j] as one (1 + D, e * h') matrix, the
        # labels (1, 1, e), and (C, e): 0 for the classes before each label, -inf from it on
        classes = torch.arange(self._widths[-1], device=y.device)[None, :, None]
        self._parts = []
        for a in range(0, m, ex):
            ya = y[a : a + ex].view(1, 1, -1)
            earlier = torch.zeros(classes.shape[1], ya.shape[-1], dtype=pre.dtype)
            earlier = earlier.to(pre.device).masked_fill_((classes >= ya)[0], float("-inf"))
            self._parts.append((pre[:, a : a + ex].reshape(1 + self.n_dirs, -1), ya, earlier))
        self._n_examples = y.numel()
        self._rest_layout = Layout(self.layout.params[2:])
        self._rest_center = self.center[first:]
        self._rest_dirs = self.dirs[:, first:].contiguous()
        name = self.model.activation
        self._act = _IN_PLACE.get(name, ACTIVATIONS[name][0])
        self._refill = name != "relu"  # relu(1) = 1 keeps the ones column; the others don't

    def _first_layer(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The points ``c [k, D]`` in groups of ``_group``: the first layer's output combined
        (``[1, c] @ [X W + b; X D_j + e_j]``), the rest of the forward as :meth:`MLP.forward`
        computes it (the activation after every layer but the last; the second layer's bias
        inside its product, the later ones by ``baddbmm``), into buffers reused from group to
        group. The last layer writes the logits classes-first, ``[g, C, e]``, where the loss
        and the maxima over classes are fast on the CPU (``argmax`` over a short innermost axis
        is not: 5x slower); an example is correct when its label's logit is the largest and
        every earlier class's is smaller, which is ``argmax``'s rule for ties (examples with
        non-finite logits may count differently)."""
        dt, dev = c.dtype, c.device
        widths, n_layers, deep = self._widths, len(self._widths), self._deep
        h0 = widths[0] + deep  # the first layer's output, with the ones column
        size = min(self._group, c.shape[0]) * self._ex
        bufs = [
            torch.empty(size * (w + (i == 0) * deep), dtype=dt, device=dev)
            for i, w in enumerate(widths)
        ]
        rows = torch.empty(self._group * self._rest_center.numel(), dtype=dt, device=dev)
        coef = torch.cat([torch.ones(c.shape[0], 1, dtype=dt, device=dev), c], 1)  # [1, c]
        n_rest = self._rest_center.numel()
        losses, accs = [], []
        for lo in range(0, c.shape[0], self._group):
            cg = coef[lo : lo + self._group]  # (g, 1 + D)
            g = cg.shape[0]
            flat = rows[: g * n_rest].view(g, n_rest)
            torch.addmm(self._rest_center[None], cg[:, 1:], self._rest_dirs, out=flat)
            rest = self._rest_layout.views(flat)
            loss = torch.zeros(g, dtype=dt, device=dev)
            correct = torch.zeros(g, dtype=dt, device=dev)
            for along, y, earlier in self._parts:
                e = y.shape[-1]
                h = torch.mm(cg, along, out=bufs[0][: g * e * h0].view(g, -1)).view(g, e, h0)
                for i in range(1, n_layers):
                    h = self._act(h)
                    if i == 1:
                        if self._refill:
                            h[..., -1] = 1.0
                        w = flat[:, : h0 * widths[1]].view(g, h0, widths[1])  # [W; b]
                        b = None
                    else:
                        w, b = rest[2 * i - 2], rest[2 * i - 1]  # (g, in, out), (g, out)
                    if i < n_layers - 1:  # (g, e, out)
                        out = bufs[i][: g * e * widths[i]].view(g, e, widths[i])
                        h = (
                            torch.bmm(h, w, out=out)
                            if b is None
                            else torch.baddbmm(b.unsqueeze(1), h, w, out=out)
                        )
                    else:  # the logits, classes first: (g, C, e)
                        out = bufs[i][: g * e * widths[i]].view(g, widths[i], e)
                        wt, ht = w.transpose(1, 2), h.transpose(1, 2)
                        h = (
                            torch.bmm(wt, ht, out=out)
                            if b is None
                            else torch.baddbmm(b.unsqueeze(2), wt, ht, out=out)
                        )
                logits = h if self._deep else h.movedim(-1, 1)  # (g, C, e)
                yy = y[0].expand(g, e)
                loss += example_losses(logits, yy, self.model.loss).sum(1)
                top = logits.amax(1, keepdim=True)  # (g, 1, e)
                at_y = logits.gather(1, y.expand(g, 1, e)) == top
                first = (logits + earlier).amax(1, keepdim=True) < top  # no earlier tie
                correct += (at_y & first).to(dt).sum((1, 2))
            losses.append(loss / self._n_examples)
            accs.append(correct / self._n_examples)
        return torch.cat(losses), torch.cat(accs)


def _silu_(h: torch.Tensor) -> torch.Tensor:
    return F.silu(h, inplace=True)


# In-place twins of the activations (the same function, no new buffer); gelu has none.
_IN_PLACE = {"relu": torch.relu_, "tanh": torch.tanh_, "silu": _silu_}
