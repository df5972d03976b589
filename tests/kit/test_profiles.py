"""Hypothesis profiles: variants (no shrinking, seeded) never leak into a profile loaded after them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import Phase, settings

from conformance.kit import profiles as _profiles


@pytest.fixture
def restore_default() -> Iterator[None]:
    """Loading a profile changes hypothesis's process-wide default: put the test runner's back."""
    yield
    settings.load_profile("default")


def test_profiles_keep_their_own_phases_and_randomness(restore_default: None) -> None:
    cases = [
        ({"shrink": False}, False, True),
        ({}, True, True),
        ({"seeded": True}, True, False),
        ({"shrink": False, "seeded": True}, False, False),
        ({}, True, True),
    ]
    for options, shrinks, derandomized in cases:
        name = _profiles.load_profile("ci", **options)
        default = settings.default
        observed = (Phase.shrink in default.phases, default.derandomize)
        assert observed == (shrinks, derandomized), (
            f"profile {name} after the ones before it: observed (shrinks, derandomized) = {observed}; "
            f"expected {(shrinks, derandomized)}"
        )
        assert default.max_examples == _profiles.PROFILES["ci"]["max_examples"], (
            f"observed {default.max_examples} examples for {name}; expected the ci profile's"
        )
