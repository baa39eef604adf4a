"""Fused optimizer kernels against their torch references, and the references against torch.

On a machine without a GPU the kernels run under the Triton interpreter (``conftest.py`` sets
``TRITON_INTERPRET=1``), on CPU tensors; with a GPU the same tests run compiled, on CUDA.
"""

import doctest
import math
import subprocess
import sys
import tempfile
import zlib

import pytest
import torch
from workbench.kernels import (
    adamw_step_reference,
    fused_adamw_step,
    fused_lion_step,
    fused_optim,
    fused_sgd_step,
    lion_step_reference,
    reference,
    sgd_step_reference,
)

DEVICES = ["cpu"] if fused_optim._INTERPRET else ["cuda"]
SHAPES = [(3, 4099), (1, 1), (5, 130)]  # (N, P): several blocks with a ragged tail, one element
STEPS = 3


# Coefficient tables, built from hyperparameters as the engine does (float64, then float32).


def adamw_coef(lr, beta1, beta2, eps, wd, t: int) -> torch.Tensor:
    """``[5, N]`` AdamW coefficients for step ``t`` (1-based) of constant ``[N]`` float64 hypers."""
    c2 = (1 - beta2**t).sqrt()
    step = lr / (1 - beta1**t) * c2
    return torch.stack([1 - beta1, 1 - beta2, step, eps * c2, lr * wd]).float()


def sgd_coef(lr, momentum, wd) -> torch.Tensor:
    """``[3, N]`` SGD coefficients from ``[N]`` float64 hyperparameters."""
    return torch.stack([lr, momentum, lr * wd]).float()


def lion_coef(lr, beta1, beta2, wd) -> torch.Tensor:
    """``[4, N]`` Lion coefficients from ``[N]`` float64 hyperparameters."""
    return torch.stack([lr, 1 - beta1, 1 - beta2, lr * wd]).float()


def _hypers(n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Per-run float64 hyperparameters in realistic ranges; betas reach both lerp branches."""

    def u(lo, hi):
        return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)

    return {
        "lr": 10 ** u(-4, -2),
        # 1 - beta1 spans 0.05..0.8 and 1 - beta2 0.001..0.6: torch.lerp switches formula at 0.5
        "beta1": torch.linspace(0.95, 0.2, n, dtype=torch.float64),
        "beta2": torch.linspace(0.999, 0.4, n, dtype=torch.float64),
        "eps": torch.logspace(-3, -8, n, dtype=torch.float64),
        "wd": u(0.0, 0.1),
        "momentum": torch.linspace(0.9, 0.0, n, dtype=torch.float64),
    }


def _coef(opt: str, h: dict[str, torch.Tensor], t: int) -> torch.Tensor:
    if opt == "adamw":
        return adamw_coef(h["lr"], h["beta1"], h["beta2"], h["eps"], h["wd"], t)
    if opt == "lion":
        # Chen et al. 2023 advise a 3-10x smaller lr for Lion than for AdamW
        return lion_coef(h["lr"] / 10, h["beta1"], h["beta2"], h["wd"])
    return sgd_coef(h["lr"] * 10, h["momentum"], h["wd"])


def _gradient(n: int, size: int, step: int, frozen: int | None, gen) -> torch.Tensor:
    """A random ``[N, P]`` gradient; the frozen run's row is poisoned with NaN and +-inf."""
    g = torch.randn(n, size, generator=gen)
    if frozen is not None:
        g[frozen, 0::3] = math.nan
        g[frozen, 1::3] = math.inf
        g[frozen, 2::5] = -math.inf
        # a live run that diverges in two coordinates: its update there must be zeroed, and
        # inf meets both lerp branches (inf - inf is NaN in one of them)
        if step == 2 and size > 1:
            g[0, 0], g[0, 1] = math.inf, math.nan
    return g


_STATES = {"adamw": ("m", "v"), "sgd": ("buf",), "sgd_nesterov": ("buf",), "lion": ("m",)}


def _steppers(opt: str):
    """(fused, reference), both called as ``(p, g, *states, coef, alive, usq, psq)``."""
    if opt == "adamw":
        return fused_adamw_step, adamw_step_reference
    if opt == "lion":
        return fused_lion_step, lion_step_reference
    nesterov = opt == "sgd_nesterov"

    def fused(*args):
        fused_sgd_step(*args, nesterov=nesterov)

    def ref(*args):
        sgd_step_reference(*args, nesterov=nesterov)

    return fused, ref


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"N{s[0]}-P{s[1]}")
@pytest.mark.parametrize("opt", list(_STATES))
def test_fused_step_matches_reference(opt, shape, device):
    n, size = shape
    gen = torch.Generator().manual_seed(zlib.crc32(f"{opt}{shape}".encode()))
    frozen = n - 1 if n > 1 else None
    h = _hypers(n, gen)
    alive = torch.ones(n)
    if frozen is not None:
        alive[frozen] = 0.0

    p0 = torch.randn(n, size, generator=gen)
    ref = {"p": p0.clone(), **{s: torch.zeros(n, size) for s in _STATES[opt]}}
    ref["update_sq"], ref["param_sq"] = torch.zeros(n), torch.zeros(n)
    ker = {k: t.clone().to(device) for k, t in ref.items()}
    fused, reference_step = _steppers(opt)
    alive_d = alive.to(device)

    states = _STATES[opt]
    for t in range(1, STEPS + 1):
        g = _gradient(n, size, t, frozen, gen)
        coef = _coef(opt, h, t)
        # update_sq / param_sq are never re-zeroed: both must add to what is there
        reference_step(
            ref["p"], g, *[ref[s] for s in states], coef, alive, ref["update_sq"], ref["param_sq"]
        )
        fused(
            ker["p"],
            g.to(device),
            *[ker[s] for s in states],
            coef.to(device),
            alive_d,
            ker["update_sq"],
            ker["param_sq"],
        )

        got = {k: x.cpu() for k, x in ker.items()}
        for k in ("p", *states):
            torch.testing.assert_close(
                got[k], ref[k], rtol=1e-6, atol=1e-6, equal_nan=True, msg=f"{k} at step {t}"
            )
        for k in ("update_sq", "param_sq"):
            torch.testing.assert_close(
                got[k], ref[k], rtol=1e-5, atol=1e-12, msg=f"{k} at step {t}"
            )
        assert torch.isfinite(got["p"]).all()
        if frozen is not None:
            assert torch.equal(got["p"][frozen], p0[frozen]), "a frozen run moved"
            assert got["update_sq"][frozen] == 0.0
    # the live runs did move, so the comparison above was not of two no-ops
    assert (ref["update_sq"][alive > 0] > 0).all()


# The references against independent formulations of each optimizer.


def test_adamw_reference_matches_torch_adamw():
    n, size, steps = 3, 37, 5
    lr = torch.tensor([1e-3, 3e-3, 1e-2], dtype=torch.float64)
    beta1 = torch.tensor([0.9, 0.8, 0.3], dtype=torch.float64)
    beta2 = torch.tensor([0.999, 0.99, 0.95], dtype=torch.float64)
    eps = torch.tensor([1e-8, 1e-6, 1e-3], dtype=torch.float64)
    wd = torch.tensor([0.0, 0.01, 0.1], dtype=torch.float64)
    p = torch.randn(n, size)
    m, v = torch.zeros(n, size), torch.zeros(n, size)
    ours = p.clone()
    theirs = [torch.nn.Parameter(p[i].clone()) for i in range(n)]
    opts = [
        torch.optim.AdamW(
            [theirs[i]],
            lr=float(lr[i]),
            betas=(float(beta1[i]), float(beta2[i])),
            eps=float(eps[i]),
            weight_decay=float(wd[i]),
            foreach=False,
        )
        for i in range(n)
    ]
    for t in range(1, steps + 1):
        g = torch.randn(n, size)
        before = ours.clone()
        usq, psq = torch.zeros(n), torch.zeros(n)
        coef = adamw_coef(lr, beta1, beta2, eps, wd, t)
        adamw_step_reference(ours, g, m, v, coef, torch.ones(n), usq, psq)
        for i in range(n):
            theirs[i].grad = g[i].clone()
            opts[i].step()
        torch.testing.assert_close(usq, (ours - before).square().sum(1))
        torch.testing.assert_close(psq, ours.square().sum(1))
    for i in range(n):
        state = opts[i].state[theirs[i]]
        torch.testing.assert_close(ours[i], theirs[i].detach(), rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(m[i], state["exp_avg"], rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(v[i], state["exp_avg_sq"], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_reference_matches_torch_sgd_with_decoupled_decay(nesterov):
    n, size, steps = 3, 37, 5
    lr = torch.tensor([0.01, 0.1, 0.5], dtype=torch.float64)
    momentum = torch.tensor([0.9, 0.5, 0.99], dtype=torch.float64)
    wd = torch.tensor([0.0, 1e-3, 0.1], dtype=torch.float64)
    p = torch.randn(n, size)
    buf = torch.zeros(n, size)
    ours = p.clone()
    theirs = [torch.nn.Parameter(p[i].clone()) for i in range(n)]
    opts = [
        torch.optim.SGD(
            [theirs[i]],
            lr=float(lr[i]),
            momentum=float(momentum[i]),
            nesterov=nesterov,
            weight_decay=0.0,
            foreach=False,
        )
        for i in range(n)
    ]
    usq, psq = torch.zeros(n), torch.zeros(n)
    for _ in range(steps):
        g = torch.randn(n, size)
        sgd_step_reference(
            ours, g, buf, sgd_coef(lr, momentum, wd), torch.ones(n), usq, psq, nesterov=nesterov
        )
        for i in range(n):
            with torch.no_grad():  # decoupled decay (Loshchilov & Hutter 2019) by hand
                theirs[i].mul_(1 - float(lr[i]) * float(wd[i]))
            theirs[i].grad = g[i].clone()
            opts[i].step()
    for i in range(n):
        torch.testing.assert_close(ours[i], theirs[i].detach(), rtol=1e-6, atol=1e-6)
        momentum_buffer = opts[i].state[theirs[i]]["momentum_buffer"]
        torch.testing.assert_close(buf[i], momentum_buffer, rtol=1e-6, atol=1e-6)


def test_lion_reference_matches_the_papers_update():
    n, size, steps = 2, 7, 4
    lr = torch.tensor([1e-4, 3e-3], dtype=torch.float64)
    beta1 = torch.tensor([0.9, 0.95], dtype=torch.float64)
    beta2 = torch.tensor([0.99, 0.98], dtype=torch.float64)
    wd = torch.tensor([1.0, 0.1], dtype=torch.float64)
    p = torch.randn(n, size)
    ours, m = p.clone(), torch.zeros(n, size)
    theta, mom = p.double().tolist(), [[0.0] * size for _ in range(n)]
    usq, psq = torch.zeros(n), torch.zeros(n)
    for _ in range(steps):
        g = torch.randn(n, size)
        lion_step_reference(ours, g, m, lion_coef(lr, beta1, beta2, wd), torch.ones(n), usq, psq)
        # Chen et al. 2023, Algorithm 1, one element at a time in float64
        for i in range(n):
            b1, b2, eta, lam = float(beta1[i]), float(beta2[i]), float(lr[i]), float(wd[i])
            for j in range(size):
                gij = float(g[i, j])
                c = b1 * mom[i][j] + (1 - b1) * gij
                theta[i][j] -= eta * ((c > 0) - (c < 0) + lam * theta[i][j])
                mom[i][j] = b2 * mom[i][j] + (1 - b2) * gij
    torch.testing.assert_close(ours, torch.tensor(theta).float(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(m, torch.tensor(mom).float(), rtol=1e-5, atol=1e-7)


# Launcher contract.


def _adamw_args(n=3, size=5, device=DEVICES[0]):
    z = lambda *s: torch.zeros(*s, device=device)  # noqa: E731
    return {
        "p": z(n, size),
        "g": z(n, size),
        "m": z(n, size),
        "v": z(n, size),
        "coef": z(5, n),
        "alive": z(n),
        "update_sq": z(n),
        "param_sq": z(n),
    }


_BAD = {  # argument -> (bad value, start of the expected message)
    "p": (torch.zeros(15), r"p has shape \(15,\); it must be 2-D"),
    "g": (torch.zeros(3, 4), r"g has shape \(3, 4\); it must be \(3, 5\) for p of shape"),
    "coef": (torch.zeros(3, 5), r"coef has shape \(3, 5\); it must be \(5, 3\)"),
    "alive": (torch.zeros(3, 1), r"alive has shape \(3, 1\); it must be \(3,\)"),
    "v": (torch.zeros(3, 5, dtype=torch.float64), r"v has dtype torch.float64; it must be"),
    "m": (torch.zeros(5, 3).t(), r"m \(shape \(3, 5\)\) must be contiguous"),
    "update_sq": (torch.zeros(3, device="meta"), r"update_sq is on meta; it must be on p's"),
    "param_sq": ([0.0, 0.0, 0.0], r"param_sq must be a torch.Tensor, got list"),
}


@pytest.mark.parametrize("step", [fused_adamw_step, adamw_step_reference], ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", list(_BAD))
def test_step_rejects_bad_arguments(step, name):
    args = _adamw_args()
    bad, message = _BAD[name]
    if isinstance(bad, torch.Tensor) and bad.device.type != "meta":
        bad = bad.to(DEVICES[0])
    args[name] = bad
    with pytest.raises(ValueError, match=f"^{step.__name__}: {message}"):
        step(**args)


def test_other_launchers_check_their_coefficients_and_flags():
    a = _adamw_args()
    common = (a["alive"], a["update_sq"], a["param_sq"])
    with pytest.raises(ValueError, match=r"fused_lion_step: coef has shape \(5, 3\); it must be"):
        fused_lion_step(a["p"], a["g"], a["m"], a["coef"], *common)
    with pytest.raises(ValueError, match=r"fused_sgd_step: coef has shape \(5, 3\); it must be"):
        fused_sgd_step(a["p"], a["g"], a["m"], a["coef"], *common, nesterov=False)
    with pytest.raises(ValueError, match=r"fused_sgd_step: nesterov=1 must be True or False"):
        fused_sgd_step(a["p"], a["g"], a["m"], a["coef"][:3].contiguous(), *common, nesterov=1)


def test_cpu_tensors_need_the_interpreter():
    args = _adamw_args(device="cpu")
    if fused_optim._INTERPRET:
        fused_adamw_step(**args)  # the interpreter runs on CPU tensors
    else:
        with pytest.raises(ValueError, match="fused_adamw_step: p is on cpu; compiled Triton"):
            fused_adamw_step(**args)


def test_empty_buffers_are_a_no_op():
    args = _adamw_args(n=2, size=0)
    fused_adamw_step(**args)
    assert args["param_sq"].eq(0).all()


# The package around the kernels.


def test_docstring_examples_run():
    for module in (reference, fused_optim):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_import_without_triton_keeps_the_references():
    code = (
        "import sys; sys.modules['triton'] = None\n"  # as on macOS: `import triton` fails
        "import workbench.kernels as k\n"
        "assert not k.triton_available() and 'fused_adamw_step' not in k.__all__\n"
        "assert callable(k.adamw_step_reference)\n"
        "try:\n    k.fused_adamw_step\nexcept ImportError as e:\n    print(e)\n"
    )
    # run outside the repo, so the installed package (not the source tree) is imported
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tempfile.gettempdir()
    )
    assert proc.returncode == 0, proc.stderr
    assert "use workbench.kernels.adamw_step_reference instead" in proc.stdout
