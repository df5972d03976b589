"""conformance.kit.checks: every failure names its clause, backend, device, what was observed and what expected,
and each comparison fails exactly when it should."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.kit.checks import Check, ClauseViolation

CHECK = Check("SEQ-INDEX", "fakeframe", "sim:1")


def _violation(action: Callable[[], Any]) -> ClauseViolation:
    with pytest.raises(ClauseViolation) as caught:
        action()
    return caught.value


FAILING: dict[str, Callable[[], Any]] = {
    "true": lambda: CHECK.true(False, "the flag", "off", "on"),
    "equal": lambda: CHECK.equal([1, 2], [2, 1], "the order"),
    "same": lambda: CHECK.same([], [], "the list"),
    "shape": lambda: CHECK.shape(np.zeros((2, 3)), (3, 2), "the weight"),
    "close": lambda: CHECK.close(np.array([1.0, 2.5]), np.array([1.0, 2.0]), 0.1, "the output"),
    "close, non-finite": lambda: CHECK.close(np.array([np.nan]), np.array([np.inf]), 1.0, "the output"),
    "bitwise": lambda: CHECK.bitwise(("float32", (1,), b"\x00\x00\x00\x80"), ("float32", (1,), bytes(4)), "x"),
    "raises": lambda: CHECK.raises(lambda: 3, "indexing past the end"),
}


@pytest.mark.parametrize("kind", sorted(FAILING))
def test_every_failure_names_clause_backend_device_observed_and_expected(kind: str) -> None:
    error = _violation(FAILING[kind])
    text = str(error)
    assert text.startswith("[SEQ-INDEX] fakeframe on sim:1: "), f"{kind}: observed {text!r}; expected the context first"
    assert "observed " in text and "; expected " in text, f"{kind}: observed {text!r}; expected both sides named"
    assert (error.clause, error.backend, error.device) == ("SEQ-INDEX", "fakeframe", "sim:1"), f"{kind}: {error!r}"


def test_passing_comparisons_raise_nothing() -> None:
    same: list[int] = []
    CHECK.true(True, "the flag", "on", "on")
    CHECK.equal((1, 2), (1, 2), "the pair")
    CHECK.same(same, same, "the list")
    CHECK.shape(np.zeros((0, 3)), (0, 3), "an empty weight")
    CHECK.close(np.array([np.inf, -np.inf, np.nan, 1.0]), np.array([np.inf, -np.inf, np.nan, 1.05]), 0.1, "values")
    CHECK.bitwise(("float32", (1,), bytes(4)), ("float32", (1,), bytes(4)), "zeros")
    error = CHECK.raises(lambda: [][0], "indexing past the end")
    assert isinstance(error, IndexError), f"observed {error!r}; expected the IndexError the action raised"


def test_a_violation_inside_raises_is_not_taken_for_the_frameworks_error() -> None:
    def inner() -> None:
        CHECK.equal(1, 2, "an inner check")

    error = _violation(lambda: CHECK.raises(inner, "the outer action"))
    assert "an inner check" in str(error), f"observed {error}; expected the inner violation, not swallowed"


_FLOATS = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4),
    elements=st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from([0.0, -0.0, 1.0]),
)


@given(data=st.data(), observed=_FLOATS, tolerance=st.sampled_from([0.0, 1e-6, 0.5]))
def test_close_fails_exactly_when_an_entry_is_out_of_tolerance_or_non_finite_differs(
    data: st.DataObject, observed: np.ndarray, tolerance: float
) -> None:
    expected = data.draw(
        hnp.arrays(np.float64, observed.shape, elements=st.floats(allow_nan=True, allow_infinity=True, width=64))
        | st.just(observed.copy()),
        label="expected",
    )
    pairs = list(zip(observed.ravel().tolist(), expected.ravel().tolist(), strict=True))

    def agrees(o: float, e: float) -> bool:
        if not math.isfinite(e) or not math.isfinite(o):
            return (math.isnan(o) and math.isnan(e)) or o == e
        return abs(o - e) <= tolerance

    should_pass = all(agrees(o, e) for o, e in pairs)
    try:
        CHECK.close(observed, expected, tolerance, "values")
        passed = True
    except ClauseViolation:
        passed = False
    assert passed == should_pass, f"observed close() {'passing' if passed else 'failing'} for {pairs} at {tolerance}"


@given(
    a=st.floats(allow_nan=True, allow_infinity=True, width=32),
    b=st.floats(allow_nan=True, allow_infinity=True, width=32),
)
def test_bitwise_fails_exactly_when_the_bytes_differ(a: float, b: float) -> None:
    left, right = np.float32(a).tobytes(), np.float32(b).tobytes()
    try:
        CHECK.bitwise(("float32", (), left), ("float32", (), right), "a scalar")
        passed = True
    except ClauseViolation:
        passed = False
    assert passed == (left == right), f"observed bitwise() {'passing' if passed else 'failing'} for {a!r} and {b!r}"
