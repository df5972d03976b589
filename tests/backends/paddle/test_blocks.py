"""The chapter's blocks in Paddle (conformance/backends/paddle/blocks.py) compute what the chapter says (4.1-4.3).

Each block runs on its own weights, read back from Paddle, and is compared with the same computation in
NumPy. Paddle's ``nn.Linear`` stores its weight (in, out) and computes ``X @ W + b``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

from paddle import nn  # noqa: E402

from conformance.backends.paddle import blocks  # noqa: E402


@pytest.fixture(autouse=True)
def _seeded() -> None:
    paddle.seed(0)  # every draw below (layers, initializers) the same on every run


def _np(tensor: Any) -> np.ndarray:
    return np.asarray(tensor.numpy(), dtype=np.float64)


def _linear(layer: Any, x: np.ndarray) -> np.ndarray:
    """Paddle's Linear in NumPy: ``X @ W + b``, W stored (in, out)."""
    return x @ _np(layer.weight) + _np(layer.bias)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _run(block: Any, x: np.ndarray) -> np.ndarray:
    return _np(block(paddle.to_tensor(x.astype(np.float32))))


def _input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _close(observed: np.ndarray, expected: np.ndarray, case: str) -> None:
    __tracebackhide__ = True
    assert np.allclose(observed, expected, rtol=1e-4, atol=1e-5), f"{case}: observed {observed}; expected {expected}"


# --- 4.1 Layers and blocks ------------------------------------------------------------------------


def test_mlp_is_out_of_relu_of_hidden() -> None:
    net = blocks.MLP()
    shapes = {name: list(p.shape) for name, p in net.named_parameters()}
    expected = {"hidden.weight": [20, 256], "hidden.bias": [256], "out.weight": [256, 10], "out.bias": [10]}
    assert shapes == expected, f"MLP: observed parameters {shapes}; expected {expected}"
    x = _input((2, 20))
    _close(_run(net, x), _linear(net.out, _relu(_linear(net.hidden, x))), "MLP")


def _fixed_hidden(net: Any, x: np.ndarray) -> float:
    h = _linear(net.linear, x)
    h = _relu(h @ _np(net.rand_weight) + 1)
    h = _linear(net.linear, h)
    while np.abs(h).sum() > 1:
        h /= 2
    return float(h.sum())


def test_fixed_hidden_mlp_reuses_its_linear_halves_and_sums() -> None:
    net = blocks.FixedHiddenMLP()
    for seed in range(3):
        x = _input((2, 20), seed)
        observed, expected = float(_run(net, x)), _fixed_hidden(net, x)
        assert np.isclose(observed, expected, rtol=1e-4), (
            f"FixedHiddenMLP, seed {seed}: observed {observed}; expected {expected}"
        )
        assert abs(observed) <= 1, (
            f"FixedHiddenMLP, seed {seed}: observed {observed}; expected |sum| <= 1 after halving"
        )


def test_fixed_hidden_mlps_constant_is_a_buffer_not_a_parameter() -> None:
    net = blocks.FixedHiddenMLP()
    params = [name for name, _ in net.named_parameters()]
    buffers = {name: list(b.shape) for name, b in net.named_buffers()}
    assert params == ["linear.weight", "linear.bias"], f"observed parameters {params}; expected the one linear's"
    assert buffers == {"rand_weight": [20, 20]}, f"observed buffers {buffers}; expected rand_weight [20, 20]"
    assert "rand_weight" in net.state_dict(), f"observed state dict {list(net.state_dict())}; expected rand_weight"
    constant = _np(net.rand_weight)
    assert constant.min() >= 0 and constant.max() < 1, (
        f"observed range [{constant.min()}, {constant.max()}]; expected U[0, 1)"
    )


def test_my_sequential_registers_by_index_and_applies_in_order() -> None:
    first, second = nn.Linear(3, 4), nn.Linear(4, 4)
    net = blocks.MySequential(first, nn.ReLU(), second)
    names = list(net._sub_layers)
    assert names == ["0", "1", "2"], f"MySequential: observed children {names}; expected ['0', '1', '2']"
    x = _input((2, 3))
    _close(_run(net, x), _linear(second, _relu(_linear(first, x))), "MySequential(Linear, ReLU, Linear)")


def test_a_block_applies_its_children_in_the_order_assigned() -> None:
    first, second = nn.Linear(4, 4), nn.Linear(4, 4)
    net = blocks.Block([("z", first), ("a", nn.ReLU()), ("m", second)])
    x = _input((2, 4))
    _close(_run(net, x), _linear(second, _relu(_linear(first, x))), "Block z, a, m")


# --- 4.2 Parameter management ---------------------------------------------------------------------


def test_rgnet_names_its_parameters_by_nesting() -> None:
    net = blocks.rgnet()
    names = [name for name, _ in net.named_parameters()]
    nested = [f"0.block {i}.{j}.{leaf}" for i in range(4) for j in (0, 2) for leaf in ("weight", "bias")]
    assert names == [*nested, "1.weight", "1.bias"], (
        f"rgnet: observed {names}; expected {[*nested, '1.weight', '1.bias']}"
    )
    assert net[0][1][0] is net[0]._sub_layers["block 1"][0], (
        "rgnet[0][1][0]: observed another layer; expected block 1's first Linear"
    )
    x = _input((2, 4))
    h = x
    for i in range(4):
        inner = net[0][i]
        h = _relu(_linear(inner[2], _relu(_linear(inner[0], h))))
    _close(_run(net, x), _linear(net[1], h), "rgnet")


def test_tied_net_holds_one_shared_layer_at_2_and_4() -> None:
    net = blocks.tied_net()
    assert net[2] is net[4], "tied_net: observed two layers at 2 and 4; expected one shared layer"
    x = _input((2, 4))
    h = _relu(_linear(net[0], x))
    h = _relu(_linear(net[2], h))
    h = _relu(_linear(net[2], h))
    _close(_run(net, x), _linear(net[6], h), "tied_net")


def _inited(fn: Any) -> Any:
    """A net of two Linears, biases set to 1 (Paddle's default is 0), after ``net.apply(fn)``."""
    net = nn.Sequential(nn.Linear(40, 50), nn.ReLU(), nn.Linear(50, 30))
    for layer in (net[0], net[2]):
        layer.bias.set_value(paddle.ones_like(layer.bias))
    net.apply(fn)
    return net


def test_init_normal_and_constant_write_the_chapters_values() -> None:
    net = _inited(blocks.init_normal)
    weight = _np(net[0].weight)
    assert 0.008 < weight.std() < 0.012 and abs(weight.mean()) < 0.002, (
        f"init_normal: observed std {weight.std()}, mean {weight.mean()}; expected 0.01, 0"
    )
    assert not _np(net[0].bias).any(), f"init_normal: observed bias {_np(net[0].bias)}; expected zeros"
    net = _inited(blocks.init_constant)
    assert (_np(net[2].weight) == 1).all() and not _np(net[2].bias).any(), (
        f"init_constant: observed weight {np.unique(_np(net[2].weight))[:5]}, bias {np.unique(_np(net[2].bias))[:5]}; "
        "expected weight 1, bias 0"
    )
    net = _inited(blocks.init_42)
    assert (_np(net[0].weight) == 42).all(), f"init_42: observed {np.unique(_np(net[0].weight))[:5]}; expected 42"
    assert (_np(net[0].bias) == 1).all(), f"init_42: observed bias {_np(net[0].bias)[:5]}; expected it untouched"


def test_init_xavier_draws_within_the_xavier_bound() -> None:
    net = _inited(blocks.init_xavier)
    weight = _np(net[0].weight)
    bound = np.sqrt(6 / (40 + 50))
    assert np.abs(weight).max() <= bound and weight.std() > bound / 3, (
        f"init_xavier: observed max |w| {np.abs(weight).max()}, std {weight.std()}; expected U(-{bound}, {bound})"
    )


def test_my_init_zeroes_small_weights_and_writes_them_back() -> None:
    net = _inited(blocks.my_init)
    weight = _np(net[0].weight)
    kept = np.abs(weight)[weight != 0]
    assert kept.min() >= 5 and kept.max() <= 10, (
        f"my_init: observed nonzero |w| in [{kept.min()}, {kept.max()}]; expected [5, 10]"
    )
    share = (weight == 0).mean()
    assert 0.4 < share < 0.6, f"my_init: observed {share:.2f} of weights zero; expected about 1/2"


# --- 4.3 Custom layers ----------------------------------------------------------------------------


def test_centered_layer_subtracts_the_mean_of_all_elements() -> None:
    x = _input((3, 5)) + 4
    out = _run(blocks.CenteredLayer(), x)
    _close(out, x - x.astype(np.float64).mean(), "CenteredLayer")
    net = nn.Sequential(nn.Linear(8, 128), blocks.CenteredLayer())
    mean = float(_run(net, _input((4, 8))).mean())
    assert abs(mean) < 1e-5, f"Sequential(Linear(8, 128), CenteredLayer()): observed mean {mean}; expected about 0"


def test_my_linear_is_relu_of_x_at_w_plus_b_drawn_from_a_standard_normal() -> None:
    layer = blocks.MyLinear(64, 48)
    shapes = {name: list(p.shape) for name, p in layer.named_parameters()}
    assert shapes == {"weight": [64, 48], "bias": [48]}, (
        f"MyLinear(64, 48): observed {shapes}; expected weight [64, 48], bias [48]"
    )
    weight, bias = _np(layer.weight), _np(layer.bias)
    # False alarm under 1e-14 per run (chi-square tails): 3,072 weights within 10 % of 1, 48 biases in (0.3, 2).
    assert 0.9 < weight.std() < 1.1 and 0.3 < bias.std() < 2.0, (
        f"MyLinear: observed std weight {weight.std()}, bias {bias.std()}; expected randn's 1"
    )
    x = _input((3, 64))
    _close(_run(layer, x), _relu(x @ weight + bias), "MyLinear(64, 48)")


def test_my_linear_takes_paddles_default_dtype() -> None:
    before = paddle.get_default_dtype()
    paddle.set_default_dtype("float64")
    try:
        layer = blocks.MyLinear(2, 3)
    finally:
        paddle.set_default_dtype(before)
    dtypes = {name: str(p.dtype) for name, p in layer.named_parameters()}
    assert set(dtypes.values()) == {"paddle.float64"}, f"MyLinear under float64: observed {dtypes}; expected float64"


# --- 4.5 GPU --------------------------------------------------------------------------------------


def test_try_gpu_falls_back_to_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paddle.device.cuda, "device_count", lambda: 0)
    cases = {"try_gpu()": blocks.try_gpu(), "try_gpu(3)": blocks.try_gpu(3), "try_all_gpus()": blocks.try_all_gpus()}
    expected = {"try_gpu()": paddle.CPUPlace(), "try_gpu(3)": paddle.CPUPlace(), "try_all_gpus()": [paddle.CPUPlace()]}
    assert cases == expected, f"no GPU: observed {cases}; expected {expected}"


def test_try_gpu_picks_the_ith_gpu_when_there_are_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CPU wheel cannot make a CUDAPlace: a stand-in records which GPU was asked for.
    monkeypatch.setattr(paddle.device.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(paddle, "CUDAPlace", lambda i: f"gpu:{i}")
    cases = {"try_gpu(1)": blocks.try_gpu(1), "try_gpu(2)": blocks.try_gpu(2), "try_all_gpus()": blocks.try_all_gpus()}
    expected = {"try_gpu(1)": "gpu:1", "try_gpu(2)": paddle.CPUPlace(), "try_all_gpus()": ["gpu:0", "gpu:1"]}
    assert cases == expected, f"two GPUs: observed {cases}; expected {expected}"
