"""The Flax NNX adapter (conformance/backends/flax/_adapter.py): what it reads from Flax, and that it adds nothing.

Each test builds a small model by hand and compares the adapter's answer with Flax's own API
(``nnx.state`` paths and Variables, ``nnx.update``, ``nnx.grad``) or with NumPy. JAX compiles every new
shape, so the models reuse widths 2 and 3.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

if importlib.util.find_spec("flax") is not None and importlib.util.find_spec("jax") is not None:
    # First, before jax starts: the adapter sets XLA_FLAGS (four host devices standing in for accelerators).
    import conformance.backends.flax  # noqa: F401

pytest.importorskip("flax")

import jax
import ml_dtypes
import safetensors.numpy
from flax import nnx

from conformance import arch as A
from conformance._protocol import LAYOUTS, LoadRejected, LoadResult
from conformance.backends.flax import FlaxBackend, blocks
from tests.backends.samples import linear as _linear
from tests.backends.samples import shared_layer_gradients
from tests.backends.samples import values as _values

#: The adapter keeps only its key stream: one serves every test.
FLAX = FlaxBackend()

#: Four host devices: the adapter's import set XLA_FLAGS before jax started (not so when jax came first).
MULTI_DEVICE = pytest.mark.skipif(len(jax.devices("cpu")) < 2, reason="jax started with one host device")


def _nnx_paths(module: Any, kind: type = nnx.Variable) -> dict[tuple[Any, ...], Any]:
    """Flax's own walk: ``nnx.state``'s flat paths and the Variables at them (each Variable once, sorted)."""
    return dict(nnx.state(module, kind).flat_state())


def _tied() -> tuple[Any, Any]:
    """The chapter's tie in small: one ``nnx.Linear`` at positions 1 and 3 of an ``nnx.Sequential``."""
    shared = nnx.Linear(3, 3, rngs=nnx.Rngs(1))
    return nnx.Sequential(nnx.Linear(2, 3, rngs=nnx.Rngs(0)), shared, blocks.ReLU(), shared), shared


# --- the module graph ----------------------------------------------------------------------------


def test_every_variable_nnx_state_lists_is_named_by_its_path_with_layers_dropped_and_kernel_called_weight() -> None:
    rngs = nnx.Rngs(0)
    inner = nnx.Sequential(nnx.Linear(2, 3, rngs=rngs), blocks.ReLU(), nnx.Linear(3, 2, use_bias=False, rngs=rngs))
    net = blocks.Block([("z", inner), ("a", blocks.MyLinear(2, 2, rngs=rngs)), ("bn", nnx.BatchNorm(2, rngs=rngs))])
    expected = {
        ("z", "layers", 0, "kernel"): "z.0.weight",
        ("z", "layers", 0, "bias"): "z.0.bias",
        ("z", "layers", 2, "kernel"): "z.2.weight",
        ("a", "weight"): "a.weight",
        ("a", "bias"): "a.bias",
        ("bn", "scale"): "bn.scale",
        ("bn", "bias"): "bn.bias",
        ("bn", "mean"): "bn.mean",
        ("bn", "var"): "bn.var",
    }
    flax_paths = _nnx_paths(net)
    assert set(flax_paths) == set(expected), f"observed nnx.state paths {sorted(flax_paths, key=str)}; test is stale"
    handles = dict(FLAX.named_parameters(net))
    buffers = {name for name, _ in FLAX.named_buffers(net)}
    for path, variable in flax_paths.items():
        name = expected[path]
        if isinstance(variable, nnx.Param):
            assert handles.get(name) is variable, (
                f"nnx path {path}: observed handle {handles.get(name)!r} under {name!r}; expected that Param itself"
            )
        else:
            assert name in buffers, f"nnx path {path}: observed buffers {sorted(buffers)}; expected {name!r} there"
    assert len(handles) + len(buffers) == len(expected), (
        f"observed parameters {sorted(handles)} and buffers {sorted(buffers)}; expected exactly {sorted(expected.values())}"
    )


def test_names_follow_assignment_order_where_nnx_state_sorts_them() -> None:
    rngs = nnx.Rngs(0)
    net = blocks.Block([("z", nnx.Linear(2, 2, rngs=rngs)), ("a", nnx.Linear(2, 2, rngs=rngs))])
    names = [name for name, _ in FLAX.named_parameters(net)]
    assert names == ["z.weight", "z.bias", "a.weight", "a.bias"], (
        f"Block z, a: observed {names}; expected assignment order, a Linear's weight before its bias"
    )
    sorted_by_flax = [".".join(map(str, path)) for path in _nnx_paths(net)]
    assert sorted_by_flax == ["a.bias", "a.kernel", "z.bias", "z.kernel"], (
        f"observed nnx.state order {sorted_by_flax}; expected Flax to sort (the reason the adapter does not use it)"
    )


def test_a_plain_modules_children_are_its_module_attributes_in_assignment_order() -> None:
    class Plain(nnx.Module):
        def __init__(self) -> None:
            self.z = nnx.Linear(2, 2, rngs=nnx.Rngs(0))
            self.scale = 2.0  # not a module: no child
            self.a = blocks.CenteredLayer()

    children = [(name, type(child).__name__) for name, child in FLAX.named_children(Plain())]
    assert children == [("z", "Linear"), ("a", "CenteredLayer")], (
        f"plain module: observed children {children}; expected [('z', 'Linear'), ('a', 'CenteredLayer')]"
    )


def test_a_shared_layer_is_in_the_state_dict_at_every_position_and_a_parameter_once() -> None:
    net, shared = _tied()
    keys = [key for key, _ in FLAX.state_dict(net)]
    assert keys == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"], (
        f"tied net: observed state dict keys {keys}; expected the shared layer under 1 and under 3"
    )
    flax_paths = sorted(".".join(map(str, path)) for path in _nnx_paths(net))
    assert "layers.3.kernel" not in flax_paths, f"observed nnx.state {flax_paths}; expected Flax to list it once"
    params = FLAX.named_parameters(net)
    assert [name for name, _ in params] == ["0.weight", "0.bias", "1.weight", "1.bias"], (
        f"tied net: observed named_parameters {[n for n, _ in params]}; expected the shared layer once, at 1"
    )
    assert dict(params)["1.weight"] is shared.kernel, "observed another object; expected the shared nnx.Param"


def test_a_parameter_tie_is_one_param_held_by_both_layers() -> None:
    owner = _linear(3, 3, seed=0)
    net = FLAX.build(A.Sequential((owner, A.MyLinear(3, 3, weight_of=owner))))
    assert net.layers[1].weight is net.layers[0].kernel, (
        f"observed {net.layers[1].weight!r}; expected MyLinear.weight to be the Linear's kernel Param itself"
    )
    names = [name for name, _ in FLAX.named_parameters(net)]
    assert names == ["0.weight", "0.bias", "1.bias"], f"tied by parameter: observed {names}; expected 1.weight once"
    keys = [key for key, _ in FLAX.state_dict(net)]
    assert "1.weight" in keys, f"tied by parameter: observed state dict keys {keys}; expected the alias 1.weight"


def test_constants_and_batch_stats_are_buffers_never_parameters() -> None:
    m = blocks.FixedHiddenMLP(rngs=nnx.Rngs(0))
    params = [name for name, _ in FLAX.named_parameters(m)]
    buffers = FLAX.named_buffers(m)
    assert params == ["linear.weight", "linear.bias"], f"FixedHiddenMLP: observed parameters {params}"
    assert [name for name, _ in buffers] == ["rand_weight"], f"FixedHiddenMLP: observed buffers {buffers}"
    np.testing.assert_array_equal(np.asarray(buffers[0][1]), np.asarray(m.rand_weight[...]))
    assert not FLAX.is_parameter(m.rand_weight) and FLAX.is_parameter(m.linear.kernel), (
        "observed is_parameter wrong; expected False for the Constant, True for the nnx.Param"
    )


def test_flax_path_undoes_the_adapter_naming_for_every_state_dict_key() -> None:
    rngs = nnx.Rngs(0)
    named = blocks.NamedSequential()
    named.add_module("block 1", nnx.Sequential(nnx.Linear(2, 2, rngs=rngs), blocks.MyLinear(2, 2, rngs=rngs)))
    net = nnx.Sequential(named)
    flax_paths = set(_nnx_paths(net))
    for key, _ in FLAX.state_dict(net):
        path = FLAX._flax_path(net, key)
        assert path in flax_paths, f"key {key!r}: observed path {path}; expected one of nnx.state's {flax_paths}"
    path = FLAX._flax_path(net, "0.block 1.1.weight")
    assert path == ("layers", 0, "block 1", "layers", 1, "weight"), (
        f"MyLinear weight: observed {path}; expected its attribute kept as 'weight', not renamed 'kernel'"
    )


# --- loading: nnx.update, nothing added ------------------------------------------------------------


def _load_cases() -> dict[str, dict[str, Any]]:
    w = _values((2, 3), 5)
    return {
        "full": {"0.weight": w, "0.bias": _values((3,), 6), "2.weight": _values((3, 2), 7), "2.bias": np.zeros(2)},
        "missing keys": {"0.weight": w},
        "another shape": {"0.weight": np.ones((4, 4), np.float32)},
        "another dtype": {"0.bias": np.ones(3, np.float16)},
        "unknown leaf": {"0.extra": np.ones(2, np.float32)},
        "unknown module": {"7.weight": np.ones((2, 3), np.float32)},
    }


@pytest.mark.parametrize("case", list(_load_cases()))
@pytest.mark.parametrize("strict", [True, False])
def test_a_load_is_nnx_update_refusing_and_reporting_nothing_of_its_own(case: str, strict: bool) -> None:
    arch = A.Sequential((_linear(2, 3, seed=0), A.ReLU(), _linear(3, 2, seed=2)))
    net, twin = FLAX.build(arch), FLAX.build(arch)
    state = _load_cases()[case]
    before = dict(FLAX.named_parameters(net))
    flax_state = {FLAX._flax_path(twin, key): value for key, value in state.items()}
    try:
        nnx.update(twin, nnx.from_flat_state(flax_state))
        flax_refusal = None
    except ValueError as exc:
        flax_refusal = f"ValueError: {exc}"
    try:
        result = FLAX.load_state_dict(net, state, strict=strict)
    except LoadRejected as exc:
        assert exc.message == flax_refusal, f"{case}: observed refusal {exc.message[:200]!r}; expected Flax's own"
        return
    assert flax_refusal is None, f"{case}: observed the load accepted; expected Flax's refusal {flax_refusal[:200]!r}"
    assert result == LoadResult([], []), f"{case}, strict={strict}: observed {result}; expected nothing reported"
    # Every leaf of the state, Variables or not (nnx.update sets an unknown leaf as a plain array).
    after = {path: (np.asarray(v[...]), np.asarray(v[...]).dtype) for path, v in nnx.state(net).flat_state()}
    wanted = {path: (np.asarray(v[...]), np.asarray(v[...]).dtype) for path, v in nnx.state(twin).flat_state()}
    assert after.keys() == wanted.keys(), f"{case}: observed paths {sorted(after, key=str)}; expected nnx.update's"
    for path, (value, dtype) in wanted.items():
        assert after[path][1] == dtype and np.array_equal(after[path][0], value), (
            f"{case}: {path} observed {after[path]}; expected what nnx.update wrote, {(value, dtype)}"
        )
    for name, variable in FLAX.named_parameters(net):
        if name in before:
            assert variable is before[name], f"{case}: {name} observed a new Variable; expected the same one written"


def test_a_load_through_an_alias_key_writes_the_shared_layer() -> None:
    net, shared = _tied()
    value = _values((3, 3), 9)
    FLAX.load_state_dict(net, {"3.weight": value}, strict=True)
    np.testing.assert_array_equal(
        np.asarray(shared.kernel[...]), value, err_msg="3.weight: observed the shared kernel; expected the value loaded"
    )


# --- building and computing ------------------------------------------------------------------------


def test_a_linear_stores_the_chapter_weight_transposed_and_computes_x_at_w_t_plus_b() -> None:
    node = _linear(3, 2, seed=0)
    net = FLAX.build(A.Sequential((node,)))
    assert node.values is not None
    kernel = np.asarray(net.layers[0].kernel[...])
    np.testing.assert_array_equal(kernel, node.values.weight.T, err_msg="observed the kernel; expected W.T (in, out)")
    x = _values((4, 3), 3)
    out = np.asarray(FLAX.forward(net, FLAX.tensor(x)))
    np.testing.assert_allclose(out, x @ node.values.weight.T + node.values.bias, rtol=1e-5, atol=1e-6)
    named = dict(FLAX.named_parameters(net))
    assert named["0.weight"] is net.layers[0].kernel, "observed 0.weight not the kernel; expected the kernel Param"


def test_my_linear_values_are_stored_as_given_and_compute_relu_x_at_w_plus_b() -> None:
    values = A.LinearValues(_values((3, 2), 0), _values((2,), 1))
    net = FLAX.build(A.Sequential((A.MyLinear(3, 2, values=values),)))
    stored = np.asarray(net.layers[0].weight[...])
    np.testing.assert_array_equal(stored, values.weight, err_msg="observed MyLinear.weight; expected (in, units)")
    x = _values((4, 3), 3)
    out = np.asarray(FLAX.forward(net, FLAX.tensor(x)))
    np.testing.assert_allclose(out, np.maximum(x @ values.weight + values.bias, 0), rtol=1e-5, atol=1e-6)


def test_gradients_are_nnx_grads_under_the_adapter_names_summed_over_a_shared_layer() -> None:
    first, shared = _linear(2, 3, seed=0), _linear(3, 3, seed=2)
    net = FLAX.build(A.Sequential((first, shared, shared)))
    x, c = _values((4, 2), 4), _values((4, 3), 5)
    expected, input_gradient = shared_layer_gradients(first, shared, x, c)
    grads = FLAX.gradients(net, FLAX.tensor(x), c)
    assert sorted(grads.params) == sorted(expected), f"observed gradient names {sorted(grads.params)}"
    for name, want in expected.items():
        np.testing.assert_allclose(grads.params[name], want, rtol=1e-4, atol=1e-5, err_msg=f"gradient of {name}")
    np.testing.assert_allclose(grads.input, input_gradient, rtol=1e-4, atol=1e-5, err_msg="gradient of the input")
    assert set(grads.devices.values()) == {"cpu"}, f"observed gradient devices {grads.devices}; expected cpu"


# --- tensors ---------------------------------------------------------------------------------------


def test_strided_views_hold_numpy_s_values_of_the_parameter() -> None:
    net, _ = _tied()
    kernel = net.layers[1].kernel
    host = np.asarray(kernel[...])
    for layout, numpy_view in LAYOUTS.items():
        view = np.asarray(FLAX.strided_view(kernel, layout))
        np.testing.assert_array_equal(view, numpy_view(host), err_msg=f"{layout}: observed the view; expected NumPy's")


def test_bfloat16_bits_are_ml_dtypes_bytes_and_to_numpy_widens_to_float32() -> None:
    host = np.array([[1.0, -2.5, 0.15625], [-0.0, np.inf, -(2.0**127)]], dtype=np.float32)  # bfloat16-exact
    t = FLAX.tensor(host, dtype="bfloat16")
    name, shape, raw = FLAX.bits(t)
    want = host.astype(ml_dtypes.bfloat16).tobytes()
    assert (name, shape, raw) == ("bfloat16", (2, 3), want), f"observed {(name, shape, raw)!r}; expected {want!r}"
    values = FLAX.to_numpy(t)
    assert values.dtype == np.float32, f"observed to_numpy dtype {values.dtype}; expected float32 for bfloat16"
    np.testing.assert_array_equal(values, host, err_msg="bfloat16 to_numpy: observed values; expected exact")
    values[0, 0] = 7.0  # a writable copy: JAX's own host view is read-only


def test_assign_writes_in_place_and_a_wrong_shape_is_jax_s_refusal() -> None:
    layer = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
    kernel = layer.kernel
    FLAX.assign(kernel, np.full((2, 3), 4.0))
    assert layer.kernel is kernel, "observed a new Variable after assign; expected the same object"
    np.testing.assert_array_equal(np.asarray(kernel[...]), np.full((2, 3), 4.0, np.float32))
    with pytest.raises(ValueError) as jax_own:
        kernel[...] = np.ones((3, 3))
    with pytest.raises(ValueError) as adapters:
        FLAX.assign(kernel, np.ones((3, 3)))
    assert str(adapters.value) == str(jax_own.value), (
        f"observed {adapters.value}; expected JAX's own refusal, {jax_own.value}"
    )


# --- initialization --------------------------------------------------------------------------------


def test_init_schemes_map_to_flax_initializers_shifted_and_scaled_as_the_chapter_asks() -> None:
    layer = nnx.Linear(64, 64, rngs=nnx.Rngs(0))
    kernel = layer.kernel
    FLAX.manual_seed(0)
    FLAX.init_(kernel, "normal", mean=3.0, std=0.5)
    w = np.asarray(kernel[...])
    assert abs(w.mean() - 3.0) < 0.05 and abs(w.std() - 0.5) < 0.05, (
        f"normal(3, 0.5): observed mean {w.mean():.3f}, std {w.std():.3f}; expected 3 and 0.5"
    )
    FLAX.init_(kernel, "uniform", a=2.0, b=5.0)
    w = np.asarray(kernel[...])
    assert 2.0 <= w.min() < 2.1 and 4.9 < w.max() < 5.0, f"uniform(2, 5): observed [{w.min()}, {w.max()}]"
    FLAX.init_(kernel, "xavier_uniform", gain=2.0)
    w = np.asarray(kernel[...])
    bound = 2.0 * np.sqrt(6 / (64 + 64))  # gain * sqrt(6 / (fan_in + fan_out))
    assert 0.95 * bound < np.abs(w).max() <= bound, f"xavier gain 2: observed max |w| {np.abs(w).max()}; bound {bound}"
    assert layer.kernel is kernel and w.dtype == np.float32, "observed a new Variable or dtype; expected them kept"


def test_manual_seed_repeats_the_draws() -> None:
    kernel = nnx.Linear(64, 64, rngs=nnx.Rngs(0)).kernel
    draws = []
    for _ in range(2):
        FLAX.manual_seed(7)
        FLAX.init_(kernel, "normal", mean=0.0, std=1.0)
        draws.append(np.asarray(kernel[...]))
    np.testing.assert_array_equal(draws[0], draws[1], err_msg="seed 7 twice: observed different draws; expected one")


# --- devices and files -----------------------------------------------------------------------------


@MULTI_DEVICE
def test_devices_are_named_as_jax_prints_them_and_module_to_keeps_the_variables() -> None:
    host = jax.devices("cpu")
    assert FLAX.accelerators() == [str(d) for d in host[1:]], f"observed {FLAX.accelerators()}; expected cpu:1.."
    t = FLAX.tensor(np.ones(2, np.float32), device="cpu:1")
    assert t.devices() == {host[1]} and FLAX.device_of(t) == "cpu:1", f"observed {t.devices()}; expected cpu:1"
    assert FLAX.device_of(FLAX.tensor(np.ones(2))) == "cpu", "observed the host device named otherwise; expected cpu"
    with pytest.raises(ValueError, match=r"Expected one of the devices .* but got device='cuda:0'"):
        FLAX.tensor(np.ones(2), device="cuda:0")
    net, shared = _tied()
    kernel = shared.kernel
    moved = FLAX.module_to(net, "cpu:2")
    assert moved is net and shared.kernel is kernel, "observed new objects after module_to; expected the same ones"
    placed = {FLAX.device_of(v) for _, v in FLAX.named_parameters(net)}
    assert placed == {"cpu:2"}, f"module_to cpu:2: observed parameters on {placed}; expected all on cpu:2"


def test_write_safetensors_uses_flax_s_own_paths_and_each_param_once(tmp_path: Path) -> None:
    net, _ = _tied()
    path = tmp_path / "net.safetensors"
    FLAX.write_safetensors(net, path)
    written = safetensors.numpy.load_file(str(path))
    expected = {".".join(map(str, p)): np.asarray(v[...]) for p, v in _nnx_paths(net, nnx.Param).items()}
    assert sorted(written) == sorted(expected), (
        f"observed keys {sorted(written)}; expected nnx.state's {sorted(expected)}"
    )
    for key, value in expected.items():
        np.testing.assert_array_equal(written[key], value, err_msg=f"{key}: observed the file; expected the Param")


def test_save_writes_arrays_for_parameter_handles_and_load_reads_them_back(tmp_path: Path) -> None:
    layer = nnx.Linear(2, 3, rngs=nnx.Rngs(0))
    path = tmp_path / "saved.msgpack"
    FLAX.save([layer.kernel, {"b": layer.bias}], path)
    loaded = FLAX.load(path)
    assert isinstance(loaded, list) and isinstance(loaded[1], dict), f"observed {type(loaded)}; expected the nesting"
    np.testing.assert_array_equal(np.asarray(loaded[0]), np.asarray(layer.kernel[...]), err_msg="saved kernel")
    assert layer.bias is not None, "observed no bias; expected nnx.Linear's default use_bias=True"
    np.testing.assert_array_equal(np.asarray(loaded[1]["b"]), np.asarray(layer.bias[...]), err_msg="saved bias")
    assert FLAX.device_of(loaded[0]) == "cpu", f"observed {FLAX.device_of(loaded[0])}; expected cpu"


# --- layers held in a list, tuple or dict --------------------------------------------------------

#: The containers Flax 0.12 keeps layers in as data: how each holds two layers, and the keys nnx.state gives them.
CONTAINERS: dict[str, tuple[Callable[[nnx.Module, nnx.Module], Any], tuple[Any, Any]]] = {
    "nnx.data list": (lambda first, second: nnx.data([first, second]), (0, 1)),
    "nnx.List": (lambda first, second: nnx.List([first, second]), (0, 1)),
    "nnx.data tuple": (lambda first, second: nnx.data((first, second)), (0, 1)),
    "nnx.data dict": (lambda first, second: nnx.data({"first": first, "second": second}), ("first", "second")),
}


class Stack(nnx.Module):
    """``Linear(2, 3)`` then ``Linear(3, 2)``, held in the container ``kind`` under the attribute ``items``."""

    def __init__(self, kind: str, seed: int = 0) -> None:
        rngs = nnx.Rngs(seed)
        self.items: Any = CONTAINERS[kind][0](nnx.Linear(2, 3, rngs=rngs), nnx.Linear(3, 2, rngs=rngs))
        self.keys = CONTAINERS[kind][1]

    def __call__(self, x: jax.Array) -> jax.Array:
        for key in self.keys:
            x = self.items[key](x)
        return x


def test_parameters_in_a_list_kept_with_nnx_data_are_named_as_nnx_state_lists_them() -> None:
    class Stack(nnx.Module):
        def __init__(self) -> None:
            self.items = nnx.data([nnx.Linear(2, 2, rngs=nnx.Rngs(0))])

        def __call__(self, x: jax.Array) -> jax.Array:
            out: jax.Array = self.items[0](x)
            return out

    stack = Stack()
    names = [name for name, _ in FLAX.named_parameters(stack)]
    flax_paths = sorted(".".join(map(str, p)) for p in _nnx_paths(stack, nnx.Param))
    assert names == ["items.0.weight", "items.0.bias"], (
        f"observed {names}; expected the Params nnx.state lists, {flax_paths}"
    )
    grads = FLAX.gradients(stack, FLAX.tensor(np.ones((1, 2), np.float32)), np.ones((1, 2), np.float32))
    assert sorted(grads.params) == ["items.0.bias", "items.0.weight"], f"observed gradients {sorted(grads.params)}"


@pytest.mark.parametrize("kind", list(CONTAINERS))
def test_each_key_of_a_container_names_the_param_nnx_state_lists_at_flax_s_path(kind: str) -> None:
    stack = Stack(kind)
    first, second = (str(key) for key in CONTAINERS[kind][1])
    expected = [f"items.{k}.{leaf}" for k in (first, second) for leaf in ("weight", "bias")]
    handles = FLAX.named_parameters(stack)
    assert [name for name, _ in handles] == expected, f"{kind}: observed {[n for n, _ in handles]}; expected {expected}"
    flax_paths = _nnx_paths(stack, nnx.Param)
    for name, handle in handles:
        path = FLAX._flax_path(stack, name)
        assert flax_paths.get(path) is handle, (
            f"{kind}: {name} observed Flax path {path}; expected the path nnx.state lists that Param at, "
            f"one of {sorted(flax_paths, key=str)}"
        )


@pytest.mark.parametrize("kind", list(CONTAINERS))
def test_a_state_dict_of_layers_in_a_container_round_trips_through_load_state_dict(kind: str) -> None:
    source, target = Stack(kind, seed=0), Stack(kind, seed=1)
    state = dict(FLAX.state_dict(source))
    assert len(state) == 4, f"{kind}: observed state dict keys {sorted(state)}; expected both layers' weight and bias"
    FLAX.load_state_dict(target, state, strict=True)
    written = {path: np.asarray(v[...]) for path, v in nnx.state(target).flat_state()}
    wanted = {path: np.asarray(v[...]) for path, v in nnx.state(source).flat_state()}
    assert written.keys() == wanted.keys(), f"{kind}: observed paths {sorted(written, key=str)}; expected the source's"
    for path, value in wanted.items():
        np.testing.assert_array_equal(
            written[path], value, err_msg=f"{kind}: {path} observed what nnx.update wrote; expected the source's value"
        )


@pytest.mark.parametrize("kind", list(CONTAINERS))
def test_gradients_of_layers_in_a_container_are_numpy_s_under_their_keys(kind: str) -> None:
    stack = Stack(kind)
    first, second = CONTAINERS[kind][1]
    w0, b0 = np.asarray(stack.items[first].kernel[...]), np.asarray(stack.items[first].bias[...])
    w1 = np.asarray(stack.items[second].kernel[...])
    x, c = _values((4, 2), 4), _values((4, 2), 5)
    h = x @ w0 + b0
    dh = c @ w1.T
    expected = {  # the gradients of sum(c * (h @ w1 + b1)), kernels (in, out) as Flax stores them
        f"items.{first}.weight": x.T @ dh,
        f"items.{first}.bias": dh.sum(0),
        f"items.{second}.weight": h.T @ c,
        f"items.{second}.bias": c.sum(0),
    }
    grads = FLAX.gradients(stack, FLAX.tensor(x), c)
    assert sorted(grads.params) == sorted(expected), (
        f"{kind}: observed gradient names {sorted(grads.params)}; expected {sorted(expected)}"
    )
    for name, want in expected.items():
        np.testing.assert_allclose(
            grads.params[name], want, rtol=1e-4, atol=1e-5, err_msg=f"{kind}: gradient of {name}, observed vs NumPy's"
        )
