"""The tinygrad adapter (conformance/backends/tinygrad/_adapter.py): what it reads from tinygrad; it adds nothing.

Each test builds a small object graph by hand and compares the adapter's answer with tinygrad's own
``nn.state.get_state_dict``/``get_parameters``/``load_state_dict`` or with NumPy. tinygrad compiles a
kernel per new shape, so the tests share a few shapes (a Linear(3, 2), inputs (4, 3)).
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# The backend package, not tinygrad, first: importing it sets tinygrad's compile settings (PARALLEL=0: no
# compile worker processes) before tinygrad is imported. Without tinygrad it raises ModuleNotFoundError.
pytest.importorskip("conformance.backends.tinygrad")

from tinygrad import Tensor, nn
from tinygrad.nn import state as tg_state

from conformance import arch as A
from conformance._protocol import LoadRejected, LoadResult
from conformance.backends.tinygrad import TinygradBackend, blocks
from conformance.backends.tinygrad._adapter import TinygradAssertion


@pytest.fixture(scope="module")
def adapter() -> TinygradBackend:
    return TinygradBackend()


def _values(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _linear(seed: int = 0) -> Any:
    """A tinygrad Linear(3, 2) with given values, made without its random draw."""
    layer = nn.Linear.__new__(nn.Linear)
    layer.weight, layer.bias = Tensor(_values((2, 3), seed)), Tensor(_values((2,), seed + 1))
    return layer


def _tied() -> tuple[Any, Any]:
    shared = _linear()
    return blocks.Sequential([shared, Tensor.relu, shared]), shared


class _Graph:
    """An object graph as a tinygrad user writes one: layers, containers, a function, plain values, tensors."""

    def __init__(self) -> None:
        self.first = _linear()
        self.width = 3
        self.label = "net"
        self.constant = Tensor(_values((2,), 5)).is_param_(False)
        self.stack = [_linear(1), Tensor.relu]
        self.nothing = None
        self.table = {"k": _linear(2)}
        self.act = Tensor.relu


# --- the object graph ----------------------------------------------------------------------------


def test_named_children_are_the_layers_containers_and_functions_of_the_graph(adapter: TinygradBackend) -> None:
    graph = _Graph()
    observed = [name for name, _ in adapter.named_children(graph)]
    assert observed == ["first", "stack", "table", "act"], (
        f"observed children {observed}; expected ['first', 'stack', 'table', 'act'] (no tensors, no plain values)"
    )
    cases = {
        "list": ([n for n, _ in adapter.named_children(graph.stack)], ["0", "1"]),
        "dict": ([n for n, _ in adapter.named_children(graph.table)], ["k"]),
        "Tensor.relu": (adapter.named_children(Tensor.relu), []),
        "a tensor": (adapter.named_children(graph.constant), []),
    }
    for case, (got, expected) in cases.items():
        assert got == expected, f"{case}: observed children {got}; expected {expected}"


def _paths(adapter: TinygradBackend, module: Any, prefix: str = "") -> list[str]:
    """Every tensor path reached through the adapter's children: tinygrad's walk, if the adapter's agrees."""
    here = [] if not hasattr(module, "__dict__") else [k for k, v in vars(module).items() if isinstance(v, Tensor)]
    out = [f"{prefix}{k}" for k in here]
    for name, child in adapter.named_children(module):
        out += _paths(adapter, child, f"{prefix}{name}.")
    return out


def test_the_children_walk_reaches_every_state_dict_key_tinygrad_names(adapter: TinygradBackend) -> None:
    graph = _Graph()
    walked, named = sorted(_paths(adapter, graph)), sorted(tg_state.get_state_dict(graph))
    assert walked == named, f"observed paths through the children {walked}; expected get_state_dict's {named}"


def test_state_dict_is_get_state_dict_with_every_alias(adapter: TinygradBackend) -> None:
    net, shared = _tied()
    state = adapter.state_dict(net)
    keys = [k for k, _ in state]
    assert keys == ["0.weight", "0.bias", "2.weight", "2.bias"], f"tied net: observed keys {keys}; expected both paths"
    assert dict(state)["2.weight"] is shared.weight, "tied net: observed a copy at 2.weight; expected the tensor itself"


def test_parameters_are_the_flagged_tensors_once_and_buffers_the_others(adapter: TinygradBackend) -> None:
    net, shared = _tied()
    graph = types.SimpleNamespace(net=net, stats=Tensor(_values((2,), 7)).is_param_(False))
    params, buffers = adapter.named_parameters(graph), adapter.named_buffers(graph)
    assert [n for n, _ in params] == ["net.0.weight", "net.0.bias"], (
        f"observed parameters {[n for n, _ in params]}; expected the shared layer's once"
    )
    assert [n for n, _ in buffers] == ["stats"], f"observed buffers {[n for n, _ in buffers]}; expected ['stats']"
    everything = {id(t) for t in tg_state.get_parameters(graph)}
    ours = {id(t) for _, t in params + buffers}
    assert ours == everything, f"observed {len(ours)} tensors; expected get_parameters' {len(everything)} distinct ones"
    flags = {
        "weight": adapter.is_parameter(shared.weight),
        "flagged False": adapter.is_parameter(graph.stats),
        "a factory tensor": adapter.is_parameter(Tensor(_values((2,), 8))),  # tinygrad's default: a departure
        "an array": adapter.is_parameter(_values((2,))),
    }
    expected = {"weight": True, "flagged False": False, "a factory tensor": True, "an array": False}
    assert flags == expected, f"observed is_parameter {flags}; expected {expected}"


# --- loading: tinygrad's load_state_dict, nothing added ------------------------------------------


def test_a_strict_load_is_refused_at_the_first_missing_key_and_takes_unexpected_keys(
    adapter: TinygradBackend,
) -> None:
    net, shared = _tied()
    state = {"0.weight": Tensor(np.ones((2, 3), np.float32)), "extra": Tensor(np.ones(1, np.float32))}
    with pytest.raises(LoadRejected, match=r"^KeyError: '0\.bias'$"):
        adapter.load_state_dict(net, state, strict=True)
    full = {k: Tensor(np.full(tuple(v.shape), 2.0, np.float32)) for k, v in tg_state.get_state_dict(net).items()}
    result = adapter.load_state_dict(net, {**full, "extra": Tensor(np.ones(1, np.float32))}, strict=True)
    assert result == LoadResult([], []), f"observed {result}; expected tinygrad's silence about 'extra'"
    assert (shared.weight.numpy() == 2).all(), f"observed {shared.weight.numpy()}; expected the loaded 2s"


def test_a_non_strict_load_skips_missing_keys_and_reports_nothing(adapter: TinygradBackend) -> None:
    layer = _linear()
    bias = layer.bias.numpy().copy()
    result = adapter.load_state_dict(layer, {"weight": Tensor(np.ones((2, 3), np.float32))}, strict=False)
    assert result == LoadResult([], []), f"observed {result}; expected no keys reported"
    assert (layer.weight.numpy() == 1).all() and np.array_equal(layer.bias.numpy(), bias), (
        f"observed weight {layer.weight.numpy()}, bias {layer.bias.numpy()}; expected weight 1, bias kept"
    )


def test_a_shape_mismatch_is_tinygrads_refusal_and_another_dtype_is_taken(adapter: TinygradBackend) -> None:
    layer = _linear()
    with pytest.raises(LoadRejected, match=r"^ValueError: Shape mismatch in layer `weight`"):
        adapter.load_state_dict(layer, {"weight": Tensor(np.ones((3, 2), np.float32)), "bias": layer.bias}, strict=True)
    wide = {"weight": Tensor(np.ones((2, 3))), "bias": Tensor(np.ones(2))}  # float64 into float32: tinygrad takes it
    adapter.load_state_dict(layer, wide, strict=True)
    assert str(layer.weight.dtype) == "dtypes.double", f"observed {layer.weight.dtype}; expected tinygrad's replace"


# --- errors -----------------------------------------------------------------------------------------


def _asserts(x: Any) -> Any:
    raise AssertionError("inside")


def test_an_assertion_inside_tinygrad_is_a_tinygrad_error_not_a_clause_failure(adapter: TinygradBackend) -> None:
    with pytest.raises(TinygradAssertion, match="tinygrad raised AssertionError: inside") as caught:
        adapter.forward(_asserts, Tensor(np.ones(1, np.float32)))
    assert isinstance(caught.value.__cause__, AssertionError), (
        f"forward: observed cause {caught.value.__cause__!r}; expected the AssertionError chained"
    )
    patched = TinygradBackend.__new__(TinygradBackend)
    patched.blocks = types.SimpleNamespace(init_bad=_asserts)
    with pytest.raises(TinygradAssertion, match="inside"):
        patched.chapter_init("init_bad")(None)


# --- layout and computation ---------------------------------------------------------------------------


def test_linear_values_are_stored_out_in_and_compute_x_at_w_t_plus_b(adapter: TinygradBackend) -> None:
    weight, bias = _values((2, 3)), _values((2,), 1)
    layer = adapter.build(A.Linear(3, 2, True, A.LinearValues(weight, bias)))
    keys = [k for k, _ in adapter.state_dict(layer)]
    assert keys == ["weight", "bias"], f"Linear(3, 2): observed keys {keys}; expected __init__'s order"
    assert np.array_equal(layer.weight.numpy(), weight), f"Linear(3, 2): observed {layer.weight.numpy()}; expected W"
    x = _values((4, 3), 2)
    out = adapter.to_numpy(adapter.forward(layer, adapter.tensor(x)))
    assert np.allclose(out, x @ weight.T + bias, atol=1e-5), f"Linear(3, 2): observed {out}; expected X @ W.T + b"


def test_building_with_values_draws_no_random_numbers(adapter: TinygradBackend) -> None:
    Tensor.manual_seed(0)
    expected = Tensor.rand(2).numpy()
    Tensor.manual_seed(0)
    adapter.build(A.Linear(3, 2, True, A.LinearValues(_values((2, 3)), _values((2,), 1))))
    observed = Tensor.rand(2).numpy()
    assert np.array_equal(observed, expected), f"observed the next draw {observed}; expected {expected} (no draw taken)"


def test_a_float64_build_casts_drawn_and_given_values(adapter: TinygradBackend) -> None:
    given = A.MyLinear(3, 2, A.LinearValues(_values((3, 2)), _values((2,), 1)))
    net = adapter.build(A.Sequential((A.Linear(3, 3), given)), dtype="float64")
    dtypes = {name: str(t.dtype) for name, t in adapter.state_dict(net)}
    assert set(dtypes.values()) == {"dtypes.double"}, f"observed {dtypes}; expected every tensor float64"
    assert np.array_equal(net[1].weight.numpy(), given.values.weight), (
        f"MyLinear: observed weight {net[1].weight.numpy()}; expected {given.values.weight}"
    )


def test_gradients_are_tinygrads_and_leave_no_grad_behind(adapter: TinygradBackend) -> None:
    weight, bias = _values((2, 3)), _values((2,), 1)
    layer = adapter.build(A.Linear(3, 2, True, A.LinearValues(weight, bias)))
    x, cot = _values((4, 3), 2), _values((4, 2), 3)
    grads = adapter.gradients(layer, adapter.tensor(x), cot)
    expected = {"input": cot @ weight, "weight": cot.T @ x, "bias": cot.sum(axis=0)}
    observed = {"input": grads.input, "weight": grads.params["weight"], "bias": grads.params["bias"]}
    for name, value in expected.items():
        assert np.allclose(observed[name], value, atol=1e-5), f"{name}: observed {observed[name]}; expected {value}"
    assert layer.weight.grad is None, f"observed .grad {layer.weight.grad} after gradients(); expected None"
    adapter.backward(layer, adapter.tensor(x), cot)
    after = adapter.grad(layer.weight)
    assert after is not None and np.allclose(after, cot.T @ x, atol=1e-5), (
        f"backward: observed .grad {after}; expected C.T @ X = {cot.T @ x}"
    )


def test_a_transposed_view_reverses_every_axis_as_numpy_does(adapter: TinygradBackend) -> None:
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    tensor = adapter.tensor(array)
    for layout, expected in {"transposed": array.transpose(), "step": array[::2], "offset": array[1:]}.items():
        view = adapter.to_numpy(adapter.strided_view(tensor, layout))
        assert np.array_equal(view, expected), f"{layout}: observed shape {view.shape}; expected {expected.shape}"


def test_assign_and_init_write_the_parameter_in_place_in_its_dtype(adapter: TinygradBackend) -> None:
    layer = _linear()
    weight = layer.weight
    adapter.assign(weight, np.arange(6.0).reshape(2, 3))  # float64 values into a float32 parameter
    assert layer.weight is weight and str(weight.dtype) == "dtypes.float", (
        f"assign: observed dtype {weight.dtype}; expected the same float32 tensor"
    )
    assert np.array_equal(weight.numpy(), np.arange(6.0).reshape(2, 3)), (
        f"assign: observed {weight.numpy()}; expected 0..5"
    )
    adapter.init_(weight, "constant", value=3.0)
    assert layer.weight is weight and (weight.numpy() == 3).all(), (
        f"init_ constant: observed {weight.numpy()}; expected 3s in the same tensor"
    )


# --- devices and files ----------------------------------------------------------------------------------


def test_module_to_moves_every_tensor_in_place_once(adapter: TinygradBackend) -> None:
    net, shared = _tied()
    moved = adapter.module_to(net, "CPU:1")
    devices = {name: t.device for name, t in adapter.state_dict(moved)}
    assert moved is net and set(devices.values()) == {"CPU:1"}, f"observed {devices}; expected all on CPU:1 in place"
    assert adapter.device_of(shared.weight) == "CPU:1", (
        f"observed {adapter.device_of(shared.weight)!r}; expected 'CPU:1'"
    )


def test_files_are_safetensors_and_a_lone_tensor_comes_back_a_tensor(adapter: TinygradBackend, tmp_path: Path) -> None:
    x, y = _values((2,)), _values((2,), 1)
    cases: dict[str, tuple[Any, Any]] = {
        "tensor": (adapter.tensor(x), x),
        "list": ([adapter.tensor(x), adapter.tensor(y)], {"0": x, "1": y}),
        "dict": ({"x": adapter.tensor(x), "y": adapter.tensor(y)}, {"x": x, "y": y}),
    }
    for case, (saved, expected) in cases.items():
        path = tmp_path / f"{case}.safetensors"
        adapter.save(saved, path)
        loaded = adapter.load(path)
        if isinstance(expected, dict):
            got = {k: v.numpy() for k, v in loaded.items()} if isinstance(loaded, dict) else loaded
            same = isinstance(got, dict) and got.keys() == expected.keys()
            same = same and all(np.array_equal(got[k], expected[k]) for k in expected)
        else:
            got = loaded
            same = isinstance(loaded, Tensor) and np.array_equal(loaded.numpy(), expected)
        assert same, f"{case}: observed {got!r}; expected {expected!r}"
