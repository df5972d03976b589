"""The Keras adapter (conformance/backends/keras/_adapter.py): what it reads from Keras, and that it adds nothing.

Each test builds a small model by hand and compares the adapter's answer with Keras' own API
(``model.weights`` and each Variable's ``path``, ``variable.assign``, ``save_weights``) or with NumPy.
Keras runs on its torch backend, as the project's CI runs it.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported: Keras picks its backend once

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")
if keras.backend.backend() != "torch":
    pytest.skip(f"keras started on {keras.backend.backend()}, not torch", allow_module_level=True)

import ml_dtypes  # noqa: E402

from conformance import arch as A  # noqa: E402
from conformance._protocol import LAYOUTS, LoadRejected, LoadResult  # noqa: E402
from conformance.backends.keras import KerasBackend, blocks  # noqa: E402
from tests.backends.samples import linear as _linear  # noqa: E402
from tests.backends.samples import shared_layer_gradients  # noqa: E402
from tests.backends.samples import values as _values  # noqa: E402
from tests.helpers import REPO_ROOT, run_python  # noqa: E402


@pytest.fixture
def adapter() -> KerasBackend:
    return KerasBackend()  # a fresh one: the adapter keeps one handle per variable it has seen


class _Plain(keras.layers.Layer):  # type: ignore[misc,name-defined]  # keras ships no type hints
    """A user's layer: a Dense, a constant and a MyLinear as attributes, assigned z, const, a."""

    def __init__(self) -> None:
        super().__init__()
        self.z = blocks.dense(3, 2)
        self.const = self.add_weight(shape=(2,), initializer="ones", trainable=False, name="const")
        self.a = blocks.MyLinear(2, 2)

    def call(self, x: Any) -> Any:
        return self.a(self.z(x)) + self.const


def _tied() -> tuple[Any, Any]:
    """The chapter's tie in small: one Dense at positions 1 and 3 of a ``keras.Sequential``."""
    shared = blocks.dense(3, 3)
    return keras.Sequential([blocks.dense(2, 3), shared, keras.layers.ReLU(), shared]), shared


# --- the layer graph -------------------------------------------------------------------------------


def test_names_are_positions_and_attributes_over_exactly_model_weights_in_their_order(adapter: KerasBackend) -> None:
    net = keras.Sequential([blocks.dense(2, 3), keras.layers.ReLU(), _Plain()])
    params, buffers = adapter.named_parameters(net), adapter.named_buffers(net)
    names = [name for name, _ in params]
    assert names == ["0.weight", "0.bias", "2.z.weight", "2.z.bias", "2.a.weight", "2.a.bias"], (
        f"observed named_parameters {names}; expected positions, then attributes in assignment order (z before a)"
    )
    assert [name for name, _ in buffers] == ["2.const"], f"observed buffers {buffers}; expected the constant"
    variables = [view.variable for _, view in params]
    assert [id(v) for v in variables] == [id(v) for v in net.trainable_weights], (
        f"observed {[v.path for v in variables]}; expected Keras' trainable_weights {[v.path for v in net.trainable_weights]}"
    )
    leaves = {name: view.variable.path.rsplit("/", 1)[1] for name, view in params}
    expected = {name: "kernel" if name in ("0.weight", "2.z.weight") else name.rsplit(".", 1)[1] for name in names}
    assert leaves == expected, f"observed Keras' variable names {leaves}; expected a Dense's weight to be its kernel"
    state = [key for key, _ in adapter.state_dict(net)]
    assert len(state) == len(net.weights) == 7, f"observed state dict {state}; expected one key per model.weights"


def test_a_shared_layer_is_in_the_state_dict_at_every_position_and_a_parameter_once(adapter: KerasBackend) -> None:
    net, shared = _tied()
    keys = [key for key, _ in adapter.state_dict(net)]
    assert keys == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"], (
        f"tied net: observed state dict keys {keys}; expected the shared layer under 1 and under 3"
    )
    assert len(net.weights) == 4, f"observed Keras listing {[w.path for w in net.weights]}; expected the tie once"
    params = adapter.named_parameters(net)
    assert [name for name, _ in params] == ["0.weight", "0.bias", "1.weight", "1.bias"], (
        f"tied net: observed named_parameters {[n for n, _ in params]}; expected the shared layer once, at 1"
    )
    assert dict(params)["1.weight"].variable is shared.kernel, "observed another Variable; expected the shared kernel"


def test_a_handle_is_the_same_object_each_time_and_one_per_tied_variable(adapter: KerasBackend) -> None:
    owner = _linear(3, 3, seed=0)
    net = adapter.build(A.Sequential((owner, A.MyLinear(3, 3, weight_of=owner))))
    assert net.layers[1].weight is net.layers[0].kernel, (
        "observed MyLinear.weight another Variable; expected the kernel"
    )
    first, again = adapter.named_parameters(net), adapter.named_parameters(net)
    assert [name for name, _ in first] == ["0.weight", "0.bias", "1.bias"], (
        f"tied by parameter: observed {[n for n, _ in first]}; expected the shared weight once"
    )
    assert all(a is b for (_, a), (_, b) in zip(first, again, strict=True)), "observed new handles; expected the same"
    keys = [key for key, _ in adapter.state_dict(net)]
    assert "1.weight" in keys, f"tied by parameter: observed state dict keys {keys}; expected the alias 1.weight"


def test_a_lazy_dense_has_handles_before_it_is_built_that_read_its_kernel_after(adapter: KerasBackend) -> None:
    layer = keras.layers.Dense(2)
    net = keras.Sequential([layer])
    params = adapter.named_parameters(net)
    assert [name for name, _ in params] == ["0.weight", "0.bias"], f"unbuilt: observed {params}; expected both"
    with pytest.raises(AttributeError, match="kernel"):  # Keras' own: an unbuilt Dense has no kernel
        params[0][1].array()
    with pytest.raises(LoadRejected, match=r"^0\.weight: AttributeError"):
        adapter.load_state_dict(net, {"0.weight": np.ones((3, 2), np.float32)}, strict=True)
    adapter.forward(net, adapter.tensor(np.ones((1, 3), np.float32)))
    assert params[0][1].variable is layer.kernel, "built: observed the handle not reading the kernel; expected it"
    assert repr(params[0][1]) == "ParamView(Dense.kernel)", f"observed {params[0][1]!r}"


# --- loading: Variable.assign, nothing added -------------------------------------------------------


def _load_cases() -> dict[str, dict[str, Any]]:
    return {
        "full": {"0.weight": _values((2, 3), 5), "0.bias": _values((3,), 6), "2.weight": _values((3, 2), 7)},
        "missing keys": {"0.weight": _values((2, 3), 5)},
        "another shape": {"0.bias": _values((3,), 6), "0.weight": np.ones((4, 4), np.float32)},
        "another dtype": {"0.bias": np.arange(3, dtype=np.float64) + 0.5},
        "unknown key": {"0.extra": np.ones(2, np.float32), "9.weight": np.ones(2, np.float32)},
    }


@pytest.mark.parametrize("case", list(_load_cases()))
@pytest.mark.parametrize("strict", [True, False])
def test_a_load_is_keras_variable_assign_refusing_and_reporting_nothing_of_its_own(
    adapter: KerasBackend, case: str, strict: bool
) -> None:
    arch = A.Sequential((_linear(2, 3, seed=0), A.ReLU(), _linear(3, 2, seed=2)))
    net, twin = adapter.build(arch), adapter.build(arch)
    state = _load_cases()[case]
    before = [id(v) for v in net.weights]
    keys = ["0.weight", "0.bias", "2.weight", "2.bias"]
    twin_variables = dict(zip(keys, twin.weights, strict=True))
    keras_refusal = None
    for key, value in state.items():  # what Keras does: each value written with its own assign
        if key in twin_variables:
            try:
                twin_variables[key].assign(value)
            except ValueError as exc:  # Keras' message names the variable by its unique path: the net's here
                own_path = dict(zip(keys, net.weights, strict=True))[key].path
                keras_refusal = f"{key}: ValueError: {exc}".replace(twin_variables[key].path, own_path)
                break
    try:
        result = adapter.load_state_dict(net, state, strict=strict)
    except LoadRejected as exc:
        assert exc.message == keras_refusal, f"{case}: observed refusal {exc.message[:200]!r}; expected Keras' own"
    else:
        assert keras_refusal is None, f"{case}: observed the load accepted; expected Keras' refusal {keras_refusal!r}"
        assert result == LoadResult([], []), f"{case}, strict={strict}: observed {result}; expected nothing reported"
    for variable, wanted in zip(net.weights, twin.weights, strict=True):
        got, want = adapter.to_numpy(variable.value), adapter.to_numpy(wanted.value)
        assert got.dtype == want.dtype and np.array_equal(got, want), (
            f"{case}: {variable.path} observed {got}; expected what Keras' assign wrote, {want}"
        )
    assert [id(v) for v in net.weights] == before, f"{case}: observed new Variables; expected the same ones written"


def test_a_load_through_an_alias_key_writes_the_shared_layer(adapter: KerasBackend) -> None:
    net, shared = _tied()
    value = _values((3, 3), 9)
    adapter.load_state_dict(net, {"3.weight": value}, strict=True)
    observed = adapter.to_numpy(shared.kernel.value)
    np.testing.assert_array_equal(observed, value, err_msg="3.weight: observed the shared kernel; expected the value")


# --- building and computing ------------------------------------------------------------------------


def test_a_linear_stores_the_chapter_weight_transposed_and_computes_x_at_w_t_plus_b(adapter: KerasBackend) -> None:
    node = _linear(3, 2, seed=0)
    net = adapter.build(A.Sequential((node,)))
    assert node.values is not None
    kernel = adapter.to_numpy(net.layers[0].kernel.value)
    np.testing.assert_array_equal(kernel, node.values.weight.T, err_msg="observed the kernel; expected W.T (in, out)")
    x = _values((4, 3), 3)
    out = adapter.to_numpy(adapter.forward(net, adapter.tensor(x)))
    np.testing.assert_allclose(out, x @ node.values.weight.T + node.values.bias, rtol=1e-5, atol=1e-6)


def test_my_linear_values_are_stored_as_given_and_compute_relu_x_at_w_plus_b(adapter: KerasBackend) -> None:
    values = A.LinearValues(_values((3, 2), 0), _values((2,), 1))
    net = adapter.build(A.Sequential((A.MyLinear(3, 2, values=values),)))
    stored = adapter.to_numpy(net.layers[0].weight.value)
    np.testing.assert_array_equal(stored, values.weight, err_msg="observed MyLinear.weight; expected (in, units)")
    x = _values((4, 3), 3)
    out = adapter.to_numpy(adapter.forward(net, adapter.tensor(x)))
    np.testing.assert_allclose(out, np.maximum(x @ values.weight + values.bias, 0), rtol=1e-5, atol=1e-6)


def test_an_empty_sequential_is_the_identity_keras_sequential_refuses_to_be(adapter: KerasBackend) -> None:
    net = adapter.build(A.Sequential(()))
    x = _values((2, 3), 1)
    out = adapter.to_numpy(adapter.forward(net, adapter.tensor(x)))
    np.testing.assert_array_equal(out, x, err_msg="empty Sequential: observed the output; expected the input")
    assert adapter.named_children(net) == [], f"observed children {adapter.named_children(net)}; expected none"


def test_gradients_are_torch_s_under_the_adapter_names_summed_over_a_shared_layer(adapter: KerasBackend) -> None:
    first, shared = _linear(2, 3, seed=0), _linear(3, 3, seed=2)
    net = adapter.build(A.Sequential((first, shared, shared)))
    x, c = _values((4, 2), 4), _values((4, 3), 5)
    expected, input_gradient = shared_layer_gradients(first, shared, x, c)
    grads = adapter.gradients(net, adapter.tensor(x), c)
    assert sorted(grads.params) == sorted(expected), f"observed gradient names {sorted(grads.params)}"
    for name, want in expected.items():
        np.testing.assert_allclose(grads.params[name], want, rtol=1e-4, atol=1e-5, err_msg=f"gradient of {name}")
    np.testing.assert_allclose(grads.input, input_gradient, rtol=1e-4, atol=1e-5, err_msg="gradient of the input")
    left = {name: adapter.grad(view) for name, view in adapter.named_parameters(net)}
    assert all(g is None for g in left.values()), f"observed .grad left behind {sorted(left)}; expected none"
    adapter.backward(net, adapter.tensor(x), c)
    left_by_backward = adapter.grad(adapter.named_parameters(net)[2][1])
    assert left_by_backward is not None, "after backward: observed no .grad on 1.weight; expected its gradient"
    np.testing.assert_allclose(left_by_backward, expected["1.weight"], rtol=1e-4, atol=1e-5)


def test_an_assertion_inside_keras_is_a_runtime_error_not_a_clause_failure(adapter: KerasBackend) -> None:
    class Asserting(keras.layers.Layer):  # type: ignore[misc,name-defined]
        def call(self, x: Any) -> Any:
            raise AssertionError("inner check")

    with pytest.raises(RuntimeError, match=r"^Keras raised AssertionError: ") as raised:
        adapter.forward(Asserting(), adapter.tensor(np.ones((1, 2), np.float32)))
    assert "inner check" in str(raised.value), f"observed {raised.value}; expected Keras' message kept"


# --- tensors ---------------------------------------------------------------------------------------


def test_strided_views_hold_numpy_s_values_and_share_the_parameter_s_storage(adapter: KerasBackend) -> None:
    net, _ = _tied()
    kernel = adapter.named_parameters(net)[2][1]
    host = adapter.to_numpy(kernel)
    storage = kernel.array().untyped_storage().data_ptr()
    for layout, numpy_view in LAYOUTS.items():
        view = adapter.strided_view(kernel, layout)
        np.testing.assert_array_equal(adapter.to_numpy(view), numpy_view(host), err_msg=f"{layout}: observed the view")
        assert view.untyped_storage().data_ptr() == storage, f"{layout}: observed a copy; expected torch's own view"


def test_bfloat16_bits_are_ml_dtypes_bytes_and_to_numpy_widens_to_float32(adapter: KerasBackend) -> None:
    host = np.array([[1.0, -2.5, 0.15625], [-0.0, np.inf, -(2.0**127)]], dtype=np.float32)  # bfloat16-exact
    t = adapter.tensor(host, dtype="bfloat16")
    name, shape, raw = adapter.bits(t)
    want = host.astype(ml_dtypes.bfloat16).tobytes()
    assert (name, shape, raw) == ("bfloat16", (2, 3), want), f"observed {(name, shape, raw)!r}; expected {want!r}"
    values = adapter.to_numpy(t)
    assert values.dtype == np.float32, f"observed to_numpy dtype {values.dtype}; expected float32 for bfloat16"
    np.testing.assert_array_equal(values, host, err_msg="bfloat16 to_numpy: observed values; expected exact")


def test_devices_are_torch_s_and_module_to_moves_the_variables_in_place(
    adapter: KerasBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = adapter.tensor(np.ones(2, np.float32), device="cpu")
    assert adapter.device_of(t) == "cpu" and isinstance(t, torch.Tensor), f"observed {t!r}; expected a cpu tensor"
    net, shared = _tied()
    kernel = shared.kernel
    assert adapter.module_to(net, "cpu") is net and shared.kernel is kernel, "observed new objects; expected the same"
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    observed = (adapter.accelerators(), adapter.device_count(), adapter.try_gpu(1), adapter.try_gpu(2))
    assert observed == (["cuda:0", "cuda:1"], 2, "cuda:1", "cpu"), f"two GPUs: observed {observed}"


def test_describe_is_keras_summary_for_a_model_and_str_for_a_layer(adapter: KerasBackend) -> None:
    net, _ = _tied()
    lines = adapter.describe(net).splitlines()
    assert lines[0].startswith("Model:") and any("(Dense)" in line for line in lines), f"observed {lines[:6]}"
    layer = _Plain()
    assert adapter.describe(layer) == str(layer), f"observed {adapter.describe(layer)!r}; expected {str(layer)!r}"


# --- initialization --------------------------------------------------------------------------------


def test_init_schemes_map_to_keras_initializers_scaled_as_the_chapter_asks(adapter: KerasBackend) -> None:
    layer = blocks.dense(64, 64)
    kernel = adapter.named_parameters(keras.Sequential([layer]))[0][1]
    adapter.init_(kernel, "normal", mean=3.0, std=0.5)
    w = adapter.to_numpy(kernel)
    assert abs(w.mean() - 3.0) < 0.05 and abs(w.std() - 0.5) < 0.05, (
        f"normal(3, 0.5): observed mean {w.mean():.3f}, std {w.std():.3f}; expected 3 and 0.5"
    )
    adapter.init_(kernel, "uniform", a=2.0, b=5.0)
    w = adapter.to_numpy(kernel)
    assert 2.0 <= w.min() < 2.1 and 4.9 < w.max() < 5.0, f"uniform(2, 5): observed [{w.min()}, {w.max()}]"
    adapter.init_(kernel, "xavier_uniform", gain=2.0)
    w = adapter.to_numpy(kernel)
    bound = 2.0 * np.sqrt(6 / (64 + 64))  # gain * sqrt(6 / (fan_in + fan_out))
    assert 0.95 * bound < np.abs(w).max() <= bound, f"xavier gain 2: observed max |w| {np.abs(w).max()}; bound {bound}"
    assert layer.kernel is kernel.variable and w.dtype == np.float32, "observed a new Variable or dtype"


def test_manual_seed_repeats_the_draws(adapter: KerasBackend) -> None:
    kernel = adapter.named_parameters(keras.Sequential([blocks.dense(8, 8)]))[0][1]
    draws = []
    for _ in range(2):
        adapter.manual_seed(7)
        adapter.init_(kernel, "normal", mean=0.0, std=1.0)
        draws.append(adapter.to_numpy(kernel))
    np.testing.assert_array_equal(draws[0], draws[1], err_msg="seed 7 twice: observed different draws; expected one")


# --- files -----------------------------------------------------------------------------------------


def test_a_checkpoint_is_keras_save_weights_and_load_weights(adapter: KerasBackend, tmp_path: Path) -> None:
    arch = A.Sequential((_linear(2, 3, seed=0), A.ReLU(), _linear(3, 2, seed=2)))
    net, fresh = adapter.build(arch), keras.Sequential([blocks.dense(2, 3), keras.layers.ReLU(), blocks.dense(3, 2)])
    x = adapter.tensor(np.ones((1, 2), np.float32))
    adapter.forward(net, x)  # Keras saves and loads only models that have run
    adapter.forward(fresh, x)
    path = tmp_path / f"net{adapter.checkpoint_suffix}"
    adapter.save_checkpoint(net, path)
    adapter.load_checkpoint(fresh, path)
    for saved, loaded in zip(net.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(adapter.to_numpy(loaded.value), adapter.to_numpy(saved.value))
    with pytest.raises(ValueError, match=r"\.weights\.h5"):  # Keras' own refusal of another file name
        adapter.save_checkpoint(net, tmp_path / "net.h5")


# --- the backend it runs on, and what the walk reaches ---------------------------------------------


@pytest.mark.slow  # a child Python that imports keras on jax: about 5 s
def test_keras_on_another_backend_is_refused_at_import_naming_it() -> None:
    code = "import conformance.backends.keras"
    env_code = f"import os; os.environ['KERAS_BACKEND'] = 'jax'; {code}"
    done = run_python(["-c", env_code], cwd=REPO_ROOT, extra_path=[REPO_ROOT])
    assert done.returncode != 0 and "KERAS_BACKEND='jax'" in done.stderr and "ImportError" in done.stderr, (
        f"observed rc {done.returncode}, stderr {done.stderr[-500:]!r}; expected an ImportError naming 'jax'"
    )


class _Listed(keras.layers.Layer):  # type: ignore[misc,name-defined]
    """A Dense attribute, then one in a list attribute: Keras tracks both (``model.weights`` lists them, in order)."""

    def __init__(self) -> None:
        super().__init__()
        self.first = blocks.dense(2, 2)
        self.items = [blocks.dense(2, 2)]

    def call(self, x: Any) -> Any:
        return self.items[0](self.first(x))


def _functional() -> Any:
    inputs = keras.Input((2,))
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(2)(inputs)))


#: Each model of the walk's former blind spots, and its Dense layers by the names they must have, in order:
#: attribute names and list indices, or positions in a functional model's ``model.layers`` (its InputLayer at 0).
_REACHED: dict[str, tuple[Callable[[], Any], Callable[[Any], dict[str, Any]]]] = {
    "list attribute": (_Listed, lambda model: {"first": model.first, "items.0": model.items[0]}),
    "functional model": (_functional, lambda model: {"1": model.layers[1], "2": model.layers[2]}),
}


def _variables(dense_layers: dict[str, Any]) -> dict[str, Any]:
    """The Variables of Dense layers by the names the state dict must give them."""
    return {
        f"{name}.{leaf}": variable
        for name, layer in dense_layers.items()
        for leaf, variable in (("weight", layer.kernel), ("bias", layer.bias))
    }


def _write(variables: dict[str, Any]) -> dict[str, np.ndarray]:
    """Distinct values written into each Variable with Keras' own ``assign``, by name."""
    written = {name: _values(tuple(variable.shape), seed) for seed, (name, variable) in enumerate(variables.items())}
    for name, variable in variables.items():
        variable.assign(written[name])
    return written


def _chain_gradients(
    names: list[str], values: dict[str, np.ndarray], x: np.ndarray, c: np.ndarray
) -> dict[str, np.ndarray]:
    """The gradients of ``sum(c * out)`` for Dense layers applied in turn, worked by hand (kernels (in, out))."""
    inputs, h = [], x
    for name in names:
        inputs.append(h)
        h = h @ values[f"{name}.weight"] + values[f"{name}.bias"]
    grads, upstream = {}, c
    for name, h in reversed(list(zip(names, inputs, strict=True))):
        grads[f"{name}.weight"], grads[f"{name}.bias"] = h.T @ upstream, upstream.sum(0)
        upstream = upstream @ values[f"{name}.weight"].T
    return grads


@pytest.mark.parametrize("case", list(_REACHED))
def test_every_variable_of_model_weights_is_reached(adapter: KerasBackend, case: str) -> None:
    model = _REACHED[case][0]()
    reached = {id(view.variable) for _, view in adapter.named_parameters(model)}
    assert reached == {id(v) for v in model.trainable_weights}, (
        f"{case}: observed {len(reached)} parameters; expected Keras' {[v.path for v in model.trainable_weights]}"
    )


@pytest.mark.parametrize("case", list(_REACHED))
def test_a_list_held_or_functional_layer_s_state_dict_round_trips_through_load_state_dict(
    adapter: KerasBackend, case: str
) -> None:
    make, dense_layers = _REACHED[case]
    source, target = make(), make()
    written = _write(_variables(dense_layers(source)))
    state = {key: adapter.to_numpy(value) for key, value in adapter.state_dict(source)}
    assert list(state) == list(written), f"{case}: observed state dict keys {list(state)}; expected {list(written)}"
    for key, want in written.items():
        np.testing.assert_array_equal(state[key], want, err_msg=f"{case}: {key} observed; expected what assign wrote")
    adapter.load_state_dict(target, state, strict=True)
    for key, variable in _variables(dense_layers(target)).items():
        np.testing.assert_array_equal(
            adapter.to_numpy(variable.value), written[key], err_msg=f"{case}: {key} after the load observed"
        )


@pytest.mark.parametrize("case", list(_REACHED))
def test_gradients_name_a_list_held_or_functional_layer(adapter: KerasBackend, case: str) -> None:
    make, dense_layers = _REACHED[case]
    model = make()
    written = _write(_variables(dense_layers(model)))
    x, c = _values((4, 2), 10), _values((4, 2), 11)
    expected = _chain_gradients(list(dense_layers(model)), written, x, c)
    grads = adapter.gradients(model, adapter.tensor(x), c)
    assert sorted(grads.params) == sorted(expected), (
        f"{case}: observed gradient names {sorted(grads.params)}; expected {sorted(expected)}"
    )
    for name, want in expected.items():
        np.testing.assert_allclose(grads.params[name], want, rtol=1e-4, atol=1e-5, err_msg=f"{case}: {name}'s gradient")
