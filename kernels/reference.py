"""Plain torch twins of the fused optimizer steps in :mod:`workbench.kernels.fused_optim`.

Each function is the engine's torch update for ``N`` runs stacked in a flat ``[N, P]`` buffer,
written out step by step. They are what the kernels are tested against, and the path to use
where Triton cannot run (CPU, macOS).

Contract shared by all three (and by the fused launchers):

- ``p`` ``[N, P]`` is updated in place, and so is the optimizer state (``m``, ``v``, ``buf``).
- ``g`` ``[N, P]`` may hold NaN/inf in the rows of frozen runs.
- ``coef`` ``[C, N]`` holds this step's per-run coefficients, rows in the order documented on
  each function.
- ``alive`` ``[N]`` is 1.0 for live runs and 0.0 for frozen ones: a frozen run's update is
  exactly zero, even when its gradient is NaN (its state may still turn NaN, as in the engine).
- ``update_sq`` and ``param_sq`` ``[N]`` are *added to*: each run's sum over ``P`` of
  ``delta**2`` and of the new ``p**2``; the caller zeroes them first.
- ``backbone`` ``[P]`` and ``ratio`` ``[N]`` (keywords, both or neither) scale the update per
  column: ``delta *= 1 + (ratio - 1) * backbone``, with ``backbone`` 1.0 on the columns whose
  LR is ``ratio`` times the rest's (a "slow learner" backbone) and 0.0 elsewhere. That is
  what a torch optimizer does with the backbone in a param group of LR ``ratio * lr``: the
  gradient step and the decoupled decay are both scaled, the optimizer state is not.

The update ``delta`` has every NaN and inf replaced by zero before it is applied, because a
frozen run's coefficients are zero but ``0 * NaN`` is NaN.

The moving averages use ``torch.lerp``, as the engine does: for a weight ``w`` with
``|w| < 0.5`` it computes ``a + w * (b - a)``, otherwise ``b - (b - a) * (1 - w)``; the
kernels use the same two branches so that the two agree to rounding (and on where an inf
gradient turns into NaN).
"""

from __future__ import annotations

import torch

from ._checks import check_scale_args, check_step_args

__all__ = ["adamw_step_reference", "lion_step_reference", "sgd_step_reference"]


def _finish(
    p: torch.Tensor,
    delta: torch.Tensor,
    update_sq: torch.Tensor,
    param_sq: torch.Tensor,
    backbone: torch.Tensor | None,
    ratio: torch.Tensor | None,
) -> None:
    """Scale ``delta`` if asked, zero its non-finite entries, apply it, add both squared norms."""
    if backbone is not None:
        delta = delta * (1 + (ratio[:, None] - 1) * backbone)
    delta = torch.nan_to_num(delta, nan=0.0, posinf=0.0, neginf=0.0)
    p.add_(delta)
    update_sq.add_(delta.square().sum(1))
    param_sq.add_(p.square().sum(1))


@torch.no_grad()
def adamw_step_reference(
    p: torch.Tensor,
    g: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    coef: torch.Tensor,
    alive: torch.Tensor,
    update_sq: torch.Tensor,
    param_sq: torch.Tensor,
    *,
    backbone: torch.Tensor | None = None,
    ratio: torch.Tensor | None = None,
) -> None:
    """One AdamW step (Loshchilov & Hutter 2019) for ``N`` runs, in plain torch.

    Parameters
    ----------
    p, g, m, v : torch.Tensor
        ``[N, P]`` float32 parameters, gradient, first and second moment; ``p``, ``m`` and
        ``v`` are updated in place.
    coef : torch.Tensor
        ``[5, N]`` float32 rows ``(one_minus_beta1, one_minus_beta2, step, eps_hat, decay)``:
        with bias corrections ``b1 = 1 - prod beta1`` and ``b2 = 1 - prod beta2``,
        ``step = lr / b1 * sqrt(b2)``, ``eps_hat = eps * sqrt(b2)`` and ``decay = lr * wd``.
    alive : torch.Tensor
        ``[N]`` float32, 1.0 for live runs and 0.0 for frozen runs (zero update).
    update_sq, param_sq : torch.Tensor
        ``[N]`` float32; each run's sum of ``delta**2`` and of the new ``p**2`` is added.
    backbone, ratio : torch.Tensor, optional
        ``[P]`` and ``[N]`` float32, both or neither: multiply the update (decay included) of
        the columns where ``backbone`` is 1.0 by each run's ``ratio`` (see the module notes).

    Notes
    -----
    ``m <- lerp(m, g, c1)``, ``v <- lerp(v, g*g, c2)``, ``u = m / (sqrt(v) + eps_hat)``,
    ``delta = -(decay*alive) * p - (step*alive) * u`` with NaN/inf zeroed, ``p <- p + delta``.

    Examples
    --------
    >>> import torch
    >>> p, g = torch.ones(2, 3), torch.full((2, 3), 0.5)
    >>> m, v = torch.zeros(2, 3), torch.zeros(2, 3)
    >>> lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.0  # step t = 1: 1 - prod b = 1 - b
    >>> c = [1 - b1, 1 - b2, lr / (1 - b1) * (1 - b2) ** 0.5, eps * (1 - b2) ** 0.5, lr * wd]
    >>> coef = torch.tensor(c)[:, None].expand(5, 2).contiguous()  # same for both runs
    >>> usq, psq = torch.zeros(2), torch.zeros(2)
    >>> adamw_step_reference(p, g, m, v, coef, torch.tensor([1.0, 0.0]), usq, psq)
    >>> p[:, 0]  # the first step of Adam moves by lr * sign(g); the frozen run stays put
    tensor([0.9900, 1.0000])
    """
    check_step_args(
        "adamw_step_reference", p, {"g": g, "m": m, "v": v}, coef, 5, alive, update_sq, param_sq
    )
    check_scale_args("adamw_step_reference", p, backbone, ratio)
    c1, c2, step, eps_hat, decay = coef[:, :, None].unbind(0)  # each (N, 1)
    a = alive[:, None]  # (N, 1)
    m.lerp_(g, c1)
    v.lerp_(g * g, c2)
    u = m / (v.sqrt() + eps_hat)
    delta = p * (-decay * a) + u * (-step * a)
    _finish(p, delta, update_sq, param_sq, backbone, ratio)


@torch.no_grad()
def sgd_step_reference(
    p: torch.Tensor,
    g: torch.Tensor,
    buf: torch.Tensor,
    coef: torch.Tensor,
    alive: torch.Tensor,
    update_sq: torch.Tensor,
    param_sq: torch.Tensor,
    *,
    nesterov: bool,
    backbone: torch.Tensor | None = None,
    ratio: torch.Tensor | None = None,
) -> None:
    """One step of SGD with momentum (torch semantics, no dampening) for ``N`` runs.

    Parameters
    ----------
    p, g, buf : torch.Tensor
        ``[N, P]`` float32 parameters, gradient and momentum buffer (zero before the first
        step, so the first buffer is the gradient, as in ``torch.optim.SGD``); ``p`` and
        ``buf`` are updated in place.
    coef : torch.Tensor
        ``[3, N]`` float32 rows ``(lr, momentum, decay)`` with ``decay = lr * wd``.
    alive : torch.Tensor
        ``[N]`` float32, 1.0 for live runs and 0.0 for frozen runs (zero update).
    update_sq, param_sq : torch.Tensor
        ``[N]`` float32; each run's sum of ``delta**2`` and of the new ``p**2`` is added.
    nesterov : bool
        Use the look-ahead direction ``g + momentum * buf`` instead of ``buf``.
    backbone, ratio : torch.Tensor, optional
        ``[P]`` and ``[N]`` float32, both or neither: multiply the update (decay included) of
        the columns where ``backbone`` is 1.0 by each run's ``ratio`` (see the module notes).

    Notes
    -----
    ``buf <- momentum*buf + g``, ``d = g + momentum*buf`` if ``nesterov`` else ``buf``,
    ``delta = -(decay*alive) * p - (lr*alive) * d`` with NaN/inf zeroed, ``p <- p + delta``.
    The decay is decoupled: ``p <- p * (1 - lr*wd)`` then the plain SGD step.

    Examples
    --------
    >>> import torch
    >>> p, g, buf = torch.ones(1, 2), torch.ones(1, 2), torch.zeros(1, 2)
    >>> coef = torch.tensor([[0.1], [0.9], [0.0]])
    >>> usq, psq = torch.zeros(1), torch.zeros(1)
    >>> sgd_step_reference(p, g, buf, coef, torch.ones(1), usq, psq, nesterov=False)
    >>> p, usq
    (tensor([[0.9000, 0.9000]]), tensor([0.0200]))
    >>> p, buf = torch.ones(1, 2), torch.zeros(1, 2)  # column 0 in a backbone at 0.1x the LR
    >>> bb, ratio = torch.tensor([1.0, 0.0]), torch.tensor([0.1])
    >>> sgd_step_reference(p, g, buf, coef, torch.ones(1), usq, psq, nesterov=False,
    ...     backbone=bb, ratio=ratio)
    >>> p
    tensor([[0.9900, 0.9000]])
    """
    if not isinstance(nesterov, bool):
        raise ValueError(f"sgd_step_reference: nesterov={nesterov!r} must be True or False")
    check_step_args(
        "sgd_step_reference", p, {"g": g, "buf": buf}, coef, 3, alive, update_sq, param_sq
    )
    check_scale_args("sgd_step_reference", p, backbone, ratio)
    lr, mu, decay = coef[:, :, None].unbind(0)  # each (N, 1)
    a = alive[:, None]  # (N, 1)
    buf.mul_(mu).add_(g)
    d = g + mu * buf if nesterov else buf
    delta = p * (-decay * a) + d * (-lr * a)
    _finish(p, delta, update_sq, param_sq, backbone, ratio)


@torch.no_grad()
def lion_step_reference(
    p: torch.Tensor,
    g: torch.Tensor,
    m: torch.Tensor,
    coef: torch.Tensor,
    alive: torch.Tensor,
    update_sq: torch.Tensor,
    param_sq: torch.Tensor,
    *,
    backbone: torch.Tensor | None = None,
    ratio: torch.Tensor | None = None,
) -> None:
    """One Lion step (Chen et al. 2023, "Symbolic discovery of optimization algorithms").

    Parameters
    ----------
    p, g, m : torch.Tensor
        ``[N, P]`` float32 parameters, gradient and momentum; ``p`` and ``m`` are updated in
        place.
    coef : torch.Tensor
        ``[4, N]`` float32 rows ``(lr, one_minus_beta1, one_minus_beta2, decay)`` with
        ``decay = lr * wd``.
    alive : torch.Tensor
        ``[N]`` float32, 1.0 for live runs and 0.0 for frozen runs (zero update).
    update_sq, param_sq : torch.Tensor
        ``[N]`` float32; each run's sum of ``delta**2`` and of the new ``p**2`` is added.
    backbone, ratio : torch.Tensor, optional
        ``[P]`` and ``[N]`` float32, both or neither: multiply the update (decay included) of
        the columns where ``backbone`` is 1.0 by each run's ``ratio`` (see the module notes).

    Notes
    -----
    Algorithm 1 of the paper with ``c1 = 1 - beta1`` and ``c2 = 1 - beta2``:
    ``c = lerp(m, g, c1)``, ``delta = -(decay*alive) * p - (lr*alive) * sign(c)`` with NaN/inf
    zeroed, ``m <- lerp(m, g, c2)``, ``p <- p + delta``. ``sign(0) = 0``, and, as
    ``torch.sign`` does, ``sign(NaN) = 0``.

    Examples
    --------
    >>> import torch
    >>> p, g, m = torch.zeros(1, 3), torch.tensor([[2.0, -0.1, 0.0]]), torch.zeros(1, 3)
    >>> coef = torch.tensor([[0.01], [0.1], [0.01], [0.0]])
    >>> usq, psq = torch.zeros(1), torch.zeros(1)
    >>> lion_step_reference(p, g, m, coef, torch.ones(1), usq, psq)
    >>> p
    tensor([[-0.0100,  0.0100,  0.0000]])
    """
    check_step_args("lion_step_reference", p, {"g": g, "m": m}, coef, 4, alive, update_sq, param_sq)
    check_scale_args("lion_step_reference", p, backbone, ratio)
    lr, c1, c2, decay = coef[:, :, None].unbind(0)  # each (N, 1)
    a = alive[:, None]  # (N, 1)
    c = torch.lerp(m, g, c1)
    delta = p * (-decay * a) + torch.sign(c) * (-lr * a)
    m.lerp_(g, c2)
    _finish(p, delta, update_sq, param_sq, backbone, ratio)
