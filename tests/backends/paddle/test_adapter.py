"""The Paddle adapter (conformance/backends/paddle/_adapter.py): what it reads from Paddle, and that it adds nothing.

Each test builds a small model by hand and compares the adapter's answer with Paddle's own API
(``named_parameters()``, ``state_dict()``, ``set_state_dict``) or with NumPy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

paddle = pytest.importorskip("paddle")

from paddle import nn  # noqa: E402

from conformance import arch as A  # noqa: E402
from conformance._protocol import LoadRejected, LoadResult  # noqa: E402
from conformance.backends.paddle import PaddleBackend  # noqa: E402
from conformance.backends.paddle._adapter import _device_name  # noqa: E402

#: Paddle warns for every key set_state_dict skips; these tests skip keys on purpose.
SKIPS_KEYS = pytest.mark.filterwarnings("ignore:Skip loading for")


@pytest.fixture(scope="module")
def adapter() -> PaddleBackend:
    return PaddleBackend()


def _tied() -> tuple[Any, Any]:
    """The chapter's tie in small: one Linear registered at 0 and at 2."""
    shared = nn.Linear(2, 2)
    return nn.Sequential(shared, nn.ReLU(), shared), shared


def _values(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# --- the layer graph -----------------------------------------------------------------------------


def test_named_children_lists_every_registration_where_paddles_named_children_drops_the_alias(
    adapter: PaddleBackend,
) -> None:
    net, shared = _tied()
    net.add_sublayer("none", None)  # Paddle keeps a None registration in _sub_layers; it is no child
    children = adapter.named_children(net)
    names = [name for name, _ in children]
    assert names == ["0", "1", "2"], f"tied net: observed children {names}; expected ['0', '1', '2']"
    assert children[0][1] is shared and children[2][1] is shared, (
        f"tied net: observed {[type(c).__name__ for _, c in children]}; expected the one shared layer at 0 and 2"
    )
    paddles = [name for name, _ in net.named_children()]
    assert paddles == ["0", "1"], f"observed Paddle's named_children {paddles}; expected it to drop the alias '2'"


def test_named_parameters_are_paddles_own_each_parameter_once(adapter: PaddleBackend) -> None:
    net, shared = _tied()
    observed = adapter.named_parameters(net)
    expected = list(net.named_parameters())
    assert [n for n, _ in observed] == ["0.weight", "0.bias"], (
        f"tied net: observed {[n for n, _ in observed]}; expected ['0.weight', '0.bias'] (Paddle's, once)"
    )
    same = all(a is b for (_, a), (_, b) in zip(observed, expected, strict=True))
    assert same and observed[0][1] is shared.weight, (
        "tied net: observed handles other than Paddle's parameters; expected the parameter objects themselves"
    )


def test_state_dict_has_every_alias_key_and_holds_the_parameters_themselves(adapter: PaddleBackend) -> None:
    net, shared = _tied()
    state = adapter.state_dict(net)
    keys = [k for k, _ in state]
    assert keys == ["0.weight", "0.bias", "2.weight", "2.bias"], f"tied net: observed keys {keys}; expected both paths"
    handles = dict(state)
    assert handles["0.weight"] is shared.weight and handles["2.weight"] is shared.weight, (
        "tied net: observed state-dict values that are not the shared parameter itself; expected no copy"
    )


def test_buffers_are_paddles_named_buffers_persistent_or_not(adapter: PaddleBackend) -> None:
    layer = nn.Linear(2, 2)
    layer.register_buffer("kept", paddle.ones([2]))
    layer.register_buffer("scratch", paddle.zeros([2]), persistable=False)  # not in the state dict
    buffers = [name for name, _ in adapter.named_buffers(layer)]
    assert buffers == ["kept", "scratch"], f"observed buffers {buffers}; expected Paddle's ['kept', 'scratch']"
    flags = {
        "weight": adapter.is_parameter(layer.weight),
        "buffer": adapter.is_parameter(layer.kept),
        "tensor": adapter.is_parameter(paddle.ones([1])),
    }
    assert flags == {"weight": True, "buffer": False, "tensor": False}, (
        f"observed is_parameter {flags}; expected True only for the parameter"
    )


# --- loading: Paddle's set_state_dict, nothing added ----------------------------------------------


@SKIPS_KEYS
@pytest.mark.parametrize("strict", [True, False])
def test_a_load_reports_paddles_keys_and_strict_refuses_nothing(adapter: PaddleBackend, strict: bool) -> None:
    net, shared = _tied()
    ones = paddle.ones([2, 2])
    result = adapter.load_state_dict(net, {"0.weight": ones, "extra": paddle.ones([1])}, strict=strict)
    # Paddle reports the alias 2.weight missing although the same parameter was loaded through 0.weight.
    expected = LoadResult(missing=["0.bias", "2.weight", "2.bias"], unexpected=["extra"])
    assert result == expected, f"strict={strict}: observed {result}; expected Paddle's report {expected}"
    assert np.array_equal(shared.weight.numpy(), np.ones((2, 2))), (
        f"strict={strict}: observed 0.weight {shared.weight.numpy()}; expected the loaded ones"
    )


@SKIPS_KEYS
def test_a_mis_shaped_key_is_skipped_as_paddle_skips_it(adapter: PaddleBackend) -> None:
    layer = nn.Linear(2, 3)  # weight [2, 3]
    before = layer.weight.numpy().copy()
    result = adapter.load_state_dict(layer, {"weight": paddle.ones([3, 2])}, strict=True)
    assert result == LoadResult(["weight", "bias"], ["weight"]), f"observed {result}; expected Paddle's report"
    assert np.array_equal(layer.weight.numpy(), before), "observed the mis-shaped weight written; expected it skipped"


def test_another_dtype_is_paddles_refusal_passed_on_as_load_rejected(adapter: PaddleBackend) -> None:
    layer = nn.Linear(2, 2)
    state = {"weight": paddle.ones([2, 2], dtype="float64"), "bias": paddle.ones([2], dtype="float64")}
    with pytest.raises(LoadRejected, match=r"^AssertionError: .*dtype not match") as caught:
        adapter.load_state_dict(layer, state, strict=True)
    assert isinstance(caught.value.__cause__, AssertionError), (
        f"observed cause {caught.value.__cause__!r}; expected Paddle's AssertionError chained"
    )


class _Asserts(nn.Layer):
    def forward(self, x: Any) -> Any:
        raise AssertionError("inside")


def test_an_assertion_inside_paddle_is_a_runtime_error_not_a_clause_failure(adapter: PaddleBackend) -> None:
    with pytest.raises(RuntimeError, match="Paddle raised AssertionError: inside") as caught:
        adapter.forward(_Asserts(), paddle.ones([1]))
    assert isinstance(caught.value.__cause__, AssertionError), (
        f"observed cause {caught.value.__cause__!r}; expected Paddle's AssertionError chained"
    )


# --- layout: Paddle's Linear stores (in, out) and computes X @ W + b -------------------------------


@settings(max_examples=15, deadline=None)
@given(
    fan_in=st.integers(1, 4).map(int),
    fan_out=st.integers(1, 4).map(int),
    bias=st.booleans(),
    seed=st.integers(0, 2**16).map(int),
)
def test_linear_values_are_stored_in_out_and_compute_x_at_w_plus_b(
    adapter: PaddleBackend, fan_in: int, fan_out: int, bias: bool, seed: int
) -> None:
    weight = _values((fan_out, fan_in), seed)  # the chapter's (out, in)
    b = _values((fan_out,), seed + 1) if bias else None
    layer = adapter.build(A.Linear(fan_in, fan_out, bias, A.LinearValues(weight, b)))
    case = f"Linear({fan_in}, {fan_out}, bias={bias})"
    stored = dict(adapter.state_dict(layer))["weight"].numpy()
    assert np.array_equal(stored, weight.T), f"{case}: observed stored {stored.shape}; expected W.T {weight.T.shape}"
    x = _values((3, fan_in), seed + 2)
    out = adapter.to_numpy(adapter.forward(layer, adapter.tensor(x)))
    expected = x @ weight.T + (0 if b is None else b)
    assert np.allclose(out, expected, atol=1e-5), f"{case}: observed {out}; expected X @ W.T + b = {expected}"


def test_my_linear_values_are_stored_as_given(adapter: PaddleBackend) -> None:
    weight, b = _values((3, 2)), _values((2,), 1)  # MyLinear's (in_units, units) in every layout
    layer = adapter.build(A.MyLinear(3, 2, A.LinearValues(weight, b)))
    stored = layer.weight.numpy()
    assert np.array_equal(stored, weight), f"MyLinear(3, 2): observed {stored}; expected {weight}"


def test_gradients_are_paddles_in_its_layout_and_leave_no_grad_behind(adapter: PaddleBackend) -> None:
    weight, b = _values((2, 3)), _values((2,), 1)
    layer = adapter.build(A.Linear(3, 2, True, A.LinearValues(weight, b)))
    x, cot = _values((4, 3), 2), _values((4, 2), 3)
    grads = adapter.gradients(layer, adapter.tensor(x), cot)
    stored = weight.T  # Paddle's (in, out)
    expected = {"input": cot @ stored.T, "weight": x.T @ cot, "bias": cot.sum(axis=0)}
    observed = {"input": grads.input, "weight": grads.params["weight"], "bias": grads.params["bias"]}
    for name, value in expected.items():
        assert np.allclose(observed[name], value, atol=1e-5), f"{name}: observed {observed[name]}; expected {value}"
    assert grads.devices == {"weight": "cpu", "bias": "cpu"}, (
        f"observed devices {grads.devices}; expected 'cpu' for each"
    )
    assert layer.weight.grad is None, f"observed .grad {layer.weight.grad} after gradients(); expected None"
    adapter.backward(layer, adapter.tensor(x), cot)
    after = adapter.grad(layer.weight)
    assert after is not None and np.allclose(after, x.T @ cot, atol=1e-5), (
        f"backward: observed .grad {after}; expected X.T @ C = {x.T @ cot}"
    )


def test_a_transposed_view_reverses_every_axis_as_numpy_does(adapter: PaddleBackend) -> None:
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    tensor = adapter.tensor(array)
    for layout, expected in {"transposed": array.transpose(), "step": array[::2], "offset": array[1:]}.items():
        view = adapter.to_numpy(adapter.strided_view(tensor, layout))
        assert np.array_equal(view, expected), f"{layout}: observed shape {view.shape}; expected {expected.shape}"


# --- dtypes, devices, files -------------------------------------------------------------------------


def test_a_float64_build_uses_paddles_default_dtype_and_restores_it(adapter: PaddleBackend) -> None:
    before = paddle.get_default_dtype()
    net = adapter.build(A.Sequential((A.Linear(2, 3), A.ReLU(), A.MyLinear(3, 2))), dtype="float64")
    dtypes = {name: adapter.bits(p)[0] for name, p in adapter.named_parameters(net)}
    assert set(dtypes.values()) == {"float64"}, f"observed {dtypes}; expected every parameter float64"
    assert paddle.get_default_dtype() == before, f"observed default {paddle.get_default_dtype()}; expected {before}"
    with pytest.raises(TypeError, match="no lazy layers"):
        adapter.build(A.Sequential((A.Linear(2, 3), A.LazyLinear(2))), dtype="float64")
    assert paddle.get_default_dtype() == before, (
        f"after a refused build: observed default {paddle.get_default_dtype()}; expected {before}"
    )


def test_a_parameter_tie_is_one_paddle_parameter_under_both_names(adapter: PaddleBackend) -> None:
    owner = A.Linear(2, 2, True, A.LinearValues(_values((2, 2)), _values((2,), 1)))
    user = A.MyLinear(2, 2, A.LinearValues(_values((2, 2), 2), _values((2,), 3)), weight_of=owner)
    net = adapter.build(A.Sequential((owner, user)))
    assert net[1].weight is net[0].weight, "observed two weight parameters; expected the owner's held by both"
    params = [n for n, _ in adapter.named_parameters(net)]
    keys = [k for k, _ in adapter.state_dict(net)]
    assert params == ["0.weight", "0.bias", "1.bias"], f"observed parameters {params}; expected the weight once"
    assert keys == ["0.weight", "0.bias", "1.weight", "1.bias"], f"observed keys {keys}; expected 1.weight alias"


def test_device_names_are_paddles_place_spelling(adapter: PaddleBackend) -> None:
    cases = {"Place(gpu:0)": "gpu:0", "Place(cpu)": "cpu", "cpu": "cpu"}
    for text, expected in cases.items():
        assert _device_name(text) == expected, f"{text}: observed {_device_name(text)!r}; expected {expected!r}"
    observed = adapter.device_of(paddle.ones([1]))
    assert observed == "cpu", f"a CPU tensor: observed {observed!r}; expected 'cpu'"


def test_bfloat16_reads_back_as_float32_values(adapter: PaddleBackend) -> None:
    tensor = adapter.tensor(np.array([1.5, -2.0]), dtype="bfloat16")
    host = adapter.to_numpy(tensor)
    assert host.dtype == np.float32 and host.tolist() == [1.5, -2.0], f"observed {host!r}; expected float32 values"
    assert adapter.bits(tensor)[:2] == ("bfloat16", (2,)), (
        f"observed bits {adapter.bits(tensor)[:2]}; expected ('bfloat16', (2,))"
    )


def test_a_checkpoint_is_paddle_save_and_set_state_dict(adapter: PaddleBackend, tmp_path: Path) -> None:
    source = adapter.build(A.Linear(2, 2, True, A.LinearValues(_values((2, 2)), _values((2,), 1))))
    target = adapter.build(A.Linear(2, 2))
    path = tmp_path / "net.pdparams"
    adapter.save_checkpoint(source, path)
    adapter.load_checkpoint(target, path)
    for (name, a), (_, b) in zip(adapter.state_dict(source), adapter.state_dict(target), strict=True):
        assert np.array_equal(a.numpy(), b.numpy()), f"{name}: observed {b.numpy()}; expected {a.numpy()}"
    loaded = adapter.load(path, "cpu")
    assert sorted(loaded) == ["bias", "weight"], f"observed {sorted(loaded)}; expected the state dict's keys"
