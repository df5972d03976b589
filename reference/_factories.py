"""Functions that create tensors: from data, filled, or random.

All take ``dtype=``, ``device=`` and ``requires_grad=`` keywords. Sizes may
be given as ``zeros(2, 3)`` or ``zeros((2, 3))``. Random factories draw on
the host from a seeded :class:`~reference.Generator` (the default one unless
``generator=`` is given), then place the values on the device.

>>> import reference
>>> reference.ones(2, 3, device="sim:1").device
device(type='sim', index=1)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _dtypes
from ._device import CPU, DeviceLike, placement
from ._random import Generator, resolve
from ._tensor import Tensor, _shape_arg, as_array, make
from .errors import DTypeError

__all__ = [
    "arange",
    "from_numpy",
    "full",
    "ones",
    "ones_like",
    "rand",
    "randn",
    "tensor",
    "zeros",
    "zeros_like",
]

Array = np.ndarray[Any, Any]


def _finish(array: Array, device: DeviceLike | None, requires_grad: bool) -> Tensor:
    t = make(array, CPU if device is None else placement(device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float_dtype(dtype: object, what: str) -> np.dtype[Any]:
    dt = _dtypes.DEFAULT_FLOAT if dtype is None else _dtypes.as_dtype(dtype)
    if not _dtypes.is_floating(dt):
        raise DTypeError(f"{what} draws floating-point values; got dtype={dt.name}")
    return dt


def tensor(data: object, dtype: object = None, device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, a scalar, or a
    NumPy array). Python floats become float32, ints int64, bools bool.

    >>> tensor([[1, 2], [3, 4]]).dtype
    dtype('int64')
    """
    if isinstance(data, Tensor):
        raise TypeError("tensor() copies Python or NumPy data; for a Tensor use .clone() or .to()")
    return _finish(as_array(data, dtype), device, requires_grad)


def from_numpy(array: Array) -> Tensor:
    """A CPU tensor *sharing memory* with ``array`` (writes show in both)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"Expected a numpy.ndarray but got {type(array).__name__}")
    _dtypes.as_dtype(array.dtype)
    if not array.dtype.isnative:
        raise DTypeError("from_numpy() needs a native byte order array; use .astype() first")
    return make(array, CPU)


def zeros(*size: Any, dtype: object = None, device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    dt = _dtypes.DEFAULT_FLOAT if dtype is None else _dtypes.as_dtype(dtype)
    return _finish(np.zeros(_shape_arg(size), dtype=dt), device, requires_grad)


def ones(*size: Any, dtype: object = None, device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    dt = _dtypes.DEFAULT_FLOAT if dtype is None else _dtypes.as_dtype(dtype)
    return _finish(np.ones(_shape_arg(size), dtype=dt), device, requires_grad)


def full(
    size: Any,
    fill_value: bool | int | float,
    dtype: object = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    dt = as_array(fill_value).dtype if dtype is None else _dtypes.as_dtype(dtype)
    return _finish(np.full(_shape_arg((size,)), fill_value, dtype=dt), device, requires_grad)


def zeros_like(
    t: Tensor, dtype: object = None, device: DeviceLike | None = None, requires_grad: bool = False
) -> Tensor:
    return zeros(
        t.shape,
        dtype=t.dtype if dtype is None else dtype,
        device=t.device if device is None else device,
        requires_grad=requires_grad,
    )


def ones_like(t: Tensor, dtype: object = None, device: DeviceLike | None = None, requires_grad: bool = False) -> Tensor:
    return ones(
        t.shape,
        dtype=t.dtype if dtype is None else dtype,
        device=t.device if device is None else device,
        requires_grad=requires_grad,
    )


def arange(
    start: int | float,
    end: int | float | None = None,
    step: int | float = 1,
    dtype: object = None,
    device: DeviceLike | None = None,
) -> Tensor:
    """``[start, end)`` in steps; ints give int64, floats float32."""
    if end is None:
        start, end = 0, start
    values = np.arange(start, end, step)
    dt = (
        (_dtypes.DEFAULT_FLOAT if values.dtype.kind == "f" else _dtypes.int64)
        if dtype is None
        else _dtypes.as_dtype(dtype)
    )
    return _finish(values.astype(dt), device, False)


def rand(
    *size: Any,
    generator: Generator | None = None,
    dtype: object = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Uniform samples from [0, 1).

    >>> rand(2, 3).shape
    (2, 3)
    """
    dt = _float_dtype(dtype, "rand()")
    return _finish(resolve(generator).uniform(_shape_arg(size), 0.0, 1.0, dt), device, requires_grad)


def randn(
    *size: Any,
    generator: Generator | None = None,
    dtype: object = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Standard normal samples."""
    dt = _float_dtype(dtype, "randn()")
    return _finish(resolve(generator).normal(_shape_arg(size), 0.0, 1.0, dt), device, requires_grad)
