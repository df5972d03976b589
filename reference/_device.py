"""Devices: the host CPU and simulated accelerators ``sim:0 … sim:N-1``.

A :class:`Device` is an immutable ``(type, index)`` pair. Equality compares
the pair *as written*, so ``device("sim") != device("sim:0")`` exactly as
``torch.device("cuda") != torch.device("cuda:0")``; *placement* resolves the
bare name, so a tensor created on ``device("sim")`` reports ``sim:0``.

The number of simulated devices comes from :func:`set_device_count` or, when
that was never called (or was reset with ``None``), from the environment
variable ``BLOCKSPEC_SIM_DEVICES`` (default 2; 0 means "no accelerator").

>>> import reference
>>> reference.device("sim:1")
device(type='sim', index=1)
>>> str(reference.device("sim")), reference.device("sim") == reference.device("sim:0")
('sim', False)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import ClassVar

from .errors import DeviceError

__all__ = [
    "CPU",
    "ENV_VAR",
    "Device",
    "DeviceLike",
    "device",
    "device_count",
    "placement",
    "set_device_count",
    "try_all_gpus",
    "try_gpu",
]

ENV_VAR = "BLOCKSPEC_SIM_DEVICES"
_DEFAULT_COUNT = 2
_TYPES = ("cpu", "sim")
_MAX_INDEX_DIGITS = 18  # below 2**63; and int() refuses over 4300 digits with a ValueError
_SPEC = re.compile(r"(cpu|sim)(?::(0|[1-9][0-9]*))?")


class Device:
    """An immutable device name: ``type`` is ``"cpu"`` or ``"sim"``, ``index``
    is ``None`` (unspecified) or a non-negative int. Instances are interned,
    so equal devices are usually the same object (a fast path for ops)."""

    __slots__ = ("_index", "_type")
    _interned: ClassVar[dict[tuple[str, int | None], Device]] = {}

    _type: str
    _index: int | None

    def __new__(cls, type: str, index: int | None = None) -> Device:
        key = (type, index)
        found = cls._interned.get(key)
        if found is not None:
            return found
        if type not in _TYPES:
            raise DeviceError(f"Expected a device type in {_TYPES} but got type={type!r}")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise DeviceError(f"Expected a non-negative int device index but got index={index!r}")
        if type == "cpu" and index is not None:
            raise DeviceError(f"The cpu device takes no index, but got index={index!r}")
        self = object.__new__(cls)
        object.__setattr__(self, "_type", type)
        object.__setattr__(self, "_index", index)
        cls._interned[key] = self
        return self

    @property
    def type(self) -> str:
        return self._type

    @property
    def index(self) -> int | None:
        return self._index

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Device is immutable; cannot set {name!r}")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Device):
            return self._type == other._type and self._index == other._index
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self._type, self._index))

    def __str__(self) -> str:
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self) -> str:
        if self._index is None:
            return f"device(type={self._type!r})"
        return f"device(type={self._type!r}, index={self._index})"

    def __reduce__(self) -> tuple[Callable[..., Device], tuple[str, int | None]]:
        return (Device, (self._type, self._index))


DeviceLike = Device | str

CPU = Device("cpu")


def device(spec: DeviceLike, index: int | None = None) -> Device:
    """Parse ``"cpu"``, ``"sim"`` or ``"sim:1"`` (or pass a Device through).

    ``device("sim", 1)`` is the two-argument form. Naming a device does not
    check that it exists; creating a tensor there does.
    """
    if isinstance(spec, Device):
        if index is not None:
            raise DeviceError(f"Expected index=None with a Device but got index={index!r}")
        return spec
    if not isinstance(spec, str):
        raise DeviceError(f"Expected a Device or a string such as 'sim:0' but got {spec!r}")
    match = _SPEC.fullmatch(spec)
    if match is None:
        raise DeviceError(f"Invalid device string {spec!r}; expected 'cpu', 'sim' or 'sim:<index>'")
    kind, written = match.group(1), match.group(2)
    if written is not None and len(written) > _MAX_INDEX_DIGITS:
        raise DeviceError(
            f"Invalid device string {spec[:40]!r}...: a device index has at most {_MAX_INDEX_DIGITS} digits"
        )
    if written is not None and index is not None:
        raise DeviceError(f"Device {spec!r} already has an index; got index={index!r} too")
    return Device(kind, int(written) if written is not None else index)


# --- how many simulated accelerators exist ---------------------------------

_override: int | None = None


def set_device_count(count: int | None) -> None:
    """Set the number of simulated devices; ``None`` goes back to the
    ``BLOCKSPEC_SIM_DEVICES`` environment variable. Tensors already on a
    device that disappears keep working; new placements there fail."""
    global _override
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise DeviceError(f"Expected a non-negative int but got count={count!r}")
    _override = count


def device_count() -> int:
    """The number of simulated devices ``sim:0 … sim:N-1`` (may be 0)."""
    if _override is not None:
        return _override
    raw = os.environ.get(ENV_VAR)
    if raw is None or raw.strip() == "":
        return _DEFAULT_COUNT
    text = raw.strip()
    if not text.isdigit():
        raise DeviceError(f"Expected a non-negative integer in ${ENV_VAR} but got {raw!r}")
    return int(text)


def placement(spec: DeviceLike) -> Device:
    """The concrete device a tensor created on ``spec`` lives on.

    ``sim`` without an index means ``sim:0``. Raises :class:`DeviceError`
    naming the device count when the device does not exist.
    """
    dev = device(spec)
    if dev._type == "cpu":
        return CPU
    count = device_count()
    index = 0 if dev._index is None else dev._index
    if index >= count:
        raise DeviceError(
            f"Device {dev} does not exist: there are {count} simulated device(s) "
            f"(set ${ENV_VAR} or call reference.sim.set_device_count to change that)"
        )
    return Device("sim", index)


def try_gpu(i: int = 0) -> Device:
    """``sim:i`` if ``device_count() >= i + 1``, else the CPU (the chapter's
    ``try_gpu``)."""
    if isinstance(i, bool) or not isinstance(i, int) or i < 0:
        raise DeviceError(f"Expected a non-negative int but got i={i!r}")
    return Device("sim", i) if device_count() >= i + 1 else CPU


def try_all_gpus() -> list[Device]:
    """Every simulated device in index order, or ``[cpu]`` when there is none."""
    count = device_count()
    return [Device("sim", i) for i in range(count)] if count else [CPU]
