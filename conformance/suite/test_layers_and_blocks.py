"""4.1 Layers and blocks: forward, backward, registration, nesting, Sequential."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from conformance import arch as A
from conformance import strategies as hh
from conformance._protocol import Backend, Gradients, min_input_rank
from conformance.kit import oracle
from conformance.kit import reach_strategies as rs
from conformance.kit.checks import Check
from conformance.suite import _support as sup

ALL_CONTAINERS = ("sequential", "named", "block")


def _run(backend: Backend, device: str, net: hh.Net, x: np.ndarray) -> np.ndarray:
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    return backend.to_numpy(backend.forward(model, backend.tensor(x, device)))


@pytest.mark.clause("BLOCK-FORWARD-SHAPE")
@given(data=st.data())
def test_forward_shape(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.mlps(backend.float_dtypes), label="net")
    x = data.draw(rs.ranked_inputs(net, min_input_rank(backend)), label="input")
    out = _run(backend, device, net, x)
    check.equal(tuple(out.shape), (*x.shape[:-1], net.out_width), f"output shape for an input of shape {x.shape}")
    check.equal(str(out.dtype), net.dtype, "output dtype")


@pytest.mark.clause("BLOCK-FORWARD-VALUE")
@given(data=st.data())
def test_forward_value(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.mlps(backend.float_dtypes), label="net")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    # Every rank the framework accepts, in each example: a fault of one rank (a reshape where a permute
    # belonged, at rank 3) is not left to the chance that a derandomized run draws that rank.
    for rank in range(min_input_rank(backend), rs.MAX_RANK + 1):
        x = data.draw(rs.ranked_inputs(net, rank=rank), label=f"input of rank {rank}")
        expected = oracle.evaluate(net.arch, x, net.dtype)
        out = backend.to_numpy(backend.forward(model, backend.tensor(x, device)))
        check.close(out, expected.output, expected.tolerance, f"MLP output, input {x.shape}")
    # Every half-precision dtype the backend builds modules in, every rank, in each example: a small MLP,
    # so the oracle's rounding bound (from the dtype's unit roundoff and the sums' lengths) stays tight.
    for dtype in rs.half_dtypes(backend.float_dtypes):
        half = data.draw(rs.half_mlps(dtype), label=f"{dtype} net")
        model = backend.build(half.arch, dtype=dtype, device=device)
        for rank in range(min_input_rank(backend), rs.MAX_RANK + 1):
            x = data.draw(rs.half_inputs(half, rank), label=f"{dtype} input of rank {rank}")
            expected = oracle.evaluate(half.arch, x, dtype)
            out = backend.to_numpy(backend.forward(model, backend.tensor(x, device, dtype)))
            check.close(out, expected.output, expected.tolerance, f"{dtype} MLP output, input {x.shape}")


def _half_gradients(
    backend: Backend, device: str, data: st.DataObject, dtype: str
) -> tuple[Gradients, oracle.Evaluation] | None:
    """A half-precision MLP's gradients and the oracle's, for a matrix input; None where a ReLU input lies
    within rounding of 0 (its mask may then differ, and the gradient with it)."""
    net = data.draw(rs.half_mlps(dtype), label=f"{dtype} net")
    x = data.draw(rs.half_inputs(net), label=f"{dtype} input")
    cotangent = rs.half_cotangent(data.draw(hh.seeds(), label=f"{dtype} cotangent seed"), x.shape[0], net)
    expected = oracle.evaluate(net.arch, x, dtype, cotangent, sup.layouts(backend))
    if expected.ambiguous:
        return None
    model = backend.build(net.arch, dtype=dtype, device=device)
    return backend.gradients(model, backend.tensor(x, device, dtype), cotangent), expected


@pytest.mark.clause("BLOCK-FORWARD-VALUE")
@given(seed=hh.seeds(), batch=hh.batch_sizes())
def test_chapter_mlp_forward_value(backend: Backend, device: str, check: Check, seed: int, batch: int) -> None:
    backend.manual_seed(seed % 2**31)
    model = backend.chapter("MLP", device=device)
    layers = dict(backend.named_children(model))
    values = {}
    for attr in ("hidden", "out"):
        params = sup.own_parameters(backend, layers[attr])
        weight = sup.chapter_weight(backend, "Linear", backend.to_numpy(params["weight"]))
        values[attr] = A.LinearValues(weight, backend.to_numpy(params["bias"]))
    arch = A.Block(
        (
            ("hidden", A.Linear(20, 256, True, values["hidden"])),
            ("act", A.ReLU()),
            ("out", A.Linear(256, 10, True, values["out"])),
        )
    )
    x = hh.input_array(seed, (batch, 20), "float32")
    expected = oracle.evaluate(arch, x, "float32")
    out = backend.to_numpy(backend.forward(model, backend.tensor(x, device)))
    check.close(out, expected.output, expected.tolerance, "the chapter's MLP() output")


@pytest.mark.clause("BLOCK-BACKWARD-INPUT")
@given(data=st.data())
def test_backward_input(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.mlps(backend.float_dtypes), label="net")
    x = data.draw(rs.batch_inputs(net), label="input")
    cotangent = hh.input_array(data.draw(hh.seeds(), label="cotangent seed"), (x.shape[0], net.out_width), net.dtype)
    expected = oracle.evaluate(net.arch, x, net.dtype, cotangent)
    assume(not expected.ambiguous)
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    grads = backend.gradients(model, backend.tensor(x, device), cotangent)
    assert expected.input_grad is not None and expected.input_grad_tolerance is not None
    check.close(grads.input, expected.input_grad, expected.input_grad_tolerance, "gradient w.r.t. the input")
    for dtype in rs.half_dtypes(backend.float_dtypes):
        half = _half_gradients(backend, device, data, dtype)
        if half is not None:
            observed, oracle_half = half
            assert oracle_half.input_grad is not None and oracle_half.input_grad_tolerance is not None
            check.close(
                observed.input, oracle_half.input_grad, oracle_half.input_grad_tolerance, f"{dtype} input gradient"
            )


def check_parameter_gradients(check: Check, observed: dict[str, np.ndarray], expected: oracle.Evaluation) -> None:
    check.equal(sorted(observed), sorted(expected.param_grads), "parameters that received a gradient")
    for name, grad in expected.param_grads.items():
        check.close(observed[name], grad, expected.param_grad_tolerances[name], f"gradient of {name!r}")


@pytest.mark.clause("BLOCK-BACKWARD-PARAMS")
@given(data=st.data())
def test_backward_params(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(
        hh.nets(backend.float_dtypes, leaves=("linear_maybe_bias", "relu"), containers=("block",)), label="net"
    )
    x = data.draw(rs.batch_inputs(net), label="input")
    cotangent = hh.input_array(data.draw(hh.seeds(), label="cotangent seed"), (x.shape[0], net.out_width), net.dtype)
    expected = oracle.evaluate(net.arch, x, net.dtype, cotangent, sup.layouts(backend))
    assume(not expected.ambiguous)
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    grads = backend.gradients(model, backend.tensor(x, device), cotangent)
    check_parameter_gradients(check, grads.params, expected)
    for dtype in rs.half_dtypes(backend.float_dtypes):
        half = _half_gradients(backend, device, data, dtype)
        if half is not None:
            check_parameter_gradients(check, half[0].params, half[1])


@pytest.mark.clause("BLOCK-REGISTRATION")
@given(data=st.data())
def test_registration_is_complete(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(
        hh.nets(backend.float_dtypes, leaves=("linear_maybe_bias", "relu"), containers=("block",)), label="net"
    )
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    sizes = sorted(backend.to_numpy(p).size for _, p in backend.named_parameters(model))
    shapes = A.parameter_shapes(net.arch, sup.layouts(backend))
    expected = sorted(int(np.prod(shapes[name])) for name in A.parameter_names(net.arch))
    check.equal(sizes, expected, f"sizes of the registered parameters of {A.describe(net.arch)}")


@pytest.mark.clause("BLOCK-REGISTRATION")
def test_chapter_mlp_registers_its_layers(backend: Backend, device: str, check: Check) -> None:
    model = backend.chapter("MLP", device=device)
    sizes = sorted(backend.to_numpy(p).size for _, p in backend.named_parameters(model))
    check.equal(sizes, sorted([256 * 20, 256, 10 * 256, 10]), "sizes of MLP()'s parameters")


@pytest.mark.clause("BLOCK-NESTING")
@given(data=st.data())
def test_nested_blocks_compose(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(
        hh.nets(backend.float_dtypes, leaves=("linear_maybe_bias", "relu"), containers=ALL_CONTAINERS, max_depth=5),
        label="net",
    )
    x = data.draw(hh.inputs(net), label="input")
    expected = oracle.evaluate(net.arch, x, net.dtype)
    check.close(_run(backend, device, net, x), expected.output, expected.tolerance, f"output of {A.describe(net.arch)}")


# --- FixedHiddenMLP --------------------------------------------------------------


def fixed_hidden_mlp(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, constant: np.ndarray) -> dict[str, object]:
    """The chapter's FixedHiddenMLP in float64: output, linear's gradients, and their rounding bounds.

    Every quantity has a magnitude twin (the same formula on absolute
    values); ``gamma`` over all the sums involved turns it into a bound.
    """
    x64, w, b, r = (v.astype(np.float64) for v in (x, weight, bias, constant))
    gam = oracle.gamma(x.size + 80, "float32")
    h1, h1m = x64 @ w.T + b, np.abs(x64) @ np.abs(w).T + np.abs(b)
    pre, prem = h1 @ r + 1.0, h1m @ np.abs(r) + 1.0
    mask = pre > 0
    a, am = pre * mask, prem * mask
    h2, h2m = a @ w.T + b, am @ np.abs(w).T + np.abs(b)
    total, total_m = float(np.abs(h2).sum()), float(h2m.sum())
    halvings = 0
    while total / 2**halvings > 1:
        halvings += 1
    # Within rounding of the loop's threshold the float32 loop may halve once more or less.
    near = any(abs(total / 2**k - 1.0) <= 4 * gam * total_m / 2**k for k in (halvings - 1, halvings) if k >= 0)
    scale = 2.0**-halvings
    # Backward of out = scale * sum(h2): both uses of the shared layer contribute.
    g2 = np.full_like(h2, scale)
    g_h1 = ((g2 @ w) * mask) @ r.T
    g_h1m = ((g2 @ np.abs(w)) * mask) @ np.abs(r).T
    return {
        "output": h2.sum() * scale,
        "tolerance": 4 * gam * h2m.sum() * scale,
        "ambiguous": near or bool(np.any(np.abs(pre) <= 2 * gam * prem)),
        "grad_weight": g2.T @ a + g_h1.T @ x64,
        "grad_bias": g2.sum(axis=0) + g_h1.sum(axis=0),
        "tol_weight": 4 * gam * (g2.T @ am + g_h1m.T @ np.abs(x64)),
        "tol_bias": 4 * gam * (g2.sum(axis=0) + g_h1m.sum(axis=0)),
    }


def _fixed_hidden_state(backend: Backend, model: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    constants = list(sup.non_parameter_state(backend, model).values())
    assert len(constants) == 1, f"expected one constant in FixedHiddenMLP's state dict, found {len(constants)}"
    layer = sup.own_parameters(backend, backend.named_children(model)[-1][1])
    weight = sup.chapter_weight(backend, "Linear", backend.to_numpy(layer["weight"]))  # (out, in), as computed
    return weight, backend.to_numpy(layer["bias"]), backend.to_numpy(constants[0])


@pytest.mark.clause("CONSTANT-NOT-PARAMETER")
@given(seed=hh.seeds(), batch=hh.batch_sizes())
def test_constant_is_state_not_parameter(backend: Backend, device: str, check: Check, seed: int, batch: int) -> None:
    backend.manual_seed(seed % 2**31)
    model = backend.chapter("FixedHiddenMLP", device=device)
    params = backend.named_parameters(model)
    check.equal(sorted(tuple(backend.to_numpy(p).shape) for _, p in params), [(20,), (20, 20)], "parameter shapes")
    constants = sup.non_parameter_state(backend, model)
    check.equal(
        len(constants),
        1,
        f"state-dict entries that are not parameters (keys {[k for k, _ in backend.state_dict(model)]})",
    )
    ((key, constant),) = constants.items()
    check.equal(backend.to_numpy(constant).shape, (20, 20), f"shape of the constant {key!r}")
    before = backend.bits(constant)
    x = backend.tensor(hh.input_array(seed, (batch, 20), "float32"), device)
    first = backend.bits(backend.forward(model, x))
    grads = backend.gradients(model, x, np.ones((), dtype=np.float32))
    check.equal(len(grads.params), 2, f"number of tensors that received a gradient ({sorted(grads.params)})")
    check.bitwise(backend.bits(dict(backend.state_dict(model))[key]), before, "the constant after backward")
    check.bitwise(backend.bits(backend.forward(model, x)), first, "the output after a backward pass")


@pytest.mark.clause("CONTROL-FLOW")
@given(seed=hh.seeds(), batch=hh.batch_sizes(), scale=st.sampled_from([1e-3, 1.0, 30.0]))
def test_fixed_hidden_mlp_runs_its_code(
    backend: Backend, device: str, check: Check, seed: int, batch: int, scale: float
) -> None:
    backend.manual_seed(seed % 2**31)
    model = backend.chapter("FixedHiddenMLP", device=device)
    weight, bias, constant = _fixed_hidden_state(backend, model)
    x = hh.input_array(seed, (batch, 20), "float32", scale)
    expected = fixed_hidden_mlp(x, weight, bias, constant)
    assume(not expected["ambiguous"])
    out = backend.to_numpy(backend.forward(model, backend.tensor(x, device)))
    check.equal(out.shape, (), "output shape (X.sum() is a scalar)")
    check.close(out, np.asarray(expected["output"]), float(expected["tolerance"]), "FixedHiddenMLP output")  # type: ignore[arg-type]


@pytest.mark.clause("LAYER-REUSE-SHARES")
@given(seed=hh.seeds(), batch=hh.batch_sizes(), scale=st.sampled_from([1e-3, 1.0, 30.0]))
def test_reused_layer_gradients_add(
    backend: Backend, device: str, check: Check, seed: int, batch: int, scale: float
) -> None:
    backend.manual_seed(seed % 2**31)
    model = backend.chapter("FixedHiddenMLP", device=device)
    weight, bias, constant = _fixed_hidden_state(backend, model)
    x = hh.input_array(seed, (batch, 20), "float32", scale)
    expected = fixed_hidden_mlp(x, weight, bias, constant)
    assume(not expected["ambiguous"])
    check.equal(len(backend.named_parameters(model)), 2, "number of parameters (the layer used twice counts once)")
    grads = backend.gradients(model, backend.tensor(x, device), np.ones((), dtype=np.float32)).params
    # the weight's gradient in the layout the backend stores it in (fixed_hidden_mlp computes it (out, in))
    grad_weight, tol_weight = (
        sup.chapter_weight(backend, "Linear", np.asarray(expected[k])) for k in ("grad_weight", "tol_weight")
    )
    check.close(grads["linear.weight"], grad_weight, tol_weight, "gradient of linear.weight")
    check.close(grads["linear.bias"], expected["grad_bias"], expected["tol_bias"], "gradient of linear.bias")  # type: ignore[arg-type]


# --- Sequential ----------------------------------------------------------------------


@st.composite
def square_stacks(draw: st.DrawFn, dtypes: tuple[str, ...], custom: bool = False) -> hh.Net:
    """Square layers (and ReLUs) in a Sequential: every order type-checks, only one is right."""
    dtype = draw(hh.float_dtypes(dtypes), label="dtype")
    seed = draw(hh.seeds(), label="values seed")
    width = draw(hh.widths(), label="width")
    kinds = draw(st.lists(st.sampled_from(["linear", "linear", "relu"]), min_size=2, max_size=6), label="layers")
    assume(kinds.count("linear") >= 2)
    rng = np.random.default_rng(seed)
    children: list[A.Node] = [
        A.Linear(width, width, True, hh.linear_values(rng, width, width, dtype)) if k == "linear" else A.ReLU()
        for k in kinds
    ]
    return hh.Net(A.Sequential(tuple(children), custom=custom), width, width, dtype, seed)


@pytest.mark.clause("SEQ-ORDER")
@given(data=st.data())
def test_sequential_applies_children_in_order(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(square_stacks(backend.float_dtypes), label="net")
    x = data.draw(hh.inputs(net), label="input")
    expected = oracle.evaluate(net.arch, x, net.dtype)
    check.close(_run(backend, device, net, x), expected.output, expected.tolerance, f"output of {A.describe(net.arch)}")


@pytest.mark.clause("SEQ-INDEX")
@given(data=st.data())
def test_sequential_indexing(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(
        hh.nets(backend.float_dtypes, leaves=("linear", "relu"), containers=("sequential",), max_depth=1), label="net"
    )
    assert isinstance(net.arch, A.Sequential)
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    n = len(net.arch.children)
    check.equal(backend.length(model), n, "len(net)")
    items = backend.iterate(model)
    check.equal(len(items), n, "number of children iteration yields")
    for i, node in enumerate(net.arch.children):
        check.same(backend.index(model, i), items[i], f"net[{i}] and the {i}-th child iteration yields")
        check.same(backend.index(model, i - n), items[i], f"net[{i - n}] and the {i}-th child")
        shapes = [tuple(backend.to_numpy(p).shape) for _, p in backend.named_parameters(items[i])]
        expected = [shape for _, shape in A.leaf_parameters(node, sup.layouts(backend))]
        check.equal(shapes, expected, f"parameter shapes of net[{i}] ({node!r})")


@pytest.mark.clause("SEQ-CUSTOM-EQUIV")
@given(data=st.data())
def test_my_sequential_matches_sequential(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(square_stacks(backend.float_dtypes, custom=True), label="net")
    assert isinstance(net.arch, A.Sequential)
    builtin = A.Sequential(net.arch.children)
    x = backend.tensor(data.draw(hh.inputs(net), label="input"), device)
    mine = backend.build(net.arch, dtype=net.dtype, device=device)
    theirs = backend.build(builtin, dtype=net.dtype, device=device)
    check.bitwise(
        backend.bits(backend.forward(mine, x)),
        backend.bits(backend.forward(theirs, x)),
        "MySequential vs Sequential output",
    )
    check.equal(
        [n for n, _ in backend.named_parameters(mine)],
        [n for n, _ in backend.named_parameters(theirs)],
        "parameter names",
    )
    check.equal([k for k, _ in backend.state_dict(mine)], [k for k, _ in backend.state_dict(theirs)], "state-dict keys")
