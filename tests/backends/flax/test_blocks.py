"""The chapter's blocks in Flax NNX (conformance/backends/flax/blocks.py): each computes what the chapter says.

Every forward is compared with NumPy on the block's own weights (``nnx.Linear`` computes ``X @ kernel + bias``,
kernel (in, out)); shapes are the chapter's, so JAX compiles each once.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

if importlib.util.find_spec("flax") is not None and importlib.util.find_spec("jax") is not None:
    # First, before jax starts: the adapter sets XLA_FLAGS (four host devices standing in for accelerators).
    import conformance.backends.flax  # noqa: F401

pytest.importorskip("flax")

import jax
import jax.numpy as jnp
from flax import nnx

from conformance.backends.flax import blocks

MULTI_DEVICE = pytest.mark.skipif(len(jax.devices("cpu")) < 2, reason="jax started with one host device")


def _x(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _np(variable: Any) -> np.ndarray:
    return np.asarray(variable[...])


def _dense(layer: nnx.Linear, x: np.ndarray) -> np.ndarray:
    """What the chapter's ``nn.Linear`` computes, from the Flax layer's own kernel (in, out) and bias."""
    return x @ _np(layer.kernel) + _np(layer.bias)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def _close(observed: Any, expected: np.ndarray, case: str) -> None:
    np.testing.assert_allclose(
        np.asarray(observed), expected, rtol=1e-4, atol=1e-5, err_msg=f"{case}: observed Flax; expected NumPy"
    )


class _Affine(nnx.Module):
    """``2 X + k``: children whose order shows in the result."""

    def __init__(self, k: int) -> None:
        self.k = k

    def __call__(self, X: jax.Array) -> jax.Array:
        return 2 * X + self.k


def _affine_chain(x: np.ndarray, ks: list[int]) -> np.ndarray:
    for k in ks:
        x = 2 * x + k
    return x


# --- 4.1 Layers and blocks -------------------------------------------------------------------------


def test_mlp_is_out_of_relu_of_hidden_with_the_chapter_s_widths() -> None:
    net = blocks.MLP(rngs=nnx.Rngs(0))
    shapes = [_np(v).shape for v in (net.hidden.kernel, net.hidden.bias, net.out.kernel, net.out.bias)]
    assert shapes == [(20, 256), (256,), (256, 10), (10,)], (
        f"MLP: observed {shapes}; expected Linear(20, 256), (256, 10)"
    )
    x = _x((2, 20))
    _close(net(jnp.asarray(x)), _dense(net.out, _relu(_dense(net.hidden, x))), "MLP")


def test_fixed_hidden_mlp_reuses_its_linear_halves_until_small_and_sums() -> None:
    net = blocks.FixedHiddenMLP(rngs=nnx.Rngs(0))
    rand = _np(net.rand_weight)
    assert rand.shape == (20, 20) and rand.min() >= 0 and rand.max() < 1, (
        f"rand_weight: observed shape {rand.shape}, range [{rand.min()}, {rand.max()}]; expected (20, 20) in [0, 1)"
    )
    x = _x((2, 20), 4)  # enters the halving loop (five halvings)
    h = _dense(net.linear, _relu(_dense(net.linear, x) @ rand + 1))
    halvings = 0
    while np.abs(h).sum() > 1:
        h /= 2
        halvings += 1
    assert halvings > 0, "the input is too small to reach the loop; the test is stale"
    out = net(jnp.asarray(x))
    assert np.shape(out) == (), f"FixedHiddenMLP: observed output shape {np.shape(out)}; expected a scalar"
    _close(out, h.sum(), "FixedHiddenMLP")


def test_fixed_hidden_mlp_s_constant_is_state_never_differentiated() -> None:
    net = blocks.FixedHiddenMLP(rngs=nnx.Rngs(0))
    assert isinstance(net.rand_weight, nnx.Variable) and not isinstance(net.rand_weight, nnx.Param), (
        f"observed rand_weight a {type(net.rand_weight).__name__}; expected a Variable that is no Param"
    )
    grads = nnx.grad(lambda m, x: m(x))(net, jnp.asarray(_x((2, 20), 4)))
    paths = sorted(".".join(map(str, path)) for path, _ in grads.flat_state())
    assert paths == ["linear.bias", "linear.kernel"], f"observed gradients for {paths}; expected the Linear's only"


def test_my_sequential_applies_its_children_in_insertion_order_even_after_flax_rebuilds_it() -> None:
    ks = list(range(11))  # "10" sorts before "2": NNX rebuilds attributes in that order
    seq = blocks.MySequential(*[_Affine(k) for k in ks])
    assert seq._order == tuple(map(str, ks)), f"observed keys {seq._order}; expected '0'..'10'"
    x = _x((2, 3))
    expected = _affine_chain(x, ks)
    _close(seq(jnp.asarray(x)), expected, "MySequential")
    _close(nnx.clone(seq)(jnp.asarray(x)), expected, "MySequential after nnx.clone")


def test_a_block_and_a_named_sequential_apply_children_in_the_order_added() -> None:
    block = blocks.Block([("z", _Affine(1)), ("a", _Affine(5))])
    x = _x((2, 3))
    _close(block(jnp.asarray(x)), _affine_chain(x, [1, 5]), "Block z, a")
    named = blocks.NamedSequential()
    named.add_module("second", _Affine(3))
    named.add_module("first", _Affine(4))
    assert named._order == ("second", "first"), f"observed {named._order}; expected the order of add_module"
    _close(named(jnp.asarray(x)), _affine_chain(x, [3, 4]), "NamedSequential")


def test_relu_and_centered_layer_compute_max_and_minus_mean() -> None:
    x = _x((2, 3), 2) + 3.0
    _close(blocks.ReLU()(jnp.asarray(x - 3.0)), _relu(x - 3.0), "ReLU")
    centered = blocks.CenteredLayer()(jnp.asarray(x))
    _close(centered, x - x.mean(), "CenteredLayer")
    assert abs(float(np.asarray(centered).mean())) < 1e-5, f"observed mean {np.asarray(centered).mean()}; expected 0"


def test_my_linear_is_relu_of_x_at_its_own_weight_plus_bias() -> None:
    layer = blocks.MyLinear(5, 3, rngs=nnx.Rngs(0))
    assert isinstance(layer.weight, nnx.Param) and isinstance(layer.bias, nnx.Param), "expected two nnx.Params"
    w, b = _np(layer.weight), _np(layer.bias)
    assert (w.shape, b.shape) == ((5, 3), (3,)), f"MyLinear(5, 3): observed {w.shape}, {b.shape}; expected (5, 3), (3,)"
    x = _x((4, 5), 3)
    _close(layer(jnp.asarray(x)), _relu(x @ w + b), "MyLinear")


# --- 4.2 Parameter management ----------------------------------------------------------------------


def test_block1_block2_and_rgnet_nest_as_the_chapter_writes_them() -> None:
    net = blocks.rgnet(nnx.Rngs(0))
    first, head = net.layers
    assert first._order == ("block 0", "block 1", "block 2", "block 3"), f"block2: observed {first._order}"
    widths = [_np(layer.kernel).shape for layer in getattr(first, "block 1").layers if isinstance(layer, nnx.Linear)]
    assert widths == [(4, 8), (8, 4)], f"block1: observed kernels {widths}; expected Linear(4, 8), Linear(8, 4)"
    assert [type(layer).__name__ for layer in getattr(first, "block 1").layers] == ["Linear", "ReLU", "Linear", "ReLU"]
    x = _x((2, 4), 4)
    h = x
    for name in first._order:
        lin0, _, lin2, _ = getattr(first, name).layers
        h = _relu(_dense(lin2, _relu(_dense(lin0, h))))
    _close(net(jnp.asarray(x)), _dense(head, h), "rgnet")


def test_tied_net_holds_one_linear_at_positions_2_and_4() -> None:
    net = blocks.tied_net(nnx.Rngs(0))
    layers = list(net.layers)
    assert layers[2] is layers[4] and layers[0] is not layers[2], "tied_net: expected one Linear at 2 and 4 only"
    x = _x((2, 4), 5)
    h = _relu(_dense(layers[0], x))
    h = _relu(_dense(layers[2], h))
    h = _relu(_dense(layers[2], h))
    _close(net(jnp.asarray(x)), _dense(layers[6], h), "tied_net")


def test_each_chapter_init_writes_what_the_chapter_says_into_a_linear_only() -> None:
    rngs = nnx.Rngs(0)
    layer = blocks.MLP(rngs=rngs).hidden  # 20 x 256: enough values for the statistics below
    kernel, bias = layer.kernel, layer.bias
    others = blocks.MyLinear(5, 3, rngs=rngs)
    untouched = _np(others.weight)
    for fn in (blocks.init_normal, blocks.init_constant, blocks.init_xavier, blocks.init_42, blocks.my_init):
        fn(others, rngs)
        fn(blocks.ReLU(), rngs)
    np.testing.assert_array_equal(_np(others.weight), untouched, err_msg="an init changed a non-Linear module")

    bias[...] = jnp.ones(256)  # nnx.Linear starts its bias at 0: make the inits' zeros show
    blocks.init_normal(layer, rngs)
    w = _np(kernel)
    assert abs(w.std() - 0.01) < 0.001 and abs(w.mean()) < 0.001, (
        f"init_normal: observed std {w.std()}, mean {w.mean()}"
    )
    assert not _np(bias).any(), f"init_normal: observed bias {_np(bias)[:4]}; expected zeros"
    bias[...] = jnp.ones(256)
    blocks.init_constant(layer, rngs)
    assert (_np(kernel) == 1).all() and not _np(bias).any(), "init_constant: expected weight 1, bias 0"
    blocks.init_xavier(layer, rngs)
    bound = np.sqrt(6 / (20 + 256))
    top = np.abs(_np(kernel)).max()
    assert 0.95 * bound < top <= bound, f"init_xavier: observed max |w| {top}; expected just under {bound}"
    blocks.init_42(layer, rngs)
    assert (_np(kernel) == 42).all(), f"init_42: observed {np.unique(_np(kernel))[:4]}; expected 42 everywhere"
    blocks.my_init(layer, rngs)
    w = _np(kernel)
    kept = w[w != 0]
    zeros = (w == 0).mean()
    assert ((np.abs(kept) >= 5) & (np.abs(kept) <= 10)).all() and 0.45 < zeros < 0.55, (
        f"my_init: observed |w| in [{np.abs(kept).min()}, {np.abs(kept).max()}], zeros {zeros:.2f}; "
        "expected 5 <= |w| <= 10 or 0, zeros about 1/2"
    )
    assert layer.kernel is kernel and layer.bias is bias, "observed new Variables; expected the values replaced"


def test_an_init_keeps_the_kernel_s_dtype() -> None:
    layer = nnx.Linear(4, 8, param_dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    blocks.init_constant(layer, nnx.Rngs(0))
    dtypes = (layer.kernel[...].dtype, layer.bias[...].dtype)
    assert dtypes == (jnp.bfloat16, jnp.bfloat16), f"observed {dtypes}; expected bfloat16 kept"


@MULTI_DEVICE
def test_an_init_keeps_the_kernel_on_its_device() -> None:
    layer = nnx.Linear(4, 8, rngs=nnx.Rngs(0))
    device = jax.devices("cpu")[1]
    nnx.update(layer, jax.device_put(nnx.state(layer), device))
    blocks.init_normal(layer, nnx.Rngs(0))
    placed = {v[...].devices().pop() for v in (layer.kernel, layer.bias)}
    assert placed == {device}, f"observed {placed}; expected the values left on {device}"


# --- 4.5 GPU ---------------------------------------------------------------------------------------


class _Device:
    def __init__(self, platform: str, i: int) -> None:
        self.platform, self.id = platform, i

    def __repr__(self) -> str:
        return f"{self.platform}:{self.id}"


@pytest.mark.parametrize(
    ("gpus", "host", "expected"),
    [
        (0, 4, {"accelerators": ["cpu:1", "cpu:2", "cpu:3"], "try_gpu(1)": "cpu:2", "try_gpu(3)": "cpu:0"}),
        (0, 1, {"accelerators": [], "try_gpu(1)": "cpu:0", "try_gpu(3)": "cpu:0", "all": ["cpu:0"]}),
        (2, 1, {"accelerators": ["gpu:0", "gpu:1"], "try_gpu(1)": "gpu:1", "try_gpu(3)": "cpu:0"}),
    ],
)
def test_try_gpu_and_try_all_gpus_follow_jax_s_devices(
    monkeypatch: pytest.MonkeyPatch, gpus: int, host: int, expected: dict[str, Any]
) -> None:
    cpus = [_Device("cpu", i) for i in range(host)]
    accelerators = [_Device("gpu", i) for i in range(gpus)]

    def devices(backend: str | None = None) -> list[_Device]:
        return cpus if backend == "cpu" or not accelerators else accelerators

    monkeypatch.setattr(blocks.jax, "devices", devices)
    observed = {
        "accelerators": [repr(d) for d in blocks.accelerators()],
        "try_gpu(1)": repr(blocks.try_gpu(1)),
        "try_gpu(3)": repr(blocks.try_gpu(3)),
        "all": [repr(d) for d in blocks.try_all_gpus()],
    }
    wanted = {"all": expected["accelerators"], **expected}
    assert observed == wanted, f"{gpus} GPUs, {host} host devices: observed {observed}; expected {wanted}"
