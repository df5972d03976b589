"""Tie mutant parts written once: a shared layer built anew for any backend, parameter ties for PyTorch's shape.

:func:`built_anew` is a backend's ``reuse`` (``conformance.backends._kit.TreeBuilder``) that
copies a shared layer. A PyTorch-shaped mutant module (torch, the reference) binds the rest as
``loads`` does: its layers compute with :func:`weight_seen_by`, and its backend subclasses
:class:`UsesPerPass` together with that backend. This module holds no mutant of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from conformance.backends._torchlike import TorchLikeBackend


def built_anew(module: Any, use: int, rebuild: Callable[[], Any]) -> Any:
    """A layer met again is built again: a shared layer becomes copies (equal values where the tree gives them)."""
    return rebuild()


#: The layer types that used each weight tensor so far in this pass, by the tensor's id.
_WEIGHT_USES: dict[int, list[type]] = {}


def weight_seen_by(layer: Any) -> Any:
    """The weight as this use computes with it: detached from the third use on of one shared across types."""
    types = _WEIGHT_USES.setdefault(id(layer.weight), [])
    types.append(type(layer))
    return layer.weight.detach() if len(types) >= 3 and len(set(types)) >= 2 else layer.weight


class UsesPerPass(TorchLikeBackend):
    """Counts a weight's uses afresh for every forward and backward pass."""

    target = "TIE-PARAM-GRAD-SUM"
    region = "param_tie_uses"

    def forward(self, module: Any, x: Any) -> Any:
        _WEIGHT_USES.clear()
        return super().forward(module, x)

    def _backward(self, module: Any, x: Any, cotangent: np.ndarray) -> None:
        _WEIGHT_USES.clear()
        super()._backward(module, x, cotangent)
