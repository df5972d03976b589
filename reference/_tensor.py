"""The :class:`Tensor`: a NumPy array, a device, and an autograd record.

Rules the specification relies on (each enforced here or in ``_ops``):

* **Devices.** A binary op needs both operands on one device, except that a
  0-d CPU tensor is promoted like a Python scalar (PyTorch's rule). The
  result lives on the operands' device. Bulk host reads of device memory
  (``numpy()``, ``np.asarray``) raise :class:`DeviceMismatchError`; the
  explicit conversions ``item``, ``float``, ``int``, ``bool``, ``tolist``
  and ``repr`` copy to the host, as PyTorch does.
* **In-place writes.** Outside autograd (``no_grad``, or nothing involved
  requires grad) ``x += y`` and ``x[i] = v`` write into the storage, so views
  and ``.data`` aliases see the change, and the storage's version goes up.
  Under autograd: a leaf that requires grad refuses in-place changes (as in
  PyTorch; use ``no_grad`` or ``.data``); any other tensor turns ``x += y``
  into ``x = x + y`` *rebound in the same object* — the tensor gets a new
  array and a new history node, earlier graphs keep the old values, and
  views taken earlier keep the old values too. This is what makes the
  chapter's ``X /= 2`` inside ``forward`` work. ``x[i] = v`` under autograd
  is refused rather than rebound.
* **Saved tensors.** A backward pass whose saved inputs were written in place
  after the forward raises :class:`AutogradError` instead of computing a
  wrong gradient. Versions are shared by views, ``detach()`` and ``.data``
  (stricter than PyTorch, whose ``.data`` escapes the check): writing a
  parameter through ``.data`` between a forward and its backward is caught.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NoReturn, Self

import numpy as np

from . import _dtypes
from ._autograd import AccumulateGrad, Node, _mode, run_backward
from ._device import CPU, Device, DeviceLike, placement
from ._device import device as _to_device
from ._storage import SimBuffer, Unmaterialized, Version
from .errors import AutogradError, DeviceMismatchError, DTypeError, ShapeMismatchError

__all__ = ["Scalar", "Tensor", "as_array", "make", "raw"]

Array = np.ndarray[Any, Any]
Scalar = bool | int | float
_new = object.__new__


def make(array: Array, dev: Device, node: Node | None = None) -> Tensor:
    """Wrap a freshly computed host array as a tensor on ``dev`` (internal)."""
    if type(array) is not np.ndarray:
        # NumPy returns scalars from 0-d ops; tensors always hold arrays.
        array = np.asarray(array)
    t: Tensor = _new(Tensor)
    t._data = array if dev is CPU else SimBuffer(array, dev._index)  # type: ignore[arg-type]
    t._device = dev
    t._requires_grad = node is not None
    t._grad = None
    t._grad_fn = node
    t._version = Version()
    return t


def raw(t: Tensor) -> Array:
    """The host array behind ``t``, whatever its device (internal: callers
    must have checked devices already)."""
    data = t._data
    return data if t._device is CPU else data.array  # type: ignore[return-value,union-attr]


def edge(t: Tensor) -> Node | None:
    """The node a gradient for ``t`` flows into, or None if it needs none."""
    node = t._grad_fn
    if node is not None:
        return node
    if t._requires_grad:
        return AccumulateGrad(t)
    return None


def as_array(data: object, dtype: object = None) -> Array:
    """Convert nested Python data or an array to a supported host array.

    Python floats become float32 (PyTorch's default), ints int64, bools bool;
    NumPy arrays keep their dtype unless ``dtype`` is given. The result never
    shares memory with ``data``.
    """
    if isinstance(data, Tensor):
        raise TypeError("Expected Python data or a NumPy array; for a Tensor use .clone() or .to()")
    want = None if dtype is None else _dtypes.as_dtype(dtype)
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data, dtype=want, copy=True)
    else:
        arr = np.array(data, dtype=want)
        if want is None and arr.dtype.kind == "f":
            arr = arr.astype(_dtypes.DEFAULT_FLOAT)
    if want is None:
        _dtypes.as_dtype(arr.dtype)  # refuse complex, strings, objects, ...
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


class Tensor:
    """An n-dimensional array on a device, with optional gradient tracking.

    Create tensors with :func:`reference.tensor` and the other factories;
    ``Tensor(data, ...)`` takes the same arguments as ``tensor``.

    >>> import reference
    >>> x = reference.tensor([[1.0, -2.0]], requires_grad=True)
    >>> y = (x * 3).relu().sum()
    >>> y.backward()
    >>> x.grad.tolist()
    [[3.0, 0.0]]
    """

    # Every subclass declares ``__slots__ = ()`` so that a lazy parameter can
    # become a Parameter by changing ``__class__`` (same layout).
    __slots__ = ("__weakref__", "_data", "_device", "_grad", "_grad_fn", "_requires_grad", "_version")
    # Make ``ndarray + tensor`` defer to Tensor instead of converting it.
    __array_ufunc__ = None

    _data: Array | SimBuffer | Unmaterialized
    _device: Device
    _grad: Tensor | None
    _grad_fn: Node | None
    _requires_grad: bool
    _version: Version

    def __init__(
        self,
        data: object,
        dtype: object = None,
        device: DeviceLike | None = None,
        requires_grad: bool = False,
    ) -> None:
        dev = CPU if device is None else placement(device)
        array = as_array(data, dtype)
        self._data = array if dev is CPU else SimBuffer(array, dev._index)  # type: ignore[arg-type]
        self._device = dev
        self._grad = None
        self._grad_fn = None
        self._requires_grad = False
        self._version = Version()
        if requires_grad:
            self.requires_grad_(True)

    # --- metadata -------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def device(self) -> Device:
        return self._device

    def size(self, dim: int | None = None) -> Any:
        """The shape, or the length of dimension ``dim`` (negative allowed)."""
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return self._data.size

    @property
    def T(self) -> Tensor:
        """All dimensions reversed (a transpose for 2-d tensors), as a view."""
        return _indexing.transpose(self)

    # --- autograd state -------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Start (or stop) tracking operations on this leaf tensor."""
        flag = bool(requires_grad)
        if self._grad_fn is not None:
            if not flag:
                raise AutogradError(
                    "requires_grad can only be switched off on a leaf tensor; "
                    "use .detach() to get a tensor without history"
                )
            return self
        if flag and not _dtypes.is_floating(self.dtype):
            raise AutogradError(f"Only floating-point tensors can require gradients, got dtype {self.dtype}")
        self._requires_grad = flag
        return self

    @property
    def grad_fn(self) -> Node | None:
        """The node that produced this tensor, or None for a leaf."""
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient: None until a backward pass reaches this
        leaf; lives on the tensor's device, with its dtype and shape."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"Expected a Tensor or None but got grad={value!r}")
            if value.shape != self.shape or value.dtype != self.dtype or value._device != self._device:
                raise AutogradError(
                    f"Assigned grad has shape {value.shape}, dtype {value.dtype} on {value._device}; "
                    f"expected shape {self.shape}, dtype {self.dtype} on {self._device}"
                )
        self._grad = value

    def _accumulate_grad(self, grad: Array) -> None:
        if grad.shape != self.shape:
            raise AutogradError(  # an engine bug, never a user error
                f"gradient of shape {grad.shape} for a tensor of shape {self.shape}"
            )
        existing = self._grad
        if existing is None:
            # Always copy: the engine may hand the same array to several leaves.
            self._grad = make(grad.astype(self.dtype, copy=True), self._device)
        else:
            np.add(raw(existing), grad, out=raw(existing), casting="unsafe")
            existing._version.value += 1

    def backward(self, gradient: Tensor | None = None, retain_graph: bool | None = None) -> None:
        """Add d(self)/d(leaf) times ``gradient`` into every reachable leaf's
        ``.grad``. ``gradient`` may be omitted only for one-element tensors.
        Graphs are kept, so backward may run again (gradients add up).
        ``retain_graph`` is accepted for PyTorch compatibility and ignored."""
        root = edge(self)
        if root is None:
            raise AutogradError(
                "backward() needs a tensor that requires grad: this one has no history and requires_grad=False"
            )
        if gradient is None:
            if self.numel() != 1:
                raise AutogradError(
                    f"backward() without a gradient needs a one-element tensor, got shape {self.shape}; "
                    "pass gradient= of the same shape"
                )
            seed = np.ones(self.shape, dtype=self.dtype)
        else:
            if not isinstance(gradient, Tensor):
                raise TypeError(f"Expected a Tensor but got gradient={gradient!r}")
            if gradient._device != self._device:
                raise DeviceMismatchError(
                    f"gradient is on {gradient._device} but the tensor is on {self._device}",
                    (str(gradient._device), str(self._device)),
                )
            if gradient.shape != self.shape:
                raise ShapeMismatchError(f"gradient has shape {gradient.shape}, expected {self.shape}")
            seed = raw(gradient).astype(self.dtype, copy=True)
        run_backward(root, seed)

    # --- values ---------------------------------------------------------------

    @property
    def data(self) -> Tensor:
        """A detached tensor sharing this one's storage: writes through it
        (``p.data[0, 0] = 42``) change the tensor without being recorded."""
        return self.detach()

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"Expected a Tensor but got data={value!r}")
        if self._requires_grad and not _dtypes.is_floating(value.dtype):
            raise DTypeError(f"A tensor that requires grad cannot hold dtype {value.dtype}")
        self._data = value._data
        self._device = value._device
        self._version = value._version

    def detach(self) -> Tensor:
        """A new leaf sharing storage (and version) with this tensor."""
        t: Tensor = _new(Tensor)
        t._data = self._data
        t._device = self._device
        t._requires_grad = False
        t._grad = None
        t._grad_fn = None
        t._version = self._version
        return t

    def _host_read_check(self, what: str) -> Array:
        if self._device is not CPU:
            raise DeviceMismatchError(
                f"{what} reads host memory but the tensor is on {self._device}; "
                "copy it with .cpu() or .to('cpu') first",
                (str(self._device), "cpu"),
            )
        return self._data  # type: ignore[return-value]

    def numpy(self) -> Array:
        """The values as a NumPy array sharing memory (CPU tensors only; a
        tensor that requires grad must be detached first, as in PyTorch)."""
        array = self._host_read_check("numpy()")
        if self._requires_grad:
            raise AutogradError(
                "numpy() on a tensor that requires grad would let writes bypass autograd; call .detach().numpy()"
            )
        return np.asarray(array)

    def __array__(self, dtype: object = None, copy: bool | None = None) -> Array:
        array = self.numpy()
        if dtype is not None and np.dtype(dtype) != array.dtype:  # type: ignore[call-overload]
            if copy is False:
                raise ValueError("a dtype conversion needs a copy but copy=False was given")
            return array.astype(dtype)  # type: ignore[call-overload,no-any-return]
        return array.copy() if copy else array

    def _one_element(self, what: str) -> Scalar:
        if self.numel() != 1:
            raise ShapeMismatchError(f"{what} needs a tensor with exactly one element, got shape {self.shape}")
        value: Scalar = raw(self).reshape(()).item()
        return value

    def item(self) -> Scalar:
        """The single value as a Python number (copies one element to the host)."""
        return self._one_element("item()")

    def __float__(self) -> float:
        return float(self._one_element("float()"))

    def __int__(self) -> int:
        return int(self._one_element("int()"))

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise ShapeMismatchError(
                f"The truth value of a tensor with {self.numel()} elements is ambiguous; use .any() or .all()"
            )
        return bool(raw(self).reshape(()).item())

    def tolist(self) -> Any:
        """Nested Python lists of the values (an explicit copy to the host)."""
        return raw(self).tolist()

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    __hash__ = object.__hash__

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError(
            "Tensors are not picklable by design; save them with reference.save() "
            "(a safetensors file) and read them with reference.load()"
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        if self._grad_fn is not None:
            raise AutogradError("Only leaf tensors support deepcopy; .detach() or .clone() first")
        data = self._data
        t: Tensor = _new(type(self))
        if isinstance(data, Unmaterialized):
            t._data = Unmaterialized(data.dtype)
        else:
            copied = raw(self).copy()
            t._data = copied if self._device is CPU else SimBuffer(copied, self._device._index)  # type: ignore[arg-type]
        t._device = self._device
        t._requires_grad = self._requires_grad
        t._grad_fn = None
        t._version = Version()
        t._grad = None
        memo[id(self)] = t
        if self._grad is not None:
            t._grad = self._grad.__deepcopy__(memo)
        return t

    def __repr__(self) -> str:
        body = np.array2string(raw(self), separator=", ", prefix="tensor(")
        extras = []
        if self._device is not CPU:
            extras.append(f"device='{self._device}'")
        if self.dtype not in (_dtypes.float32, _dtypes.int64, _dtypes.bool_) or self.numel() == 0:
            extras.append(f"dtype=reference.{self.dtype.name}")
        if self._grad_fn is not None:
            extras.append(f"grad_fn=<{self._grad_fn.name()}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # --- conversion and copies ------------------------------------------------

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or keywords
        ``device=``/``dtype=``/``copy=``. A cross-device copy is bit for bit
        (NaN payloads and -0.0 survive); unchanged device and dtype return
        ``self`` unless ``copy=True``. Gradients flow back through the copy."""
        dev, dtype, copy = _parse_to(args, kwargs)
        target = self._device if dev is None else placement(dev)
        want = self.dtype if dtype is None else dtype
        if target is self._device and want == self.dtype and not copy:
            return self
        return _ops.to_copy(self, target, want)

    def cpu(self) -> Tensor:
        return self.to(CPU)

    def clone(self) -> Tensor:
        """A copy with its own storage; gradients flow back to the original."""
        return _ops.to_copy(self, self._device, self.dtype)

    def copy_(self, src: Tensor) -> Tensor:
        """Write ``src``'s values (any device, broadcastable, cast to this
        dtype) into this tensor's storage; not recorded by autograd."""
        if not isinstance(src, Tensor):
            raise TypeError(f"Expected a Tensor but got src={src!r}")
        self._check_unrecorded_write("copy_()", src)
        try:
            np.copyto(raw(self), raw(src), casting="unsafe")
        except ValueError as exc:
            raise ShapeMismatchError(f"copy_(): cannot broadcast {src.shape} to {self.shape}") from exc
        self._version.value += 1
        return self

    def fill_(self, value: Scalar) -> Tensor:
        self._check_unrecorded_write("fill_()", None)
        raw(self)[...] = value
        self._version.value += 1
        return self

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def _check_unrecorded_write(self, what: str, value: object) -> None:
        if _mode.enabled and (self._requires_grad or (isinstance(value, Tensor) and value._requires_grad)):
            subject = "a tensor that requires grad" if self._requires_grad else "this tensor"
            raise AutogradError(
                f"{what} would write into {subject} without recording it for autograd, "
                "corrupting the graph; do it inside reference.no_grad(), through .data, "
                "or build a new tensor out of place"
            )

    # --- indexing -------------------------------------------------------------

    def __getitem__(self, index: Any) -> Tensor:
        return _indexing.getitem(self, index)

    def __setitem__(self, index: Any, value: Tensor | Scalar) -> None:
        _indexing.setitem(self, index, value)

    # --- arithmetic (implemented in _ops) -------------------------------------

    def __add__(self, other: Tensor | Scalar) -> Tensor:
        return _ops.add(self, other)

    def __radd__(self, other: Scalar) -> Tensor:
        return _ops.add(self, other)

    def __sub__(self, other: Tensor | Scalar) -> Tensor:
        return _ops.sub(self, other)

    def __rsub__(self, other: Scalar) -> Tensor:
        return _ops.rsub(self, other)

    def __mul__(self, other: Tensor | Scalar) -> Tensor:
        return _ops.mul(self, other)

    def __rmul__(self, other: Scalar) -> Tensor:
        return _ops.mul(self, other)

    def __truediv__(self, other: Tensor | Scalar) -> Tensor:
        return _ops.div(self, other)

    def __rtruediv__(self, other: Scalar) -> Tensor:
        return _ops.rdiv(self, other)

    def __pow__(self, exponent: Scalar) -> Tensor:
        return _ops.pow(self, exponent)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __matmul__(self, other: Tensor) -> Tensor:
        return _linalg.matmul(self, other)

    def __rmatmul__(self, other: Tensor) -> Tensor:
        return _linalg.matmul(other, self)

    def __iadd__(self, other: Tensor | Scalar) -> Self:
        return _ops.inplace(self, other, "add")

    def __isub__(self, other: Tensor | Scalar) -> Self:
        return _ops.inplace(self, other, "sub")

    def __imul__(self, other: Tensor | Scalar) -> Self:
        return _ops.inplace(self, other, "mul")

    def __itruediv__(self, other: Tensor | Scalar) -> Self:
        return _ops.inplace(self, other, "div")

    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]
        return _ops.compare(self, other, np.equal)

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]
        return _ops.compare(self, other, np.not_equal)

    def __lt__(self, other: Tensor | Scalar) -> Tensor:
        return _ops.compare(self, other, np.less)

    def __le__(self, other: Tensor | Scalar) -> Tensor:
        return _ops.compare(self, other, np.less_equal)

    def __gt__(self, other: Tensor | Scalar) -> Tensor:
        return _ops.compare(self, other, np.greater)

    def __ge__(self, other: Tensor | Scalar) -> Tensor:
        return _ops.compare(self, other, np.greater_equal)

    def matmul(self, other: Tensor) -> Tensor:
        return _linalg.matmul(self, other)

    def mm(self, other: Tensor) -> Tensor:
        return _linalg.mm(self, other)

    def abs(self) -> Tensor:
        return _ops.abs_(self)

    def relu(self) -> Tensor:
        return _ops.relu(self)

    def sum(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        return _ops.sum_(self, dim, keepdim)

    def mean(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        return _ops.mean(self, dim, keepdim)

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        return _indexing.reshape(self, _shape_arg(shape, infer=True))

    def any(self) -> Tensor:
        return _ops.reduce_bool(self, np.any)

    def all(self) -> Tensor:
        return _ops.reduce_bool(self, np.all)


def _shape_arg(shape: tuple[Any, ...], infer: bool = False) -> tuple[int, ...]:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``; ``infer`` allows one -1."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"Expected int sizes but got {shape!r}")
        if n < 0 and not (infer and n == -1):
            raise ValueError(f"Expected non-negative sizes but got {shape!r}")
    return tuple(int(n) for n in shape)


def _parse_to(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Device | None, np.dtype[Any] | None, bool]:
    dev: Device | None = None
    dtype: np.dtype[Any] | None = None
    unknown = set(kwargs) - {"device", "dtype", "copy"}
    if unknown:
        raise TypeError(f"to() got unexpected keyword(s) {sorted(unknown)}")
    if len(args) > 2:
        raise TypeError(f"to() takes at most 2 positional arguments, got {len(args)}")
    for arg in args:
        if isinstance(arg, (Device, str)):
            if dev is not None:
                raise TypeError("to() got two devices")
            dev = _to_device(arg)
        elif isinstance(arg, Tensor):
            dev, dtype = arg._device, arg.dtype
        else:
            if dtype is not None:
                raise TypeError("to() got two dtypes")
            dtype = _dtypes.as_dtype(arg)
    if kwargs.get("device") is not None:
        dev = _to_device(kwargs["device"])
    if kwargs.get("dtype") is not None:
        dtype = _dtypes.as_dtype(kwargs["dtype"])
    return dev, dtype, bool(kwargs.get("copy", False))


# Imported last: these modules need the Tensor class defined above.
from . import _indexing, _linalg, _ops  # noqa: E402
