"""Blocks: ``Module``, ``Sequential``, the chapter's layers, parameters,
initialisation (``nn.init``) and stateless functions (``nn.functional``).

>>> import reference
>>> from reference import nn
>>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
>>> net(reference.rand(2, 4)).shape
(2, 1)
"""

from __future__ import annotations

from . import functional, init
from ._containers import Sequential
from ._layers import LazyLinear, Linear, ReLU
from ._module import IncompatibleKeys, Module
from ._parameter import Parameter, UninitializedParameter

__all__ = [
    "IncompatibleKeys",
    "LazyLinear",
    "Linear",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "UninitializedParameter",
    "functional",
    "init",
]
