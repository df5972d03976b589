"""Reverse-mode autograd against central finite differences (float64), and
the rules for accumulation, no_grad, in-place changes and saved tensors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference
from reference import AutogradError, nn
from reference.nn import functional as F

from .assertions import assert_close, assert_equal
from .draws import SETTINGS, finite_floats
from .gradcheck import check_gradients


@SETTINGS
@given(data=st.data())
def test_elementwise_gradients_with_broadcasting(data: st.DataObject) -> None:
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3), label="operand shapes")
    a = data.draw(finite_floats(shapes.input_shapes[0]), label="a")
    b = data.draw(finite_floats(shapes.input_shapes[1], 0.5, 2.0), label="b (away from 0)")
    where = f"shapes {shapes.input_shapes}"
    check_gradients(lambda x, y: x + y, [a, b], what=f"add, {where}")
    check_gradients(lambda x, y: x - y, [a, b], what=f"sub, {where}")
    check_gradients(lambda x, y: x * y, [a, b], what=f"mul, {where}")
    check_gradients(lambda x, y: x / y, [a, b], what=f"div, {where}")


@SETTINGS
@given(data=st.data())
def test_unary_and_scalar_gradients(data: st.DataObject) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3), label="shape")
    a = data.draw(finite_floats(shape, away_from_zero=True), label="a (away from 0)")
    check_gradients(lambda x: -x, [a], what="neg")
    check_gradients(lambda x: x.abs(), [a], what="abs")
    check_gradients(lambda x: x.relu(), [a], what="relu")
    check_gradients(lambda x: F.relu(x) * 3 - 1, [a], what="relu then scalar ops")
    check_gradients(lambda x: 2 / x + 1.5 * x - 0.5, [a], what="scalar-left ops")
    check_gradients(lambda x: x**3, [a], what="pow 3")
    check_gradients(lambda x: x.sum(), [a], what="sum")
    check_gradients(lambda x: x.mean(), [a], what="mean")
    check_gradients(lambda x: x.T * 1.0, [a], what="transpose")
    check_gradients(lambda x: x.to("sim:1").to("cpu"), [a], what="device round trip")
    check_gradients(lambda x: x.clone() * x, [a], what="clone")


@SETTINGS
@given(data=st.data())
def test_reduction_gradients_over_dims(data: st.DataObject) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3), label="shape")
    a = data.draw(finite_floats(shape), label="a")
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    keepdim = data.draw(st.booleans(), label="keepdim")
    check_gradients(lambda x: x.sum(dim, keepdim), [a], what=f"sum(dim={dim}, keepdim={keepdim})")
    check_gradients(lambda x: x.mean(dim, keepdim), [a], what=f"mean(dim={dim}, keepdim={keepdim})")


@SETTINGS
@given(data=st.data())
def test_matmul_gradients_for_every_rank_combination(data: st.DataObject) -> None:
    n, k, m = (data.draw(st.integers(1, 3), label=name) for name in "nkm")
    batch = data.draw(st.sampled_from([(), (2,), (1,)]), label="batch")
    a_shape = data.draw(st.sampled_from([(k,), (n, k), (*batch, n, k)]), label="a shape")
    b_shape = data.draw(st.sampled_from([(k,), (k, m), (*batch, k, m)]), label="b shape")
    a = data.draw(finite_floats(a_shape), label="a")
    b = data.draw(finite_floats(b_shape), label="b")
    check_gradients(lambda x, y: x @ y, [a, b], what=f"matmul {a_shape} @ {b_shape}")


@SETTINGS
@given(data=st.data())
def test_linear_gradients(data: st.DataObject) -> None:
    lead = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), label="leading shape")
    n_in, n_out = data.draw(st.integers(1, 4), label="in"), data.draw(st.integers(1, 4), label="out")
    x = data.draw(finite_floats((*lead, n_in)), label="x")
    w = data.draw(finite_floats((n_out, n_in)), label="w")
    b = data.draw(finite_floats((n_out,)), label="b")
    check_gradients(lambda x_, w_, b_: F.linear(x_, w_, b_), [x, w, b], what=f"linear x{x.shape} w{w.shape}")
    check_gradients(lambda x_, w_: F.linear(x_, w_), [x, w], what="linear without bias")


@SETTINGS
@given(data=st.data())
def test_indexing_gradients(data: st.DataObject) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3), label="shape")
    a = data.draw(finite_floats(shape), label="a")
    index = data.draw(hnp.basic_indices(shape, allow_ellipsis=True), label="basic index")
    check_gradients(lambda x: x[index] * 1.0, [a], what=f"x[{index!r}]")
    picks = data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=4), label="repeated rows")
    check_gradients(lambda x: x[reference.tensor(picks)] * 1.0, [a], what=f"x[tensor({picks})] (repeats add)")
    check_gradients(lambda x: x.reshape(-1) * 1.0, [a], what="reshape")


@SETTINGS
@given(data=st.data())
def test_mlp_gradients_for_drawn_shapes(data: st.DataObject) -> None:
    widths = data.draw(st.lists(st.integers(1, 5), min_size=2, max_size=4), label="layer widths")
    batch = data.draw(st.integers(1, 4), label="batch")
    arrays = [data.draw(finite_floats((batch, widths[0])), label="X")]
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        arrays.append(data.draw(finite_floats((fan_out, fan_in), -1, 1), label=f"W{i}"))
        arrays.append(data.draw(finite_floats((fan_out,), -1, 1), label=f"b{i}"))

    def mlp(x: reference.Tensor, *params: reference.Tensor) -> reference.Tensor:
        for i in range(0, len(params), 2):
            x = F.linear(x, params[i], params[i + 1])
            if i + 2 < len(params):
                x = x.relu()
        return x

    # Finite differences are meaningless at relu's kink: skip nets whose
    # hidden pre-activations come within 1e-3 of 0.
    h = arrays[0]
    for i in range(1, len(arrays) - 2, 2):
        h = h @ arrays[i].T + arrays[i + 1]
        assume(bool(np.all(np.abs(h) > 1e-3)))
        h = np.maximum(h, 0)
    check_gradients(mlp, arrays, what=f"MLP widths {widths}", rtol=1e-4, atol=1e-5)


# --- accumulation and modes ---------------------------------------------------------


def test_grad_is_none_until_backward_then_accumulates() -> None:
    w = nn.Parameter(reference.tensor([1.0, 2.0]))
    assert w.grad is None, "grad should be None before any backward"
    (w * 3).sum().backward()
    assert_equal(w.grad.tolist(), [3.0, 3.0], what="grad after one backward")  # type: ignore[union-attr]
    (w * w).sum().backward()
    assert_equal(w.grad.tolist(), [5.0, 7.0], what="grad after a second backward (added)")  # type: ignore[union-attr]


def test_gradients_add_across_uses_in_one_graph() -> None:
    w = reference.tensor([2.0], requires_grad=True)
    (w * w + w * 4 + w).sum().backward()
    assert_equal(w.grad.tolist(), [9.0], what="d(w^2 + 4w + w)/dw at 2")  # type: ignore[union-attr]


def test_backward_twice_on_one_graph_accumulates() -> None:
    w = reference.tensor([1.0, -1.0], requires_grad=True)
    loss = (w * 2).sum()
    loss.backward()
    loss.backward()
    assert_equal(w.grad.tolist(), [4.0, 4.0], what="grad after backward twice")  # type: ignore[union-attr]


def test_backward_needs_a_scalar_or_a_gradient() -> None:
    w = reference.ones(2, requires_grad=True)
    y = w * 2
    with pytest.raises(AutogradError, match="one-element"):
        y.backward()
    y.backward(reference.tensor([1.0, 10.0]))
    assert_equal(w.grad.tolist(), [2.0, 20.0], what="grad with an explicit gradient")  # type: ignore[union-attr]
    with pytest.raises(AutogradError):
        reference.ones(1).backward()


def test_no_grad_records_nothing() -> None:
    w = reference.ones(2, requires_grad=True)
    with reference.no_grad():
        y = w * 2
        assert not reference.is_grad_enabled()
        with reference.enable_grad():
            z = w * 2
    assert reference.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None, "op under no_grad recorded history"
    assert z.requires_grad, "enable_grad inside no_grad did not record"

    @reference.no_grad()
    def decorated() -> reference.Tensor:
        return w * 2

    assert not decorated().requires_grad


def test_non_float_results_do_not_require_grad() -> None:
    w = reference.ones(2, requires_grad=True)
    assert not (w > 0).requires_grad
    assert not w.to(reference.int32).requires_grad


# --- in-place rules -------------------------------------------------------------------


def test_in_place_on_a_leaf_that_requires_grad_is_refused() -> None:
    w = nn.Parameter(reference.ones(2))
    with pytest.raises(AutogradError, match="leaf"):
        w += 1
    with reference.no_grad():
        w -= 0.5
    assert_equal(w.detach().tolist(), [0.5, 0.5], what="parameter after a no_grad update")


def test_in_place_on_a_non_leaf_rebinds_and_keeps_gradients_right() -> None:
    w = reference.tensor([3.0, -4.0], requires_grad=True)
    X = w * 2
    alias = X
    X /= 2
    X *= w
    assert X is alias, "in-place ops must return the same object"
    X.sum().backward()
    assert_close(w.grad.numpy(), 2 * np.array([3.0, -4.0]), what="d(sum(w*2/2*w))/dw")  # type: ignore[union-attr]


def test_in_place_rebinding_leaves_earlier_graphs_intact() -> None:
    w = reference.tensor([2.0], requires_grad=True)
    X = w * 3
    Y = X * X  # saves X's values (6)
    X += 100
    Y.backward()
    assert_equal(w.grad.tolist(), [36.0], what="grad through the graph recorded before the in-place op")  # type: ignore[union-attr]


def test_modifying_a_saved_tensor_makes_backward_refuse() -> None:
    x = reference.tensor([1.0, 2.0])
    w = reference.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    x[0] = 10.0  # x was saved by the multiplication
    with pytest.raises(AutogradError, match="modified in place"):
        y.backward()
    z = (x * w).sum()
    z.backward()  # a fresh graph is fine
    assert_equal(w.grad.tolist(), [10.0, 2.0], what="grad after recomputing")  # type: ignore[union-attr]


def test_gradient_flows_through_device_copies_back_to_cpu() -> None:
    w = reference.tensor([1.0, 2.0], requires_grad=True)
    (w.to("sim:0") * reference.tensor([3.0, 4.0], device="sim:0")).sum().backward()
    assert_equal(
        (w.grad.device, w.grad.tolist()), (reference.device("cpu"), [3.0, 4.0]), what="grad of a CPU leaf used on sim:0"
    )  # type: ignore[union-attr]


def test_float32_gradients_keep_dtype() -> None:
    w = nn.Parameter(reference.ones(2, 2))
    (w * reference.tensor(2.0, dtype="float64")).sum().backward()
    assert_equal(w.grad.dtype, np.dtype("float32"), what="grad dtype")  # type: ignore[union-attr]


def test_mlp_forward_and_gradients_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    reference.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 10)).to(reference.float64)
    tnet = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10)).double()
    with torch.no_grad():
        for (name, p), (tname, tp) in zip(net.named_parameters(), tnet.named_parameters(), strict=True):
            assert name == tname, f"parameter names differ: {name} vs {tname}"
            tp.copy_(torch.from_numpy(p.detach().numpy()))
    X = np.random.default_rng(0).standard_normal((8, 20))
    cotangent = np.random.default_rng(1).standard_normal((8, 10))
    x, tx = reference.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    out, tout = net(x), tnet(tx)
    assert_close(out.detach().numpy(), tout.detach().numpy(), what="outputs vs PyTorch", rtol=1e-12, atol=1e-12)
    (out * reference.tensor(cotangent)).sum().backward()
    (tout * torch.from_numpy(cotangent)).sum().backward()
    assert_close(x.grad.numpy(), tx.grad.numpy(), what="input gradient vs PyTorch", rtol=1e-12, atol=1e-12)  # type: ignore[union-attr]
    for (name, p), (_, tp) in zip(net.named_parameters(), tnet.named_parameters(), strict=True):
        assert_close(p.grad.numpy(), tp.grad.numpy(), what=f"{name}.grad vs PyTorch", rtol=1e-12, atol=1e-12)  # type: ignore[union-attr]
