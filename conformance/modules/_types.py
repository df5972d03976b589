"""The plain data of a module check: the inputs of one call, and the errors of a bad target or shape.

Kept apart from ``_subject`` (which loads targets) and ``_inputs`` (which draws inputs for a
subject) so that each can import these without importing the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from conformance._errors import UsageError

if TYPE_CHECKING:
    import torch


class ModuleTargetError(UsageError):
    """A module target cannot be checked; ``target`` and ``cause`` say which and why."""

    def __init__(self, target: str, cause: str, fix: str = "") -> None:
        self.target, self.cause, self.fix = target, cause, fix
        super().__init__(f"module target {target!r}: {cause}" + (f"; {fix}" if fix else ""))


class InputShapeError(UsageError):
    """An input shape is not a tuple of positive sizes."""

    def __init__(self, shape: object, cause: str) -> None:
        self.shape, self.cause = shape, cause
        super().__init__(
            f"input shape {shape!r}: {cause}; expected comma-separated positive sizes with the batch first, e.g. 4,6"
        )


@dataclass(frozen=True)
class Inputs:
    """The arguments of one forward call: positional ``args`` and keyword ``kwargs``."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


class Subject(Protocol):
    """What drawing inputs and noting findings need of a subject (``_subject.ModuleSubject`` is one); ``_inputs``
    and ``_notes`` depend on this only."""

    @property
    def target(self) -> str: ...

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]: ...

    @property
    def device(self) -> str: ...

    @property
    def inputs(self) -> Any: ...

    @property
    def torch_dtype(self) -> torch.dtype: ...

    @property
    def batch(self) -> int: ...

    def build(self) -> torch.nn.Module: ...
