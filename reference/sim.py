"""Simulated accelerators: how many there are.

``sim:0 … sim:N-1`` behave like separate GPUs — tensors on different
devices cannot meet in one op, host reads need ``.cpu()``, transfers copy —
but live in host memory, so device semantics are testable on any machine.

>>> from reference import sim
>>> sim.set_device_count(3); sim.device_count()
3
>>> sim.set_device_count(None)  # back to $BLOCKSPEC_SIM_DEVICES (default 2)
"""

from __future__ import annotations

from ._device import ENV_VAR, device_count, set_device_count

__all__ = ["ENV_VAR", "device_count", "is_available", "set_device_count"]


def is_available() -> bool:
    """True when at least one simulated device exists."""
    return device_count() > 0
