"""Tensors: creation, dtypes, values, views, item assignment, comparisons,
conversions and printing."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference
from reference import AutogradError, DTypeError, ShapeMismatchError

from .assertions import assert_bits_equal, assert_close, assert_equal
from .draws import DTYPES, SETTINGS, any_arrays, shapes

# --- creation and dtypes -------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "dtype"),
    [(1.5, "float32"), ([1, 2], "int64"), ([[True]], "bool"), ([], "float32"), (np.float64(2.0), "float64")],
)
def test_tensor_infers_torch_default_dtypes(data: object, dtype: str) -> None:
    assert_equal(reference.tensor(data).dtype, np.dtype(dtype), what=f"dtype of tensor({data!r})")


def test_dtype_constants_are_numpy_dtypes() -> None:
    for name in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8"):
        assert_equal(getattr(reference, name), np.dtype(name), what=f"reference.{name}")
    assert_equal(reference.bool, np.dtype(bool), what="reference.bool")


@pytest.mark.parametrize("bad", [np.complex64, "float128", object, "U3", None])
def test_unsupported_dtypes_are_refused(bad: object) -> None:
    with pytest.raises(DTypeError):
        reference.zeros(2, dtype=bad) if bad is not None else reference.tensor(np.array(["a"]))


@SETTINGS
@given(array=any_arrays())
def test_tensor_copies_values_exactly(array: np.ndarray) -> None:
    t = reference.tensor(array)
    assert_bits_equal(t.numpy(), array, what="tensor(array).numpy()")
    array_before = array.copy()
    if t.numel():
        t.numpy().reshape(-1)[0] = 0  # the tensor owns a copy: writing it leaves the source alone
    assert_bits_equal(array, array_before, what="source array after writing the tensor")


def test_from_numpy_shares_memory() -> None:
    a = np.zeros(3, np.float32)
    t = reference.from_numpy(a)
    a[1] = 7
    assert_equal(t.tolist(), [0.0, 7.0, 0.0], what="tensor after writing its source array")


@SETTINGS
@given(shape=shapes(max_dims=3), dtype=st.sampled_from(["float16", "float32", "float64"]))
def test_factories_shape_dtype_and_range(shape: tuple[int, ...], dtype: str) -> None:
    for factory, low, high in ((reference.rand, 0.0, 1.0),):
        t = factory(*shape, dtype=dtype)
        assert_equal((t.shape, t.dtype), (shape, np.dtype(dtype)), what=f"{factory.__name__} shape and dtype")
        values = t.numpy()
        assert bool(np.all((values >= low) & (values < high))), f"rand values outside [0, 1): {values!r}"
    assert_equal(reference.zeros(shape, dtype=dtype).numpy().tolist(), np.zeros(shape).tolist(), what="zeros")
    assert_equal(reference.ones(*shape, dtype=dtype).numpy().tolist(), np.ones(shape).tolist(), what="ones")
    assert_equal(reference.randn(shape, dtype=dtype).shape, shape, what="randn shape")


def test_random_ops_are_reproducible_with_seeds_and_generators() -> None:
    reference.manual_seed(3)
    a = reference.rand(4).tolist() + reference.randn(4).tolist()
    reference.manual_seed(3)
    b = reference.rand(4).tolist() + reference.randn(4).tolist()
    assert_equal(a, b, what="draws after manual_seed(3) twice")
    g1, g2 = reference.Generator(5), reference.Generator(5)
    assert_equal(
        reference.rand(3, generator=g1).tolist(),
        reference.rand(3, generator=g2).tolist(),
        what="two generators seeded 5",
    )
    assert reference.rand(3, generator=g1).tolist() != reference.rand(3).tolist()


def test_rand_on_a_device_gives_the_same_values_as_on_cpu() -> None:
    reference.manual_seed(1)
    on_cpu = reference.rand(5).numpy()
    reference.manual_seed(1)
    on_sim = reference.rand(5, device="sim:1")
    assert_bits_equal(on_sim.cpu().numpy(), on_cpu, what="seeded rand on sim:1 vs cpu")


def test_requires_grad_only_for_floats() -> None:
    with pytest.raises(AutogradError, match="floating"):
        reference.tensor([1, 2], requires_grad=True)
    assert reference.tensor([1.0], requires_grad=True).requires_grad


# --- values and views --------------------------------------------------------------


def test_data_is_a_detached_alias() -> None:
    p = reference.nn.Parameter(reference.zeros(2, 2))
    d = p.data
    assert not d.requires_grad and d.grad_fn is None, "p.data should be detached"
    p.data[:] += 1
    p.data[0, 0] = 42
    assert_equal(p.detach().tolist(), [[42.0, 1.0], [1.0, 1.0]], what="parameter after writes through .data")


def test_item_float_bool_need_one_element() -> None:
    assert_equal(reference.tensor([[3.5]]).item(), 3.5, what="item()")
    assert_equal(float(reference.tensor(2.0)), 2.0, what="float()")
    assert_equal(int(reference.tensor([7])), 7, what="int()")
    assert bool(reference.tensor([1.0]) > 0)
    with pytest.raises(ShapeMismatchError, match="ambiguous"):
        bool(reference.ones(2))
    with pytest.raises(ShapeMismatchError):
        reference.ones(2).item()


def test_chapter_while_loop_on_a_tensor_condition() -> None:
    X = reference.ones(4) * 10
    steps = 0
    while X.abs().sum() > 1:
        X /= 2
        steps += 1
    assert_equal(steps, 6, what="halvings until |X|.sum() <= 1")


@SETTINGS
@given(data=st.data())
def test_basic_indexing_returns_views(data: st.DataObject) -> None:
    shape = data.draw(shapes(min_dims=1, max_dims=3, min_side=1), label="shape")
    array = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    t = reference.tensor(array)
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True), label="index")
    view = t[index]
    assert_equal(view.shape, array[index].shape, what=f"shape of t[{index!r}]")
    if view.numel():
        view.fill_(-1.0)
        expected = array.copy()
        expected[index] = -1.0
        assert_equal(t.tolist(), expected.tolist(), what=f"tensor after filling the view t[{index!r}]")


def test_advanced_indexing_copies_and_accepts_tensors() -> None:
    t = reference.arange(6).reshape(2, 3)
    picked = t[reference.tensor([1, 0])]
    assert_equal(picked.tolist(), [[3, 4, 5], [0, 1, 2]], what="t[tensor([1, 0])]")
    masked = t[t > 2]
    assert_equal(masked.tolist(), [3, 4, 5], what="t[t > 2]")
    picked[0, 0] = 100
    assert_equal(t[1, 0].item(), 3, what="source after writing an advanced-index copy")


def test_integer_index_is_a_zero_dim_view() -> None:
    t = reference.zeros(2, 2)
    element = t[1, 1]
    assert_equal(element.shape, (), what="shape of t[1, 1]")
    element.fill_(9.0)
    assert_equal(t.tolist(), [[0.0, 0.0], [0.0, 9.0]], what="tensor after filling t[1, 1]")


def test_setitem_rules_under_autograd() -> None:
    leaf = reference.zeros(3, requires_grad=True)
    with pytest.raises(AutogradError, match="no_grad"):
        leaf[0] = 1.0
    with reference.no_grad():
        leaf[0] = 1.0
    assert_equal(leaf.detach().tolist(), [1.0, 0.0, 0.0], what="leaf after a no_grad write")
    nonleaf = leaf * 2
    with pytest.raises(AutogradError):
        nonleaf[1] = 5.0
    plain = reference.zeros(3)
    with pytest.raises(AutogradError):
        plain[0] = leaf[0]
    plain[0] = leaf.detach()[0]
    assert_equal(plain.tolist(), [1.0, 0.0, 0.0], what="plain tensor after assignment")


def test_setitem_device_and_shape_errors() -> None:
    t = reference.zeros(2, 2, device="sim:0")
    with pytest.raises(reference.DeviceMismatchError):
        t[0] = reference.ones(2)
    t[0] = reference.tensor(3.0)  # 0-d CPU promotes
    assert_equal(t.cpu().tolist(), [[3.0, 3.0], [0.0, 0.0]], what="after assigning a 0-d CPU tensor")
    with pytest.raises(ShapeMismatchError):
        t[0] = reference.ones(3, device="sim:0")


# --- arithmetic -------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_binary_ops_match_numpy_with_broadcasting(data: st.DataObject) -> None:
    shapes_pair = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3), label="shapes")
    a = data.draw(hnp.arrays(np.float64, shapes_pair.input_shapes[0], elements=st.floats(-4, 4)), label="a")
    b = data.draw(hnp.arrays(np.float64, shapes_pair.input_shapes[1], elements=st.floats(0.5, 4)), label="b")
    ta, tb = reference.tensor(a), reference.tensor(b)
    for name, got, want in (
        ("+", ta + tb, a + b),
        ("-", ta - tb, a - b),
        ("*", ta * tb, a * b),
        ("/", ta / tb, a / b),
        ("@scalar+", 2.5 + ta, 2.5 + a),
        ("rsub", 1 - ta, 1 - a),
        ("rdiv", 3 / tb, 3 / b),
        ("neg", -ta, -a),
        ("pow", ta**2, a**2),
        ("abs", ta.abs(), np.abs(a)),
        ("relu", ta.relu(), np.maximum(a, 0)),
        ("<", ta < tb, a < b),
        ("==", ta == tb, a == b),
    ):
        assert_close(got.numpy(), want, what=f"a {name} b for shapes {shapes_pair.input_shapes}")


def test_python_scalars_keep_the_tensor_dtype() -> None:
    x = reference.ones(2, dtype="float16")
    for result in (x * 2.5, 2 + x, x / 3, x - 1):
        assert_equal(result.dtype, np.dtype("float16"), what="dtype after an op with a Python scalar")
    assert_equal((reference.tensor([1, 2]) / 2).dtype, np.dtype("float32"), what="int / int (true division)")


def test_shape_and_dtype_errors_are_framework_errors() -> None:
    with pytest.raises(ShapeMismatchError):
        reference.ones(2, 3) + reference.ones(4)
    with pytest.raises(ShapeMismatchError):
        reference.ones(2, 3) @ reference.ones(2, 3)
    with pytest.raises(ShapeMismatchError):
        reference.mm(reference.ones(3), reference.ones(3, 2))
    with pytest.raises(DTypeError):
        reference.ones(2, 2, dtype="float64") @ reference.ones(2, 2)
    with pytest.raises(DTypeError):
        reference.tensor([True]) - reference.tensor([True])
    with pytest.raises(TypeError):
        reference.ones(2) + np.ones(2)  # type: ignore[operator]
    with pytest.raises(TypeError):
        reference.ones(2) + "a"  # type: ignore[operator]


def test_reductions() -> None:
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    t = reference.tensor(a)
    for dim in (None, 0, -1, (0, 2)):
        for keepdim in (False, True):
            assert_close(t.sum(dim, keepdim).numpy(), a.sum(axis=dim, keepdims=keepdim), what=f"sum({dim}, {keepdim})")
            assert_close(
                t.mean(dim, keepdim).numpy(), a.mean(axis=dim, keepdims=keepdim), what=f"mean({dim}, {keepdim})"
            )
    with pytest.raises(DTypeError):
        reference.tensor([1, 2]).mean()
    with pytest.raises(IndexError):
        t.sum(3)
    assert np.isnan(reference.zeros(0).mean().item()), "mean of an empty tensor should be NaN"


def test_in_place_ops_outside_autograd_write_storage() -> None:
    t = reference.ones(3)
    view = t[1:]
    view *= 4
    t += 1
    t /= 2
    t -= reference.tensor(0.5)
    assert_equal(t.tolist(), [0.5, 2.0, 2.0], what="after in-place ops through a view and the base")
    ints = reference.tensor([1, 2])
    with pytest.raises(DTypeError):
        ints /= 2
    with pytest.raises(ShapeMismatchError):
        t += reference.ones(2, 3)


# --- conversion, copying, printing ---------------------------------------------------


def test_to_changes_dtype_and_device() -> None:
    t = reference.tensor([1.5, -2.5])
    converted = t.to("sim:1", reference.float64)
    assert_equal(
        (converted.device, converted.dtype), (reference.device("sim:1"), np.dtype("float64")), what="to(device, dtype)"
    )
    assert_equal(t.to(dtype="int32").tolist(), [1, -2], what="to(int32)")


def test_tensors_refuse_pickling_but_deepcopy() -> None:
    import pickle

    t = reference.ones(2, device="sim:0", requires_grad=True)
    with pytest.raises(TypeError, match=r"reference\.save"):
        pickle.dumps(t)
    clone = copy.deepcopy(t)
    assert clone is not t and clone.requires_grad and clone.device == t.device
    with reference.no_grad():
        clone += 1
    assert_equal(t.cpu().tolist(), [1.0, 1.0], what="original after modifying its deepcopy")


def test_repr_shows_device_and_grad_state() -> None:
    assert_equal(repr(reference.tensor([1.0, 2.0])), "tensor([1., 2.])", what="repr")
    text = repr(reference.ones(1, device="sim:1", requires_grad=True))
    assert "device='sim:1'" in text and "requires_grad=True" in text, text
    assert "grad_fn=<MulBackward>" in repr(reference.ones(1, requires_grad=True) * 2)
    assert repr(reference.nn.Parameter(reference.zeros(1))).startswith("Parameter containing:\ntensor(")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_dtype_moves_between_devices(dtype: np.dtype) -> None:
    t = reference.zeros(2, 2, dtype=dtype, device="sim:1")
    assert_equal((t.dtype, t.cpu().dtype), (dtype, dtype), what="dtype on sim and back")
