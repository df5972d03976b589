"""conformance.backends._torchlike: what the torch and reference adapters share, written once against a
framework with PyTorch's module API: building a tree, the module-tree walk and its names under aliases, strict
loading's bookkeeping, gradients, parameters, initializers and views.

Each is checked through the reference adapter (pure NumPy) and, where torch is installed, against what torch
itself says on the same tree: ``named_parameters()``, ``named_parameters(remove_duplicate=False)``,
``named_modules(remove_duplicate=False)``, ``state_dict()`` and ``load_state_dict``'s own answer. What each
adapter defines itself (dtypes, devices, bits, files) is tested in tests/backends/<name>/test_adapter.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference
from conformance import arch as A
from conformance._protocol import LoadRejected, LoadResult
from conformance.backends._torchlike import TorchLikeBackend, attribute_block_class
from conformance.backends.reference import ReferenceBackend
from conformance.kit import strategies as S
from reference import sim

#: The adapter holds no state of its own: one serves every test.
REFERENCE = ReferenceBackend()

#: Trees with every layer and container the adapters build, a module reused anywhere (aliases).
_TREES = S.nets(
    ("float64",),
    ties="any",
    leaves=("linear", "linear_maybe_bias", "relu", "centered", "my_linear"),
    containers=("sequential", "named", "block", "my_sequential"),
    wide=False,
)
#: Trees with at least one linear layer used at several positions.
_TIED = S.tied_nets(("float64",), leaves=("linear", "relu", "my_linear"), wide=False)


@pytest.fixture(scope="module")
def torch_backend() -> TorchLikeBackend:
    """The torch adapter, torch imported once for the module (seconds), skipped where torch is absent."""
    pytest.importorskip("torch")
    from conformance.backends.torch import TorchBackend

    return TorchBackend()


@pytest.fixture(autouse=True)
def _two_simulated_devices() -> Iterator[None]:
    """sim:0 and sim:1, whatever $BLOCKSPEC_SIM_DEVICES says; the default count restored afterwards."""
    sim.set_device_count(2)
    reference.manual_seed(0)
    yield
    sim.set_device_count(None)


def _walk(backend: TorchLikeBackend, module: Any, prefix: str = "") -> list[str]:
    """Every registration path below ``module`` (itself first), as the adapter's named_children reads them."""
    paths = [prefix]
    for name, child in backend.named_children(module):
        paths += _walk(backend, child, f"{prefix}.{name}" if prefix else name)
    return paths


def _names(pairs: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _ in pairs]


# --- the walk and its names ---------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(net=_TREES)
def test_names_under_aliases_are_those_torch_gives_for_the_same_tree(net: S.Net, torch_backend: Any) -> None:
    ours, theirs = REFERENCE.build(net.arch, dtype="float64"), torch_backend.build(net.arch, dtype="float64")
    expected = {
        "named_parameters (each tensor once)": [n for n, _ in theirs.named_parameters()],
        "state_dict (every alias)": list(theirs.state_dict()),
        "the walk (every registration)": [n for n, _ in theirs.named_modules(remove_duplicate=False)],
    }
    for backend, module in ((REFERENCE, ours), (torch_backend, theirs)):
        observed = {
            "named_parameters (each tensor once)": _names(backend.named_parameters(module)),
            "state_dict (every alias)": _names(backend.state_dict(module)),
            "the walk (every registration)": _walk(backend, module),
        }
        for what, names in observed.items():
            assert names == expected[what], f"{backend.name}, {net!r}: observed {what} {names}; expected torch's"
    aliases = [n for n, _ in theirs.named_parameters(remove_duplicate=False)]
    stated = _names(REFERENCE.state_dict(ours))
    assert stated == aliases, (
        f"reference, {net!r}: observed state_dict keys {stated}; expected torch's named_parameters(remove_duplicate="
        f"False) {aliases} (no buffers here)"
    )


@settings(max_examples=25, deadline=None)
@given(net=_TREES)
def test_the_handles_are_the_modules_own_parameters_and_tensors(net: S.Net) -> None:
    module = REFERENCE.build(net.arch, dtype="float64")
    params = REFERENCE.named_parameters(module)
    own = list(module.named_parameters())
    assert [(n, id(p)) for n, p in params] == [(n, id(p)) for n, p in own], (
        f"{net!r}: observed named_parameters {_names(params)} not the module's own objects; expected them"
    )
    state = REFERENCE.state_dict(module)
    assert all(REFERENCE.is_parameter(p) for _, p in params), f"{net!r}: observed a parameter not marked as one"
    names = (_names(params), _names(state), _walk(REFERENCE, module))
    expected_names = (A.parameter_names(net.arch), A.state_dict_keys(net.arch), [p for p, _ in A.walk(net.arch)])
    assert names == expected_names, f"{net!r}: observed (parameters, state, walk) {names}; expected {expected_names}"


@pytest.mark.parametrize("framework", ["reference", "torch"])
def test_a_child_registered_twice_is_listed_twice_and_an_emptied_slot_not_at_all(
    framework: str, request: pytest.FixtureRequest
) -> None:
    """``named_children()`` itself drops the second registration of a module: the adapter reads ``_modules``."""
    backend = REFERENCE if framework == "reference" else request.getfixturevalue("torch_backend")
    layer = backend.nn.Linear(2, 2)
    net = backend.nn.Module()
    net.add_module("first", layer)
    net.add_module("gone", None)
    net.add_module("again", layer)
    listed = [(name, child is layer) for name, child in backend.named_children(net)]
    assert listed == [("first", True), ("again", True)], (
        f"{framework}: observed named_children {listed}; expected the layer under both names, the None slot left out"
    )
    own = [name for name, _ in net.named_children()]
    assert own == ["first"], f"{framework}: observed the framework's named_children {own}; the test expects ['first']"


# --- loading ---------------------------------------------------------------------------------------------------


@st.composite
def _partial_states(draw: st.DrawFn) -> tuple[S.Net, list[str], list[str]]:
    """A tied net, the state-dict keys left out of a load, and keys added that the net does not have."""
    net = draw(_TIED, label="net")
    keys = A.state_dict_keys(net.arch)
    dropped = draw(st.lists(st.sampled_from(keys), unique=True, max_size=len(keys)), label="keys left out")
    extra = draw(st.lists(st.sampled_from(["x.weight", "0.extra", "bias"]), unique=True, max_size=2), label="added")
    return net, [k for k in keys if k in dropped], [k for k in extra if k not in keys]


@settings(max_examples=20, deadline=None)
@given(case=_partial_states())
def test_strict_loading_bookkeeping_is_torchs_under_aliases(
    case: tuple[S.Net, list[str], list[str]], torch_backend: Any
) -> None:
    net, dropped, extra = case
    shapes = A.parameter_shapes(net.arch)
    said = None  # what torch itself says, on a module of its own: the missing and unexpected keys, in its order
    for backend in (torch_backend, REFERENCE):
        state = {k: backend.tensor(np.full(s, 0.5), dtype="float64") for k, s in shapes.items() if k not in dropped}
        state.update({k: backend.tensor(np.zeros(2), dtype="float64") for k in extra})
        if said is None:
            own = backend.build(net.arch, dtype="float64").load_state_dict(state, strict=False)
            said = LoadResult(list(own.missing_keys), list(own.unexpected_keys))
        module = backend.build(net.arch, dtype="float64")
        result = backend.load_state_dict(module, state, strict=False)
        case_text = f"{backend.name}, {net!r}, {len(dropped)} key(s) left out, {extra} added"
        # Missing keys come in state-dict order; the order of unexpected ones is the framework's own (torch lists
        # a root's first), unspecified: LOAD-NONSTRICT-REPORTS compares them sorted.
        shown = (result.missing, sorted(result.unexpected))
        assert shown == (said.missing, sorted(said.unexpected)), (
            f"{case_text}: observed {result}; expected torch's {said}"
        )
        keys = (sorted(result.missing), sorted(result.unexpected))
        assert keys == (sorted(dropped), sorted(extra)), f"{case_text}: observed (missing, unexpected) {keys}"
        loaded = [k for k, t in backend.state_dict(module) if k in state and not np.all(backend.to_numpy(t) == 0.5)]
        assert not loaded, f"{backend.name}, {net!r}: observed {loaded} not loaded by a lenient load; expected 0.5"
        strict = backend.build(net.arch, dtype="float64")
        if dropped or extra:
            with pytest.raises(LoadRejected):
                backend.load_state_dict(strict, state, strict=True)
                pytest.fail(f"{backend.name}, {net!r}: observed a strict load of {sorted(state)} accepted")
        else:
            strict_result = backend.load_state_dict(strict, state, strict=True)
            assert strict_result == LoadResult([], []), f"{backend.name}: observed {strict_result} for a whole state"


# --- gradients and parameters ---------------------------------------------------------------------------------


def _torch_says(module: Any, x: np.ndarray, cotangent: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The gradients of ``sum(module(x) * cotangent)`` as torch's own autograd gives them, adapter aside."""
    import torch

    inputs = torch.tensor(x, requires_grad=True)
    (module(inputs) * torch.tensor(cotangent)).sum().backward()
    assert inputs.grad is not None
    return inputs.grad.numpy(), {n: p.grad.numpy() for n, p in module.named_parameters() if p.grad is not None}


@settings(max_examples=20, deadline=None)
@given(net=_TIED, seed=st.integers(0, 2**32 - 1))
def test_gradients_are_torchs_summed_over_aliases_and_leave_no_grad_behind(
    net: S.Net, seed: int, torch_backend: Any
) -> None:
    rng = np.random.default_rng(seed)
    x, cotangent = rng.normal(size=(3, net.in_width)), rng.normal(size=(3, net.out_width))
    grad_x, grads = _torch_says(torch_backend.build(net.arch, dtype="float64"), x, cotangent)
    assert list(grads) == A.parameter_names(net.arch), f"{net!r}: observed torch's own names {list(grads)}"
    for backend in (REFERENCE, torch_backend):
        module = backend.build(net.arch, dtype="float64")
        for _, p in backend.named_parameters(module):
            p.grad = backend.tensor(np.full(tuple(p.shape), 100.0), dtype="float64")  # stale: never to be added
        result = backend.gradients(module, backend.tensor(x, dtype="float64"), cotangent)
        left = [n for n, p in backend.named_parameters(module) if p.grad is not None]
        assert not left, f"{backend.name}, {net!r}: observed .grad left on {left}; expected every one None again"
        assert list(result.params) == list(grads), (
            f"{backend.name}, {net!r}: observed gradient names {list(result.params)}; expected torch's {list(grads)}"
        )
        for name, grad in grads.items():
            np.testing.assert_allclose(
                result.params[name], grad, rtol=1e-9, atol=1e-12, err_msg=f"{backend.name}, {name} of {net!r}"
            )
        np.testing.assert_allclose(
            result.input, grad_x, rtol=1e-9, atol=1e-12, err_msg=f"{backend.name}, the input of {net!r}"
        )
        assert result.devices == dict.fromkeys(grads, "cpu"), (
            f"{backend.name}, {net!r}: observed gradient devices {result.devices}; expected cpu for each parameter"
        )


def test_backward_accumulates_into_grad_as_torch_does_and_assign_writes_in_place() -> None:
    shared = A.Linear(2, 2, values=A.LinearValues(np.array([[1.0, -1.0], [0.5, 2.0]]), np.array([0.0, 1.0])))
    net = REFERENCE.build(A.Sequential((shared, A.ReLU(), shared)), dtype="float64")
    weight = dict(REFERENCE.named_parameters(net))["0.weight"]
    x, cotangent = REFERENCE.tensor(np.array([[1.0, 2.0]]), dtype="float64"), np.array([[1.0, -2.0]])
    assert REFERENCE.grad(weight) is None, f"observed a gradient {REFERENCE.grad(weight)} before any backward"
    once = REFERENCE.gradients(net, x, cotangent).params["0.weight"]
    REFERENCE.backward(net, x, cotangent)
    REFERENCE.backward(net, x, cotangent)
    twice = REFERENCE.grad(weight)
    assert twice is not None and np.allclose(twice, 2 * once), f"observed {twice} after two backward; expected 2x{once}"
    REFERENCE.assign(weight, np.eye(2))
    after = dict(REFERENCE.named_parameters(net))["0.weight"]
    assert after is weight and np.array_equal(REFERENCE.to_numpy(weight), np.eye(2)), (
        f"observed assign giving {REFERENCE.to_numpy(after)} on {'the same' if after is weight else 'another'} "
        "object; expected the identity written into the parameter itself"
    )
    assert not REFERENCE.is_parameter(REFERENCE.tensor(np.eye(2))), "observed a plain tensor taken for a parameter"


# --- building ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", ["reference", "torch"])
def test_build_writes_values_ties_weights_and_places_on_the_device(
    framework: str, request: pytest.FixtureRequest
) -> None:
    backend = REFERENCE if framework == "reference" else request.getfixturevalue("torch_backend")
    w, b = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), np.array([-1.0, 1.0])
    owner = A.Linear(3, 2, values=A.LinearValues(w, b))
    mine = A.MyLinear(2, 2, values=A.LinearValues(np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([0.5, 0.5])))
    user = A.Linear(3, 2, bias=False, weight_of=owner)
    tree = A.Block((("owner", owner), ("mine", mine), ("user", A.Sequential((user,)))))
    device = "sim:1" if framework == "reference" else None
    module = backend.build(tree, dtype="float64", device=device)
    params = dict(backend.state_dict(module))
    values = {k: backend.to_numpy(t) for k, t in params.items()}
    assert np.array_equal(values["owner.weight"], w) and np.array_equal(values["owner.bias"], b), (
        f"{framework}: observed owner {values['owner.weight']}, {values['owner.bias']}; expected the values given"
    )
    assert np.array_equal(values["mine.weight"], np.diag([1.0, 2.0])), f"{framework}: observed {values['mine.weight']}"
    assert module.user[0].weight is module.owner.weight, f"{framework}: observed the tied weight a tensor of its own"
    assert _names(backend.named_parameters(module)) == ["owner.weight", "owner.bias", "mine.weight", "mine.bias"], (
        f"{framework}: observed {_names(backend.named_parameters(module))}; expected the tied weight named once"
    )
    dtypes = {str(t.dtype).removeprefix("torch.") for t in params.values()}
    places = {backend.device_of(t) for t in params.values()}
    assert dtypes == {"float64"} and places == {device or backend.host_device}, (
        f"{framework}: observed dtypes {dtypes} on {places}; expected float64 on {device or backend.host_device}"
    )


@pytest.mark.parametrize("framework", ["reference", "torch"])
def test_a_block_registers_its_children_in_the_order_given_and_applies_them_in_it(
    framework: str, request: pytest.FixtureRequest
) -> None:
    backend = REFERENCE if framework == "reference" else request.getfixturevalue("torch_backend")
    block_class = attribute_block_class(backend.nn.Module)
    double = A.Linear(1, 1, bias=False, values=A.LinearValues(np.array([[2.0]]), None))
    shift = A.Linear(1, 1, values=A.LinearValues(np.array([[1.0]]), np.array([-3.0])))
    layers = [("z", backend.build(double, dtype="float64")), ("a", backend.build(shift, dtype="float64"))]
    block = block_class(layers)
    names = _names(backend.named_children(block))
    assert names == ["z", "a"], f"{framework}: observed children {names}; expected ['z', 'a'] as given, not sorted"
    out = backend.to_numpy(backend.forward(block, backend.tensor(np.array([[5.0]]), dtype="float64")))
    assert out.tolist() == [[7.0]], f"{framework}: observed {out.tolist()} for x=5; expected z then a: 2*5-3 = 7"


def test_the_framework_answers_views_devices_dtypes_and_the_chapter() -> None:
    array = np.arange(12.0).reshape(3, 4)
    tensor = REFERENCE.tensor(array, device="sim:1")
    for layout, expected in (("transposed", array.T), ("step", array[::2]), ("offset", array[1:])):
        view = REFERENCE.strided_view(tensor, layout)
        observed = REFERENCE.to_numpy(view)
        assert np.array_equal(observed, expected), f"{layout} view: observed {observed.tolist()}; expected numpy's"
    moved = REFERENCE.to_device(tensor, "sim:0")
    where = (REFERENCE.device_of(tensor), REFERENCE.device_of(moved))
    assert where == ("sim:1", "sim:0"), f"observed devices {where}; expected ('sim:1', 'sim:0')"
    same = (REFERENCE.device_equal("sim:0", "sim:0"), REFERENCE.device_equal("sim:0", "sim:1"))
    assert same == (True, False), f"observed device_equal (sim:0, sim:0), (sim:0, sim:1) = {same}; expected (T, F)"
    layer = REFERENCE.module_to_dtype(REFERENCE.build(A.Linear(2, 2)), "float64")
    dtypes = {str(p.dtype) for _, p in REFERENCE.named_parameters(layer)}
    assert dtypes == {"float64"}, f"module_to_dtype float64: observed {dtypes}"
    on = {REFERENCE.device_of(p) for _, p in REFERENCE.named_parameters(REFERENCE.module_to(layer, "sim:1"))}
    assert on == {"sim:1"}, f"module_to sim:1: observed parameters on {on}"
    assert REFERENCE.describe(layer) == str(layer), f"observed describe {REFERENCE.describe(layer)!r}; expected str()"
    mlp = REFERENCE.chapter("MLP", device="sim:0")
    placed = {REFERENCE.device_of(p) for _, p in REFERENCE.named_parameters(mlp)}
    assert type(mlp).__name__ == "MLP" and placed == {"sim:0"}, f"observed chapter MLP {type(mlp)} on {placed}"
    with pytest.raises(ValueError, match="Expected a block of"):
        REFERENCE.chapter("ResNet")


@pytest.mark.parametrize(
    ("scheme", "kwargs", "check"),
    [
        ("zeros", {}, lambda a: np.all(a == 0)),
        ("constant", {"value": 0.25}, lambda a: np.all(a == 0.25)),
        ("normal", {"mean": 3.0, "std": 0.0}, lambda a: np.all(a == 3.0)),
        ("uniform", {"a": -0.1, "b": 0.1}, lambda a: np.all((a >= -0.1) & (a <= 0.1)) and len(np.unique(a)) > 1),
        ("xavier_uniform", {"gain": 0.0}, lambda a: np.all(a == 0)),
    ],
)
def test_each_initializer_writes_what_its_scheme_names(scheme: str, kwargs: dict[str, float], check: Any) -> None:
    layer = REFERENCE.build(A.Linear(6, 5, values=A.LinearValues(np.full((5, 6), 9.0), np.full(5, 9.0))))
    weight = dict(REFERENCE.named_parameters(layer))["weight"]
    REFERENCE.init_(weight, scheme, **kwargs)
    written = REFERENCE.to_numpy(weight)
    assert check(written), f"{scheme}{kwargs}: observed {np.unique(written)[:6]}; expected what the scheme names"
    if scheme in ("uniform",):
        REFERENCE.manual_seed(7)
        REFERENCE.init_(weight, scheme, **kwargs)
        first = REFERENCE.to_numpy(weight).copy()
        REFERENCE.manual_seed(7)
        REFERENCE.init_(weight, scheme, **kwargs)
        again = REFERENCE.to_numpy(weight)
        assert np.array_equal(first, again), f"{scheme}: observed other values after manual_seed(7) again"


def test_an_unknown_initializer_or_wrong_arguments_are_refused() -> None:
    weight = dict(REFERENCE.named_parameters(REFERENCE.build(A.Linear(2, 2))))["weight"]
    for scheme, kwargs, says in (
        ("kaiming", {}, "Expected an initializer of"),
        ("normal", {"mean": 0.0}, "Expected arguments"),
        ("zeros", {"value": 1.0}, "Expected arguments"),
    ):
        with pytest.raises(ValueError) as info:
            REFERENCE.init_(weight, scheme, **kwargs)
        assert says in str(info.value), f"init_ {scheme}{kwargs}: observed {info.value}; expected {says!r}"
