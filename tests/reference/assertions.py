"""Assertion helpers that say what was observed and what was expected, and
hide their own frames from tracebacks."""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]


def assert_close(observed: Any, expected: Any, *, what: str, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """Elementwise closeness (NaN equals NaN), naming the worst element."""
    __tracebackhide__ = True
    obs, exp = np.asarray(observed), np.asarray(expected)
    if obs.shape != exp.shape:
        raise AssertionError(f"{what}: observed shape {obs.shape}, expected shape {exp.shape}")
    if obs.size == 0 or np.allclose(obs, exp, rtol=rtol, atol=atol, equal_nan=True):
        return
    with np.errstate(invalid="ignore"):
        excess = np.abs(obs.astype(np.float64) - exp.astype(np.float64)) - rtol * np.abs(exp.astype(np.float64))
    index = np.unravel_index(int(np.nanargmax(excess)), obs.shape) if obs.ndim else ()
    raise AssertionError(
        f"{what}: observed {obs[index]!r} but expected {exp[index]!r} at index {index} "
        f"(rtol={rtol}, atol={atol}; observed={obs!r}, expected={exp!r})"
    )


def assert_bits_equal(observed: Array, expected: Array, *, what: str) -> None:
    """Same dtype, shape and bytes (so NaN payloads and -0.0 count)."""
    __tracebackhide__ = True
    if observed.dtype != expected.dtype or observed.shape != expected.shape:
        raise AssertionError(
            f"{what}: observed {observed.dtype}{observed.shape}, expected {expected.dtype}{expected.shape}"
        )
    if observed.tobytes() != expected.tobytes():
        raise AssertionError(
            f"{what}: bytes differ; observed {observed.tobytes()[:64].hex()} expected {expected.tobytes()[:64].hex()}"
        )


def assert_equal(observed: object, expected: object, *, what: str) -> None:
    __tracebackhide__ = True
    if observed != expected:
        raise AssertionError(f"{what}: observed {observed!r}, expected {expected!r}")
