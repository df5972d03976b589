"""The errors the reference framework raises, all under one root.

Every class derives from :class:`FrameworkError` *and* from the builtin
exception a PyTorch user would expect in the same situation (``RuntimeError``
for device and autograd misuse, ``ValueError`` for a bad checkpoint file), so
code written against either catches them.

>>> import reference
>>> try:
...     reference.tensor([1.0]).to("sim:99")
... except reference.DeviceError as err:
...     print(type(err).__mro__[1].__name__)
FrameworkError
"""

from __future__ import annotations

__all__ = [
    "AutogradError",
    "CheckpointError",
    "DTypeError",
    "DeviceError",
    "DeviceMismatchError",
    "FrameworkError",
    "ShapeMismatchError",
    "StateDictError",
    "UninitializedParameterError",
]


class FrameworkError(Exception):
    """Root of every error the reference framework raises on purpose."""


class DeviceError(FrameworkError, RuntimeError):
    """A device string is malformed, or names a device that does not exist."""


class DeviceMismatchError(FrameworkError, RuntimeError):
    """Tensors on different devices met in one operation, or host code tried
    to read a tensor that lives on a simulated accelerator.

    ``devices`` holds the two device names involved, so the message and the
    attribute agree.
    """

    def __init__(self, message: str, devices: tuple[str, str] = ("", "")) -> None:
        super().__init__(message)
        self.devices = devices

    def __reduce__(self) -> tuple[type[DeviceMismatchError], tuple[str, tuple[str, str]]]:
        return (type(self), (str(self), self.devices))


class DTypeError(FrameworkError, TypeError):
    """A dtype the framework does not support, or a cast it refuses."""


class AutogradError(FrameworkError, RuntimeError):
    """Autograd was misused: an in-place change that would corrupt a recorded
    graph, ``backward()`` on a non-scalar without a gradient, and the like."""


class ShapeMismatchError(FrameworkError, RuntimeError):
    """Operand shapes do not fit: a matmul with unequal inner sizes, operands
    that do not broadcast, or a layer called with another input width."""


class UninitializedParameterError(FrameworkError, RuntimeError):
    """A lazy layer's parameter was read before its first forward call (or a
    ``load_state_dict``) gave it a shape."""


class CheckpointError(FrameworkError, ValueError):
    """A file given to :func:`reference.load` is not a valid checkpoint.

    This is the one error type every bad file produces: truncated, random
    bytes, absurd header, unknown dtype, overlapping offsets, a pickle or a
    PyTorch zip archive. The message names the path and what is wrong.
    """


class StateDictError(FrameworkError, RuntimeError):
    """``load_state_dict`` found keys or shapes that do not match the module.

    Attributes:
        missing: keys the module expects that the state dict lacks.
        unexpected: keys in the state dict the module does not have.
        mismatched: ``(key, checkpoint_shape, model_shape)`` for each key
            whose shape differs.
    """

    def __init__(
        self,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
    ) -> None:
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)
        super().__init__(self._compose())

    def _compose(self) -> str:
        lines = ["Error(s) in loading state_dict:"]
        if self.missing:
            lines.append("  missing key(s): " + ", ".join(repr(k) for k in self.missing))
        if self.unexpected:
            lines.append("  unexpected key(s): " + ", ".join(repr(k) for k in self.unexpected))
        for key, got, want in self.mismatched:
            lines.append(f"  size mismatch for {key!r}: checkpoint has shape {got}, the model expects {want}")
        return "\n".join(lines)

    def __reduce__(self) -> tuple[type[StateDictError], tuple[object, ...]]:
        # Keep the attributes when the error crosses a process boundary
        # (pytest-xdist workers pickle exceptions).
        return (type(self), (self.missing, self.unexpected, self.mismatched))
