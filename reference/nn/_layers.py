"""The chapter's built-in layers: ``Linear``, ``LazyLinear`` and ``ReLU``."""

from __future__ import annotations

import math
from typing import Any

from .. import _dtypes
from .._device import DeviceLike
from .._factories import zeros
from .._linalg import linear
from .._ops import relu
from .._tensor import Tensor
from ..errors import DTypeError, ShapeMismatchError
from . import init
from ._module import Module
from ._parameter import Parameter, UninitializedParameter

__all__ = ["LazyLinear", "Linear", "ReLU"]


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` of shape (out, in).

    Both are initialised from U(-1/sqrt(in), 1/sqrt(in)), PyTorch's default.

    >>> layer = Linear(4, 8)
    >>> layer.weight.shape, layer.bias.shape
    ((8, 4), (8,))
    """

    in_features: int | None
    out_features: int
    weight: Parameter
    bias: Parameter | None

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: DeviceLike | None = None,
        dtype: object = None,
    ) -> None:
        super().__init__()
        _check_size("in_features", in_features)
        _check_size("out_features", out_features)
        dt = _dtypes.DEFAULT_FLOAT if dtype is None else _dtypes.as_dtype(dtype)
        if not _dtypes.is_floating(dt):
            raise DTypeError(f"Linear needs a floating-point dtype, got {dt.name}")
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(zeros(out_features, in_features, dtype=dt, device=device))
        if bias:
            self.bias = Parameter(zeros(out_features, dtype=dt, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw weight and bias from U(-1/sqrt(in), 1/sqrt(in))."""
        fan_in = self.weight.shape[1]
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        if not isinstance(input, Tensor):
            raise TypeError(f"{type(self).__name__} expects a Tensor, got {type(input).__name__}")
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            raise ShapeMismatchError(
                f"{self!r} expects inputs whose last dimension is {self.in_features}, got shape {input.shape}"
            )
        return linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class LazyLinear(Linear):
    """A ``Linear`` whose ``in_features`` is inferred from the first input.

    Until then its parameters are :class:`UninitializedParameter` and
    ``in_features`` is None. They materialize on the device (and dtype) the
    module has at that moment, so ``LazyLinear(8).to("sim:1")`` creates its
    weights on sim:1. Later calls with another width raise
    :class:`~reference.ShapeMismatchError`.

    >>> import reference
    >>> layer = LazyLinear(8)
    >>> layer(reference.rand(2, 5)).shape, layer.in_features
    ((2, 8), 5)
    """

    def __init__(
        self, out_features: int, bias: bool = True, device: DeviceLike | None = None, dtype: object = None
    ) -> None:
        Module.__init__(self)
        _check_size("out_features", out_features)
        dt = _dtypes.DEFAULT_FLOAT if dtype is None else _dtypes.as_dtype(dtype)
        if not _dtypes.is_floating(dt):
            raise DTypeError(f"LazyLinear needs a floating-point dtype, got {dt.name}")
        self.in_features = None
        self.out_features = out_features
        self.weight = UninitializedParameter(device=device, dtype=dt)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dt)
        else:
            self.register_parameter("bias", None)

    def has_uninitialized_params(self) -> bool:
        return any(isinstance(p, UninitializedParameter) for p in self._parameters.values())

    def _materialize(self, in_features: int) -> None:
        """Give every still-uninitialized parameter its shape and default
        initial values (ones loaded from a checkpoint are left alone)."""
        self.in_features = in_features
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        shapes = {"weight": (self.out_features, in_features), "bias": (self.out_features,)}
        for name, shape in shapes.items():
            param = self._parameters.get(name)
            if isinstance(param, UninitializedParameter):
                param.materialize(shape)
                init.uniform_(param, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        if self.in_features is None:
            if not isinstance(input, Tensor) or input.ndim == 0:
                raise ShapeMismatchError(f"LazyLinear needs a Tensor with at least one dimension, got {input!r}")
            self._materialize(input.shape[-1])
        return super().forward(input)

    def _lazy_expected_shape(self, name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
        if name == "weight":
            return (self.out_features, -1)
        return (self.out_features,)

    def _after_lazy_load(self) -> None:
        # A checkpoint gave the weight its shape, which fixes in_features; a
        # bias it lacked (strict=False) is initialised like a fresh layer's.
        if not isinstance(self.weight, UninitializedParameter) and self.in_features is None:
            self._materialize(self.weight.shape[1])

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    """max(x, 0) elementwise; no parameters."""

    def forward(self, input: Tensor) -> Tensor:
        return relu(input)


def _check_size(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"Expected a non-negative int but got {name}={value!r}")
