"""Hypothesis profiles, all in one place.

``fast`` is for local work, ``ci`` for pipelines (derandomized, so the same
commit always gets the same verdict), ``thorough`` for release checks and
soak runs. No deadline anywhere: a slow CI machine must never fail a correct
backend. No example database: a result must not depend on an earlier run's
files.

Statistical clauses hold a false-alarm probability of at most 1e-13 per
example; with at most :data:`MAX_EXAMPLES_CAP` examples per test, every such
clause's false-alarm probability per run stays below 1e-9 even summed over
all of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROFILES: dict[str, dict[str, Any]] = {
    "fast": {"max_examples": 10, "derandomize": True},
    "ci": {"max_examples": 30, "derandomize": True},
    "thorough": {"max_examples": 300},
}

#: How a run draws sizes (``blockspec run --shapes``): from a per-run palette
#: (:class:`conformance.kit.strategies.Palette`), or freely.
SHAPE_MODES = ("palette", "full")

#: The most examples any profile may ask for; statistical bounds rely on it.
MAX_EXAMPLES_CAP = 1000

#: False-alarm probability each statistical check allows per example.
ALPHA_PER_EXAMPLE = 1e-13


def hypothesis_name(profile: str) -> str:
    return f"blockspec-{profile}"


def register_profiles() -> None:
    """Register every profile with hypothesis (idempotent)."""
    from hypothesis import HealthCheck, Phase, settings

    for profile, options in PROFILES.items():
        assert options["max_examples"] <= MAX_EXAMPLES_CAP
        settings.register_profile(
            hypothesis_name(profile),
            deadline=None,
            database=None,
            print_blob=True,
            # Every phase named, so a variant (no shrinking) never leaks into a profile loaded after it.
            phases=tuple(Phase),
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.function_scoped_fixture,
                HealthCheck.data_too_large,
            ],
            **options,
        )


def hypothesis_home_in_cache() -> Callable[[], None]:
    """Keep hypothesis' files in blockspec's cache directory, not in the working directory; returns the undo.

    Hypothesis keeps a table of Unicode categories (computed once, 0.3 s) under
    its home directory, ``.hypothesis/`` in the working directory unless told
    otherwise, so every run would leave a ``.hypothesis/`` wherever the user
    stands (their project, a CI checkout). It goes to
    ``$XDG_CACHE_HOME/blockspec/hypothesis`` (``~/.cache`` without the variable)
    instead, where the next run finds it. Where it cannot be written, hypothesis
    computes the table again and writes nothing; a user with no home keeps
    hypothesis' own choice. A home the user chose
    (``HYPOTHESIS_STORAGE_DIRECTORY``, or ``set_hypothesis_home_dir`` called
    before the run) is kept. Runs have no example database, so this table is
    all hypothesis writes: nothing a verdict depends on.
    """
    from hypothesis import configuration

    # hypothesis notes its home on first use: ``.hypothesis`` in the working directory then is no one's choice
    home = getattr(configuration, "__hypothesis_home_directory", None)
    default = getattr(configuration, "__hypothesis_home_directory_default", None)
    cache = user_cache()
    if home not in (None, default) or os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY") or cache is None:
        return lambda: None
    configuration.set_hypothesis_home_dir(cache / "blockspec" / "hypothesis")
    return lambda: configuration.set_hypothesis_home_dir(home)


#: Set, hypothesis loads no plugin (no entry point of the group "hypothesis") when it is imported.
NO_PLUGINS_ENV = "HYPOTHESIS_NO_PLUGINS"


def without_hypothesis_plugins() -> Callable[[], None]:
    """Keep hypothesis's plugins out of this process and the processes it starts; returns the undo.

    A plugin registers strategies for its package's types (``st.from_type``) or a generator for
    hypothesis to seed. The suite draws from its own strategies only, so no plugin has a part in a
    verdict, yet every process that imports hypothesis would load them all: trio's (selenium installs
    trio) took 0.27 s of each import here. A value the user set, even an empty one (plugins load), is kept.
    """
    if NO_PLUGINS_ENV in os.environ:
        return lambda: None
    os.environ[NO_PLUGINS_ENV] = "1"

    def undo() -> None:
        os.environ.pop(NO_PLUGINS_ENV, None)

    return undo


def user_cache() -> Path | None:
    """``$XDG_CACHE_HOME``, or ``~/.cache`` where it is unset or relative (the XDG rule); None without a home.

    Never a shared directory such as the temp dir, where another user could have made the path first.
    """
    named = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(named):
        return Path(named)
    try:
        return Path.home() / ".cache"
    except (RuntimeError, KeyError):  # no HOME and no password entry for this user
        return None


def without_local_constants() -> Callable[[], None]:
    """Stop hypothesis drawing literals it finds in the source of the modules imported; returns the undo.

    Hypothesis (6.131 and later) now and then draws a number or string that
    appears as a literal in a module imported from outside site-packages, and it
    rescans whenever ``sys.modules`` grows. A derandomized test then draws
    different examples depending on which such modules are loaded: another
    adapter, the user's module, a clause run alone or after others, blockspec
    installed editable or as a wheel. A run's examples must depend on its
    profile and its tests only; the scan also costs every test process time and
    writes ``.hypothesis/constants/`` into the working directory. There is no
    setting for it, so the pool is replaced by an empty one (hypothesis' own
    boundary constants, and this suite's REACH boundaries, still come up).
    """
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants
    except ImportError:  # a hypothesis without local constants
        return lambda: None
    found = getattr(providers, "_get_local_constants", None)
    if not callable(found):
        return lambda: None
    empty = Constants()

    def swap(collect: Callable[[], Any]) -> None:
        providers._get_local_constants = collect  # type: ignore[attr-defined]
        cache = getattr(getattr(providers, "CONSTANTS_CACHE", None), "cache", None)
        if cache is not None:  # pools built from the constants found so far
            cache.clear()

    swap(lambda: empty)
    return lambda: swap(found)


def load_profile(profile: str, *, shrink: bool = True, seeded: bool = False, max_examples: int | None = None) -> str:
    """Make ``profile`` hypothesis's default and return the name it is registered under.

    ``shrink`` False reports the first failing example as found: a failure
    becomes a fast verdict (mutation runs, known failures); the example is
    then larger but still reproducible. ``seeded`` True turns derandomization
    off so that ``--hypothesis-seed`` picks the examples (soak runs).
    ``max_examples`` lowers the number of examples per test (never above the profile's).
    """
    from hypothesis import Phase, settings

    register_profiles()
    name = hypothesis_name(profile)
    if seeded:
        base = settings.get_profile(name)
        settings.register_profile(f"{name}-seeded", parent=base, derandomize=False)
        name = f"{name}-seeded"
    if not shrink:
        base = settings.get_profile(name)
        settings.register_profile(
            f"{name}-no-shrink", parent=base, phases=[p for p in base.phases if p is not Phase.shrink]
        )
        name = f"{name}-no-shrink"
    if max_examples is not None:
        base = settings.get_profile(name)
        settings.register_profile(
            f"{name}-{max_examples}", parent=base, max_examples=min(base.max_examples, max_examples)
        )
        name = f"{name}-{max_examples}"
    settings.load_profile(name)
    return name
