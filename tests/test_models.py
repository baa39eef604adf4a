import pytest
import torch
import torch.nn.functional as F

from workbench.models import MLP, StackedModel
from workbench.reference import flat_row


@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh", "silu"])
def test_per_run_init_equals_single_run_model(activation):
    cfg = MLP(hidden=(7, 5), activation=activation)
    seeds = [3, 0, 11]
    stacked = StackedModel(cfg, in_dim=9, out_dim=4, seeds=seeds)
    for i, s in enumerate(seeds):
        net = cfg.reference(9, 4, s)
        assert torch.equal(stacked.flat[i], flat_row(net))


def test_forward_and_gradients_match_single_run_models():
    cfg = MLP(hidden=(13,), activation="tanh")
    seeds = [0, 1]
    stacked = StackedModel(cfg, in_dim=6, out_dim=3, seeds=seeds)
    x = torch.randn(2, 10, 6)  # (N, B, D)
    y = torch.randint(0, 3, (2, 10))
    loss = stacked.loss_and_grad(x, y)
    for i, s in enumerate(seeds):
        net = cfg.reference(6, 3, s)
        ref = F.cross_entropy(net(x[i]), y[i])
        ref.backward()
        grads = torch.cat(
            [
                g
                for m in net
                if isinstance(m, torch.nn.Linear)
                for g in (m.weight.grad.t().reshape(-1), m.bias.grad)
            ]
        )
        torch.testing.assert_close(loss[i], ref.detach(), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(stacked.grad[i], grads, rtol=1e-5, atol=1e-6)


def test_flat_buffer_is_shared_with_layer_views():
    m = StackedModel(MLP(hidden=(4,)), in_dim=3, out_dim=2, seeds=[0, 1])
    with torch.no_grad():
        m.flat[1].zero_()
    assert torch.count_nonzero(m.params[0][1]) == 0
    assert torch.count_nonzero(m.params[0][0]) > 0


def test_evaluate_in_groups_matches_one_group():
    m = StackedModel(MLP(hidden=(8,)), in_dim=5, out_dim=3, seeds=range(5))
    x, y = torch.randn(40, 5), torch.randint(0, 3, (40,))
    a = m.evaluate(x, y)
    b = m.evaluate(x, y, max_elements=40 * 8 * 2)  # two runs per group
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hidden": (0,)}, "hidden"),
        ({"hidden": (3, -1)}, "hidden"),
        ({"hidden": "wide"}, "hidden"),
        ({"activation": "swish"}, "activation='swish'"),
        ({"in_dim": 0}, "in_dim"),
    ],
)
def test_bad_config_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(**kwargs)


def test_mismatched_dims_are_named():
    with pytest.raises(ValueError, match="in_dim=12 does not match the dataset's 40"):
        MLP(in_dim=12).layout(40, 10)
