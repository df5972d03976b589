"""The chapter's blocks in Keras 3 (conformance/backends/keras/blocks.py): each computes what the chapter says.

Every forward is compared with NumPy on the block's own weights (``Dense`` computes ``X @ kernel + bias``,
kernel (in, out)). Keras runs on its torch backend, as the project's CI runs it.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported: Keras picks its backend once

from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")
if keras.backend.backend() != "torch":
    pytest.skip(f"keras started on {keras.backend.backend()}, not torch", allow_module_level=True)

from conformance.backends.keras import blocks  # noqa: E402


def _x(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _np(variable: Any) -> np.ndarray:
    value = variable.value if isinstance(variable, keras.Variable) else variable
    return np.array(value.detach().cpu().numpy())  # a copy: numpy() shares the Variable's memory


def _dense(layer: Any, x: np.ndarray) -> np.ndarray:
    """What the chapter's ``nn.Linear`` computes, from the Dense's own kernel (in, out) and bias."""
    return x @ _np(layer.kernel) + _np(layer.bias)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def _close(observed: Any, expected: np.ndarray, case: str) -> None:
    np.testing.assert_allclose(_np(observed), expected, rtol=1e-4, atol=1e-5, err_msg=f"{case}: observed Keras")


class _Affine(keras.layers.Layer):  # type: ignore[misc]  # keras ships no type hints
    """``2 X + k``: children whose order shows in the result."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def call(self, X: Any) -> Any:
        return 2 * X + self.k


def _affine_chain(x: np.ndarray, ks: list[int]) -> np.ndarray:
    for k in ks:
        x = 2 * x + k
    return x


def _t(x: np.ndarray) -> Any:
    return torch.as_tensor(x)


# --- 4.1 Layers and blocks -------------------------------------------------------------------------


def test_mlp_is_out_of_relu_of_hidden_with_the_chapter_s_widths_built_up_front() -> None:
    net = blocks.MLP()
    shapes = [tuple(v.shape) for v in (net.hidden.kernel, net.hidden.bias, net.out.kernel, net.out.bias)]
    assert shapes == [(20, 256), (256,), (256, 10), (10,)], (
        f"MLP: observed {shapes}; expected Linear(20, 256), (256, 10)"
    )
    x = _x((2, 20))
    _close(net(_t(x)), _dense(net.out, _relu(_dense(net.hidden, x))), "MLP")


def test_fixed_hidden_mlp_reuses_its_linear_halves_until_small_and_sums() -> None:
    net = blocks.FixedHiddenMLP()
    rand = _np(net.rand_weight)
    assert rand.shape == (20, 20) and rand.min() >= 0 and rand.max() < 1, (
        f"rand_weight: observed shape {rand.shape}, range [{rand.min()}, {rand.max()}]; expected (20, 20) in [0, 1)"
    )
    x = 20 * np.abs(_x((2, 20), 1))  # large and positive: enters the halving loop whatever the weights drawn
    h = _dense(net.linear, _relu(_dense(net.linear, x) @ rand + 1))
    halvings = 0
    while np.abs(h).sum() > 1:
        h /= 2
        halvings += 1
    assert halvings > 0, "the input is too small to reach the loop; the test is stale"
    out = net(_t(x))
    assert tuple(out.shape) == (), f"FixedHiddenMLP: observed output shape {tuple(out.shape)}; expected a scalar"
    _close(out, h.sum(), "FixedHiddenMLP")


def test_fixed_hidden_mlp_s_constant_is_a_non_trainable_weight() -> None:
    net = blocks.FixedHiddenMLP()
    trainable = [v.path for v in net.trainable_weights]
    frozen = [v.path for v in net.non_trainable_weights]
    assert frozen == [net.rand_weight.path] and net.rand_weight.path not in trainable, (
        f"observed trainable {trainable}, non-trainable {frozen}; expected rand_weight alone non-trainable"
    )
    assert len(trainable) == 2, f"observed trainable {trainable}; expected the one Linear's kernel and bias"


def test_my_sequential_applies_its_children_in_insertion_order() -> None:
    ks = list(range(11))  # "10" sorts before "2"
    seq = blocks.MySequential(*[_Affine(k) for k in ks])
    assert seq._order == [str(k) for k in ks], f"observed keys {seq._order}; expected '0'..'10'"
    x = _x((2, 3))
    _close(seq(_t(x)), _affine_chain(x, ks), "MySequential")


def test_a_block_and_a_named_sequential_apply_children_in_the_order_added() -> None:
    x = _x((2, 3))
    block = blocks.Block([("z", _Affine(1)), ("a", _Affine(5))])
    _close(block(_t(x)), _affine_chain(x, [1, 5]), "Block z, a")
    named = blocks.NamedSequential()
    named.add_module("second", _Affine(3))
    named.add_module("first", _Affine(4))
    assert named._order == ["second", "first"], f"observed {named._order}; expected the order of add_module"
    _close(named(_t(x)), _affine_chain(x, [3, 4]), "NamedSequential")


def test_dense_is_nn_linear_built_for_its_input_width() -> None:
    layer = blocks.dense(3, 2, use_bias=False, dtype="float64")
    assert layer.built and tuple(layer.kernel.shape) == (3, 2), f"observed built={layer.built}, {layer.kernel.shape}"
    assert layer.bias is None and layer.kernel.dtype == "float64", f"observed bias {layer.bias}, {layer.kernel.dtype}"


def test_centered_layer_subtracts_the_mean_of_every_element() -> None:
    x = _x((2, 3), 2) + 3.0
    out = blocks.CenteredLayer()(_t(x))
    _close(out, x - x.mean(), "CenteredLayer")
    assert abs(float(_np(out).mean())) < 1e-5, f"observed mean {_np(out).mean()}; expected 0"


def test_my_linear_is_relu_of_x_at_its_own_weight_plus_bias() -> None:
    layer = blocks.MyLinear(5, 3)
    leaves = sorted(v.path.rsplit("/", 1)[1] for v in layer.trainable_weights)
    assert leaves == ["bias", "weight"], f"observed trainable weights {leaves}; expected weight and bias"
    w, b = _np(layer.weight), _np(layer.bias)
    assert (w.shape, b.shape) == ((5, 3), (3,)), f"MyLinear(5, 3): observed {w.shape}, {b.shape}; expected (5, 3), (3,)"
    x = _x((4, 5), 3)
    _close(layer(_t(x)), _relu(x @ w + b), "MyLinear")


# --- 4.2 Parameter management ----------------------------------------------------------------------


def test_block1_block2_and_rgnet_nest_as_the_chapter_writes_them() -> None:
    net = blocks.rgnet()
    first, head = net.layers
    assert first._order == ["block 0", "block 1", "block 2", "block 3"], f"block2: observed {first._order}"
    inner = getattr(first, "block 1").layers
    assert [type(layer).__name__ for layer in inner] == ["Dense", "ReLU", "Dense", "ReLU"], f"block1: {inner}"
    kernels = [tuple(layer.kernel.shape) for layer in inner if isinstance(layer, keras.layers.Dense)]
    assert kernels == [(4, 8), (8, 4)], f"block1: observed kernels {kernels}; expected Linear(4, 8), Linear(8, 4)"
    x = _x((2, 4), 4)
    h = x
    for name in first._order:
        lin0, _, lin2, _ = getattr(first, name).layers
        h = _relu(_dense(lin2, _relu(_dense(lin0, h))))
    _close(net(_t(x)), _dense(head, h), "rgnet")


def test_tied_net_holds_one_dense_at_positions_2_and_4() -> None:
    net = blocks.tied_net()
    layers = net.layers
    assert layers[2] is layers[4] and layers[0] is not layers[2], "tied_net: expected one Dense at 2 and 4 only"
    x = _x((2, 4), 5)
    h = _relu(_dense(layers[0], x))
    h = _relu(_dense(layers[2], h))
    h = _relu(_dense(layers[2], h))
    _close(net(_t(x)), _dense(layers[6], h), "tied_net")


def test_each_chapter_init_writes_what_the_chapter_says_into_a_dense_only() -> None:
    layer = blocks.dense(20, 256)  # enough values for the statistics below
    kernel, bias = layer.kernel, layer.bias
    others = blocks.MyLinear(5, 3)
    untouched = _np(others.weight)
    for fn in (blocks.init_normal, blocks.init_constant, blocks.init_xavier, blocks.init_42, blocks.my_init):
        fn(others)
    np.testing.assert_array_equal(_np(others.weight), untouched, err_msg="an init changed a non-Dense layer")

    bias.assign(np.ones(256))  # a Dense starts its bias at 0: make the inits' zeros show
    blocks.init_normal(layer)
    w = _np(kernel)
    assert abs(w.std() - 0.01) < 0.001 and abs(w.mean()) < 0.001, (
        f"init_normal: observed std {w.std()}, mean {w.mean()}"
    )
    assert not _np(bias).any(), f"init_normal: observed bias {_np(bias)[:4]}; expected zeros"
    bias.assign(np.ones(256))
    blocks.init_constant(layer)
    assert (_np(kernel) == 1).all() and not _np(bias).any(), "init_constant: expected weight 1, bias 0"
    blocks.init_xavier(layer)
    bound = np.sqrt(6 / (20 + 256))
    top = np.abs(_np(kernel)).max()
    assert 0.95 * bound < top <= bound, f"init_xavier: observed max |w| {top}; expected just under {bound}"
    blocks.init_42(layer)
    assert (_np(kernel) == 42).all(), f"init_42: observed {np.unique(_np(kernel))[:4]}; expected 42 everywhere"
    blocks.my_init(layer)
    w = _np(kernel)
    kept = w[w != 0]
    zeros = (w == 0).mean()
    assert ((np.abs(kept) >= 5) & (np.abs(kept) <= 10)).all() and 0.45 < zeros < 0.55, (
        f"my_init: observed |w| in [{np.abs(kept).min()}, {np.abs(kept).max()}], zeros {zeros:.2f}; "
        "expected 5 <= |w| <= 10 or 0, zeros about 1/2"
    )
    assert layer.kernel is kernel and layer.bias is bias, "observed new Variables; expected the values assigned"


# --- 4.5 GPU ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "expected"), [(0, (0, "cpu", "cpu", ["cpu"])), (2, (2, "cuda:1", "cpu", ["cuda:0", "cuda:1"]))]
)
def test_try_gpu_and_try_all_gpus_follow_torch_s_device_count(
    monkeypatch: pytest.MonkeyPatch, count: int, expected: tuple[Any, ...]
) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    observed = (blocks.num_gpus(), blocks.try_gpu(1), blocks.try_gpu(2), blocks.try_all_gpus())
    assert observed == expected, f"{count} GPUs: observed {observed}; expected {expected}"
