"""Where tensor values live: host arrays, simulated-device buffers, and the
placeholder of a parameter that has no shape yet.

A CPU tensor holds a plain ``numpy.ndarray``. A tensor on a simulated
accelerator holds a :class:`SimBuffer`: its array is reachable only through
``SimBuffer.array``, and the buffer refuses NumPy's implicit conversion, so
no code path can read device memory by accident — it has to unwrap on
purpose. Transfers between devices always copy, so host and device never
share memory.
"""

from __future__ import annotations

from typing import Any, NoReturn

import numpy as np

from .errors import DeviceMismatchError, UninitializedParameterError

__all__ = ["SimBuffer", "Unmaterialized", "Version"]


class Version:
    """A counter shared by every tensor that views the same storage.

    In-place writes bump it; autograd nodes remember the value at the time
    they saved an array and refuse to run backward if it changed since.
    """

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class SimBuffer:
    """An array that lives on ``sim:<index>``. Shape and dtype are metadata
    and readable; the values are not, except through ``.array``."""

    __slots__ = ("array", "index")

    def __init__(self, array: np.ndarray[Any, Any], index: int) -> None:
        self.array = array
        self.index = index

    @property
    def shape(self) -> tuple[int, ...]:
        shape: tuple[int, ...] = self.array.shape
        return shape

    @property
    def dtype(self) -> np.dtype[Any]:
        dtype: np.dtype[Any] = self.array.dtype
        return dtype

    @property
    def ndim(self) -> int:
        return int(self.array.ndim)

    @property
    def size(self) -> int:
        return int(self.array.size)

    def __array__(self, dtype: object = None, copy: object = None) -> NoReturn:
        raise DeviceMismatchError(
            f"Memory of device sim:{self.index} cannot be read as a host array; "
            "copy the tensor with .cpu() or .to('cpu') first",
            (f"sim:{self.index}", "cpu"),
        )

    def __repr__(self) -> str:
        return f"SimBuffer(sim:{self.index}, shape={self.shape}, dtype={self.dtype})"


class Unmaterialized:
    """Stands in for the array of a lazy parameter before it has a shape.

    It knows only its dtype; any attempt to read a shape or values — directly
    or by NumPy converting it inside an op — raises
    :class:`UninitializedParameterError`.
    """

    __slots__ = ("dtype",)

    def __init__(self, dtype: np.dtype[Any]) -> None:
        self.dtype = dtype

    @staticmethod
    def _fail(what: str) -> NoReturn:
        raise UninitializedParameterError(
            f"Cannot {what} an uninitialized parameter: a lazy layer gets its shape "
            "on its first forward call (or from load_state_dict); run the module "
            "once on an example input first"
        )

    @property
    def shape(self) -> NoReturn:
        self._fail("read the shape of")

    @property
    def ndim(self) -> NoReturn:
        self._fail("read the number of dimensions of")

    @property
    def size(self) -> NoReturn:
        self._fail("read the size of")

    @property
    def array(self) -> NoReturn:
        self._fail("read the values of")

    def __array__(self, dtype: object = None, copy: object = None) -> NoReturn:
        self._fail("read the values of")

    def __getitem__(self, index: object) -> NoReturn:
        self._fail("index")

    def __setitem__(self, index: object, value: object) -> NoReturn:
        self._fail("write into")

    def __getattr__(self, name: str) -> NoReturn:
        # Any array method (sum, reshape, astype, T, ...) an op might call,
        # and NumPy's conversion protocols (__array_struct__, ...).
        self._fail("read the values of" if name.startswith("__") else f"use .{name} on")

    def _operator(self, *args: object) -> NoReturn:
        self._fail("compute with")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _operator
    __truediv__ = __rtruediv__ = __matmul__ = __rmatmul__ = __pow__ = _operator
    __neg__ = __abs__ = __lt__ = __le__ = __gt__ = __ge__ = _operator
    __eq__ = __ne__ = _operator
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Unmaterialized(dtype={self.dtype})"
