"""Assertion helpers that make every failure name its clause, backend and device.

A test receives a :class:`Check` bound to the clause it cites, so the test
body reads like the spec::

    check.equal(names, expected, "named_parameters() names")

and a failure reads ``[TIE-PARAMS-ONCE] torch on cpu: named_parameters()
names: observed [...]; expected [...]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class ClauseViolation(AssertionError):
    """A backend did not do what a clause says. Carries the context as attributes."""

    def __init__(self, clause: str, backend: str, device: str, what: str, observed: str, expected: str) -> None:
        self.clause, self.backend, self.device = clause, backend, device
        self.what, self.observed, self.expected = what, observed, expected
        super().__init__(f"[{clause}] {backend} on {device}: {what}: observed {observed}; expected {expected}")


def _short(value: Any, limit: int = 400) -> str:
    if isinstance(value, np.ndarray):
        text = np.array2string(value, threshold=20, precision=8, max_line_width=200)
        text = f"array(shape={value.shape}, dtype={value.dtype}, {text})"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Check:
    """Assertions bound to one clause, backend and device."""

    __slots__ = ("backend", "clause", "device")

    def __init__(self, clause: str, backend: str, device: str) -> None:
        self.clause, self.backend, self.device = clause, backend, device

    def fail(self, what: str, observed: Any, expected: Any) -> ClauseViolation:
        """The violation to raise; ``observed``/``expected`` are shown as given when strings."""
        obs = observed if isinstance(observed, str) else _short(observed)
        exp = expected if isinstance(expected, str) else _short(expected)
        return ClauseViolation(self.clause, self.backend, self.device, what, obs, exp)

    def true(self, condition: bool, what: str, observed: Any, expected: Any) -> None:
        __tracebackhide__ = True
        if not condition:
            raise self.fail(what, observed, expected)

    def equal(self, observed: Any, expected: Any, what: str) -> None:
        __tracebackhide__ = True
        if not (observed == expected):
            raise self.fail(what, observed, expected)

    def same(self, a: Any, b: Any, what: str) -> None:
        """``a is b``: one object, not two equal ones."""
        __tracebackhide__ = True
        if a is not b:
            raise self.fail(what, f"two distinct objects (ids {id(a):#x} and {id(b):#x})", "one and the same object")

    def shape(self, array: np.ndarray, expected: tuple[int, ...], what: str) -> None:
        __tracebackhide__ = True
        if tuple(array.shape) != tuple(expected):
            raise self.fail(f"{what} shape", tuple(array.shape), tuple(expected))

    def close(self, observed: np.ndarray, expected: np.ndarray, tolerance: np.ndarray | float, what: str) -> None:
        """Elementwise ``|observed - expected| <= tolerance``, shapes equal, non-finite values alike."""
        __tracebackhide__ = True
        self.shape(observed, expected.shape, what)
        obs = observed.astype(np.float64)
        exp = expected.astype(np.float64)
        tol = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), exp.shape)
        finite = np.isfinite(exp)
        same_non_finite = np.array_equal(obs[~finite], exp[~finite], equal_nan=True)  # NaN where NaN is expected
        if not np.array_equal(np.isfinite(obs), finite) or not same_non_finite:
            raise self.fail(f"{what} non-finite entries", obs, exp)
        error = np.zeros_like(exp)
        error[finite] = np.abs(obs[finite] - exp[finite])  # non-finite entries agree here (checked above)
        excess = error - tol
        if excess.size and excess.max() > 0:
            where = np.unravel_index(int(np.argmax(excess)), excess.shape)
            raise self.fail(
                what,
                f"{obs[where]!r} at index {tuple(int(i) for i in where)} (|error| {error[where]:.3g}, "
                f"{int((excess > 0).sum())} of {excess.size} entries out of tolerance)",
                f"{exp[where]!r} within {tol[where]:.3g}",
            )

    def bitwise(
        self, observed: tuple[str, tuple[int, ...], bytes], expected: tuple[str, tuple[int, ...], bytes], what: str
    ) -> None:
        """Same dtype, shape and bytes (NaN payloads and the sign of zero included)."""
        __tracebackhide__ = True
        if observed[0] != expected[0]:
            raise self.fail(f"{what} dtype", observed[0], expected[0])
        if tuple(observed[1]) != tuple(expected[1]):
            raise self.fail(f"{what} shape", tuple(observed[1]), tuple(expected[1]))
        if observed[2] != expected[2]:
            first = (
                next(i for i, (a, b) in enumerate(zip(observed[2], expected[2], strict=False)) if a != b)
                if len(observed[2]) == len(expected[2])
                else min(len(observed[2]), len(expected[2]))
            )
            raise self.fail(
                f"{what} bytes",
                f"{len(observed[2])} bytes, first difference at byte {first}",
                f"{len(expected[2])} identical bytes",
            )

    def raises(self, action: Callable[[], Any], what: str) -> BaseException:
        """``action()`` must raise an exception (any but a violation of this suite); return it."""
        __tracebackhide__ = True
        try:
            result = action()
        except ClauseViolation:
            raise
        except Exception as exc:  # the framework's own error type, whatever it is
            return exc
        shown = _short(result, 120)
        if not shown.strip():  # an object that prints as nothing (an empty Paddle Program): name its type
            shown = f"a {type(result).__module__}.{type(result).__qualname__} whose repr is {shown!r}"
        raise self.fail(what, f"no error; it returned {shown}", "an error")
