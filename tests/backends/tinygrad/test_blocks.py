"""The chapter's blocks in tinygrad (conformance/backends/tinygrad/blocks.py) compute what the chapter says (4.1-4.3).

Each block runs on its own weights, read back from tinygrad, and is compared with the same computation in
NumPy. tinygrad's ``nn.Linear`` stores its weight (out, in) and computes ``X @ W.T + b``. tinygrad compiles
a kernel per new shape, so the tests reuse the chapter's shapes (20 -> 256 -> 10, 4 -> 8 -> 4, 20 x 20).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

# The backend package, not tinygrad, first: importing it sets tinygrad's compile settings (PARALLEL=0: no
# compile worker processes) before tinygrad is imported. Without tinygrad it raises ModuleNotFoundError.
pytest.importorskip("conformance.backends.tinygrad")

from tinygrad import Tensor, nn
from tinygrad.helpers import Context
from tinygrad.nn import state as tg_state

from conformance.backends.tinygrad import blocks


@pytest.fixture(autouse=True)
def _seeded() -> None:
    Tensor.manual_seed(0)  # every draw below (layers, initializers) the same on every run


def _made(module: Any) -> Any:
    """``module`` with every tensor realized: a draw left pending would be scheduled again by every later draw."""
    Tensor.realize(*tg_state.get_state_dict(module).values())
    return module


def _np(tensor: Any) -> np.ndarray:
    return np.asarray(tensor.numpy(), dtype=np.float64)


def _linear(layer: Any, x: np.ndarray) -> np.ndarray:
    """tinygrad's Linear in NumPy: ``X @ W.T + b``, W stored (out, in)."""
    return x @ _np(layer.weight).T + _np(layer.bias)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _run(block: Any, x: np.ndarray) -> np.ndarray:
    return _np(block(Tensor(x.astype(np.float32))))


def _input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _close(observed: np.ndarray, expected: np.ndarray, case: str) -> None:
    __tracebackhide__ = True
    assert np.allclose(observed, expected, rtol=1e-4, atol=1e-5), f"{case}: observed {observed}; expected {expected}"


def _shapes(module: Any) -> dict[str, tuple[int, ...]]:
    return {name: tuple(t.shape) for name, t in tg_state.get_state_dict(module).items()}


# --- 4.1 Layers and blocks ------------------------------------------------------------------------


def test_mlp_is_out_of_relu_of_hidden() -> None:
    net = _made(blocks.MLP())
    expected = {"hidden.weight": (256, 20), "hidden.bias": (256,), "out.weight": (10, 256), "out.bias": (10,)}
    assert _shapes(net) == expected, f"MLP: observed {_shapes(net)}; expected {expected}"
    x = _input((2, 20))
    _close(_run(net, x), _linear(net.out, _relu(_linear(net.hidden, x))), "MLP")


def test_fixed_hidden_mlp_reuses_its_linear_halves_and_sums() -> None:
    net = _made(blocks.FixedHiddenMLP())
    x = _input((2, 20))
    h = _linear(net.linear, x)
    h = _relu(h @ _np(net.rand_weight) + 1)
    h = _linear(net.linear, h)
    while np.abs(h).sum() > 1:
        h /= 2
    observed = float(_run(net, x))
    assert np.isclose(observed, h.sum(), rtol=1e-4), f"FixedHiddenMLP: observed {observed}; expected {h.sum()}"


def test_fixed_hidden_mlps_constant_is_in_the_state_dict_but_no_parameter() -> None:
    net = _made(blocks.FixedHiddenMLP())
    expected = {"rand_weight": (20, 20), "linear.weight": (20, 20), "linear.bias": (20,)}
    assert _shapes(net) == expected, f"FixedHiddenMLP: observed {_shapes(net)}; expected {expected}"
    flags = {name: t.is_param for name, t in tg_state.get_state_dict(net).items()}
    assert flags == {"rand_weight": False, "linear.weight": True, "linear.bias": True}, (
        f"observed is_param {flags}; expected False only for rand_weight"
    )
    constant = _np(net.rand_weight)
    assert constant.min() >= 0 and constant.max() < 1, (
        f"observed range [{constant.min()}, {constant.max()}]; expected U[0, 1)"
    )


def test_sequential_containers_are_walked_as_the_list_and_dict_they_are() -> None:
    first, second = _made(nn.Linear(4, 8)), _made(nn.Linear(8, 4))
    cases = {
        "Sequential": (blocks.Sequential([first, Tensor.relu, second]), ["0", "2"]),
        "NamedSequential": (blocks.NamedSequential({"a": first, "r": Tensor.relu, "b": second}), ["a", "b"]),
        "MySequential": (blocks.MySequential(first, Tensor.relu, second), ["0", "2"]),
    }
    x = _input((2, 4))
    expected = _linear(second, _relu(_linear(first, x)))
    for case, (net, layers) in cases.items():
        names = list(tg_state.get_state_dict(net))
        wanted = [f"{layer}.{leaf}" for layer in layers for leaf in ("weight", "bias")]
        assert names == wanted, f"{case}: observed get_state_dict names {names}; expected {wanted}"
        _close(_run(net, x), expected, f"{case}(Linear(4, 8), relu, Linear(8, 4))")


def test_add_module_appends_under_its_name() -> None:
    net = blocks.NamedSequential()
    net.add_module("block 0", Tensor.relu)
    net.add_module("second", Tensor.relu)
    assert list(net) == ["block 0", "second"], f"observed keys {list(net)}; expected ['block 0', 'second']"


def test_a_block_applies_its_children_in_the_order_assigned() -> None:
    first, second = _made(nn.Linear(4, 8)), _made(nn.Linear(8, 4))
    net = blocks.Block([("z", first), ("a", Tensor.relu), ("m", second)])
    x = _input((2, 4))
    _close(_run(net, x), _linear(second, _relu(_linear(first, x))), "Block z, a, m")


# --- 4.2 Parameter management ---------------------------------------------------------------------


def test_rgnet_names_its_tensors_by_nesting() -> None:
    net = _made(blocks.rgnet())
    names = list(tg_state.get_state_dict(net))
    nested = [f"0.block {i}.{j}.{leaf}" for i in range(4) for j in (0, 2) for leaf in ("weight", "bias")]
    assert names == [*nested, "1.weight", "1.bias"], (
        f"rgnet: observed {names}; expected {[*nested, '1.weight', '1.bias']}"
    )
    x = _input((2, 4))
    h = x
    for i in range(4):
        inner = net[0][f"block {i}"]
        h = _relu(_linear(inner[2], _relu(_linear(inner[0], h))))
    _close(_run(net, x), _linear(net[1], h), "rgnet")


def test_tied_net_holds_one_shared_layer_at_2_and_4() -> None:
    net = _made(blocks.tied_net())
    assert net[2] is net[4], "tied_net: observed two layers at 2 and 4; expected one shared layer"
    x = _input((2, 4))
    h = _relu(_linear(net[0], x))
    h = _relu(_linear(net[2], h))
    h = _relu(_linear(net[2], h))
    _close(_run(net, x), _linear(net[6], h), "tied_net")


def _inited(fn: Any) -> Any:
    """A Linear(20, 256) (MLP.hidden's shape: its kernels are compiled already) after ``fn``."""
    layer = _made(nn.Linear(20, 256))
    fn(layer)
    fn(Tensor.relu)  # not a Linear: left alone
    return _made(layer)


def test_init_normal_and_constant_write_the_chapters_values() -> None:
    layer = _inited(blocks.init_normal)
    weight = _np(layer.weight)
    assert 0.009 < weight.std() < 0.011 and abs(weight.mean()) < 0.001, (
        f"init_normal: observed std {weight.std()}, mean {weight.mean()}; expected 0.01, 0"
    )
    assert not _np(layer.bias).any(), f"init_normal: observed bias {_np(layer.bias)[:5]}; expected zeros"
    layer = _inited(blocks.init_constant)
    assert (_np(layer.weight) == 1).all() and not _np(layer.bias).any(), (
        f"init_constant: observed weight {np.unique(_np(layer.weight))[:5]}, bias {np.unique(_np(layer.bias))[:5]}; "
        "expected weight 1, bias 0"
    )
    layer = _inited(blocks.init_42)
    assert (_np(layer.weight) == 42).all(), f"init_42: observed {np.unique(_np(layer.weight))[:5]}; expected 42"
    assert _np(layer.bias).any(), "init_42: observed the bias zeroed; expected it left as drawn"


def test_init_xavier_draws_within_the_xavier_bound() -> None:
    weight = _np(_inited(blocks.init_xavier).weight)
    bound = np.sqrt(6 / (20 + 256))
    assert np.abs(weight).max() <= bound and weight.std() > bound / 2, (
        f"init_xavier: observed max |w| {np.abs(weight).max()}, std {weight.std()}; expected U(-{bound}, {bound})"
    )


def test_my_init_zeroes_small_weights() -> None:
    weight = _np(_inited(blocks.my_init).weight)
    kept = np.abs(weight)[weight != 0]
    assert kept.min() >= 5 and kept.max() <= 10, (
        f"my_init: observed nonzero |w| in [{kept.min()}, {kept.max()}]; expected [5, 10]"
    )
    share = (weight == 0).mean()
    assert 0.45 < share < 0.55, f"my_init: observed {share:.2f} of weights zero; expected about 1/2"


# --- 4.3 Custom layers ----------------------------------------------------------------------------


def test_centered_layer_subtracts_the_mean_of_all_elements() -> None:
    x = _input((2, 20)) + 4
    _close(_run(blocks.CenteredLayer(), x), x - x.astype(np.float64).mean(), "CenteredLayer")


def test_my_linear_is_relu_of_x_at_w_plus_b_drawn_from_a_standard_normal() -> None:
    layer = _made(blocks.MyLinear(20, 256))
    assert _shapes(layer) == {"weight": (20, 256), "bias": (256,)}, (
        f"MyLinear(20, 256): observed {_shapes(layer)}; expected weight (20, 256), bias (256,)"
    )
    weight, bias = _np(layer.weight), _np(layer.bias)
    # False alarm under 1e-20 per run (chi-square tails): 5,120 weights' std within 10 % of 1, 256 biases' in (0.6, 1.5).
    assert 0.9 < weight.std() < 1.1 and 0.6 < bias.std() < 1.5, (
        f"MyLinear: observed std weight {weight.std()}, bias {bias.std()}; expected randn's 1"
    )
    x = _input((2, 20))
    _close(_run(layer, x), _relu(x @ weight + bias), "MyLinear(20, 256)")


# --- 4.5 GPU --------------------------------------------------------------------------------------


def test_host_devices_stand_in_for_accelerators_on_a_cpu_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    cases: dict[str, tuple[str, Any, Any]] = {
        "default": ("", blocks.accelerators, ["CPU:1", "CPU:2", "CPU:3"]),
        "two": ("2", blocks.accelerators, ["CPU:1", "CPU:2"]),
        "two, try_gpu(1)": ("2", lambda: blocks.try_gpu(1), "CPU:2"),
        "two, try_gpu(2)": ("2", lambda: blocks.try_gpu(2), "CPU"),
        "none, try_gpu()": ("0", blocks.try_gpu, "CPU"),
        "none, try_all_gpus()": ("0", blocks.try_all_gpus, ["CPU"]),
    }
    for case, (count, call, expected) in cases.items():
        if count:
            monkeypatch.setenv("BLOCKSPEC_TINYGRAD_HOST_DEVICES", count)
        else:
            monkeypatch.delenv("BLOCKSPEC_TINYGRAD_HOST_DEVICES", raising=False)
        observed = call()
        assert observed == expected, f"{case}: observed {observed!r}; expected {expected!r}"


def test_a_non_cpu_default_device_is_the_one_accelerator() -> None:
    with Context(DEV="CUDA"):  # only read, never opened
        observed = (blocks.accelerators(), blocks.try_gpu(), blocks.try_gpu(1), blocks.try_all_gpus())
    expected = (["CUDA"], "CUDA", "CPU", ["CUDA"])
    assert observed == expected, f"default device CUDA: observed {observed}; expected {expected}"
