"""Views, indexing and item assignment.

Basic indexing (ints, slices, None, Ellipsis), ``.T`` and ``reshape`` (when
NumPy can) return *views*: tensors over the same storage sharing its version
counter, so an in-place write through one is seen — and checked by autograd
— through all. Advanced indexing (integer or bool tensors, lists) copies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# A module import, not names: _ops may still be initialising (import cycle
# through _tensor), and these are only needed at call time.
from . import _ops
from ._autograd import Node
from ._device import CPU
from ._tensor import Tensor, edge, make, raw
from .errors import ShapeMismatchError

__all__ = ["getitem", "reshape", "setitem", "transpose", "view_of"]

Array = np.ndarray[Any, Any]


def view_of(a: Tensor, array: Array, node: Node | None) -> Tensor:
    """A tensor over (part of) ``a``'s storage: shares its version counter."""
    t = make(array, a._device, node)
    t._version = a._version
    return t


class TransposeBackward(Node):
    __slots__ = ()

    def __init__(self, a: Tensor) -> None:
        self.next = (edge(a),)
        self.saved = ()

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        return (grad.T,)


def transpose(a: Tensor) -> Tensor:
    x = raw(a)
    return view_of(a, x.T, TransposeBackward(a) if _ops.needs_grad(a, None) else None)


class ReshapeBackward(Node):
    __slots__ = ("shape",)

    def __init__(self, a: Tensor) -> None:
        self.next = (edge(a),)
        self.saved = ()
        self.shape = a.shape

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        return (grad.reshape(self.shape),)


def reshape(a: Tensor, shape: tuple[int, ...]) -> Tensor:
    x = raw(a)
    try:
        out = x.reshape(shape)
    except ValueError as exc:
        raise ShapeMismatchError(f"cannot reshape a tensor of shape {x.shape} to {shape} ({exc})") from None
    node = ReshapeBackward(a) if _ops.needs_grad(a, None) else None
    if np.may_share_memory(out, x):
        return view_of(a, out, node)
    return make(out, a._device, node)


def _index(a: Tensor, index: Any) -> tuple[tuple[Any, ...], bool]:
    """Normalise an index to a tuple NumPy understands; ``basic`` is True when
    the result is a view (ints, slices, None, Ellipsis only)."""
    items = index if isinstance(index, tuple) else (index,)
    parts: list[Any] = []
    basic = True
    for item in items:
        if isinstance(item, Tensor):
            if item._device is not CPU and item._device != a._device:
                raise _ops.mismatch(a._device, item._device, "indexing")
            arr = raw(item)
            if arr.dtype.kind not in "biu":
                raise IndexError(f"Tensors used as indices must be integer or bool, got {arr.dtype}")
            parts.append(arr)
            basic = False
        elif item is None or item is Ellipsis or isinstance(item, slice):
            parts.append(item)
        elif isinstance(item, (bool, np.bool_)):
            parts.append(bool(item))
            basic = False
        elif isinstance(item, (int, np.integer)):
            parts.append(int(item))
        elif isinstance(item, (list, np.ndarray)):
            arr = np.asarray(item)
            if arr.size and arr.dtype.kind not in "biu":
                raise IndexError(f"Index lists must hold integers or bools, got {arr.dtype}")
            parts.append(arr.astype(np.int64) if arr.size == 0 else arr)
            basic = False
        else:
            raise IndexError(f"Unsupported index {item!r} of type {type(item).__name__}")
    if basic and not any(p is Ellipsis for p in parts):
        # A trailing Ellipsis makes NumPy return a 0-d view instead of a
        # scalar copy, so ``t[0, 0]`` aliases ``t`` as in PyTorch.
        parts.append(Ellipsis)
    return tuple(parts), basic


class IndexBackward(Node):
    __slots__ = ("basic", "index", "shape")

    def __init__(self, a: Tensor, index: tuple[Any, ...], basic: bool) -> None:
        self.next = (edge(a),)
        self.saved = ()
        self.shape, self.index, self.basic = a.shape, index, basic

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        full = np.zeros(self.shape, dtype=grad.dtype)
        if self.basic:
            full[self.index] = grad
        else:
            np.add.at(full, self.index, grad)  # repeated indices add up
        return (full,)


def getitem(a: Tensor, index: Any) -> Tensor:
    idx, basic = _index(a, index)
    x = raw(a)
    out = x[idx]
    node = IndexBackward(a, idx, basic) if _ops.needs_grad(a, None) else None
    return view_of(a, out, node) if basic else make(out, a._device, node)


def setitem(a: Tensor, index: Any, value: object) -> None:
    a._check_unrecorded_write("item assignment", value)
    idx, _ = _index(a, index)
    if isinstance(value, Tensor):
        if value._device is not a._device and not (value._device is CPU and value.ndim == 0):
            raise _ops.mismatch(a._device, value._device, "item assignment")
        v: Any = raw(value)
    elif type(value) in _ops.SCALAR_TYPES or isinstance(value, np.generic):
        v = value
    else:
        raise TypeError(f"Expected a Tensor or a Python number to assign, got {type(value).__name__}")
    try:
        raw(a)[idx] = v
    except ValueError as exc:
        raise ShapeMismatchError(
            f"cannot assign a value of shape {np.shape(v)} to index {index!r} of a tensor of shape {a.shape} ({exc})"
        ) from None
    a._version.value += 1
