"""Parameter-tie mutant parts written once for every PyTorch-shaped backend (torch, the reference).

A mutant module binds them to a backend as ``loads`` does: its layers compute
with :func:`weight_seen_by`, and its backend subclasses :class:`UsesPerPass`
together with that backend. This module holds no mutant of its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.backends._torchlike import TorchLikeBackend

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
