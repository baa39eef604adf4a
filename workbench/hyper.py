"""A bucket's hyperparameter tables: each run's value of each optimizer hyperparameter at each
step, as the specs schedule it and live changes set it, and the per-step optimizer coefficients
derived from them that the (captured) training step reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .spec import RunSpec

__all__ = ["HyperTables"]


class HyperTables:
    """Per-step hyperparameters of the runs of one bucket, with live multipliers.

    Attributes
    ----------
    names
        The optimizer's hyperparameters, in table order.
    tables
        ``(K, N, T)`` float64: each hyperparameter of each run at each step, as the specs
        schedule it (what the Dataset records).
    unscaled, multiplier
        Live multipliers (the LR multiplier) ``(K, N)``: ``tables = unscaled * multiplier`` from
        the step a multiplier was set, so moving it back to 1 restores the schedule exactly.
    coef
        ``(T, C, N, 1)`` float32: the optimizer's per-step coefficients derived from ``tables``
        in float64, so one index per step gives every run's coefficients as ``[N, 1]`` columns.
        Rewritten in place while its shape holds (a captured CUDA graph reads this address).

    Examples
    --------
    >>> import workbench as wb
    >>> spec = wb.RunSpec(data="digits", model=wb.MLP(hidden=(8,)), steps=5, optimizer=wb.SGD())
    >>> h = HyperTables([spec, spec], steps=5, device=torch.device("cpu"))
    >>> h.set("lr", [1], torch.tensor([2.0]), 3, scale=True)  # run 1's LR doubled from step 3
    >>> (h.tables[h.names.index("lr"), 1] / h.tables[h.names.index("lr"), 0]).tolist()
    [1.0, 1.0, 1.0, 2.0, 2.0]
    """

    def __init__(self, specs: Sequence[RunSpec], *, steps: int, device: torch.device) -> None:
        self.optimizer, self.device = specs[0].optimizer, device
        self.names = self.optimizer.hyperparameters
        per_run = [s.optimizer.tables(steps) for s in specs]
        rows = [torch.stack([t[h] for t in per_run]) for h in self.names]  # (N, T) each
        self.tables = torch.stack(rows).to(device)
        self.unscaled = self.tables.clone()
        self.multiplier = torch.ones(self.tables.shape[:2], dtype=torch.float64, device=device)
        self.coef: torch.Tensor | None = None
        self.refresh()

    def refresh(self) -> None:
        """Derive :attr:`coef` from :attr:`tables` again (in place while its shape holds)."""
        h = {k: self.tables[i].T for i, k in enumerate(self.names)}  # (T, N) each
        coef = self.optimizer.coefficients(h)  # (T, C, N) float64
        coef = coef[..., None].to(torch.float32)
        if self.coef is not None and self.coef.shape == coef.shape:
            self.coef.copy_(coef)  # in place: a captured CUDA graph reads this address
        else:
            self.coef = coef.contiguous()

    def set(
        self,
        name: str,
        rows: Sequence[int],
        values: torch.Tensor,
        step: int,
        *,
        scale: bool = False,
    ) -> None:
        """From ``step`` on, set hyperparameter ``name`` of rows ``rows`` (``values`` is
        ``[len(rows)]`` or ``[len(rows), T - step]``), or with ``scale`` set its live multiplier.

        A multiplier (one number per row) is absolute, not cumulative: the value used is the
        unscaled value times the latest multiplier, so 1.5 then 1.0 gives back the schedule.
        Per-step multipliers (``[len(rows), T - step]``) are folded into the unscaled values.
        A set value is the unscaled value (a multiplier in force keeps applying). The tables
        record what each run actually used, and the optimizer coefficients are recomputed from
        them (bias corrections included).
        """
        if name not in self.names:
            raise ValueError(
                f"set_hyper: {name!r} is not a hyperparameter of "
                f"{type(self.optimizer).__name__}; allowed: {', '.join(self.names)}"
            )
        k, t = self.names.index(name), step
        idx = torch.as_tensor(list(rows), device=self.device, dtype=torch.long)
        vals = torch.as_tensor(values, dtype=torch.float64, device=self.device)
        base = self.unscaled[k, idx, t:]
        mult = self.multiplier[k, idx]
        if scale and vals.dim() == 1:
            mult = vals
        elif scale:
            base = base * vals
        else:
            base = (vals[:, None] if vals.dim() == 1 else vals).expand_as(base)
        new = base * mult[:, None]
        lo, hi = self.optimizer.ranges[name]
        bad = ~torch.isfinite(new) | (new < lo) | ((new > hi) if hi is not None else False)
        if bool(bad.any()):
            allowed = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
            raise ValueError(
                f"set_hyper: {name} would become {float(new[bad][0]):.6g}; it must stay {allowed}"
            )
        self.tables[k, idx, t:] = new
        self.unscaled[k, idx, t:] = base
        self.multiplier[k, idx] = mult
        self.refresh()

    def take(self, index: torch.Tensor) -> None:
        """Keep rows ``index`` (a fork repeats its parent's rows): a new :attr:`coef`."""
        self.tables = self.tables.index_select(1, index).contiguous()
        self.unscaled = self.unscaled.index_select(1, index).contiguous()
        self.multiplier = self.multiplier.index_select(1, index).contiguous()
        self.coef = None
        self.refresh()
