"""blockspec's reference framework: a strict, minimal NumPy implementation
of the "deep learning computation" chapter — tensors with devices and
reverse-mode autograd, modules, parameters, initialisation, lazy layers,
safe save/load, and simulated accelerators.

It plays for blockspec the role array-api-strict plays for the Array API:
a readable subject framework that does exactly what the specification says
and refuses everything else loudly.

>>> import reference
>>> from reference import nn
>>> net = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
>>> X = reference.rand(2, 20)
>>> net(X).shape
(2, 10)
>>> net.to(reference.try_gpu())(X.to(reference.try_gpu())).device
device(type='sim', index=0)
"""

from __future__ import annotations

from . import nn, sim
from ._autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from ._device import Device, device, try_all_gpus, try_gpu
from ._dtypes import bool_, float16, float32, float64, int8, int16, int32, int64, uint8
from ._factories import arange, from_numpy, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from ._linalg import matmul, mm
from ._ops import relu
from ._random import Generator, default_generator, manual_seed
from ._serialization import load, save
from ._tensor import Tensor
from .errors import (
    AutogradError,
    CheckpointError,
    DeviceError,
    DeviceMismatchError,
    DTypeError,
    FrameworkError,
    ShapeMismatchError,
    StateDictError,
    UninitializedParameterError,
)

bool = bool_

__all__ = [
    "AutogradError",
    "CheckpointError",
    "DTypeError",
    "Device",
    "DeviceError",
    "DeviceMismatchError",
    "FrameworkError",
    "Generator",
    "ShapeMismatchError",
    "StateDictError",
    "Tensor",
    "UninitializedParameterError",
    "arange",
    "bool",
    "bool_",
    "default_generator",
    "device",
    "enable_grad",
    "float16",
    "float32",
    "float64",
    "from_numpy",
    "full",
    "int8",
    "int16",
    "int32",
    "int64",
    "is_grad_enabled",
    "load",
    "manual_seed",
    "matmul",
    "mm",
    "nn",
    "no_grad",
    "ones",
    "ones_like",
    "rand",
    "randn",
    "relu",
    "save",
    "set_grad_enabled",
    "sim",
    "tensor",
    "try_all_gpus",
    "try_gpu",
    "uint8",
    "zeros",
    "zeros_like",
]
