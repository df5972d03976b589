"""conformance.backends.torch.blocks: each chapter block computes what the chapter (sections 4.1-4.3, 4.5) says,
checked against NumPy on the block's own weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from conformance.backends.torch import blocks  # noqa: E402

#: float32 blocks against float64 NumPy: relative and absolute tolerance.
RTOL, ATOL = 1e-5, 1e-5


def _np(t: Any) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)


def _linear(layer: nn.Linear, x: np.ndarray) -> np.ndarray:
    return x @ _np(layer.weight).T + _np(layer.bias)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _close(case: str, observed: Any, expected: np.ndarray) -> None:
    __tracebackhide__ = True
    got = _np(observed)
    assert got.shape == expected.shape, f"{case}: observed shape {got.shape}; expected {expected.shape}"
    assert np.allclose(got, expected, rtol=RTOL, atol=ATOL), (
        f"{case}: observed {got.ravel()[:6]}...; expected NumPy's {expected.ravel()[:6]}... "
        f"(max difference {np.max(np.abs(got - expected))})"
    )


def _inputs(seed: int, *shape: int) -> tuple[Any, np.ndarray]:
    x = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    return torch.tensor(x), x.astype(np.float64)


def _children(module: nn.Module) -> list[tuple[str, str]]:
    return [(name, type(child).__name__) for name, child in module.named_children()]


def test_mlp_is_hidden_20_to_256_then_relu_then_out_256_to_10() -> None:
    torch.manual_seed(0)
    net = blocks.MLP()
    shapes = [(n, tuple(p.shape)) for n, p in net.named_parameters()]
    want = [("hidden.weight", (256, 20)), ("hidden.bias", (256,)), ("out.weight", (10, 256)), ("out.bias", (10,))]
    assert shapes == want, f"observed parameters {shapes}; expected {want}"
    X, x = _inputs(1, 3, 20)
    _close("MLP", net(X), _linear(net.out, _relu(_linear(net.hidden, x))))


def test_my_sequential_keeps_children_under_their_index_and_runs_them_in_order() -> None:
    torch.manual_seed(0)
    layers = [nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3), nn.ReLU(), nn.Linear(3, 2)]
    net = blocks.MySequential(*layers)
    kept = list(net._modules.items())
    assert [k for k, _ in kept] == ["0", "1", "2", "3", "4"], f"observed keys {[k for k, _ in kept]}; expected '0'..'4'"
    assert all(m is layer for (_, m), layer in zip(kept, layers, strict=True)), "observed copies; expected the blocks"
    X, x = _inputs(1, 5, 4)
    expected = _linear(layers[4], _relu(_linear(layers[2], _relu(_linear(layers[0], x)))))
    _close("MySequential", net(X), expected)
    _close("MySequential as nn.Sequential", nn.Sequential(*layers)(X), _np(net(X)))


def _fixed_hidden_numpy(net: blocks.FixedHiddenMLP, x: np.ndarray) -> float:
    """The chapter's forward in NumPy: linear, relu(. @ rand_weight + 1), the same linear, halve until |X|.sum() <= 1."""
    h = _linear(net.linear, x)
    h = _relu(h @ _np(net.rand_weight) + 1)
    h = _linear(net.linear, h)
    while np.abs(h).sum() > 1:
        h /= 2
    return float(h.sum())


@pytest.mark.parametrize("batch", [1, 2, 7])
def test_fixed_hidden_mlp_computes_the_chapter_s_function(batch: int) -> None:
    torch.manual_seed(batch)
    net = blocks.FixedHiddenMLP()
    X, x = _inputs(batch, batch, 20)
    out = net(X)
    assert out.shape == (), f"batch {batch}: observed output shape {tuple(out.shape)}; expected a scalar"
    _close(f"FixedHiddenMLP, batch {batch}", out, np.array(_fixed_hidden_numpy(net, x)))


def test_fixed_hidden_mlp_keeps_its_constant_as_a_saved_buffer_not_a_parameter() -> None:
    torch.manual_seed(0)
    net = blocks.FixedHiddenMLP()
    params = [n for n, _ in net.named_parameters()]
    assert params == ["linear.weight", "linear.bias"], f"observed {params}; expected the one shared linear's"
    buffers = dict(net.named_buffers())
    assert list(buffers) == ["rand_weight"], f"observed buffers {list(buffers)}; expected ['rand_weight']"
    weight = _np(buffers["rand_weight"])
    assert weight.shape == (20, 20) and weight.min() >= 0 and weight.max() < 1, (
        f"observed rand_weight of shape {weight.shape} in [{weight.min()}, {weight.max()}]; expected rand((20, 20))"
    )
    assert "rand_weight" in net.state_dict(), f"observed keys {list(net.state_dict())}; expected rand_weight saved"
    clone = blocks.FixedHiddenMLP()  # another random constant, until the state dict brings the first one
    clone.load_state_dict(net.state_dict())
    X, _ = _inputs(3, 2, 20)
    _close("FixedHiddenMLP clone", clone(X), _np(net(X)))
    net.to(torch.float64)
    assert net.rand_weight.dtype == torch.float64, f"observed {net.rand_weight.dtype}; expected it to follow .to()"


@settings(max_examples=40, deadline=None)
@given(
    x=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
        elements=st.floats(-100, 100, width=32),
    )
)
def test_centered_layer_subtracts_the_mean_of_every_element(x: np.ndarray) -> None:
    out = blocks.CenteredLayer()(torch.tensor(x))
    wide = x.astype(np.float64)
    expected = wide - wide.mean()
    got = _np(out)
    assert got.shape == x.shape, f"shape {x.shape}: observed {got.shape}; expected the input's"
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-4), (
        f"shape {x.shape}: observed {got.ravel()[:6]}; expected X - X.mean() {expected.ravel()[:6]}"
    )


def test_my_linear_holds_in_by_units_parameters_and_computes_relu_of_x_w_plus_b() -> None:
    torch.manual_seed(0)
    layer = blocks.MyLinear(5, 3)
    params = [(n, tuple(p.shape), isinstance(p, nn.Parameter)) for n, p in layer.named_parameters()]
    assert params == [("weight", (5, 3), True), ("bias", (3,), True)], (
        f"observed {params}; expected weight (5, 3) and bias (3,), both Parameters"
    )
    X, x = _inputs(1, 4, 5)
    _close("MyLinear", layer(X), _relu(x @ _np(layer.weight) + _np(layer.bias)))


def test_my_linear_gradients_reach_its_parameters() -> None:
    torch.manual_seed(0)
    layer = blocks.MyLinear(5, 3)
    X, x = _inputs(1, 4, 5)
    cotangent = np.random.default_rng(2).normal(size=(4, 3))
    (layer(X) * torch.tensor(cotangent, dtype=torch.float32)).sum().backward()
    delta = cotangent * ((x @ _np(layer.weight) + _np(layer.bias)) > 0)  # through the relu
    for name, want in (("weight", x.T @ delta), ("bias", delta.sum(axis=0))):
        grad = getattr(layer, name).grad
        assert grad is not None, f"observed no gradient on {name}; expected one (forward must not read .data)"
        _close(f"MyLinear {name}.grad", grad, want)


def _chain(net: nn.Sequential, x: np.ndarray) -> np.ndarray:
    """A Sequential of Linear, ReLU and nested Sequentials, in NumPy."""
    for child in net:
        if isinstance(child, nn.Linear):
            x = _linear(child, x)
        elif isinstance(child, nn.ReLU):
            x = _relu(x)
        else:
            x = _chain(child, x)
    return x


def test_block1_block2_and_rgnet_nest_as_the_chapter_writes() -> None:
    torch.manual_seed(0)
    one = blocks.block1()
    assert _children(one) == [("0", "Linear"), ("1", "ReLU"), ("2", "Linear"), ("3", "ReLU")], f"observed {one}"
    shapes = [tuple(p.shape) for p in one.parameters()]
    assert shapes == [(8, 4), (8,), (4, 8), (4,)], f"observed block1 shapes {shapes}; expected 4 -> 8 -> 4"
    two = blocks.block2()
    want = [(f"block {i}", "Sequential") for i in range(4)]
    assert _children(two) == want, f"observed block2 children {_children(two)}; expected {want}"
    net = blocks.rgnet()
    assert _children(net) == [("0", "Sequential"), ("1", "Linear")], f"observed rgnet children {_children(net)}"
    names = [n for n, _ in net.named_parameters()]
    assert names[:2] == ["0.block 0.0.weight", "0.block 0.0.bias"] and names[-2:] == ["1.weight", "1.bias"], (
        f"observed names {names[:2]} ... {names[-2:]}; expected '0.block 0.0.weight' ... '1.bias'"
    )
    assert net[0][1][0].bias is getattr(net[0], "block 1")[0].bias, "observed rgnet[0][1][0] elsewhere than block 1"
    X, x = _inputs(1, 3, 4)
    _close("rgnet", net(X), _chain(net, x))


def test_tied_net_shares_one_layer_at_two_places() -> None:
    torch.manual_seed(0)
    net = blocks.tied_net()
    kinds = [type(child).__name__ for child in net]
    want = ["Linear", "ReLU", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert kinds == want, f"observed children {kinds}; expected {want} (ReLU layers, not the class)"
    assert net[2] is net[4], "observed two layers at 2 and 4; expected one shared Linear(8, 8)"
    assert tuple(net[2].weight.shape) == (8, 8), f"observed shared weight {tuple(net[2].weight.shape)}; expected (8, 8)"
    counts = (len(list(net.parameters())), len(net.state_dict()))
    assert counts == (6, 8), f"observed {counts} (parameters, state-dict keys); expected (6, 8)"
    X, x = _inputs(1, 3, 4)
    _close("tied_net", net(X), _chain(net, x))


class _SubLinear(nn.Linear):
    """A subclass of Linear: the chapter's initializers must reach it too."""


def _init_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(300, 200), nn.ReLU(), _SubLinear(200, 300))


def _layers(net: nn.Sequential) -> list[tuple[str, nn.Linear]]:
    return [("Linear", net[0]), ("a Linear subclass", net[2])]


def test_init_constant_and_init_42_write_their_constants_into_every_linear() -> None:
    for init, weight, bias in ((blocks.init_constant, 1.0, 0.0), (blocks.init_42, 42.0, None)):
        net = _init_net()
        before = {case: _np(layer.bias) for case, layer in _layers(net)}
        net.apply(init)
        for case, layer in _layers(net):
            w, b = _np(layer.weight), _np(layer.bias)
            assert np.all(w == weight), (
                f"{init.__name__}, {case}: observed weights {np.unique(w)[:4]}; expected {weight}"
            )
            want_bias = before[case] if bias is None else np.full_like(b, bias)
            assert np.array_equal(b, want_bias), f"{init.__name__}, {case}: observed bias {b[:4]}; expected {bias}"


def test_init_normal_draws_weights_of_std_0_01_and_zero_bias() -> None:
    net = _init_net()
    net.apply(blocks.init_normal)
    for case, layer in _layers(net):
        w = _np(layer.weight)  # 60,000 draws: the sample std is within 1% of 0.01
        assert abs(w.std() - 0.01) < 5e-4 and abs(w.mean()) < 5e-4, (
            f"init_normal, {case}: observed mean {w.mean():.2e}, std {w.std():.2e}; expected N(0, 0.01^2)"
        )
        assert not _np(layer.bias).any(), f"init_normal, {case}: observed bias {_np(layer.bias)[:4]}; expected 0"


def test_init_xavier_draws_weights_within_glorot_s_bound_and_leaves_the_bias() -> None:
    net = _init_net()
    before = {case: _np(layer.bias) for case, layer in _layers(net)}
    net.apply(blocks.init_xavier)
    for case, layer in _layers(net):
        w = _np(layer.weight)
        bound = np.sqrt(6 / sum(w.shape))  # U(-a, a), a = sqrt(6 / (fan_in + fan_out))
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound, (
            f"init_xavier, {case}: observed |w| up to {np.abs(w).max():.4f}; expected up to the bound {bound:.4f}"
        )
        assert np.array_equal(_np(layer.bias), before[case]), f"init_xavier, {case}: observed the bias changed"


def test_my_init_keeps_weights_of_magnitude_5_to_10_and_zeroes_the_rest() -> None:
    net = _init_net()
    net.apply(blocks.my_init)
    for case, layer in _layers(net):
        w = _np(layer.weight)
        kept = w[w != 0]
        assert np.all((np.abs(kept) >= 5) & (np.abs(kept) <= 10)), (
            f"my_init, {case}: observed nonzero weights {kept[(np.abs(kept) < 5) | (np.abs(kept) > 10)][:4]}; "
            "expected |w| in [5, 10]"
        )
        shares = ((w == 0).mean(), (w > 0).mean(), (w < 0).mean())
        assert np.allclose(shares, (0.5, 0.25, 0.25), atol=0.02), (
            f"my_init, {case}: observed shares (zero, positive, negative) {shares}; expected (1/2, 1/4, 1/4)"
        )


@pytest.mark.parametrize("count", [0, 1, 2])
def test_try_gpu_and_try_all_gpus_follow_torch_s_cuda_count(count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    for i in range(3):
        want = torch.device(f"cuda:{i}") if count >= i + 1 else torch.device("cpu")
        assert blocks.try_gpu(i) == want, f"{count} GPUs: observed try_gpu({i}) = {blocks.try_gpu(i)}; expected {want}"
    assert blocks.try_gpu() == blocks.try_gpu(0), f"{count} GPUs: observed try_gpu() != try_gpu(0)"
    every = [torch.device(f"cuda:{i}") for i in range(count)] or [torch.device("cpu")]
    assert blocks.try_all_gpus() == every, f"{count} GPUs: observed {blocks.try_all_gpus()}; expected {every}"
