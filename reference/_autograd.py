"""Reverse-mode automatic differentiation: grad mode, graph nodes, engine.

The graph is made of :class:`Node` objects, not of tensors. Each op that
records history creates one node holding what its backward needs (raw arrays
and shapes) and ``next``: one edge per differentiable input, pointing at
that input's own node, at an :class:`AccumulateGrad` for a leaf that
requires grad, or ``None`` for an input that needs no gradient.

Because nodes capture arrays rather than tensors, rebinding a tensor to a
new node (what an in-place operator does under autograd, see
``Tensor.__iadd__``) never changes an existing graph. Writing into a saved
array *does* change it, so each node also records the :class:`Version` of
every tensor it saved, and :func:`run_backward` refuses to use a node whose
saved tensors were modified in place since.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .errors import AutogradError

if TYPE_CHECKING:
    from ._storage import Version
    from ._tensor import Tensor

__all__ = [
    "AccumulateGrad",
    "Node",
    "enable_grad",
    "grad_enabled",
    "is_grad_enabled",
    "no_grad",
    "run_backward",
    "set_grad_enabled",
]

Array = np.ndarray[Any, Any]
F = TypeVar("F", bound=Callable[..., Any])


# --- grad mode ---------------------------------------------------------------


class _GradMode(threading.local):
    """Per thread, as in PyTorch: ``no_grad`` in one thread leaves others alone."""

    enabled = True


_mode = _GradMode()


def is_grad_enabled() -> bool:
    """Whether ops on tensors that require grad currently record history."""
    return _mode.enabled


def grad_enabled() -> bool:
    return _mode.enabled


class set_grad_enabled:
    """Turn recording on or off for a ``with`` block (or from now on, if used
    as a plain call)."""

    def __init__(self, mode: bool) -> None:
        self._previous = _mode.enabled
        _mode.enabled = bool(mode)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        _mode.enabled = self._previous


class no_grad:
    """Context manager (and decorator) that disables history recording.

    >>> import reference
    >>> w = reference.ones(2, requires_grad=True)
    >>> with reference.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    def __enter__(self) -> None:
        self._previous = _mode.enabled
        _mode.enabled = False

    def __exit__(self, *exc: object) -> None:
        _mode.enabled = self._previous

    def __call__(self, fn: F) -> F:
        import functools

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with no_grad():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class enable_grad(no_grad):
    """Re-enable recording inside a ``no_grad`` block."""

    def __enter__(self) -> None:
        self._previous = _mode.enabled
        _mode.enabled = True


@contextmanager
def _restore_mode() -> Iterator[None]:
    previous = _mode.enabled
    try:
        yield
    finally:
        _mode.enabled = previous


# --- nodes -------------------------------------------------------------------


class Node:
    """One recorded op. Subclasses implement :meth:`apply`, mapping the
    gradient of the op's output to one gradient (or None) per ``next`` edge.

    ``apply`` must not write into the incoming gradient: several nodes may
    receive the same array.
    """

    __slots__ = ("next", "saved")

    next: tuple[Node | None, ...]
    # (version counter, value when saved) for every tensor whose array the
    # node keeps; checked before apply.
    saved: tuple[tuple[Version, int], ...]

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        raise NotImplementedError

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name()}>"

    def _check_saved(self) -> None:
        for box, value in self.saved:
            if box.value != value:
                raise AutogradError(
                    f"A tensor saved by {self.name()} for the backward pass was modified "
                    f"in place (its version is {box.value}, it was {value} when saved); "
                    "recompute the forward pass after changing it, or change a copy"
                )


class AccumulateGrad(Node):
    """The sink for a leaf tensor that requires grad: adds into ``.grad``."""

    __slots__ = ("variable",)

    def __init__(self, variable: Tensor) -> None:
        self.next = ()
        self.saved = ()
        self.variable = variable

    def apply(self, grad: Array) -> tuple[Array | None, ...]:
        self.variable._accumulate_grad(grad)
        return ()


# --- engine ------------------------------------------------------------------


def run_backward(root: Node, grad: Array) -> None:
    """Propagate ``grad`` from ``root`` through every reachable node, in an
    order where a node runs only after all its consumers have run, so each
    node sees the full sum of the gradients flowing into it."""
    pending: dict[Node, int] = {}
    stack = [root]
    seen = {root}
    while stack:
        node = stack.pop()
        for nxt in node.next:
            if nxt is None:
                continue
            pending[nxt] = pending.get(nxt, 0) + 1
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)

    grads: dict[Node, Array] = {root: grad}
    ready = [root]
    # Hooks run by nodes (accumulation) must not record new history.
    with _restore_mode():
        _mode.enabled = False
        while ready:
            node = ready.pop()
            incoming = grads.pop(node, None)
            if incoming is None:
                outputs: tuple[Array | None, ...] = (None,) * len(node.next)
            else:
                if node.saved:
                    node._check_saved()
                outputs = node.apply(incoming)
            for nxt, out in zip(node.next, outputs, strict=True):
                if nxt is None:
                    continue
                if out is not None:
                    previous = grads.get(nxt)
                    # Out of place: ``out`` may be shared with other edges.
                    grads[nxt] = out if previous is None else previous + out
                remaining = pending[nxt] - 1
                pending[nxt] = remaining
                if remaining == 0:
                    ready.append(nxt)
