"""4.3 Custom layers: CenteredLayer, MyLinear, and lazy shape inference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from conformance import arch as A
from conformance import strategies as hh
from conformance._protocol import Backend, min_input_rank
from conformance.kit import oracle
from conformance.kit import reach_strategies as rs
from conformance.kit.checks import Check
from conformance.suite import _support as sup


@st.composite
def centered_inputs(draw: st.DrawFn, dtypes: tuple[str, ...]) -> np.ndarray:
    dtype = draw(hh.float_dtypes(dtypes), label="dtype")
    shape = tuple(draw(st.lists(hh.sizes(1, 9), min_size=1, max_size=3), label="shape"))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]), label="scale")
    offset = draw(st.sampled_from([0.0, 5.0, -100.0]), label="offset")
    x = hh.input_array(draw(hh.seeds(), label="input seed"), shape, dtype, scale)
    shifted: np.ndarray = (x + np.asarray(offset * scale, dtype=dtype)).astype(dtype)
    return shifted


def mean_tolerance(x: np.ndarray) -> float:
    """|mean(X - mean(X))| after rounding: the mean's own error plus one rounding per element."""
    u = oracle.unit_roundoff(str(x.dtype))
    return 4 * (x.size + 2) * u * float(np.abs(x.astype(np.float64)).max())


@pytest.mark.clause("CENTERED-MEAN")
@given(data=st.data())
def test_centered_output_has_mean_zero(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    x = data.draw(centered_inputs(backend.float_dtypes), label="input")
    layer = backend.build(A.Centered(), dtype=str(x.dtype), device=device)
    out = backend.to_numpy(backend.forward(layer, backend.tensor(x, device))).astype(np.float64)
    check.true(
        abs(out.mean()) <= mean_tolerance(x),
        "mean of CenteredLayer's output",
        f"{out.mean():.3g}",
        f"|mean| <= {mean_tolerance(x):.3g}",
    )
    expected = oracle.evaluate(A.Centered(), x, str(x.dtype))
    check.close(out.reshape(expected.output.shape), expected.output, expected.tolerance, "X - X.mean()")


@pytest.mark.clause("CENTERED-SHAPE")
@given(data=st.data())
def test_centered_keeps_shape_and_dtype(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    x = data.draw(centered_inputs(backend.float_dtypes), label="input")
    layer = backend.build(A.Centered(), dtype=str(x.dtype), device=device)
    out = backend.to_numpy(backend.forward(layer, backend.tensor(x, device)))
    check.equal((tuple(out.shape), str(out.dtype)), (x.shape, str(x.dtype)), "output (shape, dtype)")


@pytest.mark.clause("CENTERED-NO-PARAMS")
def test_centered_has_no_parameters(backend: Backend, device: str, check: Check) -> None:
    for layer in (backend.chapter("CenteredLayer", device=device), backend.build(A.Centered(), device=device)):
        check.equal(backend.named_parameters(layer), [], "CenteredLayer's parameters")
        check.equal(backend.state_dict(layer), [], "CenteredLayer's state dict")


@pytest.mark.clause("CENTERED-COMPOSE")
@given(data=st.data())
def test_centered_in_a_sequential(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    dtype = data.draw(hh.float_dtypes(backend.float_dtypes), label="dtype")
    in_width = data.draw(st.sampled_from([8, 1, 5]), label="in")
    hidden = data.draw(st.sampled_from([128, 3, 17]), label="hidden")
    seed = data.draw(hh.seeds(), label="values seed")
    linear = A.Linear(in_width, hidden, True, hh.linear_values(np.random.default_rng(seed), in_width, hidden, dtype))
    net = A.Sequential((linear, A.Centered()))
    model = backend.build(net, dtype=dtype, device=device)
    x = hh.input_array(seed + 1, (data.draw(hh.batch_sizes(), label="batch"), in_width), dtype)
    out = backend.to_numpy(backend.forward(model, backend.tensor(x, device)))
    expected = oracle.evaluate(net, x, dtype)
    check.close(out, expected.output, expected.tolerance, "Sequential(Linear, CenteredLayer) output")
    bound = float(expected.tolerance.max()) + mean_tolerance(expected.output.astype(dtype))
    check.true(
        abs(out.astype(np.float64).mean()) <= bound, "mean of the output", f"{out.mean():.3g}", f"<= {bound:.3g}"
    )
    check.equal([n for n, _ in backend.named_parameters(model)], ["0.weight", "0.bias"], "parameters")


def my_linear_net(data: st.DataObject, backend: Backend) -> tuple[A.MyLinear, np.ndarray, str]:
    dtype = data.draw(hh.float_dtypes(backend.float_dtypes), label="dtype")
    in_units, units = data.draw(hh.widths(), label="in_units"), data.draw(hh.widths(), label="units")
    seed = data.draw(hh.seeds(), label="values seed")
    values = hh.linear_values(np.random.default_rng(seed), in_units, units, dtype)
    layer = A.MyLinear(in_units, units, A.LinearValues(values.weight.T.copy(), values.bias))
    x = hh.input_array(seed + 1, (data.draw(hh.batch_sizes(), label="batch"), in_units), dtype)
    return layer, x, dtype


@pytest.mark.clause("MYLINEAR-FORWARD")
@given(data=st.data())
def test_my_linear_forward(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    layer, x, dtype = my_linear_net(data, backend)
    model = backend.build(layer, dtype=dtype, device=device)
    shapes = {n: tuple(backend.to_numpy(p).shape) for n, p in backend.named_parameters(model)}
    weight = A.stored_weight_shape(layer, sup.layouts(backend))
    check.equal(shapes, {"weight": weight, "bias": (layer.units,)}, "parameter shapes")
    expected = oracle.evaluate(layer, x, dtype)
    out = backend.to_numpy(backend.forward(model, backend.tensor(x, device)))
    check.close(out, expected.output, expected.tolerance, "relu(X @ weight + bias)")


#: The chapter's ``MyLinear(5, 3)``: its sizes are the chapter's, fixed by the block under test.
CHAPTER_MY_LINEAR = (5, 3)


@pytest.mark.clause("MYLINEAR-FORWARD")
@given(data=st.data())
def test_chapter_my_linear(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    in_units, units = CHAPTER_MY_LINEAR
    model = backend.chapter("MyLinear", device=device)
    params = {n: backend.to_numpy(p) for n, p in backend.named_parameters(model)}
    shapes = {"weight": A.stored_weight_shape(A.MyLinear(in_units, units), sup.layouts(backend)), "bias": (units,)}
    check.equal({n: v.shape for n, v in params.items()}, shapes, "MyLinear(5, 3) shapes")
    weight = sup.chapter_weight(backend, "MyLinear", params["weight"])
    layer = A.MyLinear(in_units, units, A.LinearValues(weight, params["bias"]))
    dtype = str(params["weight"].dtype)  # the chapter's block is built in the framework's default dtype
    lead = data.draw(rs.leading_shapes(min_input_rank(backend)), label="leading dimensions")
    x = hh.input_array(data.draw(hh.seeds(), label="input seed"), (*lead, in_units), dtype)
    expected = oracle.evaluate(layer, x, dtype)
    out = backend.to_numpy(backend.forward(model, backend.tensor(x, device)))
    check.close(out, expected.output, expected.tolerance, f"MyLinear(5, 3)(rand{x.shape})")


@pytest.mark.clause("MYLINEAR-GRADS")
@given(data=st.data())
def test_my_linear_gradients(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    layer, x, dtype = my_linear_net(data, backend)
    cotangent = hh.input_array(data.draw(hh.seeds(), label="cotangent seed"), (x.shape[0], layer.units), dtype)
    expected = oracle.evaluate(layer, x, dtype, cotangent, sup.layouts(backend))
    assume(not expected.ambiguous)
    grads = backend.gradients(backend.build(layer, dtype=dtype, device=device), backend.tensor(x, device), cotangent)
    check.equal(sorted(grads.params), ["bias", "weight"], "MyLinear parameters that received a gradient")
    for name in ("weight", "bias"):
        tolerance = expected.param_grad_tolerances[name]
        check.close(grads.params[name], expected.param_grads[name], tolerance, f"gradient of {name}")


@pytest.mark.clause("CUSTOM-PARAMS-REGISTERED")
@given(data=st.data())
def test_custom_layer_parameters_registered(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(
        hh.nets(backend.float_dtypes, leaves=("my_linear", "relu"), containers=("sequential", "block")), label="net"
    )
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    shapes = {key: tuple(backend.to_numpy(value).shape) for key, value in backend.state_dict(model)}
    check.equal(
        shapes, A.parameter_shapes(net.arch, sup.layouts(backend)), f"state dict of {A.describe(net.arch)} (key: shape)"
    )


# --- lazy initialization ------------------------------------------------------------------------

#: Lazy layers are built in the framework's default dtype (the chapter's ``LazyLinear(256)``): the
#: protocol's build takes no dtype for a layer whose parameters do not exist yet.
LAZY_DTYPE = "float32"


@st.composite
def lazy_stacks(draw: st.DrawFn) -> A.Sequential:
    widths = draw(st.lists(hh.widths(), min_size=1, max_size=4), label="output widths")
    children: list[A.Node] = []
    for i, width in enumerate(widths):
        if i:
            children.append(A.ReLU())
        children.append(A.LazyLinear(width))
    return A.Sequential(tuple(children))


def materialized(backend: Backend, model: Any, stack: A.Sequential, check: Check) -> A.Sequential:
    """The stack with the values its lazy layers now hold, as plain Linear nodes."""
    modules = sup.modules_by_node(backend, model, stack, check)
    children: list[A.Node] = []
    for child in stack.children:
        if isinstance(child, A.LazyLinear):
            params = sup.own_parameters(backend, modules[id(child)])
            weight = sup.chapter_weight(backend, "LazyLinear", backend.to_numpy(params["weight"]))  # now (out, in)
            bias = backend.to_numpy(params["bias"])
            children.append(A.Linear(weight.shape[1], weight.shape[0], True, A.LinearValues(weight, bias)))
        else:
            children.append(child)
    return A.Sequential(tuple(children))


@pytest.mark.clause("LAZY-UNINITIALIZED")
@given(out_width=hh.widths())
def test_lazy_weight_unreadable_before_first_call(backend: Backend, device: str, check: Check, out_width: int) -> None:
    layer = backend.build(A.LazyLinear(out_width), device=device)
    weight = sup.own_parameters(backend, layer)["weight"]
    check.raises(lambda: backend.to_numpy(weight), f"reading LazyLinear({out_width}).weight before its first call")


@pytest.mark.clause("LAZY-INFERS-SHAPE")
@given(stack=lazy_stacks(), in_width=hh.widths(), seed=hh.seeds(), data=st.data())
def test_lazy_stack_infers_shapes(
    backend: Backend, device: str, check: Check, stack: A.Sequential, in_width: int, seed: int, data: st.DataObject
) -> None:
    lead = data.draw(rs.leading_shapes(min_input_rank(backend)), label="leading dimensions")
    backend.manual_seed(seed % 2**31)
    model = backend.build(stack, device=device)
    x = hh.input_array(seed, (*lead, in_width), LAZY_DTYPE)
    out = backend.to_numpy(backend.forward(model, backend.tensor(x, device)))
    concrete = materialized(backend, model, stack, check)
    width = in_width
    for i, child in enumerate(concrete.children):
        if isinstance(child, A.Linear):
            lazy = stack.children[i]
            assert isinstance(lazy, A.LazyLinear)
            check.equal(
                (child.out_features, child.in_features), (lazy.out_features, width), f"shape of layer {i}'s weight"
            )
            width = child.out_features
    expected = oracle.evaluate(concrete, x, LAZY_DTYPE)
    check.close(out, expected.output, expected.tolerance, f"output of the materialized stack, input {x.shape}")


@pytest.mark.clause("LAZY-WIDTH-MISMATCH")
@given(data=st.data())
def test_lazy_rejects_another_width(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    out_width = data.draw(hh.widths(), label="out width")
    first, second = data.draw(st.lists(hh.widths(), min_size=2, max_size=2, unique=True), label="widths")
    # each call's rows drawn on their own: a one-row call is where a vector fast path skips the check
    rows = data.draw(hh.batch_sizes(), label="rows of the first call")
    wrong_rows = data.draw(hh.batch_sizes(), label="rows of the call with another width")
    layer = backend.build(A.LazyLinear(out_width), device=device)
    backend.forward(layer, backend.tensor(hh.input_array(0, (rows, first), LAZY_DTYPE), device))
    wrong = backend.tensor(hh.input_array(1, (wrong_rows, second), LAZY_DTYPE), device)
    check.raises(
        lambda: backend.forward(layer, wrong),
        f"calling with {wrong_rows} row(s) of width {second} after materializing at {first}",
    )


@pytest.mark.clause("LAZY-LOAD-STATE")
@given(stack=lazy_stacks(), in_width=hh.widths(), batch=hh.batch_sizes(), seed=hh.seeds())
def test_state_dict_loads_into_unrun_lazy_clone(
    backend: Backend, device: str, check: Check, stack: A.Sequential, in_width: int, batch: int, seed: int
) -> None:
    backend.manual_seed(seed % 2**31)
    original = backend.build(stack, device=device)
    x = backend.tensor(hh.input_array(seed, (batch, in_width), LAZY_DTYPE), device)
    expected = backend.bits(backend.forward(original, x))
    clone = backend.build(stack, device=device)
    backend.load_state_dict(clone, dict(backend.state_dict(original)), strict=True)
    check.bitwise(backend.bits(backend.forward(clone, x)), expected, "output of the loaded lazy clone")


@pytest.mark.clause("LAZY-TO-DEVICE")
@given(stack=lazy_stacks(), in_width=hh.widths(), batch=hh.batch_sizes())
def test_lazy_materializes_on_its_device(
    backend: Backend, accelerator: str, check: Check, stack: A.Sequential, in_width: int, batch: int
) -> None:
    model = backend.module_to(backend.build(stack), accelerator)
    backend.forward(model, backend.tensor(hh.input_array(batch, (batch, in_width), LAZY_DTYPE), accelerator))
    for name, param in backend.named_parameters(model):
        check.equal(backend.device_of(param), accelerator, f"device of {name} after the first call")
