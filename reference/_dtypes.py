"""The dtypes the framework supports: NumPy dtypes, a closed list of nine.

Tensors carry plain ``numpy.dtype`` objects so that ``t.dtype == np.float32``
reads naturally; :func:`as_dtype` is the one gate every ``dtype=`` argument
passes through, so an unsupported type (complex, float128, strings, objects)
fails at the boundary with a clear message instead of deep inside an op.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import DTypeError

__all__ = [
    "DEFAULT_FLOAT",
    "SUPPORTED",
    "as_dtype",
    "bool_",
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "is_floating",
    "uint8",
]

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

# Order matters only for messages and for strategies that enumerate dtypes.
SUPPORTED: tuple[np.dtype[Any], ...] = (
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    uint8,
    bool_,
)
_SUPPORTED_SET = frozenset(SUPPORTED)

# PyTorch's default: Python floats become float32 tensors, not float64.
DEFAULT_FLOAT = float32


def as_dtype(spec: object) -> np.dtype[Any]:
    """Return the supported ``numpy.dtype`` named by ``spec``.

    Accepts a ``numpy.dtype``, a NumPy scalar type (``np.float32``), the
    Python types ``float``/``int``/``bool`` (float32/int64/bool, as PyTorch
    maps them) or a name such as ``"float32"``.
    """
    if spec is float:
        return DEFAULT_FLOAT
    if spec is int:
        return int64
    if spec is bool:
        return bool_
    if spec is None:
        # np.dtype(None) silently means float64; refuse instead of guessing.
        raise DTypeError("Expected a dtype but got dtype=None")
    try:
        dt: np.dtype[Any] = np.dtype(spec)  # type: ignore[call-overload]
    except TypeError as exc:
        raise DTypeError(f"Expected a dtype but got dtype={spec!r}") from exc
    # A byte-swapped dtype is the same number type; tensors store native order.
    if dt.byteorder not in ("=", "|"):
        dt = dt.newbyteorder("=")
    if dt not in _SUPPORTED_SET:
        names = ", ".join(d.name for d in SUPPORTED)
        raise DTypeError(f"Unsupported dtype {dt.name!r}; supported dtypes are: {names}")
    return dt


def is_floating(dtype: np.dtype[Any]) -> bool:
    """True for float16/32/64: the dtypes that may require gradients."""
    return dtype.kind == "f"
