"""The per-column LR scale (``backbone``, ``ratio``) of the fused steps and their torch twins.

``delta *= 1 + (ratio - 1) * backbone``: the kernels against the twins (interpreted on CPU,
compiled on CUDA), the twins against unscaled twins stepped on each column group with the
learning rate times ``ratio``, and the argument checks.
"""

import math

import pytest
import torch
from workbench.kernels import (
    adamw_step_reference,
    fused_adamw_step,
    fused_lion_step,
    fused_optim,
    fused_sgd_step,
    lion_step_reference,
    sgd_step_reference,
)

DEVICES = ["cpu"] if fused_optim._INTERPRET else ["cuda"]
# run 3 is frozen; ratio 0 freezes run 2's backbone; ratio 1 is run 0's head LR everywhere
RATIOS = [1.0, 0.1, 0.0, 0.5, 2.5]
FROZEN = 3
N, P, STEPS = 5, 1100, 3  # two blocks of 1024 under the interpreter, the second ragged
OPTS = ["adamw", "sgd", "sgd_nesterov", "lion"]
STATES = {"adamw": ("m", "v"), "sgd": ("buf",), "sgd_nesterov": ("buf",), "lion": ("m",)}
# coefficient rows multiplied by the LR: AdamW (c1, c2, step, eps_hat, decay), SGD (lr, mu,
# decay), Lion (lr, c1, c2, decay)
LR_ROWS = {"adamw": (2, 4), "sgd": (0, 2), "sgd_nesterov": (0, 2), "lion": (0, 3)}


def _coef(opt: str, t: int) -> torch.Tensor:
    """``[C, N]`` float32 coefficients of step ``t`` (1-based), different for every run."""
    lr = torch.linspace(1e-3, 1e-2, N, dtype=torch.float64)
    wd = torch.linspace(0.05, 0.2, N, dtype=torch.float64)  # every run decays
    b1 = torch.linspace(0.9, 0.3, N, dtype=torch.float64)
    b2 = torch.linspace(0.999, 0.4, N, dtype=torch.float64)
    if opt == "adamw":
        c2 = (1 - b2**t).sqrt()
        rows = [1 - b1, 1 - b2, lr / (1 - b1**t) * c2, 1e-8 * c2, lr * wd]
    elif opt == "lion":
        rows = [lr, 1 - b1, 1 - b2, lr * wd]
    else:
        rows = [lr * 10, b1, lr * 10 * wd]
    return torch.stack(rows).float()


def _steppers(opt: str):
    """(fused, twin), both called as ``(p, g, *states, coef, alive, usq, psq, **scale)``."""
    if opt == "adamw":
        return fused_adamw_step, adamw_step_reference
    if opt == "lion":
        return fused_lion_step, lion_step_reference
    nesterov = opt == "sgd_nesterov"

    def fused(*args, **kw):
        fused_sgd_step(*args, nesterov=nesterov, **kw)

    def twin(*args, **kw):
        sgd_step_reference(*args, nesterov=nesterov, **kw)

    return fused, twin


def _gradient(step: int, gen: torch.Generator) -> torch.Tensor:
    """Random ``[N, P]``; the frozen run's row is NaN/inf, and at step 2 the ratio-0 run has an
    inf and a NaN in backbone columns (its update there is 0 * NaN, which must still be 0)."""
    g = torch.randn(N, P, generator=gen)
    g[FROZEN, 0::3] = math.nan
    g[FROZEN, 1::3] = math.inf
    if step == 2:
        g[2, 1], g[2, 2] = math.inf, math.nan
    return g


def _backbone() -> torch.Tensor:
    """Columns 1, 2 mod 3 and the whole second block's start are in the backbone."""
    cols = torch.arange(P)
    return ((cols % 3 != 0) | ((cols >= 1024) & (cols < 1050))).float()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("opt", OPTS)
def test_scaled_kernel_matches_its_twin(opt, device):
    gen = torch.Generator().manual_seed(OPTS.index(opt))
    bb, ratio = _backbone(), torch.tensor(RATIOS)
    alive = torch.ones(N)
    alive[FROZEN] = 0.0
    p0 = torch.randn(N, P, generator=gen)
    ref = {"p": p0.clone(), **{s: torch.zeros(N, P) for s in STATES[opt]}}
    ref["usq"], ref["psq"] = torch.zeros(N), torch.zeros(N)
    plain = {k: t.clone() for k, t in ref.items()}  # the twin without a scale
    ker = {k: t.clone().to(device) for k, t in ref.items()}
    fused, twin = _steppers(opt)
    states = STATES[opt]
    names = ("p", *states)
    for t in range(1, STEPS + 1):
        g, coef = _gradient(t, gen), _coef(opt, t)
        scale = {"backbone": bb, "ratio": ratio}
        twin(ref["p"], g, *[ref[s] for s in states], coef, alive, ref["usq"], ref["psq"], **scale)
        twin(plain["p"], g, *[plain[s] for s in states], coef, alive, plain["usq"], plain["psq"])
        scale = {k: x.to(device) for k, x in scale.items()}
        args = [x.to(device) for x in (g, *[ker[s] for s in states], coef, alive)]
        fused(ker["p"], *args, ker["usq"], ker["psq"], **scale)
        got = {k: x.cpu() for k, x in ker.items()}
        for k in names:
            torch.testing.assert_close(
                got[k], ref[k], rtol=1e-6, atol=1e-6, equal_nan=True, msg=f"{k} at step {t}"
            )
        for k in ("usq", "psq"):
            torch.testing.assert_close(got[k], ref[k], rtol=1e-5, atol=1e-12, msg=f"{k} step {t}")
        for k in names[1:]:  # the optimizer state does not see the scale
            torch.testing.assert_close(ref[k], plain[k], rtol=0, atol=0, equal_nan=True)
    on = bb.bool()
    for p in (ref["p"], got["p"]):
        assert torch.isfinite(p).all()
        assert torch.equal(p[FROZEN], p0[FROZEN]), "a frozen run moved"
        assert torch.equal(p[2, on], p0[2, on]), "a ratio-0 backbone moved"
        assert not torch.equal(p[2, ~on], p0[2, ~on]), "the ratio-0 run's head did not move"
    assert got["usq"][FROZEN] == 0.0
    # ratio 1 is no scale, to the bit in the twin
    assert torch.equal(ref["p"][0], plain["p"][0])
    assert torch.equal(ref["usq"][0], plain["usq"][0])


@pytest.mark.parametrize("opt", OPTS)
def test_scaled_twin_is_the_unscaled_twin_per_column_group(opt):
    # The independent formulation: step the backbone columns with every LR-proportional
    # coefficient (the step and the decay) times ratio, the head columns as they are.
    gen = torch.Generator().manual_seed(10 + OPTS.index(opt))
    on = _backbone().bool()
    ratio = torch.tensor(RATIOS)
    alive = torch.ones(N)
    p = torch.randn(N, P, generator=gen)
    ours = {"p": p.clone(), **{s: torch.zeros(N, P) for s in STATES[opt]}}
    groups = [{k: t[:, cols].clone() for k, t in ours.items()} for cols in (on, ~on)]
    _, twin = _steppers(opt)

    def step(state, g, coef, **scale):  # the norms are checked in the test above
        states = [state[s] for s in STATES[opt]]
        twin(state["p"], g, *states, coef, alive, torch.zeros(N), torch.zeros(N), **scale)

    for t in range(1, STEPS + 1):
        g, coef = torch.randn(N, P, generator=gen), _coef(opt, t)
        step(ours, g, coef, backbone=on.float(), ratio=ratio)
        slow = coef.clone()
        slow[list(LR_ROWS[opt])] *= ratio
        step(groups[0], g[:, on].contiguous(), slow)
        step(groups[1], g[:, ~on].contiguous(), coef)
    for k, t in ours.items():
        torch.testing.assert_close(t[:, on], groups[0][k], rtol=1e-6, atol=1e-7, msg=k)
        torch.testing.assert_close(t[:, ~on], groups[1][k], rtol=0, atol=0, msg=k)


_BAD = {  # (backbone, ratio) -> the expected message, after "<op>: "
    "ratio alone": (None, torch.ones(3), r"ratio was given without backbone; pass both"),
    "backbone alone": (torch.ones(5), None, r"backbone was given without ratio; pass both"),
    "backbone shape": (
        torch.ones(3, 5),
        torch.ones(3),
        r"backbone has shape \(3, 5\); it must be \(5,\) for p of shape \(3, 5\) \(one entry "
        r"per column, 1.0 where",
    ),
    "ratio shape": (
        torch.ones(5),
        torch.ones(3, 1),
        r"ratio has shape \(3, 1\); it must be \(3,\) for p of shape \(3, 5\) \(one entry per "
        r"run, its backbone LR / head LR",
    ),
    "backbone dtype": (
        torch.ones(5, dtype=torch.bool),
        torch.ones(3),
        r"backbone has dtype torch.bool; it must be torch.float32",
    ),
    "ratio layout": (
        torch.ones(5),
        torch.ones(3, 2)[:, 1],
        r"ratio \(shape \(3,\)\) must be contiguous",
    ),
    "ratio device": (
        torch.ones(5),
        torch.ones(3, device="meta"),
        r"ratio is on meta; it must be on p's device",
    ),
}


_SIGNATURES = {  # step -> (optimizer state tensors, coefficient rows, flags)
    fused_adamw_step: (2, 5, {}),
    fused_sgd_step: (1, 3, {"nesterov": True}),
    fused_lion_step: (1, 4, {}),
    adamw_step_reference: (2, 5, {}),
    sgd_step_reference: (1, 3, {"nesterov": False}),
    lion_step_reference: (1, 4, {}),
}


@pytest.mark.parametrize("name", list(_BAD))
@pytest.mark.parametrize("step", list(_SIGNATURES), ids=lambda f: f.__name__)
def test_scale_arguments_are_checked(step, name):
    dev = DEVICES[0]
    backbone, ratio, message = _BAD[name]
    backbone, ratio = (x if x is None or x.is_meta else x.to(dev) for x in (backbone, ratio))
    n_states, n_coef, flags = _SIGNATURES[step]
    z = lambda *s: torch.zeros(*s, device=dev)  # noqa: E731
    p = z(3, 5)
    args = [p, z(3, 5), *[z(3, 5) for _ in range(n_states)], z(n_coef, 3), z(3), z(3), z(3)]
    with pytest.raises(ValueError, match=f"^{step.__name__}: {message}"):
        step(*args, **flags, backbone=backbone, ratio=ratio)
    assert p.eq(0).all()  # nothing ran
