"""Hypothesis profiles: variants (no shrinking, seeded) never leak into a profile loaded after them."""

from __future__ import annotations

import importlib
import os
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


def _home() -> Path:
    from hypothesis import configuration

    return configuration.storage_directory("probe", intent_to_write=False).home_directory


def test_hypothesis_keeps_its_files_in_the_user_cache_unless_told_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ``.hypothesis/`` in the working directory: the Unicode table goes to ``$XDG_CACHE_HOME/blockspec``."""
    monkeypatch.delenv("HYPOTHESIS_STORAGE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    before = _home()
    undo = _profiles.hypothesis_home_in_cache()
    try:
        during = _home()
    finally:
        undo()
    after = _home()
    expected = tmp_path / "cache" / "blockspec" / "hypothesis"
    assert (during, after) == (expected, before), (
        f"observed hypothesis' home {during} during and {after} after; expected {expected}, then {before} back"
    )
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # not absolute: the XDG rule falls back to ~/.cache
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _profiles.user_cache() == tmp_path / "home" / ".cache", (
        f"observed {_profiles.user_cache()} with a relative XDG_CACHE_HOME; expected $HOME/.cache"
    )

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))  # no HOME, no password entry
    before = _home()
    undo = _profiles.hypothesis_home_in_cache()
    homeless = (_profiles.user_cache(), _home())
    undo()
    assert homeless == (None, before), (
        f"observed cache and home {homeless} for a user with no home; expected (None, {before}): hypothesis' own "
        "choice kept, never a shared directory such as the temp dir"
    )


def test_a_hypothesis_home_the_user_chose_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hypothesis import configuration

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    chosen = tmp_path / "mine"
    monkeypatch.setenv("HYPOTHESIS_STORAGE_DIRECTORY", str(chosen))
    kept = getattr(configuration, "__hypothesis_home_directory", None)
    configuration.set_hypothesis_home_dir(None)  # as if nothing had read the environment yet
    try:
        undo = _profiles.hypothesis_home_in_cache()
        during = _home()
        undo()
        configuration.set_hypothesis_home_dir(tmp_path / "set")
        undo = _profiles.hypothesis_home_in_cache()
        set_during = _home()
        undo()
    finally:
        configuration.set_hypothesis_home_dir(kept)
    assert (during, set_during) == (chosen, tmp_path / "set"), (
        f"observed homes {during} (HYPOTHESIS_STORAGE_DIRECTORY) and {set_during} (set_hypothesis_home_dir); "
        f"expected {chosen} and {tmp_path / 'set'}, the user's choices kept"
    )


@pytest.mark.parametrize("users_value", [None, "", "1"])
def test_hypothesis_plugins_are_turned_off_until_the_undo_and_a_users_value_is_kept(
    users_value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(_profiles.NO_PLUGINS_ENV, raising=False)
    if users_value is not None:
        monkeypatch.setenv(_profiles.NO_PLUGINS_ENV, users_value)
    undo = _profiles.without_hypothesis_plugins()
    during = os.environ.get(_profiles.NO_PLUGINS_ENV)
    undo()
    after = os.environ.get(_profiles.NO_PLUGINS_ENV)
    expected = ("1", None) if users_value is None else (users_value, users_value)
    assert (during, after) == expected, (
        f"observed {_profiles.NO_PLUGINS_ENV} {during!r} during and {after!r} after; expected {expected}"
    )
