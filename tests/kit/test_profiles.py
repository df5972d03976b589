"""Hypothesis profiles: variants (no shrinking, seeded) never leak into a profile loaded after them."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

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


#: A module of literals that no other module holds, imported between two runs of the same derandomized test.
PROBE = "blockspec_literals_probe"


def _derandomized_draws() -> list[int]:
    drawn: list[int] = []

    @settings(max_examples=300, derandomize=True, database=None, deadline=None)
    @given(st.integers(0, 10**6))
    def record(value: int) -> None:
        drawn.append(value)

    record()
    return drawn


def test_a_runs_draws_do_not_depend_on_the_modules_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hypothesis draws literals of the local modules loaded; a run must draw the same whatever is loaded."""
    literals = ", ".join(str(100_003 + 7_919 * i) for i in range(60))
    (tmp_path / f"{PROBE}.py").write_text(f"LITERALS = [{literals}]\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, PROBE, raising=False)
    undo = _profiles.without_local_constants()
    try:
        before = _derandomized_draws()
        importlib.import_module(PROBE)
        after = _derandomized_draws()
    finally:
        undo()
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert not changed, (
        f"observed draws {[(before[i], after[i]) for i in changed[:5]]} changed by importing {PROBE} "
        f"({len(changed)} of {len(before)}); expected the same examples whatever modules are loaded"
    )
