"""Differentiable operations on tensors and their backward rules.

Each op (1) checks devices and unwraps host arrays, (2) computes the result
with NumPy, and (3) if grad mode is on and an input requires grad, records a
:class:`~reference._autograd.Node` whose ``apply`` maps the output gradient
to input gradients. Gradients of broadcast operands are summed back to the
operand's shape. Everything here is internal; ``Tensor`` methods and
``reference.nn.functional`` are the public faces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import numpy as np

from . import _dtypes
from ._autograd import Node, _mode
from ._device import CPU, Device
from ._storage import Version
from ._tensor import Scalar, Tensor, edge, make, raw
from .errors import AutogradError, DeviceMismatchError, DTypeError, ShapeMismatchError

__all__ = [
    "SCALAR_TYPES",
    "abs_",
    "add",
    "common_device",
    "compare",
    "div",
    "inplace",
    "mean",
    "mismatch",
    "mul",
    "needs_grad",
    "neg",
    "operands",
    "pow",
    "rdiv",
    "reduce_bool",
    "relu",
    "rsub",
    "saved_versions",
    "shape_error",
    "sub",
    "sum_",
    "to_copy",
    "unbroadcast",
    "unsupported",
]

Array = np.ndarray[Any, Any]
T = TypeVar("T", bound=Tensor)
Operand = Array | Scalar
SCALAR_TYPES = (bool, int, float)


# --- operand handling --------------------------------------------------------


def unsupported() -> Tensor:
    """``NotImplemented``, typed for the callers: the Tensor operator method
    returns it, so Python tries the reflected operation or raises TypeError."""
    return cast(Tensor, NotImplemented)


def mismatch(a: Device, b: Device, what: str = "an operation") -> DeviceMismatchError:
    return DeviceMismatchError(
        f"Expected all tensors to be on the same device, but {what} got tensors on "
        f"{a} and {b}; move one with .to() first",
        (str(a), str(b)),
    )


def common_device(a: Tensor, b: Tensor) -> Device:
    """The device of a binary op's result, or DeviceMismatchError. A 0-d CPU
    tensor meeting a tensor on another device is promoted like a scalar."""
    da, db = a._device, b._device
    if da is db or da == db:
        return da
    if da is CPU and a._data.ndim == 0:
        return db
    if db is CPU and b._data.ndim == 0:
        return da
    raise mismatch(da, db)


def operands(a: Tensor, b: object) -> tuple[Array, Operand, Device, Tensor | None] | None:
    """``(a's array, b's array or scalar, result device, b if a Tensor)``, or
    None when ``b`` is not an operand type (the caller returns NotImplemented)."""
    if isinstance(b, Tensor):
        da = a._device
        if da is b._device:
            if da is CPU:
                return a._data, b._data, da, b  # type: ignore[return-value]
            return a._data.array, b._data.array, da, b  # type: ignore[union-attr]
        return raw(a), raw(b), common_device(a, b), b
    if type(b) in SCALAR_TYPES:
        return raw(a), b, a._device, None  # type: ignore[return-value]
    if isinstance(b, np.generic) and b.dtype.kind in "biuf":
        # NumPy scalars act like Python scalars (weakly typed), as in PyTorch.
        return raw(a), b.item(), a._device, None
    return None


def shape_error(exc: ValueError, what: str, *shapes: tuple[int, ...]) -> ShapeMismatchError:
    listed = " and ".join(str(s) for s in shapes)
    return ShapeMismatchError(f"{what}: shapes {listed} do not fit ({exc})")


def _dtype_error(exc: TypeError, what: str, *dtypes: object) -> DTypeError:
    listed = " and ".join(str(d) for d in dtypes)
    return DTypeError(f"{what} is not defined for dtype {listed} ({exc})")


def unbroadcast(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``grad`` over the dimensions broadcasting added or stretched, so
    it has ``shape`` again."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        # asarray: summing every axis returns a NumPy scalar, not an array.
        grad = np.asarray(grad.sum(axis=tuple(range(extra))))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def saved_versions(*tensors: Tensor | None) -> tuple[tuple[Version, int], ...]:
    return tuple((t._version, t._version.value) for t in tensors if t is not None)


def needs_grad(a: Tensor, b: Tensor | None) -> bool:
    return _mode.enabled and (a._requires_grad or (b is not None and b._requires_grad))


def _shape_of(x: Operand) -> tuple[int, ...]:
    return x.shape if isinstance(x, np.ndarray) else ()


# --- elementwise binary ops --------------------------------------------------


class AddBackward(Node):
    __slots__ = ("shapes", "sign")

    def __init__(self, a: Tensor, b: Tensor | None, shapes: tuple[tuple[int, ...], tuple[int, ...]], sign: int) -> None:
        self.next = (edge(a), None if b is None else edge(b))
        self.saved = ()
        self.shapes = shapes
        self.sign = sign

    def name(self) -> str:
        return "AddBackward" if self.sign > 0 else "SubBackward"

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        na, nb = self.next
        ga = None if na is None else unbroadcast(grad, self.shapes[0])
        gb = None
        if nb is not None:
            gb = unbroadcast(grad, self.shapes[1])
            if self.sign < 0:
                gb = -gb
        return ga, gb


class MulBackward(Node):
    __slots__ = ("x", "y")

    def __init__(self, a: Tensor, b: Tensor | None, x: Array, y: Operand) -> None:
        self.next = (edge(a), None if b is None else edge(b))
        self.saved = saved_versions(a, b)
        self.x, self.y = x, y

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        na, nb = self.next
        ga = None if na is None else unbroadcast(grad * self.y, self.x.shape)
        gb = None if nb is None else unbroadcast(grad * self.x, _shape_of(self.y))
        return ga, gb


class DivBackward(Node):
    __slots__ = ("x", "y")

    def __init__(self, a: Tensor | None, b: Tensor | None, x: Operand, y: Operand) -> None:
        self.next = (None if a is None else edge(a), None if b is None else edge(b))
        self.saved = saved_versions(a, b)
        self.x, self.y = x, y

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        na, nb = self.next
        ga = gb = None
        if na is not None:
            ga = unbroadcast(grad / self.y, _shape_of(self.x))
        if nb is not None:
            gb = unbroadcast(-grad * self.x / (self.y * self.y), _shape_of(self.y))
        return ga, gb


def _add_like(a: Tensor, b: object, sign: int) -> Tensor:
    ops = operands(a, b)
    if ops is None:
        return unsupported()
    x, y, dev, bt = ops
    try:
        out = x + y if sign > 0 else x - y
    except ValueError as exc:
        raise shape_error(exc, "add" if sign > 0 else "sub", x.shape, _shape_of(y)) from None
    except TypeError as exc:
        raise _dtype_error(exc, "add" if sign > 0 else "sub", x.dtype, getattr(y, "dtype", type(y).__name__)) from None
    if needs_grad(a, bt):
        return make(out, dev, AddBackward(a, bt, (x.shape, _shape_of(y)), sign))
    return make(out, dev)


def add(a: Tensor, b: object) -> Tensor:
    return _add_like(a, b, 1)


def sub(a: Tensor, b: object) -> Tensor:
    return _add_like(a, b, -1)


def rsub(a: Tensor, b: object) -> Tensor:
    """``b - a`` for a scalar ``b``."""
    if type(b) not in SCALAR_TYPES and not isinstance(b, np.generic):
        return unsupported()
    return add(neg(a), b)


def mul(a: Tensor, b: object) -> Tensor:
    ops = operands(a, b)
    if ops is None:
        return unsupported()
    x, y, dev, bt = ops
    try:
        out = x * y
    except ValueError as exc:
        raise shape_error(exc, "mul", x.shape, _shape_of(y)) from None
    except TypeError as exc:
        raise _dtype_error(exc, "mul", x.dtype, getattr(y, "dtype", type(y).__name__)) from None
    if needs_grad(a, bt):
        return make(out, dev, MulBackward(a, bt, x, y))
    return make(out, dev)


def _true_divide(x: Operand, y: Operand) -> Array:
    out = np.true_divide(x, y)
    # Integer / integer gives the default float dtype, as in PyTorch (NumPy
    # would give float64).
    if out.dtype == np.float64 and _is_integral(x) and _is_integral(y):
        out = out.astype(_dtypes.DEFAULT_FLOAT)
    return out


def _is_integral(x: Operand) -> bool:
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "biu"
    return not isinstance(x, float)


def div(a: Tensor, b: object) -> Tensor:
    ops = operands(a, b)
    if ops is None:
        return unsupported()
    x, y, dev, bt = ops
    try:
        out = _true_divide(x, y)
    except ValueError as exc:
        raise shape_error(exc, "div", x.shape, _shape_of(y)) from None
    if needs_grad(a, bt):
        return make(out, dev, DivBackward(a, bt, x, y))
    return make(out, dev)


def rdiv(a: Tensor, b: object) -> Tensor:
    """``b / a`` for a scalar ``b``."""
    if type(b) in SCALAR_TYPES:
        scalar: Scalar = b  # type: ignore[assignment]
    elif isinstance(b, np.generic) and b.dtype.kind in "biuf":
        scalar = b.item()
    else:
        return unsupported()
    x = raw(a)
    out = _true_divide(scalar, x)
    if needs_grad(a, None):
        return make(out, a._device, DivBackward(None, a, scalar, x))
    return make(out, a._device)


# --- unary ops ---------------------------------------------------------------


class NegBackward(Node):
    __slots__ = ()

    def __init__(self, a: Tensor) -> None:
        self.next = (edge(a),)
        self.saved = ()

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        return (-grad,)


class PowBackward(Node):
    __slots__ = ("exponent", "x")

    def __init__(self, a: Tensor, x: Array, exponent: float) -> None:
        self.next = (edge(a),)
        self.saved = saved_versions(a)
        self.x, self.exponent = x, exponent

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        if self.exponent == 0:
            return (np.zeros_like(grad),)
        return (grad * self.exponent * self.x ** (self.exponent - 1),)


class AbsBackward(Node):
    __slots__ = ("x",)

    def __init__(self, a: Tensor, x: Array) -> None:
        self.next = (edge(a),)
        self.saved = saved_versions(a)
        self.x = x

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        # sign(0) == 0: the subgradient PyTorch picks at the kink.
        return (grad * np.sign(self.x),)


class ReluBackward(Node):
    __slots__ = ("x",)

    def __init__(self, a: Tensor, x: Array) -> None:
        self.next = (edge(a),)
        self.saved = saved_versions(a)
        self.x = x

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        # Strictly positive: the gradient at exactly 0 (and at NaN) is 0, as
        # in PyTorch. A float mask multiplies much faster than a bool one.
        mask = (self.x > 0).astype(grad.dtype)
        if mask.shape == grad.shape:
            mask *= grad
            return (mask,)
        return (grad * mask,)


def neg(a: Tensor) -> Tensor:
    x = raw(a)
    if x.dtype.kind == "b":
        raise DTypeError("Negation of a bool tensor is not defined; use ~ or logical ops")
    out = -x
    if needs_grad(a, None):
        return make(out, a._device, NegBackward(a))
    return make(out, a._device)


def pow(a: Tensor, exponent: object) -> Tensor:
    if type(exponent) not in SCALAR_TYPES and not isinstance(exponent, np.generic):
        return unsupported()
    e: Scalar = exponent.item() if isinstance(exponent, np.generic) else exponent  # type: ignore[assignment]
    x = raw(a)
    if x.dtype.kind in "biu" and (isinstance(e, float) or e < 0):
        raise DTypeError(f"An integer tensor to the power {e!r} is not an integer; convert to float first")
    out = x**e
    if needs_grad(a, None):
        return make(out, a._device, PowBackward(a, x, float(e)))
    return make(out, a._device)


def abs_(a: Tensor) -> Tensor:
    x = raw(a)
    out = np.abs(x)
    if needs_grad(a, None):
        return make(out, a._device, AbsBackward(a, x))
    return make(out, a._device)


def relu(a: Tensor) -> Tensor:
    """max(x, 0) elementwise; the gradient is 1 where x > 0 and 0 elsewhere."""
    if not isinstance(a, Tensor):
        raise TypeError(f"Expected a Tensor but got {type(a).__name__}")
    x = raw(a)
    if x.dtype.kind == "b":
        raise DTypeError("relu is not defined for bool tensors")
    # Against a row of zeros rather than the scalar 0: NumPy vectorises
    # array-array maximum, and it is about twice as fast on large inputs.
    out = np.maximum(x, np.zeros(x.shape[-1:], dtype=x.dtype)) if x.ndim else np.maximum(x, 0)
    if needs_grad(a, None):
        return make(out, a._device, ReluBackward(a, x))
    return make(out, a._device)


# --- reductions --------------------------------------------------------------


def _dims(dim: int | Sequence[int] | None, ndim: int) -> tuple[int, ...] | None:
    if dim is None:
        return None
    items = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    span = max(ndim, 1)  # a 0-d tensor accepts dim 0 / -1, as in PyTorch
    out = []
    for d in items:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"Expected int dimensions but got dim={dim!r}")
        if not -span <= d < span:
            raise IndexError(f"Dimension out of range (expected to be in [{-span}, {span - 1}], but got {d})")
        out.append(int(d) % span)
    if len(set(out)) != len(out):
        raise IndexError(f"Dimension repeated in dim={dim!r}")
    return tuple(out) if ndim else ()


class SumBackward(Node):
    __slots__ = ("dims", "keepdim", "scale", "shape")

    def __init__(self, a: Tensor, dims: tuple[int, ...] | None, keepdim: bool, scale: float) -> None:
        self.next = (edge(a),)
        self.saved = ()
        self.shape = a.shape
        self.dims, self.keepdim, self.scale = dims, keepdim, scale

    def name(self) -> str:
        return "SumBackward" if self.scale == 1.0 else "MeanBackward"

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        if self.dims and not self.keepdim:
            grad = np.expand_dims(grad, self.dims)
        if self.scale != 1.0:
            grad = grad * grad.dtype.type(self.scale)
        # A read-only broadcast view: cheap, and nodes never write into it.
        return (np.broadcast_to(grad, self.shape),)


def sum_(a: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    x = raw(a)
    dims = _dims(dim, x.ndim)
    out = x.sum(axis=dims, keepdims=bool(keepdim))
    if needs_grad(a, None):
        return make(out, a._device, SumBackward(a, dims, bool(keepdim), 1.0))
    return make(out, a._device)


def mean(a: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    x = raw(a)
    if x.dtype.kind != "f":
        raise DTypeError(f"mean() needs a floating-point tensor, got dtype {x.dtype}; convert with .to()")
    dims = _dims(dim, x.ndim)
    count = x.size if dims is None else int(np.prod([x.shape[d] for d in dims], dtype=np.int64))
    # float16 sums in float32 (as PyTorch accumulates), so large counts do
    # not overflow to inf.
    acc = x.sum(axis=dims, keepdims=bool(keepdim), dtype=np.float32 if x.dtype == np.float16 else None)
    with np.errstate(invalid="ignore"):  # an empty mean is NaN, silently, as in PyTorch
        out = np.asarray(acc / count if count else acc * np.nan).astype(x.dtype, copy=False)
    if needs_grad(a, None):
        return make(out, a._device, SumBackward(a, dims, bool(keepdim), 1.0 / count if count else float("nan")))
    return make(out, a._device)


def reduce_bool(a: Tensor, fn: Callable[..., Any]) -> Tensor:
    return make(np.asarray(fn(raw(a))), a._device)


def compare(a: Tensor, b: object, fn: Callable[..., Any]) -> Tensor:
    ops = operands(a, b)
    if ops is None:
        return unsupported()
    x, y, dev, _ = ops
    try:
        out = fn(x, y)
    except ValueError as exc:
        raise shape_error(exc, fn.__name__, x.shape, _shape_of(y)) from None
    return make(out, dev)


# --- copies and in-place arithmetic -------------------------------------------


class ToCopyBackward(Node):
    __slots__ = ("dtype",)

    def __init__(self, a: Tensor) -> None:
        self.next = (edge(a),)
        self.saved = ()
        self.dtype = a.dtype

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        # Devices are implicit in the engine: the leaf places its own grad.
        return (grad.astype(self.dtype, copy=False),)


def to_copy(a: Tensor, dev: Device, dtype: np.dtype[Any]) -> Tensor:
    """A copy on ``dev`` with ``dtype``. Same dtype: a byte-exact copy."""
    out = raw(a).astype(dtype, copy=True)
    if needs_grad(a, None) and _dtypes.is_floating(dtype):
        return make(out, dev, ToCopyBackward(a))
    return make(out, dev)


_OUT_OF_PLACE: dict[str, Callable[[Tensor, object], Tensor]] = {"add": add, "sub": sub, "mul": mul, "div": div}
_UFUNCS: dict[str, Callable[..., Any]] = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}


def inplace(a: T, b: object, op: str) -> T:
    """``a op= b``. See the module docstring of ``_tensor`` for the rules."""
    recorded = needs_grad(a, b if isinstance(b, Tensor) else None)
    if not recorded:
        ops = operands(a, b)
        if ops is None:
            return cast(T, NotImplemented)
        x, y, dev, _ = ops
        if dev is not a._device:
            raise mismatch(a._device, dev, f"in-place {op}")
        try:
            _UFUNCS[op](x, y, out=x, casting="same_kind")
        except ValueError as exc:
            raise shape_error(exc, f"in-place {op}", x.shape, _shape_of(y)) from None
        except TypeError as exc:
            raise _dtype_error(exc, f"in-place {op}", x.dtype, getattr(y, "dtype", type(y).__name__)) from None
        a._version.value += 1
        return a
    if a._grad_fn is None and a._requires_grad:
        raise AutogradError(
            f"A leaf tensor that requires grad cannot be changed by in-place {op}: the "
            "change would not be recorded. Use `with reference.no_grad():` or write "
            "through .data"
        )
    result = _OUT_OF_PLACE[op](a, b)
    if result is NotImplemented:
        return cast(T, NotImplemented)
    if result._device is not a._device:
        raise mismatch(a._device, result._device, f"in-place {op}")
    if result.shape != a.shape:
        raise ShapeMismatchError(f"in-place {op} would change the shape from {a.shape} to {result.shape}")
    if result.dtype != a.dtype:
        if not np.can_cast(result.dtype, a.dtype, casting="same_kind"):
            raise DTypeError(f"in-place {op}: result dtype {result.dtype} cannot be stored in {a.dtype}")
        result = to_copy(result, a._device, a.dtype)
    # Rebind: same object, new array, new history (earlier graphs keep theirs).
    a._data = result._data
    a._grad_fn = result._grad_fn
    a._requires_grad = result._requires_grad
    a._version = result._version
    return a
