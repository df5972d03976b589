"""Matrix products with gradients: ``matmul`` (NumPy ``@`` semantics),
``mm`` (2-d only) and ``linear`` (``x @ w.T + b`` as one recorded op, the
hot path of every ``Linear`` layer).

Unlike elementwise ops, these require both operands to have one dtype, as
PyTorch does: a silent float32 -> float64 promotion inside a layer would hide
a configuration error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# A module import, not names: _ops may still be initialising (import cycle
# through _tensor), and these are only needed at call time.
from . import _ops
from ._autograd import Node, _mode
from ._device import Device
from ._tensor import Tensor, edge, make, raw
from .errors import DTypeError, ShapeMismatchError

__all__ = ["linear", "matmul", "mm"]

Array = np.ndarray[Any, Any]


def _matmul_check(a: Tensor, b: Tensor, what: str) -> tuple[Array, Array, Device]:
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"{what} expects Tensors, got {type(a).__name__} and {type(b).__name__}")
    dev = a._device
    if b._device is not dev and b._device != dev:
        raise _ops.mismatch(dev, b._device, what)
    x, y = raw(a), raw(b)
    if x.dtype != y.dtype:
        raise DTypeError(f"{what} needs operands of one dtype, got {x.dtype} and {y.dtype}")
    if x.ndim == 0 or y.ndim == 0:
        raise ShapeMismatchError(
            f"{what} needs operands with at least one dimension, got shapes {x.shape} and {y.shape}"
        )
    return x, y, dev


class MatmulBackward(Node):
    __slots__ = ("x", "y")

    def __init__(self, a: Tensor, b: Tensor, x: Array, y: Array) -> None:
        self.next = (edge(a), edge(b))
        self.saved = _ops.saved_versions(a, b)
        self.x, self.y = x, y

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        x, y = self.x, self.y
        # Treat vectors as 1-row / 1-column matrices, then undo.
        x2 = x if x.ndim > 1 else x[None, :]
        y2 = y if y.ndim > 1 else y[:, None]
        g = np.asarray(grad)
        if x.ndim == 1 and y.ndim == 1:
            g = g.reshape(1, 1)  # vector . vector gave a 0-d result
        elif x.ndim == 1:
            g = np.expand_dims(g, -2)
        elif y.ndim == 1:
            g = np.expand_dims(g, -1)
        na, nb = self.next
        ga = gb = None
        if na is not None:
            ga = _ops.unbroadcast(g @ np.swapaxes(y2, -1, -2), x2.shape).reshape(x.shape)
        if nb is not None:
            gb = _ops.unbroadcast(np.swapaxes(x2, -1, -2) @ g, y2.shape).reshape(y.shape)
        return ga, gb


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """NumPy ``@`` semantics (batched, vectors promoted) with gradients."""
    if not isinstance(b, Tensor):
        return _ops.unsupported()
    x, y, dev = _matmul_check(a, b, "matmul")
    try:
        out = x @ y
    except ValueError as exc:
        raise _ops.shape_error(exc, "matmul", x.shape, y.shape) from None
    if _ops.needs_grad(a, b):
        return make(out, dev, MatmulBackward(a, b, x, y))
    return make(out, dev)


def mm(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product of two 2-d tensors."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("mm expects two Tensors")
    if a.ndim != 2 or b.ndim != 2:
        raise ShapeMismatchError(f"mm needs two 2-d tensors, got shapes {a.shape} and {b.shape}")
    return matmul(a, b)


class LinearBackward(Node):
    __slots__ = ("w", "x")

    def __init__(self, inp: Tensor, weight: Tensor, bias: Tensor | None, x: Array, w: Array) -> None:
        self.next = (edge(inp), edge(weight), None if bias is None else edge(bias))
        self.saved = _ops.saved_versions(inp, weight)
        self.x, self.w = x, w

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        nx, nw, nb = self.next
        x, w = self.x, self.w
        gx = None if nx is None else grad @ w
        gw = gb = None
        if nw is not None or nb is not None:
            g2 = grad.reshape(-1, w.shape[0])
            if nw is not None:
                gw = g2.T @ x.reshape(-1, w.shape[1])
            if nb is not None:
                gb = g2.sum(axis=0)
        return gx, gw, gb


def linear(inp: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``inp @ weight.T + bias`` as one recorded op (weight is (out, in))."""
    for name, t in (("input", inp), ("weight", weight), ("bias", bias)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"linear(): expected a Tensor for {name} but got {type(t).__name__}")
    x, w, dev = _matmul_check(inp, weight, "linear")
    if w.ndim != 2 or x.shape[-1] != w.shape[1]:
        raise ShapeMismatchError(
            f"linear(): input of shape {x.shape} needs a last dimension equal to the "
            f"weight's in_features, but the weight has shape {w.shape}"
        )
    out = x @ w.T
    if bias is not None:
        if bias._device != dev:
            raise _ops.mismatch(dev, bias._device, "linear")
        b = raw(bias)
        if b.shape != (w.shape[0],) or b.dtype != w.dtype:
            raise ShapeMismatchError(
                f"linear(): bias of shape {b.shape} ({b.dtype}) does not fit weight {w.shape} ({w.dtype})"
            )
        out += b  # ``out`` is fresh, so adding in place is safe
    if _mode.enabled and (inp._requires_grad or weight._requires_grad or (bias is not None and bias._requires_grad)):
        return make(out, dev, LinearBackward(inp, weight, bias, x, w))
    return make(out, dev)
