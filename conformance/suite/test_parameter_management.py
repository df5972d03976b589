"""4.2 Parameter management: access, names, state dicts, initialization, apply, tying."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from conformance import arch as A
from conformance import strategies as hh
from conformance._protocol import Backend
from conformance.kit import oracle, stats
from conformance.kit import reach_strategies as rs
from conformance.kit.checks import Check
from conformance.kit.profiles import ALPHA_PER_EXAMPLE
from conformance.suite import _support as sup

ALL_CONTAINERS = ("sequential", "named", "block")


def chapter_rgnet() -> A.Sequential:
    """The chapter's rgnet as an architecture, for its expected names."""

    def block1() -> A.Sequential:
        return A.Sequential((A.Linear(4, 8), A.ReLU(), A.Linear(8, 4), A.ReLU()))

    block2 = A.Sequential(tuple(block1() for _ in range(4)), names=tuple(f"block {i}" for i in range(4)))
    return A.Sequential((block2, A.Linear(4, 1)))


def chapter_tied_net() -> A.Sequential:
    shared = A.Linear(8, 8)
    return A.Sequential((A.Linear(4, 8), A.ReLU(), shared, A.ReLU(), shared, A.ReLU(), A.Linear(8, 1)))


def parameter_names(backend: Backend, model: Any) -> list[str]:
    return [name for name, _ in backend.named_parameters(model)]


def state_keys(backend: Backend, model: Any) -> list[str]:
    return [key for key, _ in backend.state_dict(model)]


# --- 4.2.1 access ----------------------------------------------------------------------


@pytest.mark.clause("PARAM-LINEAR-STATE")
@given(in_width=hh.widths(), out_width=hh.widths(), bias=st.booleans())
def test_linear_state_is_weight_then_bias(
    backend: Backend, device: str, check: Check, in_width: int, out_width: int, bias: bool
) -> None:
    layer = backend.build(A.Linear(in_width, out_width, bias), device=device)
    state = [(key, tuple(backend.to_numpy(value).shape)) for key, value in backend.state_dict(layer)]
    weight = A.stored_weight_shape(A.Linear(in_width, out_width), sup.layouts(backend))  # the declared layout
    expected = [("weight", weight)] + ([("bias", (out_width,))] if bias else [])
    check.equal(state, expected, f"Linear({in_width}, {out_width}, bias={bias}) state dict (key, shape)")


@pytest.mark.clause("PARAM-TYPE")
@given(data=st.data())
def test_parameters_have_the_parameter_type(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.nets(backend.float_dtypes, leaves=("linear", "relu"), containers=ALL_CONTAINERS), label="net")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    for name, param in backend.named_parameters(model):
        check.true(backend.is_parameter(param), f"parameter {name!r}", type(param).__name__, "marked as a parameter")
    shape = tuple(data.draw(st.lists(hh.sizes(0, 4), max_size=3), label="shape of a plain tensor"))
    plain = backend.tensor(np.zeros(shape, dtype=np.float32), device)
    check.true(
        not backend.is_parameter(plain),
        f"a tensor of shape {shape} from the factory",
        "marked as a parameter",
        "a plain tensor",
    )
    if "buffers" in backend.capabilities:
        for name, constant in backend.named_buffers(backend.chapter("FixedHiddenMLP", device=device)):
            check.true(
                not backend.is_parameter(constant),
                f"FixedHiddenMLP's constant {name}",
                "marked as a parameter",
                "a constant",
            )


@pytest.mark.clause("PARAM-GRAD-NONE")
@given(data=st.data())
def test_no_gradient_before_backward(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.nets(backend.float_dtypes, containers=ALL_CONTAINERS), label="net")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    for name, param in backend.named_parameters(model):
        grad = backend.grad(param)
        check.true(grad is None, f"{name}.grad before any backward", grad, "None")


@pytest.mark.clause("PARAM-GRAD-ACCUMULATES")
@given(data=st.data())
def test_gradients_accumulate(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.mlps(backend.float_dtypes), label="net")
    x = data.draw(hh.inputs(net), label="input")
    cotangent = hh.input_array(data.draw(hh.seeds(), label="cotangent seed"), (x.shape[0], net.out_width), net.dtype)
    expected = oracle.evaluate(net.arch, x, net.dtype, cotangent, sup.layouts(backend))
    assume(not expected.ambiguous)
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    params = dict(backend.named_parameters(model))
    xt = backend.tensor(x, device)
    for passes in range(1, data.draw(hh.backward_passes(), label="backward passes") + 1):
        backend.backward(model, xt, cotangent)
        for name, grad in expected.param_grads.items():
            observed = backend.grad(params[name])
            check.true(observed is not None, f"{name}.grad after {passes} backward pass(es)", None, "a gradient")
            assert observed is not None
            tolerance = passes * expected.param_grad_tolerances[name]
            check.close(observed, passes * grad, tolerance, f"{name}.grad after {passes} backward pass(es)")


@pytest.mark.clause("PARAM-NAMES-FLAT")
@given(data=st.data())
def test_sequential_parameter_names(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(
        hh.nets(backend.float_dtypes, leaves=("linear_maybe_bias", "relu"), containers=("sequential",), max_depth=1),
        label="net",
    )
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    check.equal(parameter_names(backend, model), A.parameter_names(net.arch), f"names in {A.describe(net.arch)}")


@pytest.mark.clause("PARAM-NAMES-FLAT")
def test_chapter_net_parameter_names(backend: Backend, device: str, check: Check) -> None:
    model = backend.build(A.Sequential((A.Linear(4, 8), A.ReLU(), A.Linear(8, 1))), device=device)
    check.equal(parameter_names(backend, model), ["0.weight", "0.bias", "2.weight", "2.bias"], "net.named_parameters()")


@pytest.mark.clause("PARAM-NAMES-NESTED")
@given(data=st.data())
def test_nested_parameter_names(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(
        hh.nets(
            backend.float_dtypes,
            leaves=("linear_maybe_bias", "relu"),
            containers=ALL_CONTAINERS,
            max_depth=5,
        ),
        label="net",
    )
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    check.equal(parameter_names(backend, model), A.parameter_names(net.arch), f"names in {A.describe(net.arch)}")


@pytest.mark.clause("PARAM-NAMES-NESTED")
@pytest.mark.parametrize("block", ["rgnet", "MLP"])
def test_chapter_nested_names(backend: Backend, device: str, check: Check, block: str) -> None:
    expected = {
        "rgnet": A.parameter_names(chapter_rgnet()),
        "MLP": ["hidden.weight", "hidden.bias", "out.weight", "out.bias"],
    }[block]
    check.equal(parameter_names(backend, backend.chapter(block, device=device)), expected, f"{block}'s parameter names")


@pytest.mark.clause("PARAM-NESTED-INDEX")
def test_rgnet_nested_indexing(backend: Backend, device: str, check: Check) -> None:
    rgnet = backend.chapter("rgnet", device=device)
    layer = backend.index(backend.index(backend.index(rgnet, 0), 1), 0)
    named = dict(backend.named_parameters(rgnet))
    own = sup.own_parameters(backend, layer)
    for leaf in ("weight", "bias"):
        check.same(own[leaf], named[f"0.block 1.0.{leaf}"], f"rgnet[0][1][0].{leaf} and parameter '0.block 1.0.{leaf}'")


@st.composite
def nested_sequentials(draw: st.DrawFn, dtypes: tuple[str, ...]) -> hh.Net:
    return draw(hh.nets(dtypes, leaves=("linear", "relu"), containers=("sequential", "named"), max_depth=5))


@pytest.mark.clause("PARAM-NESTED-INDEX")
@given(data=st.data())
def test_drawn_nested_indexing(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(nested_sequentials(backend.float_dtypes), label="net")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    named = dict(backend.named_parameters(model))

    def visit(node: A.Node, module: Any, path: str, indices: str) -> None:
        for position, (name, child) in enumerate(A.children(node)):
            sub = backend.index(module, position)
            child_path = f"{path}.{name}" if path else name
            if isinstance(child, A.Linear):
                own = sup.own_parameters(backend, sub)
                for leaf in ("weight", "bias"):
                    check.same(
                        own[leaf],
                        named[f"{child_path}.{leaf}"],
                        f"net{indices}[{position}].{leaf} and '{child_path}.{leaf}'",
                    )
            visit(child, sub, child_path, f"{indices}[{position}]")

    visit(net.arch, model, "", "")


@pytest.mark.clause("STATE-DICT-KEYS")
@given(data=st.data())
def test_state_dict_keys_and_values(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(
        hh.nets(
            backend.float_dtypes,
            leaves=("linear_maybe_bias", "relu"),
            containers=ALL_CONTAINERS,
            max_depth=5,
        ),
        label="net",
    )
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    state = backend.state_dict(model)
    check.equal([k for k, _ in state], A.state_dict_keys(net.arch), f"state_dict() keys of {A.describe(net.arch)}")
    given_values = {}
    for path, node in A.walk(net.arch):
        if isinstance(node, (A.Linear, A.MyLinear)) and node.values is not None:
            given_values[f"{path}.weight" if path else "weight"] = A.stored_weight(node, sup.layouts(backend))
            if node.values.bias is not None:
                given_values[f"{path}.bias" if path else "bias"] = node.values.bias
    params = dict(backend.named_parameters(model))
    for key, value in state:
        check.bitwise(backend.bits(value), backend.bits(params[key]), f"state_dict()[{key!r}] vs the parameter")
        observed = backend.to_numpy(value)
        check.true(np.array_equal(observed, given_values[key]), f"state_dict()[{key!r}]", observed, given_values[key])


@pytest.mark.clause("STATE-DICT-KEYS")
def test_chapter_state_dict(backend: Backend, device: str, check: Check) -> None:
    net = backend.build(A.Sequential((A.Linear(4, 8), A.ReLU(), A.Linear(8, 1))), device=device)
    state = dict(backend.state_dict(net))
    bias = sup.own_parameters(backend, backend.index(net, 2))["bias"]
    check.bitwise(backend.bits(state["2.bias"]), backend.bits(bias), "net.state_dict()['2.bias'] vs net[2].bias")


_NAME_BOUNDARY = r"(?<![\w.=]){}(?![\w.])"


@pytest.mark.clause("MODULE-REPR")
@given(data=st.data())
def test_printing_shows_nesting(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.nets(backend.float_dtypes, containers=ALL_CONTAINERS, max_depth=5), label="net")
    text = backend.describe(backend.build(net.arch, dtype=net.dtype, device=device))
    check_nesting_shown(check, text, net.arch)


@pytest.mark.clause("MODULE-REPR")
def test_printing_rgnet(backend: Backend, device: str, check: Check) -> None:
    check_nesting_shown(check, backend.describe(backend.chapter("rgnet", device=device)), chapter_rgnet())


def check_nesting_shown(check: Check, text: str, root: A.Node) -> None:
    lines = text.splitlines()

    def indent(line: str) -> int:
        return len(line) - len(line.lstrip())

    def visit(node: A.Node, parent_line: int) -> int:
        cursor = parent_line
        for name, child in A.children(node):
            pattern = re.compile(_NAME_BOUNDARY.format(re.escape(name)))
            found = next((i for i in range(cursor + 1, len(lines)) if pattern.search(lines[i])), None)
            if found is None:
                raise check.fail(f"printed child {name!r} after line {cursor + 1}", text, f"a line naming {name!r}")
            check.true(
                indent(lines[found]) > indent(lines[parent_line]),
                f"indentation of child {name!r} (line {found + 1}) vs its parent (line {parent_line + 1})",
                f"{indent(lines[found])} spaces vs {indent(lines[parent_line])}",
                "deeper than the parent",
            )
            cursor = visit(child, found)
        return cursor

    visit(root, 0)


# --- 4.2.2 initialization -----------------------------------------------------------------


@st.composite
def large_layers(draw: st.DrawFn, min_elements: int = 32768) -> tuple[int, int]:
    """(fan_in, fan_out) with enough weights for a DKW test to see a 20% error in scale."""
    fan_in = draw(hh.sizes(64, 1024), label="fan_in")
    low = -(-min_elements // fan_in)
    fan_out = draw(hh.sizes(max(low, 16), max(low, 16) + 256), label="fan_out")
    return fan_in, fan_out


def _fresh_weight(
    backend: Backend, device: str, fan_in: int, fan_out: int, seed: int, dtype: str = "float32"
) -> tuple[Any, Any]:
    backend.manual_seed(seed % 2**31)
    layer = backend.build(A.Linear(fan_in, fan_out), dtype=dtype, device=device)
    return layer, sup.own_parameters(backend, layer)["weight"]


def _dkw(check: Check, samples: np.ndarray, cdf: Any, what: str, alpha: float = ALPHA_PER_EXAMPLE) -> None:
    verdict = stats.dkw_test(samples, cdf, alpha)
    check.true(
        verdict.passed,
        f"{what}: DKW distance to the expected distribution",
        str(verdict),
        f"<= {verdict.threshold:.4g}",
    )


def _normal_target(
    backend: Backend, device: str, data: st.DataObject, shape: tuple[int, int], seed: int, dtype: str
) -> tuple[Any, str]:
    """A fresh parameter of ``dtype`` to fill: a 2-D weight of ``shape``, or a 1-D bias of as many elements."""
    if data.draw(st.booleans(), label="a 1-D tensor (a bias), not a weight"):
        layer, _ = _fresh_weight(backend, device, 1, shape[0] * shape[1], seed, dtype)
        return sup.own_parameters(backend, layer)["bias"], "b"
    return _fresh_weight(backend, device, *shape, seed, dtype)[1], "w"


def _check_normal(backend: Backend, check: Check, target: Any, what: str, mean: float, std: float, dtype: str) -> None:
    backend.init_(target, "normal", mean=mean, std=std)
    values = backend.to_numpy(target).astype(np.float64)
    expected = stats.RoundedNormal(mean, std, dtype)
    _dkw(check, values, expected, f"normal_({what}, mean={mean!r}, std={std!r}) in {dtype}")


@pytest.mark.clause("INIT-NORMAL")
@given(
    data=st.data(),
    shape=large_layers(),
    seed=hh.seeds(),
)
def test_normal_init(
    backend: Backend, device: str, check: Check, data: st.DataObject, shape: tuple[int, int], seed: int
) -> None:
    """False alarm <= 1e-13 per example (DKW), so < 1e-9 per run; a 2-D weight or a 1-D bias, every float
    dtype, half precision included: the samples are compared with N(mean, std^2) rounded to the dtype
    (std 0: mean itself; a coarse normal, of a std of a few units in the last place, shows a fill's rounding)."""
    dtype = data.draw(rs.init_dtypes(backend.float_dtypes), label="dtype")
    mean, std = data.draw(rs.ordinary_normal_arguments(dtype), label="(mean, std)")
    target, what = _normal_target(backend, device, data, shape, seed, dtype)
    _check_normal(backend, check, target, what, mean, std, dtype)


@pytest.mark.clause("INIT-NORMAL-ARGUMENTS")
@given(data=st.data(), shape=large_layers(), seed=hh.seeds())
def test_normal_init_takes_every_argument(
    backend: Backend, device: str, check: Check, data: st.DataObject, shape: tuple[int, int], seed: int
) -> None:
    """The DKW check of INIT-NORMAL, with arguments at the dtype's ends: a subnormal or huge std, a huge mean."""
    dtype = data.draw(rs.init_dtypes(backend.float_dtypes), label="dtype")
    mean, std = data.draw(rs.normal_arguments(dtype), label="(mean, std)")
    target, what = _normal_target(backend, device, data, shape, seed, dtype)
    _check_normal(backend, check, target, what, mean, std, dtype)


@pytest.mark.clause("INIT-ZEROS")
@given(fan_in=hh.widths(64), fan_out=hh.widths(64), seed=hh.seeds())
def test_zeros_init(backend: Backend, device: str, check: Check, fan_in: int, fan_out: int, seed: int) -> None:
    layer, weight = _fresh_weight(backend, device, fan_in, fan_out, seed)
    bias = sup.own_parameters(backend, layer)["bias"]
    for name, param in (("weight", weight), ("bias", bias)):
        backend.init_(param, "zeros")
        values = backend.to_numpy(param)
        check.true(bool(np.all(values == 0)), f"{name} after zeros_", values, "all zeros")


@pytest.mark.clause("INIT-CONSTANT")
@given(fan_in=hh.widths(64), fan_out=hh.widths(64), seed=hh.seeds(), data=st.data())
def test_constant_init(
    backend: Backend, device: str, check: Check, fan_in: int, fan_out: int, seed: int, data: st.DataObject
) -> None:
    """Every float dtype, half precision included: in float64 the value is kept to the last bit, in the others
    rounded once. In each example an ordinary value (within +-1e6) and a special one (a zero, the dtype's
    largest finite value, its smallest normal and subnormal, 2**31, 2**53, or any finite value)."""
    dtype = data.draw(rs.init_dtypes(backend.float_dtypes), label="dtype")
    layer, weight = _fresh_weight(backend, device, fan_in, fan_out, seed, dtype)
    arguments = (
        data.draw(rs.ordinary_constants(dtype), label="value"),
        data.draw(rs.special_constants(dtype), label="special value"),
    )
    for value in arguments:
        expected = rs.constant_in(value, dtype)
        for name, param in (("weight", weight), ("bias", sup.own_parameters(backend, layer)["bias"])):
            backend.init_(param, "constant", value=value)
            values = backend.to_numpy(param)
            check.true(
                bool(np.all(values == expected)),
                f"{dtype} {name} after constant_({name}, {value!r})",
                values,
                f"all {expected!r}",
            )


@pytest.mark.clause("INIT-UNIFORM")
@given(
    shape=large_layers(), seed=hh.seeds(), bounds=st.sampled_from([(0.0, 1.0), (-10.0, 10.0), (-0.5, 2.0), (5.0, 5.5)])
)
def test_uniform_init(
    backend: Backend, device: str, check: Check, shape: tuple[int, int], seed: int, bounds: tuple[float, float]
) -> None:
    """False alarm <= 1e-13 per example (DKW)."""
    a, b = bounds
    _, weight = _fresh_weight(backend, device, *shape, seed)
    backend.init_(weight, "uniform", a=a, b=b)
    values = backend.to_numpy(weight).astype(np.float64)
    check.true(
        bool(values.min() >= a and values.max() <= b),
        f"range of uniform_(w, {a}, {b})",
        (values.min(), values.max()),
        f"within [{a}, {b}]",
    )
    _dkw(check, values, stats.uniform_cdf(a, b), f"uniform_(w, {a}, {b})")


@pytest.mark.clause("INIT-XAVIER-UNIFORM")
@given(shape=large_layers(), seed=hh.seeds(), gain=st.sampled_from([1.0, 2**0.5, 0.5]))
def test_xavier_uniform_init(
    backend: Backend, device: str, check: Check, shape: tuple[int, int], seed: int, gain: float
) -> None:
    """False alarm <= 1e-13 per example (DKW)."""
    fan_in, fan_out = shape
    bound = gain * np.sqrt(6.0 / (fan_in + fan_out))
    _, weight = _fresh_weight(backend, device, fan_in, fan_out, seed)
    backend.init_(weight, "xavier_uniform", gain=gain)
    values = backend.to_numpy(weight).astype(np.float64)
    slack = bound * 4 * np.finfo(np.float32).eps
    check.true(
        bool(np.abs(values).max() <= bound + slack),
        f"largest |w| after xavier_uniform_ (fan_in={fan_in}, fan_out={fan_out}, gain={gain})",
        float(np.abs(values).max()),
        f"<= {bound:.6g}",
    )
    _dkw(check, values, stats.uniform_cdf(-bound, bound), f"xavier_uniform_ bound {bound:.6g}")


@pytest.mark.clause("INIT-CUSTOM")
@given(shape=large_layers(), seed=hh.seeds())
def test_my_init(backend: Backend, device: str, check: Check, shape: tuple[int, int], seed: int) -> None:
    """Four tests at 1e-13 / 4 each: false alarm <= 1e-13 per example in total."""
    layer, weight = _fresh_weight(backend, device, *shape, seed)
    backend.chapter_init("my_init")(layer)
    w = backend.to_numpy(weight).astype(np.float64)
    nonzero = np.abs(w[w != 0])
    check.true(
        bool(np.all((nonzero >= 5) & (nonzero <= 10))),
        "magnitudes of the non-zero weights",
        (nonzero.min(initial=5), nonzero.max(initial=5)),
        "within [5, 10]",
    )
    alpha = ALPHA_PER_EXAMPLE / 4
    for what, count, p in (
        ("zeros", int((w == 0).sum()), 0.5),
        ("positives", int((w > 0).sum()), 0.25),
        ("negatives", int((w < 0).sum()), 0.25),
    ):
        verdict = stats.hoeffding_test(count, w.size, p, alpha)
        check.true(
            verdict.passed, f"fraction of {what} after my_init ({count} of {w.size})", str(verdict), f"close to {p}"
        )
    _dkw(check, nonzero, stats.uniform_cdf(5.0, 10.0), "non-zero magnitudes after my_init", alpha)


@pytest.mark.clause("INIT-DEFAULT")
@given(fan_in=hh.widths(64), fan_out=hh.widths(64), seed=hh.seeds())
def test_default_init_breaks_symmetry(
    backend: Backend, device: str, check: Check, fan_in: int, fan_out: int, seed: int
) -> None:
    layer, weight = _fresh_weight(backend, device, fan_in, fan_out, seed)
    for name, param in sup.own_parameters(backend, layer).items():
        values = backend.to_numpy(param)
        check.true(
            bool(np.all(np.isfinite(values))), f"default {name} of Linear({fan_in}, {fan_out})", values, "finite"
        )
    w = backend.to_numpy(weight)
    if w.size > 1:
        check.true(bool(np.unique(w).size > 1), f"default weight of Linear({fan_in}, {fan_out})", w, "not all equal")


def _visits(backend: Backend, model: Any) -> list[Any]:
    visited: list[Any] = []
    backend.apply(model, visited.append)
    return visited


@pytest.mark.clause("APPLY-VISITS-ONCE")
@given(data=st.data())
def test_apply_visits_each_module_once(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.nets(backend.float_dtypes, containers=ALL_CONTAINERS, max_depth=5), label="net")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    modules = sup.modules_by_node(backend, model, net.arch, check)
    expected = [modules[id(node)] for node in A.modules_post_order(net.arch)]
    visited = _visits(backend, model)
    counts = {id(m): sum(v is m for v in visited) for m in expected}
    wrong = {type(m).__name__ + f"@{id(m):#x}": counts[id(m)] for m in expected if counts[id(m)] != 1}
    check.equal(wrong, {}, f"modules of {A.describe(net.arch)} not visited exactly once (module: visits)")
    check.equal(len(visited), len(expected), "number of apply() calls")


@pytest.mark.clause("APPLY-VISITS-ONCE")
def test_apply_on_tied_net(backend: Backend, device: str, check: Check) -> None:
    visited = _visits(backend, backend.chapter("tied_net", device=device))
    check.equal(len(visited), 7, "apply() calls on the tied net (6 distinct layers and the root)")


@pytest.mark.clause("APPLY-POST-ORDER")
@given(data=st.data())
def test_apply_visits_children_first(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.nets(backend.float_dtypes, containers=ALL_CONTAINERS, max_depth=5), label="net")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    modules = sup.modules_by_node(backend, model, net.arch, check)
    expected = [modules[id(node)] for node in A.modules_post_order(net.arch)]
    visited = _visits(backend, model)  # kept: handles are compared with `is` only while both are held
    positions = [next((i for i, m in enumerate(expected) if m is v), -1) for v in visited]
    check.equal(
        positions,
        list(range(len(expected))),
        f"apply() order on {A.describe(net.arch)} (post-order position of each visited module; -1: not one of them)",
    )


def _snapshot(backend: Backend, model: Any) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    """Every parameter's bits by its name: a handle the suite does not keep promises no identity."""
    return {name: backend.bits(p) for name, p in backend.named_parameters(model)}


@pytest.mark.clause("INIT-PER-LAYER")
@given(data=st.data())
def test_init_one_layer_only(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.nets(backend.float_dtypes, containers=ALL_CONTAINERS, max_depth=3), label="net")
    leaves = sup.linear_leaves(net.arch)
    assume(leaves)
    path, target = data.draw(st.sampled_from(leaves), label="layer to initialize")
    init = data.draw(st.sampled_from(["init_constant", "init_42", "init_normal"]), label="initializer")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    layer = sup.modules_by_node(backend, model, net.arch, check)[id(target)]
    before = _snapshot(backend, model)
    backend.manual_seed(0)
    backend.apply(layer, backend.chapter_init(init))
    own = sup.own_parameters(backend, layer)
    params = backend.named_parameters(model)  # held together with `own`, so `is` compares live handles
    targets = {name for name, p in params if any(p is q for q in own.values())}
    after = _snapshot(backend, model)
    check.equal(sorted(after), sorted(before), f"parameter names of the net after {path}.apply({init})")
    for name, bits in before.items():
        if name not in targets and name in after:
            check.bitwise(after[name], bits, f"parameter {name!r}, outside {path!r}, after {path}.apply({init})")
    weight = backend.to_numpy(own["weight"])
    if init == "init_42":
        check.true(bool(np.all(weight == 42)), f"{path}.weight after apply(init_42)", weight, "all 42")
    elif init == "init_constant":
        check.true(bool(np.all(weight == 1)), f"{path}.weight after apply(init_constant)", weight, "all 1")
    if init in ("init_constant", "init_normal") and "bias" in own:
        bias = backend.to_numpy(own["bias"])
        check.true(bool(np.all(bias == 0)), f"{path}.bias after apply({init})", bias, "all 0")


@pytest.mark.clause("PARAM-DIRECT-SET")
@given(data=st.data())
def test_direct_assignment(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.mlps(backend.float_dtypes), label="net")
    x = data.draw(hh.inputs(net), label="input")
    assert isinstance(net.arch, A.Block)
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    hidden = dict(net.arch.children)["hidden"]
    assert isinstance(hidden, A.Linear) and hidden.values is not None
    layer = sup.modules_by_node(backend, model, net.arch, check)[id(hidden)]
    weight = sup.own_parameters(backend, layer)["weight"]
    new = backend.to_numpy(weight) + np.asarray(1, dtype=net.dtype)  # data[:] += 1
    new[0, 0] = 42  # data[0, 0] = 42
    backend.assign(weight, new)
    check.same(sup.own_parameters(backend, layer)["weight"], weight, "hidden.weight after the assignment")
    check.true(
        np.array_equal(sup.state_values(backend, model)["hidden.weight"], new),
        "state_dict()['hidden.weight']",
        "old values",
        "the assigned values",
    )
    arch = sup.replace(
        net.arch, hidden, sup.with_values(hidden, sup.chapter_weight(backend, "Linear", new), hidden.values.bias)
    )
    expected = oracle.evaluate(arch, x, net.dtype)
    out = backend.to_numpy(backend.forward(model, backend.tensor(x, device)))
    check.close(out, expected.output, expected.tolerance, "output after the assignment")


# --- 4.2.3 tying ---------------------------------------------------------------------------


@pytest.mark.clause("TIE-IDENTITY")
def test_chapter_tied_net_identity(backend: Backend, device: str, check: Check) -> None:
    net = backend.chapter("tied_net", device=device)
    check_tied_positions(backend, check, net, 2, 4)


def check_tied_positions(backend: Backend, check: Check, net: Any, i: int, j: int) -> None:
    first, second = (sup.own_parameters(backend, backend.index(net, k)) for k in (i, j))
    for leaf in first:
        check.same(first[leaf], second[leaf], f"net[{i}].{leaf} and net[{j}].{leaf}")
    if "mutable-parameters" in backend.capabilities:
        value = backend.to_numpy(first["weight"])
        value[0, 0] = 100.0
        backend.assign(first["weight"], value)
        seen = backend.to_numpy(second["weight"])
        check.equal(float(seen[0, 0]), 100.0, f"net[{j}].weight[0, 0] after writing 100 through net[{i}]")


@pytest.mark.clause("TIE-IDENTITY")
@given(data=st.data())
def test_drawn_tied_identity(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net, positions = data.draw(hh.tied_sequences(backend.float_dtypes), label="tied net")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    for later in positions[1:]:
        check_tied_positions(backend, check, model, positions[0], later)


@pytest.mark.clause("TIE-PARAMS-ONCE")
def test_chapter_tied_net_lists_six(backend: Backend, device: str, check: Check) -> None:
    net = backend.chapter("tied_net", device=device)
    check.equal(parameter_names(backend, net), A.parameter_names(chapter_tied_net()), "tied net's named_parameters()")


@pytest.mark.clause("TIE-PARAMS-ONCE")
@given(data=st.data())
def test_drawn_tied_params_once(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.nets(backend.float_dtypes, containers=ALL_CONTAINERS, ties="any", max_depth=5), label="net")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    check.equal(
        parameter_names(backend, model), A.parameter_names(net.arch), f"named_parameters() of {A.describe(net.arch)}"
    )


@pytest.mark.clause("TIE-STATE-DICT-ALIASES")
def test_chapter_tied_net_has_eight_keys(backend: Backend, device: str, check: Check) -> None:
    net = backend.chapter("tied_net", device=device)
    check.equal(state_keys(backend, net), A.state_dict_keys(chapter_tied_net()), "tied net's state_dict() keys")


@pytest.mark.clause("TIE-STATE-DICT-ALIASES")
@given(data=st.data())
def test_drawn_aliases(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.nets(backend.float_dtypes, containers=ALL_CONTAINERS, ties="any", max_depth=5), label="net")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    state = dict(backend.state_dict(model))
    check.equal(list(state), A.state_dict_keys(net.arch), f"state_dict() keys of {A.describe(net.arch)}")
    first_path: dict[int, str] = {}
    for path, node in A.walk(net.arch):
        first = first_path.setdefault(id(node), path)
        if first != path:
            for leaf, _ in A.leaf_parameters(node, sup.layouts(backend)):
                check.bitwise(
                    backend.bits(state[f"{path}.{leaf}"]),
                    backend.bits(state[f"{first}.{leaf}"]),
                    f"alias {path}.{leaf} vs {first}.{leaf}",
                )


def _tied_and_untied_gradients(
    backend: Backend, device: str, data: st.DataObject, net: hh.Net
) -> tuple[dict[str, np.ndarray], Callable[[list[str]], tuple[np.ndarray, np.ndarray]]]:
    """The tied net's parameter gradients, and a function summing the untied copy's over given names.

    The sum comes with its rounding bound: twice the oracle's bounds of the summed uses.
    """
    x = data.draw(hh.inputs(net), label="input")
    cotangent = hh.input_array(data.draw(hh.seeds(), label="cotangent seed"), (x.shape[0], net.out_width), net.dtype)
    untied = hh.untie(net.arch, sup.layouts(backend))  # each use with the weight it computes with
    expected = oracle.evaluate(untied, x, net.dtype, cotangent, sup.layouts(backend))
    assume(not expected.ambiguous)
    xt = backend.tensor(x, device)
    tied_grads = backend.gradients(backend.build(net.arch, dtype=net.dtype, device=device), xt, cotangent).params
    untied_grads = backend.gradients(backend.build(untied, dtype=net.dtype, device=device), xt, cotangent).params

    def sum_over(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        total = np.sum([untied_grads[n].astype(np.float64) for n in names], axis=0)
        return total, np.sum([expected.param_grad_tolerances[n] for n in names], axis=0) * 2

    return tied_grads, sum_over


@pytest.mark.clause("TIE-GRAD-SUM")
@given(data=st.data())
def test_tied_gradient_is_sum_of_uses(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(
        hh.tied_nets(backend.float_dtypes, leaves=("linear", "relu"), containers=ALL_CONTAINERS, max_depth=3),
        label="net with a tie",
    )
    tied_grads, sum_over = _tied_and_untied_gradients(backend, device, data, net)
    for paths in hh.tied_linears(net.arch).values():
        for leaf in ("weight", "bias"):
            names = [f"{p}.{leaf}" for p in paths]
            total, tolerance = sum_over(names)
            check.close(tied_grads[names[0]], total, tolerance, f"gradient of tied {names[0]} vs the sum over {names}")


@pytest.mark.clause("TIE-DTYPE-CONVERSION")
@given(data=st.data())
def test_dtype_conversion_keeps_ties(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    """Conversions in a row (1 to 3, then back to the dtype the net was built in), each one checked: a
    framework that keeps unrounded "master" values and brings them back on the way home is caught."""
    net = data.draw(hh.tied_nets(backend.float_dtypes, containers=ALL_CONTAINERS), label="tied net")
    chain = data.draw(rs.conversion_chains(backend.float_dtypes, net.dtype), label="converted to, in turn")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    before = backend.named_parameters(model)
    values = {name: backend.to_numpy(p).copy() for name, p in before}
    route = [net.dtype]
    for target in chain:
        route.append(target)
        steps = " -> ".join(route)
        returned = backend.module_to_dtype(model, target)
        check.same(returned, model, f"what converting to {target} returns ({steps})")
        after = backend.named_parameters(model)
        check.equal(parameter_names(backend, model), [n for n, _ in before], f"parameter names after {steps}")
        for (name, old), (_, new) in zip(before, after, strict=False):
            check.same(new, old, f"{name} after converting {steps}")
            check.equal(backend.bits(new)[0], target, f"dtype of {name} after {steps}")
            values[name] = rs.rounded_to(values[name], target)
            observed = backend.to_numpy(new)
            check.true(bool(np.array_equal(observed, values[name])), f"{name} after {steps}", observed, values[name])
        for paths in hh.tied_linears(net.arch).values():
            held = [sup.own_parameters(backend, _resolve(backend, model, path))["weight"] for path in paths]
            for path, param in zip(paths[1:], held[1:], strict=True):
                check.same(param, held[0], f"{path}.weight and {paths[0]}.weight after {steps}")


def _resolve(backend: Backend, model: Any, path: str) -> Any:
    """The submodule at dotted registration ``path``, found through ``named_children``."""
    module = model
    for part in path.split(".") if path else []:
        module = dict(backend.named_children(module))[part]
    return module


# --- 4.2.3 tying at the parameter level: one weight tensor held by layers of different types -----


def _tied_weights(backend: Backend, model: Any, paths: list[str]) -> list[Any]:
    """The weight each layer at ``paths`` holds, read through the layer itself."""
    return [sup.own_parameters(backend, _resolve(backend, model, path))["weight"] for path in paths]


@pytest.mark.clause("TIE-PARAM-IDENTITY")
@given(data=st.data())
def test_param_tie_is_one_parameter(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.param_tied_nets(backend.float_dtypes), label="net sharing one weight across layer types")
    model = backend.build(net.arch, dtype=net.dtype, device=device)
    shown = A.describe(net.arch)
    ((_, paths),) = A.weight_uses(
        net.arch
    ).items()  # 3 or more uses, both layer types (tests/kit/test_strategies_reach.py)
    held = _tied_weights(backend, model, paths)
    for path, param in zip(paths[1:], held[1:], strict=True):
        check.same(param, held[0], f"{path}.weight and {paths[0]}.weight of {shown}")
    listed = backend.named_parameters(model)
    check.equal([name for name, _ in listed], A.parameter_names(net.arch), f"named_parameters() of {shown}")
    times = [name for name, param in listed if param is held[0]]
    check.equal(times, [f"{paths[0]}.weight"], f"entries of named_parameters() that are the shared weight of {shown}")
    state = dict(backend.state_dict(model))
    check.equal(list(state), A.state_dict_keys(net.arch), f"state_dict() keys of {shown}")
    for path in paths[1:]:
        check.bitwise(
            backend.bits(state[f"{path}.weight"]),
            backend.bits(state[f"{paths[0]}.weight"]),
            f"state_dict() alias {path}.weight vs {paths[0]}.weight of {shown}",
        )
    if "mutable-parameters" in backend.capabilities:
        at = data.draw(st.sampled_from(range(len(paths))), label="use written through")
        value = backend.to_numpy(held[at]).copy()
        value[0, 0] = 100.0
        backend.assign(held[at], value)
        for path in paths:
            seen = float(backend.to_numpy(dict(backend.state_dict(model))[f"{path}.weight"])[0, 0])
            check.equal(seen, 100.0, f"{path}.weight[0, 0] after writing 100 through {paths[at]}.weight of {shown}")


@pytest.mark.clause("TIE-PARAM-GRAD-SUM")
@given(data=st.data())
def test_param_tie_gradient_is_sum_of_uses(backend: Backend, device: str, check: Check, data: st.DataObject) -> None:
    net = data.draw(hh.param_tied_nets(backend.float_dtypes), label="net sharing one weight across layer types")
    ((_, paths),) = A.weight_uses(net.arch).items()
    tied_grads, sum_over = _tied_and_untied_gradients(backend, device, data, net)
    names = [f"{p}.weight" for p in paths]
    # every use's term is in the layout the one array is stored in (the backend's declared layouts), so they add
    total, tolerance = sum_over(names)
    check.close(
        tied_grads[names[0]],
        total,
        tolerance,
        f"gradient of {names[0]}, one weight used at {len(names)} positions of {A.describe(net.arch)}, "
        f"vs the sum over {names}",
    )
