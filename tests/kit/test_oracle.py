"""The suite's float64 oracle: its gradients, its rounding bounds, its argument checks."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from conformance import arch as A
from conformance import strategies as hh
from conformance.kit import oracle

ALL_LEAVES = ("linear", "linear_maybe_bias", "relu", "centered", "my_linear")
ALL_CONTAINERS = ("sequential", "named", "block", "my_sequential")
STEPS = (1e-4, 1e-6, 1e-8)


def _nets(dtype: str) -> st.SearchStrategy[hh.Net]:
    # Narrow nets only: past a hundred ReLUs, kinks whose second differences cancel fool the finite-difference
    # check's kink test (the oracle itself is checked on wide nets by every backend's BLOCK-NESTING run).
    return hh.nets(
        (dtype,), max_depth=3, max_width=6, ties="any", leaves=ALL_LEAVES, containers=ALL_CONTAINERS, wide=False
    )


#: The layouts a backend can declare: the chapter's (PyTorch's), Flax's and Keras' (every kernel (in, out)),
#: and the reverse of the chapter's (a MyLinear stored (units, in_units)).
LAYOUTS = {
    "chapter": dict(A.CHAPTER_LAYOUTS),
    "all in_out": dict.fromkeys(A.LAYER_KINDS, A.IN_OUT),
    "all out_in": dict.fromkeys(A.LAYER_KINDS, A.OUT_IN),
}


def _objective(
    root: A.Node, x: np.ndarray, cotangent: np.ndarray, layouts: Mapping[str, str] = A.CHAPTER_LAYOUTS
) -> float:
    return float(np.sum(oracle.evaluate(root, x, "float64", layouts=layouts).output * cotangent))


def _parameters(root: A.Node) -> dict[str, np.ndarray]:
    """Each distinct parameter array by its ``named_parameters`` name (arrays are the nodes' own: mutable)."""
    arrays: dict[str, np.ndarray] = {}
    seen: set[int] = set()
    for path, node in A.walk(root):
        if id(node) in seen or not isinstance(node, A.Linear | A.MyLinear):
            continue
        seen.add(id(node))
        assert node.values is not None
        arrays[f"{path}.weight" if path else "weight"] = node.values.weight
        if node.values.bias is not None:
            arrays[f"{path}.bias" if path else "bias"] = node.values.bias
    return arrays


def _central_difference(evaluate_at: dict[float, float], step: float) -> tuple[float, float]:
    """(first derivative, second difference) from f(-step), f(0), f(+step)."""
    plus, zero, minus = evaluate_at[step], evaluate_at[0.0], evaluate_at[-step]
    return (plus - minus) / (2 * step), plus + minus - 2 * zero


@given(data=st.data())
def test_gradients_match_finite_differences_of_the_forward(data: st.DataObject) -> None:
    layouts = LAYOUTS[data.draw(st.sampled_from(sorted(LAYOUTS)), label="declared layouts")]
    tied = data.draw(st.booleans(), label="a weight shared across layer types")
    net = data.draw(hh.param_tied_nets(("float64",)) if tied else _nets("float64"), label="net")
    x = data.draw(hh.inputs(net, max_batch=4), label="input").astype(np.float64)
    seed = data.draw(hh.seeds(), label="direction seed")
    rng = np.random.default_rng(seed)
    out_shape = (x.shape[0], net.out_width)
    cotangent = rng.standard_normal(out_shape)
    result = oracle.evaluate(net.arch, x, "float64", cotangent, layouts)
    assert result.input_grad is not None
    names = A.parameter_names(net.arch)
    assert sorted(result.param_grads) == sorted(names), f"observed grads for {sorted(result.param_grads)}; {names}"
    # |f| and its rounding are bounded by the computation on absolute values.
    size = float(np.sum(np.abs(cotangent) * result.magnitude)) + 1.0

    def check(what: str, array: np.ndarray, claimed_grad: np.ndarray) -> None:
        direction = rng.standard_normal(array.shape)
        claimed = float(np.sum(claimed_grad * direction))
        saved = array.copy()
        for step in (s * (1.0 + float(np.max(np.abs(saved)))) for s in STEPS):
            values = {}
            for t in (step, 0.0, -step):
                array[...] = saved + t * direction
                values[t] = _objective(net.arch, x, cotangent, layouts)  # x may be the array moved
            array[...] = saved
            derivative, curvature = _central_difference(values, step)
            if abs(curvature) <= 1e-10 * size:  # no ReLU kink between the points, or one of little effect
                # A kink at distance d inside a step bends f by (slope change) * d = curvature and moves the
                # central difference by curvature / (2 step): allowed twice over, so a kink near the step's
                # end (tiny curvature, not zero) is never read as a wrong gradient.
                tolerance = (
                    1e-6 * float(np.sum(np.abs(claimed_grad) * np.abs(direction)))
                    + 1e-12 * size / step
                    + abs(curvature) / step
                )
                assert abs(derivative - claimed) <= tolerance, (
                    f"{what}: observed directional derivative {claimed!r} from the oracle; expected "
                    f"{derivative!r} from finite differences (step {step:.1e}) within {tolerance:.3g}"
                )
                return
        assume(False)  # a kink within every step: finite differences say nothing here

    check("input gradient", x, result.input_grad)
    arrays = _parameters(net.arch)
    kinds = _weight_kinds(net.arch)
    for name in names:
        # The oracle gives a weight's gradient in its declared layout; the values it moves are in the chapter's.
        grad = result.param_grads[name]
        claimed = A.reoriented(kinds[name], grad, layouts) if name in kinds else grad
        check(f"gradient of {name}", arrays[name], claimed)


def _weight_kinds(root: A.Node) -> dict[str, str]:
    """The layer kind owning each weight, by its ``named_parameters`` name."""
    kinds: dict[str, str] = {}
    for path, node in A.walk(root):
        if isinstance(node, A.Linear | A.MyLinear):
            owner = node if node.weight_of is None else node.weight_of
            kinds.setdefault(f"{path}.weight" if path else "weight", type(owner).__name__)
    return kinds


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_a_tie_computes_each_use_in_its_own_layout(name: str) -> None:
    """One stored array S: a use computes X @ S where its type stores (in, out), X @ S.T where (out, in)."""
    layouts = LAYOUTS[name]
    rng = np.random.default_rng(0)
    chapter = rng.standard_normal((3, 3))
    owner = A.Linear(3, 3, False, A.LinearValues(chapter, None))
    user = A.MyLinear(3, 3, A.LinearValues(chapter, np.zeros(3)), weight_of=owner)
    x = rng.standard_normal((2, 3))
    stored = chapter if layouts["Linear"] == A.OUT_IN else chapter.T
    expected_owner = x @ (stored.T if layouts["Linear"] == A.OUT_IN else stored)
    for root, expected in (
        (owner, expected_owner),
        (
            A.Sequential((owner, user)),
            np.maximum(expected_owner @ (stored.T if layouts["MyLinear"] == A.OUT_IN else stored), 0),
        ),
    ):
        observed = oracle.evaluate(root, x, "float64", layouts=layouts).output
        assert np.allclose(observed, expected), f"observed {observed}; expected {expected} under {name} layouts"


def test_layouts_are_checked() -> None:
    x = np.zeros((1, 2), np.float32)
    net = A.Linear(2, 2, True, A.LinearValues(np.eye(2, dtype=np.float32), np.zeros(2, np.float32)))
    with pytest.raises(ValueError, match="Dense"):
        oracle.evaluate(net, x, "float32", layouts={"Dense": A.IN_OUT})
    with pytest.raises(ValueError, match="transposed"):
        oracle.evaluate(net, x, "float32", layouts={"Linear": "transposed"})


@given(data=st.data())
def test_tolerance_is_zero_only_where_the_magnitude_is_zero(data: st.DataObject) -> None:
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    net = data.draw(_nets(dtype), label="net")
    x = data.draw(hh.inputs(net, max_batch=4), label="input")
    cotangent = hh.input_array(data.draw(hh.seeds(), label="cotangent seed"), (x.shape[0], net.out_width), dtype)
    result = oracle.evaluate(net.arch, x, dtype, cotangent)
    assert np.all(result.tolerance >= 0), f"observed negative output tolerances {result.tolerance.min()}"
    zero_tol, zero_mag = result.tolerance == 0, result.magnitude == 0
    assert np.array_equal(zero_tol, zero_mag), (
        f"observed tolerance 0 at {np.argwhere(zero_tol & ~zero_mag).tolist()} with nonzero magnitude and "
        f"nonzero tolerance at {np.argwhere(zero_mag & ~zero_tol).tolist()} with zero magnitude; expected neither"
    )
    slack = 1 + 1e-12
    assert np.all(np.abs(result.output) <= result.magnitude * slack), "observed |output| above its magnitude"
    grads = {"input": (result.input_grad, result.input_grad_tolerance)}
    grads |= {n: (g, result.param_grad_tolerances[n]) for n, g in result.param_grads.items()}
    for name, (grad, tolerance) in grads.items():
        assert grad is not None and tolerance is not None
        assert np.all(tolerance >= 0), f"{name}: observed a negative tolerance {tolerance.min()}"
        unbounded = (tolerance == 0) & (grad != 0)
        assert not unbounded.any(), f"{name}: observed tolerance 0 at nonzero gradient entries {np.argwhere(unbounded)}"


def _forward_f32(node: A.Node, x: np.ndarray) -> np.ndarray:
    """The architecture computed in float32 by NumPy: one more rounding order the bound must cover."""
    y: np.ndarray
    if isinstance(node, A.Linear):
        assert node.values is not None
        y = x @ node.values.weight.T
        return y if node.values.bias is None else y + node.values.bias
    if isinstance(node, A.MyLinear):
        assert node.values is not None and node.values.bias is not None
        y = np.maximum(x @ node.values.weight + node.values.bias, np.float32(0))
        return y
    if isinstance(node, A.ReLU):
        y = np.maximum(x, np.float32(0))
        return y
    if isinstance(node, A.Centered):
        y = x - x.mean(dtype=np.float32)
        return y
    for _, child in A.children(node):
        x = _forward_f32(child, x)
    return x


@given(data=st.data())
def test_float32_rounding_stays_within_the_tolerance(data: st.DataObject) -> None:
    net = data.draw(_nets("float32"), label="net")
    x = data.draw(hh.inputs(net, max_batch=4), label="input")
    result = oracle.evaluate(net.arch, x, "float32")
    assume(not result.ambiguous)  # a ReLU input within rounding of 0 may flip legitimately
    observed = _forward_f32(net.arch, x).astype(np.float64)
    assert observed.dtype == np.float64
    error = np.abs(observed - result.output)
    worst = np.unravel_index(int(np.argmax(error - result.tolerance)), error.shape)
    assert np.all(error <= result.tolerance), (
        f"observed float32 error {error[worst]:.3g} at {worst}; expected within the oracle's "
        f"tolerance {result.tolerance[worst]:.3g}"
    )


@pytest.mark.parametrize(
    ("dtype", "limit"), [("float32", 2**23), ("float64", 2**52), ("float16", 2**10), ("bfloat16", 2**7)]
)
def test_gamma_raises_for_absurd_term_counts(dtype: str, limit: int) -> None:
    u = oracle.unit_roundoff(dtype)
    below = oracle.gamma(limit - 1, dtype)
    assert math.isclose(below, (limit - 1) * u / (1 - (limit - 1) * u)), f"observed gamma {below}"
    for terms in (limit, 10 * limit, 10**18):
        with pytest.raises(ValueError, match=str(terms)):
            oracle.gamma(terms, dtype)


@pytest.mark.parametrize("terms", [-1, -1000])
def test_gamma_raises_for_negative_term_counts(terms: int) -> None:
    with pytest.raises(ValueError, match=str(terms)):
        oracle.gamma(terms, "float32")


def test_gamma_grows_with_the_term_count() -> None:
    values = [oracle.gamma(n, "float32") for n in (0, 1, 10, 1000, 10**6)]
    assert values[0] == 0.0, f"observed gamma(0) = {values[0]}; expected 0"
    assert values == sorted(values) and len(set(values)) == len(values), f"observed {values}; expected increasing"


def test_oracle_refuses_a_layer_without_values() -> None:
    with pytest.raises(ValueError, match="values"):
        oracle.evaluate(A.Sequential((A.Linear(2, 2),)), np.zeros((1, 2), np.float32), "float32")
