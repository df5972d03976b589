"""The chapter's blocks, as reference.chapter writes them (D2L 4.1–4.5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference
from reference import chapter, nn, sim

from .assertions import assert_close, assert_equal
from .draws import SETTINGS


def test_mlp_shapes_and_names() -> None:
    net = chapter.MLP()
    assert_equal(net(reference.rand(2, 20)).shape, (2, 10), what="MLP output shape")
    names = [(n, p.shape) for n, p in net.named_parameters()]
    assert_equal(
        names,
        [("hidden.weight", (256, 20)), ("hidden.bias", (256,)), ("out.weight", (10, 256)), ("out.bias", (10,))],
        what="MLP parameters",
    )


@pytest.mark.parametrize("device", ["cpu", "sim:1"])
def test_fixed_hidden_mlp_runs_on_every_device_and_gets_gradients(device: str) -> None:
    net = chapter.FixedHiddenMLP().to(device)
    assert_equal(net.rand_weight.device, reference.device(device), what="buffer follows .to()")
    X = reference.rand(2, 20, device=device)
    out = net(X)
    assert_equal((out.shape, out.device), ((), reference.device(device)), what="scalar output on the device")
    assert float(out.abs()) <= 1.0, f"the while loop should leave |sum| <= 1, got {float(out)}"
    out.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.device == reference.device(device), f"{name} has no gradient on {device}"
    assert_equal([k for k in net.state_dict()], ["rand_weight", "linear.weight", "linear.bias"], what="state_dict keys")


def test_fixed_hidden_mlp_halving_matches_numpy() -> None:
    net = chapter.FixedHiddenMLP()
    X = reference.rand(2, 20)
    w, b = net.linear.weight.detach().numpy(), net.linear.bias.detach().numpy()
    h = X.numpy() @ w.T + b
    h = np.maximum(h @ net.rand_weight.numpy() + 1, 0)
    h = h @ w.T + b
    while np.abs(h).sum() > 1:
        h /= 2
    assert_close(float(net(X)), float(h.sum()), what="FixedHiddenMLP vs NumPy", rtol=1e-5)


def test_my_sequential_behaves_like_sequential() -> None:
    layers = [nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10)]
    mine, builtin = chapter.MySequential(*layers), nn.Sequential(*layers)
    X = reference.rand(2, 20)
    assert_close(mine(X).detach().numpy(), builtin(X).detach().numpy(), what="MySequential vs Sequential")
    assert_equal([n for n, _ in mine.named_parameters()], [n for n, _ in builtin.named_parameters()], what="names")
    assert_equal(list(mine.state_dict()), list(builtin.state_dict()), what="state_dict keys")


def test_nested_blocks_names_indexing_and_print() -> None:
    net = chapter.rgnet()
    assert net[0][1][0].bias is net.get_parameter("0.block 1.0.bias")
    assert "0.block 1.0.bias" in net.state_dict()
    assert_equal(len(list(net.parameters())), 4 * 4 + 2, what="number of parameters")
    text = repr(net)
    assert text.startswith(
        "Sequential(\n  (0): Sequential(\n    (block 0): Sequential(\n      (0): Linear(in_features=4, out_features=8, bias=True)"
    ), text
    assert net(reference.rand(2, 4)).shape == (2, 1)


def test_parameter_access_as_in_4_2_1() -> None:
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    net(reference.rand(2, 4))
    state = net[2].state_dict()
    assert_equal(
        [(k, v.shape) for k, v in state.items()], [("weight", (1, 8)), ("bias", (1,))], what="net[2].state_dict()"
    )
    assert isinstance(net[2].bias, nn.Parameter) and net[2].weight.grad is None
    assert_equal(net.state_dict()["2.bias"].tolist(), net[2].bias.detach().tolist(), what="state_dict()['2.bias']")


def test_init_functions_from_the_chapter() -> None:
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    net.apply(chapter.init_constant)
    assert_equal(
        (net[0].weight.detach().numpy().min(), net[0].bias.detach().numpy().max()), (1.0, 0.0), what="init_constant"
    )
    net.apply(chapter.init_normal)
    w = net[0].weight.detach().numpy()
    assert float(np.abs(w).max()) < 0.1 and float(np.abs(net[0].bias.detach().numpy()).max()) == 0.0
    net[0].apply(chapter.init_xavier)
    net[2].apply(chapter.init_42)
    assert_equal(net[2].weight.detach().numpy().tolist(), [[42.0] * 8], what="init_42 on net[2]")
    assert float(np.abs(net[0].weight.detach().numpy()).max()) <= np.sqrt(6 / 12)


def test_my_init_distribution() -> None:
    layer = nn.Linear(200, 200)
    chapter.my_init(layer)
    w = layer.weight.detach().numpy()
    zero = float((w == 0).mean())
    assert 0.45 < zero < 0.55, f"fraction of zeros {zero}, expected about 1/2"
    nonzero = np.abs(w[w != 0])
    assert bool(np.all((nonzero >= 5) & (nonzero <= 10))), "non-zero weights outside 5 <= |w| <= 10"
    assert 0.22 < float((w >= 5).mean()) < 0.28, "fraction of w >= 5 should be about 1/4"


def test_direct_parameter_writes() -> None:
    net = nn.Sequential(nn.Linear(4, 8))
    before = net[0].weight.detach().numpy().copy()
    net[0].weight.data[:] += 1
    net[0].weight.data[0, 0] = 42
    expected = before + 1
    expected[0, 0] = 42
    assert_close(net[0].weight.detach().numpy(), expected, what="weight after .data writes")


def test_tied_net_counts_identity_and_gradients() -> None:
    net = chapter.tied_net()
    assert_equal((len(list(net.parameters())), len(net.state_dict())), (6, 8), what="(parameters, state_dict keys)")
    assert net[2].weight is net[4].weight
    with reference.no_grad():
        net[2].weight[0, 0] = 100
    assert_equal(net[4].weight[0, 0].item(), 100.0, what="change through net[2] seen at net[4]")
    net(reference.rand(2, 4)).sum().backward()
    assert net[2].weight.grad is net[4].weight.grad


def test_centered_layer_outputs_mean_zero() -> None:
    net = nn.Sequential(nn.Linear(8, 128), chapter.CenteredLayer())
    Y = net(reference.rand(4, 8))
    assert abs(Y.mean().item()) < 1e-6, f"mean {Y.mean().item()}"
    assert_close(
        chapter.CenteredLayer()(reference.tensor([1.0, 2.0, 3.0, 4.0, 5.0])).numpy(),
        [-2.0, -1.0, 0.0, 1.0, 2.0],
        what="CenteredLayer",
    )


def test_my_linear_gets_gradients() -> None:
    layer = chapter.MyLinear(5, 3)
    assert_equal((layer.weight.shape, layer.bias.shape), ((5, 3), (3,)), what="MyLinear shapes")
    out = layer(reference.rand(2, 5))
    assert bool((out >= 0).all())
    out.sum().backward()
    assert layer.weight.grad is not None and layer.bias.grad is not None, "MyLinear parameters got no gradient"
    net = nn.Sequential(chapter.MyLinear(64, 8), chapter.MyLinear(8, 1))
    assert net(reference.rand(2, 64)).shape == (2, 1)


@SETTINGS
@given(count=st.integers(0, 3), i=st.integers(0, 4))
def test_try_gpu_and_try_all_gpus(count: int, i: int) -> None:
    sim.set_device_count(count)
    expected = reference.device(f"sim:{i}") if count >= i + 1 else reference.device("cpu")
    assert_equal(chapter.try_gpu(i), expected, what=f"try_gpu({i}) with {count} devices")
    assert_equal(
        chapter.try_all_gpus(),
        [reference.device(f"sim:{k}") for k in range(count)] or [reference.device("cpu")],
        what="try_all_gpus",
    )


def test_section_4_5_gpu_walkthrough(tmp_path: Path) -> None:
    X = reference.ones(2, 3, device=chapter.try_gpu())
    Y = reference.rand(2, 3, device=chapter.try_gpu(1))
    with pytest.raises(reference.DeviceMismatchError):
        X + Y
    Z = X.to(chapter.try_gpu(1))
    assert_equal((Y + Z).device, reference.device("sim:1"), what="Y + Z")
    assert Z.to(chapter.try_gpu(1)) is Z
    net = nn.Sequential(nn.Linear(3, 1)).to(chapter.try_gpu())
    assert_equal(net(X).device, reference.device("sim:0"), what="net(X).device")
    reference.save(net.state_dict(), tmp_path / "gpu.params")
    assert_equal(
        reference.load(tmp_path / "gpu.params")["0.weight"].device, reference.device("sim:0"), what="loaded device"
    )
