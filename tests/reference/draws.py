"""What the reference framework's own tests draw (hypothesis strategies): dtypes, shapes, arrays
with special values, and nested containers of tensors."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference

Array = np.ndarray[Any, Any]

# Applied to every @given test here; REFERENCE_TEST_EXAMPLES scales the run.
SETTINGS = settings(
    max_examples=int(os.environ.get("REFERENCE_TEST_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

DTYPES = [np.dtype(d) for d in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")]
FLOAT_DTYPES = [np.dtype(d) for d in ("float16", "float32", "float64")]


def shapes(
    min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 4
) -> st.SearchStrategy[tuple[int, ...]]:
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def any_arrays(dtype: np.dtype[Any] | None = None, shape: tuple[int, ...] | None = None) -> st.SearchStrategy[Array]:
    """Arrays of any supported dtype with every special value allowed
    (NaN, ±inf, -0.0, subnormals), plus NaNs with unusual payloads."""
    dtypes = st.sampled_from(DTYPES) if dtype is None else st.just(dtype)
    shape_strategy = shapes() if shape is None else st.just(shape)
    base = dtypes.flatmap(lambda dt: shape_strategy.flatmap(lambda s: hnp.arrays(dt, s)))
    return st.one_of(base, _nan_payloads())


@st.composite
def _nan_payloads(draw: st.DrawFn) -> Array:
    payload = draw(st.integers(1, 2**22 - 1), label="float32 NaN payload")
    sign = draw(st.sampled_from([0, 1]), label="NaN sign bit")
    bits = np.array([(sign << 31) | (0xFF << 23) | payload, 0x80000000], dtype=np.uint32)  # + a -0.0
    return bits.view(np.float32)


def devices() -> st.SearchStrategy[str]:
    return st.sampled_from(["cpu", "sim:0", "sim:1"])


def finite_floats(
    shape: tuple[int, ...], low: float = -2.0, high: float = 2.0, away_from_zero: bool = False
) -> st.SearchStrategy[Array]:
    """float64 arrays for finite-difference checks; optionally with every
    element at least 0.05 away from 0 (the kink of relu and abs)."""
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False)
    if away_from_zero:
        elements = elements.filter(lambda v: abs(v) > 0.05)
    return hnp.arrays(np.float64, shape, elements=elements)


def tensors_on(array: Array, device: str) -> reference.Tensor:
    return reference.tensor(array, device=device)
