"""``Parameter``: a tensor a module owns and learns; ``UninitializedParameter``:
its placeholder in a lazy layer until the first forward call gives it a shape.
"""

from __future__ import annotations

from typing import Any, NoReturn

import numpy as np

from .. import _dtypes
from .._device import CPU, DeviceLike, placement
from .._storage import SimBuffer, Unmaterialized, Version
from .._tensor import Tensor
from ..errors import UninitializedParameterError

__all__ = ["Parameter", "UninitializedParameter", "is_lazy"]


class Parameter(Tensor):
    """A leaf tensor that requires grad by default and that ``Module``
    registers when assigned as an attribute.

    ``Parameter(t)`` shares ``t``'s storage (no copy), as in PyTorch.

    >>> import reference
    >>> p = Parameter(reference.zeros(2))
    >>> p.requires_grad, p.is_leaf
    (True, True)
    """

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            data = Tensor(np.zeros((0,), dtype=_dtypes.DEFAULT_FLOAT))
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter() expects a Tensor but got {type(data).__name__}")
        if isinstance(data, UninitializedParameter):
            raise TypeError("Parameter() cannot wrap an UninitializedParameter")
        self: Parameter = object.__new__(cls)
        self._data = data._data
        self._device = data._device
        self._version = data._version
        self._grad = None
        self._grad_fn = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)
        return self

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass  # everything happens in __new__ (Tensor.__init__ parses raw data)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class UninitializedParameter(Parameter):
    """A parameter with a dtype and a device but no shape and no values yet.

    Reading its shape or values, or using it in arithmetic, raises
    :class:`~reference.UninitializedParameterError`. :meth:`materialize`
    gives it a shape and turns the *same object* into a :class:`Parameter`.
    """

    __slots__ = ()

    def __new__(
        cls, requires_grad: bool = True, device: DeviceLike | None = None, dtype: object = None
    ) -> UninitializedParameter:
        dt = _dtypes.DEFAULT_FLOAT if dtype is None else _dtypes.as_dtype(dtype)
        self: UninitializedParameter = object.__new__(cls)
        self._data = Unmaterialized(dt)
        self._device = CPU if device is None else placement(device)
        self._version = Version()
        self._grad = None
        self._grad_fn = None
        self._requires_grad = bool(requires_grad)
        return self

    def __init__(self, requires_grad: bool = True, device: DeviceLike | None = None, dtype: object = None) -> None:
        pass

    def materialize(self, shape: tuple[int, ...], device: DeviceLike | None = None, dtype: object = None) -> None:
        """Give the parameter a zero-filled array of ``shape`` (the owning
        layer then initialises it) on its device, and make it a Parameter."""
        dt = self.dtype if dtype is None else _dtypes.as_dtype(dtype)
        dev = self._device if device is None else placement(device)
        array = np.zeros(tuple(int(n) for n in shape), dtype=dt)
        self._data = array if dev is CPU else SimBuffer(array, dev._index)  # type: ignore[arg-type]
        self._device = dev
        self._version = Version()
        # Same slots, so the class can change in place: references held by
        # optimizers or tests stay valid.
        self.__class__ = Parameter  # type: ignore[assignment]

    def _move(self, device: DeviceLike | None, dtype: object | None) -> None:
        """Where (and in what dtype) to materialize later: Module.to() on an
        un-run lazy layer."""
        if device is not None:
            self._device = placement(device)
        if dtype is not None:
            self._data = Unmaterialized(_dtypes.as_dtype(dtype))

    def _fail(self, what: str) -> NoReturn:
        raise UninitializedParameterError(
            f"Cannot {what} an uninitialized parameter: a lazy layer gets its shape on "
            "its first forward call (or from load_state_dict); run the module once on "
            "an example input first"
        )

    @property
    def shape(self) -> NoReturn:
        self._fail("read the shape of")

    @property
    def ndim(self) -> NoReturn:
        self._fail("read the number of dimensions of")

    def numel(self) -> NoReturn:
        self._fail("count the elements of")

    def numpy(self) -> NoReturn:
        self._fail("read the values of")

    def tolist(self) -> NoReturn:
        self._fail("read the values of")

    def item(self) -> NoReturn:
        self._fail("read the values of")

    def __array__(self, dtype: object = None, copy: bool | None = None) -> NoReturn:
        self._fail("read the values of")

    def __deepcopy__(self, memo: dict[int, Any]) -> UninitializedParameter:
        copy = UninitializedParameter(self._requires_grad, self._device, self.dtype)
        memo[id(self)] = copy
        return copy

    def __repr__(self) -> str:
        return f"<UninitializedParameter dtype={self.dtype.name} device='{self._device}'>"


def is_lazy(value: object) -> bool:
    """True for a parameter that has no shape yet."""
    return isinstance(value, UninitializedParameter)
