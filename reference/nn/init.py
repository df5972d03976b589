"""Parameter initialisation, in place and unrecorded by autograd.

Each function writes into its tensor's storage (whatever the device),
returns the tensor, and draws randomness from ``generator=`` or the default
generator that :func:`reference.manual_seed` seeds.

>>> import reference
>>> from reference import nn
>>> w = nn.init.constant_(reference.zeros(2, 3), 42.0)
>>> w.tolist()
[[42.0, 42.0, 42.0], [42.0, 42.0, 42.0]]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._random import Generator, resolve
from .._tensor import Tensor, raw

__all__ = [
    "calculate_fan_in_and_fan_out",
    "constant_",
    "normal_",
    "ones_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]


def _write(t: Tensor, values: object) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"Expected a Tensor but got {type(t).__name__}")
    target = raw(t)  # raises UninitializedParameterError for a lazy parameter
    target[...] = values
    t._version.value += 1
    return t


def _float_target(t: Tensor, what: str) -> np.dtype[Any]:
    if not isinstance(t, Tensor):
        raise TypeError(f"Expected a Tensor but got {type(t).__name__}")
    raw(t)  # fail early and clearly on an uninitialized parameter
    if t.dtype.kind != "f":
        raise TypeError(f"{what} fills floating-point tensors, got dtype {t.dtype}")
    return t.dtype


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill with samples from U[a, b)."""
    if not a <= b:
        raise ValueError(f"Expected a <= b but got a={a!r}, b={b!r}")
    dtype = _float_target(tensor, "uniform_")
    return _write(tensor, resolve(generator).uniform(tensor.shape, float(a), float(b), dtype))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill with samples from N(mean, std²)."""
    if not std >= 0:
        raise ValueError(f"Expected std >= 0 but got std={std!r}")
    dtype = _float_target(tensor, "normal_")
    return _write(tensor, resolve(generator).normal(tensor.shape, float(mean), float(std), dtype))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _write(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    return _write(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    return _write(tensor, 1)


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(size(1) * receptive, size(0) * receptive)`` where ``receptive`` is
    the product of the dimensions after the first two; 2-d at least."""
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(f"Fan in and fan out need a tensor with at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill from U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    total = fan_in + fan_out
    bound = gain * math.sqrt(6.0 / total) if total else 0.0
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill from N(0, std²), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    total = fan_in + fan_out
    std = gain * math.sqrt(2.0 / total) if total else 0.0
    return normal_(tensor, 0.0, std, generator)
